/* hist.h: a fixed-width latency histogram (10 us buckets up to 10 s).
 *
 * Values are recorded in nanoseconds and read back in milliseconds. Values
 * past the last bucket land in it; the exact maximum is kept aside.
 */
#ifndef SB_HIST_H
#define SB_HIST_H

#include <stdint.h>

typedef struct sb_hist {
  uint32_t *buckets; /* Owned; SB_HIST_BUCKETS entries. */
  uint64_t count;
  uint64_t max_ns;
  double sum_ns;
} sb_hist;

#define SB_HIST_BUCKET_NS 10000ull
#define SB_HIST_BUCKETS 1000000u

/* Returns 0, or -1 when out of memory. */
int sb_hist_init(sb_hist *h);
void sb_hist_free(sb_hist *h);
void sb_hist_add(sb_hist *h, uint64_t ns);
/* The value below which a fraction Q (0..1) of the samples lie, in ms (the
 * upper edge of its bucket, never above the maximum); 0 when empty. */
double sb_hist_quantile_ms(const sb_hist *h, double q);
double sb_hist_max_ms(const sb_hist *h);
double sb_hist_mean_ms(const sb_hist *h);

#endif
