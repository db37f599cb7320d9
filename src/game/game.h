/* game: the rules of Snakepit (PROTOCOL.md), pure: no sockets, no JSON, no
 * clock. Everything random comes from the game's own seeded generator, so the
 * same seed and the same calls give the same events.
 *
 * Every change to the field is reported as an event (a render, a score, a
 * death) in the order it happened; the caller reads them with
 * sp_game_events() and clears them with sp_game_clear_events(). The room turns
 * them into protocol frames. */
#ifndef SP_GAME_H
#define SP_GAME_H

#include <stddef.h>
#include <stdint.h>

#define SP_NUM_COLORS 6
#define SP_GAME_OVER_TEXT " >>> GAME OVER <<< "

typedef struct sp_game sp_game;

/* Directions, in the order of the arrow key codes 37..40. */
enum { SP_DIR_LEFT, SP_DIR_UP, SP_DIR_RIGHT, SP_DIR_DOWN };

typedef struct sp_cell {
  char ch;       /* ' ' when empty */
  uint8_t color; /* 0 for empty cells, stones, corpses and text */
} sp_cell;

typedef struct sp_game_config {
  int width, height;
  int max_snakes;
  int init_length;
  double digit_rate; /* per moving snake per tick */
  double stone_rate; /* per tick */
  /* Straight run a newborn should have: free cells ahead of its head (the
   * room sets it to two seconds' worth of ticks). 0: no wish. */
  int min_run;
  uint64_t seed;
} sp_game_config;

typedef enum { SP_EV_RENDER, SP_EV_SCORE, SP_EV_DEATH } sp_event_type;

/* Why a snake died (SP_EV_DEATH). */
typedef enum {
  SP_CAUSE_WALL = 1, /* left the field */
  SP_CAUSE_STONE,    /* a `#` */
  SP_CAUSE_SNAKE,    /* another live snake; its id in `by` */
  SP_CAUSE_SELF,     /* its own body */
  SP_CAUSE_CORPSE,   /* what a dead snake left behind */
  SP_CAUSE_OBSTACLE, /* anything else that is not empty */
  SP_CAUSE_LEFT,     /* its player left (sp_game_kill) */
  SP_CAUSE_ROUND,    /* the round's time was up */
} sp_death_cause;

typedef struct sp_event {
  sp_event_type type;
  uint32_t id;    /* SCORE, DEATH: the snake's player id */
  uint32_t score; /* SCORE, DEATH: its score now */
  uint32_t by;    /* DEATH by SP_CAUSE_SNAKE: the other snake's id */
  uint16_t x, y;  /* RENDER */
  char ch;        /* RENDER */
  uint8_t color;  /* RENDER */
  uint8_t cause;  /* DEATH: sp_death_cause */
} sp_event;

/* Fills in the defaults of PROTOCOL.md (50x25, 10 snakes, length 3, 6 %,
 * no straight-run wish). */
void sp_game_config_default(sp_game_config *cfg);

/* Creates a game with an empty field. Returns 0 or UV_EINVAL / UV_ENOMEM.
 * The caller owns *out and releases it with sp_game_free(). */
int sp_game_new(const sp_game_config *cfg, sp_game **out);
void sp_game_free(sp_game *g);

/* Clears the field and removes every snake (a new game, or recovery after
 * an error). Emits no events: the caller announces `reset_world`. */
void sp_game_reset(sp_game *g);

/* Gives player `id` a snake; it is born at the next tick. Returns 0,
 * UV_EEXIST if it already has a live snake or SP_EFULL at the maximum.
 * *color receives the snake's colour (1..6). */
int sp_game_join(sp_game *g, uint32_t id, uint8_t *color);
/* The same, preferring colour `prefer` (1..6) when no live snake has it, so
 * that a player keeps its colour from one life to the next; 0 for none. */
int sp_game_join_color(sp_game *g, uint32_t id, uint8_t prefer, uint8_t *color);

/* Turns the snake of `id` (dir: SP_DIR_*). A turn back onto its own neck
 * is ignored. Returns 1 if the direction changed, 0 otherwise. */
int sp_game_turn(sp_game *g, uint32_t id, int dir);

/* Kills the snake of `id` now (its player left). No-op without one. */
void sp_game_kill(sp_game *g, uint32_t id);
/* The same with another cause (SP_CAUSE_ROUND when time is up). */
void sp_game_end(sp_game *g, uint32_t id, sp_death_cause cause);

/* One step of the game for every live snake, in join order.
 *
 * A snake is born where it has room: its tail at least init_length + 2
 * cells from every border, facing the way with the most free cells ahead,
 * and, when the field allows it, at least min_run of them. Until it turns,
 * no stone falls on the part of that run still ahead of it, so a newborn
 * that goes straight lives for min_run ticks. */
void sp_game_tick(sp_game *g);

int sp_game_alive(const sp_game *g, uint32_t id);
size_t sp_game_live_count(const sp_game *g);
/* The i-th live snake in join order, 0 <= i < sp_game_live_count(). */
void sp_game_snake(const sp_game *g, size_t i, uint32_t *id, uint8_t *color,
                   uint32_t *score);

const sp_event *sp_game_events(const sp_game *g, size_t *n);
void sp_game_clear_events(sp_game *g);

/* Non-zero after an allocation failed inside the game: its state may be
 * incomplete, and the caller must reset it (sp_game_reset). */
int sp_game_failed(const sp_game *g);

/* Where the snake of `id` has its head and which way it goes; returns 0
 * if it has no live, born snake. */
int sp_game_head(const sp_game *g, uint32_t id, int *x, int *y, int *dir);

/* The snake's length in cells (0 without a live, born snake). */
int sp_game_length(const sp_game *g, uint32_t id);

/* The whole field, row-major (width * height cells): for snapshots. */
const sp_cell *sp_game_cells(const sp_game *g);

/* Puts a character on a cell (emitting its render), to set up scenarios and
 * tests. Cells of live snakes must not be overwritten. */
void sp_game_put(sp_game *g, int x, int y, char ch, uint8_t color);

int sp_game_width(const sp_game *g);
int sp_game_height(const sp_game *g);
sp_cell sp_game_cell(const sp_game *g, int x, int y);

#endif
