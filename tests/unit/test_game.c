/* The rules of PROTOCOL.md, tested on the pure game module with fixed
 * seeds: no sockets, no clock. */
#include "test.h"

#include "core/error.h"
#include "game/game.h"

static sp_game *new_game(int w, int h, int max, uint64_t seed, double digit,
                         double stone) {
  sp_game_config cfg;
  sp_game_config_default(&cfg);
  cfg.width = w;
  cfg.height = h;
  cfg.max_snakes = max;
  cfg.seed = seed;
  cfg.digit_rate = digit;
  cfg.stone_rate = stone;
  sp_game *g = NULL;
  if (sp_game_new(&cfg, &g) != 0)
    return NULL;
  return g;
}

static int count_events(sp_game *g, sp_event_type t) {
  size_t n;
  const sp_event *ev = sp_game_events(g, &n);
  int c = 0;
  for (size_t i = 0; i < n; i++)
    c += ev[i].type == t;
  return c;
}

static int count_cells(sp_game *g, char ch) {
  int c = 0;
  for (int y = 0; y < sp_game_height(g); y++)
    for (int x = 0; x < sp_game_width(g); x++)
      c += sp_game_cell(g, x, y).ch == ch;
  return c;
}

static const int dx[4] = {-1, 0, 1, 0}, dy[4] = {0, -1, 0, 1};

TEST(config_limits) {
  sp_game_config cfg;
  sp_game_config_default(&cfg);
  ASSERT_EQ(cfg.width, 50);
  ASSERT_EQ(cfg.height, 25);
  ASSERT_EQ(cfg.max_snakes, 10);
  sp_game *g = NULL;
  cfg.width = 10; /* a newborn snake needs 2 * (3 + 2) + 1 cells */
  ASSERT_EQ(sp_game_new(&cfg, &g), UV_EINVAL);
  cfg.width = 11;
  cfg.height = 11;
  ASSERT_EQ(sp_game_new(&cfg, &g), 0);
  sp_game_free(g);
}

TEST(birth) {
  sp_game *g = new_game(20, 15, 10, 1, 0, 0);
  uint8_t color;
  ASSERT_EQ(sp_game_join(g, 7, &color), 0);
  ASSERT(color >= 1 && color <= 6);
  ASSERT_EQ(sp_game_join(g, 7, &color), UV_EEXIST);
  int x, y, dir;
  ASSERT_EQ(sp_game_head(g, 7, &x, &y, &dir), 0); /* born at the next tick */
  sp_game_tick(g);
  ASSERT(sp_game_head(g, 7, &x, &y, &dir));
  /* tail, body, head in the snake's colour, head in its direction */
  ASSERT_EQ(sp_game_cell(g, x, y).ch, '%');
  ASSERT_EQ(sp_game_cell(g, x, y).color, color);
  ASSERT_EQ(sp_game_cell(g, x - dx[dir], y - dy[dir]).ch, '@');
  ASSERT_EQ(sp_game_cell(g, x - 2 * dx[dir], y - 2 * dy[dir]).ch, '*');
  /* the tail is at least INIT_LENGTH + 2 cells from every border */
  int tx = x - 2 * dx[dir], ty = y - 2 * dy[dir];
  ASSERT(tx >= 5 && ty >= 5 && tx <= 20 - 1 - 5 && ty <= 15 - 1 - 5);
  /* and a digit is spawned at once as a birthday present */
  int digits = 0;
  for (char c = '1'; c <= '9'; c++)
    digits += count_cells(g, c);
  ASSERT_EQ(digits, 1);
  ASSERT_EQ(count_events(g, SP_EV_RENDER), 4);
  sp_game_free(g);
}

