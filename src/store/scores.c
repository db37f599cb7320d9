#include "store/scores.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/counter.h"
#include "core/error.h"
#include "core/log.h"

#define SP_RETRY_MS 1000

typedef struct sp__job {
  uv_work_t req;
  sp_scores *s;
  int kind;            /* SP__OPEN, SP__WRITE, SP__CLOSE */
  sp_score_row *batch; /* score 0: a removal of that name */
  size_t nbatch;
  int removals;                    /* the batch has some: read the table back */
  sp_score_row top[SP_TOP_SCORES]; /* read back */
  size_t ntop;
  int ok;
  char err[256];
} sp__job;

enum { SP__OPEN, SP__WRITE, SP__CLOSE };

struct sp_scores {
  uv_loop_t *loop;
  uv_timer_t retry;
  sqlite3 *db; /* used on the thread pool only */
  char path[1100];
  sp_score_row top[SP_TOP_SCORES];
  size_t ntop;
  sp_score_row *pending;
  size_t npending, cappending;
  uint64_t seq; /* order of submissions, continued from the database */
  int busy;     /* a job is running */
  int failing;  /* the last write failed */
  int closing;
  void (*done)(void *);
  void *done_arg;
  void (*on_change)(void *);
  void *change_arg;
  sp_counter writes, failures;
};

int sp_top_insert(sp_score_row *rows, size_t *n, const char *name,
                  uint32_t score) {
  if (score == 0)
    return 0;
  size_t i;
  for (i = 0; i < *n; i++)
    if (strcmp(rows[i].name, name) == 0)
      break;
  if (i < *n) {
    if (rows[i].score >= score)
      return 0;
    memmove(&rows[i], &rows[i + 1], (*n - i - 1) * sizeof *rows);
    (*n)--;
  }
  size_t pos = 0;
  while (pos < *n && rows[pos].score >= score)
    pos++;
  if (pos >= SP_TOP_SCORES)
    return 0;
  size_t keep = *n < SP_TOP_SCORES ? *n : SP_TOP_SCORES - 1;
  memmove(&rows[pos + 1], &rows[pos], (keep - pos) * sizeof *rows);
  /* Zero-filled names let two tables be compared with memcmp. */
  memset(&rows[pos], 0, sizeof rows[pos]);
  snprintf(rows[pos].name, sizeof rows[pos].name, "%s", name);
  rows[pos].score = score;
  *n = keep + 1;
  return 1;
}

/* Removes name from a table; 1 if it was there. */
static int sp__top_delete(sp_score_row *rows, size_t *n, const char *name) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp(rows[i].name, name) == 0) {
      memmove(&rows[i], &rows[i + 1], (*n - i - 1) * sizeof *rows);
      (*n)--;
      memset(&rows[*n], 0, sizeof rows[*n]);
      return 1;
    }
  return 0;
}

static void sp__sqlerr(sp__job *j, const char *what) {
  snprintf(j->err, sizeof j->err, "%s: %s", what,
           j->s->db ? sqlite3_errmsg(j->s->db) : "cannot open");
  j->ok = 0;
}

