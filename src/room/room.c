#include "room/room.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/fault.h"
#include "core/log.h"
#include "net/ws.h"
#include "room/chat.h"
#include "room/directory.h"
#include "room/proto.h"
#include "room/round.h"

/* Chat messages a whole room passes per 10 seconds (a burst of as many):
 * one message goes to every member, so many talkers must not flood a
 * crowd. */
#define SP_ROOM_CHAT_PER_10S 100.0

struct sp_player {
  sp_room *room;
  sp_member *member; /* a handle: only its own loop touches what is in it */
  sp_player *prev, *next;
  uint32_t id; /* 0 until new_player */
  char name[SP_NAME_SIZE];
  uint8_t color;       /* its snake's colour, kept from life to life */
  sp_chat_bucket chat; /* its chat allowance */
  size_t watching;     /* the `watching` count it was told last */
};

/* Where the room's members are: one view per loop that has some. */
typedef struct sp__loop_view {
  sp_view *view;
  size_t members;
} sp__loop_view;

struct sp_room {
  sp_room_env *env;
  char name[SP_ROOM_NAME_MAX + 1];
  uint64_t uid;
  uint64_t epoch;       /* of its lease (cluster mode), else 0 */
  int lost;             /* sp_room_lose: it never runs again */
  sp__loop_view *views; /* env->nloops of them */
  uv_timer_t timer;
  uv_timer_t round_timer; /* each second of a round, the standings' end */
  sp_round round;
  uv_timer_t info_timer; /* `watching`, at most once a second */
  size_t registered;     /* members that sent new_player */
  uint64_t watching_at;  /* uv_now() when `watching` was last broadcast */
  sp_chat_bucket chat;   /* the whole room's chat allowance */
  int open_handles;
  sp_bots *bots;
  int running;
  uint64_t next_tick; /* uv_hrtime() of the next tick */
  sp_game *game;
  sp_player *members; /* in order of arrival */
  sp_player *last;
  size_t nmembers;
  sp_buf scratch; /* reused for every frame the room encodes */
  uint64_t ticks;
  size_t published_snakes; /* last count told to env->on_snakes */
  sp_frame *world;         /* cached `[["world",...]]`, NULL when stale */
};

/* Frames of one broadcast: at most one per death, plus renders and scores.
 * Deaths beyond the inline room spill into a heap array. */
typedef struct sp__batch {
  sp_frame *inline_frames[16];
  sp_frame **frames;
  size_t n, cap;
  int failed;
} sp__batch;

static void sp__batch_init(sp__batch *b) {
  b->frames = b->inline_frames;
  b->n = 0;
  b->cap = sizeof b->inline_frames / sizeof b->inline_frames[0];
  b->failed = 0;
}

/* Takes ownership of f. */
static void sp__batch_add(sp__batch *b, sp_frame *f) {
  if (!f) {
    b->failed = 1;
    return;
  }
  if (b->n == b->cap) {
    size_t cap = b->cap * 2;
    sp_frame **p = malloc(cap * sizeof *p);
    if (!p) {
      sp_frame_unref(f);
      b->failed = 1;
      return;
    }
    memcpy(p, b->frames, b->n * sizeof *p);
    if (b->frames != b->inline_frames)
      free(b->frames);
    b->frames = p;
    b->cap = cap;
  }
  b->frames[b->n++] = f;
}

static void sp__batch_free(sp__batch *b) {
  for (size_t i = 0; i < b->n; i++)
    sp_frame_unref(b->frames[i]);
  if (b->frames != b->inline_frames)
    free(b->frames);
}

/* Turns the scratch buffer into a frame (NULL if encoding failed). */
static sp_frame *sp__finish(sp_room *r) {
  if (r->scratch.failed)
    return NULL;
  return sp_frame_new(SP_WS_OP_TEXT, r->scratch.data, r->scratch.len);
}

/* Every frame the room sends is built the same way, in its scratch buffer:
 * sp__frame_begin, the commands, then sp__frame_end (the frame, with one
 * reference for the caller; NULL when out of memory) or
 * sp__frame_broadcast (to every member; 0 or UV_ENOMEM). */
static sp_buf *sp__frame_begin(sp_room *r) {
  sp_buf_reset(&r->scratch);
  sp_proto_begin(&r->scratch);
  return &r->scratch;
}

static sp_frame *sp__frame_end(sp_room *r) {
  sp_proto_end(&r->scratch);
  return sp__finish(r);
}

static void sp__broadcast(sp_room *r, sp_frame *const *frames, size_t n);
static int sp__may_run(sp_room *r);

static int sp__frame_broadcast(sp_room *r) {
  sp_frame *f = sp__frame_end(r);
  if (!f)
    return UV_ENOMEM;
  sp__broadcast(r, &f, 1);
  sp_frame_unref(f);
  return 0;
}

