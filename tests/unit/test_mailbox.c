/* Unit tests of the mailbox (src/core/mailbox.h), the only way loops talk
 * to each other. The receiving loop runs on the main thread; producers are
 * threads of their own, started together on a barrier. Every message
 * carries its producer and sequence number and counts how often it ran, so
 * a message lost, run twice, run out of order or run on the wrong thread
 * shows. Nothing waits on time: the threads are sequenced by barriers and
 * semaphores, and a watchdog timer (unreferenced, so it never keeps a loop
 * alive) only turns a hang into a failure. */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/error.h"
#include "core/mailbox.h"
#include "test.h"

#define WATCHDOG_MS 20000

typedef struct msg {
  sp_mail mail; /* first: the handler casts back */
  int producer, seq;
  int runs; /* the receiver's */
} msg;

typedef struct box_test box_test;
typedef void (*after_fn)(box_test *t, msg *m);

#define MAX_PRODUCERS 8

/* One receiving loop and what its handler saw. Only the loop thread (the
 * main thread) touches it once producers run, except where noted. */
struct box_test {
  uv_loop_t loop;
  uv_timer_t watchdog;
  sp_mailbox *box;
  uv_thread_t loop_thread;
  long delivered;
  long close_at; /* sp_mailbox_close once this many were delivered */
  int closed;
  int wrong_thread, out_of_order, timed_out;
  int next[MAX_PRODUCERS]; /* the seq expected next from each producer */
  after_fn after;          /* run after each delivery, if set */
  sem_t *window;           /* per producer: a slot per delivery, if set */
};

static void on_msg(void *ctx, sp_mail *mail) {
  box_test *t = ctx;
  msg *m = (msg *)mail;
  uv_thread_t self = uv_thread_self();
  if (!uv_thread_equal(&self, &t->loop_thread))
    t->wrong_thread++;
  if (m->seq != t->next[m->producer])
    t->out_of_order++;
  t->next[m->producer] = m->seq + 1;
  m->runs++;
  t->delivered++;
  if (t->window)
    sem_post(&t->window[m->producer]);
  if (t->after)
    t->after(t, m);
  if (!t->closed && t->delivered == t->close_at) {
    t->closed = 1;
    sp_mailbox_close(t->box);
  }
}

static void on_watchdog(uv_timer_t *h) {
  box_test *t = h->data;
  t->timed_out = 1;
  if (!t->closed) {
    t->closed = 1;
    sp_mailbox_close(t->box);
  }
}

/* A loop on this thread with a mailbox on it. */
static int box_start(box_test *t) {
  memset(t, 0, sizeof *t);
  t->close_at = -1;
  t->loop_thread = uv_thread_self();
  if (uv_loop_init(&t->loop) != 0)
    return -1;
  if (sp_mailbox_init(&t->loop, t, &t->box) != 0)
    return -1;
  uv_timer_init(&t->loop, &t->watchdog);
  t->watchdog.data = t;
  uv_timer_start(&t->watchdog, on_watchdog, WATCHDOG_MS, 0);
  uv_unref((uv_handle_t *)&t->watchdog);
  return 0;
}

/* Runs the loop until the mailbox's handle has closed (the watchdog
 * closes it if nobody does). */
static void box_run(box_test *t) { uv_run(&t->loop, UV_RUN_DEFAULT); }

/* Frees everything, once no thread can post any more (the producers were
 * joined). Returns 0 when the loop closed cleanly. */
static int box_free(box_test *t) {
  sp_mailbox_free(t->box);
  uv_close((uv_handle_t *)&t->watchdog, NULL);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  return uv_loop_close(&t->loop);
}

static msg *msgs_new(int n, int producer) {
  msg *m = calloc((size_t)n, sizeof *m);
  for (int i = 0; m && i < n; i++) {
    m[i].producer = producer;
    m[i].seq = i;
  }
  return m;
}

/* ---- one producer ------------------------------------------------------ */

#define FIFO_N 1000

typedef struct producer {
  box_test *t;
  int id;
  uv_thread_t thread;
  uv_barrier_t *start;
  msg *msgs;
  int n;              /* messages to post at most */
  int accepted;       /* posts that returned 0 */
  int refused;        /* posts that returned SP_ECLOSED */
  int other_errors;   /* anything else */
  int window_timeout; /* no slot came within the watchdog's time */
} producer;

