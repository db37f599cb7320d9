#include "bot/bot.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const int sp__bot_dx[4] = {-1, 0, 1, 0};
static const int sp__bot_dy[4] = {0, -1, 0, 1};

/* What the bot needs in front of it: a region of twice its length lets it
 * follow its own tail out of trouble; the bounds keep a newborn from being
 * lured into a tiny pocket and a long snake from calling half the field a
 * dead end. Areas are counted up to twice the need, which is enough to rank
 * open steps and keeps every fill short on a large field. */
#define SP__BOT_MIN_NEED 8
#define SP__BOT_MAX_NEED 200
#define SP__BOT_DEFAULT_LENGTH 3
/* A digit that another head is closer to is probably gone before we arrive. */
#define SP__BOT_CONTESTED_DIV 4.0

int sp_bot_scratch_init(sp_bot_scratch *scratch, int w, int h) {
  memset(scratch, 0, sizeof *scratch);
  if (w <= 0 || h <= 0 || w > 65535 || h > 65535 ||
      (long long)w * h > INT32_MAX)
    return UV_EINVAL;
  size_t n = (size_t)w * (size_t)h;
  scratch->seen = calloc(n, sizeof *scratch->seen);
  if (!scratch->seen)
    goto fail;
  scratch->queue = malloc(n * sizeof *scratch->queue);
  if (!scratch->queue)
    goto fail_seen;
  scratch->first = malloc(n * sizeof *scratch->first);
  if (!scratch->first)
    goto fail_queue;
  scratch->ncells = (int)n;
  scratch->gen = 0;
  return 0;

fail_queue:
  free(scratch->queue);
fail_seen:
  free(scratch->seen);
fail:
  memset(scratch, 0, sizeof *scratch);
  return UV_ENOMEM;
}

void sp_bot_scratch_free(sp_bot_scratch *scratch) {
  free(scratch->seen);
  free(scratch->queue);
  free(scratch->first);
  memset(scratch, 0, sizeof *scratch);
}

/* A fresh visit stamp, so that no array is cleared between searches; the
 * stamps are cleared only when the counter wraps (once per 2^32 searches). */
static uint32_t sp__bot_gen(sp_bot_scratch *sc) {
  if (++sc->gen == 0) {
    memset(sc->seen, 0, (size_t)sc->ncells * sizeof *sc->seen);
    sc->gen = 1;
  }
  return sc->gen;
}

static int sp__bot_passable(char ch) {
  return ch == ' ' || (ch >= '1' && ch <= '9');
}

static int sp__bot_inside(const sp_bot_snapshot *s, int x, int y) {
  return x >= 0 && y >= 0 && x < s->width && y < s->height;
}

/* The Manhattan distance from (x, y) to the nearest other head, or INT32_MAX
 * without one. Our own head, if the caller listed it, does not count. */
static int sp__bot_head_dist(const sp_bot_snapshot *s, int x, int y) {
  int best = INT32_MAX;
  for (int i = 0; i < s->nheads; i++) {
    int hx = s->heads_xy[2 * i], hy = s->heads_xy[2 * i + 1];
    if (hx == s->head_x && hy == s->head_y)
      continue;
    int d = abs(hx - x) + abs(hy - y);
    if (d < best)
      best = d;
  }
  return best;
}

/* Queue entries carry both coordinates (y << 16 | x; both fit in 16 bits),
 * which spares a division per visited cell. */
#define SP__BOT_PACK(x, y) ((uint32_t)(y) << 16 | (uint32_t)(x))

/* Marks cell n as visited if it is passable and not yet seen; returns 1
 * when it was marked (the caller enqueues it). */
static inline int sp__bot_visit(const sp_bot_snapshot *s, sp_bot_scratch *sc,
                                uint32_t gen, int n) {
  if (sc->seen[n] == gen || !sp__bot_passable(s->cells[n].ch))
    return 0;
  sc->seen[n] = gen;
  return 1;
}

/* Counts the passable cells reachable from (x, y) without crossing the
 * bot's head, stopping at `limit`: the result is exact below the limit. */
static int sp__bot_area(const sp_bot_snapshot *s, sp_bot_scratch *sc, int x,
                        int y, int limit) {
  uint32_t gen = sp__bot_gen(sc);
  int w = s->width;
  sc->seen[s->head_y * w + s->head_x] = gen;
  sc->seen[y * w + x] = gen;
  sc->queue[0] = SP__BOT_PACK(x, y);
  int head = 0, tail = 1;
  while (head < tail && tail < limit) {
    uint32_t q = sc->queue[head++];
    int cx = (int)(q & 0xffff), cy = (int)(q >> 16), c = cy * w + cx;
    if (cx > 0 && sp__bot_visit(s, sc, gen, c - 1))
      sc->queue[tail++] = SP__BOT_PACK(cx - 1, cy);
    if (cy > 0 && sp__bot_visit(s, sc, gen, c - w))
      sc->queue[tail++] = SP__BOT_PACK(cx, cy - 1);
    if (cx < w - 1 && sp__bot_visit(s, sc, gen, c + 1))
      sc->queue[tail++] = SP__BOT_PACK(cx + 1, cy);
    if (cy < s->height - 1 && sp__bot_visit(s, sc, gen, c + w))
      sc->queue[tail++] = SP__BOT_PACK(cx, cy + 1);
  }
  return tail < limit ? tail : limit;
}

/* Breadth-first search from the head through the steps in `seeds` (in order
 * of preference, so that ties keep the earlier one). Returns the first step of
 * the path to the most attractive digit, or -1 when no digit is reachable.
 * The search stops as soon as no farther digit could beat the best one. */
