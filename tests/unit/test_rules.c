/* The room's rules that follow the clock, tested alone with made-up times:
 * timed rounds and their standings (src/room/round.h), chat limits
 * (src/room/chat.h). */
#include "room/chat.h"
#include "room/round.h"
#include "test.h"

TEST(round_off) {
  sp_round r;
  sp_round_init(&r, 0, 6);
  uint64_t wait;
  ASSERT_EQ(r.state, SP_ROUND_OFF);
  ASSERT_EQ(sp_round_join(&r, 1000, 1, "a", 1, &wait), 0);
  ASSERT_EQ(r.state, SP_ROUND_OFF);
  ASSERT_EQ(sp_round_left(&r, 1000), 0);
  ASSERT_EQ(sp_round_next_ms(&r, 1000), 0);
  sp_round_free(&r);
}

/* A round is wall time from its first join: a death and a join again do
 * not restart it, and the seconds left count down whatever happens. */
TEST(round_is_fixed_wall_time) {
  sp_round r;
  sp_round_init(&r, 60, 6);
  uint64_t wait;
  ASSERT_EQ(r.state, SP_ROUND_IDLE);
  ASSERT_EQ(sp_round_join(&r, 10000, 1, "ann", 2, &wait), 1); /* starts */
  ASSERT_EQ(sp_round_left(&r, 10000), 60);
  ASSERT_EQ(sp_round_next_ms(&r, 10000), 1000);
  ASSERT_EQ(sp_round_left(&r, 10001), 60); /* rounded up */
  ASSERT_EQ(sp_round_next_ms(&r, 10001), 999);
  ASSERT_EQ(sp_round_left(&r, 11000), 59);
  /* a lone player dies (nothing to tell the round) and joins again */
  ASSERT_EQ(sp_round_join(&r, 42000, 1, "ann", 2, &wait), 0);
  ASSERT_EQ(sp_round_left(&r, 42000), 28);
  ASSERT_EQ(sp_round_left(&r, 69999), 1);
  ASSERT_EQ(sp_round_left(&r, 70000), 0);
  ASSERT_EQ(sp_round_left(&r, 99000), 0);
  sp_round_free(&r);
}

TEST(round_standings_and_next_round) {
  sp_round r;
  sp_round_init(&r, 30, 6);
  uint64_t wait;
  ASSERT_EQ(sp_round_join(&r, 0, 1, "ann", 2, &wait), 1);
  ASSERT_EQ(sp_round_join(&r, 100, 2, "bob", 3, &wait), 0);
  sp_round_score(&r, 3, "bot-1", 4, 0); /* a bot, recorded by score */
  sp_round_score(&r, 1, "ann", 0, 5);
  sp_round_score(&r, 2, "bob", 0, 9);
  sp_round_score(&r, 1, "ann", 0, 0);   /* ann died and joined again: her */
  sp_round_score(&r, 1, "ann", 0, 3);   /* best life counts */
  sp_round_score(&r, 3, "bot-1", 0, 5); /* ties: the earlier 5 wins */
  sp_round_finish(&r, 30000);
  ASSERT_EQ(r.state, SP_ROUND_STANDINGS);
  ASSERT_EQ(r.n, 3);
  ASSERT_STR_EQ(r.entries[0].name, "bob");
  ASSERT_EQ(r.entries[0].score, 9);
  ASSERT_EQ(r.entries[0].color, 3);
  ASSERT_STR_EQ(r.entries[1].name, "ann");
  ASSERT_EQ(r.entries[1].score, 5);
  ASSERT_EQ(r.entries[1].color, 2);
  ASSERT_STR_EQ(r.entries[2].name, "bot-1");
  ASSERT_EQ(r.entries[2].color, 4);
  /* scores after the end do not change the standings */
  sp_round_score(&r, 1, "ann", 0, 50);
  ASSERT_EQ(r.entries[1].score, 5);
  /* joins wait for the end of the standings */
  ASSERT_EQ(sp_round_join(&r, 31000, 1, "ann", 2, &wait), -1);
  ASSERT_EQ(wait, 5000);
  ASSERT_EQ(sp_round_next_ms(&r, 31000), 5000);
  sp_round_idle(&r);
  ASSERT_EQ(r.state, SP_ROUND_IDLE);
  ASSERT_EQ(r.n, 0);
  /* the next join starts the next round, at full length */
  ASSERT_EQ(sp_round_join(&r, 50000, 2, "bob", 3, &wait), 1);
  ASSERT_EQ(sp_round_left(&r, 50000), 30);
  ASSERT_EQ(r.n, 1);
  sp_round_free(&r);
}

