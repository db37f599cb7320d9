#include "game/game.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "game/rng.h"

/* A snake's cells live in a ring buffer of field indices (y * width + x):
 * body[head] is the head, then towards the tail, wrapping at cap. */
typedef struct sp__snake {
  uint32_t id;
  uint32_t score;
  uint32_t grow; /* ticks left during which the tail stays put */
  uint8_t color;
  uint8_t dir;
  uint8_t born;
  uint8_t dead;
  uint32_t guard; /* cells ahead kept free of stones while it goes straight */
  uint32_t *body;
  uint32_t cap, head, len;
} sp__snake;

struct sp_game {
  sp_game_config cfg;
  sp_rng rng;
  sp_cell *field;
  sp__snake *snakes; /* live snakes, in join order */
  size_t nsnakes;
  sp_event *events;
  size_t nevents, capevents;
  int failed; /* an allocation failed: the caller must reset the game */
};

static const int sp__dx[4] = {-1, 0, 1, 0};
static const int sp__dy[4] = {0, -1, 0, 1};

void sp_game_config_default(sp_game_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->width = 50;
  cfg->height = 25;
  cfg->max_snakes = 10;
  cfg->init_length = 3;
  cfg->digit_rate = 0.06;
  cfg->stone_rate = 0.06;
}

int sp_game_new(const sp_game_config *cfg, sp_game **out) {
  int d = cfg->init_length + 2;
  if (cfg->init_length < 2 || cfg->width < 2 * d + 1 ||
      cfg->height < 2 * d + 1 || cfg->width > 65535 || cfg->height > 65535 ||
      cfg->max_snakes < 1)
    return UV_EINVAL;
  sp_game *g = calloc(1, sizeof *g);
  if (!g)
    goto fail;
  g->cfg = *cfg;
  sp_rng_seed(&g->rng, cfg->seed);
  g->field =
      malloc(sizeof *g->field * (size_t)cfg->width * (size_t)cfg->height);
  if (!g->field)
    goto fail_game;
  g->snakes = calloc((size_t)cfg->max_snakes, sizeof *g->snakes);
  if (!g->snakes)
    goto fail_field;
  sp_game_reset(g);
  *out = g;
  return 0;

fail_field:
  free(g->field);
fail_game:
  free(g);
fail:
  return UV_ENOMEM;
}

void sp_game_free(sp_game *g) {
  if (!g)
    return;
  for (size_t i = 0; i < g->nsnakes; i++)
    free(g->snakes[i].body);
  free(g->snakes);
  free(g->events);
  free(g->field);
  free(g);
}

void sp_game_reset(sp_game *g) {
  size_t n = (size_t)g->cfg.width * (size_t)g->cfg.height;
  for (size_t i = 0; i < n; i++)
    g->field[i] = (sp_cell){' ', 0};
  for (size_t i = 0; i < g->nsnakes; i++)
    free(g->snakes[i].body);
  g->nsnakes = 0;
  g->nevents = 0;
  g->failed = 0;
}

static sp_event *sp__event(sp_game *g, sp_event_type type) {
  if (g->nevents == g->capevents) {
    size_t cap = g->capevents ? g->capevents * 2 : 64;
    sp_event *ev = realloc(g->events, cap * sizeof *ev);
    if (!ev) {
      g->failed = 1;
      return NULL;
    }
    g->events = ev;
    g->capevents = cap;
  }
  sp_event *e = &g->events[g->nevents++];
  memset(e, 0, sizeof *e);
  e->type = type;
  return e;
}

/* Every change of a cell goes through here, so the field and the events the
 * clients see can never disagree. */
static void sp__draw(sp_game *g, uint32_t pos, char ch, uint8_t color) {
  g->field[pos] = (sp_cell){ch, color};
  sp_event *e = sp__event(g, SP_EV_RENDER);
  if (e) {
    e->x = (uint16_t)(pos % (uint32_t)g->cfg.width);
    e->y = (uint16_t)(pos / (uint32_t)g->cfg.width);
    e->ch = ch;
    e->color = color;
  }
}

static uint32_t sp__at(const sp__snake *s, uint32_t i) {
  return s->body[(s->head + i) % s->cap];
}

