/* measure.c: see measure.h. */
#include "measure.h"

#include <math.h>
#include <string.h>

int sb_meas_init(sb_meas *m, double tick_rate) {
  memset(m, 0, sizeof *m);
  m->tick_ns = 1e9 / tick_rate;
  if (sb_hist_init(&m->gaps) < 0)
    return -1;
  if (sb_hist_init(&m->keylat) < 0) {
    sb_hist_free(&m->gaps);
    return -1;
  }
  return 0;
}

void sb_meas_free(sb_meas *m) {
  sb_hist_free(&m->gaps);
  sb_hist_free(&m->keylat);
}

void sb_meas_open(sb_meas *m, uint64_t now) {
  m->win0 = m->tot;
  m->win_start = now;
  m->active = 1;
}

void sb_meas_close(sb_meas *m, uint64_t now) {
  m->win1 = m->tot;
  m->win_end = now;
  m->active = 0;
}

double sb_meas_window_s(const sb_meas *m) {
  return m->win_end > m->win_start ? (double)(m->win_end - m->win_start) / 1e9
                                   : 0;
}

sb_counters sb_meas_window(const sb_meas *m) {
  sb_counters w = {m->win1.frames - m->win0.frames,
                   m->win1.bytes - m->win0.bytes,
                   m->win1.tick_frames - m->win0.tick_frames,
                   m->win1.control - m->win0.control};
  return w;
}

void sb_meas_render(sb_meas *m, sb_track *t, uint64_t now) {
  m->tot.tick_frames++;
  /* A gap counts when both of its frames came inside the window. */
  if (m->active && t->last_tick && t->last_tick >= m->win_start) {
    uint64_t gap = now - t->last_tick;
    sb_hist_add(&m->gaps, gap);
    m->gap_sum_ns += (double)gap;
    m->gap_n++;
    t->seg_ns += gap;
    t->seg_n++;
  }
  t->last_tick = now;
}

void sb_meas_restart(sb_meas *m, sb_track *t) {
  t->last_tick = 0;
  sb_meas_flush(m, t);
}

/* Rounding per run keeps late frames (a long gap then a short one) from
 * counting as lost. */
void sb_meas_flush(sb_meas *m, sb_track *t) {
  if (t->seg_n) {
    long long ticks = llround((double)t->seg_ns / m->tick_ns);
    if (ticks > (long long)t->seg_n)
      m->lost_ticks += (uint64_t)(ticks - (long long)t->seg_n);
    else
      m->extra_frames += (uint64_t)((long long)t->seg_n - ticks);
  }
  t->seg_ns = 0;
  t->seg_n = 0;
}

void sb_meas_turn_sent(sb_meas *m) { m->turns_measurable++; }

void sb_meas_turn_shown(sb_meas *m, uint64_t ns) {
  if (!m->active)
    return;
  sb_hist_add(&m->keylat, ns);
  m->turns_measured++;
}

void sb_meas_turn_unobserved(sb_meas *m) { m->turns_unobserved++; }

void sb_meas_turn_superseded(sb_meas *m) { m->turns_superseded++; }
