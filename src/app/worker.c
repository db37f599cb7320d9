#include "app/worker.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/admin.h"
#include "app/metrics.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mailbox.h"
#include "net/server.h"
#include "room/lobby.h"

#define SP_SHUTDOWN_GRACE_MS 1200 /* clients get this long to answer 1001 */

struct sp_worker {
  sp_shared *sh;
  int index;
  uv_thread_t thread;
  int running; /* the thread was started: sp_worker_join waits for it */
  uv_loop_t loop;
  sp_mailbox *mail;
  sp_server *server;
  sp_lobby *lobby;
  sp_relay *relay;
  sp_admin *admin;
  sp_room_stats stats; /* of the rooms this loop runs; written here only */
  uv_timer_t stop_timer;
  uint64_t stop_started;
  int stopping, done;
};

typedef struct sp__score_mail {
  sp_mail mail;
  uint32_t score;
  char name[SP_SCORE_NAME_SIZE];
} sp__score_mail;

typedef struct sp__top_mail {
  sp_mail mail;
  size_t n;
  sp_score_row rows[SP_TOP_SCORES];
} sp__top_mail;

/* ---- mail: hub → worker, worker → worker ------------------------------ */

static void sp__mail_top(void *ctx, sp_mail *mail) {
  sp_worker *w = ctx;
  sp__top_mail *t = (sp__top_mail *)mail;
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
  if (sp_mailbox_post(w->mail, &t->mail, sp__mail_top) != 0)
    free(t); /* the worker has stopped: it needs no table any more */
}

typedef struct sp__uid_mail {
  sp_mail mail;
  uint64_t uid;
} sp__uid_mail;

static void sp__mail_lose(void *ctx, sp_mail *mail) {
  sp_worker *w = ctx;
  sp__uid_mail *u = (sp__uid_mail *)mail;
  sp_lobby_lose(w->lobby, u->uid);
  free(u);
}

void sp_worker_post_lose(sp_worker *w, uint64_t uid) {
  sp__uid_mail *u = malloc(sizeof *u);
  if (!u) {
    /* The room's own check before its next tick stops it all the same. */
    sp_log_error("lose_lost", "worker=%d error=\"%s\"", w->index,
                 sp_strerror(UV_ENOMEM));
    return;
  }
  u->uid = uid;
  if (sp_mailbox_post(w->mail, &u->mail, sp__mail_lose) != 0)
    free(u);
}

typedef struct sp__limits_mail {
  sp_mail mail;
  sp_server_limits lim;
} sp__limits_mail;

static void sp__mail_limits(void *ctx, sp_mail *mail) {
  sp_worker *w = ctx;
  sp__limits_mail *m = (sp__limits_mail *)mail;
  sp_server_set_limits(w->server, &m->lim);
  free(m);
}

void sp_worker_post_limits(sp_worker *w, const sp_server_limits *lim) {
  sp__limits_mail *m = malloc(sizeof *m);
  if (!m) {
    sp_log_error("limits_lost", "worker=%d error=\"%s\"", w->index,
                 sp_strerror(UV_ENOMEM));
    return;
  }
  m->lim = *lim;
  if (sp_mailbox_post(w->mail, &m->mail, sp__mail_limits) != 0)
    free(m);
}

typedef struct sp__announce_mail {
  sp_mail mail;
  int all;
  char room[SP_ROOM_NAME_MAX + 1];
  char text[]; /* NUL-terminated */
} sp__announce_mail;

static void sp__mail_announce(void *ctx, sp_mail *mail) {
  sp_worker *w = ctx;
  sp__announce_mail *m = (sp__announce_mail *)mail;
  sp_lobby_announce(w->lobby, m->all ? NULL : m->room, m->text);
  free(m);
}

void sp_worker_post_announce(sp_worker *w, const char *room, const char *text) {
  size_t n = strlen(text);
  sp__announce_mail *m = malloc(sizeof *m + n + 1);
  if (!m)
    return;
  m->all = room == NULL;
  snprintf(m->room, sizeof m->room, "%s", room ? room : "");
  memcpy(m->text, text, n + 1);
  if (sp_mailbox_post(w->mail, &m->mail, sp__mail_announce) != 0)
    free(m);
}