static int sp__bot_seek(const sp_bot_snapshot *s, sp_bot_scratch *sc,
                        const int *seeds, int nseeds) {
  uint32_t gen = sp__bot_gen(sc);
  int w = s->width;
  sc->seen[s->head_y * w + s->head_x] = gen;
  int head = 0, tail = 0;
  for (int i = 0; i < nseeds; i++) {
    int x = s->head_x + sp__bot_dx[seeds[i]];
    int y = s->head_y + sp__bot_dy[seeds[i]];
    sc->seen[y * w + x] = gen;
    sc->first[y * w + x] = (uint8_t)seeds[i];
    sc->queue[tail++] = SP__BOT_PACK(x, y);
  }
  double best = 0;
  int best_dir = -1;
  for (int dist = 1; head < tail; dist++) {
    if (best_dir >= 0 && best >= 9.0 / dist)
      break; /* even a 9 from here on scores no more than the best */
    int layer_end = tail;
    for (; head < layer_end; head++) {
      uint32_t q = sc->queue[head];
      int cx = (int)(q & 0xffff), cy = (int)(q >> 16);
      int c = cy * w + cx;
      char ch = s->cells[c].ch;
      if (ch >= '1' && ch <= '9') {
        double score = (double)(ch - '0') / dist;
        if (sp__bot_head_dist(s, cx, cy) < dist)
          score /= SP__BOT_CONTESTED_DIV;
        if (score > best) {
          best = score;
          best_dir = sc->first[c];
        }
      }
      uint8_t f = sc->first[c];
      if (cx > 0 && sp__bot_visit(s, sc, gen, c - 1)) {
        sc->first[c - 1] = f;
        sc->queue[tail++] = SP__BOT_PACK(cx - 1, cy);
      }
      if (cy > 0 && sp__bot_visit(s, sc, gen, c - w)) {
        sc->first[c - w] = f;
        sc->queue[tail++] = SP__BOT_PACK(cx, cy - 1);
      }
      if (cx < w - 1 && sp__bot_visit(s, sc, gen, c + 1)) {
        sc->first[c + 1] = f;
        sc->queue[tail++] = SP__BOT_PACK(cx + 1, cy);
      }
      if (cy < s->height - 1 && sp__bot_visit(s, sc, gen, c + w)) {
        sc->first[c + w] = f;
        sc->queue[tail++] = SP__BOT_PACK(cx, cy + 1);
      }
    }
  }
  return best_dir;
}

typedef struct sp__bot_step {
  int dir;
  int rank; /* 0 blocked, 1 dead end, 2 roomy but reachable by another head,
             * 3 roomy and out of their reach */
  int safe; /* no other head can reach it next tick */
  int area; /* reachable cells after the step, counted up to 2 * need */
} sp__bot_step;

/* Is step a better than b? Rank, then area, then safety; the earlier step
 * in the order of preference wins the remaining ties. */
static int sp__bot_better(const sp__bot_step *a, const sp__bot_step *b) {
  if (a->rank != b->rank)
    return a->rank > b->rank;
  if (a->area != b->area)
    return a->area > b->area;
  return a->safe > b->safe;
}

int sp_bot_choose(const sp_bot_snapshot *s, sp_bot_scratch *sc) {
  int dir = s->dir;
  /* Straight on first, then left and right: the order breaks every tie. */
  int order[4], ncand = 0;
  if (dir >= 0 && dir < 4) {
    order[ncand++] = dir;
    order[ncand++] = (dir + 3) % 4;
    order[ncand++] = (dir + 1) % 4;
  } else {
    for (int d = 0; d < 4; d++)
      order[ncand++] = d;
  }
  if (!s->cells || s->width <= 0 || s->height <= 0 ||
      !sp__bot_inside(s, s->head_x, s->head_y))
    return order[0];

  int searchable = sc && sc->seen &&
                   (long long)s->width * s->height <= (long long)sc->ncells;
  int len = s->length > 0 ? s->length : SP__BOT_DEFAULT_LENGTH;
  int need = 2 * len;
  if (need < SP__BOT_MIN_NEED)
    need = SP__BOT_MIN_NEED;
  if (need > SP__BOT_MAX_NEED)
    need = SP__BOT_MAX_NEED;

  sp__bot_step steps[4];
  int best = 0;
  for (int i = 0; i < ncand; i++) {
    sp__bot_step *st = &steps[i];
    st->dir = order[i];
    st->rank = st->safe = st->area = 0;
    int nx = s->head_x + sp__bot_dx[st->dir];
    int ny = s->head_y + sp__bot_dy[st->dir];
    if (!sp__bot_inside(s, nx, ny) ||
        !sp__bot_passable(s->cells[ny * s->width + nx].ch))
      continue;
    st->safe = sp__bot_head_dist(s, nx, ny) > 1;
    /* Without scratch memory every passable step counts as roomy. */
    int roomy = 1;
    if (searchable) {
      st->area = sp__bot_area(s, sc, nx, ny, 2 * need);
      roomy = st->area >= need;
    }
    st->rank = !roomy ? 1 : st->safe ? 3 : 2;
    if (sp__bot_better(st, &steps[best]))
      best = i;
  }
  if (steps[best].rank == 0)
    return order[0]; /* every way is blocked: the end, whichever we take */

  /* Among the roomy steps of the best rank: the way to the best digit, if
   * one is reachable. A dead end is never entered for a digit. */
  if (searchable && steps[best].rank >= 2) {
    int seeds[4], nseeds = 0;
    for (int i = 0; i < ncand; i++)
      if (steps[i].rank == steps[best].rank)
        seeds[nseeds++] = steps[i].dir;
    int d = sp__bot_seek(s, sc, seeds, nseeds);
    if (d >= 0)
      return d;
  }
  return steps[best].dir;
}