TEST(movement) {
  sp_game *g = new_game(30, 30, 10, 2, 0, 0);
  uint8_t color;
  sp_game_join(g, 1, &color);
  sp_game_tick(g);
  int x, y, dir, x2, y2, dir2;
  sp_game_head(g, 1, &x, &y, &dir);
  int tx = x - 2 * dx[dir], ty = y - 2 * dy[dir];
  sp_game_put(g, x + dx[dir], y + dy[dir], ' ', 0); /* no birthday digit */
  sp_game_clear_events(g);
  sp_game_tick(g);
  ASSERT(sp_game_head(g, 1, &x2, &y2, &dir2));
  ASSERT_EQ(x2, x + dx[dir]);
  ASSERT_EQ(y2, y + dy[dir]);
  ASSERT_EQ(sp_game_cell(g, x2, y2).ch, '%');
  ASSERT_EQ(sp_game_cell(g, x, y).ch, '@');
  ASSERT_EQ(sp_game_cell(g, tx, ty).ch, ' '); /* the old tail is cleared */
  ASSERT_EQ(sp_game_cell(g, tx + dx[dir], ty + dy[dir]).ch, '*');
  /* head, old head, old tail, new tail */
  size_t n;
  const sp_event *ev = sp_game_events(g, &n);
  ASSERT_EQ(n, 4);
  ASSERT_EQ(ev[0].ch, '%');
  ASSERT_EQ(ev[1].ch, '@');
  ASSERT_EQ(ev[2].ch, ' ');
  ASSERT_EQ(ev[2].color, 0);
  ASSERT_EQ(ev[3].ch, '*');
  sp_game_free(g);
}

TEST(turning_and_reversal) {
  sp_game *g = new_game(30, 30, 10, 3, 0, 0);
  uint8_t color;
  sp_game_join(g, 1, &color);
  sp_game_tick(g);
  int x, y, dir;
  sp_game_head(g, 1, &x, &y, &dir);
  int back = (dir + 2) % 4, side = (dir + 1) % 4;
  ASSERT_EQ(sp_game_turn(g, 1, back), 0); /* the exact opposite is ignored */
  ASSERT_EQ(sp_game_turn(g, 1, dir), 0);  /* same direction: no change */
  ASSERT_EQ(sp_game_turn(g, 1, side), 1);
  /* two quick turns in one tick must not fold the snake onto itself: after
   * turning sideways, turning "back" is still onto the neck */
  ASSERT_EQ(sp_game_turn(g, 1, back), 0);
  sp_game_tick(g);
  int x2, y2, dir2;
  sp_game_head(g, 1, &x2, &y2, &dir2);
  ASSERT_EQ(dir2, side);
  ASSERT_EQ(x2, x + dx[side]);
  ASSERT_EQ(y2, y + dy[side]);
  ASSERT_EQ(sp_game_turn(g, 99, side), 0); /* no such snake */
  sp_game_free(g);
}

TEST(growth_and_score) {
  sp_game *g = new_game(30, 30, 10, 4, 0, 0);
  uint8_t color;
  sp_game_join(g, 1, &color);
  sp_game_tick(g);
  int x, y, dir;
  sp_game_head(g, 1, &x, &y, &dir);
  sp_game_put(g, x + dx[dir], y + dy[dir], '3', 2);
  sp_game_clear_events(g);
  sp_game_tick(g);
  size_t n;
  const sp_event *ev = sp_game_events(g, &n);
  int scored = 0;
  for (size_t i = 0; i < n; i++)
    if (ev[i].type == SP_EV_SCORE) {
      ASSERT_EQ(ev[i].id, 1);
      ASSERT_EQ(ev[i].score, 3);
      scored++;
    }
  ASSERT_EQ(scored, 1);
  int tx = x - 2 * dx[dir], ty = y - 2 * dy[dir];
  /* three ticks with the tail in place (the one that ate included) */
  for (int i = 0; i < 2; i++)
    sp_game_tick(g);
  ASSERT_EQ(sp_game_cell(g, tx, ty).ch, '*');
  sp_game_tick(g);
  ASSERT_EQ(sp_game_cell(g, tx, ty).ch, ' ');
  int len = count_cells(g, '%') + count_cells(g, '@') + count_cells(g, '*');
  ASSERT_EQ(len, 6);
  uint32_t id, score;
  sp_game_snake(g, 0, &id, &color, &score);
  ASSERT_EQ(score, 3);
  sp_game_free(g);
}

/* Runs the snake straight until it dies; returns the death's score or -1. */
static int run_until_death(sp_game *g, uint32_t id, int max_ticks) {
  for (int i = 0; i < max_ticks; i++) {
    sp_game_clear_events(g);
    sp_game_tick(g);
    size_t n;
    const sp_event *ev = sp_game_events(g, &n);
    for (size_t k = 0; k < n; k++)
      if (ev[k].type == SP_EV_DEATH && ev[k].id == id)
        return (int)ev[k].score;
  }
  return -1;
}