struct sp_lobby *sp_worker_lobby(sp_worker *w) {
  return w->lobby;
}
sp_mailbox *sp_worker_mailbox(sp_worker *w) { return w->mail; }
const sp_server_stats *sp_worker_net_stats(const sp_worker *w) {
  return sp_server_get_stats(w->server);
}
const sp_room_stats *sp_worker_room_stats(const sp_worker *w) {
  return &w->stats;
}

int sp_shared_ready(sp_shared *sh) {
  if (!atomic_load(&sh->started) || atomic_load(&sh->stopping))
    return 0;
  if (sh->cluster) {
    sp_cluster_stats st;
    sp_cluster_get_stats(sh->cluster, &st);
    return st.redis_up;
  }
  return 1;
}

/* ---- cluster mode: upgrades that wait for a room's lease ------------------
 */

#define SP_RETRY_AFTER "Retry-After: 1\r\n"

typedef struct sp__room_mail {
  sp_mail mail;
  int created;
  char room[SP_ROOM_NAME_MAX + 1];
} sp__room_mail;

static void sp__hub_claim_done(void *ctx, sp_mail *mail) {
  sp_shared *sh = ctx;
  sp__room_mail *r = (sp__room_mail *)mail;
  sp_leases_claim_done(sh->leases, r->room, r->created);
  free(r);
}

static void sp__hub_room_closed(void *ctx, sp_mail *mail) {
  sp_shared *sh = ctx;
  sp__room_mail *r = (sp__room_mail *)mail;
  sp_leases_room_closed(sh->leases, r->room);
  free(r);
}

/* Tells the hub about a room: fn is sp__hub_claim_done or _room_closed. A
 * message that cannot go leaves the lease held until the node stops:
 * worse for moving the room, never a second copy of it. */
static void sp__tell_hub(sp_worker *w, sp_mail_fn fn, const char *room,
                         int created) {
  sp__room_mail *r = malloc(sizeof *r);
  if (r) {
    r->created = created;
    snprintf(r->room, sizeof r->room, "%s", room);
  }
  if (!r || sp_mailbox_post(w->sh->hub, &r->mail, fn) != 0) {
    sp_log_error("lease_kept", "room=%s", room);
    free(r);
  }
}

/* Puts a connection into its room (joined or made under epoch) and opens
 * the WebSocket; *created says whether the room was made for it. */
static int sp__enter_room(sp_worker *w, sp_conn *c, const char *room,
                          uint64_t epoch, int *created, sp_refusal *why) {
  int status;
  sp_member *m = sp_lobby_connect(w->lobby, c, room, epoch, created, &status,
                                  &why->reason);
  if (!m) {
    if (w->sh->cluster && status == 503)
      why->headers = SP_RETRY_AFTER;
    return status;
  }
  sp_conn_set_data(c, m);
  atomic_fetch_add_explicit(&w->sh->members_per_worker[w->index], 1,
                            memory_order_relaxed);
  return 0;
}

/* On the worker, the hub's answer to a claim: the waiting upgrade goes on
 * into the room, or is refused with 503 and Retry-After. */
static void sp__mail_claimed(void *ctx, sp_mail *mail) {
  sp_worker *w = ctx;
  sp_claim *cl = (sp_claim *)mail;
  sp_conn *c = cl->conn;
  int created = 0, status = 503;
  sp_refusal why = {"the room runs on another node", SP_RETRY_AFTER};
  if (!sp_conn_upgrade_waiting(c) || w->stopping)
    why.reason = "gone";
  else if (cl->result == SP_CLAIM_GRANTED)
    status = sp__enter_room(w, c, cl->room, cl->epoch, &created, &why);
  else if (cl->result == SP_CLAIM_UNAVAILABLE)
    why.reason = "the cluster cannot place the room now";
  sp_conn_upgrade_answer(c, status, why.reason, why.headers);
  sp__tell_hub(w, sp__hub_claim_done, cl->room, created);
  free(cl);
}

