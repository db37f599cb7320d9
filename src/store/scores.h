/* scores: the top scores, in memory for the loop and durable in SQLite.
 *
 * The table is read and changed on the loop thread only; every change is
 * also queued for the database, which is touched only from the libuv
 * thread pool (one job at a time, so the connection is never shared).
 * A write that fails stays queued and is retried every second: games go on
 * and no score is dropped while the disk is unwritable. */
#ifndef SP_SCORES_H
#define SP_SCORES_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SP_TOP_SCORES 15
#define SP_SCORE_NAME_SIZE 64

typedef struct sp_scores sp_scores;

typedef struct sp_score_row {
  char name[SP_SCORE_NAME_SIZE];
  uint32_t score;
  uint64_t at; /* when it was set (an increasing sequence), for the database */
} sp_score_row;

/* Opens (creating if missing) DIR/scores.db and loads the table. The work
 * runs on the thread pool while this call runs the loop until it is done,
 * so it must be called before the server starts. On failure returns a
 * negative code and a one-line reason in err. */
int sp_scores_open(uv_loop_t *loop, const char *dir, sp_scores **out, char *err,
                   size_t errlen);

/* Records `name` scoring `score` (zero scores are not recorded; a name
 * keeps its best score). Returns 1 if the top table changed; only then is
 * anything written, since a score that does not enter the table can never
 * enter it later (it only improves). */
int sp_scores_submit(sp_scores *s, const char *name, uint32_t score);

/* Removes `name` from the table at once and from the database after the
 * writes queued before it (an operator's decision). Returns 1 if the name
 * was in the table. Once the database has done it, the table is read back
 * from it (a name below the table may move up) and, if that changed it,
 * on_change runs (see sp_scores_on_change). */
int sp_scores_remove(sp_scores *s, const char *name);
/* fn(arg) runs on the loop whenever the table changed by itself (after a
 * removal, when it is read back from the database). */
void sp_scores_on_change(sp_scores *s, void (*fn)(void *arg), void *arg);

/* Writes to the database, for the metrics: any thread may read them while
 * the store is open (relaxed atomics written by the loop only). */
typedef struct sp_scores_stats {
  uint64_t writes;   /* transactions that committed */
  uint64_t failures; /* transactions that failed (retried) */
} sp_scores_stats;
void sp_scores_get_stats(const sp_scores *s, sp_scores_stats *out);

size_t sp_scores_count(const sp_scores *s);
const sp_score_row *sp_scores_row(const sp_scores *s, size_t i);
/* Scores waiting to be written (for tests and logs). */
size_t sp_scores_pending(const sp_scores *s);

/* Finishes pending writes (one last try if the database is failing),
 * closes the database, frees s, then calls done(arg) on the loop. */
void sp_scores_close(sp_scores *s, void (*done)(void *arg), void *arg);

/* Inserts into a top table of at most SP_TOP_SCORES rows kept in order
 * (highest first, earlier first among equals), one row per name. Pure;
 * returns 1 if the table changed. */
int sp_top_insert(sp_score_row *rows, size_t *n, const char *name,
                  uint32_t score);

#endif
