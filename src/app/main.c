/* snakepit: the process. Parses the command line, opens the scores, starts
 * the server and runs the loop until SIGINT or SIGTERM, then shuts down in
 * order: stop accepting, close every client with 1001, finish the score
 * writes, exit 0 (all within 2 seconds). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <uv.h>

#include "core/config.h"
#include "core/log.h"
#include "net/server.h"
#include "room/lobby.h"
#include "store/scores.h"

#define SP_SHUTDOWN_GRACE_MS 1200 /* clients get this long to answer 1001 */
#define SP_SHUTDOWN_LIMIT_MS 1900 /* then whatever is left is cut */

typedef struct sp_app {
  uv_loop_t *loop;
  sp_config cfg;
  sp_scores *scores;
  sp_lobby *lobby;
  sp_server *server;
  uv_signal_t sigint, sigterm;
  uv_timer_t shutdown_timer;
  uint64_t shutdown_started;
  int stopping;
  int scores_closed;
} sp_app;

/* ---- the handler: where the network meets the rooms ------------------- */

static int sp__on_upgrade(void *data, sp_conn *c, const char *query,
                          const char **reason) {
  sp_app *app = data;
  char room[SP_ROOM_NAME_MAX + 1];
  int status = sp_lobby_parse_query(query, room, reason);
  if (status)
    return status;
  if (app->stopping) {
    *reason = "shutting down";
    return 503;
  }
  sp_player *p = sp_lobby_enter(app->lobby, room, c);
  if (!p) {
    *reason = "out of memory";
    return 503;
  }
  sp_conn_set_data(c, p);
  sp_log_debug("ws_accepted", "room=%s conn=%llu peer=%s", room,
               (unsigned long long)sp_conn_id(c), sp_conn_peer(c));
  return 0;
}

static void sp__on_message(void *data, sp_conn *c, const uint8_t *msg,
                           size_t len) {
  (void)data;
  sp_player_message(sp_conn_data(c), msg, len);
}

static void sp__on_close(void *data, sp_conn *c) {
  sp_app *app = data;
  sp_lobby_leave(app->lobby, sp_conn_data(c));
}

static int sp__on_api(void *data, const char *name, sp_buf *json) {
  sp_app *app = data;
  if (strcmp(name, "rooms") == 0)
    sp_lobby_rooms_json(app->lobby, json);
  else if (strcmp(name, "scores") == 0)
    sp_lobby_scores_json(app->lobby, json);
  else
    return 404;
  return 200;
}

/* ---- shutdown ------------------------------------------------------- */

static void sp__scores_closed(void *arg) {
  sp_app *app = arg;
  app->scores_closed = 1;
  uv_close((uv_handle_t *)&app->shutdown_timer, NULL);
  uv_close((uv_handle_t *)&app->sigint, NULL);
  uv_close((uv_handle_t *)&app->sigterm, NULL);
  sp_server_close(app->server);
}

static void sp__shutdown_tick(uv_timer_t *t) {
  sp_app *app = t->data;
  uint64_t elapsed = uv_now(app->loop) - app->shutdown_started;
  if (sp_server_conn_count(app->server) > 0) {
    if (elapsed < SP_SHUTDOWN_GRACE_MS)
      return;
    sp_log_warn("shutdown_cut", "connections=%zu",
                sp_server_conn_count(app->server));
    sp_server_abort_all(app->server);
    return; /* their close callbacks run before the next tick */
  }
  if (elapsed > SP_SHUTDOWN_LIMIT_MS) {
    sp_log_error("shutdown_timeout", "pending_scores=%zu",
                 sp_scores_pending(app->scores));
    exit(1);
  }
  if (!app->scores_closed && app->scores) {
    sp_scores *s = app->scores;
    app->scores = NULL;
    uv_timer_stop(t);
    uv_timer_start(t, sp__shutdown_tick, 50, 50);
    sp_scores_close(s, sp__scores_closed, app);
  }
}

