/* The bot's path search on hand-drawn fields, then a bot playing the real
 * game with a fixed seed, the bots of a room sharing one snapshot per tick
 * on a real libuv thread pool, and a timing figure for a 200x100 field. */
#include "test.h"

#include <time.h>
#include <uv.h>

#include "bot/bot.h"
#include "core/error.h"
#include "game/game.h"
#include "room/bots.h"

static const int dx[4] = {-1, 0, 1, 0}, dy[4] = {0, -1, 0, 1};

/* A field drawn as text, one string per row; '.' stands for an empty cell. */
typedef struct field {
  int w, h;
  sp_cell *cells;
} field;

static field draw(const char *const *rows, int h) {
  field f = {(int)strlen(rows[0]), h, NULL};
  f.cells = malloc(sizeof *f.cells * (size_t)f.w * (size_t)h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < f.w; x++) {
      char c = rows[y][x] == '.' ? ' ' : rows[y][x];
      f.cells[y * f.w + x] = (sp_cell){c, c == ' ' ? 0 : 1};
    }
  return f;
}

static field blank(int w, int h) {
  field f = {w, h, malloc(sizeof(sp_cell) * (size_t)w * (size_t)h)};
  for (int i = 0; i < w * h; i++)
    f.cells[i] = (sp_cell){' ', 0};
  return f;
}

static void put(field *f, int x, int y, char c) {
  f->cells[y * f->w + x] = (sp_cell){c, c == ' ' ? 0 : 1};
}

/* Places this bot's head and neck (behind the head) and asks for a step. */
static int choose(field *f, int hx, int hy, int dir, int length,
                  const int *heads, int nheads) {
  put(f, hx, hy, '%');
  int nx = hx - dx[dir], ny = hy - dy[dir];
  if (nx >= 0 && ny >= 0 && nx < f->w && ny < f->h)
    put(f, nx, ny, '@');
  sp_bot_snapshot s = {.width = f->w,
                       .height = f->h,
                       .cells = f->cells,
                       .head_x = hx,
                       .head_y = hy,
                       .dir = dir,
                       .length = length,
                       .nheads = nheads,
                       .heads_xy = heads};
  sp_bot_scratch sc;
  if (sp_bot_scratch_init(&sc, f->w, f->h) != 0)
    return -1;
  int d = sp_bot_choose(&s, &sc);
  sp_bot_scratch_free(&sc);
  return d;
}

static int passable(const sp_cell *cells, int w, int h, int x, int y) {
  if (x < 0 || y < 0 || x >= w || y >= h)
    return 0;
  char c = cells[y * w + x].ch;
  return c == ' ' || (c >= '1' && c <= '9');
}

/* A small generator for the tests' own random fields. */
static uint32_t lcg(uint32_t *st) {
  *st = *st * 1664525u + 1013904223u;
  return *st >> 8;
}

TEST(scratch_init) {
  sp_bot_scratch sc;
  ASSERT_EQ(sp_bot_scratch_init(&sc, 0, 10), UV_EINVAL);
  ASSERT_EQ(sp_bot_scratch_init(&sc, 10, -1), UV_EINVAL);
  ASSERT_EQ(sp_bot_scratch_init(&sc, 200, 100), 0);
  ASSERT_EQ(sc.ncells, 200 * 100);
  sp_bot_scratch_free(&sc);
  sp_bot_scratch_free(&sc); /* freeing twice is harmless */
}

