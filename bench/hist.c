/* hist.c: see hist.h. */
#include "hist.h"

#include <math.h>
#include <stdlib.h>

int sb_hist_init(sb_hist *h) {
  h->buckets = calloc(SB_HIST_BUCKETS, sizeof *h->buckets);
  h->count = 0;
  h->max_ns = 0;
  h->sum_ns = 0;
  return h->buckets ? 0 : -1;
}

void sb_hist_free(sb_hist *h) {
  free(h->buckets);
  h->buckets = NULL;
}

void sb_hist_add(sb_hist *h, uint64_t ns) {
  uint64_t i = ns / SB_HIST_BUCKET_NS;

  if (i >= SB_HIST_BUCKETS)
    i = SB_HIST_BUCKETS - 1;
  h->buckets[i]++;
  h->count++;
  h->sum_ns += (double)ns;
  if (ns > h->max_ns)
    h->max_ns = ns;
}

double sb_hist_quantile_ms(const sb_hist *h, double q) {
  uint64_t rank, seen = 0;

  if (h->count == 0)
    return 0;
  /* The smallest value with at least ceil(q * count) samples at or below it. */
  rank = (uint64_t)ceil(q * (double)h->count);
  if (rank < 1)
    rank = 1;
  for (uint32_t i = 0; i < SB_HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= rank) {
      double edge = (double)((i + 1) * SB_HIST_BUCKET_NS);
      if (edge > (double)h->max_ns || i == SB_HIST_BUCKETS - 1)
        edge = (double)h->max_ns;
      return edge / 1e6;
    }
  }
  return (double)h->max_ns / 1e6;
}

double sb_hist_max_ms(const sb_hist *h) { return (double)h->max_ns / 1e6; }

double sb_hist_mean_ms(const sb_hist *h) {
  return h->count ? h->sum_ns / (double)h->count / 1e6 : 0;
}