static int sp__prepend(sp_game *g, sp__snake *s, uint32_t pos) {
  if (s->len == s->cap) {
    uint32_t cap = s->cap ? s->cap * 2 : 16;
    uint32_t *body = malloc(cap * sizeof *body);
    if (!body) {
      g->failed = 1;
      return UV_ENOMEM;
    }
    for (uint32_t i = 0; i < s->len; i++)
      body[i + 1] = sp__at(s, i);
    free(s->body);
    s->body = body;
    s->cap = cap;
    s->head = 1;
  }
  s->head = (s->head + s->cap - 1) % s->cap;
  s->body[s->head] = pos;
  s->len++;
  return 0;
}

static sp__snake *sp__find(const sp_game *g, uint32_t id) {
  for (size_t i = 0; i < g->nsnakes; i++)
    if (g->snakes[i].id == id && !g->snakes[i].dead)
      return &g->snakes[i];
  return NULL;
}

static size_t sp__live(const sp_game *g) {
  size_t n = 0;
  for (size_t i = 0; i < g->nsnakes; i++)
    n += !g->snakes[i].dead;
  return n;
}

/* A random empty cell: a few random tries, then a scan from a random start
 * so that a nearly full field still finds its last free cells. */
static int sp__empty_cell(sp_game *g, uint32_t *pos) {
  uint32_t n = (uint32_t)g->cfg.width * (uint32_t)g->cfg.height;
  for (int i = 0; i < 8; i++) {
    uint32_t p = (uint32_t)sp_rng_range(&g->rng, 0, (int)n - 1);
    if (g->field[p].ch == ' ') {
      *pos = p;
      return 1;
    }
  }
  uint32_t start = (uint32_t)sp_rng_range(&g->rng, 0, (int)n - 1);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t p = (start + i) % n;
    if (g->field[p].ch == ' ') {
      *pos = p;
      return 1;
    }
  }
  return 0;
}

static void sp__spawn_digit(sp_game *g) {
  char ch = (char)('0' + sp_rng_range(&g->rng, 1, 9));
  uint8_t color = (uint8_t)sp_rng_range(&g->rng, 1, SP_NUM_COLORS);
  uint32_t pos;
  if (sp__empty_cell(g, &pos))
    sp__draw(g, pos, ch, color);
}

static void sp__draw_text(sp_game *g, const char *text, uint8_t color) {
  int len = (int)strlen(text);
  int y = g->cfg.height / 2;
  int x = (g->cfg.width - len) / 2;
  for (int i = 0; i < len; i++)
    if (x + i >= 0 && x + i < g->cfg.width)
      sp__draw(g, (uint32_t)(y * g->cfg.width + x + i), text[i], color);
}

/* The snake's cells stay as an obstacle in colour 0; its colour returns to
 * the pool because pick_color only looks at live snakes. */
static void sp__die(sp_game *g, sp__snake *s, sp_death_cause cause,
                    uint32_t by) {
  sp_event *e = sp__event(g, SP_EV_DEATH);
  if (e) {
    e->id = s->id;
    e->score = s->score;
    e->cause = (uint8_t)cause;
    e->by = by;
  }
  for (uint32_t i = 0; i < s->len; i++) {
    char ch = i == 0 ? 'x' : i == s->len - 1 ? '+' : '@';
    sp__draw(g, sp__at(s, i), ch, 0);
  }
  s->dead = 1;
  if (sp__live(g) == 0)
    sp__draw_text(g, SP_GAME_OVER_TEXT,
                  (uint8_t)sp_rng_range(&g->rng, 1, SP_NUM_COLORS));
}

static void sp__compact(sp_game *g) {
  size_t j = 0;
  for (size_t i = 0; i < g->nsnakes; i++) {
    if (g->snakes[i].dead)
      free(g->snakes[i].body);
    else
      g->snakes[j++] = g->snakes[i];
  }
  g->nsnakes = j;
}

static uint8_t sp__pick_color(sp_game *g, uint8_t prefer) {
  unsigned used = 0;
  for (size_t i = 0; i < g->nsnakes; i++)
    if (!g->snakes[i].dead)
      used |= 1u << g->snakes[i].color;
  if (prefer >= 1 && prefer <= SP_NUM_COLORS && !(used & (1u << prefer)))
    return prefer;
  uint8_t free_colors[SP_NUM_COLORS];
  int nfree = 0;
  for (int c = 1; c <= SP_NUM_COLORS; c++)
    if (!(used & (1u << c)))
      free_colors[nfree++] = (uint8_t)c;
  if (nfree == 0)
    return (uint8_t)sp_rng_range(&g->rng, 1, SP_NUM_COLORS);
  return free_colors[sp_rng_range(&g->rng, 0, nfree - 1)];
}

