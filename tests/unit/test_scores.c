/* Unit tests of the top scores (src/store/scores.h): the pure table rules of
 * sp_top_insert, then the SQLite store on a real libuv loop in a temporary
 * directory: persistence across a reopen and clear errors for a database
 * that cannot be used. */
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "store/scores.h"
#include "test.h"

/* ---- sp_top_insert ----------------------------------------------------- */

typedef struct table {
  sp_score_row rows[SP_TOP_SCORES];
  size_t n;
} table;

static int ins(table *t, const char *name, uint32_t score) {
  return sp_top_insert(t->rows, &t->n, name, score);
}

/* "name:score,name:score" for readable failures. */
static const char *show(const table *t) {
  static char buf[2048];
  size_t o = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < t->n && o < sizeof buf - 80; i++)
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s:%u", i ? "," : "",
                          t->rows[i].name, t->rows[i].score);
  return buf;
}

TEST(top_highest_first) {
  table t = {.n = 0};
  ASSERT_EQ(ins(&t, "a", 5), 1);
  ASSERT_EQ(ins(&t, "b", 10), 1);
  ASSERT_EQ(ins(&t, "c", 7), 1);
  ASSERT_EQ(ins(&t, "d", 1), 1);
  ASSERT_EQ(ins(&t, "e", 4294967295u), 1);
  ASSERT_STR_EQ(show(&t), "e:4294967295,b:10,c:7,a:5,d:1");
}

TEST(top_ties_keep_earlier_first) {
  table t = {.n = 0};
  ASSERT_EQ(ins(&t, "a", 5), 1);
  ASSERT_EQ(ins(&t, "b", 5), 1);
  ASSERT_EQ(ins(&t, "c", 9), 1);
  ASSERT_EQ(ins(&t, "d", 5), 1);
  ASSERT_STR_EQ(show(&t), "c:9,a:5,b:5,d:5");
  /* A name that reaches a tie by improving is the later one. */
  ASSERT_EQ(ins(&t, "e", 3), 1);
  ASSERT_EQ(ins(&t, "e", 9), 1);
  ASSERT_STR_EQ(show(&t), "c:9,e:9,a:5,b:5,d:5");
}

TEST(top_one_row_per_name) {
  table t = {.n = 0};
  ASSERT_EQ(ins(&t, "bob", 5), 1);
  ASSERT_EQ(ins(&t, "alice", 7), 1);
  ASSERT_EQ(ins(&t, "bob", 10), 1); /* better: replaces, moves up */
  ASSERT_STR_EQ(show(&t), "bob:10,alice:7");
  ASSERT_EQ(ins(&t, "bob", 3), 0);  /* worse: ignored */
  ASSERT_EQ(ins(&t, "bob", 10), 0); /* equal: ignored */
  ASSERT_STR_EQ(show(&t), "bob:10,alice:7");
  ASSERT_EQ(ins(&t, "alice", 8), 1); /* better but still second */
  ASSERT_STR_EQ(show(&t), "bob:10,alice:8");
  /* Names are compared exactly. */
  ASSERT_EQ(ins(&t, "Bob", 1), 1);
  ASSERT_EQ(ins(&t, "bob ", 1), 1);
  ASSERT_EQ(t.n, 4);
}

TEST(top_zero_score_ignored) {
  table t = {.n = 0};
  ASSERT_EQ(ins(&t, "a", 0), 0);
  ASSERT_EQ(t.n, 0);
  ASSERT_EQ(ins(&t, "a", 3), 1);
  ASSERT_EQ(ins(&t, "a", 0), 0);
  ASSERT_EQ(ins(&t, "b", 0), 0);
  ASSERT_STR_EQ(show(&t), "a:3");
}

