/* rng: a small seeded generator (xoshiro256**, seeded by splitmix64), so that
 * a game is reproducible from its seed on every platform. */
#ifndef SP_RNG_H
#define SP_RNG_H

#include <stdint.h>

typedef struct sp_rng {
  uint64_t s[4];
} sp_rng;

void sp_rng_seed(sp_rng *r, uint64_t seed);
uint64_t sp_rng_next(sp_rng *r);
/* A uniform integer in [lo, hi] (inclusive). */
int sp_rng_range(sp_rng *r, int lo, int hi);
/* A uniform double in [0, 1). */
double sp_rng_double(sp_rng *r);

#endif