int sp_game_join(sp_game *g, uint32_t id, uint8_t *color) {
  return sp_game_join_color(g, id, 0, color);
}

int sp_game_join_color(sp_game *g, uint32_t id, uint8_t prefer,
                       uint8_t *color) {
  if (sp__find(g, id))
    return UV_EEXIST;
  if (g->nsnakes >= (size_t)g->cfg.max_snakes)
    return SP_EFULL;
  sp__snake *s = &g->snakes[g->nsnakes++];
  memset(s, 0, sizeof *s);
  s->id = id;
  s->color = sp__pick_color(g, prefer);
  *color = s->color;
  return 0;
}

int sp_game_turn(sp_game *g, uint32_t id, int dir) {
  sp__snake *s = sp__find(g, id);
  if (!s || dir < 0 || dir > 3 || !s->born)
    return 0;
  if (s->len > 1) {
    /* Compare with the neck, not with the last direction: two quick turns
     * within one tick must not fold the snake back onto itself. */
    uint32_t head = sp__at(s, 0), neck = sp__at(s, 1);
    int x = (int)(head % (uint32_t)g->cfg.width) + sp__dx[dir];
    int y = (int)(head / (uint32_t)g->cfg.width) + sp__dy[dir];
    if (x >= 0 && y >= 0 && (uint32_t)(y * g->cfg.width + x) == neck &&
        x < g->cfg.width)
      return 0;
  }
  if (s->dir == dir)
    return 0;
  s->dir = (uint8_t)dir;
  s->guard = 0; /* its own way now: the birth run is no longer kept free */
  return 1;
}

void sp_game_kill(sp_game *g, uint32_t id) {
  sp_game_end(g, id, SP_CAUSE_LEFT);
}

void sp_game_end(sp_game *g, uint32_t id, sp_death_cause cause) {
  sp__snake *s = sp__find(g, id);
  if (!s)
    return;
  sp__die(g, s, cause, 0);
  sp__compact(g);
}

static int sp__free(char ch) { return ch == ' ' || (ch >= '1' && ch <= '9'); }

/* Free cells (empty or digits) straight ahead of (x, y) going dir. */
static int sp__run(const sp_game *g, int x, int y, int dir) {
  int n = 0;
  for (;;) {
    x += sp__dx[dir];
    y += sp__dy[dir];
    if (x < 0 || y < 0 || x >= g->cfg.width || y >= g->cfg.height ||
        !sp__free(g->field[y * g->cfg.width + x].ch))
      return n;
    n++;
  }
}

/* Whether `pos` lies on the part of a newborn's run still ahead of it. */
static int sp__guarded(const sp_game *g, uint32_t pos) {
  int w = g->cfg.width;
  int px = (int)(pos % (uint32_t)w), py = (int)(pos / (uint32_t)w);
  for (size_t i = 0; i < g->nsnakes; i++) {
    const sp__snake *s = &g->snakes[i];
    if (s->dead || !s->born || s->guard == 0)
      continue;
    uint32_t head = sp__at(s, 0);
    int hx = (int)(head % (uint32_t)w), hy = (int)(head / (uint32_t)w);
    int ax = (px - hx) * sp__dx[s->dir] + (py - hy) * sp__dy[s->dir];
    int side = (px - hx) * sp__dy[s->dir] - (py - hy) * sp__dx[s->dir];
    if (side == 0 && ax >= 1 && (uint32_t)ax <= s->guard)
      return 1;
  }
  return 0;
}

/* At tail cell (x, y): the direction whose body fits on empty cells, off
 * the runs kept for other newborns, and whose head has the longest free
 * run ahead; -1 when none fits. The scan starts at a random direction so
 * that ties do not favour one way. *budget counts the work done. */