sp_frame *sp_room_env_top_scores(sp_room_env *env) {
  if (env->top_scores)
    return env->top_scores;
  sp_buf b = SP_BUF_INIT;
  sp_proto_begin(&b);
  sp_proto_top_scores_begin(&b);
  for (size_t i = 0; i < env->ntop; i++) {
    const sp_score_row *row = &env->top[i];
    sp_proto_top_scores_row(&b, row->name, row->score,
                            sp_proto_name_color(row->name));
  }
  sp_proto_top_scores_end(&b);
  sp_proto_end(&b);
  if (!b.failed)
    env->top_scores = sp_frame_new(SP_WS_OP_TEXT, b.data, b.len);
  sp_buf_free(&b);
  return env->top_scores;
}

static void sp__publish(sp_room *r) {
  size_t n = sp_game_live_count(r->game);
  if (n != r->published_snakes) {
    if (r->env->stats) {
      SP_COUNT_ADD(r->env->stats->snakes, n);
      SP_COUNT_SUB(r->env->stats->snakes, r->published_snakes);
    }
    r->published_snakes = n;
    if (r->env->on_snakes)
      r->env->on_snakes(r->env->hooks_data, r->uid, n);
  }
}

/* Members that sent new_player, for the players gauge. */
static void sp__registered(sp_room *r, int delta) {
  r->registered += (size_t)delta;
  if (r->env->stats) {
    if (delta > 0)
      SP_COUNT_ADD(r->env->stats->players, 1);
    else
      SP_COUNT_SUB(r->env->stats->players, 1);
  }
}

/* Every registered member gets the same frames, in one write each: the
 * frames go once to each loop that has members here, and that loop writes
 * them to its own (this loop's at once). */
static void sp__broadcast(sp_room *r, sp_frame *const *frames, size_t n) {
  /* Whatever sends it (a tick, a join, a chat line, the count of
   * spectators, a round, a new table, an announcement). */
  if (!sp__may_run(r))
    return;
  /* The other loops first: they write in parallel while this loop writes
   * to its own members, instead of waiting until it has. */
  int self = sp_relay_self(r->env->relay);
  for (int i = 0; i < r->env->nloops; i++)
    if (i != self && r->views[i].view)
      sp_relay_tick(r->env->relay, i, r->views[i].view, frames, n);
  if (r->views[self].view)
    sp_relay_tick(r->env->relay, self, r->views[self].view, frames, n);
}

static sp_player *sp__find(sp_room *r, uint32_t id) {
  for (sp_player *p = r->members; p; p = p->next)
    if (p->id == id)
      return p;
  return NULL;
}

/* The name of a live snake, a person's or a bot's. */
static const char *sp__snake_name(sp_room *r, uint32_t id) {
  sp_player *p = sp__find(r, id);
  if (p)
    return p->name;
  const char *bot = sp_bots_name(r->bots, id);
  return bot ? bot : "";
}

static size_t sp__humans(sp_room *r) {
  return sp_game_live_count(r->game) - sp_bots_live(r->bots);
}

static void sp__stop(sp_room *r) {
  if (r->running) {
    uv_timer_stop(&r->timer);
    r->running = 0;
    sp_log_debug("room_stopped", "room=%s ticks=%llu", r->name,
                 (unsigned long long)r->ticks);
  }
}

static void sp__world_changed(sp_room *r) {
  sp_frame_unref(r->world);
  r->world = NULL;
}

/* Something inside the room failed (out of memory): log it with the room's
 * name and start the room afresh, so the other rooms are not affected. */
static void sp__fail(sp_room *r, const char *what) {
  sp_log_error("room_error", "room=%s error=\"%s\" snakes=%zu", r->name, what,
               sp_game_live_count(r->game));
  sp__stop(r);
  sp_buf *b = sp__frame_begin(r);
  for (size_t i = 0; i < sp_game_live_count(r->game); i++) {
    uint32_t id, score;
    uint8_t color;
    sp_game_snake(r->game, i, &id, &color, &score);
    sp_proto_p_gameover(b, id);
  }
  sp_proto_reset_world(b);
  sp_game_reset(r->game);
  sp__world_changed(r);
  sp__frame_broadcast(r);
  sp__publish(r);
}

/* Registered members without a live snake: the spectators. */
static size_t sp__watching(sp_room *r) {
  size_t humans = sp__humans(r);
  return r->registered > humans ? r->registered - humans : 0;
}

/* Broadcasts the count of spectators if a member was told another one
 * (newcomers are told it in their greeting). */
static void sp__info_cb(uv_timer_t *t) {
  sp_room *r = t->data;
  size_t n = sp__watching(r);
  int stale = 0;
  for (sp_player *p = r->members; p; p = p->next)
    if (p->id && p->watching != n) {
      stale = 1;
      p->watching = n;
    }
  if (!stale)
    return;
  r->watching_at = uv_now(r->env->loop);
  sp_buf *b = &r->scratch;
  sp__frame_begin(r);
  sp_proto_watching(b, n);
  sp__frame_broadcast(r);
}

/* The count of spectators may have changed: every member hears of it at
 * most once a second, so a crowd arriving costs one broadcast a second. */
