/* snakepit-bench: a load generator that speaks PROTOCOL.md like a browser.
 *
 * N clients connect to ws://HOST:PORT/connect?room=bench-I (I round-robin over
 * R rooms), each registers with ["new_player","bI"]; K of them play (join, a
 * random arrow key every M ms, join again after death), the others watch.
 * After a warm-up, a measured window counts what arrives and how punctually,
 * and how long a turn takes to show up in the renders. One libuv loop, one
 * read buffer for all connections, and a JSON walk that only looks at the
 * fields it needs, so that one core keeps up with thousands of connections.
 *
 * This file is the run: its phases (connect, warm-up, the window, closing),
 * the progress line and the signals. The parts it wires together:
 *   opts.c      the command line, read-only once parsed
 *   client.c    the WebSocket clients: connect, upgrade, frames, close
 *   play.c      what the clients say and read: join, keys, rejoin, heads
 *   measure.c   the window's figures: gaps, loss, key-to-effect
 *   procstat.c  CPU and memory of the server, the generator, the machine
 *   report.c    the summary and the JSON line
 *
 * Output: one progress line per second on stderr; a human summary and one
 * JSON line on stdout at the end (--json: the JSON line only).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <uv.h>

#include "client.h"
#include "measure.h"
#include "opts.h"
#include "play.h"
#include "procstat.h"
#include "report.h"
#include "util.h"

/* How long the close handshake may take at the end. */
#define CLOSE_WAIT_MS 3000

enum phase { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_CLOSING, PH_DONE };
static const char *const phase_names[] = {"connect", "warmup", "measure",
                                          "closing", "done"};

/* One run, on main's stack; every callback reaches it through its handle's
 * data slot (the loop's for the fleet). */
typedef struct run {
  const sb_opts *opt;
  uv_loop_t *loop;
  sb_meas meas;
  sb_fleet fleet;
  sb_play play;
  uv_timer_t connect_timer, progress_timer, phase_timer;
  uv_signal_t sigint, sigterm;
  enum phase phase;
  uint64_t t0;
  sb_sample before, w0, w1;
  uint32_t open_at_end;
  /* The progress line's previous second. */
  sb_counters prog_last;
  uint64_t prog_t;
  double own_cpu_prog;
  sb_proc srv_prog;
  int srv_prog_ok;
} run;

static void start_closing(run *r);

static void on_phase_timer(uv_timer_t *t) {
  run *r = t->data;

  if (r->phase == PH_WARMUP) {
    r->phase = PH_MEASURE;
    sb_sample_take(&r->w0, r->opt->server_pid);
    sb_meas_open(&r->meas, uv_hrtime());
    uv_timer_start(&r->phase_timer, on_phase_timer,
                   (uint64_t)(r->opt->duration_s * 1000), 0);
  } else if (r->phase == PH_MEASURE) {
    start_closing(r);
  } else if (r->phase == PH_CLOSING) {
    /* The close handshake took too long: drop what is left. */
    sb_fleet_drop(&r->fleet);
  }
}

static void end_window(run *r) {
  sb_play_flush(&r->play);
  sb_meas_close(&r->meas, uv_hrtime());
  sb_sample_take(&r->w1, r->opt->server_pid);
  r->open_at_end = r->fleet.open;
}

static void finish_if_done(run *r) {
  if (r->phase != PH_CLOSING || r->fleet.live_handles > 0)
    return;
  r->phase = PH_DONE;
  uv_close((uv_handle_t *)&r->connect_timer, NULL);
  uv_close((uv_handle_t *)&r->progress_timer, NULL);
  uv_close((uv_handle_t *)&r->phase_timer, NULL);
  uv_close((uv_handle_t *)&r->sigint, NULL);
  uv_close((uv_handle_t *)&r->sigterm, NULL);
  sb_play_close(&r->play);
}

static void start_closing(run *r) {
  if (r->phase >= PH_CLOSING)
    return;
  if (r->phase == PH_MEASURE)
    end_window(r);
  r->phase = PH_CLOSING;
  uv_timer_stop(&r->connect_timer);
  sb_play_stop(&r->play);
  sb_fleet_shutdown(&r->fleet);
  uv_timer_start(&r->phase_timer, on_phase_timer, CLOSE_WAIT_MS, 0);
  finish_if_done(r);
}

static void check_connect_done(run *r) {
  if (r->phase != PH_CONNECT ||
      r->fleet.opened + r->fleet.failed < r->opt->clients)
    return;
  r->phase = PH_WARMUP;
  uv_timer_start(&r->phase_timer, on_phase_timer,
                 (uint64_t)(r->opt->warmup_s * 1000), 0);
}

/* The fleet's counts changed. The fleet's data slot is the play layer's, so
 * the run is found through the loop's, which is the run's own. */
static void on_fleet_changed(sb_fleet *f) {
  run *r = f->loop->data;
  check_connect_done(r);
  finish_if_done(r);
}

static void on_connect_timer(uv_timer_t *t) {
  run *r = t->data;
  if (sb_fleet_connect_more(&r->fleet, uv_hrtime()))
    uv_timer_stop(t);
}