static void produce_all(void *arg) {
  producer *p = arg;
  if (p->start)
    uv_barrier_wait(p->start);
  for (int i = 0; i < p->n; i++) {
    int r = sp_mailbox_post(p->t->box, &p->msgs[i].mail, on_msg);
    if (r == 0)
      p->accepted++;
    else if (r == SP_ECLOSED)
      p->refused++;
    else
      p->other_errors++;
  }
}

TEST(fifo_on_the_loop_thread) {
  box_test t;
  ASSERT_EQ(box_start(&t), 0);
  msg *m = msgs_new(FIFO_N, 0);
  ASSERT(m != NULL);
  t.close_at = FIFO_N;
  producer p = {.t = &t, .msgs = m, .n = FIFO_N};
  ASSERT_EQ(uv_thread_create(&p.thread, produce_all, &p), 0);
  box_run(&t);
  uv_thread_join(&p.thread);
  int closed = box_free(&t);
  uv_thread_t self = uv_thread_self();
  int on_producer = uv_thread_equal(&self, &p.thread);
  int runs_ok = 1;
  for (int i = 0; i < FIFO_N; i++)
    runs_ok &= m[i].runs == 1;
  free(m);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(t.timed_out, 0);
  ASSERT_EQ(on_producer, 0);
  ASSERT_EQ(p.accepted, FIFO_N);
  ASSERT_EQ(t.delivered, FIFO_N);
  ASSERT_EQ(t.wrong_thread, 0);
  ASSERT_EQ(t.out_of_order, 0);
  ASSERT(runs_ok);
}

/* ---- many producers ---------------------------------------------------- */

#define MANY_PRODUCERS 8
#define MANY_EACH 10000

TEST(many_producers_exactly_once_in_order_each) {
  box_test t;
  ASSERT_EQ(box_start(&t), 0);
  producer p[MANY_PRODUCERS];
  uv_barrier_t start;
  ASSERT_EQ(uv_barrier_init(&start, MANY_PRODUCERS), 0);
  t.close_at = (long)MANY_PRODUCERS * MANY_EACH;
  for (int i = 0; i < MANY_PRODUCERS; i++) {
    p[i] = (producer){.t = &t, .start = &start, .n = MANY_EACH};
    p[i].msgs = msgs_new(MANY_EACH, i);
    ASSERT(p[i].msgs != NULL);
  }
  for (int i = 0; i < MANY_PRODUCERS; i++)
    ASSERT_EQ(uv_thread_create(&p[i].thread, produce_all, &p[i]), 0);
  box_run(&t);
  for (int i = 0; i < MANY_PRODUCERS; i++)
    uv_thread_join(&p[i].thread);
  int closed = box_free(&t);
  int accepted = 0, bad_runs = 0;
  for (int i = 0; i < MANY_PRODUCERS; i++) {
    accepted += p[i].accepted;
    for (int j = 0; j < MANY_EACH; j++)
      bad_runs += p[i].msgs[j].runs != 1;
    free(p[i].msgs);
  }
  uv_barrier_destroy(&start);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(t.timed_out, 0);
  ASSERT_EQ(accepted, MANY_PRODUCERS * MANY_EACH);
  ASSERT_EQ(t.delivered, MANY_PRODUCERS * MANY_EACH);
  ASSERT_EQ(bad_runs, 0);
  ASSERT_EQ(t.out_of_order, 0);
  ASSERT_EQ(t.wrong_thread, 0);
  for (int i = 0; i < MANY_PRODUCERS; i++)
    ASSERT_EQ(t.next[i], MANY_EACH);
}

/* ---- close ------------------------------------------------------------- */

static void post_refused(void *arg) {
  producer *p = arg;
  msg *m = p->msgs;
  int r = sp_mailbox_post(p->t->box, &m->mail, on_msg);
  p->refused = r == SP_ECLOSED;
  p->other_errors = r != SP_ECLOSED;
}