static void sp__watching_changed(sp_room *r) {
  if (uv_is_active((uv_handle_t *)&r->info_timer))
    return;
  uint64_t now = uv_now(r->env->loop), due = r->watching_at + 1000;
  uv_timer_start(&r->info_timer, sp__info_cb, due > now ? due - now : 0, 0);
}

/* One info line per death: who, why, with what score, and by whom. */
static void sp__log_death(sp_room *r, const sp_event *ev) {
  char q[96], q2[96];
  const char *name = sp__snake_name(r, ev->id);
  const char *by = ev->by ? sp__snake_name(r, ev->by) : "";
  if (r->env->stats)
    SP_COUNT_ADD(r->env->stats->deaths, 1);
  sp_log_info("death", "room=%s id=%u name=%s cause=%s score=%u by=%s", r->name,
              ev->id, sp_log_quote(q, sizeof q, name, strlen(name)),
              sp_proto_cause_name(ev->cause), ev->score,
              sp_log_quote(q2, sizeof q2, by, strlen(by)));
}

/* Turns the game's events into the frames of PROTOCOL.md, in its order:
 * for each death `p_gameover` then `top_scores`; then one frame with every
 * render (sent even when empty, as the tick's heartbeat, if `heartbeat`);
 * then one frame with the score changes. */
static void sp__emit(sp_room *r, int heartbeat) {
  size_t n;
  const sp_event *ev = sp_game_events(r->game, &n);
  if (n > 0)
    sp__world_changed(r);
  sp__batch batch;
  sp__batch_init(&batch);
  sp_buf *b = &r->scratch;
  int renders = 0, scores = 0, top_changed = 0;

  for (size_t i = 0; i < n; i++) {
    if (ev[i].type == SP_EV_RENDER)
      renders++;
    else if (ev[i].type == SP_EV_SCORE) {
      scores++;
      if (r->round.state == SP_ROUND_RUNNING)
        sp_round_score(&r->round, ev[i].id, sp__snake_name(r, ev[i].id), 0,
                       ev[i].score);
    } else if (ev[i].type == SP_EV_DEATH) {
      sp_player *p = sp__find(r, ev[i].id);
      sp__log_death(r, &ev[i]);
      if (r->round.state == SP_ROUND_RUNNING)
        sp_round_score(&r->round, ev[i].id, sp__snake_name(r, ev[i].id), 0,
                       ev[i].score);
      if (p)
        sp__watching_changed(r);
      if (p && ev[i].score > 0) {
        if (!r->env->shared_top &&
            sp_top_insert(r->env->top, &r->env->ntop, p->name, ev[i].score)) {
          sp_frame_unref(r->env->top_scores);
          r->env->top_scores = NULL;
          top_changed = 1;
        }
        if (r->env->on_score)
          r->env->on_score(r->env->hooks_data, p->name, ev[i].score);
      }
      sp__frame_begin(r);
      sp_proto_p_gameover(b, ev[i].id);
      /* Extension: why, in the same frame (a v1 client skips it). */
      sp_proto_p_died(b, ev[i].id, ev[i].cause, ev[i].score, ev[i].by,
                      ev[i].by ? sp__snake_name(r, ev[i].by) : "");
      sp__batch_add(&batch, sp__frame_end(r));
      sp_frame *top = sp_room_env_top_scores(r->env);
      sp__batch_add(&batch, top ? sp_frame_ref(top) : NULL);
    }
  }
  if (renders || heartbeat) {
    sp__frame_begin(r);
    for (size_t i = 0; i < n; i++)
      if (ev[i].type == SP_EV_RENDER)
        sp_proto_render(b, ev[i].x, ev[i].y, ev[i].ch, ev[i].color);
    sp__batch_add(&batch, sp__frame_end(r));
  }
  if (scores) {
    sp__frame_begin(r);
    for (size_t i = 0; i < n; i++)
      if (ev[i].type == SP_EV_SCORE)
        sp_proto_p_score(b, ev[i].id, ev[i].score);
    sp__batch_add(&batch, sp__frame_end(r));
  }
  sp_game_clear_events(r->game);
  if (batch.failed || sp_game_failed(r->game)) {
    sp__batch_free(&batch);
    sp__fail(r, "out of memory");
    return;
  }
  sp__broadcast(r, batch.frames, batch.n);
  sp__batch_free(&batch);
  sp__publish(r);
  if (top_changed && r->env->on_top_changed)
    r->env->on_top_changed(r->env->lobby, r);
}

/* Cluster mode: whether the room may still act. A room whose lease is
 * gone stops for good here (sp_room_lose), before it sends anything: a
 * node that was stopped past its lease must not show its players a second
 * copy of a room that another node may run now, neither a tick nor a
 * greeting, a join, a chat line or a new table. Idle rooms do not tick,
 * so every broadcast asks, and so do the messages that answer one player
 * only. A lost room sends nothing: its members are being closed (1012). */
