/* ratelimit: the message rate of one client, pure (the caller passes the
 * time). A token bucket of `rate` messages per second holding at most
 * `burst`; a message without a token is dropped. A client whose drops keep
 * coming (no gap of a second or more between two) for `close_after_ms` is
 * told to go. */
#ifndef SP_RATELIMIT_H
#define SP_RATELIMIT_H

#include <stdint.h>

typedef struct sp_ratelimit_config {
  double rate;             /* tokens per second */
  double burst;            /* bucket size */
  uint64_t close_after_ms; /* over the rate this long in a row: close */
} sp_ratelimit_config;

typedef struct sp_ratelimit {
  double tokens;
  uint64_t at;         /* ms of the last refill */
  uint64_t over_since; /* ms of the first drop of the current run */
  uint64_t last_drop;  /* ms of the last drop, 0 if none */
} sp_ratelimit;

typedef enum {
  SP_RATE_OK,    /* take the message */
  SP_RATE_DROP,  /* drop it */
  SP_RATE_CLOSE, /* drop it: over the rate for close_after_ms, close */
} sp_rate_verdict;

/* A full bucket at time now_ms. */
void sp_ratelimit_init(sp_ratelimit *r, const sp_ratelimit_config *cfg,
                       uint64_t now_ms);
/* One message at now_ms (never earlier than the previous call). */
sp_rate_verdict sp_ratelimit_take(sp_ratelimit *r,
                                  const sp_ratelimit_config *cfg,
                                  uint64_t now_ms);

#endif