static int sp__best_dir(sp_game *g, int x, int y, int first, int *run,
                        long *budget) {
  int w = g->cfg.width, len = g->cfg.init_length, best = -1;
  for (int k = 0; k < 4; k++) {
    int dir = (first + k) % 4, ok = 1;
    for (int i = 0; i < len && ok; i++) {
      uint32_t pos =
          (uint32_t)((y + sp__dy[dir] * i) * w + x + sp__dx[dir] * i);
      ok = g->field[pos].ch == ' ' && !sp__guarded(g, pos);
      *budget -= 1 + (long)g->nsnakes;
    }
    if (!ok)
      continue;
    int r = sp__run(g, x + sp__dx[dir] * (len - 1), y + sp__dy[dir] * (len - 1),
                    dir);
    *budget -= len + r + 1;
    if (best < 0 || r > *run) {
      best = dir;
      *run = r;
    }
  }
  return best;
}

/* Work a birth may do looking for a place with the wished run, in cells
 * looked at (about a millisecond): a crowded field, or sixty bots born in
 * one tick, must not stall the room's tick. */
#define SP__BIRTH_BUDGET 200000L

/* Places a newborn: its tail at least init_length + 2 cells from every
 * border, on empty cells only, facing its best way (sp__best_dir). A few
 * random places are tried, then every place from a random start, until one
 * has min_run free cells ahead; if none has (a crowded field, or the work
 * budget ran out), the best place seen. When even an empty field has no
 * such run (min_run longer than the field), the best of the random places
 * is taken at once. Returns 0 when no place fits at all (it tries again
 * next tick). */
static int sp__birth(sp_game *g, sp__snake *s) {
  int d = g->cfg.init_length + 2, w = g->cfg.width, h = g->cfg.height;
  int nx = w - 2 * d, ny = h - 2 * d; /* candidate tails per row / column */
  int total = nx * ny, want = g->cfg.min_run, tries = 32 + total;
  int longest = (w > h ? w : h) - d - g->cfg.init_length; /* empty field */
  if (want > longest) {
    want = longest + 1; /* never met: keep the best of the random tries */
    tries = 32;
  }
  int start = -1, best = -1, best_dir = 0, best_run = -1;
  long budget = SP__BIRTH_BUDGET;
  for (int attempt = 0; attempt < tries && budget > 0; attempt++) {
    int c;
    if (attempt < 32)
      c = sp_rng_range(&g->rng, 0, total - 1);
    else {
      if (start < 0)
        start = sp_rng_range(&g->rng, 0, total - 1);
      c = (start + attempt - 32) % total;
    }
    int run = -1;
    int dir = sp__best_dir(g, d + c % nx, d + c / nx,
                           sp_rng_range(&g->rng, 0, 3), &run, &budget);
    if (dir < 0 || run <= best_run)
      continue;
    best = c, best_dir = dir, best_run = run;
    if (run >= want)
      break;
  }
  if (best < 0)
    return 0;
  int x = d + best % nx, y = d + best / nx, dir = best_dir;
  s->dir = (uint8_t)dir;
  for (int i = 0; i < g->cfg.init_length; i++) {
    uint32_t pos = (uint32_t)((y + sp__dy[dir] * i) * w + x + sp__dx[dir] * i);
    if (sp__prepend(g, s, pos))
      return 0;
    char ch = i == 0 ? '*' : i == g->cfg.init_length - 1 ? '%' : '@';
    sp__draw(g, pos, ch, s->color);
  }
  s->guard = (uint32_t)(best_run < g->cfg.min_run ? best_run : g->cfg.min_run);
  s->born = 1;
  return 1;
}

/* Why a head entering `pos` dies, and whose snake it hit. */
static sp_death_cause sp__cause(const sp_game *g, const sp__snake *s,
                                uint32_t pos, uint32_t *by) {
  sp_cell c = g->field[pos];
  *by = 0;
  if (c.ch == '#')
    return SP_CAUSE_STONE;
  if (c.color == 0 && c.ch && strchr("x@+*%", c.ch))
    return SP_CAUSE_CORPSE;
  for (size_t i = 0; i < g->nsnakes; i++) {
    const sp__snake *o = &g->snakes[i];
    if (o->dead || !o->born)
      continue;
    for (uint32_t k = 0; k < o->len; k++)
      if (sp__at(o, k) == pos) {
        if (o == s)
          return SP_CAUSE_SELF;
        *by = o->id;
        return SP_CAUSE_SNAKE;
      }
  }
  return SP_CAUSE_OBSTACLE;
}