TEST(post_after_close_refused_and_still_the_callers) {
  box_test t;
  ASSERT_EQ(box_start(&t), 0);
  t.closed = 1;
  sp_mailbox_close(t.box);
  /* Refused on the loop's thread and on another. */
  msg *mine = calloc(1, sizeof *mine);
  msg *theirs = calloc(1, sizeof *theirs);
  ASSERT(mine && theirs);
  int r = sp_mailbox_post(t.box, &mine->mail, on_msg);
  producer p = {.t = &t, .msgs = theirs};
  ASSERT_EQ(uv_thread_create(&p.thread, post_refused, &p), 0);
  uv_thread_join(&p.thread);
  box_run(&t);
  int closed = box_free(&t);
  int runs = mine->runs + theirs->runs;
  /* Still ours: freeing them is no double free under ASan. */
  free(mine);
  free(theirs);
  ASSERT_EQ(r, SP_ECLOSED);
  ASSERT_EQ(p.refused, 1);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(runs, 0);
  ASSERT_EQ(t.delivered, 0);
}

/* A handler that posts again: while the drain of the close runs, the
 * mailbox already refuses. */
static int repost_result = 1;
static msg repost_msg;
static void repost(box_test *t, msg *m) {
  if (m->seq == 0)
    repost_result = sp_mailbox_post(t->box, &repost_msg.mail, on_msg);
}

TEST(close_drains_what_was_accepted) {
  box_test t;
  ASSERT_EQ(box_start(&t), 0);
  msg *m = msgs_new(3, 0);
  ASSERT(m != NULL);
  /* Posted from another thread, and the loop has not run since. */
  producer p = {.t = &t, .msgs = m, .n = 3};
  ASSERT_EQ(uv_thread_create(&p.thread, produce_all, &p), 0);
  uv_thread_join(&p.thread);
  ASSERT_EQ(p.accepted, 3);
  t.after = repost;
  t.closed = 1;
  sp_mailbox_close(t.box);
  box_run(&t);
  int closed = box_free(&t);
  int runs[3] = {m[0].runs, m[1].runs, m[2].runs};
  free(m);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(t.delivered, 3);
  ASSERT_EQ(runs[0], 1);
  ASSERT_EQ(runs[1], 1);
  ASSERT_EQ(runs[2], 1);
  ASSERT_EQ(t.out_of_order, 0);
  ASSERT_EQ(t.wrong_thread, 0);
  ASSERT_EQ(repost_result, SP_ECLOSED);
  ASSERT_EQ(repost_msg.runs, 0);
}

TEST(close_twice_is_harmless) {
  box_test t;
  ASSERT_EQ(box_start(&t), 0);
  msg m = {.seq = 0};
  ASSERT_EQ(sp_mailbox_post(t.box, &m.mail, on_msg), 0);
  t.closed = 1;
  sp_mailbox_close(t.box);
  sp_mailbox_close(t.box);
  box_run(&t);
  ASSERT_EQ(box_free(&t), 0);
  ASSERT_EQ(m.runs, 1);
}

/* Runs fn in a child process with stderr silenced; returns its wait
 * status. */
static int in_child(void (*fn)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
      dup2(devnull, 2);
    fn();
    _exit(0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid)
    return -1;
  return status;
}

static void free_before_handle_closed(void) {
  uv_loop_t loop;
  sp_mailbox *box;
  if (uv_loop_init(&loop) != 0 || sp_mailbox_init(&loop, NULL, &box) != 0)
    _exit(3);
  sp_mailbox_close(box);
  sp_mailbox_free(box); /* the handle is still closing: must abort */
}

static void free_without_close(void) {
  uv_loop_t loop;
  sp_mailbox *box;
  if (uv_loop_init(&loop) != 0 || sp_mailbox_init(&loop, NULL, &box) != 0)
    _exit(3);
  sp_mailbox_free(box);
}

TEST(free_only_after_the_handle_closed) {
  /* Freeing early would leave a uv_async_t inside freed memory on the
   * loop's handle queue; the mailbox refuses with an assertion. (The
   * other tests free after the close callback, which must not abort.) */
  int st = in_child(free_before_handle_closed);
  ASSERT(WIFSIGNALED(st));
  ASSERT_EQ(WTERMSIG(st), SIGABRT);
  st = in_child(free_without_close);
  ASSERT(WIFSIGNALED(st));
  ASSERT_EQ(WTERMSIG(st), SIGABRT);
}

/* ---- post racing with close -------------------------------------------- */

/* Each producer may have WINDOW messages undelivered: it takes a slot
 * before each post and the handler gives one back per delivery. The loop
 * closes once CLOSE_AT messages were delivered, so no producer can have
 * more than CLOSE_AT + WINDOW accepted: RACE_CAP messages each are enough
 * for every producer to end on a refused post. */
