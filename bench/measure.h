/* measure.h: the figures of the measured window.
 *
 * Counters of what arrives, the time between one client's consecutive render
 * frames (gaps, and the frames they imply were lost), and the time from a
 * turn sent to its effect seen (key-to-effect), in histograms (hist.h). The
 * window opens after the warm-up and closes before the clients do; only
 * what happens while it is open counts, except the counters, which run from
 * the start and are read as the difference between both ends.
 */
#ifndef SB_MEASURE_H
#define SB_MEASURE_H

#include <stdint.h>

#include "hist.h"

typedef struct sb_counters {
  uint64_t frames;      /* Data frames (text, binary, continuation). */
  uint64_t bytes;       /* Every byte received after the HTTP response. */
  uint64_t tick_frames; /* Render frames: the tick's broadcast. */
  uint64_t control;
} sb_counters;

/* One client's run of consecutive render frames; zero is a fresh one. */
typedef struct sb_track {
  uint64_t last_tick; /* When the last render frame arrived; 0: none to
                         measure from. */
  uint64_t seg_ns;    /* Sum of the gaps since the game (re)started or the
                         window opened. */
  uint32_t seg_n;     /* Their number. */
} sb_track;

typedef struct sb_meas {
  double tick_ns; /* The server's tick, from --tick-rate. */
  int active;     /* The window is open. */
  uint64_t win_start, win_end;
  sb_counters tot, win0, win1; /* Now, at the window's opening, its end. */
  sb_hist gaps;                /* Between one client's render frames. */
  double gap_sum_ns;
  uint64_t gap_n;
  uint64_t lost_ticks, extra_frames;
  sb_hist keylat; /* Turn sent to the head seen turning. */
  uint64_t turns_measurable, turns_measured, turns_unobserved, turns_superseded;
} sb_meas;

/* Returns 0, or -1 when out of memory; sb_meas_free() releases it. */
int sb_meas_init(sb_meas *m, double tick_rate);
void sb_meas_free(sb_meas *m);

void sb_meas_open(sb_meas *m, uint64_t now);
/* Every track must have been flushed first (sb_meas_flush). */
void sb_meas_close(sb_meas *m, uint64_t now);
/* The window's length in seconds; 0 when it never closed. */
double sb_meas_window_s(const sb_meas *m);
/* What arrived while the window was open. */
sb_counters sb_meas_window(const sb_meas *m);

/* A render frame arrived for the client of T at NOW. */
void sb_meas_render(sb_meas *m, sb_track *t, uint64_t now);
/* The game stopped and starts again: the wait for it is no gap. */
void sb_meas_restart(sb_meas *m, sb_track *t);
/* Closes T's run of frames: the ticks it spans, rounded, less the frames
 * that came, were lost. */
void sb_meas_flush(sb_meas *m, sb_track *t);

/* Key-to-effect: a turn that would show was sent, it showed after NS, it
 * did not show within 5 moves, another key was sent before it showed. */
void sb_meas_turn_sent(sb_meas *m);
void sb_meas_turn_shown(sb_meas *m, uint64_t ns);
void sb_meas_turn_unobserved(sb_meas *m);
void sb_meas_turn_superseded(sb_meas *m);

#endif