/* On the hub: sends a claim's answer back to its worker. */
static void sp__claim_reply(sp_claim *cl) {
  sp_worker *w = cl->worker;
  if (sp_mailbox_post(w->mail, &cl->mail, sp__mail_claimed) != 0) {
    /* The worker has stopped (its connection is gone with it). */
    sp_leases_claim_done(cl->leases, cl->room, 0);
    free(cl);
  }
}

static void sp__hub_claim(void *ctx, sp_mail *mail) {
  sp_shared *sh = ctx;
  sp_claim *cl = (sp_claim *)mail;
  cl->reply = sp__claim_reply;
  sp_leases_claim(sh->leases, cl);
}

/* A cluster node takes a connection into a room only under the room's
 * lease: at once when the room runs here and its lease holds, else after
 * asking the hub for the lease. */
static int sp__cluster_upgrade(sp_worker *w, sp_conn *c, const char *room,
                               sp_refusal *why) {
  sp_room_ref ref;
  int created;
  if (sp_directory_lookup(w->sh->dir, room, &ref) == 0 &&
      sp_cluster_lease_valid(w->sh->cluster, room, ref.epoch))
    return sp__enter_room(w, c, room, ref.epoch, &created, why);
  sp_claim *cl = calloc(1, sizeof *cl);
  if (!cl) {
    why->reason = "out of memory";
    why->headers = SP_RETRY_AFTER;
    return 503;
  }
  cl->worker = w;
  cl->conn = c;
  snprintf(cl->room, sizeof cl->room, "%s", room);
  if (sp_mailbox_post(w->sh->hub, &cl->mail, sp__hub_claim) != 0) {
    free(cl);
    why->reason = "shutting down";
    return 503;
  }
  return SP_UPGRADE_LATER;
}

static int sp__lease_ok(void *data, const char *room, uint64_t epoch) {
  sp_worker *w = data;
  return sp_cluster_lease_valid(w->sh->cluster, room, epoch);
}

static void sp__room_closed(void *data, const char *room) {
  sp__tell_hub(data, sp__hub_room_closed, room, 0);
}

/* ---- the handler: where the network meets the rooms -------------------- */

static int sp__on_upgrade(void *data, sp_conn *c, const char *query,
                          sp_refusal *why) {
  sp_worker *w = data;
  char room[SP_ROOM_NAME_MAX + 1];
  int status = sp_lobby_parse_query(query, room, &why->reason);
  if (status)
    return status;
  if (w->stopping) {
    why->reason = "shutting down";
    return 503;
  }
  if (w->sh->cluster)
    return sp__cluster_upgrade(w, c, room, why);
  int created;
  return sp__enter_room(w, c, room, 0, &created, why);
}

static void sp__on_open(void *data, sp_conn *c) {
  sp_worker *w = data;
  sp_lobby_open(w->lobby, sp_conn_data(c));
}

static void sp__on_message(void *data, sp_conn *c, const uint8_t *msg,
                           size_t len) {
  sp_worker *w = data;
  if (sp_conn_data(c))
    sp_lobby_message(w->lobby, sp_conn_data(c), msg, len);
}

static void sp__on_close(void *data, sp_conn *c) {
  sp_worker *w = data;
  atomic_fetch_sub_explicit(&w->sh->members_per_worker[w->index], 1,
                            memory_order_relaxed);
  if (sp_conn_data(c)) /* NULL: its room was never entered */
    sp_lobby_disconnect(w->lobby, sp_conn_data(c));
}

/* Counters of the whole process: rooms, ticks and the loop time they
 * took, bot searches and the pool time they took. */
