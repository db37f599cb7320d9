/* play.h: the game as the load generator's clients see it (PROTOCOL.md).
 *
 * Every client registers with ["new_player","bI"] once open and follows the
 * render frames for the measurement (measure.h): a spectator only needs to
 * know which frames are the tick's and when the field was reset, which most
 * frames tell on their first bytes. The first --players clients also play:
 * ["join"], a random arrow key every --key-interval ms while alive, join
 * again --rejoin-delay ms after their p_gameover (or after "Maximum players
 * reached"), and they follow their own snake's head cell by cell to time a
 * turn from the key to its effect.
 */
#ifndef SB_PLAY_H
#define SB_PLAY_H

#include <stdint.h>

#include "client.h"
#include "measure.h"

typedef struct sb_play_stats {
  uint64_t bad_json; /* Frames that are not an array of commands. */
  uint64_t joins_sent, join_refused, join_retries, deaths, keys_sent;
  uint64_t tracks_lost; /* Our head vanished without our p_gameover. */
} sb_play_stats;

typedef struct sb_member sb_member;
typedef struct sb_player sb_player;

typedef struct sb_play {
  sb_fleet *fleet;
  sb_meas *meas;
  sb_member *members; /* One per client (owned). */
  sb_player *players; /* The first opt->players clients' (owned). */
  uint32_t nplayers;
  sb_play_stats stats;
} sb_play;

/* The client callbacks of this layer: give them to sb_fleet_init() with the
 * sb_play as data, then call sb_play_init(). */
extern const sb_client_cb sb_play_client_cb;

/* Attaches a member to each of F's clients and a timer on F's loop to each
 * player, recording into M. Returns 0, or -1 when out of memory;
 * sb_play_close() then sb_play_free() (after the loop has run the timers'
 * close callbacks) release it. */
int sb_play_init(sb_play *p, sb_fleet *f, sb_meas *m);
/* Stops every player's timer: the run ends. */
void sb_play_stop(sb_play *p);
/* Closes every client's run of render frames: the window ends. */
void sb_play_flush(sb_play *p);
/* Closes the players' timers. */
void sb_play_close(sb_play *p);
void sb_play_free(sb_play *p);

#endif