TEST(never_reverses) {
  for (int dir = 0; dir < 4; dir++) {
    /* An open field with an empty neck cell. */
    field f = blank(20, 20);
    sp_bot_snapshot s = {.width = 20,
                         .height = 20,
                         .cells = f.cells,
                         .head_x = 10,
                         .head_y = 10,
                         .dir = dir,
                         .length = 3};
    sp_bot_scratch sc;
    ASSERT_EQ(sp_bot_scratch_init(&sc, 20, 20), 0);
    int d = sp_bot_choose(&s, &sc);
    ASSERT(d >= 0 && d < 4);
    ASSERT(d != (dir + 2) % 4);
    /* Only the reverse is free, with a digit there: still not taken. */
    for (int k = 0; k < 4; k++)
      put(&f, 10 + dx[k], 10 + dy[k], k == (dir + 2) % 4 ? '9' : '#');
    d = sp_bot_choose(&s, &sc);
    ASSERT(d != (dir + 2) % 4);
    sp_bot_scratch_free(&sc);
    free(f.cells);
  }
  /* Random fields, random heads, random directions. */
  uint32_t st = 7;
  sp_bot_scratch sc;
  ASSERT_EQ(sp_bot_scratch_init(&sc, 30, 20), 0);
  field f = blank(30, 20);
  for (int round = 0; round < 2000; round++) {
    for (int i = 0; i < 30 * 20; i++) {
      uint32_t r = lcg(&st) % 100;
      char c = r < 30 ? '#' : r < 35 ? (char)('1' + r % 9) : ' ';
      f.cells[i] = (sp_cell){c, 1};
    }
    int heads[4] = {(int)(lcg(&st) % 30), (int)(lcg(&st) % 20),
                    (int)(lcg(&st) % 30), (int)(lcg(&st) % 20)};
    int dir = (int)(lcg(&st) % 4);
    sp_bot_snapshot s = {.width = 30,
                         .height = 20,
                         .cells = f.cells,
                         .dir = dir,
                         .nheads = 2,
                         .heads_xy = heads};
    s.head_x = (int)(lcg(&st) % 30);
    s.head_y = (int)(lcg(&st) % 20);
    s.length = (int)(lcg(&st) % 40);
    int d = sp_bot_choose(&s, &sc);
    ASSERT(d >= 0 && d < 4);
    ASSERT(d != (dir + 2) % 4);
    /* and never into a wall or obstacle when a passable step exists */
    int any = 0;
    for (int k = 0; k < 4; k++)
      if (k != (dir + 2) % 4)
        any |= passable(f.cells, 30, 20, s.head_x + dx[k], s.head_y + dy[k]);
    if (any)
      ASSERT(passable(f.cells, 30, 20, s.head_x + dx[d], s.head_y + dy[d]));
  }
  sp_bot_scratch_free(&sc);
  free(f.cells);
}

TEST(never_into_border) {
  int w = 20, h = 10;
  /* Every border cell, facing out of the field (corners both ways). */
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int dir = 0; dir < 4; dir++) {
        int ox = x + dx[dir], oy = y + dy[dir];
        if (ox >= 0 && oy >= 0 && ox < w && oy < h)
          continue; /* not facing out */
        field f = blank(w, h);
        int d = choose(&f, x, y, dir, 3, NULL, 0);
        free(f.cells);
        ASSERT(d != (dir + 2) % 4);
        int nx = x + dx[d], ny = y + dy[d];
        if (!(nx >= 0 && ny >= 0 && nx < w && ny < h))
          FAILF("head (%d,%d) dir %d stepped out with %d", x, y, dir, d);
      }
}

TEST(avoids_stone_ahead) {
  for (int dir = 0; dir < 4; dir++) {
    field f = blank(20, 20);
    put(&f, 10 + dx[dir], 10 + dy[dir], '#');
    int d = choose(&f, 10, 10, dir, 3, NULL, 0);
    free(f.cells);
    ASSERT(d == (dir + 1) % 4 || d == (dir + 3) % 4);
  }
  /* Any obstacle: bodies, corpses, text. */
  const char obstacles[] = "@%*x+#>G";
  for (const char *c = obstacles; *c; c++) {
    field f = blank(20, 20);
    put(&f, 6, 5, *c);
    put(&f, 5, 4, *c);
    int d = choose(&f, 5, 5, SP_DIR_RIGHT, 3, NULL, 0);
    free(f.cells);
    ASSERT_EQ(d, SP_DIR_DOWN);
  }
}

