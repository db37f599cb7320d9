/* snakepit: the process. Parses the command line, opens the scores, starts
 * the server and runs the loop until SIGINT or SIGTERM, then shuts down in
 * order: stop accepting, close every client with 1001, finish the score
 * writes, exit 0 (all within 2 seconds). SIGHUP reopens the log and reloads
 * the configuration file. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "app/admin.h"
#include "app/leases.h"
#include "app/worker.h"
#include "cluster/cluster.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fault.h"
#include "core/log.h"
#include "core/mailbox.h"
#include "net/iptable.h"
#include "net/server.h"
#include "room/directory.h"
#include "store/scores.h"

#define SP_SHUTDOWN_LIMIT_MS 1900 /* past this, something is stuck */

typedef struct sp_app {
  uv_loop_t *loop;
  sp_config cfg;
  sp_scores *scores;
  sp_shared sh;
  sp_mailbox *mail;
  uv_os_sock_t port_lock;
  uv_signal_t sigint, sigterm, sighup;
  uv_timer_t watchdog;
  /* Cluster mode: the Redis side, the leases of this node's rooms, and the
   * timer that publishes this node's rooms. */
  sp_cluster *cluster;
  sp_leases *leases;
  uv_timer_t rooms_timer;
  int stopping;
  int workers_done;
} sp_app;

/* ---- the hub: the global top scores, and the end of the process ------- */

/* Every worker gets the store's table. */
static void sp__post_table(void *arg) {
  sp_app *app = arg;
  sp_score_row rows[SP_TOP_SCORES];
  size_t n = sp_scores_count(app->scores);
  for (size_t i = 0; i < n; i++)
    rows[i] = *sp_scores_row(app->scores, i);
  for (int i = 0; i < app->sh.nworkers; i++)
    sp_worker_post_top(app->sh.workers[i], rows, n);
}

/* A snake died somewhere: record its score; if the table changed, every
 * worker gets the new one. */
static void sp__hub_score(void *ctx, const char *name, uint32_t score) {
  sp_app *app = ctx;
  if (app->cluster) {
    /* The table comes back from Redis (on_top), on every node. */
    sp_cluster_submit_score(app->cluster, name, score);
    return;
  }
  if (app->scores && sp_scores_submit(app->scores, name, score))
    sp__post_table(app);
}

/* ---- the admin console's work on the hub ------------------------------ */

/* ["announce", TEXT] to room (NULL: all) of this node, wherever it runs;
 * returns 0 when a room was named that does not run here. */
static int sp__announce_local(sp_app *app, const char *room, const char *text) {
  sp_room_ref ref;
  if (!room) {
    for (int i = 0; i < app->sh.nworkers; i++)
      sp_worker_post_announce(app->sh.workers[i], NULL, text);
    return 1;
  }
  if (sp_directory_lookup(app->sh.dir, room, &ref) != 0 ||
      ref.loop >= app->sh.nworkers)
    return 0;
  sp_worker_post_announce(app->sh.workers[ref.loop], room, text);
  return 1;
}

static void sp__removed_cb(void *data, int result) {
  sp_hub_call_done(data, result > 0 ? 200 : result == 0 ? 404 : 503);
}

static void sp__hub_admin(void *ctx, sp_hub_call *hc) {
  sp_app *app = ctx;
  const char *room = hc->all ? NULL : hc->room;
  int rc;
  if (hc->op == SP_HUB_ANNOUNCE && app->cluster) {
    /* Every node's rooms (this node's through on_announce, at once). */
    rc = sp_cluster_announce(app->cluster, room, hc->text);
    sp_hub_call_done(hc, rc == 0 ? 200 : rc == UV_ENOTCONN ? 503 : 400);
  } else if (hc->op == SP_HUB_ANNOUNCE) {
    sp_hub_call_done(hc, sp__announce_local(app, room, hc->text) ? 200 : 404);
  } else if (app->cluster) {
    rc = sp_cluster_remove_score(app->cluster, hc->name, sp__removed_cb, hc);
    if (rc != 0)
      sp_hub_call_done(hc, rc == UV_ENOTCONN ? 503 : 400);
  } else {
    int was = app->scores && sp_scores_remove(app->scores, hc->name);
    if (was)
      sp__post_table(app);
    sp_log_info("score_removed", "found=%d", was);
    sp_hub_call_done(hc, was ? 200 : 404);
  }
}

