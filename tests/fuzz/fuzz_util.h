/* fuzz_util: what the fuzz targets share: a check that stays on (and says
 * what broke) whatever the build flags, a strict UTF-8 decoder written
 * independently of the server's, and a tiny PRNG for choosing splits.
 *
 * Everything is static: each target is one translation unit plus the
 * server's objects. */
#ifndef SP_FUZZ_UTIL_H
#define SP_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A broken property is a crash, so that libFuzzer keeps the input. */
#define FZ_CHECK(cond, ...)                                                    \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz check failed: %s (%s:%d): ", #cond, __FILE__,      \
              __LINE__);                                                       \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* Decodes one code point of strict UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). Returns the sequence length, or 0
 * when s does not start with a valid sequence. */
static inline size_t fz_utf8_next(const uint8_t *s, size_t len, uint32_t *cp) {
  if (len == 0)
    return 0;
  uint8_t c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2, v = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3, v = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4, v = c & 0x07;
  else
    return 0;
  if (len < n)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < min[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return n;
}

/* Whole buffer is valid UTF-8; *chars receives the number of code points
 * when chars is not NULL. */
static inline int fz_utf8_valid(const uint8_t *s, size_t len, size_t *chars) {
  size_t i = 0, k = 0;
  while (i < len) {
    uint32_t cp;
    size_t n = fz_utf8_next(s + i, len - i, &cp);
    if (n == 0)
      return 0;
    i += n;
    k++;
  }
  if (chars)
    *chars = k;
  return 1;
}

/* xorshift32: deterministic split sizes from a seed taken from the input. */
static inline uint32_t fz_rand(uint32_t *state) {
  uint32_t x = *state ? *state : 0x9E3779B9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *state = x;
  return x;
}

/* Split modes shared by the targets that feed a stream in pieces. */
enum {
  FZ_SPLIT_WHOLE,  /* everything in one call */
  FZ_SPLIT_BYTES,  /* one byte per call */
  FZ_SPLIT_FIXED,  /* a fixed size 2..17 taken from the mode byte */
  FZ_SPLIT_SMALL,  /* pseudo-random sizes 1..32 */
  FZ_SPLIT_LARGE,  /* pseudo-random sizes 1..1024 */
  FZ_SPLIT_HALVES, /* two pieces, cut where the mode byte says */
  FZ_SPLIT_MODES
};

typedef struct fz_splitter {
  int mode;
  size_t fixed, cut, pos, total;
  uint32_t rng;
} fz_splitter;

/* mode_byte picks the mode and its parameter; seed feeds the PRNG. */
static inline void fz_split_init(fz_splitter *s, uint8_t mode_byte,
                                 uint32_t seed, size_t total) {
  s->mode = (mode_byte & 0x0F) % FZ_SPLIT_MODES;
  s->fixed = (size_t)(mode_byte >> 4) + 2;
  s->cut = total * (size_t)(mode_byte >> 4) / 16;
  s->pos = 0;
  s->total = total;
  s->rng = seed * 2654435761u + mode_byte + 1;
}

/* Size of the next piece (0 once everything was handed out). */
static inline size_t fz_split_next(fz_splitter *s) {
  size_t left = s->total - s->pos, n = left;
  switch (s->mode) {
  case FZ_SPLIT_BYTES: n = 1; break;
  case FZ_SPLIT_FIXED: n = s->fixed; break;
  case FZ_SPLIT_SMALL: n = 1 + fz_rand(&s->rng) % 32; break;
  case FZ_SPLIT_LARGE: n = 1 + fz_rand(&s->rng) % 1024; break;
  case FZ_SPLIT_HALVES: n = s->pos < s->cut ? s->cut - s->pos : left; break;
  default: break;
  }
  if (n > left)
    n = left;
  s->pos += n;
  return n;
}

#endif
