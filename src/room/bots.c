#include "room/bots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/bot.h"
#include "core/error.h"
#include "core/log.h"

/* One copy of the field and of every live snake's head, taken on the loop
 * thread after a tick and read by every search of that tick (sp_bot_choose
 * skips the searching bot's own head). It is never written while a job holds
 * it: `refs` counts those jobs, and it is taken and released on the loop
 * thread only (sp_bots_think and the after-work callback), so a plain int
 * suffices and a released copy can be kept for the next tick without a lock.
 * libuv runs a job's after-work callback once its work callback has
 * returned, so the last reader is done before the copy is reused. */
typedef struct sp__snap {
  int refs;
  int width, height;
  sp_cell *cells; /* width * height */
  size_t ncells;
  int *heads; /* x0, y0, x1, y1, ...: nheads heads */
  size_t heads_cap;
  int nheads;
  struct sp__snap *next; /* in the spare list */
} sp__snap;

/* Released snapshots kept for the next ticks: one for the tick being
 * searched and one more while a late search still holds the previous. */
#define SP__SPARE_SNAPS 2

/* A search job: what it reads is the shared snapshot and its own bot's
 * head, direction and length, taken at the tick; what it writes is its own
 * scratch and answer. It is reused for each of its bot's searches. */
typedef struct sp__job {
  uv_work_t req;
  sp_bots *owner;
  int slot;
  uint32_t id;
  uint64_t steers; /* b->steers when queued: the answer is for the next */
  sp__snap *snap;  /* one reference, while queued */
  sp_bot_snapshot view;
  sp_bot_scratch scratch;
  int scratch_ok;
  int answer;
  uint64_t ns;
  uint32_t delay_ms;
} sp__job;

typedef struct sp__bot {
  uint32_t id; /* 0: no snake */
  char name[16];
  int pending_dir; /* an answer not yet applied, or -1 */
  int busy;        /* its job is on the thread pool */
  sp__job *job;    /* reused for each search (memory kept between ticks) */
} sp__bot;

struct sp_bots {
  sp_bots_config cfg;
  sp__bot *bots;
  int busy; /* jobs on the thread pool */
  int closing;
  uint64_t steers; /* sp_bots_steer() calls so far */
  sp__snap *spare; /* released snapshots, up to SP__SPARE_SNAPS */
  int nspare;
  sp_bots_snap_stats snap_stats;
};

int sp_bots_new(const sp_bots_config *cfg, sp_bots **out) {
  sp_bots *b = calloc(1, sizeof *b);
  if (!b)
    return UV_ENOMEM;
  b->cfg = *cfg;
  if (cfg->max_bots > 0) {
    b->bots = calloc((size_t)cfg->max_bots, sizeof *b->bots);
    if (!b->bots) {
      free(b);
      return UV_ENOMEM;
    }
  }
  for (int i = 0; i < cfg->max_bots; i++) {
    snprintf(b->bots[i].name, sizeof b->bots[i].name, "bot-%d", i + 1);
    b->bots[i].pending_dir = -1;
  }
  *out = b;
  return 0;
}

static void sp__snap_free(sp__snap *s) {
  free(s->cells);
  free(s->heads);
  free(s);
}

static void sp__job_free(sp__job *j) {
  if (!j)
    return;
  if (j->scratch_ok)
    sp_bot_scratch_free(&j->scratch);
  free(j);
}

static void sp__free(sp_bots *b) {
  for (int i = 0; i < b->cfg.max_bots; i++)
    sp__job_free(b->bots[i].job);
  while (b->spare) {
    sp__snap *s = b->spare;
    b->spare = s->next;
    sp__snap_free(s);
  }
  free(b->bots);
  free(b);
}

void sp_bots_close(sp_bots *b) {
  if (!b)
    return;
  b->closing = 1;
  if (b->busy == 0)
    sp__free(b);
}

/* ---- snapshots (loop thread only) ---------------------------------------- */

/* Copies the field and the heads of G into a spare snapshot (or a new one),
 * with one reference for the caller. Returns NULL when out of memory. */
