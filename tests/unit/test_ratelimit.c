/* Unit tests of the message rate limit (src/net/ratelimit.h): a pure token
 * bucket, so every verdict is checked at chosen timestamps. The rates and
 * times are picked so that the refills are exact in binary (halves and
 * whole tokens), which makes "exactly this many messages" a fair claim. */
#include "net/ratelimit.h"
#include "test.h"

#define T0 100000 /* ms: any start time; the clock is the caller's */

/* Takes n messages at `now` and returns how many were let through; stops
 * at the first refusal so that the drop bookkeeping is touched once. */
static int take_ok(sp_ratelimit *r, const sp_ratelimit_config *cfg,
                   uint64_t now, int n) {
  int ok = 0;
  while (ok < n && sp_ratelimit_take(r, cfg, now) == SP_RATE_OK)
    ok++;
  return ok;
}

TEST(bucket_starts_full) {
  sp_ratelimit_config cfg = {.rate = 10, .burst = 5, .close_after_ms = 3000};
  sp_ratelimit r;
  sp_ratelimit_init(&r, &cfg, T0);
  for (int i = 0; i < 5; i++)
    ASSERT_EQ(sp_ratelimit_take(&r, &cfg, T0), SP_RATE_OK);
  ASSERT_EQ(sp_ratelimit_take(&r, &cfg, T0), SP_RATE_DROP);
  ASSERT_EQ(sp_ratelimit_take(&r, &cfg, T0), SP_RATE_DROP);
}

TEST(bucket_refills_at_rate) {
  /* 10 per second: a token every 100 ms, half a token every 50 ms. */
  sp_ratelimit_config cfg = {.rate = 10, .burst = 5, .close_after_ms = 60000};
  sp_ratelimit r;
  sp_ratelimit_init(&r, &cfg, T0);
  ASSERT_EQ(take_ok(&r, &cfg, T0, 10), 5);
  ASSERT_EQ(sp_ratelimit_take(&r, &cfg, T0 + 50), SP_RATE_DROP); /* 0.5 */
  ASSERT_EQ(sp_ratelimit_take(&r, &cfg, T0 + 100), SP_RATE_OK);  /* 1.0 */
  ASSERT_EQ(sp_ratelimit_take(&r, &cfg, T0 + 100), SP_RATE_DROP);
  ASSERT_EQ(take_ok(&r, &cfg, T0 + 300, 10), 2);
  ASSERT_EQ(take_ok(&r, &cfg, T0 + 699, 10), 3); /* 3.99 */
  ASSERT_EQ(take_ok(&r, &cfg, T0 + 700, 10), 1); /* 0.99 + 0.01 */
}

TEST(refill_counts_from_the_last_call_not_the_start) {
  /* Below the burst, a pause of 500 ms at 10/s is worth exactly 5 tokens,
   * whenever it happens. */
  sp_ratelimit_config cfg = {.rate = 10, .burst = 20, .close_after_ms = 60000};
  sp_ratelimit r;
  sp_ratelimit_init(&r, &cfg, T0);
  ASSERT_EQ(take_ok(&r, &cfg, T0, 100), 20);
  ASSERT_EQ(take_ok(&r, &cfg, T0 + 500, 100), 5);
  ASSERT_EQ(take_ok(&r, &cfg, T0 + 1000, 100), 5);
  ASSERT_EQ(take_ok(&r, &cfg, T0 + 2500, 100), 15);
}

TEST(bucket_never_above_burst) {
  sp_ratelimit_config cfg = {.rate = 10, .burst = 5, .close_after_ms = 60000};
  sp_ratelimit r;
  sp_ratelimit_init(&r, &cfg, T0);
  /* Idle for an hour: still only the burst. */
  ASSERT_EQ(take_ok(&r, &cfg, T0 + 3600000, 100), 5);
  /* Idle while full: the surplus is not kept for later either. */
  sp_ratelimit_init(&r, &cfg, T0);
  ASSERT_EQ(sp_ratelimit_take(&r, &cfg, T0 + 10000), SP_RATE_OK);
  ASSERT_EQ(take_ok(&r, &cfg, T0 + 10000, 100), 4);
  ASSERT_EQ(take_ok(&r, &cfg, T0 + 10100, 100), 1);
}

TEST(close_after_sustained_drops_with_oks_between) {
  /* A client sending every 50 ms at a limit of 10/s: each second message
   * is dropped, the others pass. The run of drops began with the first
   * one at T0 and has no gap, so the first drop 3000 ms or more after T0
   * is the close. */
  sp_ratelimit_config cfg = {.rate = 10, .burst = 5, .close_after_ms = 3000};
  sp_ratelimit r;
  sp_ratelimit_init(&r, &cfg, T0);
  ASSERT_EQ(take_ok(&r, &cfg, T0, 10), 5); /* and one drop at T0 */
  int closes = 0;
  for (uint64_t dt = 50; dt <= 3050; dt += 50) {
    sp_rate_verdict want = dt % 100 == 0 ? SP_RATE_OK
                           : dt >= 3000  ? SP_RATE_CLOSE
                                         : SP_RATE_DROP;
    sp_rate_verdict got = sp_ratelimit_take(&r, &cfg, T0 + dt);
    if (got != want)
      FAILF("at T0+%" PRIu64 ": verdict %d, want %d", dt, (int)got, (int)want);
    closes += got == SP_RATE_CLOSE;
  }
  ASSERT_EQ(closes, 1);
}