/* Thread pool: open, check and load. */
static void sp__open_work(sp__job *j) {
  sp_scores *s = j->s;
  char *msg = NULL;
  sqlite3_stmt *st = NULL;
  j->ok = 1;
  if (sqlite3_open_v2(s->path, &s->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_FULLMUTEX,
                      NULL) != SQLITE_OK) {
    sp__sqlerr(j, "cannot open the database");
    return;
  }
  sqlite3_busy_timeout(s->db, 1000);
  static const char *const setup = "PRAGMA journal_mode=WAL;"
                                   "PRAGMA synchronous=FULL;"
                                   "CREATE TABLE IF NOT EXISTS scores("
                                   " name TEXT PRIMARY KEY NOT NULL,"
                                   " score INTEGER NOT NULL CHECK (score > 0),"
                                   " at INTEGER NOT NULL DEFAULT 0);";
  if (sqlite3_exec(s->db, setup, NULL, NULL, &msg) != SQLITE_OK) {
    snprintf(j->err, sizeof j->err, "cannot use the database: %s",
             msg ? msg : "unknown error");
    sqlite3_free(msg);
    j->ok = 0;
    return;
  }
  if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL) !=
          SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW ||
      strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
    sp__sqlerr(j, "the database is corrupt");
    sqlite3_finalize(st);
    return;
  }
  sqlite3_finalize(st);
  if (sqlite3_prepare_v2(s->db,
                         "SELECT name, score FROM scores"
                         " ORDER BY score DESC, at ASC, rowid ASC LIMIT ?",
                         -1, &st, NULL) != SQLITE_OK) {
    sp__sqlerr(j, "cannot read the scores");
    return;
  }
  sqlite3_bind_int(st, 1, SP_TOP_SCORES);
  sqlite3_stmt *mx = NULL;
  if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(at), 0) FROM scores", -1,
                         &mx, NULL) == SQLITE_OK &&
      sqlite3_step(mx) == SQLITE_ROW)
    s->seq = (uint64_t)sqlite3_column_int64(mx, 0);
  sqlite3_finalize(mx);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    sqlite3_int64 score = sqlite3_column_int64(st, 1);
    if (name && score > 0 && score <= UINT32_MAX)
      sp_top_insert(s->top, &s->ntop, name, (uint32_t)score);
  }
  if (rc != SQLITE_DONE)
    sp__sqlerr(j, "cannot read the scores");
  sqlite3_finalize(st);
}

/* Thread pool: one transaction for the whole batch. */
/* Reads the best SP_TOP_SCORES rows, in the table's order. */
static int sp__read_top(sqlite3 *db, sp_score_row *top, size_t *n) {
  sqlite3_stmt *st = NULL;
  *n = 0;
  if (sqlite3_prepare_v2(db,
                         "SELECT name, score FROM scores"
                         " ORDER BY score DESC, at ASC, rowid ASC LIMIT ?",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int(st, 1, SP_TOP_SCORES);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    sqlite3_int64 score = sqlite3_column_int64(st, 1);
    if (name && score > 0 && score <= UINT32_MAX)
      sp_top_insert(top, n, name, (uint32_t)score);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static void sp__write_work(sp__job *j) {
  sqlite3 *db = j->s->db;
  sqlite3_stmt *st = NULL, *del = NULL;
  j->ok = 1;
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
    sp__sqlerr(j, "cannot write scores");
    return;
  }
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO scores(name, score, at) VALUES(?, ?, ?)"
                         " ON CONFLICT(name) DO UPDATE SET"
                         " score = excluded.score, at = excluded.at"
                         " WHERE excluded.score > score",
                         -1, &st, NULL) != SQLITE_OK)
    goto fail;
  if (j->removals && sqlite3_prepare_v2(db, "DELETE FROM scores WHERE name = ?",
                                        -1, &del, NULL) != SQLITE_OK)
    goto fail;
  for (size_t i = 0; i < j->nbatch; i++) {
    sqlite3_stmt *q = j->batch[i].score ? st : del;
    sqlite3_bind_text(q, 1, j->batch[i].name, -1, SQLITE_STATIC);
    if (q == st) {
      sqlite3_bind_int64(st, 2, j->batch[i].score);
      sqlite3_bind_int64(st, 3, (sqlite3_int64)j->batch[i].at);
    }
    if (sqlite3_step(q) != SQLITE_DONE)
      goto fail;
    sqlite3_reset(q);
  }
  sqlite3_finalize(st);
  sqlite3_finalize(del);
  st = del = NULL;
  if (j->removals && sp__read_top(db, j->top, &j->ntop) != 0)
    goto fail;
  if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    sp__sqlerr(j, "cannot write scores");
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  }
  return;
