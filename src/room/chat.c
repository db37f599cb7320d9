#include "room/chat.h"

#include <stdio.h>

int sp_chat_take(sp_chat_bucket *b, double per_10s, uint64_t now_ms,
                 uint32_t *retry_ms) {
  /* The burst is the allowance of 10 seconds, at least one message. */
  double cap = per_10s < 1 ? 1 : per_10s;
  double per_ms = per_10s / 10000.0;
  *retry_ms = 0;
  if (!b->started) {
    b->started = 1;
    b->tokens = cap;
  } else if (now_ms > b->last_ms) {
    b->tokens += (double)(now_ms - b->last_ms) * per_ms;
    if (b->tokens > cap)
      b->tokens = cap;
  }
  b->last_ms = now_ms;
  if (b->tokens < 1) {
    *retry_ms = (uint32_t)((1 - b->tokens) / per_ms + 0.999);
    return 0;
  }
  b->tokens -= 1;
  return 1;
}

sp_chat_verdict sp_chat_check(sp_chat_bucket *b, const sp_chat_limits *lim,
                              const sp_msg *m, uint64_t now_ms,
                              uint32_t *retry_ms, char *reason,
                              size_t reasonlen) {
  *retry_ms = 0;
  reason[0] = '\0';
  if (lim->per_10s <= 0) {
    snprintf(reason, reasonlen, "Chat is off on this server");
    return SP_CHAT_OFF;
  }
  if (m->chars == 0 && !m->over)
    return SP_CHAT_EMPTY;
  if (m->over || m->chars > lim->max_chars) {
    snprintf(reason, reasonlen, "Messages are at most %u characters",
             lim->max_chars);
    return SP_CHAT_TOO_LONG;
  }
  if (!sp_chat_take(b, lim->per_10s, now_ms, retry_ms)) {
    snprintf(reason, reasonlen, "Too many messages: at most %.4g in 10 seconds",
             lim->per_10s);
    return SP_CHAT_TOO_FAST;
  }
  return SP_CHAT_OK;
}
