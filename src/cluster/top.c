/* Global top scores: submissions wait in memory until Redis acknowledges
 * them; the table is read back from Redis, never made up locally. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"
#include "cluster/scripts.h"
#include "core/log.h"

/* At most this many submissions in flight at once. */
#define SP__TOP_INFLIGHT 32

typedef struct sp__submit_req {
  sp_cluster *c;
  char name[SP_SCORE_NAME_SIZE];
  uint32_t score;
} sp__submit_req;

static sp__pending_score *sp__top_pending_find(sp_cluster *c,
                                               const char *name) {
  for (size_t i = 0; i < c->npending; i++)
    if (strcmp(c->pending[i].name, name) == 0)
      return &c->pending[i];
  return NULL;
}

static void sp__top_pending_drop(sp_cluster *c, sp__pending_score *p) {
  *p = c->pending[--c->npending];
  uv_mutex_lock(&c->mu);
  c->st.scores_pending = c->npending;
  uv_mutex_unlock(&c->mu);
}

void sp_cluster_submit_score(sp_cluster *c, const char *name, uint32_t score) {
  if (score == 0 || !name || !*name || c->closing)
    return;
  /* The set only improves, so its 15th score only grows: a score at or
   * below the 15th we last read can never enter the table. */
  if (c->ntop == SP_TOP_SCORES && score <= c->top[SP_TOP_SCORES - 1].score)
    return;
  sp__pending_score *p = sp__top_pending_find(c, name);
  if (p) {
    if (score > p->score)
      p->score = score;
  } else {
    if (!c->pending) {
      c->pending = calloc(SP__MAX_PENDING_SCORES, sizeof *c->pending);
      if (!c->pending)
        return;
    }
    if (c->npending == SP__MAX_PENDING_SCORES) {
      /* Full (Redis away for long): drop the lowest, the least likely to
       * matter, and say so. */
      size_t low = 0;
      for (size_t i = 1; i < c->npending; i++)
        if (c->pending[i].score < c->pending[low].score)
          low = i;
      if (c->pending[low].score >= score || c->pending[low].inflight)
        return;
      sp_log_warn("score_dropped", "score=%u why=queue_full",
                  c->pending[low].score);
      sp__top_pending_drop(c, &c->pending[low]);
    }
    p = &c->pending[c->npending++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->score = score;
    uv_mutex_lock(&c->mu);
    c->st.scores_pending = c->npending;
    uv_mutex_unlock(&c->mu);
  }
  sp__top_flush(c);
}

static void sp__top_submit_cb(void *data, redisReply *reply, int err) {
  sp__submit_req *q = data;
  sp_cluster *c = q->c;
  sp__pending_score *p = sp__top_pending_find(c, q->name);
  int ok = !err && reply->type == REDIS_REPLY_INTEGER;
  if (!ok && !err && reply->type == REDIS_REPLY_ERROR)
    sp_log_error("score_write_failed", "reply=%.120s", reply->str);
  uv_mutex_lock(&c->mu);
  if (ok)
    c->st.score_writes++;
  else
    c->st.score_write_failures++;
  uv_mutex_unlock(&c->mu);
  if (p) {
    p->inflight = 0;
    if (ok && p->score <= q->score)
      sp__top_pending_drop(c, p);
  }
  if (ok && reply->integer == 1)
    sp__top_refresh(c); /* our own event may not come back (pub/sub) */
  free(q);
  if (ok)
    sp__top_flush(c);
}

void sp__top_flush(sp_cluster *c) {
  if (!sp_redis_is_up(c->cmd) || c->closing)
    return;
  size_t inflight = 0;
  for (size_t i = 0; i < c->npending; i++)
    inflight += c->pending[i].inflight != 0;
  char kept[16], shown[16];
  snprintf(kept, sizeof kept, "%d", SP__TOP_KEPT);
  snprintf(shown, sizeof shown, "%d", SP_TOP_SCORES);
  for (size_t i = 0; i < c->npending && inflight < SP__TOP_INFLIGHT; i++) {
    sp__pending_score *p = &c->pending[i];
    if (p->inflight)
      continue;
    sp__submit_req *q = calloc(1, sizeof *q);
    if (!q)
      return;
    q->c = c;
    snprintf(q->name, sizeof q->name, "%s", p->name);
    q->score = p->score;
    char score[16];
    snprintf(score, sizeof score, "%u", p->score);
    const char *keys[] = {SP_KEY_TOP};
    const char *args[] = {score, p->name, c->ch_events, kept, shown};
    if (sp__cluster_eval(c, SP_LUA_SUBMIT, 1, keys, NULL, 5, args, NULL,
                         sp__top_submit_cb, q) != 0) {
      free(q);
      return;
    }
    p->inflight = p->score;
    inflight++;
  }
}

static void sp__top_read_cb(void *data, redisReply *reply, int err) {
  sp_cluster *c = data;
  c->top_read_inflight = 0;
  if (err || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2)
    return;
  sp_score_row rows[SP_TOP_SCORES];
  size_t n = 0;
  for (size_t i = 0; i + 1 < reply->elements && n < SP_TOP_SCORES; i += 2) {
    redisReply *name = reply->element[i], *score = reply->element[i + 1];
    if (name->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING)
      continue;
    double v = strtod(score->str, NULL);
    if (!(v >= 1 && v <= 4294967295.0))
      continue;
    memset(&rows[n], 0, sizeof rows[n]);
    snprintf(rows[n].name, sizeof rows[n].name, "%.*s", (int)name->len,
             name->str);
    rows[n].score = (uint32_t)v;
    n++;
  }
  int same = n == c->ntop;
  for (size_t i = 0; same && i < n; i++)
    same = rows[i].score == c->top[i].score &&
           strcmp(rows[i].name, c->top[i].name) == 0;
  if (same)
    return;
  uv_mutex_lock(&c->mu);
  memcpy(c->top, rows, n * sizeof rows[0]);
  c->ntop = n;
  uv_mutex_unlock(&c->mu);
  if (c->h.on_top && !c->closing)
    c->h.on_top(c->h.data, c->top, c->ntop);
}

void sp__top_refresh(sp_cluster *c) {
  if (c->top_read_inflight || c->closing)
    return;
  char last[16];
  snprintf(last, sizeof last, "%d", SP_TOP_SCORES - 1);
  const char *argv[] = {"ZRANGE", SP_KEY_TOP, "0", last, "REV", "WITHSCORES"};
  if (sp_redis_command(c->cmd, sp__top_read_cb, c, 6, argv, NULL) == 0)
    c->top_read_inflight = 1;
}

typedef struct sp__remove_req {
  sp_cluster *c;
  void (*cb)(void *data, int result);
  void *data;
} sp__remove_req;

static void sp__top_remove_cb(void *data, redisReply *reply, int err) {
  sp__remove_req *q = data;
  int result = err                                  ? err
               : reply->type == REDIS_REPLY_INTEGER ? (int)reply->integer
                                                    : UV_EIO;
  if (result >= 0)
    sp__top_refresh(q->c); /* our own event may not come back (pub/sub) */
  q->cb(q->data, result);
  free(q);
}

int sp_cluster_remove_score(sp_cluster *c, const char *name,
                            void (*cb)(void *data, int result), void *data) {
  if (!name || !*name || strlen(name) >= SP_SCORE_NAME_SIZE)
    return UV_EINVAL;
  if (c->closing || !sp_redis_is_up(c->cmd))
    return UV_ENOTCONN;
  /* A waiting submission of the name would bring it back. */
  for (size_t i = 0; i < c->npending;) {
    if (strcmp(c->pending[i].name, name) == 0 && !c->pending[i].inflight)
      sp__top_pending_drop(c, &c->pending[i]);
    else
      i++;
  }
  sp__remove_req *q = malloc(sizeof *q);
  if (!q)
    return UV_ENOMEM;
  *q = (sp__remove_req){c, cb, data};
  const char *keys[] = {SP_KEY_TOP};
  const char *args[] = {name, c->ch_events};
  int rc = sp__cluster_eval(c, SP_LUA_REMOVE, 1, keys, NULL, 2, args, NULL,
                            sp__top_remove_cb, q);
  if (rc != 0)
    free(q);
  return rc;
}

void sp_cluster_top(sp_cluster *c, sp_score_row *rows, size_t *n) {
  uv_mutex_lock(&c->mu);
  memcpy(rows, c->top, c->ntop * sizeof rows[0]);
  *n = c->ntop;
  uv_mutex_unlock(&c->mu);
}

void sp__top_free(sp_cluster *c) {
  free(c->pending);
  c->pending = NULL;
  c->npending = 0;
}
