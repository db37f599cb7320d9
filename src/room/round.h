/* round: timed rounds (--round-seconds) and their standings. Pure: every
 * time comes from the caller (the room's loop clock, in milliseconds), so
 * the rules are tested alone.
 *
 * A round is a fixed span of wall time that starts with the first join of
 * an idle room; deaths, joins and an empty field change nothing about its
 * end. At its end the room shows the standings (each player's best life in
 * the round, winner first) for standings_seconds, during which joins are
 * refused; then the room is idle, and the next join starts the next round. */
#ifndef SP_ROUND_H
#define SP_ROUND_H

#include <stddef.h>
#include <stdint.h>

#include "room/proto.h"

typedef enum {
  SP_ROUND_OFF,       /* no timed rounds (seconds == 0) */
  SP_ROUND_IDLE,      /* waiting for a join */
  SP_ROUND_RUNNING,   /* until end_ms */
  SP_ROUND_STANDINGS, /* showing the last round's result until end_ms */
} sp_round_state;

/* Players remembered per round; the lowest scores give way beyond it. */
#define SP_ROUND_MAX_ENTRIES 256
/* Rows sent in `round_end`. */
#define SP_ROUND_STANDINGS_ROWS 10

typedef struct sp_round_entry {
  uint32_t id;
  uint32_t score; /* best life in this round */
  uint32_t seq;   /* when it got that score: earlier wins a tie */
  uint8_t color;  /* of its last snake */
  char name[SP_NAME_SIZE];
} sp_round_entry;

typedef struct sp_round {
  sp_round_state state;
  uint32_t seconds, standings_seconds;
  uint64_t end_ms;
  uint32_t seq;
  sp_round_entry *entries; /* owned; standings order after sp_round_finish */
  size_t n, cap;
} sp_round;

void sp_round_init(sp_round *r, uint32_t seconds, uint32_t standings_seconds);
void sp_round_free(sp_round *r);

/* A join of player id at now. Returns 1 if it starts a round, 0 if it
 * joins the running one (or rounds are off), -1 if refused because the
 * standings are showing (*wait_ms until they end). An out-of-memory
 * failure only forgets the player for the standings. */
int sp_round_join(sp_round *r, uint64_t now_ms, uint32_t id, const char *name,
                  uint8_t color, uint64_t *wait_ms);

/* The life of `id` (called name; colour 0 keeps the one it had) has
 * `score` now (a p_score or a death). Records it only while a round runs. */
void sp_round_score(sp_round *r, uint32_t id, const char *name, uint8_t color,
                    uint32_t score);

/* Whole seconds left of the running round, rounded up (0 at the end). */
uint32_t sp_round_left(const sp_round *r, uint64_t now_ms);
/* Milliseconds from now until the count of seconds left changes (or the
 * standings end): when the room's timer should fire next. */
uint64_t sp_round_next_ms(const sp_round *r, uint64_t now_ms);

/* The running round is over: sorts the standings and shows them until
 * now + standings_seconds. */
void sp_round_finish(sp_round *r, uint64_t now_ms);
/* The standings are over: idle, and the entries are forgotten. */
void sp_round_idle(sp_round *r);

#endif
