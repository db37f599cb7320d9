#include "room/lobby.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fault.h"
#include "core/log.h"
#include "core/text.h"
#include "net/ws.h"
#include "room/proto.h"

/* Rooms and views are few per loop and found by uid on a member's arrival
 * or departure only, never per message or per tick: plain lists do. */
typedef struct sp__room_entry {
  sp_room *room;
  uint64_t uid;
  struct sp__room_entry *next;
} sp__room_entry;

typedef struct sp__view_entry {
  sp_view *view;
  struct sp__view_entry *next;
} sp__view_entry;

struct sp_lobby {
  sp_room_env env;
  sp_directory *dir;
  sp__room_entry *rooms; /* the rooms this loop owns, oldest first */
  size_t nrooms;
  sp__view_entry *views; /* this loop's views of rooms, wherever they run */
  size_t members;        /* this loop's members not yet released */
  void (*on_room_closed)(void *data, const char *room);
};

/* Every room of this loop but `origin` gets the current top scores. */
static void sp__top_to_rooms(sp_lobby *l, sp_room *origin) {
  sp_frame *f = sp_room_env_top_scores(&l->env);
  if (!f)
    return;
  for (sp__room_entry *e = l->rooms; e; e = e->next)
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
    return UV_ENOMEM;
  l->env.loop = loop;
  sp_game_config_default(&l->env.game);
  l->env.game.width = st->field_w;
  l->env.game.height = st->field_h;
  l->env.game.max_snakes = st->max_players;
  l->env.interval_ns = (uint64_t)(1e9 / st->tick_rate + 0.5);
  l->env.has_seed = st->has_seed;
  l->env.seed = st->seed;
  l->env.next_player_id = st->next_player_id;
  l->env.nloops = st->nloops;
  l->env.on_score = st->on_score;
  l->env.on_snakes = st->on_snakes;
  l->env.lease_ok = st->lease_ok;
  l->env.dir = st->dir;
  l->on_room_closed = st->on_room_closed;
  l->env.hooks_data = st->hooks_data;
  l->env.shared_top = st->shared_top;
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
  l->dir = st->dir;
  *out = l;
  return 0;
}

void sp_lobby_set_relay(sp_lobby *l, sp_relay *relay) { l->env.relay = relay; }

void sp_lobby_free(sp_lobby *l) {
  if (!l)
    return;
  SP_ASSERT(l->nrooms == 0);
  for (sp__view_entry *e = l->views, *next; e; e = next) {
    next = e->next;
    for (sp_member *m = sp_view_first(e->view); m;) {
      sp_member *mn = sp_member_next(m);
      sp_member_release(m);
      m = mn;
    }
    sp_view_free(e->view);
    free(e);
  }
  sp_frame_unref(l->env.top_scores);
  free(l);
}

size_t sp_lobby_members(const sp_lobby *l) { return l->members; }
size_t sp_lobby_rooms(const sp_lobby *l) { return l->nrooms; }

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

/* ---- connections of this loop ------------------------------------------- */

static sp_view *sp__view_get(sp_lobby *l, const char *name,
                             const sp_room_ref *ref) {
  for (sp__view_entry *e = l->views; e; e = e->next)
    if (sp_view_uid(e->view) == ref->uid)
      return e->view;
  sp__view_entry *e = malloc(sizeof *e);
  sp_view *v = e ? sp_view_new(name, ref->uid, ref->loop, ref->epoch) : NULL;
  if (!v) {
    free(e);
    return NULL;
  }
  e->view = v;
  e->next = l->views;
  l->views = e;
  return v;
}

static void sp__view_put(sp_lobby *l, sp_view *v) {
  if (sp_view_size(v) > 0)
    return;
  for (sp__view_entry **pe = &l->views; *pe; pe = &(*pe)->next) {
    if ((*pe)->view == v) {
      sp__view_entry *e = *pe;
      *pe = e->next;
      free(e);
      break;
    }
  }
  sp_view_free(v);
}

/* Frees a member that its owner never heard of (it had stopped): the
 * room is left here. */
static void sp__drop(sp_lobby *l, sp_member *m) {
  sp_view *v = sp_member_view(m);
  uint64_t uid = sp_view_uid(v);
  sp_lobby_member_released(l, m);
  sp_directory_leave(l->dir, uid);
}

sp_member *sp_lobby_connect(sp_lobby *l, sp_conn *c, const char *room,
                            uint64_t epoch, int *created, int *status,
                            const char **reason) {
  sp_room_ref ref;
  *status = 503;
  *reason = "out of memory";
  *created = 0;
  /* Counted in here; counted out by the owner once it forgets the member,
   * or by sp__drop if it never hears of it. */
  int err = epoch ? sp_directory_route_leased(l->dir, room, epoch, &ref)
                  : sp_directory_route(l->dir, room, &ref);
  if (err) {
    if (err == SP_ECLOSED)
      *reason = "the room is moving, try again";
    return NULL;
  }
  *created = ref.created;
  sp_view *v = sp__view_get(l, room, &ref);
  sp_member *m = v ? sp_member_new(v, c, sp_relay_self(l->env.relay)) : NULL;
  if (!m) {
    if (v)
      sp__view_put(l, v);
    sp_directory_leave(l->dir, ref.uid);
    return NULL;
  }
  l->members++;
  return m;
}

void sp_lobby_open(sp_lobby *l, sp_member *m) {
  if (sp_relay_enter(l->env.relay, m) != 0) {
    /* Its room's loop has stopped: only at the very end of a shutdown. */
    sp_conn *c = sp_member_conn(m);
    sp__drop(l, m);
    sp_conn_set_data(c, NULL);
    sp_conn_close(c, SP_WS_GOING_AWAY);
  }
}