TEST(death_by_wall_and_corpse) {
  sp_game *g = new_game(20, 20, 10, 5, 0, 0);
  uint8_t color;
  sp_game_join(g, 1, &color);
  sp_game_tick(g);
  ASSERT_EQ(run_until_death(g, 1, 40), 0);
  ASSERT_EQ(sp_game_alive(g, 1), 0);
  ASSERT_EQ(sp_game_live_count(g), 0);
  /* the corpse stays in colour 0: head x, body @, tail + */
  ASSERT_EQ(count_cells(g, 'x'), 1);
  ASSERT_EQ(count_cells(g, '+'), 1);
  ASSERT_EQ(count_cells(g, '%'), 0);
  for (int y = 0; y < 20; y++)
    for (int x = 0; x < 20; x++) {
      sp_cell c = sp_game_cell(g, x, y);
      if (c.ch == 'x' || c.ch == '+' || c.ch == '@')
        ASSERT_EQ(c.color, 0);
    }
  sp_game_free(g);
}

TEST(death_by_stone) {
  sp_game *g = new_game(30, 30, 10, 6, 0, 0);
  uint8_t color;
  sp_game_join(g, 1, &color);
  sp_game_tick(g);
  int x, y, dir;
  sp_game_head(g, 1, &x, &y, &dir);
  sp_game_put(g, x + dx[dir], y + dy[dir], '#', 0);
  ASSERT_EQ(run_until_death(g, 1, 1), 0);
  sp_game_free(g);
}

TEST(death_by_own_body) {
  sp_game *g = new_game(30, 30, 10, 7, 0, 0);
  uint8_t color;
  sp_game_join(g, 1, &color);
  sp_game_tick(g);
  int x, y, dir;
  sp_game_head(g, 1, &x, &y, &dir);
  /* grow to 8 cells, then turn three times the same way into the body */
  sp_game_put(g, x + dx[dir], y + dy[dir], '5', 1);
  for (int i = 0; i < 5; i++)
    sp_game_tick(g);
  int turn = (dir + 1) % 4;
  sp_game_turn(g, 1, turn);
  sp_game_tick(g);
  sp_game_turn(g, 1, (turn + 1) % 4);
  sp_game_tick(g);
  sp_game_turn(g, 1, (turn + 2) % 4);
  ASSERT_EQ(run_until_death(g, 1, 1), 5);
  sp_game_free(g);
}

TEST(death_by_other_snake_and_kill) {
  sp_game *g = new_game(30, 30, 10, 8, 0, 0);
  uint8_t c1, c2;
  sp_game_join(g, 1, &c1);
  sp_game_join(g, 2, &c2);
  ASSERT(c1 != c2);
  sp_game_tick(g);
  int x, y, dir;
  sp_game_head(g, 1, &x, &y, &dir);
  /* put the other snake's body right in front: a snake cell that is not
   * empty kills exactly like a stone would, whoever it belongs to */
  int x2, y2, d2;
  sp_game_head(g, 2, &x2, &y2, &d2);
  sp_game_kill(g, 2); /* its player left: it dies now */
  ASSERT_EQ(sp_game_alive(g, 2), 0);
  ASSERT_EQ(sp_game_live_count(g), 1);
  ASSERT_EQ(count_events(g, SP_EV_DEATH), 1);
  sp_game_put(g, x + dx[dir], y + dy[dir], '@', c2);
  ASSERT_EQ(run_until_death(g, 1, 1), 0);
  sp_game_kill(g, 1); /* no-op: already dead */
  sp_game_free(g);
}

/* The DEATH event of `id` in the last tick's events, or NULL. */
static const sp_event *death_of(sp_game *g, uint32_t id) {
  size_t n;
  const sp_event *ev = sp_game_events(g, &n);
  for (size_t i = 0; i < n; i++)
    if (ev[i].type == SP_EV_DEATH && ev[i].id == id)
      return &ev[i];
  return NULL;
}

/* Ticks until `id` dies (at most max ticks); its DEATH event or NULL. */
static const sp_event *tick_until_death(sp_game *g, uint32_t id, int max) {
  for (int i = 0; i < max; i++) {
    sp_game_clear_events(g);
    sp_game_tick(g);
    const sp_event *e = death_of(g, id);
    if (e)
      return e;
  }
  return NULL;
}