TEST(goes_for_digit) {
  field f = blank(20, 20);
  put(&f, 5, 10, '5');
  ASSERT_EQ(choose(&f, 5, 5, SP_DIR_RIGHT, 3, NULL, 0), SP_DIR_DOWN);
  free(f.cells);
  /* A wall between the head and the digit: the shorter way round it (9
   * steps by the right end, 13 by the left). */
  /* clang-format off */
  const char *rows[] = {
      "..........",
      "....@%....",
      "..#######.",
      "......3...",
      "..........",
  };
  /* clang-format on */
  f = draw(rows, 5);
  ASSERT_EQ(choose(&f, 5, 1, SP_DIR_RIGHT, 3, NULL, 0), SP_DIR_RIGHT);
  free(f.cells);
  /* Straight on when the digit is ahead. */
  f = blank(20, 20);
  put(&f, 12, 5, '1');
  ASSERT_EQ(choose(&f, 5, 5, SP_DIR_RIGHT, 3, NULL, 0), SP_DIR_RIGHT);
  free(f.cells);
}

TEST(prefers_high_digit) {
  /* Equal distances: the higher digit, whichever side it is on. */
  field f = blank(21, 21);
  put(&f, 10, 6, '2');
  put(&f, 10, 14, '9');
  ASSERT_EQ(choose(&f, 10, 10, SP_DIR_RIGHT, 3, NULL, 0), SP_DIR_DOWN);
  free(f.cells);
  f = blank(21, 21);
  put(&f, 10, 6, '9');
  put(&f, 10, 14, '2');
  ASSERT_EQ(choose(&f, 10, 10, SP_DIR_RIGHT, 3, NULL, 0), SP_DIR_UP);
  free(f.cells);
  /* A near 5 beats a far 9 (5/2 against 9/8). */
  f = blank(21, 21);
  put(&f, 10, 8, '5');
  put(&f, 10, 18, '9');
  ASSERT_EQ(choose(&f, 10, 10, SP_DIR_RIGHT, 3, NULL, 0), SP_DIR_UP);
  free(f.cells);
}

TEST(prefers_straight_without_digits) {
  for (int dir = 0; dir < 4; dir++) {
    field f = blank(30, 30);
    ASSERT_EQ(choose(&f, 15, 15, dir, 3, NULL, 0), dir);
    free(f.cells);
  }
  /* Without digits, the side with more room: a wall ahead, 10 cells above
   * (roomy, and first in the order of preference), 33 below. */
  /* clang-format off */
  const char *rows[] = {
      "####.....####",
      "####.....####",
      "####@%#######",
      "#...........#",
      "#...........#",
      "#...........#",
      "#############",
  };
  /* clang-format on */
  field f = draw(rows, 7);
  ASSERT_EQ(choose(&f, 5, 2, SP_DIR_RIGHT, 3, NULL, 0), SP_DIR_DOWN);
  free(f.cells);
}

TEST(avoids_dead_end_pocket) {
  /* A pocket of 3 cells with a 9 at its end, right ahead. */
  /* clang-format off */
  const char *rows[] = {
      "....................",
      "....................",
      "......####..........",
      "....@%..9#..........",
      "......####..........",
      "....................",
  };
  /* clang-format on */
  field f = draw(rows, 6);
  int d = choose(&f, 5, 3, SP_DIR_RIGHT, 0, NULL, 0);
  ASSERT(d == SP_DIR_UP || d == SP_DIR_DOWN);
  /* Opened at its end, the same corridor is the way to the 9. */
  put(&f, 9, 3, ' ');
  ASSERT_EQ(choose(&f, 5, 3, SP_DIR_RIGHT, 0, NULL, 0), SP_DIR_RIGHT);
  free(f.cells);

  /* A room of 13 cells: big enough for a snake of 3, a trap for one of 10. */
  /* clang-format off */
  const char *room[] = {
      "....................",
      ".....######.........",
      ".....#....#.........",
      "...@%....9#.........",
      ".....#....#.........",
      ".....######.........",
      "....................",
      "....................",
  };
  /* clang-format on */
  f = draw(room, 8);
  ASSERT_EQ(choose(&f, 4, 3, SP_DIR_RIGHT, 3, NULL, 0), SP_DIR_RIGHT);
  d = choose(&f, 4, 3, SP_DIR_RIGHT, 10, NULL, 0);
  ASSERT(d == SP_DIR_UP || d == SP_DIR_DOWN);
  free(f.cells);
}

