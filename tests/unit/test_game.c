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
  RUN(game_over_text);
  RUN(colour_pool);
  RUN(max_players);
  RUN(spawns_only_on_empty_cells);
  RUN(deterministic);
  RUN(reset);
  return TEST_SUMMARY();
}
