#include "net/ratelimit.h"

void sp_ratelimit_init(sp_ratelimit *r, const sp_ratelimit_config *cfg,
                       uint64_t now_ms) {
  *r = (sp_ratelimit){.tokens = cfg->burst, .at = now_ms};
}

sp_rate_verdict sp_ratelimit_take(sp_ratelimit *r,
                                  const sp_ratelimit_config *cfg,
                                  uint64_t now_ms) {
  r->tokens += (double)(now_ms - r->at) * cfg->rate / 1000.0;
  if (r->tokens > cfg->burst)
    r->tokens = cfg->burst;
  r->at = now_ms;
  if (r->tokens >= 1.0) {
    r->tokens -= 1.0;
    return SP_RATE_OK;
  }
  /* A run of drops with no gap of a second or more is "keeps exceeding". */
  if (r->last_drop == 0 || now_ms - r->last_drop >= 1000)
    r->over_since = now_ms;
  r->last_drop = now_ms;
  return now_ms - r->over_since >= cfg->close_after_ms ? SP_RATE_CLOSE
                                                       : SP_RATE_DROP;
}
