#include "app/worker.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "net/server.h"
#include "room/lobby.h"

#define SP_SHUTDOWN_GRACE_MS 1200 /* clients get this long to answer 1001 */

struct sp_worker {
  sp_shared *sh;
  int index;
  uv_thread_t thread;
  uv_sem_t ready;
  int start_err;
  uv_loop_t loop;
  sp_mailbox *mail;
  sp_server *server;
  sp_lobby *lobby;
  uv_timer_t stop_timer;
  uint64_t stop_started;
  int stopping, done;
  int move_to; /* owner chosen by the last on_upgrade that returned MOVE */
};

typedef struct sp__score_mail {
  uint32_t score;
  char name[SP_SCORE_NAME_SIZE];
} sp__score_mail;

typedef struct sp__top_mail {
  size_t n;
  sp_score_row rows[SP_TOP_SCORES];
} sp__top_mail;

/* ---- mail: hub → worker, worker → worker ------------------------------ */

static void sp__mail_top(void *ctx, void *payload) {
  sp_worker *w = ctx;
  sp__top_mail *t = payload;
  if (w->lobby)
    sp_lobby_set_top(w->lobby, t->rows, t->n);
  free(t);
}

void sp_worker_post_top(sp_worker *w, const sp_score_row *rows, size_t n) {
  sp__top_mail *t = malloc(sizeof *t);
  if (!t)
    return;
  t->n = n;
  memcpy(t->rows, rows, n * sizeof *rows);
  if (sp_mailbox_post(w->mail, sp__mail_top, t) != 0)
    free(t);
}

static void sp__leave_room_of_query(sp_worker *w, const char *query) {
  char room[SP_ROOM_NAME_MAX + 1];
  const char *reason;
  if (sp_lobby_parse_query(query, room, &reason) == 0)
    sp_directory_leave(w->sh->dir, room);
}

static void sp__mail_adopt(void *ctx, void *payload) {
  sp_worker *w = ctx;
  sp_moved_conn *m = payload;
  if (w->stopping || sp_server_adopt(w->server, m) != 0) {
    sp__leave_room_of_query(w, sp_moved_conn_query(m));
    sp_moved_conn_free(m);
  }
}

/* ---- the handler: where the network meets the rooms -------------------- */

static int sp__on_upgrade(void *data, sp_conn *c, const char *query,
                          const char **reason) {
  sp_worker *w = data;
  char room[SP_ROOM_NAME_MAX + 1];
  int status = sp_lobby_parse_query(query, room, reason);
  if (status)
    return status;
  if (w->stopping) {
    *reason = "shutting down";
    if (sp_conn_adopted(c))
      sp_directory_leave(w->sh->dir, room);
    return 503;
  }
  if (!sp_conn_adopted(c)) {
    /* Counted in here; counted out when the connection leaves its room. */
    int owner = sp_directory_route(w->sh->dir, room);
    if (owner < 0) {
      *reason = "out of memory";
      return 503;
    }
    if (owner != w->index) {
      w->move_to = owner;
      return SP_SERVER_MOVE;
    }
  }
  sp_player *p = sp_lobby_enter(w->lobby, room, c);
  if (!p) {
    sp_directory_leave(w->sh->dir, room);
    *reason = "out of memory";
    return 503;
  }
  sp_conn_set_data(c, p);
  return 0;
}

static void sp__on_move(void *data, sp_conn *c, sp_moved_conn *m) {
  (void)c;
  sp_worker *w = data;
  sp_worker *to = w->sh->workers[w->move_to];
  if (sp_mailbox_post(to->mail, sp__mail_adopt, m) != 0) {
    sp__leave_room_of_query(w, sp_moved_conn_query(m));
    sp_moved_conn_free(m);
  }
}

static void sp__on_message(void *data, sp_conn *c, const uint8_t *msg,
                           size_t len) {
  (void)data;
  sp_player_message(sp_conn_data(c), msg, len);
}

static void sp__on_close(void *data, sp_conn *c) {
  sp_worker *w = data;
  sp_player *p = sp_conn_data(c);
  char room[SP_ROOM_NAME_MAX + 1];
  snprintf(room, sizeof room, "%s", sp_room_name(sp_player_room(p)));
  sp_lobby_leave(w->lobby, p);
  sp_directory_leave(w->sh->dir, room);
}