static void sp__stats_json(sp_worker *w, sp_buf *json) {
#define SP_LOAD(x)                                                             \
  ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))
  unsigned long long ticks = 0, tick_ns = 0, searches = 0, search_ns = 0,
                     late = 0;
  for (int i = 0; i < w->sh->nworkers; i++) {
    const sp_room_stats *st = &w->sh->workers[i]->stats;
    ticks += SP_LOAD(st->ticks);
    tick_ns += SP_LOAD(st->tick_ns);
    searches += SP_LOAD(st->bots.searches);
    search_ns += SP_LOAD(st->bots.search_ns);
    late += SP_LOAD(st->bots.late);
  }
  sp_buf_printf(json,
                "{\"workers\":%d,\"rooms\":%zu,\"ticks\":%llu,\"tick_ns\":%llu,"
                "\"bot_searches\":%llu,\"bot_search_ns\":%llu,"
                "\"bot_late\":%llu,\"rooms_per_worker\":",
                w->sh->nworkers, sp_directory_rooms(w->sh->dir), ticks, tick_ns,
                searches, search_ns, late);
  sp_directory_loads_json(w->sh->dir, json);
  sp_buf_puts(json, ",\"members_per_worker\":[");
  for (int i = 0; i < w->sh->nworkers; i++)
    sp_buf_printf(json, i ? ",%llu" : "%llu",
                  SP_LOAD(w->sh->members_per_worker[i]));
  sp_buf_puts(json, "]}");
#undef SP_LOAD
}

/* The paths the application serves itself; everything else is the
 * client's files. */
static void sp__on_http(void *data, sp_conn *c, const sp_http_request *req,
                        const char *path, const char *query,
                        sp_http_reply *reply) {
  (void)query;
  sp_worker *w = data;
  if (sp_admin_http(w->admin, c, req, path, reply))
    return;
  if (req->method != HTTP_GET && req->method != HTTP_HEAD)
    return; /* 405 from the server */
  if (strcmp(path, "/healthz") == 0) {
    /* 200 while this node can serve games: a node without Redis still
     * runs its rooms; the body says so. */
    reply->content_type = "text/plain; charset=utf-8";
    sp_buf_puts(&reply->body, "ok\nversion " SP_VERSION);
    if (w->sh->cluster) {
      sp_cluster_stats st;
      sp_cluster_get_stats(w->sh->cluster, &st);
      if (!st.redis_up)
        sp_buf_puts(&reply->body, "\nredis unreachable");
    }
    sp_buf_putc(&reply->body, '\n');
  } else if (strcmp(path, "/readyz") == 0) {
    /* For load balancers that should send games only where they can be
     * played: 503 while starting, without Redis in cluster mode, and from
     * SIGTERM on. */
    int ready = sp_shared_ready(w->sh) && !w->stopping;
    reply->content_type = "text/plain; charset=utf-8";
    if (ready)
      sp_buf_puts(&reply->body, "ready\n");
    else if (w->stopping || atomic_load(&w->sh->stopping))
      sp_buf_puts(&reply->body, "shutting down\n");
    else if (!atomic_load(&w->sh->started))
      sp_buf_puts(&reply->body, "starting\n");
    else
      sp_buf_puts(&reply->body, "redis unreachable\n");
    reply->status = ready ? 200 : 503;
    return;
  } else if (strcmp(path, "/metrics") == 0) {
    reply->content_type = SP_METRICS_CONTENT_TYPE;
    sp_metrics_write(w->sh, &reply->body);
  } else if (strcmp(path, "/api/rooms") == 0) {
    if (w->sh->cluster)
      sp_cluster_rooms_json(w->sh->cluster, &reply->body);
    else
      sp_directory_json(w->sh->dir, &reply->body);
  } else if (strcmp(path, "/api/scores") == 0) {
    sp_lobby_scores_json(w->lobby, &reply->body);
  } else if (strcmp(path, "/api/stats") == 0) {
    sp__stats_json(w, &reply->body);
  } else if (strncmp(path, "/api/", 5) == 0) {
    reply->status = 404;
    reply->content_type = "text/plain; charset=utf-8";
    sp_buf_puts(&reply->body, "not found\n");
    return;
  } else {
    return;
  }
  reply->status = 200;
}