static void sp__move(sp_game *g, sp__snake *s) {
  int w = g->cfg.width;
  uint32_t head = sp__at(s, 0);
  int x = (int)(head % (uint32_t)w) + sp__dx[s->dir];
  int y = (int)(head / (uint32_t)w) + sp__dy[s->dir];
  if (x < 0 || y < 0 || x >= w || y >= g->cfg.height) {
    sp__die(g, s, SP_CAUSE_WALL, 0);
    return;
  }
  uint32_t pos = (uint32_t)(y * w + x);
  char ch = g->field[pos].ch;
  if (ch >= '1' && ch <= '9') {
    s->grow += (uint32_t)(ch - '0');
    s->score += (uint32_t)(ch - '0');
    sp_event *e = sp__event(g, SP_EV_SCORE);
    if (e) {
      e->id = s->id;
      e->score = s->score;
    }
  } else if (ch != ' ') {
    uint32_t by;
    sp_death_cause cause = sp__cause(g, s, pos, &by);
    sp__die(g, s, cause, by);
    return;
  }
  if (s->guard > 0)
    s->guard--;
  if (sp__prepend(g, s, pos))
    return;
  sp__draw(g, pos, '%', s->color);
  sp__draw(g, head, '@', s->color);
  if (s->grow > 0) {
    s->grow--;
  } else {
    sp__draw(g, sp__at(s, s->len - 1), ' ', 0);
    s->len--;
    sp__draw(g, sp__at(s, s->len - 1), '*', s->color);
  }
  if (sp_rng_double(&g->rng) < g->cfg.digit_rate)
    sp__spawn_digit(g);
}

void sp_game_tick(sp_game *g) {
  for (size_t i = 0; i < g->nsnakes; i++) {
    sp__snake *s = &g->snakes[i];
    if (s->dead)
      continue;
    if (!s->born) {
      if (sp__birth(g, s))
        sp__spawn_digit(g); /* the birthday present */
    } else {
      sp__move(g, s);
    }
  }
  sp__compact(g);
  if (g->nsnakes > 0 && sp_rng_double(&g->rng) < g->cfg.stone_rate) {
    /* A stone that would fall on a newborn's run is not dropped at all
     * (rather than elsewhere), so the random sequence stays the same. */
    uint32_t pos;
    if (sp__empty_cell(g, &pos) && !sp__guarded(g, pos))
      sp__draw(g, pos, '#', 0);
  }
}

int sp_game_alive(const sp_game *g, uint32_t id) {
  return sp__find(g, id) != NULL;
}

size_t sp_game_live_count(const sp_game *g) { return sp__live(g); }

void sp_game_snake(const sp_game *g, size_t i, uint32_t *id, uint8_t *color,
                   uint32_t *score) {
  SP_ASSERT(i < g->nsnakes);
  *id = g->snakes[i].id;
  *color = g->snakes[i].color;
  *score = g->snakes[i].score;
}

const sp_event *sp_game_events(const sp_game *g, size_t *n) {
  *n = g->nevents;
  return g->events;
}

void sp_game_clear_events(sp_game *g) { g->nevents = 0; }

int sp_game_failed(const sp_game *g) { return g->failed; }

int sp_game_head(const sp_game *g, uint32_t id, int *x, int *y, int *dir) {
  const sp__snake *s = sp__find(g, id);
  if (!s || !s->born)
    return 0;
  uint32_t head = sp__at(s, 0);
  *x = (int)(head % (uint32_t)g->cfg.width);
  *y = (int)(head / (uint32_t)g->cfg.width);
  *dir = s->dir;
  return 1;
}

int sp_game_length(const sp_game *g, uint32_t id) {
  const sp__snake *s = sp__find(g, id);
  return s && s->born ? (int)s->len : 0;
}

const sp_cell *sp_game_cells(const sp_game *g) { return g->field; }

void sp_game_put(sp_game *g, int x, int y, char ch, uint8_t color) {
  SP_ASSERT(x >= 0 && y >= 0 && x < g->cfg.width && y < g->cfg.height);
  sp__draw(g, (uint32_t)(y * g->cfg.width + x), ch, color);
}

int sp_game_width(const sp_game *g) { return g->cfg.width; }
int sp_game_height(const sp_game *g) { return g->cfg.height; }

sp_cell sp_game_cell(const sp_game *g, int x, int y) {
  SP_ASSERT(x >= 0 && y >= 0 && x < g->cfg.width && y < g->cfg.height);
  return g->field[y * g->cfg.width + x];
}