/* Counters of the whole process: rooms, ticks and the loop time they
 * took, bot searches and the pool time they took. */
static void sp__stats_json(sp_worker *w, sp_buf *json) {
  sp_room_stats *st = &w->sh->stats;
#define SP_LOAD(x)                                                             \
  ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))
  sp_buf_printf(json,
                "{\"workers\":%d,\"rooms\":%zu,\"ticks\":%llu,\"tick_ns\":%llu,"
                "\"bot_searches\":%llu,\"bot_search_ns\":%llu,"
                "\"bot_late\":%llu,\"rooms_per_worker\":",
                w->sh->nworkers, sp_directory_rooms(w->sh->dir),
                SP_LOAD(st->ticks), SP_LOAD(st->tick_ns),
                SP_LOAD(st->bots.searches), SP_LOAD(st->bots.search_ns),
                SP_LOAD(st->bots.late));
  sp_directory_loads_json(w->sh->dir, json);
  sp_buf_putc(json, '}');
#undef SP_LOAD
}

static int sp__on_api(void *data, const char *name, sp_buf *json) {
  sp_worker *w = data;
  if (strcmp(name, "rooms") == 0)
    sp_directory_json(w->sh->dir, json);
  else if (strcmp(name, "scores") == 0)
    sp_lobby_scores_json(w->lobby, json);
  else if (strcmp(name, "stats") == 0)
    sp__stats_json(w, json);
  else
    return 404;
  return 200;
}

/* ---- lobby hooks --------------------------------------------------------- */

static void sp__hub_score(void *ctx, void *payload) {
  sp_shared *sh = ctx;
  sp__score_mail *s = payload;
  sh->hub_score(sh->hub_ctx, s->name, s->score);
  free(s);
}

static void sp__on_score(void *data, const char *name, uint32_t score) {
  sp_worker *w = data;
  sp__score_mail *s = malloc(sizeof *s);
  if (!s) {
    sp_log_error("score_lost", "score=%u error=\"out of memory\"", score);
    return;
  }
  snprintf(s->name, sizeof s->name, "%s", name);
  s->score = score;
  if (sp_mailbox_post(w->sh->hub, sp__hub_score, s) != 0) {
    sp_log_error("score_lost", "score=%u error=\"hub closed\"", score);
    free(s);
  }
}

static void sp__on_snakes(void *data, const char *room, size_t snakes) {
  sp_worker *w = data;
  sp_directory_set_snakes(w->sh->dir, room, snakes);
}

/* ---- shutdown ----------------------------------------------------------- */

static void sp__hub_done(void *ctx, void *payload) {
  sp_shared *sh = ctx;
  sh->hub_worker_done(sh->hub_ctx, (int)(intptr_t)payload);
}

static void sp__stop_tick(uv_timer_t *t) {
  sp_worker *w = t->data;
  if (w->done)
    return;
  if (sp_server_conn_count(w->server) > 0) {
    if (uv_now(&w->loop) - w->stop_started >= SP_SHUTDOWN_GRACE_MS) {
      sp_log_warn("shutdown_cut", "worker=%d connections=%zu", w->index,
                  sp_server_conn_count(w->server));
      sp_server_abort_all(w->server);
    }
    return; /* their close callbacks run before the next tick */
  }
  /* Every player has left (their scores are posted): tell the hub after
   * them, and let the loop run out. */
  w->done = 1;
  uv_close((uv_handle_t *)&w->stop_timer, NULL);
  sp_server_close(w->server);
  sp_mailbox_post(w->sh->hub, sp__hub_done, (void *)(intptr_t)w->index);
  sp_mailbox_close(w->mail);
}

static void sp__mail_shutdown(void *ctx, void *payload) {
  (void)payload;
  sp_worker *w = ctx;
  if (w->stopping)
    return;
  w->stopping = 1;
  w->stop_started = uv_now(&w->loop);
  sp_server_shutdown(w->server);
  uv_timer_start(&w->stop_timer, sp__stop_tick, 0, 20);
}

void sp_worker_post_shutdown(sp_worker *w) {
  sp_mailbox_post(w->mail, sp__mail_shutdown, NULL);
}

/* ---- the thread --------------------------------------------------------- */

