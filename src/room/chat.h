/* chat: the rules of room chat (docs/PROTOCOL.md, "chat"). Pure: the time
 * comes from the caller (the room's loop clock), so it is tested alone.
 *
 * A player may send `per_10s` messages per 10 seconds, in a burst of that
 * many at most (a token bucket), each of 1 to max_chars code points after
 * the name rules (controls and bidi overrides dropped, trimmed). */
#ifndef SP_CHAT_H
#define SP_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "room/proto.h"

typedef struct sp_chat_limits {
  uint32_t max_chars; /* 1..SP_CHAT_MAX_CHARS */
  double per_10s;     /* 0: chat is off */
} sp_chat_limits;

/* One player's allowance; zero it to start (a full burst). */
typedef struct sp_chat_bucket {
  double tokens;
  uint64_t last_ms;
  int started;
} sp_chat_bucket;

typedef enum {
  SP_CHAT_OK,
  SP_CHAT_EMPTY,    /* nothing left after cleaning: dropped, no answer */
  SP_CHAT_TOO_LONG, /* refused, the reason says the limit */
  SP_CHAT_TOO_FAST, /* refused, *retry_ms until the next one is allowed */
  SP_CHAT_OFF,      /* refused: per_10s is 0 */
} sp_chat_verdict;

/* Takes one message from a bucket of per_10s messages per 10 s (a burst
 * of that many, at least 1). Returns 1, or 0 with *retry_ms until one is
 * back. */
int sp_chat_take(sp_chat_bucket *b, double per_10s, uint64_t now_ms,
                 uint32_t *retry_ms);

/* Judges the CHAT message m (from sp_proto_decode) at now_ms. A message
 * that is sent (OK) uses up one message of the allowance; a refused one
 * does not. reason receives a one-line text for chat_refused. */
sp_chat_verdict sp_chat_check(sp_chat_bucket *b, const sp_chat_limits *lim,
                              const sp_msg *m, uint64_t now_ms,
                              uint32_t *retry_ms, char *reason,
                              size_t reasonlen);

#endif
