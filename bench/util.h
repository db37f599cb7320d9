/* util.h: the two helpers every part of the load generator uses. */
#ifndef SB_UTIL_H
#define SB_UTIL_H

#include <stdint.h>

/* Prints "snakepit-bench: MESSAGE" on stderr and exits with status 2: for a
 * bad command line and for running out of memory, after which no figure
 * could be trusted. */
_Noreturn void sb_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* xorshift64*: masks, nonces and key choices need speed, not secrecy.
 * *STATE must not be 0. */
static inline uint64_t sb_rng_next(uint64_t *state) {
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return *state * 2685821657736338717ull;
}

#endif