static void on_progress(uv_timer_t *t) {
  run *r = t->data;
  const sb_opts *o = r->opt;
  uint64_t now = uv_hrtime();
  double dt = (double)(now - r->prog_t) / 1e9;
  double cpu = sb_own_cpu_s();
  const sb_counters *tot = &r->meas.tot;
  char srv[48] = "";

  /* Handshakes that hang, and a connect phase that never ends. */
  if (r->phase == PH_CONNECT) {
    sb_fleet_expire(&r->fleet, now);
    if ((double)(now - r->t0) / 1e9 > o->connect_timeout_s &&
        r->phase == PH_CONNECT) {
      fprintf(stderr, "snakepit-bench: connect phase timed out after %.0f s\n",
              o->connect_timeout_s);
      uv_timer_stop(&r->connect_timer);
      sb_fleet_give_up(&r->fleet);
      check_connect_done(r);
    }
  }
  /* With every connection gone there is nothing left to measure. */
  if ((r->phase == PH_WARMUP || r->phase == PH_MEASURE) && r->fleet.open == 0) {
    fprintf(stderr, "snakepit-bench: no connection left open, stopping\n");
    start_closing(r);
  }
  if (o->server_pid > 0) {
    sb_proc s;
    if (sb_proc_sample(o->server_pid, &s) == 0) {
      if (r->srv_prog_ok)
        snprintf(srv, sizeof srv, " | server cpu %3.0f%% rss %ld MiB",
                 100 * (s.cpu_s - r->srv_prog.cpu_s) / dt, s.rss_kib / 1024);
      r->srv_prog = s;
      r->srv_prog_ok = 1;
    } else {
      snprintf(srv, sizeof srv, " | server gone");
      r->srv_prog_ok = 0;
    }
  }
  if (!o->quiet && dt > 0)
    fprintf(stderr,
            "[%4.0fs] %-7s open %u/%u failed %" PRIu64 " dropped %" PRIu64
            " | %.0f msg/s %.0f render/s %.2f MB/s%s | own cpu %3.0f%%\n",
            (double)(now - r->t0) / 1e9, phase_names[r->phase], r->fleet.open,
            o->clients, (uint64_t)r->fleet.failed,
            r->fleet.stats.unexpected_closes,
            (tot->frames - r->prog_last.frames) / dt,
            (tot->tick_frames - r->prog_last.tick_frames) / dt,
            (tot->bytes - r->prog_last.bytes) / dt / 1e6, srv,
            100 * (cpu - r->own_cpu_prog) / dt);
  r->prog_last = *tot;
  r->prog_t = now;
  r->own_cpu_prog = cpu;
}

static void on_signal(uv_signal_t *s, int sig) {
  run *r = s->data;
  fprintf(stderr, "snakepit-bench: signal %d, stopping\n", sig);
  if (r->phase < PH_CLOSING)
    start_closing(r);
}

static void raise_nofile(uint64_t need) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return;
  if (rl.rlim_cur >= need)
    return;
  if (rl.rlim_max < need) {
    struct rlimit up = {need, need};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0)
      return;
  }
  rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < need)
    fprintf(
        stderr,
        "snakepit-bench: warning: only %llu file descriptors for %llu needed\n",
        (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

static void timer_init(run *r, uv_timer_t *t) {
  uv_timer_init(r->loop, t);
  t->data = r;
}

static void signal_init(run *r, uv_signal_t *s, int sig) {
  uv_signal_init(r->loop, s);
  s->data = r;
  uv_signal_start(s, on_signal, sig);
}

int main(int argc, char **argv) {
  run r = {0};
  sb_opts opt;
  sb_client_cb cb = sb_play_client_cb;
  int rc = sb_opts_parse(&opt, argc, argv);

  if (rc != 0)
    return rc > 0 ? 0 : 2;
  raise_nofile((uint64_t)opt.clients + 64);
  signal(SIGPIPE, SIG_IGN);

  r.opt = &opt;
  r.loop = uv_default_loop();
  r.loop->data = &r;
  cb.changed = on_fleet_changed;
  if (sb_meas_init(&r.meas, opt.tick_rate) < 0 ||
      sb_fleet_init(&r.fleet, &opt, r.loop, &r.meas.tot, &cb, &r.play) < 0 ||
      sb_play_init(&r.play, &r.fleet, &r.meas) < 0)
    sb_die("out of memory");
  timer_init(&r, &r.connect_timer);
  timer_init(&r, &r.progress_timer);
  timer_init(&r, &r.phase_timer);
  signal_init(&r, &r.sigint, SIGINT);
  signal_init(&r, &r.sigterm, SIGTERM);

  sb_sample_take(&r.before, opt.server_pid);
  if (opt.server_pid > 0 && !r.before.srv_ok)
    fprintf(stderr, "snakepit-bench: cannot read /proc/%d; no server figures\n",
            opt.server_pid);
  r.t0 = r.prog_t = r.fleet.last_token = uv_hrtime();
  r.own_cpu_prog = sb_own_cpu_s();
  r.phase = PH_CONNECT;
  uv_timer_start(&r.connect_timer, on_connect_timer, 0, 5);
  uv_timer_start(&r.progress_timer, on_progress, 1000, 1000);
  uv_run(r.loop, UV_RUN_DEFAULT);

  sb_report(&opt, &(sb_results){.meas = &r.meas,
                                .conn = &r.fleet.stats,
                                .play = &r.play.stats,
                                .opened = r.fleet.opened,
                                .failed = r.fleet.failed,
                                .open_at_end = r.open_at_end,
                                .before = &r.before,
                                .w0 = &r.w0,
                                .w1 = &r.w1});
  uv_loop_close(r.loop);
  sb_play_free(&r.play);
  sb_fleet_free(&r.fleet);
  sb_meas_free(&r.meas);
  return sb_meas_window_s(&r.meas) > 0 ? 0 : 1;
}