TEST(all_dead_ends_takes_largest) {
  /* Straight is blocked; 2 cells up (with a 9), 5 cells down. */
  /* clang-format off */
  const char *rows[] = {
      "###9###",
      "###.###",
      "##@%###",
      "###.###",
      "###.###",
      "###.###",
      "###.###",
      "###.###",
  };
  /* clang-format on */
  field f = draw(rows, 8);
  ASSERT_EQ(choose(&f, 3, 2, SP_DIR_RIGHT, 3, NULL, 0), SP_DIR_DOWN);
  free(f.cells);
  /* clang-format off */
  const char *flipped[] = {
      "###.###",
      "###.###",
      "###.###",
      "###.###",
      "###.###",
      "##@%###",
      "###.###",
      "###9###",
  };
  /* clang-format on */
  f = draw(flipped, 8);
  ASSERT_EQ(choose(&f, 3, 5, SP_DIR_RIGHT, 3, NULL, 0), SP_DIR_UP);
  free(f.cells);
}

TEST(avoids_other_heads) {
  /* Another head two cells ahead: the cell between is dangerous, even
   * with a 9 on it. */
  field f = blank(20, 20);
  put(&f, 6, 5, '9');
  put(&f, 7, 5, '%');
  put(&f, 8, 5, '@');
  int heads[] = {7, 5};
  int d = choose(&f, 5, 5, SP_DIR_RIGHT, 3, heads, 1);
  ASSERT(d == SP_DIR_UP || d == SP_DIR_DOWN);
  /* With no other way, the dangerous cell beats a certain wall. */
  put(&f, 5, 4, '#');
  put(&f, 5, 6, '#');
  ASSERT_EQ(choose(&f, 5, 5, SP_DIR_RIGHT, 3, heads, 1), SP_DIR_RIGHT);
  free(f.cells);

  /* A stone ahead, another head above-left: down, not up. */
  f = blank(20, 20);
  put(&f, 6, 5, '#');
  put(&f, 5, 3, '%');
  put(&f, 4, 3, '@');
  int above[] = {5, 3, 5, 5}; /* our own head in the list is ignored */
  ASSERT_EQ(choose(&f, 5, 5, SP_DIR_RIGHT, 3, above, 2), SP_DIR_DOWN);
  free(f.cells);

  /* A digit that another head is next to is left to it for a farther one. */
  f = blank(30, 30);
  put(&f, 10, 7, '5');
  put(&f, 11, 7, '%');
  put(&f, 12, 7, '@');
  put(&f, 10, 15, '5');
  int near[] = {11, 7};
  ASSERT_EQ(choose(&f, 10, 10, SP_DIR_RIGHT, 3, near, 1), SP_DIR_DOWN);
  free(f.cells);
}

TEST(small_scratch_degrades) {
  /* A scratch too small for the field still gives a sane step. */
  sp_bot_scratch sc;
  ASSERT_EQ(sp_bot_scratch_init(&sc, 5, 5), 0);
  field f = blank(20, 20);
  put(&f, 6, 5, '#');
  sp_bot_snapshot s = {.width = 20,
                       .height = 20,
                       .cells = f.cells,
                       .head_x = 5,
                       .head_y = 5,
                       .dir = SP_DIR_RIGHT,
                       .length = 3};
  int d = sp_bot_choose(&s, &sc);
  ASSERT(d == SP_DIR_UP || d == SP_DIR_DOWN);
  d = sp_bot_choose(&s, NULL);
  ASSERT(d == SP_DIR_UP || d == SP_DIR_DOWN);
  sp_bot_scratch_free(&sc);
  /* A head outside the field: no search, no crash, no reverse. */
  s.head_x = 50;
  ASSERT_EQ(sp_bot_choose(&s, NULL), SP_DIR_RIGHT);
  free(f.cells);
}