void sp_lobby_message(sp_lobby *l, sp_member *m, const uint8_t *msg,
                      size_t len) {
  sp_msg decoded;
  switch (sp_proto_decode(msg, len, &decoded)) {
  case SP_MSG_INVALID:
    sp_log_debug("bad_message", "conn=%llu bytes=%zu",
                 (unsigned long long)sp_member_conn_id(m), len);
    return;
  case SP_MSG_IGNORED: return;
  default: sp_relay_input(l->env.relay, m, &decoded);
  }
}

void sp_lobby_disconnect(sp_lobby *l, sp_member *m) {
  sp_member_detach(m);
  if (sp_relay_leave(l->env.relay, m) != 0)
    sp__drop(l, m);
}

void sp_lobby_member_released(sp_lobby *l, sp_member *m) {
  l->members--;
  sp__view_put(l, sp_member_release(m));
}

/* ---- the rooms this loop owns ------------------------------------------- */

static sp__room_entry **sp__room_find(sp_lobby *l, uint64_t uid) {
  sp__room_entry **pe = &l->rooms;
  while (*pe && (*pe)->uid != uid)
    pe = &(*pe)->next;
  return pe;
}

void sp_lobby_owner_enter(sp_lobby *l, sp_member *m) {
  const sp_view *v = sp_member_view(m);
  uint64_t uid = sp_view_uid(v);
  const char *room = sp_view_name(v);
  sp__room_entry **pe = sp__room_find(l, uid);
  sp__room_entry *e = *pe;
  if (!e && (e = calloc(1, sizeof *e)) != NULL) {
    if (sp_fault("room_new") ||
        sp_room_new(&l->env, room, uid, sp_view_epoch(v), &e->room) != 0) {
      free(e);
      e = NULL;
    } else {
      e->uid = uid;
      *pe = e; /* at the end: rooms stay oldest first */
      l->nrooms++;
      if (l->env.stats)
        SP_COUNT_ADD(l->env.stats->rooms, 1);
      sp_log_info("room_created", "room=%s rooms=%zu", room, l->nrooms);
    }
  }
  sp_player *p = e ? sp_room_enter(e->room, m) : NULL;
  sp_member_set_owner_slot(m, p);
  if (!p) {
    /* The member stays counted in the directory until it leaves. */
    sp_log_error("room_error", "room=%s conn=%llu error=\"%s\"", room,
                 (unsigned long long)sp_member_conn_id(m),
                 sp_strerror(UV_ENOMEM));
    sp_relay_close(l->env.relay, m, SP_WS_INTERNAL);
  }
}

void sp_lobby_owner_input(sp_lobby *l, sp_member *m, const sp_msg *msg) {
  (void)l;
  sp_player *p = sp_member_owner_slot(m);
  if (p)
    sp_player_message(p, msg);
}

void sp_lobby_owner_leave(sp_lobby *l, sp_member *m) {
  uint64_t uid = sp_view_uid(sp_member_view(m));
  sp_player *p = sp_member_owner_slot(m);
  if (p)
    sp_player_leave(p);
  sp_member_set_owner_slot(m, NULL);
  if (sp_directory_leave(l->dir, uid) == 0) {
    sp__room_entry **pe = sp__room_find(l, uid);
    sp__room_entry *e = *pe;
    if (e) {
      *pe = e->next;
      l->nrooms--;
      if (l->env.stats)
        SP_COUNT_SUB(l->env.stats->rooms, 1);
      sp_log_info("room_closed", "room=%s rooms=%zu", sp_room_name(e->room),
                  l->nrooms);
      if (l->on_room_closed)
        l->on_room_closed(l->env.hooks_data, sp_room_name(e->room));
      sp_room_close(e->room);
      free(e);
    }
  }
  sp_relay_release(l->env.relay, m);
}

void sp_lobby_lose(sp_lobby *l, uint64_t uid) {
  sp__room_entry *e = *sp__room_find(l, uid);
  if (e)
    sp_room_lose(e->room, "lease lost");
}

/* ---- operators ------------------------------------------------------------
 */

static sp_room *sp__room_named(sp_lobby *l, const char *name) {
  for (sp__room_entry *e = l->rooms; e; e = e->next)
    if (strcmp(sp_room_name(e->room), name) == 0)
      return e->room;
  return NULL;
}

size_t sp_lobby_admin_rooms(sp_lobby *l, sp_buf *out, size_t before) {
  size_t n = 0;
  for (sp__room_entry *e = l->rooms; e; e = e->next, n++) {
    if (before + n > 0)
      sp_buf_putc(out, ',');
    sp_room_admin_json(e->room, out);
  }
  return n;
}

int sp_lobby_admin_kick(sp_lobby *l, const char *room, uint32_t id,
                        uint16_t code, const char *reason) {
  sp_room *r = sp__room_named(l, room);
  return r ? sp_room_kick(r, id, code, reason) : 0;
}

long sp_lobby_admin_close(sp_lobby *l, const char *room, uint16_t code,
                          const char *reason) {
  sp_room *r = sp__room_named(l, room);
  return r ? (long)sp_room_close_all(r, code, reason) : -1;
}

size_t sp_lobby_announce(sp_lobby *l, const char *room, const char *text) {
  size_t n = 0;
  for (sp__room_entry *e = l->rooms; e; e = e->next)
    if (!room || strcmp(sp_room_name(e->room), room) == 0)
      n += sp_room_announce(e->room, text) == 0;
  return n;
}

/* ---- the top scores ------------------------------------------------------ */

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