/* ---- cluster mode ----------------------------------------------------- */

static void sp__on_cluster_announce(void *data, const char *room,
                                    const char *text) {
  sp__announce_local(data, room, text);
}

static void sp__on_cluster_top(void *data, const sp_score_row *rows, size_t n) {
  sp_app *app = data;
  for (int i = 0; i < app->sh.nworkers; i++)
    sp_worker_post_top(app->sh.workers[i], rows, n);
}

static void sp__on_lease_lost(void *data, const char *room) {
  sp_app *app = data;
  sp_leases_lost(app->leases, room);
}

/* A room that lived here lost its lease: no one comes into it from now,
 * and its owner loop stops it and closes its members with 1012. */
static void sp__lose_room(void *data, const char *room) {
  sp_app *app = data;
  sp_room_ref ref;
  if (sp_directory_lose(app->sh.dir, room, &ref) == 0 &&
      ref.loop < app->sh.nworkers)
    sp_worker_post_lose(app->sh.workers[ref.loop], ref.uid);
}

/* Once a second: this node's rooms, for every node's /api/rooms. */
static void sp__publish_rooms(uv_timer_t *t) {
  sp_app *app = t->data;
  enum { SP_ROWS_MAX = 4096 };
  static sp_directory_row rows[SP_ROWS_MAX];
  static sp_cluster_room out[SP_ROWS_MAX];
  size_t n = sp_directory_list(app->sh.dir, rows, SP_ROWS_MAX);
  if (n > SP_ROWS_MAX)
    n = SP_ROWS_MAX;
  for (size_t i = 0; i < n; i++) {
    memcpy(out[i].name, rows[i].name, sizeof out[i].name);
    out[i].connections = (uint32_t)rows[i].conns;
    out[i].snakes = (uint32_t)rows[i].snakes;
  }
  sp_cluster_set_rooms(app->cluster, out, n);
}

static int sp__cluster_start(sp_app *app, char *err, size_t errlen) {
  const sp_config *cfg = &app->cfg;
  sp_cluster_opts o = {
      .url = cfg->redis,
      .lease_ms = (unsigned)(cfg->lease_time * 1000),
      .redis_timeout_ms = (unsigned)(cfg->redis_timeout * 1000),
  };
  if (cfg->node_id[0])
    snprintf(o.node_id, sizeof o.node_id, "%s", cfg->node_id);
  else
    sp_cluster_default_node_id(o.node_id, app->sh.port);
  sp_cluster_hooks hooks = {
      .on_lease_lost = sp__on_lease_lost,
      .on_top = sp__on_cluster_top,
      .on_announce = sp__on_cluster_announce,
      .data = app,
  };
  int e = sp_cluster_start(app->loop, &o, &hooks, &app->cluster);
  if (e == 0 &&
      !(app->leases = sp_leases_new(app->cluster, sp__lose_room, app)))
    e = UV_ENOMEM;
  if (e) {
    snprintf(err, errlen, "cannot start cluster mode: %s", sp_strerror(e));
    return 1;
  }
  app->sh.cluster = app->cluster;
  app->sh.leases = app->leases;
  uv_timer_init(app->loop, &app->rooms_timer);
  app->rooms_timer.data = app;
  uv_timer_start(&app->rooms_timer, sp__publish_rooms, 1000, 1000);
  return 0;
}