#define RACE_PRODUCERS 4
#define RACE_WINDOW 64
#define RACE_CLOSE_AT 2000
#define RACE_CAP (RACE_CLOSE_AT + RACE_WINDOW + 1)
#define RACE_ROUNDS 20

static int wait_slot(sem_t *s) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += WATCHDOG_MS / 1000;
  while (sem_timedwait(s, &until) != 0)
    if (errno != EINTR)
      return -1;
  return 0;
}

static void produce_until_refused(void *arg) {
  producer *p = arg;
  uv_barrier_wait(p->start);
  for (int i = 0; i < p->n; i++) {
    if (wait_slot(&p->t->window[p->id]) != 0) {
      p->window_timeout = 1;
      return;
    }
    int r = sp_mailbox_post(p->t->box, &p->msgs[i].mail, on_msg);
    if (r == SP_ECLOSED) {
      p->refused = 1;
      return; /* the message is still ours: it must never run */
    }
    if (r != 0) {
      p->other_errors++;
      return;
    }
    p->accepted++;
  }
}

/* One round; returns a description of the first broken property, or NULL.
 * Messages that ran are counted by their runs field: each accepted one
 * must have run once, each refused or never posted one not at all. */
static const char *race_round(void) {
  static char why[160];
  box_test t;
  producer p[RACE_PRODUCERS];
  sem_t window[RACE_PRODUCERS];
  uv_barrier_t start;
  if (box_start(&t) != 0 || uv_barrier_init(&start, RACE_PRODUCERS) != 0)
    return "setup";
  t.window = window;
  t.close_at = RACE_CLOSE_AT;
  for (int i = 0; i < RACE_PRODUCERS; i++) {
    sem_init(&window[i], 0, RACE_WINDOW);
    p[i] = (producer){.t = &t, .id = i, .start = &start, .n = RACE_CAP};
    p[i].msgs = msgs_new(RACE_CAP, i);
    if (!p[i].msgs)
      return "out of memory";
  }
  for (int i = 0; i < RACE_PRODUCERS; i++)
    if (uv_thread_create(&p[i].thread, produce_until_refused, &p[i]) != 0)
      return "thread";
  box_run(&t);
  for (int i = 0; i < RACE_PRODUCERS; i++)
    uv_thread_join(&p[i].thread);
  int closed = box_free(&t);
  const char *bad = NULL;
  long accepted = 0;
  for (int i = 0; i < RACE_PRODUCERS; i++) {
    accepted += p[i].accepted;
    for (int j = 0; j < RACE_CAP && !bad; j++) {
      int want = j < p[i].accepted;
      if (p[i].msgs[j].runs != want) {
        snprintf(why, sizeof why,
                 "producer %d message %d of %d accepted ran %d times", i, j,
                 p[i].accepted, p[i].msgs[j].runs);
        bad = why;
      }
    }
    if (!bad && (!p[i].refused || p[i].other_errors || p[i].window_timeout)) {
      snprintf(why, sizeof why,
               "producer %d: refused %d, other errors %d, window timeout %d", i,
               p[i].refused, p[i].other_errors, p[i].window_timeout);
      bad = why;
    }
    free(p[i].msgs);
    sem_destroy(&window[i]);
  }
  uv_barrier_destroy(&start);
  if (!bad && (closed != 0 || t.timed_out))
    bad = "the loop did not close cleanly";
  if (!bad && t.delivered != accepted) {
    snprintf(why, sizeof why, "%ld delivered, %ld accepted", t.delivered,
             accepted);
    bad = why;
  }
  if (!bad && (t.out_of_order || t.wrong_thread))
    bad = "out of order or on the wrong thread";
  return bad;
}

TEST(post_racing_close_delivered_or_refused_never_lost_or_twice) {
  for (int round = 0; round < RACE_ROUNDS; round++) {
    const char *bad = race_round();
    if (bad)
      FAILF("round %d: %s", round, bad);
  }
}

int main(void) {
  /* First, while the process has one thread: the children fork cleanly. */
  RUN(free_only_after_the_handle_closed);
  RUN(fifo_on_the_loop_thread);
  RUN(many_producers_exactly_once_in_order_each);
  RUN(post_after_close_refused_and_still_the_callers);
  RUN(close_drains_what_was_accepted);
  RUN(close_twice_is_harmless);
  RUN(post_racing_close_delivered_or_refused_never_lost_or_twice);
  return TEST_SUMMARY();
}
