/* room: one game session, run by the loop that owns it. A room keeps a
 * record (sp_player) of each of its members, wherever their connections
 * live, its game, and its tick timer: the timer starts with the first
 * `join` (after `reset_world`) and stops after the tick in which the last
 * live snake died. Each tick is encoded once into shared frames, and the
 * same bytes go once to each loop's view of the room (member.h), whose
 * loop writes them to its members.
 *
 * Rooms are created and freed by the lobby (lobby.h); everything here runs
 * on the loop thread that owns the room. */
#ifndef SP_ROOM_H
#define SP_ROOM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/counter.h"
#include "game/game.h"
#include "net/frame.h"
#include "room/bots.h"
#include "room/chat.h"
#include "room/member.h"
#include "room/proto.h"
#include "room/relay.h"
#include "store/scores.h"

#define SP_ROOM_NAME_MAX 32

typedef struct sp_room sp_room;
typedef struct sp_player sp_player;

/* Upper bounds of the tick duration histogram, in microseconds (the
 * metrics show them in seconds); the last bucket is everything above. */
#define SP_TICK_BUCKETS_US                                                     \
  { 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000 }
#define SP_TICK_BUCKETS 11

/* Counters of the rooms one loop runs, for /metrics, /api/stats and the
 * benchmarks: written by that loop only, readable from any thread
 * (core/counter.h). */
typedef struct sp_room_stats {
  sp_counter ticks;
  sp_counter tick_ns; /* loop-thread CPU time spent in ticks */
  /* Wall time of each tick's work, by SP_TICK_BUCKETS_US (not cumulative
   * here), and its sum. */
  sp_counter tick_hist[SP_TICK_BUCKETS];
  sp_counter tick_wall_ns;
  sp_counter late_ticks; /* started over a quarter of an interval late */
  sp_counter rooms;      /* gauges: rooms run here, */
  sp_counter snakes;     /* their live snakes (bots too), */
  sp_counter players;    /* their members that sent new_player */
  sp_counter deaths;     /* snakes that died */
  sp_bot_stats bots;
} sp_room_stats;

/* What all rooms of a lobby (one loop) share. Owned by the lobby. */
typedef struct sp_room_env {
  uv_loop_t *loop;
  sp_game_config game; /* seed is replaced per room */
  uint64_t interval_ns;
  int has_seed;
  uint64_t seed;
  atomic_uint *next_player_id; /* shared by every loop: ids are unique */
  int nloops;                  /* loops whose views a room may send to */
  sp_relay *relay;             /* this loop's */
  /* This loop's copy of the global top scores: changed at once by a death
   * here (so `top_scores` follows `p_gameover` within the tick) and
   * replaced when the owner of the table sends a new one. */
  sp_score_row top[SP_TOP_SCORES];
  size_t ntop;
  sp_frame *top_scores; /* cached `[["top_scores",...]]`, NULL when stale */
  /* Cluster mode: the table is the cluster's (Redis), and only the copy
   * that comes back from it is shown, never one changed here, so that a
   * score a client saw is one Redis acknowledged (and survives a crash of
   * this node). A death still sends `top_scores` (the table as it is);
   * the changed one follows when it comes back. 0 on a single node. */
  int shared_top;
  /* This loop's copy changed by a death in room `origin`, which sends the
   * new table itself: the lobby tells every other room. */
  void (*on_top_changed)(void *lobby, sp_room *origin);
  void *lobby;
  /* A snake died with a score: the table's owner records it. */
  void (*on_score)(void *data, const char *name, uint32_t score);
  /* The number of live snakes of room `uid` changed. */
  void (*on_snakes)(void *data, uint64_t uid, size_t snakes);
  /* Cluster mode (NULL on a single node): whether this node still holds
   * the room's lease with the room's epoch. Asked before every tick, so a
   * node that was stopped past its lease never ticks a room that another
   * node may now run; a room whose lease is gone stops (sp_room_lose). */
  int (*lease_ok)(void *data, const char *room, uint64_t epoch);
  struct sp_directory *dir; /* shared: a room that loses its lease says so */
  void *hooks_data;
  int bots;                   /* computer snakes per room while humans play */
  uint32_t round_seconds;     /* 0: unlimited */
  uint32_t standings_seconds; /* a round's standings, before the next */
  sp_chat_limits chat;
  double tick_rate;
  uint64_t boot;         /* room_info's boot: one number per process */
  uint32_t bot_delay_ms; /* testing knob (SNAKEPIT_TEST_BOT_DELAY_MS) */
  sp_room_stats *stats;  /* may be NULL */
  /* Testing knob (SNAKEPIT_TEST_FAIL_ROOM): the room of this name fails on
   * its 5th tick as if out of memory, to prove a failing room is reset
   * without disturbing the others. NULL in normal runs. */
  const char *fail_room;
} sp_room_env;

/* Creates an empty room (life `uid` of the name, see directory.h).
 * Returns 0 or UV_ENOMEM; the lobby owns *out and ends it with
 * sp_room_close() once it has no members. */
int sp_room_new(sp_room_env *env, const char *name, uint64_t uid,
                uint64_t epoch, sp_room **out);
/* The room may not run here any more (cluster mode: its lease is gone):
 * its game stops for good and every member is closed with 1012 (service
 * restart: the client connects again and lands on the room's new node).
 * The room closes as usual once they have left. */
void sp_room_lose(sp_room *r, const char *why);
/* Stops the timer and frees the room in the timer's close callback. */
void sp_room_close(sp_room *r);

const char *sp_room_name(const sp_room *r);
size_t sp_room_members(const sp_room *r);

/* Adds a member, from any loop (not yet a player: it receives nothing
 * until it sends new_player). NULL when out of memory. */
sp_player *sp_room_enter(sp_room *r, sp_member *m);
/* Handles one client message, decoded on the member's loop. */
void sp_player_message(sp_player *p, const sp_msg *msg);
/* The member's connection is gone: its snake dies, and the player is
 * freed (the member itself is released by the lobby). */
void sp_player_leave(sp_player *p);
sp_room *sp_player_room(const sp_player *p);

/* Queues a frame on every registered member of the room. */
void sp_room_broadcast(sp_room *r, sp_frame *f);

/* ---- operators (the admin console), on the owner's loop ----------------- */

/* Appends {"name":..,"members":N,"players":[{"id","name","alive","score",
 * "color"},...]}: every member that sent new_player, in order of arrival;
 * score is the live snake's (0 without one). */
void sp_room_admin_json(sp_room *r, sp_buf *out);
/* Closes player `id`'s connection with code and reason; 1 if it is here. */
int sp_room_kick(sp_room *r, uint32_t id, uint16_t code, const char *reason);
/* Closes every member with code and reason; returns how many. */
size_t sp_room_close_all(sp_room *r, uint16_t code, const char *reason);
/* Sends ["announce", TEXT] to every registered member. Returns 0 or
 * UV_ENOMEM. */
int sp_room_announce(sp_room *r, const char *text);

/* The top_scores frame, encoded once per change of the table. Returns a
 * borrowed frame (NULL when out of memory). */
sp_frame *sp_room_env_top_scores(sp_room_env *env);

#endif