static void sp__scores_closed(void *arg) {
  sp_app *app = arg;
  uv_close((uv_handle_t *)&app->watchdog, NULL);
  uv_close((uv_handle_t *)&app->sigint, NULL);
  uv_close((uv_handle_t *)&app->sigterm, NULL);
  uv_close((uv_handle_t *)&app->sighup, NULL);
  sp_mailbox_close(app->mail);
}

static void sp__hub_worker_done(void *ctx, int index) {
  sp_app *app = ctx;
  (void)index;
  if (++app->workers_done < app->sh.nworkers)
    return;
  /* Every player has left and every score they made has been submitted:
   * finish writing them, then let the loop run out. Mailboxes go only once
   * no thread is left to post to them. */
  for (int i = 0; i < app->sh.nworkers; i++)
    sp_worker_join(app->sh.workers[i]);
  for (int i = 0; i < app->sh.nworkers; i++)
    sp_worker_free(app->sh.workers[i]);
  app->sh.nworkers = 0;
  if (app->cluster) {
    /* Every room has closed and given its lease back; this releases what
     * may be left and closes the Redis connections. */
    uv_close((uv_handle_t *)&app->rooms_timer, NULL);
    sp_leases_free(app->leases);
    app->leases = app->sh.leases = NULL;
    sp_cluster *c = app->cluster;
    app->cluster = app->sh.cluster = NULL;
    sp_cluster_close(c, sp__scores_closed, app);
    return;
  }
  sp_scores *s = app->scores;
  app->scores = NULL;
  sp_scores_close(s, sp__scores_closed, app);
}

static void sp__watchdog(uv_timer_t *t) {
  sp_app *app = t->data;
  sp_log_error("shutdown_timeout", "workers_done=%d pending_scores=%zu",
               app->workers_done,
               app->scores ? sp_scores_pending(app->scores) : 0);
  exit(1);
}

static void sp__on_signal(uv_signal_t *sig, int signum) {
  sp_app *app = sig->data;
  if (app->stopping) {
    sp_log_warn("shutdown_forced", "signal=%d", signum);
    exit(1);
  }
  app->stopping = 1;
  atomic_store(&app->sh.stopping, 1); /* /readyz: 503 from now on */
  sp_log_info("shutdown", "signal=%s", signum == SIGINT ? "SIGINT" : "SIGTERM");
  for (int i = 0; i < app->sh.nworkers; i++)
    sp_worker_post_shutdown(app->sh.workers[i]);
  uv_timer_start(&app->watchdog, sp__watchdog, SP_SHUTDOWN_LIMIT_MS, 0);
}

/* The limits a reload may change, as the servers take them. */
static void sp__limits(const sp_config *cfg, sp_server_limits *lim) {
  memset(lim, 0, sizeof *lim);
  lim->max_message = cfg->max_message;
  lim->max_queue = cfg->max_queue;
  lim->sndbuf = (int)cfg->sndbuf;
  lim->max_conns = cfg->max_conns;
  lim->max_conns_per_ip = cfg->max_conns_per_ip;
  lim->header_timeout_ms = (uint64_t)(cfg->header_timeout * 1000);
  lim->register_timeout_ms = (uint64_t)(cfg->register_timeout * 1000);
  lim->ping_interval_ms = (uint64_t)(cfg->ping_interval * 1000);
  lim->max_msg_rate = cfg->max_msg_rate;
  snprintf(lim->allowed_origins, sizeof lim->allowed_origins, "%s",
           cfg->allowed_origins);
}

/* SIGHUP: reopen the log (logrotate), read the configuration file again
 * and apply what may change at run time; the rest is logged as needing a
 * restart. */