TEST(generation_wraps) {
  /* The visit stamps survive the wrap of their counter. */
  sp_bot_scratch sc;
  ASSERT_EQ(sp_bot_scratch_init(&sc, 20, 20), 0);
  field f = blank(20, 20);
  put(&f, 5, 10, '5');
  put(&f, 5, 5, '%');
  put(&f, 4, 5, '@');
  sp_bot_snapshot s = {.width = 20,
                       .height = 20,
                       .cells = f.cells,
                       .head_x = 5,
                       .head_y = 5,
                       .dir = SP_DIR_RIGHT,
                       .length = 3};
  sc.gen = UINT32_MAX - 2;
  for (int i = 0; i < 10; i++)
    ASSERT_EQ(sp_bot_choose(&s, &sc), SP_DIR_DOWN);
  ASSERT(sc.gen < 100);
  sp_bot_scratch_free(&sc);
  free(f.cells);
}

/* Plays `nbots` bots in a real game for `ticks` ticks. Every decision is
 * checked: no reverse, and never off the field or into an obstacle of the
 * snapshot when a passable step existed. Returns the bots' total score, or -1
 * after a failed check; *deaths counts the bots that died. */
static long play(uint64_t seed, int nbots, int ticks, int *deaths) {
  sp_game_config cfg;
  sp_game_config_default(&cfg); /* 50x25, digits and stones at 6 % */
  cfg.seed = seed;
  sp_game *g = NULL;
  if (sp_game_new(&cfg, &g) != 0)
    return -1;
  int w = sp_game_width(g), h = sp_game_height(g);
  sp_cell *cells = malloc(sizeof *cells * (size_t)w * (size_t)h);
  sp_bot_scratch sc;
  if (!cells || sp_bot_scratch_init(&sc, w, h) != 0) {
    free(cells);
    sp_game_free(g);
    return -1;
  }
  uint32_t score[10] = {0};
  int dead[10] = {0};
  long result = 0;
  for (int b = 0; b < nbots; b++) {
    uint8_t color;
    if (sp_game_join(g, (uint32_t)b + 1, &color) != 0)
      result = -1;
  }
  for (int t = 0; t < ticks && result == 0; t++) {
    sp_game_tick(g);
    sp_game_clear_events(g);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        cells[y * w + x] = sp_game_cell(g, x, y);
    int heads[20], nheads = 0;
    for (int b = 0; b < nbots; b++) {
      int x, y, dir;
      if (sp_game_head(g, (uint32_t)b + 1, &x, &y, &dir)) {
        heads[2 * nheads] = x;
        heads[2 * nheads + 1] = y;
        nheads++;
      }
    }
    for (size_t i = 0; i < sp_game_live_count(g); i++) {
      uint32_t id, sc_now;
      uint8_t color;
      sp_game_snake(g, i, &id, &color, &sc_now);
      score[id - 1] = sc_now;
    }
    for (int b = 0; b < nbots; b++) {
      int x, y, dir;
      if (!sp_game_alive(g, (uint32_t)b + 1)) {
        dead[b] = 1;
        continue;
      }
      if (!sp_game_head(g, (uint32_t)b + 1, &x, &y, &dir))
        continue; /* not born yet */
      /* Its length once the digits eaten have all grown it. */
      int length = 3 + (int)score[b];
      sp_bot_snapshot s = {.width = w,
                           .height = h,
                           .cells = cells,
                           .head_x = x,
                           .head_y = y,
                           .dir = dir,
                           .length = length,
                           .nheads = nheads,
                           .heads_xy = heads};
      int d = sp_bot_choose(&s, &sc);
      int any = 0;
      for (int k = 0; k < 4; k++)
        if (k != (dir + 2) % 4)
          any |= passable(cells, w, h, x + dx[k], y + dy[k]);
      if (d == (dir + 2) % 4 ||
          (any && !passable(cells, w, h, x + dx[d], y + dy[d]))) {
        fprintf(stderr, "  seed %llu tick %d bot %d: (%d,%d) dir %d -> %d\n",
                (unsigned long long)seed, t, b + 1, x, y, dir, d);
        result = -1;
        break;
      }
      sp_game_turn(g, (uint32_t)b + 1, d);
    }
  }
  *deaths = 0;
  for (int b = 0; b < nbots; b++) {
    *deaths += dead[b] || !sp_game_alive(g, (uint32_t)b + 1);
    if (result >= 0)
      result += score[b];
  }
  sp_bot_scratch_free(&sc);
  free(cells);
  sp_game_free(g);
  return result;
}