TEST(top_at_most_15_rows) {
  table t = {.n = 0};
  char name[16];
  for (int i = 0; i < SP_TOP_SCORES; i++) {
    snprintf(name, sizeof name, "p%02d", i);
    ASSERT_EQ(ins(&t, name, (uint32_t)(100 - i)), 1); /* 100 .. 86 */
  }
  ASSERT_EQ(t.n, SP_TOP_SCORES);
  ASSERT_EQ(t.rows[14].score, 86);
  /* A 16th, lower score is refused; an equal one too (earlier wins). */
  ASSERT_EQ(ins(&t, "low", 1), 0);
  ASSERT_EQ(ins(&t, "tie", 86), 0);
  ASSERT_EQ(t.n, SP_TOP_SCORES);
  ASSERT_STR_EQ(t.rows[14].name, "p14");
  /* A higher one pushes the lowest out. */
  ASSERT_EQ(ins(&t, "top", 200), 1);
  ASSERT_EQ(t.n, SP_TOP_SCORES);
  ASSERT_STR_EQ(t.rows[0].name, "top");
  ASSERT_STR_EQ(t.rows[14].name, "p13");
  ASSERT_EQ(t.rows[14].score, 87);
  /* One in the middle pushes the lowest out too. */
  ASSERT_EQ(ins(&t, "mid", 95), 1);
  ASSERT_EQ(t.n, SP_TOP_SCORES);
  ASSERT_STR_EQ(t.rows[14].name, "p12");
  /* A name already in a full table improving: nobody leaves. */
  ASSERT_EQ(ins(&t, "p12", 300), 1);
  ASSERT_EQ(t.n, SP_TOP_SCORES);
  ASSERT_STR_EQ(t.rows[0].name, "p12");
  ASSERT_STR_EQ(t.rows[14].name, "p11");
  /* The table stays sorted, one row per name. */
  for (size_t i = 1; i < t.n; i++) {
    ASSERT(t.rows[i - 1].score >= t.rows[i].score);
    for (size_t j = 0; j < i; j++)
      ASSERT(strcmp(t.rows[i].name, t.rows[j].name) != 0);
  }
}

TEST(top_random_against_model) {
  /* Random inserts against a straightforward model: best score per name,
   * sorted by score then by the time that best score was set. */
  struct {
    char name[8];
    uint32_t score;
    unsigned when;
  } best[40];
  size_t nb = 0;
  table t = {.n = 0};
  uint32_t x = 12345;
  for (unsigned step = 1; step <= 3000; step++) {
    x = x * 1103515245u + 12345u;
    char name[8];
    snprintf(name, sizeof name, "n%u", (x >> 16) % 40);
    x = x * 1103515245u + 12345u;
    uint32_t score = (x >> 16) % 60;
    ins(&t, name, score);
    size_t i;
    for (i = 0; i < nb; i++)
      if (strcmp(best[i].name, name) == 0)
        break;
    if (score == 0)
      continue;
    if (i == nb) {
      snprintf(best[nb].name, sizeof best[nb].name, "%s", name);
      best[nb].score = 0;
      nb++;
    }
    if (score > best[i].score) {
      best[i].score = score;
      best[i].when = step;
    }
  }
  /* The table is exactly the model's first 15 rows. */
  ASSERT_EQ(t.n, SP_TOP_SCORES);
  for (size_t k = 0; k < t.n; k++) {
    size_t bi = nb;
    for (size_t i = 0; i < nb; i++) {
      if (best[i].score == 0)
        continue;
      if (bi == nb || best[i].score > best[bi].score ||
          (best[i].score == best[bi].score && best[i].when < best[bi].when))
        bi = i;
    }
    ASSERT(bi < nb);
    if (strcmp(t.rows[k].name, best[bi].name) != 0 ||
        t.rows[k].score != best[bi].score)
      FAILF("row %zu: %s:%u, model %s:%u", k, t.rows[k].name, t.rows[k].score,
            best[bi].name, best[bi].score);
    best[bi].score = 0; /* taken */
  }
}

/* ---- the store --------------------------------------------------------- */

static void set_flag(void *arg) { *(int *)arg = 1; }

/* Closes s and runs the loop until its done callback ran. */
static int close_and_wait(uv_loop_t *loop, sp_scores *s) {
  int done = 0;
  sp_scores_close(s, set_flag, &done);
  for (int i = 0; i < 100000 && !done; i++)
    uv_run(loop, UV_RUN_ONCE);
  return done;
}

/* Runs the loop until nothing is waiting to be written. */
static void drain(uv_loop_t *loop, sp_scores *s) {
  for (int i = 0; i < 100000 && sp_scores_pending(s) > 0; i++)
    uv_run(loop, UV_RUN_NOWAIT);
}