static sp__snap *sp__snap_take(sp_bots *b, const sp_game *g) {
  int w = sp_game_width(g), h = sp_game_height(g);
  size_t ncells = (size_t)w * (size_t)h, live = sp_game_live_count(g);
  sp__snap *s = b->spare;

  if (s) {
    b->spare = s->next;
    b->nspare--;
  } else {
    s = calloc(1, sizeof *s);
    if (!s)
      return NULL;
    b->snap_stats.allocs++;
  }
  if (s->ncells != ncells) {
    sp_cell *cells = realloc(s->cells, ncells * sizeof *cells);
    if (!cells)
      goto fail;
    s->cells = cells;
    s->ncells = ncells;
  }
  if (s->heads_cap < live) {
    int *heads = realloc(s->heads, 2 * live * sizeof *heads);
    if (!heads)
      goto fail;
    s->heads = heads;
    s->heads_cap = live;
  }
  memcpy(s->cells, sp_game_cells(g), ncells * sizeof *s->cells);
  s->width = w;
  s->height = h;
  s->nheads = 0;
  for (size_t i = 0; i < live; i++) {
    uint32_t id, score;
    uint8_t color;
    int x, y, d;
    sp_game_snake(g, i, &id, &color, &score);
    if (sp_game_head(g, id, &x, &y, &d)) {
      s->heads[2 * s->nheads] = x;
      s->heads[2 * s->nheads + 1] = y;
      s->nheads++;
    }
  }
  s->refs = 1;
  s->next = NULL;
  b->snap_stats.taken++;
  b->snap_stats.live++;
  return s;

fail:
  sp__snap_free(s);
  return NULL;
}

/* Drops one reference; the last one keeps the copy for a later tick, or
 * frees it when enough are kept. */
static void sp__snap_release(sp_bots *b, sp__snap *s) {
  if (--s->refs > 0)
    return;
  b->snap_stats.live--;
  if (b->nspare < SP__SPARE_SNAPS) {
    s->next = b->spare;
    b->spare = s;
    b->nspare++;
  } else {
    sp__snap_free(s);
  }
}

/* ---- the thread pool side --------------------------------------------- */

static void sp__work_cb(uv_work_t *req) {
  sp__job *j = req->data;
  uint64_t t0 = uv_hrtime();
  if (j->delay_ms)
    uv_sleep(j->delay_ms);
  j->answer = sp_bot_choose(&j->view, j->scratch_ok ? &j->scratch : NULL);
  j->ns = uv_hrtime() - t0;
}

static void sp__after_cb(uv_work_t *req, int status) {
  sp__job *j = req->data;
  sp_bots *b = j->owner;
  sp__bot *bot = &b->bots[j->slot];
  sp__snap_release(b, j->snap);
  j->snap = NULL;
  j->view.cells = NULL;
  j->view.heads_xy = NULL;
  bot->busy = 0;
  b->busy--;
  if (b->closing) {
    if (b->busy == 0)
      sp__free(b);
    return;
  }
  if (b->cfg.stats) {
    SP_COUNT_ADD(b->cfg.stats->searches, 1);
    SP_COUNT_ADD(b->cfg.stats->search_ns, j->ns);
  }
  /* An answer for a snake that has died since is dropped, and so is one
   * that missed the tick it was meant for: that tick counted it late and the
   * bot kept its direction; the field has moved on since its snapshot. */
  if (status != 0 || bot->id != j->id)
    return;
  if (b->steers != j->steers) {
    b->snap_stats.dropped++;
    return;
  }
  bot->pending_dir = j->answer;
}

/* ---- the loop side ------------------------------------------------------ */

void sp_bots_steer(sp_bots *b, sp_game *g) {
  b->steers++;
  for (int i = 0; i < b->cfg.max_bots; i++) {
    sp__bot *bot = &b->bots[i];
    if (!bot->id)
      continue;
    if (bot->pending_dir >= 0) {
      sp_game_turn(g, bot->id, bot->pending_dir);
      bot->pending_dir = -1;
    } else if (bot->busy && b->cfg.stats) {
      SP_COUNT_ADD(b->cfg.stats->late, 1);
    }
  }
}

/* Gets bot I's job ready for a search on a field of W x H cells (its memory
 * is kept between searches). Returns it, or NULL when out of memory. */