TEST(plays_real_game) {
  /* One bot, fixed seed, 300 ticks: it eats, and never dies by its own
   * fault (play() checks every decision). */
  int deaths;
  long score = play(42, 1, 300, &deaths);
  printf("  # seed 42, 1 bot, 300 ticks: score %ld, %s\n", score,
         deaths ? "died" : "alive");
  ASSERT(score > 10);
  /* More seeds and more bots: every decision is checked; scores shown. */
  long total = 0;
  int died = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    score = play(seed, 1, 300, &deaths);
    ASSERT(score >= 0);
    total += score;
    died += deaths;
  }
  printf("  # seeds 1..20, 1 bot, 300 ticks: mean score %.1f, %d died\n",
         (double)total / 20, died);
  total = 0;
  died = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    score = play(seed, 4, 300, &deaths);
    ASSERT(score >= 0);
    total += score;
    died += deaths;
  }
  printf("  # seeds 1..20, 4 bots, 300 ticks: mean score per bot %.1f, "
         "%d of 80 died\n",
         (double)total / 80, died);
}

/* ---- room/bots: one snapshot per tick for all the bots of a room ---- */

typedef struct bot_room {
  uv_loop_t loop;
  sp_game *game;
  sp_bots *bots;
  atomic_uint next_id;
  sp_bot_stats stats;
  uint32_t ids[8];
  int nids;
} bot_room;

static void bot_joined(void *data, uint32_t id, const char *name, int color) {
  bot_room *r = data;
  (void)name;
  (void)color;
  if (r->nids < 8)
    r->ids[r->nids++] = id;
}

/* A 60x30 room with one person (id 1, never steered) and NBOTS bots, each
 * search sleeping DELAY_MS on the pool. Returns 0 or -1. */
static int bot_room_open(bot_room *r, int nbots, uint32_t delay_ms) {
  memset(r, 0, sizeof *r);
  sp_game_config cfg;
  sp_game_config_default(&cfg);
  cfg.width = 60;
  cfg.height = 30;
  cfg.seed = 11;
  atomic_init(&r->next_id, 100);
  sp_bots_config bc = {.loop = &r->loop,
                       .max_bots = nbots,
                       .next_id = &r->next_id,
                       .delay_ms = delay_ms,
                       .stats = &r->stats};
  uint8_t color;
  if (uv_loop_init(&r->loop) != 0)
    return -1;
  if (sp_game_new(&cfg, &r->game) != 0 || sp_game_join(r->game, 1, &color) ||
      sp_bots_new(&bc, &r->bots) != 0)
    return -1;
  sp_bots_fill(r->bots, r->game, 1, (size_t)nbots, bot_joined, r);
  return r->nids == nbots ? 0 : -1;
}

/* Closes the bots (freed by their last search), runs the loop until the
 * pool has answered, and checks that nothing is left on the loop. */
static int bot_room_close(bot_room *r) {
  sp_bots_close(r->bots);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  sp_game_free(r->game);
  return uv_loop_close(&r->loop);
}

/* What bot ID should answer on G, searched the old way: on its own copy of
 * the field and of the other snakes' heads. */
static int private_answer(const sp_game *g, uint32_t id, sp_bot_scratch *sc) {
  int w = sp_game_width(g), h = sp_game_height(g), heads[32], nheads = 0;
  sp_cell *cells = malloc(sizeof *cells * (size_t)w * (size_t)h);
  sp_bot_snapshot s = {.width = w, .height = h, .cells = cells};
  if (!cells || !sp_game_head(g, id, &s.head_x, &s.head_y, &s.dir)) {
    free(cells);
    return -1;
  }
  memcpy(cells, sp_game_cells(g), sizeof *cells * (size_t)w * (size_t)h);
  for (size_t i = 0; i < sp_game_live_count(g) && nheads < 16; i++) {
    uint32_t other, score;
    uint8_t color;
    int x, y, d;
    sp_game_snake(g, i, &other, &color, &score);
    if (other != id && sp_game_head(g, other, &x, &y, &d)) {
      heads[2 * nheads] = x;
      heads[2 * nheads + 1] = y;
      nheads++;
    }
  }
  s.length = sp_game_length(g, id);
  s.nheads = nheads;
  s.heads_xy = heads;
  int d = sp_bot_choose(&s, sc);
  free(cells);
  return d;
}