fail:
  sp__sqlerr(j, "cannot write scores");
  sqlite3_finalize(st);
  sqlite3_finalize(del);
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static void sp__work_cb(uv_work_t *req) {
  sp__job *j = req->data;
  switch (j->kind) {
  case SP__OPEN: sp__open_work(j); break;
  case SP__WRITE: sp__write_work(j); break;
  case SP__CLOSE:
    sqlite3_close(j->s->db);
    j->s->db = NULL;
    j->ok = 1;
    break;
  }
}

static void sp__pump(sp_scores *s);

static void sp__retry_cb(uv_timer_t *t) { sp__pump(t->data); }

static void sp__retry_closed(uv_handle_t *h) {
  sp_scores *s = h->data;
  void (*done)(void *) = s->done;
  void *arg = s->done_arg;
  free(s->pending);
  free(s);
  if (done)
    done(arg);
}

/* The table as the database has it after a removal, with what was
 * submitted since on top of it. */
static void sp__read_back(sp_scores *s, sp__job *j) {
  for (size_t i = 0; i < s->npending; i++) {
    const sp_score_row *p = &s->pending[i];
    if (p->score)
      sp_top_insert(j->top, &j->ntop, p->name, p->score);
    else
      sp__top_delete(j->top, &j->ntop, p->name);
  }
  if (j->ntop == s->ntop &&
      memcmp(j->top, s->top, j->ntop * sizeof j->top[0]) == 0)
    return;
  memcpy(s->top, j->top, j->ntop * sizeof j->top[0]);
  s->ntop = j->ntop;
  if (s->on_change && !s->closing)
    s->on_change(s->change_arg);
}

static void sp__after_cb(uv_work_t *req, int status) {
  sp__job *j = req->data;
  sp_scores *s = j->s;
  s->busy = 0;
  if (j->kind == SP__WRITE) {
    if (status == 0 && j->ok) {
      SP_COUNT_ADD(s->writes, 1);
      if (s->failing)
        sp_log_info("scores_writable", "written=%zu", j->nbatch);
      s->failing = 0;
      free(j->batch);
      if (j->removals)
        sp__read_back(s, j);
    } else {
      SP_COUNT_ADD(s->failures, 1);
      /* Put the batch back in front: nothing is lost, and order is kept. */
      sp_log_error("scores_write_failed", "pending=%zu error=\"%s\"",
                   j->nbatch + s->npending, j->err);
      s->failing = 1;
      size_t n = j->nbatch + s->npending;
      sp_score_row *all = malloc(n * sizeof *all);
      if (all) {
        memcpy(all, j->batch, j->nbatch * sizeof *all);
        if (s->npending) /* pending may be NULL: no memcpy from NULL */
          memcpy(all + j->nbatch, s->pending, s->npending * sizeof *all);
        free(s->pending);
        s->pending = all;
        s->npending = s->cappending = n;
      }
      free(j->batch);
      if (s->closing) {
        sp_log_error("scores_lost", "count=%zu", s->npending);
        s->npending = 0;
      } else {
        uv_timer_start(&s->retry, sp__retry_cb, SP_RETRY_MS, 0);
      }
    }
  } else if (j->kind == SP__CLOSE) {
    free(j);
    uv_close((uv_handle_t *)&s->retry, sp__retry_closed);
    return;
  }
  free(j);
  if (!s->failing || s->closing)
    sp__pump(s);
}

static int sp__queue(sp_scores *s, int kind) {
  sp__job *j = calloc(1, sizeof *j);
  if (!j)
    return UV_ENOMEM;
  j->req.data = j;
  j->s = s;
  j->kind = kind;
  if (kind == SP__WRITE) {
    j->batch = s->pending;
    j->nbatch = s->npending;
    for (size_t i = 0; i < j->nbatch; i++)
      j->removals |= j->batch[i].score == 0;
    s->pending = NULL;
    s->npending = s->cappending = 0;
  }
  if (uv_queue_work(s->loop, &j->req, sp__work_cb, sp__after_cb) != 0) {
    free(j->batch);
    free(j);
    return UV_EIO;
  }
  s->busy = 1;
  return 0;
}

