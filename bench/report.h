/* report.h: the load generator's output at the end of a run.
 *
 * A human summary on stdout (not with --json), then one JSON line, the
 * interface of run.sh, bots.sh and report.py: keys are only ever added.
 */
#ifndef SB_REPORT_H
#define SB_REPORT_H

#include <stdint.h>

#include "client.h"
#include "measure.h"
#include "opts.h"
#include "play.h"
#include "procstat.h"

/* What a run leaves behind, read-only. */
typedef struct sb_results {
  const sb_meas *meas;
  const sb_conn_stats *conn;
  const sb_play_stats *play;
  uint32_t opened, failed, open_at_end;
  /* Before the first connection, and at both ends of the window. */
  const sb_sample *before, *w0, *w1;
} sb_results;

void sb_report(const sb_opts *o, const sb_results *r);

#endif
