#include "room/round.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sp_round_init(sp_round *r, uint32_t seconds, uint32_t standings_seconds) {
  memset(r, 0, sizeof *r);
  r->state = seconds > 0 ? SP_ROUND_IDLE : SP_ROUND_OFF;
  r->seconds = seconds;
  r->standings_seconds = standings_seconds;
}

void sp_round_free(sp_round *r) {
  free(r->entries);
  r->entries = NULL;
  r->n = r->cap = 0;
}

static sp_round_entry *sp__entry(sp_round *r, uint32_t id) {
  for (size_t i = 0; i < r->n; i++)
    if (r->entries[i].id == id)
      return &r->entries[i];
  return NULL;
}

/* A new entry for id, or NULL when full (or out of memory). */
static sp_round_entry *sp__add(sp_round *r, uint32_t id) {
  if (r->n == r->cap) {
    if (r->cap == SP_ROUND_MAX_ENTRIES)
      return NULL;
    size_t cap = r->cap ? r->cap * 2 : 16;
    sp_round_entry *e = realloc(r->entries, cap * sizeof *e);
    if (!e)
      return NULL;
    r->entries = e;
    r->cap = cap;
  }
  sp_round_entry *e = &r->entries[r->n++];
  memset(e, 0, sizeof *e);
  e->id = id;
  e->seq = ++r->seq;
  return e;
}

int sp_round_join(sp_round *r, uint64_t now_ms, uint32_t id, const char *name,
                  uint8_t color, uint64_t *wait_ms) {
  *wait_ms = 0;
  int started = 0;
  switch (r->state) {
  case SP_ROUND_OFF: return 0;
  case SP_ROUND_STANDINGS:
    *wait_ms = r->end_ms > now_ms ? r->end_ms - now_ms : 0;
    return -1;
  case SP_ROUND_IDLE:
    r->state = SP_ROUND_RUNNING;
    r->end_ms = now_ms + (uint64_t)r->seconds * 1000;
    r->n = 0;
    started = 1;
    break;
  case SP_ROUND_RUNNING: break;
  }
  sp_round_entry *e = sp__entry(r, id);
  if (!e)
    e = sp__add(r, id);
  if (e) {
    snprintf(e->name, sizeof e->name, "%s", name);
    e->color = color;
  }
  return started;
}

void sp_round_score(sp_round *r, uint32_t id, const char *name, uint8_t color,
                    uint32_t score) {
  if (r->state != SP_ROUND_RUNNING)
    return;
  sp_round_entry *e = sp__entry(r, id);
  if (!e) {
    e = sp__add(r, id);
    if (!e) {
      /* Full: the lowest score gives way to a higher one. */
      size_t low = 0;
      for (size_t i = 1; i < r->n; i++)
        if (r->entries[i].score < r->entries[low].score)
          low = i;
      if (r->n == 0 || r->entries[low].score >= score)
        return;
      e = &r->entries[low];
      memset(e, 0, sizeof *e);
      e->id = id;
    }
    snprintf(e->name, sizeof e->name, "%s", name);
  }
  if (color)
    e->color = color;
  if (score > e->score) {
    e->score = score;
    e->seq = ++r->seq;
  }
}

uint32_t sp_round_left(const sp_round *r, uint64_t now_ms) {
  if (r->state != SP_ROUND_RUNNING || now_ms >= r->end_ms)
    return 0;
  return (uint32_t)((r->end_ms - now_ms + 999) / 1000);
}

uint64_t sp_round_next_ms(const sp_round *r, uint64_t now_ms) {
  if (r->state != SP_ROUND_RUNNING && r->state != SP_ROUND_STANDINGS)
    return 0;
  if (now_ms >= r->end_ms)
    return 0;
  uint64_t left = r->end_ms - now_ms;
  if (r->state == SP_ROUND_STANDINGS)
    return left;
  uint64_t to_next = left % 1000;
  return to_next ? to_next : 1000;
}

static int sp__standing_cmp(const void *a, const void *b) {
  const sp_round_entry *x = a, *y = b;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void sp_round_finish(sp_round *r, uint64_t now_ms) {
  if (r->state != SP_ROUND_RUNNING)
    return;
  qsort(r->entries, r->n, sizeof *r->entries, sp__standing_cmp);
  r->state = SP_ROUND_STANDINGS;
  r->end_ms = now_ms + (uint64_t)r->standings_seconds * 1000;
}

void sp_round_idle(sp_round *r) {
  if (r->state == SP_ROUND_OFF)
    return;
  r->state = SP_ROUND_IDLE;
  r->n = 0;
}
