/* report.c: see report.h. */
#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

typedef struct sb__jbuf {
  char s[8192];
  size_t n;
} sb__jbuf;

static void sb__jadd(sb__jbuf *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb__jadd(sb__jbuf *j, const char *fmt, ...) {
  va_list ap;
  int r;
  if (j->n >= sizeof j->s)
    return;
  va_start(ap, fmt);
  r = vsnprintf(j->s + j->n, sizeof j->s - j->n, fmt, ap);
  va_end(ap);
  if (r > 0)
    j->n += (size_t)r;
}

/* KEY: V, or null when not OK (a figure that could not be measured). */
static void sb__jnum(sb__jbuf *j, const char *key, double v, int ok) {
  if (!ok || !isfinite(v))
    sb__jadd(j, ",\"%s\":null", key);
  else if (v == floor(v) && fabs(v) < 1e15)
    sb__jadd(j, ",\"%s\":%.0f", key, v);
  else
    sb__jadd(j, ",\"%s\":%.3f", key, v);
}

/* The figures derived from the raw results, shared by both outputs. */
typedef struct sb__figs {
  double win;
  int have; /* A window was measured. */
  sb_counters w;
  double msgs, bytes, renders, expected;
  double lost, loss_ratio, tick_obs;
  int srv;
  double srv_cpu, srv_us, rss, rss_before, rss_conn;
  double own, own_pct, own_us;
  int saturated;
  int mach;
  double mach_busy, mach_pct, mach_other_pct;
  int mach_cpus;
} sb__figs;

static sb__figs sb__derive(const sb_opts *o, const sb_results *r) {
  const sb_meas *m = r->meas;
  sb__figs f;

  f.win = sb_meas_window_s(m);
  f.have = f.win > 0;
  f.w = sb_meas_window(m);
  f.msgs = f.have ? f.w.frames / f.win : 0;
  f.bytes = f.have ? f.w.bytes / f.win : 0;
  f.renders = f.have ? f.w.tick_frames / f.win : 0;
  f.expected = sb_opts_expected_members(o) * o->tick_rate;
  f.lost = (double)m->lost_ticks;
  f.loss_ratio = m->gap_n ? f.lost / ((double)m->gap_n + f.lost) : 0;
  f.tick_obs = m->gap_sum_ns > 0 ? (double)m->gap_n * 1e9 / m->gap_sum_ns : 0;
  f.srv = r->w0->srv_ok && r->w1->srv_ok;
  f.srv_cpu = f.srv ? r->w1->srv.cpu_s - r->w0->srv.cpu_s : 0;
  f.srv_us = f.srv && f.w.frames ? f.srv_cpu * 1e6 / (double)f.w.frames : 0;
  f.rss = f.srv ? (double)r->w1->srv.rss_kib : 0;
  f.rss_before = r->before->srv_ok ? (double)r->before->srv.rss_kib : 0;
  f.rss_conn = f.srv && r->before->srv_ok && r->open_at_end
                   ? (f.rss - f.rss_before) * 1024 / r->open_at_end
                   : 0;
  f.own = r->w1->own_cpu_s - r->w0->own_cpu_s;
  f.own_pct = f.have ? 100 * f.own / f.win : 0;
  f.own_us = f.w.frames ? f.own * 1e6 / (double)f.w.frames : 0;
  f.saturated = f.own_pct > 85;
  /* The whole machine: what the server and the generator left to the
   * kernel's unattributed work and to other processes. */
  f.mach = f.have && r->w0->mach_ok && r->w1->mach_ok;
  f.mach_busy = f.mach ? r->w1->mach.busy_s - r->w0->mach.busy_s : 0;
  f.mach_pct = f.mach ? 100 * f.mach_busy / f.win : 0;
  f.mach_other_pct =
      f.mach_pct - f.own_pct - (f.srv ? 100 * f.srv_cpu / f.win : 0);
  f.mach_cpus = r->w1->mach_ok ? r->w1->mach.cpus : 0;
  return f;
}

static void sb__summary(const sb_opts *o, const sb_results *r,
                        const sb__figs *f) {
  const sb_meas *m = r->meas;
  const sb_conn_stats *cs = r->conn;
  const sb_play_stats *ps = r->play;

  printf("snakepit-bench: %u clients, %u rooms, %u players, tick %.4g Hz, "
         "window %.1f s\n",
         o->clients, sb_opts_rooms(o), o->players, o->tick_rate, f->win);
  printf("connections:  %u opened, %" PRIu64 " failed", r->opened,
         (uint64_t)r->failed);
  for (int k = 0; k < SB_FAIL_KINDS; k++)
    if (cs->fails[k])
      printf(" [%s %" PRIu64 ": %s]", sb_fail_names[k], cs->fails[k],
             cs->first_fail[k][0] ? cs->first_fail[k] : "-");
  printf(", %" PRIu64 " unexpected closes, %" PRIu64 " protocol errors\n",
         cs->unexpected_closes, cs->protocol_errors);
  printf("delivered:    %.0f msgs/s, %.2f MB/s; render frames %.0f/s of %.0f "
         "expected "
         "(%.1f%%), lost ~%.0f (%.3f%%), observed tick %.3f Hz\n",
         f->msgs, f->bytes / 1e6, f->renders, f->expected,
         f->expected > 0 ? 100 * f->renders / f->expected : 0, f->lost,
         100 * f->loss_ratio, f->tick_obs);
  printf("broadcast gap: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%" PRIu64
         " gaps; target p99 <= %.1f ms)\n",
         sb_hist_quantile_ms(&m->gaps, 0.5),
         sb_hist_quantile_ms(&m->gaps, 0.99), sb_hist_max_ms(&m->gaps),
         m->gaps.count, 1.25 * 1000 / o->tick_rate);
  if (o->players)
    printf("key to effect: p50 %.2f ms, p99 %.2f ms (%" PRIu64
           " turns measured, %" PRIu64 " unobserved, %" PRIu64
           " superseded; %" PRIu64 " keys, %" PRIu64 " joins, %" PRIu64
           " refused, %" PRIu64 " deaths)\n",
           sb_hist_quantile_ms(&m->keylat, 0.5),
           sb_hist_quantile_ms(&m->keylat, 0.99), m->turns_measured,
           m->turns_unobserved, m->turns_superseded, ps->keys_sent,
           ps->joins_sent, ps->join_refused, ps->deaths);
  if (f->srv)
    printf("server:       cpu %.2f s (%.0f%% of a core), %.2f us/msg, rss "
           "%.0f KiB "
           "(before %.0f KiB), %.0f bytes/conn\n",
           f->srv_cpu, f->have ? 100 * f->srv_cpu / f->win : 0, f->srv_us,
           f->rss, f->rss_before, f->rss_conn);
  else if (o->server_pid > 0)
    printf("server:       pid %d could not be sampled\n", o->server_pid);
  printf("generator:    cpu %.2f s (%.0f%% of a core), %.2f us/msg%s\n", f->own,
         f->own_pct, f->own_us,
         f->saturated
             ? "  WARNING: the load generator is near saturation; figures may "
               "show its limit, not the server's"
             : "");
  if (f->mach)
    printf("machine:      %d CPUs, %.0f%% of a core busy in all (%.0f%% "
           "neither server nor generator: kernel work, other processes)\n",
           f->mach_cpus, f->mach_pct, f->mach_other_pct);
}

static void sb__json(const sb_opts *o, const sb_results *r, const sb__figs *f) {
  const sb_meas *m = r->meas;
  const sb_conn_stats *cs = r->conn;
  const sb_play_stats *ps = r->play;
  int gaps = m->gap_n > 0;
  sb__jbuf j = {.n = 0};

  sb__jadd(&j, "{\"tool\":\"snakepit-bench\",\"version\":1");
  sb__jadd(&j, ",\"url\":\"ws://%s:%d%s\"", o->host, o->port, o->path);
  sb__jnum(&j, "clients", o->clients, 1);
  sb__jnum(&j, "source_ips", (double)o->source_ips, 1);
  sb__jnum(&j, "rooms", sb_opts_rooms(o), 1);
  sb__jnum(&j, "players", o->players, 1);
  sb__jnum(&j, "tick_rate", o->tick_rate, 1);
  sb__jnum(&j, "warmup_s", o->warmup_s, 1);
  sb__jnum(&j, "duration_s", f->win, 1);
  sb__jnum(&j, "connected", r->opened, 1);
  sb__jnum(&j, "open_at_end", r->open_at_end, 1);
  sb__jnum(&j, "connect_failures", (double)r->failed, 1);
  for (int k = 0; k < SB_FAIL_KINDS; k++) {
    char key[40];
    snprintf(key, sizeof key, "connect_fail_%s", sb_fail_names[k]);
    sb__jnum(&j, key, (double)cs->fails[k], 1);
  }
  sb__jnum(&j, "unexpected_closes", (double)cs->unexpected_closes, 1);
  sb__jnum(&j, "protocol_errors", (double)cs->protocol_errors, 1);
  sb__jnum(&j, "write_errors", (double)cs->write_errors, 1);
  sb__jnum(&j, "bad_json", (double)ps->bad_json, 1);
  sb__jnum(&j, "msgs_per_s", f->msgs, f->have);
  sb__jnum(&j, "bytes_per_s", f->bytes, f->have);
  sb__jnum(&j, "render_frames_per_s", f->renders, f->have);
  sb__jnum(&j, "expected_msgs_per_s", f->expected, 1);
  sb__jnum(&j, "delivery_ratio", f->expected > 0 ? f->renders / f->expected : 0,
           f->have && f->expected > 0);
  sb__jnum(&j, "frames_lost_est", f->lost, gaps);
  sb__jnum(&j, "frames_extra", (double)m->extra_frames, gaps);
  sb__jnum(&j, "loss_ratio", f->loss_ratio, gaps);
  sb__jnum(&j, "tick_rate_observed", f->tick_obs, gaps);
  sb__jnum(&j, "gap_p50_ms", sb_hist_quantile_ms(&m->gaps, 0.5),
           m->gaps.count > 0);
  sb__jnum(&j, "gap_p99_ms", sb_hist_quantile_ms(&m->gaps, 0.99),
           m->gaps.count > 0);
  sb__jnum(&j, "gap_max_ms", sb_hist_max_ms(&m->gaps), m->gaps.count > 0);
  sb__jnum(&j, "gap_count", (double)m->gaps.count, 1);
  sb__jnum(&j, "key_p50_ms", sb_hist_quantile_ms(&m->keylat, 0.5),
           m->keylat.count > 0);
  sb__jnum(&j, "key_p99_ms", sb_hist_quantile_ms(&m->keylat, 0.99),
           m->keylat.count > 0);
  sb__jnum(&j, "key_max_ms", sb_hist_max_ms(&m->keylat), m->keylat.count > 0);
  sb__jnum(&j, "key_count", (double)m->keylat.count, 1);
  sb__jnum(&j, "key_unobserved", (double)m->turns_unobserved, 1);
  sb__jnum(&j, "key_superseded", (double)m->turns_superseded, 1);
  sb__jnum(&j, "keys_sent", (double)ps->keys_sent, 1);
  sb__jnum(&j, "joins_sent", (double)ps->joins_sent, 1);
  sb__jnum(&j, "joins_refused", (double)ps->join_refused, 1);
  sb__jnum(&j, "deaths", (double)ps->deaths, 1);
  sb__jnum(&j, "tracks_lost", (double)ps->tracks_lost, 1);
  sb__jnum(&j, "server_pid", o->server_pid, o->server_pid > 0);
  sb__jnum(&j, "server_cpu_s", f->srv_cpu, f->srv);
  sb__jnum(&j, "server_cpu_pct", f->have ? 100 * f->srv_cpu / f->win : 0,
           f->srv && f->have);
  sb__jnum(&j, "server_cpu_us_per_msg", f->srv_us, f->srv && f->w.frames);
  sb__jnum(&j, "server_rss_kib", f->rss, f->srv);
  sb__jnum(&j, "server_rss_before_kib", f->rss_before, r->before->srv_ok);
  sb__jnum(&j, "server_rss_per_conn_bytes", f->rss_conn,
           f->srv && r->before->srv_ok && r->open_at_end);
  sb__jnum(&j, "bench_cpu_s", f->own, f->have);
  sb__jnum(&j, "bench_cpu_pct", f->own_pct, f->have);
  sb__jnum(&j, "bench_cpu_us_per_msg", f->own_us, f->have && f->w.frames);
  sb__jnum(&j, "machine_cpus", f->mach_cpus, f->mach);
  sb__jnum(&j, "machine_cpu_pct", f->mach_pct, f->mach);
  sb__jnum(&j, "machine_other_cpu_pct", f->mach_other_pct, f->mach && f->srv);
  sb__jnum(&j, "machine_us_per_msg",
           f->w.frames ? f->mach_busy * 1e6 / (double)f->w.frames : 0,
           f->mach && f->w.frames);
  sb__jadd(&j, ",\"bench_saturated\":%s}", f->saturated ? "true" : "false");
  puts(j.s);
}

void sb_report(const sb_opts *o, const sb_results *r) {
  sb__figs f = sb__derive(o, r);

  if (!o->json_only)
    sb__summary(o, r, &f);
  sb__json(o, r, &f);
  fflush(stdout);
}