TEST(death_causes) {
  int x, y, dir;
  uint8_t c;
  /* the wall */
  sp_game *g = new_game(20, 20, 10, 5, 0, 0);
  sp_game_join(g, 1, &c);
  sp_game_tick(g);
  const sp_event *e = tick_until_death(g, 1, 40);
  ASSERT(e);
  ASSERT_EQ(e->cause, SP_CAUSE_WALL);
  ASSERT_EQ(e->by, 0);
  /* a stone, then a corpse (what the first snake left) */
  sp_game_join(g, 2, &c);
  sp_game_tick(g);
  sp_game_head(g, 2, &x, &y, &dir);
  sp_game_put(g, x + dx[dir], y + dy[dir], '#', 0);
  e = tick_until_death(g, 2, 1);
  ASSERT(e);
  ASSERT_EQ(e->cause, SP_CAUSE_STONE);
  sp_game_join(g, 3, &c);
  sp_game_tick(g);
  sp_game_head(g, 3, &x, &y, &dir);
  sp_game_put(g, x + dx[dir], y + dy[dir], '+', 0);
  e = tick_until_death(g, 3, 1);
  ASSERT(e);
  ASSERT_EQ(e->cause, SP_CAUSE_CORPSE);
  /* its player left; time was up */
  sp_game_join(g, 4, &c);
  sp_game_join(g, 5, &c);
  sp_game_tick(g);
  sp_game_clear_events(g);
  sp_game_kill(g, 4);
  ASSERT_EQ(death_of(g, 4)->cause, SP_CAUSE_LEFT);
  sp_game_end(g, 5, SP_CAUSE_ROUND);
  ASSERT_EQ(death_of(g, 5)->cause, SP_CAUSE_ROUND);
  sp_game_free(g);

  /* its own body: grow, then turn three times the same way */
  g = new_game(30, 30, 10, 7, 0, 0);
  sp_game_join(g, 1, &c);
  sp_game_tick(g);
  sp_game_head(g, 1, &x, &y, &dir);
  sp_game_put(g, x + dx[dir], y + dy[dir], '5', 1);
  for (int i = 0; i < 5; i++)
    sp_game_tick(g);
  for (int k = 1; k <= 2; k++) {
    sp_game_turn(g, 1, (dir + k) % 4);
    sp_game_tick(g);
  }
  sp_game_turn(g, 1, (dir + 3) % 4);
  e = tick_until_death(g, 1, 1);
  ASSERT(e);
  ASSERT_EQ(e->cause, SP_CAUSE_SELF);
  ASSERT_EQ(e->score, 5);
  sp_game_free(g);
}

/* Snake 2 circles on a 2x2 square (length 3 fits in its 4 cells); snake 1
 * heads greedily for the nearest of snake 2's cells and dies there: the
 * death names snake 2. */
TEST(death_by_another_snake_names_it) {
  sp_game *g = new_game(40, 40, 10, 21, 0, 0);
  uint8_t c1, c2;
  sp_game_join(g, 1, &c1);
  sp_game_join(g, 2, &c2);
  ASSERT(c1 != c2);
  sp_game_tick(g);
  const sp_event *e = NULL;
  for (int t = 0; t < 300 && !e; t++) {
    int x, y, d, x2, y2, d2;
    ASSERT(sp_game_head(g, 2, &x2, &y2, &d2));
    sp_game_turn(g, 2, (d2 + 1) % 4);
    ASSERT(sp_game_head(g, 1, &x, &y, &d));
    int best = -1, bestd = 1 << 30;
    for (int k = 0; k < 4; k++) {
      if (k == (d + 2) % 4)
        continue;
      int nx = x + dx[k], ny = y + dy[k];
      if (nx < 0 || ny < 0 || nx >= 40 || ny >= 40)
        continue;
      for (int yy = 0; yy < 40; yy++)
        for (int xx = 0; xx < 40; xx++)
          if (sp_game_cell(g, xx, yy).color == c2 &&
              strchr("%@*", sp_game_cell(g, xx, yy).ch)) {
            int dist = abs(xx - nx) + abs(yy - ny);
            if (dist < bestd)
              bestd = dist, best = k;
          }
    }
    ASSERT(best >= 0);
    sp_game_turn(g, 1, best);
    sp_game_clear_events(g);
    sp_game_tick(g);
    ASSERT(!death_of(g, 2));
    e = death_of(g, 1);
  }
  ASSERT(e);
  ASSERT_EQ(e->cause, SP_CAUSE_SNAKE);
  ASSERT_EQ(e->by, 2);
  sp_game_free(g);
}

