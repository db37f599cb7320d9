/* error: the negative error codes every module returns, and an assertion that
 * stays on in release builds for invariants that must never break. */
#ifndef SP_ERROR_H
#define SP_ERROR_H

enum {
  SP_OK = 0,
  SP_ENOMEM = -1,  /* out of memory */
  SP_EINVAL = -2,  /* invalid argument */
  SP_EFULL = -3,   /* a limit was reached (e.g. maximum players) */
  SP_EEXIST = -4,  /* already there (e.g. a live snake) */
  SP_ENOENT = -5,  /* not found */
  SP_EIO = -6,     /* storage failed */
  SP_ECLOSED = -7, /* the object is closing */
};

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