TEST(bots_share_one_snapshot) {
  /* Five bots, 40 ticks: each tick in which bots search takes exactly one
   * snapshot, held while the searches run and released by the last; the
   * copies are reused, not allocated per tick; and every bot turns the way
   * a search on its own copy of the field would have. */
  enum { NBOTS = 5, TICKS = 40 };
  bot_room r;
  sp_bot_scratch sc;
  ASSERT_EQ(bot_room_open(&r, NBOTS, 0), 0);
  ASSERT_EQ(sp_bot_scratch_init(&sc, 60, 30), 0);
  int want[NBOTS], compared = 0, ticks_searched = 0;
  uint64_t searched = 0;
  for (int i = 0; i < NBOTS; i++)
    want[i] = -1;
  for (int t = 0; t < TICKS; t++) {
    sp_bots_steer(r.bots, r.game);
    for (int i = 0; i < NBOTS; i++) {
      int x, y, d;
      if (want[i] >= 0 && sp_game_head(r.game, r.ids[i], &x, &y, &d)) {
        ASSERT_EQ(d, want[i]);
        compared++;
      }
      want[i] = -1;
    }
    sp_game_tick(r.game);
    sp_game_clear_events(r.game);
    sp_bots_reap(r.bots, r.game);
    int searching = 0;
    for (int i = 0; i < NBOTS; i++) {
      int x, y, d;
      if (sp_game_head(r.game, r.ids[i], &x, &y, &d)) {
        want[i] = private_answer(r.game, r.ids[i], &sc);
        searching++;
      }
    }
    sp_bots_snap_stats s0, s1, s2;
    sp_bots_snap_stats_get(r.bots, &s0);
    sp_bots_think(r.bots, r.game);
    sp_bots_snap_stats_get(r.bots, &s1);
    ASSERT_EQ(s1.queued - s0.queued, searching);
    ASSERT_EQ(s1.taken - s0.taken, searching > 0);
    ASSERT_EQ(s1.live, searching > 0); /* held by the queued searches */
    uv_run(&r.loop, UV_RUN_DEFAULT);   /* every answer back */
    sp_bots_snap_stats_get(r.bots, &s2);
    ASSERT_EQ(s2.live, 0); /* released by the last search */
    ASSERT_EQ(s2.dropped, 0);
    ticks_searched += searching > 0;
    searched += (uint64_t)searching;
  }
  sp_bots_snap_stats st;
  sp_bots_snap_stats_get(r.bots, &st);
  printf("  # %d bots, %d ticks: %llu searches on %llu snapshots, %llu "
         "allocated; %d answers checked\n",
         NBOTS, TICKS, (unsigned long long)st.queued,
         (unsigned long long)st.taken, (unsigned long long)st.allocs, compared);
  ASSERT_EQ(st.taken, ticks_searched);
  ASSERT_EQ(st.queued, searched);
  ASSERT(st.queued >= 3 * st.taken); /* shared, not one per bot */
  ASSERT_EQ(st.allocs, 1);           /* one copy, reused every tick */
  ASSERT(compared >= 3 * TICKS);
  ASSERT_EQ(atomic_load(&r.stats.searches), searched);
  sp_bot_scratch_free(&sc);
  ASSERT_EQ(bot_room_close(&r), 0);
}

/* The searches of the bots of R that are still on the pool. */
static int bots_busy(bot_room *r) {
  sp_bots_snap_stats st;
  sp_bots_snap_stats_get(r->bots, &st);
  return (int)st.live;
}