/* Starts the next job: a write if scores wait, else the close if asked. */
static void sp__pump(sp_scores *s) {
  if (s->busy)
    return;
  if (s->npending > 0) {
    uv_timer_stop(&s->retry);
    sp__queue(s, SP__WRITE);
  } else if (s->closing) {
    sp__queue(s, SP__CLOSE);
  }
}

static void sp__open_after(uv_work_t *req, int status) {
  (void)status;
  sp__job *j = req->data;
  j->s->busy = 0;
}

int sp_scores_open(uv_loop_t *loop, const char *dir, sp_scores **out, char *err,
                   size_t errlen) {
  sp_scores *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return UV_ENOMEM;
  }
  s->loop = loop;
  snprintf(s->path, sizeof s->path, "%s/scores.db", dir);
  sp__job job = {.s = s, .kind = SP__OPEN};
  job.req.data = &job;
  s->busy = 1;
  if (uv_queue_work(loop, &job.req, sp__work_cb, sp__open_after) != 0) {
    snprintf(err, errlen, "cannot start the database thread");
    free(s);
    return UV_EIO;
  }
  while (s->busy)
    uv_run(loop, UV_RUN_ONCE);
  if (!job.ok) {
    snprintf(err, errlen, "%s (%s)", job.err, s->path);
    sqlite3_close(s->db);
    free(s);
    return UV_EIO;
  }
  uv_timer_init(loop, &s->retry);
  s->retry.data = s;
  *out = s;
  return 0;
}

/* Queues a row for the database (score 0: remove the name). */
static void sp__enqueue(sp_scores *s, const char *name, uint32_t score) {
  if (s->npending == s->cappending) {
    size_t cap = s->cappending ? s->cappending * 2 : 8;
    sp_score_row *p = realloc(s->pending, cap * sizeof *p);
    if (!p) {
      sp_log_error("scores_lost", "count=1 error=\"out of memory\"");
      return;
    }
    s->pending = p;
    s->cappending = cap;
  }
  sp_score_row *r = &s->pending[s->npending++];
  memset(r, 0, sizeof *r);
  snprintf(r->name, sizeof r->name, "%s", name);
  r->score = score;
  /* When the best score was set orders ties, in memory and on disk. */
  r->at = ++s->seq;
  if (!s->failing)
    sp__pump(s);
}

int sp_scores_submit(sp_scores *s, const char *name, uint32_t score) {
  if (score == 0 || s->closing)
    return 0;
  int changed = sp_top_insert(s->top, &s->ntop, name, score);
  /* The table only ever improves, so a score that did not enter it can
   * never matter after a restart either: only changes are written. */
  if (!changed)
    return 0;
  sp__enqueue(s, name, score);
  return changed;
}

int sp_scores_remove(sp_scores *s, const char *name) {
  if (s->closing)
    return 0;
  int was = sp__top_delete(s->top, &s->ntop, name);
  sp__enqueue(s, name, 0);
  return was;
}

void sp_scores_on_change(sp_scores *s, void (*fn)(void *arg), void *arg) {
  s->on_change = fn;
  s->change_arg = arg;
}

void sp_scores_get_stats(const sp_scores *s, sp_scores_stats *out) {
  out->writes = SP_COUNT_GET(((sp_scores *)s)->writes);
  out->failures = SP_COUNT_GET(((sp_scores *)s)->failures);
}

size_t sp_scores_count(const sp_scores *s) { return s->ntop; }

const sp_score_row *sp_scores_row(const sp_scores *s, size_t i) {
  return i < s->ntop ? &s->top[i] : NULL;
}

size_t sp_scores_pending(const sp_scores *s) { return s->npending; }

void sp_scores_close(sp_scores *s, void (*done)(void *arg), void *arg) {
  s->closing = 1;
  s->done = done;
  s->done_arg = arg;
  uv_timer_stop(&s->retry);
  sp__pump(s);
}
