#include "room/bots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/bot.h"
#include "core/error.h"
#include "core/log.h"

/* A search job owns everything it reads: a copy of the field and of the
 * heads, taken on the loop thread at the tick. */
typedef struct sp__job {
  uv_work_t req;
  sp_bots *owner;
  int slot;
  uint32_t id;
  sp_bot_snapshot snap;
  sp_cell *cells;
  int *heads;
  size_t ncells, nheads_cap;
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

static void sp__job_free(sp__job *j) {
  if (!j)
    return;
  if (j->scratch_ok)
    sp_bot_scratch_free(&j->scratch);
  free(j->cells);
  free(j->heads);
  free(j);
}

static void sp__free(sp_bots *b) {
  for (int i = 0; i < b->cfg.max_bots; i++)
    sp__job_free(b->bots[i].job);
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

/* ---- the thread pool side --------------------------------------------- */

static void sp__work_cb(uv_work_t *req) {
  sp__job *j = req->data;
  uint64_t t0 = uv_hrtime();
  if (j->delay_ms)
    uv_sleep(j->delay_ms);
  j->answer = sp_bot_choose(&j->snap, j->scratch_ok ? &j->scratch : NULL);
  j->ns = uv_hrtime() - t0;
}

static void sp__after_cb(uv_work_t *req, int status) {
  sp__job *j = req->data;
  sp_bots *b = j->owner;
  sp__bot *bot = &b->bots[j->slot];
  bot->busy = 0;
  b->busy--;
  if (b->closing) {
    if (b->busy == 0)
      sp__free(b);
    return;
  }
  if (b->cfg.stats) {
    atomic_fetch_add_explicit(&b->cfg.stats->searches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&b->cfg.stats->search_ns, j->ns,
                              memory_order_relaxed);
  }
  /* An answer for a snake that has died since is dropped. */
  if (status == 0 && bot->id == j->id)
    bot->pending_dir = j->answer;
}

/* ---- the loop side ------------------------------------------------------ */

void sp_bots_steer(sp_bots *b, sp_game *g) {
  for (int i = 0; i < b->cfg.max_bots; i++) {
    sp__bot *bot = &b->bots[i];
    if (!bot->id)
      continue;
    if (bot->pending_dir >= 0) {
      sp_game_turn(g, bot->id, bot->pending_dir);
      bot->pending_dir = -1;
    } else if (bot->busy && b->cfg.stats) {
      atomic_fetch_add_explicit(&b->cfg.stats->late, 1, memory_order_relaxed);
    }
  }
}

/* Fills the job's snapshot; returns 0 or UV_ENOMEM. */
static int sp__snapshot(sp__job *j, const sp_game *g, uint32_t id) {
  int w = sp_game_width(g), h = sp_game_height(g);
  size_t ncells = (size_t)w * (size_t)h;
  if (j->ncells != ncells) {
    sp_cell *cells = realloc(j->cells, ncells * sizeof *cells);
    if (!cells)
      return UV_ENOMEM;
    j->cells = cells;
    j->ncells = ncells;
    if (j->scratch_ok)
      sp_bot_scratch_free(&j->scratch);
    j->scratch_ok = sp_bot_scratch_init(&j->scratch, w, h) == 0;
  }
  size_t live = sp_game_live_count(g);
  if (j->nheads_cap < live) {
    int *heads = realloc(j->heads, 2 * live * sizeof *heads);
    if (!heads)
      return UV_ENOMEM;
    j->heads = heads;
    j->nheads_cap = live;
  }
  memcpy(j->cells, sp_game_cells(g), ncells * sizeof *j->cells);
  int nheads = 0;
  for (size_t i = 0; i < live; i++) {
    uint32_t other, score;
    uint8_t color;
    int x, y, d;
    sp_game_snake(g, i, &other, &color, &score);
    if (other != id && sp_game_head(g, other, &x, &y, &d)) {
      j->heads[2 * nheads] = x;
      j->heads[2 * nheads + 1] = y;
      nheads++;
    }
  }
  sp_bot_snapshot *s = &j->snap;
  memset(s, 0, sizeof *s);
  s->width = w;
  s->height = h;
  s->cells = j->cells;
  sp_game_head(g, id, &s->head_x, &s->head_y, &s->dir);
  s->length = sp_game_length(g, id);
  s->nheads = nheads;
  s->heads_xy = j->heads;
  return 0;
}

void sp_bots_think(sp_bots *b, const sp_game *g) {
  for (int i = 0; i < b->cfg.max_bots; i++) {
    sp__bot *bot = &b->bots[i];
    int x, y, d;
    if (!bot->id || bot->busy || !sp_game_head(g, bot->id, &x, &y, &d))
      continue;
    if (!bot->job) {
      bot->job = calloc(1, sizeof *bot->job);
      if (!bot->job)
        continue;
      bot->job->owner = b;
      bot->job->slot = i;
      bot->job->req.data = bot->job;
    }
    sp__job *j = bot->job;
    if (sp__snapshot(j, g, bot->id) != 0)
      continue; /* out of memory: this bot keeps its direction */
    j->id = bot->id;
    j->delay_ms = b->cfg.delay_ms;
    if (uv_queue_work(b->cfg.loop, &j->req, sp__work_cb, sp__after_cb) == 0) {
      bot->busy = 1;
      b->busy++;
    }
  }
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
