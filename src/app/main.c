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

/* A snake died somewhere: record its score; if the table changed, every
 * worker gets the new one. */
static void sp__hub_score(void *ctx, const char *name, uint32_t score) {
  sp_app *app = ctx;
  if (app->cluster) {
    /* The table comes back from Redis (on_top), on every node. */
    sp_cluster_submit_score(app->cluster, name, score);
    return;
  }
  if (!app->scores || !sp_scores_submit(app->scores, name, score))
    return;
  sp_score_row rows[SP_TOP_SCORES];
  size_t n = sp_scores_count(app->scores);
  for (size_t i = 0; i < n; i++)
    rows[i] = *sp_scores_row(app->scores, i);
  for (int i = 0; i < app->sh.nworkers; i++)
    sp_worker_post_top(app->sh.workers[i], rows, n);
}

/* ---- cluster mode ----------------------------------------------------- */

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
  sp_log_info("shutdown", "signal=%s", signum == SIGINT ? "SIGINT" : "SIGTERM");
  for (int i = 0; i < app->sh.nworkers; i++)
    sp_worker_post_shutdown(app->sh.workers[i]);
  uv_timer_start(&app->watchdog, sp__watchdog, SP_SHUTDOWN_LIMIT_MS, 0);
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
  /* Phase 2: post next's run-time options (sp_config_runtime_mask) to every
   * worker here, and pass that mask instead of the hub's own. */
  sp_config_commit(&app->cfg, &next, changed, SP_CONFIG_HUB_OPTIONS);
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
              "max_conns=%d top_scores=%zu",
              cfg->host, sh->port, SP_VERSION, cfg->workers, cfg->tick_rate,
              cfg->field_w, cfg->field_h, cfg->max_players, cfg->bots,
              cfg->round_seconds, cfg->max_conns, sh->ntop);
  uv_run(app.loop, UV_RUN_DEFAULT);

  sp_directory_free(sh->dir);
  sp_iptable_free(sh->limits);
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