TEST(bots_late_answer_dropped) {
  /* Each search sleeps 30 ms: a tick that comes first counts the bots late
   * and they keep their directions; their answers, when they come, are
   * dropped, and the next tick's searches get a fresh snapshot. */
  enum { NBOTS = 3 };
  bot_room r;
  ASSERT_EQ(bot_room_open(&r, NBOTS, 30), 0);
  sp_bots_steer(r.bots, r.game);
  sp_game_tick(r.game); /* the snakes are born */
  sp_bots_think(r.bots, r.game);
  ASSERT_EQ(bots_busy(&r), 1);
  int dir0[NBOTS];
  for (int i = 0; i < NBOTS; i++) {
    int x, y;
    ASSERT(sp_game_head(r.game, r.ids[i], &x, &y, &dir0[i]));
  }
  sp_bots_steer(r.bots, r.game); /* long before 30 ms */
  ASSERT_EQ(atomic_load(&r.stats.late), NBOTS);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  sp_bots_snap_stats st;
  sp_bots_snap_stats_get(r.bots, &st);
  ASSERT_EQ(st.dropped, NBOTS);
  ASSERT_EQ(st.live, 0);
  sp_bots_steer(r.bots, r.game); /* nothing to apply */
  for (int i = 0; i < NBOTS; i++) {
    int x, y, d;
    ASSERT(sp_game_head(r.game, r.ids[i], &x, &y, &d));
    ASSERT_EQ(d, dir0[i]);
  }
  /* A new round of searches, then the room closes while they sleep: the
   * bots and the snapshot are freed by the last answer (ASan checks). */
  sp_bots_think(r.bots, r.game);
  sp_bots_snap_stats_get(r.bots, &st);
  ASSERT_EQ(st.taken, 2);
  ASSERT_EQ(st.allocs, 1);
  ASSERT_EQ(bot_room_close(&r), 0);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Microseconds per call on a 200x100 field with stones and bodies, averaged
 * over 1000 calls from varied heads; with `digits` scattered digits. */
static double time_field(int digits) {
  enum { W = 200, H = 100, CALLS = 1000 };
  field f = blank(W, H);
  uint32_t st = 12345;
  for (int i = 0; i < W * H / 16; i++) /* about 6 % stones and bodies */
    f.cells[lcg(&st) % (W * H)] = (sp_cell){i % 2 ? '#' : '@', 0};
  for (int i = 0; i < digits; i++)
    f.cells[lcg(&st) % (W * H)] = (sp_cell){(char)('1' + i % 9), 1};
  int heads[18];
  for (int i = 0; i < 18; i++)
    heads[i] = (int)(lcg(&st) % (i % 2 ? H : W));
  sp_bot_scratch sc;
  if (sp_bot_scratch_init(&sc, W, H) != 0)
    return -1;
  int hx[CALLS], hy[CALLS];
  for (int i = 0; i < CALLS; i++) {
    hx[i] = (int)(lcg(&st) % W);
    hy[i] = (int)(lcg(&st) % H);
  }
  volatile int sink = 0;
  double t0 = now_us();
  for (int i = 0; i < CALLS; i++) {
    sp_bot_snapshot s = {.width = W,
                         .height = H,
                         .cells = f.cells,
                         .head_x = hx[i],
                         .head_y = hy[i],
                         .dir = i % 4,
                         .length = 20,
                         .nheads = 9,
                         .heads_xy = heads};
    sink += sp_bot_choose(&s, &sc);
  }
  double t = (now_us() - t0) / CALLS;
  (void)sink;
  sp_bot_scratch_free(&sc);
  free(f.cells);
  return t;
}

TEST(timing_200x100) {
  double with = time_field(30), without = time_field(0);
  printf("  # 200x100 field, 9 other heads, 1000 calls: %.1f us per call "
         "with 30 digits, %.1f us with none (full search)\n",
         with, without);
  ASSERT(with >= 0 && without >= 0);
}

int main(void) {
  RUN(scratch_init);
  RUN(never_reverses);
  RUN(never_into_border);
  RUN(avoids_stone_ahead);
  RUN(goes_for_digit);
  RUN(prefers_high_digit);
  RUN(prefers_straight_without_digits);
  RUN(avoids_dead_end_pocket);
  RUN(all_dead_ends_takes_largest);
  RUN(avoids_other_heads);
  RUN(small_scratch_degrades);
  RUN(generation_wraps);
  RUN(plays_real_game);
  RUN(bots_share_one_snapshot);
  RUN(bots_late_answer_dropped);
  RUN(timing_200x100);
  return TEST_SUMMARY();
}