static void sp__on_hup(uv_signal_t *sig, int signum) {
  sp_app *app = sig->data;
  char err[512], q[600];
  sp_config next;
  uint64_t changed;
  (void)signum;
  if (app->stopping)
    return;
  if (sp_log_reopen(err, sizeof err) != 0)
    sp_log_error("log_reopen_failed", "error=%s",
                 sp_log_quote(q, sizeof q, err, strlen(err)));
  if (!app->cfg.config_file[0]) {
    sp_log_info("reload", "config=none");
    return;
  }
  if (sp_config_reload(app->cfg.config_file, &app->cfg, &next, &changed, err,
                       sizeof err) != 0) {
    sp_log_error("reload_failed", "error=%s",
                 sp_log_quote(q, sizeof q, err, strlen(err)));
    return;
  }
  /* The workers get their own copy of the new limits; the hub's
   * configuration then takes every run-time option. */
  sp_server_limits lim;
  sp__limits(&next, &lim);
  for (int i = 0; i < app->sh.nworkers; i++)
    sp_worker_post_limits(app->sh.workers[i], &lim);
  sp_config_commit(&app->cfg, &next, changed, sp_config_runtime_mask());
}

/* ---- start ------------------------------------------------------------ */

static int sp__mkdirs(const char *path) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
    return -1;
  struct stat st;
  if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  static sp_app app;
  char err[512];
  sp_config_default(&app.cfg);
  int rc =
      sp_config_parse(&app.cfg, argc, argv, getenv("PORT"), err, sizeof err);
  if (rc == 1)
    return 0; /* --help or --version */
  if (rc == 0)
    rc = sp_config_prepare(&app.cfg, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "snakepit: %s\n", err);
    return rc;
  }
  sp_config *cfg = &app.cfg;
  sp_admin_auth *admin = NULL;
  if (cfg->admin_token_file[0] &&
      (rc = sp_admin_auth_load(cfg->admin_token_file, &admin, err,
                               sizeof err)) != 0) {
    fprintf(stderr, "snakepit: %s\n", err);
    return rc;
  }
  sp_fault_init();
  signal(SIGPIPE, SIG_IGN);
  /* SIGINT, SIGTERM and SIGHUP wait (blocked) until the hub can handle
   * them: one that arrives during start-up still gets the orderly shutdown
   * (or reload). The worker threads inherit the mask, so these signals
   * reach the hub. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  app.loop = uv_default_loop();

  /* The port first: a second server on it must not touch the data. */
  int perr = sp_server_claim_port(cfg->host, cfg->port, &app.port_lock);
  if (perr != 0) {
    fprintf(stderr, "snakepit: port %d on %s is %s\n", cfg->port, cfg->host,
            perr == UV_EADDRINUSE ? "in use by another process"
                                  : sp_strerror(perr));
    return 1;
  }
  if (sp__mkdirs(cfg->data_dir) != 0) {
    fprintf(stderr, "snakepit: cannot use data directory '%s': %s\n",
            cfg->data_dir, strerror(errno));
    return 1;
  }
  if (cfg->static_dir[0]) {
    struct stat st;
    if (stat(cfg->static_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
      fprintf(stderr, "snakepit: --static '%s' is not a directory\n",
              cfg->static_dir);
      return 1;
    }
  }
  /* A single node keeps its top scores in SQLite; a cluster node uses the
   * cluster's, in Redis. */
  if (!cfg->cluster &&
      sp_scores_open(app.loop, cfg->data_dir, &app.scores, err, sizeof err)) {
    fprintf(stderr, "snakepit: cannot open the top scores: %s\n", err);
    return 1;
  }
  sp_shared *sh = &app.sh;
  sh->cfg = cfg;
  sh->nworkers = cfg->workers;
  sh->hub_ctx = &app;
  sh->hub_score = sp__hub_score;
  sh->hub_worker_done = sp__hub_worker_done;
  sh->hub_admin = sp__hub_admin;
  sh->admin = admin;
  sh->scores = app.scores;
  if (app.scores)
    sp_scores_on_change(app.scores, sp__post_table, &app);
  sh->ntop = app.scores ? sp_scores_count(app.scores) : 0;
  for (size_t i = 0; i < sh->ntop; i++)
    sh->top[i] = *sp_scores_row(app.scores, i);
  sh->workers = calloc((size_t)cfg->workers, sizeof *sh->workers);
  sh->relays = calloc((size_t)cfg->workers, sizeof *sh->relays);
  sh->members_per_worker =
      calloc((size_t)cfg->workers, sizeof *sh->members_per_worker);
  sh->limits = sp_iptable_new();
  if (!sh->workers || !sh->relays || !sh->members_per_worker || !sh->limits ||
      sp_directory_new(cfg->workers, &sh->dir) != 0 ||
      sp_mailbox_init(app.loop, sh, &app.mail) != 0) {
    fprintf(stderr, "snakepit: out of memory\n");
    return 1;
  }
  sh->hub = app.mail;
  /* Every loop, its mailbox and the directory exist before any loop runs,
   * so the first connection may be routed anywhere. */
  int e = 0;
  sh->port = cfg->port;
  uv_os_sock_t *fds = calloc((size_t)cfg->workers, sizeof *fds);
  for (int i = 0; fds && i < cfg->workers && e == 0; i++)
    e = sp_server_listen_socket(cfg->host, sh->port, &fds[i], &sh->port);
  if (!fds || e != 0) {
    fprintf(stderr, "snakepit: cannot listen on %s:%d: %s\n", cfg->host,
            sh->port, sp_strerror(fds ? e : UV_ENOMEM));
    return 1;
  }
  /* The node id may come from the port: cluster mode starts once it is
   * known, and before any worker exists, which may ask it for a lease. */
  if (cfg->cluster && sp__cluster_start(&app, err, sizeof err) != 0) {
    fprintf(stderr, "snakepit: %s\n", err);
    return 1;
  }
  for (int i = 0; i < cfg->workers && e == 0; i++)
    e = sp_worker_new(sh, i, fds[i], &sh->workers[i]);
  free(fds);
  if (e != 0) {
    fprintf(stderr, "snakepit: cannot start the worker loops: %s\n",
            sp_strerror(e));
    return 1;
  }
  for (int i = 0; i < cfg->workers; i++) {
    if ((e = sp_worker_run(sh->workers[i])) != 0) {
      fprintf(stderr, "snakepit: cannot start a worker thread: %s\n",
              sp_strerror(e));
      exit(1);
    }
  }
  atomic_store(&sh->started, 1); /* /readyz */
  uv_signal_init(app.loop, &app.sigint);
  uv_signal_init(app.loop, &app.sigterm);
  uv_signal_init(app.loop, &app.sighup);
  app.sigint.data = app.sigterm.data = app.sighup.data = &app;
  uv_signal_start(&app.sigint, sp__on_signal, SIGINT);
  uv_signal_start(&app.sigterm, sp__on_signal, SIGTERM);
  uv_signal_start(&app.sighup, sp__on_hup, SIGHUP);
  pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
  uv_timer_init(app.loop, &app.watchdog);
  app.watchdog.data = &app;

  sp_log_info("listening",
              "host=%s port=%d version=%s workers=%d tick_rate=%g "
              "field=%dx%d max_players=%d bots=%d round_seconds=%d "
              "max_conns=%d top_scores=%zu admin=%s",
              cfg->host, sh->port, SP_VERSION, cfg->workers, cfg->tick_rate,
              cfg->field_w, cfg->field_h, cfg->max_players, cfg->bots,
              cfg->round_seconds, cfg->max_conns, sh->ntop,
              admin ? "on" : "off");
  uv_run(app.loop, UV_RUN_DEFAULT);

  sp_directory_free(sh->dir);
  sp_iptable_free(sh->limits);
  sp_admin_auth_free(admin);
  sp_mailbox_free(app.mail);
  if (app.port_lock >= 0)
    close(app.port_lock);
  free(sh->workers);
  free(sh->relays);
  free(sh->members_per_worker);
  if (uv_loop_close(app.loop) != 0)
    sp_log_warn("loop_not_empty", NULL);
  sp_log_info("stopped", NULL);
  return 0;
}