/* Free cells straight ahead of the head of `id`. */
static int run_ahead(sp_game *g, uint32_t id) {
  int x, y, d, n = 0;
  if (!sp_game_head(g, id, &x, &y, &d))
    return -1;
  for (;;) {
    x += dx[d];
    y += dy[d];
    if (x < 0 || y < 0 || x >= sp_game_width(g) || y >= sp_game_height(g))
      return n;
    char ch = sp_game_cell(g, x, y).ch;
    if (ch != ' ' && !(ch >= '1' && ch <= '9'))
      return n;
    n++;
  }
}

/* Issue 13: 100 joins on a fresh default field with two seconds of run at
 * 10 ticks per second, the default digit and stone rates, no key pressed:
 * every newborn faces a run of at least 20 free cells, and none dies in
 * its first 20 moves. */
TEST(newborns_get_their_run) {
  for (uint64_t seed = 1; seed <= 100; seed++) {
    sp_game_config cfg;
    sp_game_config_default(&cfg);
    cfg.seed = seed;
    cfg.min_run = 20;
    sp_game *g = NULL;
    ASSERT_EQ(sp_game_new(&cfg, &g), 0);
    uint8_t c;
    sp_game_join(g, 1, &c);
    sp_game_tick(g);
    if (run_ahead(g, 1) < 20) {
      sp_game_free(g);
      FAILF("seed %llu: only %d free cells ahead", (unsigned long long)seed,
            run_ahead(g, 1));
    }
    for (int t = 0; t < 20; t++)
      sp_game_tick(g);
    int alive = sp_game_alive(g, 1);
    sp_game_free(g);
    if (!alive)
      FAILF("seed %llu: died in its first 20 moves", (unsigned long long)seed);
  }
}

/* Ten snakes born in one tick: none is born on another's run, so every
 * one of them has its 20 free cells. */
TEST(newborns_keep_off_each_others_run) {
  for (uint64_t seed = 1; seed <= 20; seed++) {
    sp_game_config cfg;
    sp_game_config_default(&cfg);
    cfg.seed = seed;
    cfg.min_run = 20;
    cfg.digit_rate = 0;
    sp_game *g = NULL;
    ASSERT_EQ(sp_game_new(&cfg, &g), 0);
    uint8_t c;
    for (uint32_t id = 1; id <= 10; id++)
      sp_game_join(g, id, &c);
    sp_game_tick(g);
    for (uint32_t id = 1; id <= 10; id++) {
      /* birthday digits may lie ahead: they count as free */
      int run = run_ahead(g, id);
      if (run < 20) {
        sp_game_free(g);
        FAILF("seed %llu snake %u: %d free cells ahead",
              (unsigned long long)seed, id, run);
      }
    }
    sp_game_free(g);
  }
}

/* The stones that would fall on a newborn's run are not dropped (here a
 * stone every tick), until it turns; elsewhere they fall as before. */
TEST(no_stone_on_a_newborns_run) {
  sp_game_config cfg;
  sp_game_config_default(&cfg);
  cfg.seed = 77;
  cfg.min_run = 20;
  cfg.stone_rate = 1.0;
  cfg.digit_rate = 0;
  for (int round = 0; round < 20; round++) {
    sp_game *g = NULL;
    cfg.seed++;
    ASSERT_EQ(sp_game_new(&cfg, &g), 0);
    uint8_t c;
    sp_game_join(g, 1, &c);
    for (int t = 0; t < 21; t++)
      sp_game_tick(g);
    int alive = sp_game_alive(g, 1), stones = count_cells(g, '#');
    sp_game_free(g);
    ASSERT(alive);
    ASSERT(stones >= 15); /* the others fell */
  }
}

/* On a field without a long run anywhere, a newborn still faces the best
 * way it has: from any tail cell, no way that fits has a longer run. */