static void sp__on_signal(uv_signal_t *sig, int signum) {
  sp_app *app = sig->data;
  if (app->stopping) {
    sp_log_warn("shutdown_forced", "signal=%d", signum);
    exit(1);
  }
  app->stopping = 1;
  sp_log_info("shutdown", "signal=%s connections=%zu",
              signum == SIGINT ? "SIGINT" : "SIGTERM",
              sp_server_conn_count(app->server));
  app->shutdown_started = uv_now(app->loop);
  sp_server_shutdown(app->server);
  uv_timer_start(&app->shutdown_timer, sp__shutdown_tick, 20, 20);
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

/* Every connection is a descriptor: make room for --max-conns of them,
 * plus the listener, the database, the thread pool and a margin. */
static void sp__raise_fd_limit(int max_conns) {
  struct rlimit rl;
  rlim_t need = (rlim_t)max_conns + 64;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
    return;
  rlim_t want = need;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
    /* A privileged process may raise the hard limit too. */
    struct rlimit both = {need, need};
    if (setrlimit(RLIMIT_NOFILE, &both) == 0)
      return;
    want = rl.rlim_max;
  }
  rl.rlim_cur = want;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || want < need)
    sp_log_warn("fd_limit", "wanted=%llu got=%llu max_conns=%d",
                (unsigned long long)need, (unsigned long long)want, max_conns);
}

int main(int argc, char **argv) {
  static sp_app app;
  sp_config_default(&app.cfg);
  int rc = sp_config_parse(&app.cfg, argc, argv, getenv("PORT"));
  if (rc == 1)
    return 0;
  if (rc != 0)
    return 2;
  sp_config *cfg = &app.cfg;
  sp_log_set_level((sp_log_level)cfg->log_level);
  signal(SIGPIPE, SIG_IGN);
  app.loop = uv_default_loop();

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
  sp__raise_fd_limit(cfg->max_conns);
  char err[512];
  if (sp_scores_open(app.loop, cfg->data_dir, &app.scores, err, sizeof err)) {
    fprintf(stderr, "snakepit: cannot open the top scores: %s\n", err);
    return 1;
  }
  sp_lobby_settings ls = {
      .tick_rate = cfg->tick_rate,
      .max_players = cfg->max_players,
      .field_w = cfg->field_w,
      .field_h = cfg->field_h,
      .has_seed = cfg->has_seed,
      .seed = cfg->seed,
  };
  if (sp_lobby_new(app.loop, &ls, app.scores, &app.lobby) != 0) {
    fprintf(stderr, "snakepit: out of memory\n");
    return 1;
  }
  sp_server_options so = {
      .host = cfg->host,
      .port = cfg->port,
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
  };
  sp_server_handler h = {
      .data = &app,
      .on_upgrade = sp__on_upgrade,
      .on_message = sp__on_message,
      .on_close = sp__on_close,
      .on_api = sp__on_api,
  };
  int e = sp_server_start(app.loop, &so, &h, &app.server);
  if (e != 0) {
    fprintf(stderr, "snakepit: cannot listen on %s:%d: %s\n", cfg->host,
            cfg->port, uv_strerror(e));
    return 1;
  }
  uv_signal_init(app.loop, &app.sigint);
  uv_signal_init(app.loop, &app.sigterm);
  app.sigint.data = app.sigterm.data = &app;
  uv_signal_start(&app.sigint, sp__on_signal, SIGINT);
  uv_signal_start(&app.sigterm, sp__on_signal, SIGTERM);
  uv_timer_init(app.loop, &app.shutdown_timer);
  app.shutdown_timer.data = &app;

  sp_log_info("listening", "host=%s port=%d version=%s tick_rate=%g field=%dx%d "
              "max_players=%d top_scores=%zu",
              cfg->host, sp_server_port(app.server), SP_VERSION, cfg->tick_rate,
              cfg->field_w, cfg->field_h, cfg->max_players,
              sp_scores_count(app.scores));
  uv_run(app.loop, UV_RUN_DEFAULT);

  sp_lobby_free(app.lobby);
  sp_server_free(app.server);
  if (uv_loop_close(app.loop) != 0)
    sp_log_warn("loop_not_empty", NULL);
  sp_log_info("stopped", NULL);
  return 0;
}
