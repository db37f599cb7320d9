/* error: one error domain for the whole server. Every function that can
 * fail returns 0 or a negative libuv error code (UV_ENOMEM, UV_EINVAL, ...),
 * so a code from libuv and one of ours never collide. The few conditions
 * that are ours have names here, each an alias of the libuv code closest to
 * its meaning, and sp_strerror() words them for our logs.
 *
 * Out-parameters are written only on success (0), unless the function's
 * header says otherwise (sp_server_start, sp_server_claim_port): on failure
 * the caller's variable keeps what it held, and owns nothing new.
 *
 * Also: an assertion that stays on in release builds, for invariants that
 * must never break. */
#ifndef SP_ERROR_H
#define SP_ERROR_H

#include <uv.h>

#define SP_EFULL UV_ENOSPC      /* a limit was reached (maximum players) */
#define SP_ECLOSED UV_ECANCELED /* the object is closing: nothing was done */

/* A short, lower-case description of any code of the domain (libuv's own
 * text for libuv's codes). Never NULL. */
const char *sp_strerror(int err);

/* Checked in every build: a broken invariant is a bug worth a crash with a
 * clear message rather than silent corruption of a room. */
#define SP_ASSERT(cond)                                                        \
  do {                                                                         \
    if (!(cond))                                                               \
      sp__assert_fail(#cond, __FILE__, __LINE__);                              \
  } while (0)

_Noreturn void sp__assert_fail(const char *expr, const char *file, int line);

#endif
