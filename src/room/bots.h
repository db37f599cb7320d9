/* bots: the computer snakes of one room. While a human snake is alive the
 * room keeps up to N bots (named bot-1, bot-2, ...); they play through the
 * same game and protocol as people. Each bot's next direction comes from a
 * path search (bot/bot.h) that runs on the libuv thread pool on a snapshot
 * of the field taken after a tick, one for all the bots of the room; its
 * answer is applied before the next tick. A tick never waits: a bot whose
 * answer is late keeps its direction (the late answer is dropped), and the
 * loop thread never searches. */
#ifndef SP_BOTS_H
#define SP_BOTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/counter.h"
#include "game/game.h"

typedef struct sp_bots sp_bots;

/* Counters of the bots of one loop's rooms: written by that loop only
 * (the answers come back on it), readable from any thread. */
typedef struct sp_bot_stats {
  sp_counter searches;  /* answers that came back */
  sp_counter search_ns; /* time spent searching, on pool threads */
  sp_counter late;      /* answers still pending at a tick */
} sp_bot_stats;

typedef struct sp_bots_config {
  uv_loop_t *loop;
  int max_bots;
  atomic_uint *next_id; /* ids come from the players' counter */
  uint32_t delay_ms;    /* testing knob: each search sleeps this long */
  sp_bot_stats *stats;  /* may be NULL */
} sp_bots_config;

/* Returns 0 or UV_ENOMEM; the room owns *out and ends it with
 * sp_bots_close(). */
int sp_bots_new(const sp_bots_config *cfg, sp_bots **out);

/* Before a tick: turns each bot whose answer has arrived. */
void sp_bots_steer(sp_bots *b, sp_game *g);
/* After a tick: a search for every live, born bot that has none running. */
void sp_bots_think(sp_bots *b, const sp_game *g);

/* Calls joined(data, id, name, color) for each bot it adds so that, while
 * `humans` snakes are alive, up to max_bots bots play without taking a
 * place from a person (at most `free_places` are added). */
void sp_bots_fill(sp_bots *b, sp_game *g, size_t humans, size_t free_places,
                  void (*joined)(void *data, uint32_t id, const char *name,
                                 int color),
                  void *data);
/* Kills one live bot (to make room for a person); 1 if it did. */
int sp_bots_evict(sp_bots *b, sp_game *g);
/* Kills every live bot (no human is left). */
void sp_bots_clear(sp_bots *b, sp_game *g);
/* Marks bots whose snakes died as free to join again. */
void sp_bots_reap(sp_bots *b, const sp_game *g);

/* The name of bot `id`, or NULL if id is not one of this room's bots. */
const char *sp_bots_name(const sp_bots *b, uint32_t id);
size_t sp_bots_live(const sp_bots *b);

/* How the bots' snapshots are shared, for tests: one per tick in which a
 * bot searches, whatever the number of bots. */
typedef struct sp_bots_snap_stats {
  uint64_t taken;   /* snapshots taken */
  uint64_t queued;  /* searches queued on them */
  uint64_t allocs;  /* snapshot buffers allocated (the others are reused) */
  uint64_t dropped; /* answers that came after the tick they were for */
  uint32_t live;    /* snapshots a queued search still holds */
} sp_bots_snap_stats;

void sp_bots_snap_stats_get(const sp_bots *b, sp_bots_snap_stats *out);

/* Frees the bots once no search is running any more. */
void sp_bots_close(sp_bots *b);

#endif