TEST(crowded_field_best_way) {
  sp_game_config cfg;
  sp_game_config_default(&cfg);
  cfg.width = cfg.height = 13;
  cfg.min_run = 100; /* cannot be had on 13x13 */
  cfg.seed = 5;
  sp_game *g = NULL;
  ASSERT_EQ(sp_game_new(&cfg, &g), 0);
  /* stones on the right half leave only the left for a long run */
  for (int y = 0; y < 13; y++)
    for (int x = 9; x < 13; x++)
      sp_game_put(g, x, y, '#', 0);
  uint8_t c;
  sp_game_join(g, 1, &c);
  sp_game_tick(g);
  int x, y, d;
  ASSERT(sp_game_head(g, 1, &x, &y, &d));
  int run = run_ahead(g, 1);
  /* the tail sits in 5..7: the best run is from a tail at x 7 going left
   * (head at 5, 5 free cells) or up/down from a tail in row 5/7 (head at
   * row 7/5, 5 free cells) */
  ASSERT_EQ(run, 5);
  sp_game_free(g);
}

TEST(preferred_colour) {
  sp_game *g = new_game(50, 25, 10, 10, 0, 0);
  uint8_t c;
  ASSERT_EQ(sp_game_join_color(g, 1, 4, &c), 0);
  ASSERT_EQ(c, 4);
  ASSERT_EQ(sp_game_join_color(g, 2, 4, &c), 0); /* taken: another one */
  ASSERT(c != 4 && c >= 1 && c <= 6);
  uint8_t c2 = c;
  sp_game_kill(g, 1);
  ASSERT_EQ(sp_game_join_color(g, 1, 4, &c), 0); /* free again: its own */
  ASSERT_EQ(c, 4);
  sp_game_kill(g, 2);
  ASSERT_EQ(sp_game_join_color(g, 2, c2, &c), 0);
  ASSERT_EQ(c, c2);
  ASSERT_EQ(sp_game_join_color(g, 3, 9, &c), 0); /* not a colour: any */
  ASSERT(c >= 1 && c <= 6);
  sp_game_free(g);
}

TEST(game_over_text) {
  sp_game *g = new_game(50, 25, 10, 9, 0, 0);
  uint8_t color;
  sp_game_join(g, 1, &color);
  sp_game_join(g, 2, &color);
  sp_game_tick(g);
  sp_game_kill(g, 1);
  ASSERT_EQ(count_cells(g, '>'), 0); /* one snake left: no text yet */
  sp_game_kill(g, 2);
  const char *text = SP_GAME_OVER_TEXT;
  int len = (int)strlen(text), x0 = (50 - len) / 2;
  uint8_t tc = sp_game_cell(g, x0 + 1, 12).color;
  ASSERT(tc >= 1 && tc <= 6);
  for (int i = 0; i < len; i++) {
    ASSERT_EQ(sp_game_cell(g, x0 + i, 12).ch, text[i]);
    ASSERT_EQ(sp_game_cell(g, x0 + i, 12).color, tc);
  }
  sp_game_free(g);
}

TEST(colour_pool) {
  sp_game *g = new_game(50, 25, 10, 10, 0, 0);
  unsigned seen = 0;
  for (uint32_t id = 1; id <= 6; id++) {
    uint8_t c;
    ASSERT_EQ(sp_game_join(g, id, &c), 0);
    ASSERT(c >= 1 && c <= 6);
    ASSERT(!(seen & (1u << c))); /* a free colour while one is free */
    seen |= 1u << c;
  }
  uint8_t c7;
  ASSERT_EQ(sp_game_join(g, 7, &c7), 0); /* none free: any colour */
  ASSERT(c7 >= 1 && c7 <= 6);
  /* a dead snake's colour returns to the pool */
  uint32_t id;
  uint8_t c3;
  uint32_t score;
  sp_game_snake(g, 2, &id, &c3, &score);
  sp_game_kill(g, 3);
  sp_game_kill(g, 7);
  uint8_t c8;
  ASSERT_EQ(sp_game_join(g, 8, &c8), 0);
  ASSERT_EQ(c8, c3);
  sp_game_free(g);
}

TEST(max_players) {
  sp_game *g = new_game(30, 30, 2, 11, 0, 0);
  uint8_t c;
  ASSERT_EQ(sp_game_join(g, 1, &c), 0);
  ASSERT_EQ(sp_game_join(g, 2, &c), 0);
  ASSERT_EQ(sp_game_join(g, 3, &c), SP_EFULL);
  sp_game_kill(g, 1);
  ASSERT_EQ(sp_game_join(g, 3, &c), 0); /* a place was freed by the death */
  sp_game_free(g);
}