static int sp__may_run(sp_room *r) {
  if (r->lost)
    return 0;
  if (r->env->lease_ok &&
      !r->env->lease_ok(r->env->hooks_data, r->name, r->epoch)) {
    sp_room_lose(r, "lease expired");
    return 0;
  }
  return 1;
}

void sp_room_broadcast(sp_room *r, sp_frame *f) { sp__broadcast(r, &f, 1); }

static void sp__schedule(sp_room *r);

/* CPU time of the calling thread: what a tick costs the loop, without the
 * time other threads (bot searches) took the core away. */
static uint64_t sp__thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sp__count_tick(sp_room_stats *st, uint64_t cpu_ns,
                           uint64_t wall_ns) {
  static const uint64_t le_us[SP_TICK_BUCKETS - 1] = SP_TICK_BUCKETS_US;
  int b = 0;
  while (b < SP_TICK_BUCKETS - 1 && wall_ns > le_us[b] * 1000)
    b++;
  SP_COUNT_ADD(st->tick_hist[b], 1);
  SP_COUNT_ADD(st->tick_wall_ns, wall_ns);
  SP_COUNT_ADD(st->ticks, 1);
  SP_COUNT_ADD(st->tick_ns, cpu_ns);
}

static void sp__bot_joined(void *data, uint32_t id, const char *name,
                           int color) {
  sp_room *r = data;
  sp_buf *b = &r->scratch;
  sp__frame_begin(r);
  sp_proto_p_joined(b, id, name, color, 0);
  sp__frame_broadcast(r);
  sp_round_score(&r->round, id, name, (uint8_t)color, 0);
}

/* After anything that may have killed snakes: dead bots free their places;
 * with no person left the bots leave too, else they fill up again. */
static void sp__bots_after(sp_room *r) {
  if (r->env->bots == 0)
    return;
  sp_bots_reap(r->bots, r->game);
  if (sp__humans(r) == 0) {
    if (sp_bots_live(r->bots) > 0) {
      sp_bots_clear(r->bots, r->game);
      sp__emit(r, 0);
    }
    return;
  }
  size_t live = sp_game_live_count(r->game);
  size_t max = (size_t)r->env->game.max_snakes;
  sp_bots_fill(r->bots, r->game, sp__humans(r), live < max ? max - live : 0,
               sp__bot_joined, r);
  sp__publish(r);
}

static void sp__round_send(sp_room *r, uint32_t left) {
  sp_buf *b = &r->scratch;
  sp__frame_begin(r);
  sp_proto_round(b, left);
  sp__frame_broadcast(r);
}

/* `round_end` with the standings, for everyone or for one newcomer. */
static sp_frame *sp__round_end_frame(sp_room *r, uint64_t now) {
  const sp_round *rd = &r->round;
  uint64_t left = rd->end_ms > now ? rd->end_ms - now : 0;
  sp_buf *b = &r->scratch;
  sp__frame_begin(r);
  sp_proto_round_end_begin(b, (uint32_t)((left + 999) / 1000));
  for (size_t i = 0; i < rd->n && i < SP_ROUND_STANDINGS_ROWS; i++) {
    const sp_round_entry *e = &rd->entries[i];
    sp_proto_round_end_row(b, e->id, e->name, e->color, e->score);
  }
  sp_proto_round_end_end(b);
  return sp__frame_end(r);
}

static void sp__round_cb(uv_timer_t *t);

/* The round timer fires when the count of seconds left changes, or when
 * the standings end. Times are the loop's clock (uv_now). */
static void sp__round_arm(sp_room *r) {
  uint64_t next = sp_round_next_ms(&r->round, uv_now(r->env->loop));
  uv_timer_start(&r->round_timer, sp__round_cb, next, 0);
}

/* Time is up: every snake dies (scores recorded), GAME OVER is drawn by the
 * last death, the loop stops, and every member gets the standings. */
static void sp__round_over(sp_room *r, uint64_t now) {
  while (sp_game_live_count(r->game) > 0) {
    uint32_t id, score;
    uint8_t color;
    sp_game_snake(r->game, 0, &id, &color, &score);
    sp_game_end(r->game, id, SP_CAUSE_ROUND);
  }
  sp__emit(r, 0);
  sp_bots_reap(r->bots, r->game);
  sp__stop(r);
  sp_round_finish(&r->round, now);
  char q[96];
  const char *winner = r->round.n ? r->round.entries[0].name : "";
  sp_log_info("round_over", "room=%s players=%zu winner=%s winner_score=%u",
              r->name, r->round.n,
              sp_log_quote(q, sizeof q, winner, strlen(winner)),
              r->round.n ? r->round.entries[0].score : 0);
  sp_frame *f = sp__round_end_frame(r, now);
  if (f) {
    sp__broadcast(r, &f, 1);
    sp_frame_unref(f);
  }
}