/* ---- lobby hooks --------------------------------------------------------- */

static void sp__hub_score(void *ctx, sp_mail *mail) {
  sp_shared *sh = ctx;
  sp__score_mail *s = (sp__score_mail *)mail;
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
  if (sp_mailbox_post(w->sh->hub, &s->mail, sp__hub_score) != 0) {
    sp_log_error("score_lost", "score=%u error=\"hub closed\"", score);
    free(s);
  }
}

static void sp__on_snakes(void *data, uint64_t uid, size_t snakes) {
  sp_worker *w = data;
  sp_directory_set_snakes(w->sh->dir, uid, snakes);
}

/* ---- shutdown ----------------------------------------------------------- */

typedef struct sp__done_mail {
  sp_mail mail;
  int index;
} sp__done_mail;

static void sp__hub_done(void *ctx, sp_mail *mail) {
  sp_shared *sh = ctx;
  sp__done_mail *d = (sp__done_mail *)mail;
  int index = d->index;
  free(d);
  sh->hub_worker_done(sh->hub_ctx, index);
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
  /* Connections here may be members of rooms elsewhere, and rooms here may
   * have members elsewhere: wait until every member of this loop has been
   * released by its room's owner and every room here has closed, so that
   * no other loop can still need this one. */
  if (sp_lobby_members(w->lobby) > 0 || sp_lobby_rooms(w->lobby) > 0 ||
      sp_admin_waiting(w->admin) > 0)
    return;
  /* Every player has left (their scores are posted): tell the hub after
   * them, and let the loop run out. The mailbox refuses later posts; its
   * memory stays until every thread has been joined. */
  w->done = 1;
  uv_close((uv_handle_t *)&w->stop_timer, NULL);
  sp_server_close(w->server);
  sp_mailbox_close(w->mail);
  sp__done_mail *d = malloc(sizeof *d);
  if (d)
    d->index = w->index;
  if (!d || sp_mailbox_post(w->sh->hub, &d->mail, sp__hub_done) != 0) {
    sp_log_error("shutdown_stuck", "worker=%d error=\"%s\"", w->index,
                 sp_strerror(d ? SP_ECLOSED : UV_ENOMEM));
    free(d);
  }
}

static void sp__mail_shutdown(void *ctx, sp_mail *mail) {
  sp_worker *w = ctx;
  free(mail);
  if (w->stopping)
    return;
  w->stopping = 1;
  w->stop_started = uv_now(&w->loop);
  sp_server_shutdown(w->server);
  uv_timer_start(&w->stop_timer, sp__stop_tick, 0, 20);
}

void sp_worker_post_shutdown(sp_worker *w) {
  sp_mail *m = malloc(sizeof *m);
  if (m && sp_mailbox_post(w->mail, m, sp__mail_shutdown) != 0)
    free(m);
}

/* ---- life cycle ---------------------------------------------------------- */

static void sp__close_fd(uv_os_sock_t fd) {
  if (fd >= 0)
    close(fd);
}