/* A quarter of a token per second: in these tests the bucket, emptied at
 * T0, never holds a whole token again, so every later message is a drop
 * and only the gaps between drops matter. */
static const sp_ratelimit_config slow = {
    .rate = 0.25, .burst = 1, .close_after_ms = 2500};

TEST(close_exactly_at_close_after_ms) {
  sp_ratelimit r;
  sp_ratelimit_init(&r, &slow, T0);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0), SP_RATE_OK);
  /* The run starts with the drop at T0+100. */
  for (uint64_t dt = 100; dt <= 2500; dt += 100)
    ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + dt), SP_RATE_DROP);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 2599), SP_RATE_DROP); /* 2499 */
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 2600), SP_RATE_CLOSE);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 2700), SP_RATE_CLOSE);
}

TEST(gap_of_a_second_resets_the_run) {
  /* The header: drops that keep coming with "no gap of a second or more
   * between two". A gap of exactly 1000 ms ends the run, and the next run
   * is measured from the drop after the gap. */
  sp_ratelimit r;
  sp_ratelimit_init(&r, &slow, T0);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0), SP_RATE_OK);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 100), SP_RATE_DROP);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 1100), SP_RATE_DROP); /* gap */
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 2000), SP_RATE_DROP);
  /* 2800 ms after the first drop, but only 1800 into the new run. */
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 2900), SP_RATE_DROP);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 3599), SP_RATE_DROP);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 3600), SP_RATE_CLOSE);
}

TEST(gaps_just_under_a_second_keep_the_run) {
  sp_ratelimit r;
  sp_ratelimit_init(&r, &slow, T0);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0), SP_RATE_OK);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 100), SP_RATE_DROP);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 1099), SP_RATE_DROP);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 2098), SP_RATE_DROP);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 3097), SP_RATE_CLOSE);
}

TEST(long_gap_resets_after_a_close) {
  /* A client told to go that keeps sending after a pause is judged afresh:
   * the old run does not carry over. */
  sp_ratelimit r;
  sp_ratelimit_init(&r, &slow, T0);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0), SP_RATE_OK);
  for (uint64_t dt = 100; dt < 2600; dt += 500)
    ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + dt), SP_RATE_DROP);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 2600), SP_RATE_CLOSE);
  /* 1.5 s later the bucket holds 0.65 + 0.375 tokens: one passes. */
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 4100), SP_RATE_OK);
  /* A new run from T0+4100, after a gap of 1500 ms. */
  for (uint64_t dt = 4100; dt < 6600; dt += 500)
    ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + dt), SP_RATE_DROP);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 6599), SP_RATE_DROP);
  ASSERT_EQ(sp_ratelimit_take(&r, &slow, T0 + 6600), SP_RATE_CLOSE);
}

TEST(init_gives_a_fresh_full_bucket) {
  sp_ratelimit_config cfg = {.rate = 10, .burst = 5, .close_after_ms = 3000};
  sp_ratelimit r;
  sp_ratelimit_init(&r, &cfg, T0);
  ASSERT_EQ(take_ok(&r, &cfg, T0, 100), 5);
  for (uint64_t dt = 50; dt < 3050; dt += 50)
    sp_ratelimit_take(&r, &cfg, T0 + dt);
  ASSERT_EQ(sp_ratelimit_take(&r, &cfg, T0 + 3050), SP_RATE_CLOSE);
  /* The same client state made anew: full, and no run of drops. */
  sp_ratelimit_init(&r, &cfg, T0 + 3050);
  ASSERT_EQ(take_ok(&r, &cfg, T0 + 3050, 100), 5);
  ASSERT_EQ(sp_ratelimit_take(&r, &cfg, T0 + 3050), SP_RATE_DROP);
}

int main(void) {
  RUN(bucket_starts_full);
  RUN(bucket_refills_at_rate);
  RUN(refill_counts_from_the_last_call_not_the_start);
  RUN(bucket_never_above_burst);
  RUN(close_after_sustained_drops_with_oks_between);
  RUN(close_exactly_at_close_after_ms);
  RUN(gap_of_a_second_resets_the_run);
  RUN(gaps_just_under_a_second_keep_the_run);
  RUN(long_gap_resets_after_a_close);
  RUN(init_gives_a_fresh_full_bucket);
  return TEST_SUMMARY();
}
