#include "room/lobby.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "room/proto.h"

typedef struct sp__entry {
  sp_room *room;
  struct sp__entry *next;
} sp__entry;

struct sp_lobby {
  sp_room_env env;
  sp__entry *rooms; /* in creation order, newest last */
  size_t nrooms;
};

/* Every room of this loop but `origin` gets the current top scores. */
static void sp__top_to_rooms(sp_lobby *l, sp_room *origin) {
  sp_frame *f = sp_room_env_top_scores(&l->env);
  if (!f)
    return;
  for (sp__entry *e = l->rooms; e; e = e->next)
    if (e->room != origin)
      sp_room_broadcast(e->room, f);
}

static void sp__top_changed(void *lobby, sp_room *origin) {
  sp__top_to_rooms(lobby, origin);
}

/* One random number per process, the same on every loop: clients see
 * that the server restarted when it changes (room_info's boot). */
static uint64_t sp__boot_id(void) {
  static _Atomic uint64_t boot;
  uint64_t v = atomic_load(&boot);
  if (v)
    return v;
  uint64_t n;
  if (uv_random(NULL, NULL, &n, sizeof n, 0, NULL) != 0)
    n = uv_hrtime();
  n |= 1;
  uint64_t zero = 0;
  atomic_compare_exchange_strong(&boot, &zero, n);
  return atomic_load(&boot);
}

int sp_lobby_new(uv_loop_t *loop, const sp_lobby_settings *st, sp_lobby **out) {
  sp_lobby *l = calloc(1, sizeof *l);
  if (!l)
    return SP_ENOMEM;
  l->env.loop = loop;
  sp_game_config_default(&l->env.game);
  l->env.game.width = st->field_w;
  l->env.game.height = st->field_h;
  l->env.game.max_snakes = st->max_players;
  l->env.interval_ns = (uint64_t)(1e9 / st->tick_rate + 0.5);
  l->env.has_seed = st->has_seed;
  l->env.seed = st->seed;
  l->env.next_player_id = st->next_player_id;
  l->env.on_score = st->on_score;
  l->env.on_snakes = st->on_snakes;
  l->env.hooks_data = st->hooks_data;
  l->env.bots = st->bots;
  l->env.round_seconds = st->round_seconds;
  l->env.standings_seconds = st->standings_seconds;
  l->env.chat.max_chars = st->chat_max_chars < SP_CHAT_MAX_CHARS
                              ? st->chat_max_chars
                              : SP_CHAT_MAX_CHARS;
  l->env.chat.per_10s = st->chat_rate;
  l->env.tick_rate = st->tick_rate;
  /* Two seconds of straight run for a newborn (issue 13). */
  l->env.game.min_run = (int)ceil(2.0 * st->tick_rate);
  l->env.boot = sp__boot_id();
  l->env.stats = st->stats;
  l->env.on_top_changed = sp__top_changed;
  l->env.lobby = l;
  const char *delay = getenv("SNAKEPIT_TEST_BOT_DELAY_MS");
  l->env.bot_delay_ms = delay ? (uint32_t)strtoul(delay, NULL, 10) : 0;
  l->env.fail_room = getenv("SNAKEPIT_TEST_FAIL_ROOM");
  *out = l;
  return 0;
}

void sp_lobby_free(sp_lobby *l) {
  if (!l)
    return;
  SP_ASSERT(l->nrooms == 0);
  sp_frame_unref(l->env.top_scores);
  free(l);
}

static int sp__room_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int sp_lobby_parse_query(const char *query, char name[SP_ROOM_NAME_MAX + 1],
                         const char **reason) {
  int found = 0;
  strcpy(name, "default");
  for (const char *p = query; *p;) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len >= 5 && strncmp(p, "room=", 5) == 0) {
      if (found) {
        *reason = "room given more than once";
        return 400;
      }
      found = 1;
      size_t n = 0;
      for (size_t i = 5; i < len; i++) {
        char c = p[i];
        if (c == '%' && i + 2 < len && sp_hex_digit(p[i + 1]) >= 0 &&
            sp_hex_digit(p[i + 2]) >= 0) {
          c = (char)(sp_hex_digit(p[i + 1]) * 16 + sp_hex_digit(p[i + 2]));
          i += 2;
        }
        if (!sp__room_char(c)) {
          *reason = "room names are 1 to 32 of A-Z a-z 0-9 _ -";
          return 400;
        }
        if (n == SP_ROOM_NAME_MAX) {
          *reason = "room names are at most 32 characters";
          return 400;
        }
        name[n++] = c;
      }
      if (n == 0) {
        *reason = "room name is empty";
        return 400;
      }
      name[n] = '\0';
    }
    p += len;
    if (*p == '&')
      p++;
  }
  return 0;
}

sp_player *sp_lobby_enter(sp_lobby *l, const char *name, sp_conn *c) {
  sp__entry *e, **tail = &l->rooms;
  for (e = l->rooms; e; e = e->next) {
    if (strcmp(sp_room_name(e->room), name) == 0)
      break;
    tail = &e->next;
  }
  int created = 0;
  if (!e) {
    e = calloc(1, sizeof *e);
    if (!e)
      return NULL;
    if (sp_room_new(&l->env, name, &e->room) != 0) {
      free(e);
      return NULL;
    }
    *tail = e;
    l->nrooms++;
    created = 1;
    sp_log_info("room_created", "room=%s rooms=%zu", name, l->nrooms);
  }
  sp_player *p = sp_room_enter(e->room, c);
  if (!p && created) {
    *tail = NULL;
    l->nrooms--;
    sp_room_close(e->room);
    free(e);
  }
  return p;
}

void sp_lobby_leave(sp_lobby *l, sp_player *p) {
  sp_room *r = sp_player_room(p);
  sp_player_leave(p);
  if (sp_room_members(r) > 0)
    return;
  for (sp__entry **pe = &l->rooms; *pe; pe = &(*pe)->next) {
    if ((*pe)->room == r) {
      sp__entry *e = *pe;
      *pe = e->next;
      l->nrooms--;
      sp_log_info("room_closed", "room=%s rooms=%zu", sp_room_name(r),
                  l->nrooms);
      sp_room_close(r);
      free(e);
      return;
    }
  }
}

void sp_lobby_set_top(sp_lobby *l, const sp_score_row *rows, size_t n) {
  if (n == l->env.ntop && memcmp(rows, l->env.top, n * sizeof *rows) == 0)
    return;
  memcpy(l->env.top, rows, n * sizeof *rows);
  l->env.ntop = n;
  sp_frame_unref(l->env.top_scores);
  l->env.top_scores = NULL;
  sp__top_to_rooms(l, NULL);
}

void sp_lobby_scores_json(const sp_lobby *l, sp_buf *out) {
  sp_buf_puts(out, "{\"scores\":[");
  for (size_t i = 0; i < l->env.ntop; i++) {
    const sp_score_row *row = &l->env.top[i];
    if (i)
      sp_buf_putc(out, ',');
    sp_buf_puts(out, "{\"name\":");
    sp_json_string(out, row->name, strlen(row->name));
    sp_buf_printf(out, ",\"score\":%u,\"color\":%d}", row->score,
                  sp_proto_name_color(row->name));
  }
  sp_buf_puts(out, "]}");
}
