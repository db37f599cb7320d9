#include "game/rng.h"

static uint64_t sp__splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void sp_rng_seed(sp_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++)
    r->s[i] = sp__splitmix64(&seed);
}

static inline uint64_t sp__rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t sp_rng_next(sp_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = sp__rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = sp__rotl(s[3], 45);
  return result;
}

int sp_rng_range(sp_rng *r, int lo, int hi) {
  uint64_t span = (uint64_t)((int64_t)hi - lo) + 1;
  /* Rejection sampling keeps the distribution uniform. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % span;
  uint64_t v;
  do
    v = sp_rng_next(r);
  while (v >= limit);
  return lo + (int)(v % span);
}

double sp_rng_double(sp_rng *r) {
  return (double)(sp_rng_next(r) >> 11) * 0x1.0p-53;
}
