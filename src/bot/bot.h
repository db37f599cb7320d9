/* bot: choosing a computer snake's direction by path search on a snapshot
 * of the field. Pure: no I/O, no clock, no globals; safe to run on any thread.
 *
 * A search needs working memory proportional to the field. It lives in a
 * caller-owned sp_bot_scratch, allocated once (sp_bot_scratch_init) and reused
 * for every call, so a call allocates nothing. One scratch serves one call at a
 * time: give each worker thread (or each job) its own. */
#ifndef SP_BOT_H
#define SP_BOT_H

#include <stdint.h>

#include "game/game.h"

typedef struct sp_bot_snapshot {
  int width, height;
  const sp_cell *cells; /* width*height cells, row-major, copied at the tick */
  int head_x, head_y;   /* this bot's head */
  int dir;              /* and its current direction (SP_DIR_*) */
  int length;           /* its length in cells; 0 if unknown */
  /* Other live snakes' heads, x0,y0,x1,y1,... (2*nheads ints): the cells one
   * of them can reach next tick are dangerous. This bot's own head, if it is
   * listed, is skipped. */
  int nheads;
  const int *heads_xy;
} sp_bot_snapshot;

/* Working memory of a search. The fields are private. */
typedef struct sp_bot_scratch {
  int ncells;      /* capacity in cells */
  uint32_t gen;    /* current visit generation; 0 is never used */
  uint32_t *seen;  /* ncells visit stamps */
  uint32_t *queue; /* ncells cells, packed as y << 16 | x */
  uint8_t *first;  /* ncells: the first step (SP_DIR_*) of the path found */
} sp_bot_scratch;

/* Prepares scratch memory for fields of up to w*h cells. Returns 0, UV_EINVAL
 * or UV_ENOMEM; on success the caller releases it with sp_bot_scratch_free().
 * Calling it again on an initialised scratch is not allowed: free it first. */
int sp_bot_scratch_init(sp_bot_scratch *scratch, int w, int h);
void sp_bot_scratch_free(sp_bot_scratch *scratch);

/* Returns the direction (SP_DIR_*) to take, never the reverse of s->dir.
 *
 * A step is ranked by, in this order: it stays on the field on a passable cell
 * (' ' or '1'..'9'); the area reachable after it is at least the bot's need
 * (twice its length, at least 8, at most 200 cells); no other head can reach
 * it next tick. Among the best steps it takes the first step of a shortest
 * path to the most attractive digit (value / distance, lowered when another
 * head is closer to it); without a reachable digit, the step with the largest
 * open area, going straight on ties. Steps that are all dead ends are ranked by
 * their area. A scratch smaller than the field degrades to a look one step
 * ahead, never to a crash. Reads *s and the cells, writes only *scratch. */
int sp_bot_choose(const sp_bot_snapshot *s, sp_bot_scratch *scratch);

#endif