static void sp__thread(void *arg) {
  sp_worker *w = arg;
  sp_shared *sh = w->sh;
  const sp_config *cfg = sh->cfg;
  int err = uv_loop_init(&w->loop);
  if (err)
    goto fail;
  if ((err = sp_mailbox_init(&w->loop, w, &w->mail)) != 0)
    goto fail_loop;
  sp_lobby_settings ls = {
      .tick_rate = cfg->tick_rate,
      .max_players = cfg->max_players,
      .field_w = cfg->field_w,
      .field_h = cfg->field_h,
      .has_seed = cfg->has_seed,
      .seed = cfg->seed,
      .next_player_id = &sh->next_player_id,
      .on_score = sp__on_score,
      .on_snakes = sp__on_snakes,
      .hooks_data = w,
      .bots = cfg->bots,
      .round_seconds = (uint32_t)cfg->round_seconds,
      .standings_seconds = (uint32_t)cfg->standings_seconds,
      .chat_max_chars = (uint32_t)cfg->chat_max_chars,
      .chat_rate = cfg->chat_rate,
      .stats = &sh->stats,
  };
  if ((err = sp_lobby_new(&w->loop, &ls, &w->lobby)) != 0) {
    err = UV_ENOMEM;
    goto fail_mail;
  }
  sp_lobby_set_top(w->lobby, sh->top, sh->ntop);
  sp_server_options so = {
      .host = cfg->host,
      .port = w->index == 0 ? cfg->port : sh->port,
      .static_dir = cfg->static_dir,
      .max_message = cfg->max_message,
      .max_queue = cfg->max_queue,
      .max_conns = cfg->max_conns,
      .max_conns_per_ip = cfg->max_conns_per_ip,
      .header_timeout_ms = (uint64_t)(cfg->header_timeout * 1000),
      .register_timeout_ms = (uint64_t)(cfg->register_timeout * 1000),
      .ping_interval_ms = (uint64_t)(cfg->ping_interval * 1000),
      .max_msg_rate = cfg->max_msg_rate,
      .allowed_origins = cfg->allowed_origins,
      .limits = sh->limits,
      .reuseport = 1,
  };
  sp_server_handler h = {
      .data = w,
      .on_upgrade = sp__on_upgrade,
      .on_move = sp__on_move,
      .on_message = sp__on_message,
      .on_close = sp__on_close,
      .on_api = sp__on_api,
  };
  if ((err = sp_server_start(&w->loop, &so, &h, &w->server)) != 0)
    goto fail_lobby;
  if (w->index == 0)
    sh->port = sp_server_port(w->server);
  uv_timer_init(&w->loop, &w->stop_timer);
  w->stop_timer.data = w;
  uv_sem_post(&w->ready);

  uv_run(&w->loop, UV_RUN_DEFAULT);
  sp_lobby_free(w->lobby);
  sp_server_free(w->server);
  uv_loop_close(&w->loop);
  return;

fail_lobby:
  if (w->server) {
    uv_run(&w->loop, UV_RUN_NOWAIT); /* let the failed listener close */
    sp_server_free(w->server);
    w->server = NULL;
  }
  sp_lobby_free(w->lobby);
fail_mail:
  sp_mailbox_close(w->mail);
  uv_run(&w->loop, UV_RUN_DEFAULT);
fail_loop:
  uv_loop_close(&w->loop);
fail:
  w->start_err = err;
  uv_sem_post(&w->ready);
}

int sp_worker_start(sp_shared *sh, int index, sp_worker **out) {
  sp_worker *w = calloc(1, sizeof *w);
  if (!w)
    return UV_ENOMEM;
  w->sh = sh;
  w->index = index;
  uv_sem_init(&w->ready, 0);
  int err = uv_thread_create(&w->thread, sp__thread, w);
  if (err) {
    uv_sem_destroy(&w->ready);
    free(w);
    return err;
  }
  uv_sem_wait(&w->ready);
  if (w->start_err) {
    err = w->start_err;
    uv_thread_join(&w->thread);
    uv_sem_destroy(&w->ready);
    free(w);
    return err;
  }
  *out = w;
  return 0;
}

void sp_worker_join(sp_worker *w) {
  uv_thread_join(&w->thread);
  uv_sem_destroy(&w->ready);
  free(w);
}