static void rm_data_dir(const char *dir) {
  static const char *const files[] = {"scores.db", "scores.db-wal",
                                      "scores.db-shm", "scores.db-journal"};
  char path[512];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

static const char *show_store(const sp_scores *s) {
  table t = {.n = 0};
  for (size_t i = 0; i < sp_scores_count(s) && i < SP_TOP_SCORES; i++)
    t.rows[t.n++] = *sp_scores_row(s, i);
  return show(&t);
}

TEST(store_persists_across_reopen) {
  char dir[] = "/tmp/sp_test_scores_XXXXXX";
  ASSERT(mkdtemp(dir) != NULL);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  char err[512] = "";
  sp_scores *s = NULL;
  int rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  if (rc != 0) {
    rm_data_dir(dir);
    FAILF("open: %d %s", rc, err);
  }
  ASSERT_EQ(sp_scores_count(s), 0);
  ASSERT(sp_scores_row(s, 0) == NULL);
  ASSERT_EQ(sp_scores_submit(s, "alice", 10), 1);
  ASSERT_EQ(sp_scores_submit(s, "bob", 20), 1);
  ASSERT_EQ(sp_scores_submit(s, "carol \"q\" \xF0\x9F\x90\x8D", 5), 1);
  ASSERT_EQ(sp_scores_submit(s, "alice", 8), 0);
  ASSERT_EQ(sp_scores_submit(s, "alice", 15), 1);
  ASSERT_EQ(sp_scores_submit(s, "zero", 0), 0);
  char before[2048];
  snprintf(before, sizeof before, "%s", show_store(s));
  ASSERT_STR_EQ(before, "bob:20,alice:15,carol \"q\" \xF0\x9F\x90\x8D:5");
  drain(&loop, s);
  ASSERT_EQ(sp_scores_pending(s), 0);
  ASSERT(close_and_wait(&loop, s));

  /* Reopen: the same table. */
  s = NULL;
  rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  if (rc != 0) {
    rm_data_dir(dir);
    FAILF("reopen: %d %s", rc, err);
  }
  char after[2048];
  snprintf(after, sizeof after, "%s", show_store(s));
  /* Scores submitted right before close are written by the close. */
  ASSERT_EQ(sp_scores_submit(s, "dave", 30), 1);
  ASSERT_EQ(sp_scores_submit(s, "bob", 25), 1);
  ASSERT(close_and_wait(&loop, s));
  s = NULL;
  rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  char third[2048] = "";
  if (rc == 0) {
    snprintf(third, sizeof third, "%s", show_store(s));
    ASSERT(close_and_wait(&loop, s));
  }
  int closed = uv_loop_close(&loop);
  rm_data_dir(dir);
  ASSERT_STR_EQ(after, before);
  ASSERT_EQ(rc, 0);
  ASSERT_STR_EQ(third,
                "dave:30,bob:25,alice:15,carol \"q\" \xF0\x9F\x90\x8D:5");
  ASSERT_EQ(closed, 0); /* every handle was closed */
}

static void count_calls(void *arg) { (*(int *)arg)++; }

TEST(store_remove_reads_the_table_back) {
  /* 16 rising scores: each entered the table when it came, so all 16 are
   * in the database, and p00 is the one the table no longer shows. */
  char dir[] = "/tmp/sp_test_scores_XXXXXX";
  ASSERT(mkdtemp(dir) != NULL);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  char err[512] = "";
  sp_scores *s = NULL;
  int rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  if (rc != 0) {
    rm_data_dir(dir);
    FAILF("open: %d %s", rc, err);
  }
  int changes = 0;
  sp_scores_on_change(s, count_calls, &changes);
  char name[16];
  for (int i = 0; i < 16; i++) {
    snprintf(name, sizeof name, "p%02d", i);
    ASSERT_EQ(sp_scores_submit(s, name, (uint32_t)(10 + i)), 1);
  }
  drain(&loop, s);
  ASSERT_EQ(sp_scores_count(s), SP_TOP_SCORES);
  ASSERT_STR_EQ(sp_scores_row(s, 0)->name, "p15");
  ASSERT_STR_EQ(sp_scores_row(s, 14)->name, "p01");
  /* At once: gone from the table; not in the table: 0. */
  ASSERT_EQ(sp_scores_remove(s, "p15"), 1);
  ASSERT_EQ(sp_scores_remove(s, "nobody"), 0);
  ASSERT_EQ(sp_scores_count(s), SP_TOP_SCORES - 1);
  ASSERT_STR_EQ(sp_scores_row(s, 0)->name, "p14");
  drain(&loop, s);
  for (int i = 0; i < 100000 && changes == 0; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  char back[2048];
  snprintf(back, sizeof back, "%s", show_store(s));
  /* A removal, then a score before it is done: the score counts on top of
   * what is read back, and the table has not changed by itself. */
  ASSERT_EQ(sp_scores_remove(s, "p14"), 1);
  ASSERT_EQ(sp_scores_submit(s, "late", 100), 1);
  drain(&loop, s);
  for (int i = 0; i < 1000; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  char now[2048];
  snprintf(now, sizeof now, "%s", show_store(s));
  sp_scores_stats st;
  sp_scores_get_stats(s, &st);
  ASSERT(close_and_wait(&loop, s));
  rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  char after[2048] = "";
  if (rc == 0) {
    snprintf(after, sizeof after, "%s", show_store(s));
    close_and_wait(&loop, s);
  }
  uv_loop_close(&loop);
  rm_data_dir(dir);
  ASSERT_EQ(changes, 1);
  ASSERT(st.writes >= 3 && st.failures == 0);
  /* p00 moved up into the 15th place once the database had it. */
  ASSERT_STR_EQ(back, "p14:24,p13:23,p12:22,p11:21,p10:20,p09:19,p08:18,"
                      "p07:17,p06:16,p05:15,p04:14,p03:13,p02:12,p01:11,"
                      "p00:10");
  /* p15 and p14 are gone, also after a restart. */
  ASSERT_STR_EQ(now, "late:100,p13:23,p12:22,p11:21,p10:20,p09:19,p08:18,"
                     "p07:17,p06:16,p05:15,p04:14,p03:13,p02:12,p01:11,"
                     "p00:10");
  ASSERT_EQ(rc, 0);
  ASSERT_STR_EQ(after, now);
}

TEST(store_keeps_top_15_of_many) {
  char dir[] = "/tmp/sp_test_scores_XXXXXX";
  ASSERT(mkdtemp(dir) != NULL);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  char err[512] = "";
  sp_scores *s = NULL;
  int rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  if (rc != 0) {
    rm_data_dir(dir);
    FAILF("open: %d %s", rc, err);
  }
  char name[16];
  for (int i = 0; i < 40; i++) {
    snprintf(name, sizeof name, "p%02d", i);
    sp_scores_submit(s, name, (uint32_t)(1 + (i * 17) % 40));
  }
  char before[2048];
  snprintf(before, sizeof before, "%s", show_store(s));
  size_t n_before = sp_scores_count(s);
  ASSERT(close_and_wait(&loop, s));
  rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  char after[2048] = "";
  if (rc == 0) {
    snprintf(after, sizeof after, "%s", show_store(s));
    close_and_wait(&loop, s);
  }
  uv_loop_close(&loop);
  rm_data_dir(dir);
  ASSERT_EQ(n_before, SP_TOP_SCORES);
  ASSERT_EQ(rc, 0);
  ASSERT_STR_EQ(after, before);
}

TEST(store_tie_order_survives_reopen) {
  /* "earlier first among equals" must mean the same after a restart. Here
   * alice reaches 7 after bob did, so bob is first; the database keeps
   * alice's older row (an upsert keeps the rowid), and reloading "ORDER BY
   * score DESC, rowid ASC" puts alice first. */
  char dir[] = "/tmp/sp_test_scores_XXXXXX";
  ASSERT(mkdtemp(dir) != NULL);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  char err[512] = "";
  sp_scores *s = NULL;
  int rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  if (rc != 0) {
    rm_data_dir(dir);
    FAILF("open: %d %s", rc, err);
  }
  sp_scores_submit(s, "alice", 5);
  drain(&loop, s);
  sp_scores_submit(s, "bob", 7);
  drain(&loop, s);
  sp_scores_submit(s, "alice", 7);
  char before[256];
  snprintf(before, sizeof before, "%s", show_store(s));
  ASSERT(close_and_wait(&loop, s));
  rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  char after[256] = "";
  if (rc == 0) {
    snprintf(after, sizeof after, "%s", show_store(s));
    close_and_wait(&loop, s);
  }
  uv_loop_close(&loop);
  rm_data_dir(dir);
  ASSERT_STR_EQ(before, "bob:7,alice:7");
  ASSERT_STR_EQ(after, before);
}

TEST(store_garbage_file_is_an_error) {
  char dir[] = "/tmp/sp_test_scores_XXXXXX";
  ASSERT(mkdtemp(dir) != NULL);
  char path[512];
  snprintf(path, sizeof path, "%s/scores.db", dir);
  unsigned char junk[8192];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)(i * 131 + 7);
  FILE *f = fopen(path, "wb");
  ASSERT(f != NULL);
  fwrite(junk, 1, sizeof junk, f);
  fclose(f);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  char err[512] = "";
  sp_scores *s = NULL;
  int rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  if (rc == 0)
    close_and_wait(&loop, s);
  /* The file is left as it was: never replaced by an empty table. */
  unsigned char back[sizeof junk + 1];
  f = fopen(path, "rb");
  size_t got = f ? fread(back, 1, sizeof back, f) : 0;
  if (f)
    fclose(f);
  int closed = uv_loop_close(&loop);
  rm_data_dir(dir);
  ASSERT(rc < 0);
  ASSERT(strstr(err, "database") != NULL);
  ASSERT(strchr(err, '\n') == NULL); /* one line */
  ASSERT_EQ(got, sizeof junk);
  ASSERT_MEM_EQ(back, junk, sizeof junk);
  ASSERT_EQ(closed, 0);
}

TEST(store_wrong_schema_is_an_error) {
  char dir[] = "/tmp/sp_test_scores_XXXXXX";
  ASSERT(mkdtemp(dir) != NULL);
  char path[512];
  snprintf(path, sizeof path, "%s/scores.db", dir);
  sqlite3 *db = NULL;
  ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE scores(x, y);", NULL, NULL, NULL),
            SQLITE_OK);
  sqlite3_close(db);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  char err[512] = "";
  sp_scores *s = NULL;
  int rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  if (rc == 0)
    close_and_wait(&loop, s);
  uv_loop_close(&loop);
  rm_data_dir(dir);
  ASSERT(rc < 0);
  ASSERT(err[0] != '\0');
}

TEST(store_corrupt_page_is_an_error) {
  /* A real database whose table page was overwritten. */
  char dir[] = "/tmp/sp_test_scores_XXXXXX";
  ASSERT(mkdtemp(dir) != NULL);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  char err[512] = "";
  sp_scores *s = NULL;
  int rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  if (rc != 0) {
    rm_data_dir(dir);
    FAILF("open: %d %s", rc, err);
  }
  sp_scores_submit(s, "alice", 10);
  sp_scores_submit(s, "bob", 20);
  ASSERT(close_and_wait(&loop, s));
  char path[512];
  snprintf(path, sizeof path, "%s/scores.db", dir);
  struct stat st;
  ASSERT_EQ(stat(path, &st), 0);
  FILE *f = fopen(path, "r+b");
  ASSERT(f != NULL);
  /* Every page after the first (the header and schema stay valid). */
  unsigned char junk[512];
  memset(junk, 0xA5, sizeof junk);
  for (long off = 4096; off < st.st_size; off += (long)sizeof junk) {
    fseek(f, off, SEEK_SET);
    fwrite(junk, 1, sizeof junk, f);
  }
  fclose(f);
  s = NULL;
  err[0] = '\0';
  rc = sp_scores_open(&loop, dir, &s, err, sizeof err);
  size_t n = rc == 0 ? sp_scores_count(s) : 0;
  if (rc == 0)
    close_and_wait(&loop, s);
  uv_loop_close(&loop);
  rm_data_dir(dir);
  if (rc == 0)
    FAILF("corrupt database opened with %zu rows", n);
  ASSERT(strstr(err, "database") != NULL || strstr(err, "scores") != NULL);
  ASSERT(st.st_size > 4096);
}

TEST(store_missing_parent_is_an_error) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  char err[512] = "";
  sp_scores *s = NULL;
  int rc = sp_scores_open(&loop, "/tmp/sp_test_no_such_dir_9f3a/sub", &s, err,
                          sizeof err);
  if (rc == 0)
    close_and_wait(&loop, s);
  int closed = uv_loop_close(&loop);
  ASSERT(rc < 0);
  ASSERT(strstr(err, "database") != NULL);
  ASSERT(strstr(err, "/tmp/sp_test_no_such_dir_9f3a/sub") != NULL);
  ASSERT_EQ(closed, 0);
  /* A tiny error buffer is never overrun and stays terminated. */
  char small[8];
  memset(small, 'x', sizeof small);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  rc = sp_scores_open(&loop, "/tmp/sp_test_no_such_dir_9f3a/sub", &s, small,
                      sizeof small);
  uv_loop_close(&loop);
  ASSERT(rc < 0);
  ASSERT(memchr(small, '\0', sizeof small) != NULL);
}

int main(void) {
  RUN(top_highest_first);
  RUN(top_ties_keep_earlier_first);
  RUN(top_one_row_per_name);
  RUN(top_zero_score_ignored);
  RUN(top_at_most_15_rows);
  RUN(top_random_against_model);
  RUN(store_persists_across_reopen);
  RUN(store_keeps_top_15_of_many);
  RUN(store_remove_reads_the_table_back);
  RUN(store_tie_order_survives_reopen);
  RUN(store_garbage_file_is_an_error);
  RUN(store_wrong_schema_is_an_error);
  RUN(store_corrupt_page_is_an_error);
  RUN(store_missing_parent_is_an_error);
  return TEST_SUMMARY();
}