static void sp__round_cb(uv_timer_t *t) {
  sp_room *r = t->data;
  uint64_t now = uv_now(r->env->loop);
  if (r->round.state == SP_ROUND_RUNNING) {
    uint32_t left = sp_round_left(&r->round, now);
    sp__round_send(r, left);
    if (left == 0)
      sp__round_over(r, now);
    sp__round_arm(r);
  } else if (r->round.state == SP_ROUND_STANDINGS) {
    if (now >= r->round.end_ms)
      sp_round_idle(&r->round); /* the next join starts the next round */
    else
      sp__round_arm(r);
  }
}

static void sp__tick_cb(uv_timer_t *t) {
  sp_room *r = t->data;
  uint64_t now = uv_hrtime();
  /* libuv timers have millisecond resolution: if we woke up early, sleep
   * the rest rather than tick early. */
  if (now + 500000 < r->next_tick) {
    sp__schedule(r);
    return;
  }
  if (!sp__may_run(r))
    return;
  r->ticks++;
  uint64_t cpu0 = sp__thread_cpu_ns();
  /* Late: the loop was busy elsewhere for over a quarter of an interval. */
  if (r->env->stats && now > r->next_tick + r->env->interval_ns / 4)
    SP_COUNT_ADD(r->env->stats->late_ticks, 1);
  if (r->env->fail_room && r->ticks % 5 == 0 &&
      strcmp(r->env->fail_room, r->name) == 0) {
    sp__fail(r, "injected failure");
    return;
  }
  sp_bots_steer(r->bots, r->game);
  sp_game_tick(r->game);
  sp__emit(r, 1);
  if (!r->running)
    return; /* the room failed and was reset */
  sp__bots_after(r);
  sp_bots_think(r->bots, r->game);
  if (r->env->stats)
    sp__count_tick(r->env->stats, sp__thread_cpu_ns() - cpu0,
                   uv_hrtime() - now);
  if (sp_game_live_count(r->game) == 0) {
    sp__stop(r);
    return;
  }
  /* Fixed timestep on the monotonic clock: the schedule never drifts. A
   * room that fell more than a second behind (a stalled machine) skips
   * ahead instead of bursting. */
  r->next_tick += r->env->interval_ns;
  if (now > r->next_tick + 1000000000ULL)
    r->next_tick = now + r->env->interval_ns;
  sp__schedule(r);
}

static void sp__schedule(sp_room *r) {
  uv_update_time(r->env->loop);
  uint64_t now = uv_hrtime();
  uint64_t delay = 0;
  if (r->next_tick > now)
    delay = (r->next_tick - now + 999999) / 1000000;
  uv_timer_start(&r->timer, sp__tick_cb, delay, 0);
}

static void sp__start(sp_room *r) {
  sp_game_reset(r->game);
  sp__world_changed(r);
  sp__frame_begin(r);
  sp_proto_reset_world(&r->scratch);
  sp_frame *f = sp__frame_end(r);
  if (!f) {
    sp__fail(r, "out of memory");
    return;
  }
  sp__broadcast(r, &f, 1);
  sp_frame_unref(f);
  r->running = 1;
  r->next_tick = uv_hrtime() + r->env->interval_ns;
  sp_log_debug("room_started", "room=%s", r->name);
  sp__schedule(r);
}