int sp_worker_new(sp_shared *sh, int index, uv_os_sock_t fd, sp_worker **out) {
  const sp_config *cfg = sh->cfg;
  *out = NULL;
  sp_worker *w = calloc(1, sizeof *w);
  if (!w) {
    sp__close_fd(fd);
    return UV_ENOMEM;
  }
  w->sh = sh;
  w->index = index;
  int err = uv_loop_init(&w->loop);
  if (err) {
    sp__close_fd(fd);
    free(w);
    return err;
  }
  if ((err = sp_mailbox_init(&w->loop, w, &w->mail)) != 0) {
    sp__close_fd(fd);
    goto fail;
  }
  sp_lobby_settings ls = {
      .tick_rate = cfg->tick_rate,
      .max_players = cfg->max_players,
      .field_w = cfg->field_w,
      .field_h = cfg->field_h,
      .has_seed = cfg->has_seed,
      .seed = cfg->seed,
      .next_player_id = &sh->next_player_id,
      .dir = sh->dir,
      .nloops = sh->nworkers,
      .lease_ok = sh->cluster ? sp__lease_ok : NULL,
      .on_room_closed = sh->cluster ? sp__room_closed : NULL,
      .on_score = sp__on_score,
      .on_snakes = sp__on_snakes,
      .hooks_data = w,
      .shared_top = sh->cluster != NULL,
      .bots = cfg->bots,
      .round_seconds = (uint32_t)cfg->round_seconds,
      .standings_seconds = (uint32_t)cfg->standings_seconds,
      .chat_max_chars = (uint32_t)cfg->chat_max_chars,
      .chat_rate = cfg->chat_rate,
      .stats = &w->stats,
  };
  if ((err = sp_lobby_new(&w->loop, &ls, &w->lobby)) != 0) {
    sp__close_fd(fd);
    goto fail;
  }
  sp_lobby_set_top(w->lobby, sh->top, sh->ntop);
  w->relay = sp_relay_new(index, w->mail, w->lobby, sh->relays);
  if (!w->relay) {
    sp__close_fd(fd);
    err = UV_ENOMEM;
    goto fail;
  }
  sh->relays[index] = w->relay;
  if (!(w->admin = sp_admin_new(sh, w))) {
    sp__close_fd(fd);
    err = UV_ENOMEM;
    goto fail;
  }
  sp_lobby_set_relay(w->lobby, w->relay);
  sp_server_options so = {
      .host = cfg->host,
      .port = sh->port,
      .static_dir = cfg->static_dir,
      .max_message = cfg->max_message,
      .max_queue = cfg->max_queue,
      .sndbuf = (int)cfg->sndbuf,
      .max_conns = cfg->max_conns,
      .max_conns_per_ip = cfg->max_conns_per_ip,
      .header_timeout_ms = (uint64_t)(cfg->header_timeout * 1000),
      .register_timeout_ms = (uint64_t)(cfg->register_timeout * 1000),
      .ping_interval_ms = (uint64_t)(cfg->ping_interval * 1000),
      .max_msg_rate = cfg->max_msg_rate,
      .allowed_origins = cfg->allowed_origins,
      .limits = sh->limits,
      .fd = fd,
  };
  sp_server_handler h = {
      .data = w,
      .on_upgrade = sp__on_upgrade,
      .on_open = sp__on_open,
      .on_message = sp__on_message,
      .on_close = sp__on_close,
      .on_http = sp__on_http,
  };
  if ((err = sp_server_start(&w->loop, &so, &h, &w->server)) != 0)
    goto fail;
  uv_timer_init(&w->loop, &w->stop_timer);
  w->stop_timer.data = w;
  *out = w;
  return 0;

fail:
  sp_worker_free(w);
  return err;
}

static void sp__thread(void *arg) {
  sp_worker *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
}

int sp_worker_run(sp_worker *w) {
  int err = uv_thread_create(&w->thread, sp__thread, w);
  if (err == 0)
    w->running = 1;
  return err;
}

void sp_worker_join(sp_worker *w) {
  if (w->running)
    uv_thread_join(&w->thread);
  w->running = 0;
}

/* Closes whatever handles a worker that never ran (or failed half-way)
 * still has, then runs its loop so that their close callbacks free them. */
static void sp__close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void sp_worker_free(sp_worker *w) {
  if (!w)
    return;
  SP_ASSERT(!w->running);
  if (!w->done) {
    /* It never ran to its end: nothing of it is in use by anyone else. */
    if (w->mail)
      sp_mailbox_close(w->mail);
    if (w->server)
      sp_server_abort_all(w->server);
    uv_walk(&w->loop, sp__close_walk, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
  }
  sp_lobby_free(w->lobby);
  sp_server_free(w->server);
  sp_relay_free(w->relay);
  sp_admin_free(w->admin);
  sp_mailbox_free(w->mail);
  uv_loop_close(&w->loop);
  free(w);
}