static sp__job *sp__job_ready(sp_bots *b, int i, int w, int h) {
  sp__bot *bot = &b->bots[i];
  sp__job *j = bot->job;
  if (!j) {
    j = calloc(1, sizeof *j);
    if (!j)
      return NULL;
    j->owner = b;
    j->slot = i;
    j->req.data = j;
    bot->job = j;
  }
  if (!j->scratch_ok || j->scratch.ncells != w * h) {
    if (j->scratch_ok)
      sp_bot_scratch_free(&j->scratch);
    /* Without scratch memory the search degrades to a look one step ahead
     * (bot.h), which still beats keeping the direction. */
    j->scratch_ok = sp_bot_scratch_init(&j->scratch, w, h) == 0;
  }
  return j;
}

void sp_bots_think(sp_bots *b, const sp_game *g) {
  int w = sp_game_width(g), h = sp_game_height(g);
  sp__snap *snap = NULL;

  for (int i = 0; i < b->cfg.max_bots; i++) {
    sp__bot *bot = &b->bots[i];
    int x, y, d;
    if (!bot->id || bot->busy || !sp_game_head(g, bot->id, &x, &y, &d))
      continue;
    sp__job *j = sp__job_ready(b, i, w, h);
    if (!j)
      continue; /* out of memory: this bot keeps its direction */
    if (!snap) {
      /* The first bot to search this tick takes the copy; the reference it
       * holds keeps the copy alive while the jobs are being queued. */
      snap = sp__snap_take(b, g);
      if (!snap)
        return; /* out of memory: every bot keeps its direction */
    }
    j->id = bot->id;
    j->steers = b->steers;
    j->delay_ms = b->cfg.delay_ms;
    j->snap = snap;
    j->view = (sp_bot_snapshot){.width = snap->width,
                                .height = snap->height,
                                .cells = snap->cells,
                                .head_x = x,
                                .head_y = y,
                                .dir = d,
                                .length = sp_game_length(g, bot->id),
                                .nheads = snap->nheads,
                                .heads_xy = snap->heads};
    snap->refs++;
    if (uv_queue_work(b->cfg.loop, &j->req, sp__work_cb, sp__after_cb) != 0) {
      snap->refs--;
      j->snap = NULL;
      continue;
    }
    bot->busy = 1;
    b->busy++;
    b->snap_stats.queued++;
  }
  if (snap)
    sp__snap_release(b, snap); /* the taker's reference */
}

void sp_bots_reap(sp_bots *b, const sp_game *g) {
  for (int i = 0; i < b->cfg.max_bots; i++)
    if (b->bots[i].id && !sp_game_alive(g, b->bots[i].id)) {
      b->bots[i].id = 0;
      b->bots[i].pending_dir = -1;
    }
}

void sp_bots_fill(sp_bots *b, sp_game *g, size_t humans, size_t free_places,
                  void (*joined)(void *data, uint32_t id, const char *name,
                                 int color),
                  void *data) {
  if (humans == 0)
    return;
  for (int i = 0; i < b->cfg.max_bots && free_places > 0; i++) {
    sp__bot *bot = &b->bots[i];
    if (bot->id)
      continue;
    uint32_t id;
    do
      id = atomic_fetch_add(b->cfg.next_id, 1) + 1;
    while (id == 0);
    uint8_t color;
    if (sp_game_join(g, id, &color) != 0)
      return;
    bot->id = id;
    bot->pending_dir = -1;
    free_places--;
    joined(data, id, bot->name, color);
  }
}

int sp_bots_evict(sp_bots *b, sp_game *g) {
  for (int i = b->cfg.max_bots - 1; i >= 0; i--) {
    sp__bot *bot = &b->bots[i];
    if (bot->id && sp_game_alive(g, bot->id)) {
      sp_game_kill(g, bot->id);
      bot->id = 0;
      bot->pending_dir = -1;
      return 1;
    }
  }
  return 0;
}

void sp_bots_clear(sp_bots *b, sp_game *g) {
  while (sp_bots_evict(b, g))
    ;
}

const char *sp_bots_name(const sp_bots *b, uint32_t id) {
  for (int i = 0; i < b->cfg.max_bots; i++)
    if (id && b->bots[i].id == id)
      return b->bots[i].name;
  return NULL;
}

size_t sp_bots_live(const sp_bots *b) {
  size_t n = 0;
  for (int i = 0; i < b->cfg.max_bots; i++)
    n += b->bots[i].id != 0;
  return n;
}

void sp_bots_snap_stats_get(const sp_bots *b, sp_bots_snap_stats *out) {
  *out = b->snap_stats;
}