static uint64_t sp__fnv(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

int sp_room_new(sp_room_env *env, const char *name, uint64_t uid,
                uint64_t epoch, sp_room **out) {
  sp_room *r = calloc(1, sizeof *r);
  if (!r)
    return UV_ENOMEM;
  r->views = calloc((size_t)env->nloops, sizeof *r->views);
  if (!r->views) {
    free(r);
    return UV_ENOMEM;
  }
  r->env = env;
  r->uid = uid;
  r->epoch = epoch;
  snprintf(r->name, sizeof r->name, "%s", name);
  sp_game_config cfg = env->game;
  if (env->has_seed) {
    cfg.seed = env->seed ^ sp__fnv(name);
  } else if (uv_random(NULL, NULL, &cfg.seed, sizeof cfg.seed, 0, NULL) != 0) {
    cfg.seed = uv_hrtime() ^ sp__fnv(name);
  }
  int err = sp_game_new(&cfg, &r->game);
  if (err) {
    free(r->views);
    free(r);
    return err;
  }
  sp_bots_config bc = {
      .loop = env->loop,
      .max_bots = env->bots,
      .next_id = env->next_player_id,
      .delay_ms = env->bot_delay_ms,
      .stats = env->stats ? &env->stats->bots : NULL,
  };
  if (sp_bots_new(&bc, &r->bots) != 0) {
    sp_game_free(r->game);
    free(r->views);
    free(r);
    return UV_ENOMEM;
  }
  uv_timer_init(env->loop, &r->timer);
  uv_timer_init(env->loop, &r->round_timer);
  uv_timer_init(env->loop, &r->info_timer);
  r->timer.data = r->round_timer.data = r->info_timer.data = r;
  r->open_handles = 3;
  sp_round_init(&r->round, env->round_seconds, env->standings_seconds);
  *out = r;
  return 0;
}

static void sp__room_closed(uv_handle_t *h) {
  sp_room *r = h->data;
  if (--r->open_handles > 0)
    return;
  sp_bots_close(r->bots); /* freed once its searches come back */
  sp_frame_unref(r->world);
  sp_game_free(r->game);
  sp_round_free(&r->round);
  sp_buf_free(&r->scratch);
  free(r->views);
  free(r);
}

void sp_room_close(sp_room *r) {
  SP_ASSERT(r->nmembers == 0);
  sp__stop(r);
  if (r->env->stats)
    SP_COUNT_SUB(r->env->stats->snakes, r->published_snakes);
  r->published_snakes = 0;
  uv_close((uv_handle_t *)&r->timer, sp__room_closed);
  uv_close((uv_handle_t *)&r->round_timer, sp__room_closed);
  uv_close((uv_handle_t *)&r->info_timer, sp__room_closed);
}

const char *sp_room_name(const sp_room *r) { return r->name; }
size_t sp_room_members(const sp_room *r) { return r->nmembers; }
sp_room *sp_player_room(const sp_player *p) { return p->room; }

static void sp__unlink(sp_player *p) {
  sp_room *r = p->room;
  if (p->prev)
    p->prev->next = p->next;
  else
    r->members = p->next;
  if (p->next)
    p->next->prev = p->prev;
  else
    r->last = p->prev;
  p->prev = p->next = NULL;
}

sp_player *sp_room_enter(sp_room *r, sp_member *m) {
  sp_player *p = sp_fault("room_enter") ? NULL : calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->room = r;
  p->member = m;
  sp__loop_view *lv = &r->views[sp_member_loop(m)];
  lv->view = sp_member_view(m);
  lv->members++;
  p->prev = r->last;
  if (r->last)
    r->last->next = p;
  else
    r->members = p;
  r->last = p;
  r->nmembers++;
  return p;
}

/* A private frame for one member (the reference is the caller's). */
static void sp__send_own(sp_player *p, sp_frame *f) {
  if (!f)
    return;
  sp_relay_deliver(p->room->env->relay, p->member, &f, 1, 0);
  sp_frame_unref(f);
}

/* The whole field as a frame (a reference for the caller; NULL when out of
 * memory). While a game runs it is encoded once and shared until the field
 * changes, so a crowd arriving between two ticks costs one encoding. An
 * idle room keeps nothing: a thousand idle rooms would otherwise hold a
 * copy of their field each (the frame is about 8 bytes a cell). It is
 * built in a buffer of its own, so the room's scratch buffer stays the
 * size of a tick's frames. */
static sp_frame *sp__world_frame(sp_room *r) {
  if (r->world)
    return sp_frame_ref(r->world);
  sp_buf b = SP_BUF_INIT;
  sp_proto_begin(&b);
  sp_proto_world(&b, r->game);
  sp_proto_end(&b);
  sp_frame *f = b.failed ? NULL : sp_frame_new(SP_WS_OP_TEXT, b.data, b.len);
  sp_buf_free(&b);
  if (f && r->running)
    r->world = sp_frame_ref(f);
  return f;
}

static void sp__new_player(sp_player *p, const char *name) {
  sp_room *r = p->room;
  snprintf(p->name, sizeof p->name, "%s", name);
  /* Its first colour is its name's, the one top_scores shows for it. */
  p->color = (uint8_t)sp_proto_name_color(p->name);
  sp__registered(r, 1);
  do
    p->id = atomic_fetch_add(r->env->next_player_id, 1) + 1;
  while (p->id == 0);
  char q[96];
  sp_log_info("new_player", "room=%s conn=%llu peer=%s id=%u name=%s", r->name,
              (unsigned long long)sp_member_conn_id(p->member),
              sp_member_peer(p->member), p->id,
              sp_log_quote(q, sizeof q, p->name, strlen(p->name)));

  sp__batch batch;
  sp__batch_init(&batch);
  sp_buf *b = &r->scratch;
  sp__frame_begin(r);
  sp_proto_handshake(b, p->name, p->id);
  sp__batch_add(&batch, sp__frame_end(r));
  sp__batch_add(&batch, sp__world_frame(r));
  sp_frame *top = sp_room_env_top_scores(r->env);
  sp__batch_add(&batch, top ? sp_frame_ref(top) : NULL);
  size_t live = sp_game_live_count(r->game);
  if (live > 0) {
    sp__frame_begin(r);
    for (size_t i = 0; i < live; i++) {
      uint32_t id, score;
      uint8_t color;
      sp_game_snake(r->game, i, &id, &color, &score);
      sp_proto_p_joined(b, id, sp__snake_name(r, id), color, score);
    }
    sp__batch_add(&batch, sp__frame_end(r));
  }
  /* Extensions last, in a frame of their own: v1 frames stay as they were. */
  uint64_t now = uv_now(r->env->loop);
  sp_proto_info info = {
      .room = r->name,
      .max_players = r->env->game.max_snakes,
      .tick_rate = r->env->tick_rate,
      .width = r->env->game.width,
      .height = r->env->game.height,
      .round_seconds = r->env->round_seconds,
      .standings_seconds = r->env->standings_seconds,
      .chat_max_chars = r->env->chat.max_chars,
      .chat_per_10s = r->env->chat.per_10s,
      .boot = r->env->boot,
  };
  sp__frame_begin(r);
  sp_proto_room_info(b, &info);
  p->watching = sp__watching(r);
  sp_proto_watching(b, p->watching);
  if (r->round.state == SP_ROUND_RUNNING)
    sp_proto_round(b, sp_round_left(&r->round, now));
  sp__batch_add(&batch, sp__frame_end(r));
  if (r->round.state == SP_ROUND_STANDINGS)
    sp__batch_add(&batch, sp__round_end_frame(r, now));
  sp__watching_changed(r);
  /* From this delivery on, the member's loop sends it the broadcasts. */
  if (batch.failed)
    sp_relay_close(r->env->relay, p->member, SP_WS_INTERNAL);
  else
    sp_relay_deliver(r->env->relay, p->member, batch.frames, batch.n,
                     SP_MEMBER_REGISTERED);
  sp__batch_free(&batch);
}

static void sp__join(sp_player *p) {
  sp_room *r = p->room;
  if (!p->id || sp_game_alive(r->game, p->id) || r->lost)
    return;
  uint64_t now = uv_now(r->env->loop);
  sp_buf *b = &r->scratch;
  if (r->round.state == SP_ROUND_STANDINGS) {
    /* The last round's standings are showing: the next round waits. */
    char text[64];
    uint64_t wait = r->round.end_ms > now ? r->round.end_ms - now : 0;
    snprintf(text, sizeof text, "The next round starts in %llu s",
             (unsigned long long)((wait + 999) / 1000));
    sp__frame_begin(r);
    sp_proto_error(b, text);
    sp__send_own(p, sp__frame_end(r));
    return;
  }
  if (!r->running) {
    sp__start(r);
    if (!r->running)
      return;
  }
  uint8_t color;
  int err = sp_game_join_color(r->game, p->id, p->color, &color);
  if (err == SP_EFULL && sp_bots_evict(r->bots, r->game)) {
    /* Bots never take a place a person needs. */
    sp__emit(r, 0);
    err = sp_game_join_color(r->game, p->id, p->color, &color);
  }
  sp__frame_begin(r);
  if (err == SP_EFULL) {
    sp_proto_error(b, "Maximum players reached");
    sp__send_own(p, sp__frame_end(r));
    return;
  }
  if (err)
    return;
  p->color = color;
  char q[96];
  sp_log_info("join", "room=%s id=%u name=%s color=%u snakes=%zu", r->name,
              p->id, sp_log_quote(q, sizeof q, p->name, strlen(p->name)), color,
              sp_game_live_count(r->game));
  sp_proto_p_joined(b, p->id, p->name, color, 0);
  sp_frame *f = sp__frame_end(r);
  if (!f) {
    sp__fail(r, "out of memory");
    return;
  }
  sp__broadcast(r, &f, 1);
  sp_frame_unref(f);
  /* A broadcast to thousands takes milliseconds: players go first on
   * their loop, so a key press shows up for the one who pressed it as soon
   * as it can. */
  sp_relay_deliver(r->env->relay, p->member, NULL, 0, SP_MEMBER_PLAYING);
  uint64_t wait;
  if (sp_round_join(&r->round, now, p->id, p->name, color, &wait) == 1) {
    sp__round_send(r, r->round.seconds); /* a round starts with this join */
    sp__round_arm(r);
  }
  sp__bots_after(r);
  sp__publish(r);
  sp__watching_changed(r);
}

/* Extension ["chat", TEXT]: to every member of the room, within the
 * limits of sp_chat_check and of the room as a whole. */
static void sp__chat(sp_player *p, const sp_msg *m) {
  sp_room *r = p->room;
  uint64_t now = uv_now(r->env->loop);
  uint32_t retry;
  char reason[96];
  sp_chat_verdict v = sp_chat_check(&p->chat, &r->env->chat, m, now, &retry,
                                    reason, sizeof reason);
  if (v == SP_CHAT_OK &&
      !sp_chat_take(&r->chat, SP_ROOM_CHAT_PER_10S, now, &retry)) {
    v = SP_CHAT_TOO_FAST;
    snprintf(reason, sizeof reason, "The room is busy: try again shortly");
  }
  if (v == SP_CHAT_EMPTY)
    return;
  sp_buf *b = &r->scratch;
  sp__frame_begin(r);
  if (v == SP_CHAT_OK)
    sp_proto_chat(b, p->id, p->name, m->text);
  else
    sp_proto_chat_refused(b, reason, retry);
  sp_frame *f = sp__frame_end(r);
  if (v != SP_CHAT_OK) {
    sp__send_own(p, f);
    return;
  }
  if (f) {
    sp__broadcast(r, &f, 1);
    sp_frame_unref(f);
  }
}

void sp_player_message(sp_player *p, const sp_msg *m) {
  /* Only a key press changes nothing that anyone is sent before the next
   * tick, which asks for itself. */
  if (m->type != SP_MSG_KEY && !sp__may_run(p->room))
    return;
  switch (m->type) {
  case SP_MSG_NEW_PLAYER:
    if (!p->id)
      sp__new_player(p, m->name);
    break;
  case SP_MSG_JOIN: sp__join(p); break;
  case SP_MSG_KEY:
    if (p->id)
      sp_game_turn(p->room->game, p->id, m->dir);
    break;
  case SP_MSG_CHAT:
    if (p->id)
      sp__chat(p, m);
    break;
  default: break; /* dropped on the member's loop already */
  }
}

void sp_room_lose(sp_room *r, const char *why) {
  if (r->lost)
    return;
  r->lost = 1;
  sp__stop(r);
  sp_room_ref ref;
  if (r->env->dir)
    sp_directory_lose(r->env->dir, r->name, &ref);
  sp_log_warn("room_lost", "room=%s epoch=%llu why=\"%s\" members=%zu", r->name,
              (unsigned long long)r->epoch, why, r->nmembers);
  for (sp_player *p = r->members; p; p = p->next)
    sp_relay_close(r->env->relay, p->member, SP_WS_SERVICE_RESTART);
}

void sp_player_leave(sp_player *p) {
  sp_room *r = p->room;
  /* A room past its lease is lost first: the others are closed, nothing
   * is sent, and the score made under the lease is still recorded. */
  sp__may_run(r);
  if (p->id && sp_game_alive(r->game, p->id)) {
    /* Its snake dies now, as in the original; the others see it at once. */
    sp_game_kill(r->game, p->id);
    sp__emit(r, 0);
    sp__bots_after(r);
    if (sp_game_live_count(r->game) == 0)
      sp__stop(r);
  }
  sp__loop_view *lv = &r->views[sp_member_loop(p->member)];
  if (--lv->members == 0)
    lv->view = NULL; /* that loop may free it once it has no members */
  sp__unlink(p);
  r->nmembers--;
  if (p->id) {
    sp__registered(r, -1);
    sp__watching_changed(r);
  }
  free(p);
}

/* ---- operators ------------------------------------------------------------
 */

void sp_room_admin_json(sp_room *r, sp_buf *out) {
  sp_buf_puts(out, "{\"name\":");
  sp_json_string(out, r->name, strlen(r->name));
  sp_buf_printf(out, ",\"members\":%zu,\"snakes\":%zu,\"players\":[",
                r->nmembers, sp_game_live_count(r->game));
  int first = 1;
  for (sp_player *p = r->members; p; p = p->next) {
    if (!p->id)
      continue;
    uint32_t score = 0;
    int alive = sp_game_alive(r->game, p->id);
    for (size_t i = 0; alive && i < sp_game_live_count(r->game); i++) {
      uint32_t id, sc;
      uint8_t color;
      sp_game_snake(r->game, i, &id, &color, &sc);
      if (id == p->id)
        score = sc;
    }
    sp_buf_puts(out, first ? "{\"id\":" : ",{\"id\":");
    first = 0;
    sp_buf_printf(out, "%u,\"name\":", p->id);
    sp_json_string(out, p->name, strlen(p->name));
    sp_buf_printf(out, ",\"alive\":%s,\"score\":%u,\"color\":%u}",
                  alive ? "true" : "false", score, p->color);
  }
  sp_buf_puts(out, "]}");
}

int sp_room_kick(sp_room *r, uint32_t id, uint16_t code, const char *reason) {
  sp_player *p = id ? sp__find(r, id) : NULL;
  if (!p)
    return 0;
  char q[160];
  sp_log_info("kicked", "room=%s id=%u conn=%llu code=%u reason=%s", r->name,
              id, (unsigned long long)sp_member_conn_id(p->member), code,
              sp_log_quote(q, sizeof q, reason, strlen(reason)));
  sp_relay_close_why(r->env->relay, p->member, code, reason);
  return 1;
}

size_t sp_room_close_all(sp_room *r, uint16_t code, const char *reason) {
  char q[160];
  sp_log_info("room_closed_by_admin", "room=%s members=%zu code=%u reason=%s",
              r->name, r->nmembers, code,
              sp_log_quote(q, sizeof q, reason, strlen(reason)));
  for (sp_player *p = r->members; p; p = p->next)
    sp_relay_close_why(r->env->relay, p->member, code, reason);
  return r->nmembers;
}

int sp_room_announce(sp_room *r, const char *text) {
  sp_buf *b = &r->scratch;
  sp_buf_reset(b);
  sp_proto_begin(b);
  sp_proto_announce(b, text);
  sp_proto_end(b);
  sp_frame *f = sp__finish(r);
  if (!f)
    return UV_ENOMEM;
  sp__broadcast(r, &f, 1);
  sp_frame_unref(f);
  return 0;
}