/* Beyond SP_ROUND_MAX_ENTRIES players, a higher score takes the place of
 * the lowest, so a flood of idle joins cannot push a real winner out. */
TEST(round_entries_bounded) {
  sp_round r;
  sp_round_init(&r, 30, 6);
  uint64_t wait;
  for (uint32_t id = 1; id <= SP_ROUND_MAX_ENTRIES + 50; id++)
    sp_round_join(&r, 0, id, "idle", 1, &wait);
  ASSERT_EQ(r.n, SP_ROUND_MAX_ENTRIES);
  sp_round_score(&r, 100000, "late", 5, 7);
  sp_round_finish(&r, 30000);
  ASSERT_EQ(r.n, SP_ROUND_MAX_ENTRIES);
  ASSERT_STR_EQ(r.entries[0].name, "late");
  ASSERT_EQ(r.entries[0].score, 7);
  ASSERT_EQ(r.entries[0].color, 5);
  sp_round_free(&r);
}

static sp_msg chat_msg(const char *text, size_t chars, int over) {
  sp_msg m;
  memset(&m, 0, sizeof m);
  m.type = SP_MSG_CHAT;
  snprintf(m.text, sizeof m.text, "%s", text);
  m.chars = chars;
  m.over = over;
  return m;
}

TEST(chat_limits) {
  sp_chat_limits lim = {.max_chars = 10, .per_10s = 5};
  sp_chat_bucket b = {0};
  char reason[96];
  uint32_t retry;
  sp_msg ok = chat_msg("hello", 5, 0);
  sp_msg empty = chat_msg("", 0, 0);
  sp_msg long1 = chat_msg("hello world", 11, 0);
  sp_msg huge = chat_msg("x", 500, 1);
  ASSERT_EQ(sp_chat_check(&b, &lim, &empty, 0, &retry, reason, sizeof reason),
            SP_CHAT_EMPTY);
  ASSERT_EQ(sp_chat_check(&b, &lim, &long1, 0, &retry, reason, sizeof reason),
            SP_CHAT_TOO_LONG);
  ASSERT_STR_EQ(reason, "Messages are at most 10 characters");
  ASSERT_EQ(sp_chat_check(&b, &lim, &huge, 0, &retry, reason, sizeof reason),
            SP_CHAT_TOO_LONG);
  /* a burst of 5, then one every 2 s */
  for (int i = 0; i < 5; i++)
    ASSERT_EQ(sp_chat_check(&b, &lim, &ok, 1000, &retry, reason, sizeof reason),
              SP_CHAT_OK);
  ASSERT_EQ(sp_chat_check(&b, &lim, &ok, 1000, &retry, reason, sizeof reason),
            SP_CHAT_TOO_FAST);
  ASSERT_EQ(retry, 2000);
  ASSERT_STR_EQ(reason, "Too many messages: at most 5 in 10 seconds");
  /* refused messages cost nothing: half way, still 1 s to wait */
  ASSERT_EQ(sp_chat_check(&b, &lim, &ok, 2000, &retry, reason, sizeof reason),
            SP_CHAT_TOO_FAST);
  ASSERT_EQ(retry, 1000);
  ASSERT_EQ(sp_chat_check(&b, &lim, &ok, 3000, &retry, reason, sizeof reason),
            SP_CHAT_OK);
  /* a long silence gives back the burst, not more */
  int sent = 0;
  while (sp_chat_check(&b, &lim, &ok, 600000, &retry, reason, sizeof reason) ==
         SP_CHAT_OK)
    sent++;
  ASSERT_EQ(sent, 5);
  /* chat off */
  sp_chat_limits off = {.max_chars = 10, .per_10s = 0};
  ASSERT_EQ(sp_chat_check(&b, &off, &ok, 0, &retry, reason, sizeof reason),
            SP_CHAT_OFF);
}

int main(void) {
  RUN(round_off);
  RUN(round_is_fixed_wall_time);
  RUN(round_standings_and_next_round);
  RUN(round_entries_bounded);
  RUN(chat_limits);
  return TEST_SUMMARY();
}
