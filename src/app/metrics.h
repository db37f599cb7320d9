/* metrics: GET /metrics in the Prometheus text exposition format 0.0.4.
 * Every count is kept by the thread that owns what it counts (a worker's
 * server and rooms, the hub's store; core/counter.h), so counting costs a
 * plain load and store; the worker that serves a scrape reads them all
 * here and sums nothing: each worker's series carry worker="N", and
 * Prometheus sums. The series are listed in README "Operations". */
#ifndef SP_METRICS_H
#define SP_METRICS_H

#include "core/buf.h"

struct sp_shared;

#define SP_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends the whole exposition. Any worker thread, while every worker
 * exists (they are freed only after all have stopped). */
void sp_metrics_write(struct sp_shared *sh, sp_buf *out);

#endif