TEST(spawns_only_on_empty_cells) {
  /* Every cell but a few is a stone; digits (rate 100 %) and stones must
   * land only on the free cells, and never overwrite anything. */
  sp_game *g = new_game(20, 20, 10, 12, 1.0, 1.0);
  uint8_t c;
  sp_game_join(g, 1, &c);
  sp_game_tick(g);
  int x, y, dir;
  sp_game_head(g, 1, &x, &y, &dir);
  for (int yy = 0; yy < 20; yy++)
    for (int xx = 0; xx < 20; xx++)
      if (sp_game_cell(g, xx, yy).ch != '%' &&
          sp_game_cell(g, xx, yy).ch != '@' &&
          sp_game_cell(g, xx, yy).ch != '*' && !(yy == 0 && xx < 3))
        sp_game_put(g, xx, yy, '#', 0);
  /* it eats a digit, so its tail stays and frees no cell */
  sp_game_put(g, x + dx[dir], y + dy[dir], '1', 1);
  sp_game_clear_events(g);
  sp_game_tick(g); /* moves onto the digit, then spawns */
  size_t n;
  const sp_event *ev = sp_game_events(g, &n);
  int spawned = 0;
  for (size_t i = 0; i < n; i++)
    if (ev[i].type == SP_EV_RENDER && ev[i].ch != '%' && ev[i].ch != '@') {
      ASSERT_EQ(ev[i].y, 0);
      ASSERT(ev[i].x < 3);
      spawned++;
    }
  ASSERT_EQ(spawned, 2); /* one digit for the moving snake, one stone */
  /* with no free cell left, spawning gives up quietly */
  sp_game_clear_events(g);
  sp_game_tick(g);
  sp_game_tick(g);
  sp_game_free(g);
}

/* Same seed, same inputs: the same events, byte for byte. */
static size_t run_script(uint64_t seed, sp_event *out, size_t cap) {
  sp_game *g = new_game(50, 25, 10, seed, 0.06, 0.06);
  uint8_t c;
  size_t total = 0;
  sp_game_join(g, 1, &c);
  sp_game_join(g, 2, &c);
  for (int t = 0; t < 200; t++) {
    if (t % 7 == 3)
      sp_game_turn(g, 1, (t / 7) % 4);
    if (t % 5 == 1)
      sp_game_turn(g, 2, (t / 5 + 1) % 4);
    if (!sp_game_alive(g, 1))
      sp_game_join(g, 1, &c);
    sp_game_tick(g);
    size_t n;
    const sp_event *ev = sp_game_events(g, &n);
    for (size_t i = 0; i < n && total < cap; i++)
      out[total++] = ev[i];
    sp_game_clear_events(g);
  }
  sp_game_free(g);
  return total;
}

TEST(deterministic) {
  static sp_event a[20000], b[20000], c[20000];
  size_t na = run_script(42, a, 20000), nb = run_script(42, b, 20000);
  size_t nc = run_script(43, c, 20000);
  ASSERT(na > 100);
  ASSERT_EQ(na, nb);
  ASSERT_MEM_EQ(a, b, na * sizeof a[0]);
  ASSERT(na != nc || memcmp(a, c, na * sizeof a[0]) != 0);
}

TEST(reset) {
  sp_game *g = new_game(20, 20, 10, 13, 0, 0);
  uint8_t c;
  sp_game_join(g, 1, &c);
  sp_game_tick(g);
  sp_game_reset(g);
  ASSERT_EQ(sp_game_live_count(g), 0);
  ASSERT_EQ(count_cells(g, ' '), 400);
  size_t n;
  sp_game_events(g, &n);
  ASSERT_EQ(n, 0);
  sp_game_free(g);
}

int main(void) {
  RUN(config_limits);
  RUN(birth);
  RUN(movement);
  RUN(turning_and_reversal);
  RUN(growth_and_score);
  RUN(death_by_wall_and_corpse);
  RUN(death_by_stone);
  RUN(death_by_own_body);
  RUN(death_by_other_snake_and_kill);
  RUN(death_causes);
  RUN(death_by_another_snake_names_it);
  RUN(newborns_get_their_run);
  RUN(newborns_keep_off_each_others_run);
  RUN(no_stone_on_a_newborns_run);
  RUN(crowded_field_best_way);
  RUN(preferred_colour);
  RUN(game_over_text);
  RUN(colour_pool);
  RUN(max_players);
  RUN(spawns_only_on_empty_cells);
  RUN(deterministic);
  RUN(reset);
  return TEST_SUMMARY();
}
