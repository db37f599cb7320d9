/* Unit tests of the output queue (src/net/outq.h) over real sockets: one
 * end of an AF_UNIX socketpair is a uv_pipe_t on a loop, the other is read
 * with plain read() by a thread of the test. The frames queued add up to
 * far more than the kernel buffers (made small on purpose), so writes are
 * partial and the rest goes through uv_write; the reader starts only after
 * the first flush, so that the kernel is full at that point for sure.
 *
 * Checked: the bytes read are the frames in order, `queued` comes back to
 * 0, on_drained runs once the queue is empty, the references the queues
 * took are all given back (also with one set of frames in two queues at
 * once, as a broadcast does), sp_outq_stop drops what is queued and no
 * callback runs after it, and write errors reach on_error. A watchdog
 * timer (unreferenced) only turns a hang into a failure. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/buf.h"
#include "core/error.h"
#include "net/frame.h"
#include "net/outq.h"
#include "test.h"

#define SNDBUF 16384 /* the kernel doubles it; still far below the frames */
#define WATCHDOG_MS 20000

/* ---- one end: a pipe, its queue, what its callbacks saw ------------------ */

typedef struct end {
  uv_pipe_t pipe;
  sp_outq q;
  int peer;           /* the socketpair's other end, the test's to read */
  int close_on_drain; /* close the pipe once drained */
  int drained;        /* on_drained calls */
  int bad_drain;      /* on_drained while something was queued */
  int errors, err;    /* on_error calls, the last code */
  int stopped;        /* sp_outq_stop was called */
  int after_stop;     /* callbacks after it */
  int closed;         /* the pipe's close callback ran */
} end;

static void on_closed(uv_handle_t *h) {
  end *e = h->data;
  e->closed = 1;
}

/* Stops the queue and closes the pipe, as a connection closing does. */
static void end_close(end *e) {
  if (e->stopped)
    return;
  e->stopped = 1;
  sp_outq_stop(&e->q);
  uv_close((uv_handle_t *)&e->pipe, on_closed);
}

static void on_drained(sp_outq *q) {
  end *e = q->data;
  e->after_stop += e->stopped;
  e->drained++;
  if (!sp_outq_idle(q) || q->queued != 0)
    e->bad_drain++;
  if (e->close_on_drain)
    end_close(e);
}

static void on_error(sp_outq *q, int err) {
  end *e = q->data;
  e->after_stop += e->stopped;
  e->errors++;
  e->err = err;
  end_close(e);
}

static const sp_outq_callbacks callbacks = {.on_error = on_error,
                                            .on_drained = on_drained};

static int end_open(uv_loop_t *loop, end *e) {
  int fds[2], sndbuf = SNDBUF;
  memset(e, 0, sizeof *e);
  e->peer = -1;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
    return -1;
  setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (uv_pipe_init(loop, &e->pipe, 0) != 0 ||
      uv_pipe_open(&e->pipe, fds[0]) != 0)
    return -1;
  e->pipe.data = e;
  e->peer = fds[1];
  sp_outq_init(&e->q, (uv_stream_t *)&e->pipe, &callbacks, e);
  return 0;
}

/* ---- the loop, with a watchdog that closes every end on a hang ---------- */

#define MAX_ENDS 2

typedef struct fixture {
  uv_loop_t loop;
  uv_timer_t watchdog;
  end *ends[MAX_ENDS];
  int nends, timed_out;
} fixture;

static void on_watchdog(uv_timer_t *h) {
  fixture *fx = h->data;
  fx->timed_out = 1;
  for (int i = 0; i < fx->nends; i++)
    end_close(fx->ends[i]);
}

static int fixture_init(fixture *fx) {
  memset(fx, 0, sizeof *fx);
  if (uv_loop_init(&fx->loop) != 0)
    return -1;
  uv_timer_init(&fx->loop, &fx->watchdog);
  fx->watchdog.data = fx;
  uv_timer_start(&fx->watchdog, on_watchdog, WATCHDOG_MS, 0);
  uv_unref((uv_handle_t *)&fx->watchdog);
  return 0;
}

static int fixture_end(fixture *fx, end *e) {
  fx->ends[fx->nends++] = e;
  return end_open(&fx->loop, e);
}

/* Runs the loop until every end has closed (closing those a test left
 * open): the readers then see the end of their streams. */
static void fixture_run(fixture *fx) {
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  for (int i = 0; i < fx->nends; i++)
    end_close(fx->ends[i]);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
}

/* Frees the queues, the peers' sockets and the loop, once the readers
 * were joined. Returns 0 when the loop closed cleanly. */
static int fixture_free(fixture *fx) {
  for (int i = 0; i < fx->nends; i++) {
    sp_outq_free(&fx->ends[i]->q);
    if (fx->ends[i]->peer >= 0)
      close(fx->ends[i]->peer);
  }
  uv_close((uv_handle_t *)&fx->watchdog, NULL);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  return uv_loop_close(&fx->loop);
}

/* ---- frames ------------------------------------------------------------- */

#define NFRAMES 240

typedef struct frames {
  sp_frame *f[NFRAMES];
  int n;
  sp_buf wire; /* every frame's bytes, in order */
} frames;

/* Frames of every header size and kind (payloads of at most max bytes),
 * each payload depending on its index so that a frame out of place shows.
 * NFRAMES of them are about 2 MB. */
static int frames_make(frames *fs, int n, size_t max) {
  static uint8_t payload[70000];
  memset(fs, 0, sizeof *fs);
  for (int i = 0; i < n; i++) {
    static const size_t sizes[8] = {0, 1, 125, 126, 1000, 5000, 65535, 65536};
    size_t len = i % 40 == 7 ? sizeof payload : sizes[(i * 5) % 8];
    if (i % 8 == 3 && len > 65535)
      len = 4000; /* keep the total moderate */
    if (len > max)
      len = max;
    for (size_t j = 0; j < len; j++)
      payload[j] = (uint8_t)(i * 31 + j);
    sp_frame *f = i % 5 == 2 ? sp_frame_raw(payload, len % 300)
                             : sp_frame_new(SP_WS_OP_TEXT, payload, len);
    if (!f)
      return -1;
    fs->f[fs->n++] = f;
    sp_buf_put(&fs->wire, f->bytes, f->len);
  }
  return fs->wire.failed ? -1 : 0;
}

static unsigned refs(const sp_frame *f) { return atomic_load(&f->refs); }

/* How many frames hold other than `want` references. */
static int refs_not(const frames *fs, unsigned want) {
  int bad = 0;
  for (int i = 0; i < fs->n; i++)
    bad += refs(fs->f[i]) != want;
  return bad;
}

static void frames_free(frames *fs) {
  for (int i = 0; i < fs->n; i++)
    sp_frame_unref(fs->f[i]);
  sp_buf_free(&fs->wire);
  fs->n = 0;
}

/* Queues frames [from, to) on e, the queue taking a reference of its own.
 * Returns how many pushes failed. */
static int push_range(end *e, frames *fs, int from, int to) {
  int bad = 0;
  for (int i = from; i < to; i++)
    bad += sp_outq_push(&e->q, sp_frame_ref(fs->f[i])) != 0;
  return bad;
}

static size_t wire_len(const frames *fs, int from, int to) {
  size_t n = 0;
  for (int i = from; i < to; i++)
    n += fs->f[i]->len;
  return n;
}

/* ---- the reading end ---------------------------------------------------- */

typedef struct reader {
  int fd;
  uv_thread_t thread;
  uv_sem_t go; /* posted by the test when reading may start */
  uint8_t *buf;
  size_t cap, len;
  int err;
} reader;

/* Reads until end of file (the pipe was closed) into buf; a byte more than
 * expected is kept as well, so that extra output shows. */
static void read_all(void *arg) {
  reader *r = arg;
  uv_sem_wait(&r->go);
  while (r->len < r->cap) {
    ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
    if (n > 0) {
      r->len += (size_t)n;
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      r->err = errno;
      break;
    }
  }
}

static int reader_start(reader *r, int fd, size_t expect) {
  memset(r, 0, sizeof *r);
  r->fd = fd;
  r->cap = expect + 1;
  r->buf = malloc(r->cap);
  if (!r->buf || uv_sem_init(&r->go, 0) != 0)
    return -1;
  return uv_thread_create(&r->thread, read_all, r);
}

static void reader_join(reader *r) {
  uv_thread_join(&r->thread);
  uv_sem_destroy(&r->go);
}

/* ---- tests -------------------------------------------------------------- */

TEST(frames_arrive_whole_and_in_order_through_partial_writes) {
  fixture fx;
  end e;
  frames fs;
  reader r;
  ASSERT_EQ(fixture_init(&fx), 0);
  ASSERT_EQ(fixture_end(&fx, &e), 0);
  ASSERT_EQ(frames_make(&fs, NFRAMES, SIZE_MAX), 0);
  ASSERT_EQ(reader_start(&r, e.peer, fs.wire.len), 0);
  e.close_on_drain = 1;
  /* Half now; the other half while the first write is in flight, which
   * makes the ring grow while it wraps around. */
  int half = NFRAMES / 2, bad_push = push_range(&e, &fs, 0, half);
  size_t queued_before = e.q.queued;
  sp_outq_flush(&e.q);
  int writing = e.q.writing;
  size_t queued_after = e.q.queued;
  int drained_early = e.drained;
  bad_push += push_range(&e, &fs, half, NFRAMES);
  size_t queued_more = e.q.queued;
  uv_sem_post(&r.go);
  fixture_run(&fx);
  reader_join(&r);
  int closed = fixture_free(&fx);
  int wrong_refs = refs_not(&fs, 1);
  int same = r.len == fs.wire.len && memcmp(r.buf, fs.wire.data, r.len) == 0;
  size_t total = fs.wire.len, first = wire_len(&fs, 0, half);
  frames_free(&fs);
  free(r.buf);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(fx.timed_out, 0);
  ASSERT_EQ(bad_push, 0);
  ASSERT_EQ(queued_before, first);
  ASSERT_EQ(writing, 1); /* the kernel took only part: a uv_write is out */
  ASSERT(queued_after > 0 && queued_after < first);
  ASSERT_EQ(queued_more, queued_after + (total - first));
  ASSERT_EQ(drained_early, 0);
  ASSERT_EQ(r.err, 0);
  ASSERT_EQ(r.len, total);
  ASSERT(same);
  ASSERT_EQ(e.drained, 1);
  ASSERT_EQ(e.bad_drain, 0);
  ASSERT_EQ(e.errors, 0);
  ASSERT_EQ(e.q.queued, 0);
  ASSERT_EQ(wrong_refs, 0);
}

TEST(one_set_of_frames_in_two_queues) {
  /* A broadcast: the same frames, by reference, in two queues at once,
   * each draining at its own reader's pace. */
  fixture fx;
  end e[2];
  frames fs;
  reader r[2];
  ASSERT_EQ(fixture_init(&fx), 0);
  ASSERT_EQ(frames_make(&fs, NFRAMES, SIZE_MAX), 0);
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ(fixture_end(&fx, &e[i]), 0);
    ASSERT_EQ(reader_start(&r[i], e[i].peer, fs.wire.len), 0);
    e[i].close_on_drain = 1;
  }
  int bad_push = 0;
  for (int i = 0; i < NFRAMES; i++) {
    bad_push += sp_outq_push(&e[0].q, sp_frame_ref(fs.f[i])) != 0;
    bad_push += sp_outq_push(&e[1].q, sp_frame_ref(fs.f[i])) != 0;
  }
  int not_three = refs_not(&fs, 3);
  sp_outq_flush(&e[0].q);
  sp_outq_flush(&e[1].q);
  int writing = e[0].q.writing + e[1].q.writing;
  uv_sem_post(&r[0].go);
  uv_sem_post(&r[1].go);
  fixture_run(&fx);
  for (int i = 0; i < 2; i++)
    reader_join(&r[i]);
  int closed = fixture_free(&fx);
  int same = 1;
  for (int i = 0; i < 2; i++) {
    same &= r[i].len == fs.wire.len &&
            memcmp(r[i].buf, fs.wire.data, r[i].len) == 0;
    free(r[i].buf);
  }
  int wrong_refs = refs_not(&fs, 1);
  frames_free(&fs);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(fx.timed_out, 0);
  ASSERT_EQ(bad_push, 0);
  ASSERT_EQ(not_three, 0);
  ASSERT_EQ(writing, 2);
  ASSERT(same);
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ(e[i].drained, 1);
    ASSERT_EQ(e[i].bad_drain, 0);
    ASSERT_EQ(e[i].errors, 0);
    ASSERT_EQ(e[i].q.queued, 0);
  }
  ASSERT_EQ(wrong_refs, 0);
}

/* Reads exactly n bytes that must already be in the socket (it is made
 * non-blocking: bytes missing are a failure, not a hang). */
static int read_exact(int fd, uint8_t *buf, size_t n) {
  size_t got = 0;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  while (got < n) {
    ssize_t k = read(fd, buf + got, n - got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    got += (size_t)k;
  }
  return 0;
}

#define NSMALL (SP_OUTQ_MAX_IOV + 36) /* more than one write's buffers */

TEST(small_frames_written_at_once_and_released_at_once) {
  /* What the kernel takes in the flush itself needs no request: the
   * frames are released and on_drained runs before the flush returns,
   * also when they take more than one write. */
  fixture fx;
  end e;
  frames fs;
  ASSERT_EQ(fixture_init(&fx), 0);
  ASSERT_EQ(fixture_end(&fx, &e), 0);
  ASSERT_EQ(frames_make(&fs, NSMALL, 40), 0);
  uint8_t got[8192];
  ASSERT(fs.wire.len < sizeof got); /* well within the kernel's buffer */
  ASSERT_EQ(push_range(&e, &fs, 0, NSMALL), 0);
  sp_outq_flush(&e.q);
  int drained = e.drained, writing = e.q.writing, held = refs_not(&fs, 1);
  size_t queued = e.q.queued;
  int read_ok = read_exact(e.peer, got, fs.wire.len) == 0 &&
                memcmp(got, fs.wire.data, fs.wire.len) == 0;
  /* The queue is used again after it drained. */
  int again = push_range(&e, &fs, 2, 4);
  sp_outq_flush(&e.q);
  size_t second = wire_len(&fs, 2, 4);
  int read_again = read_exact(e.peer, got, second) == 0 &&
                   memcmp(got, fs.wire.data + wire_len(&fs, 0, 2), second) == 0;
  int drained2 = e.drained;
  fixture_run(&fx);
  int closed = fixture_free(&fx);
  int wrong_refs = refs_not(&fs, 1);
  frames_free(&fs);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(drained, 1);
  ASSERT_EQ(writing, 0);
  ASSERT_EQ(queued, 0);
  ASSERT_EQ(held, 0);
  ASSERT(read_ok);
  ASSERT_EQ(again, 0);
  ASSERT(read_again);
  ASSERT_EQ(drained2, 2);
  ASSERT_EQ(e.bad_drain, 0);
  ASSERT_EQ(e.errors, 0);
  ASSERT_EQ(wrong_refs, 0);
}

TEST(stop_releases_queued_frames_and_silences_callbacks) {
  fixture fx;
  end e;
  frames fs;
  ASSERT_EQ(fixture_init(&fx), 0);
  ASSERT_EQ(fixture_end(&fx, &e), 0);
  ASSERT_EQ(frames_make(&fs, NFRAMES, SIZE_MAX), 0);
  /* Nobody reads: the first write stays in flight. */
  ASSERT_EQ(push_range(&e, &fs, 0, NFRAMES), 0);
  sp_outq_flush(&e.q);
  int writing = e.q.writing;
  e.stopped = 1;
  sp_outq_stop(&e.q);
  uint32_t left = e.q.len;
  /* Only the frames of the write in flight are still held by the queue. */
  int in_flight = 0, wrong = 0;
  for (int i = 0; i < fs.n; i++) {
    unsigned n = refs(fs.f[i]);
    in_flight += n == 2;
    wrong += n != 1 && n != 2;
  }
  /* Pushing after the stop is refused and the reference dropped. */
  sp_frame *late = sp_frame_new(SP_WS_OP_TEXT, "late", 4);
  ASSERT(late != NULL);
  int pushed = sp_outq_push(&e.q, sp_frame_ref(late));
  unsigned late_refs = refs(late);
  sp_frame_unref(late);
  sp_outq_flush(&e.q); /* nothing, and no callback */
  /* Closing cancels the write in flight, which releases its frames. */
  uv_close((uv_handle_t *)&e.pipe, on_closed);
  uv_run(&fx.loop, UV_RUN_DEFAULT);
  int closed_cb = e.closed;
  size_t queued = e.q.queued;
  int wrong_refs = refs_not(&fs, 1);
  fixture_run(&fx);
  int closed = fixture_free(&fx);
  frames_free(&fs);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(writing, 1);
  ASSERT_EQ(left, 0);
  ASSERT(in_flight > 0 && in_flight <= SP_OUTQ_MAX_IOV);
  ASSERT_EQ(wrong, 0);
  ASSERT_EQ(pushed, SP_ECLOSED);
  ASSERT_EQ(late_refs, 1);
  ASSERT_EQ(closed_cb, 1);
  ASSERT_EQ(queued, 0);
  ASSERT_EQ(wrong_refs, 0);
  ASSERT_EQ(e.drained, 0);
  ASSERT_EQ(e.errors, 0);
  ASSERT_EQ(e.after_stop, 0);
}

TEST(write_error_in_flush_reaches_on_error) {
  /* The peer is gone before anything is written: the flush's own write
   * fails. */
  fixture fx;
  end e;
  frames fs;
  ASSERT_EQ(fixture_init(&fx), 0);
  ASSERT_EQ(fixture_end(&fx, &e), 0);
  ASSERT_EQ(frames_make(&fs, 5, 100), 0);
  close(e.peer);
  e.peer = -1;
  ASSERT_EQ(push_range(&e, &fs, 0, 5), 0);
  sp_outq_flush(&e.q);
  int errors = e.errors, err = e.err;
  fixture_run(&fx);
  int closed = fixture_free(&fx);
  int wrong_refs = refs_not(&fs, 1);
  frames_free(&fs);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(errors, 1);
  ASSERT_EQ(err, UV_EPIPE);
  ASSERT_EQ(e.errors, 1);
  ASSERT_EQ(e.drained, 0);
  ASSERT_EQ(e.after_stop, 0);
  ASSERT_EQ(e.q.queued, 0);
  ASSERT_EQ(wrong_refs, 0);
}

TEST(write_error_in_flight_reaches_on_error) {
  /* The peer goes while a uv_write waits for room: its callback fails. */
  fixture fx;
  end e;
  frames fs;
  ASSERT_EQ(fixture_init(&fx), 0);
  ASSERT_EQ(fixture_end(&fx, &e), 0);
  ASSERT_EQ(frames_make(&fs, NFRAMES, SIZE_MAX), 0);
  ASSERT_EQ(push_range(&e, &fs, 0, NFRAMES), 0);
  sp_outq_flush(&e.q);
  int writing = e.q.writing, early = e.errors;
  close(e.peer);
  e.peer = -1;
  fixture_run(&fx);
  int closed = fixture_free(&fx);
  int wrong_refs = refs_not(&fs, 1);
  frames_free(&fs);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(fx.timed_out, 0);
  ASSERT_EQ(writing, 1);
  ASSERT_EQ(early, 0);
  ASSERT_EQ(e.errors, 1);
  ASSERT(e.err == UV_EPIPE || e.err == UV_ECONNRESET);
  ASSERT_EQ(e.drained, 0);
  ASSERT_EQ(e.after_stop, 0);
  ASSERT_EQ(e.q.queued, 0);
  ASSERT_EQ(wrong_refs, 0);
}

int main(void) {
  /* A write to a closed socket must fail with EPIPE, not kill us. */
  signal(SIGPIPE, SIG_IGN);
  RUN(frames_arrive_whole_and_in_order_through_partial_writes);
  RUN(one_set_of_frames_in_two_queues);
  RUN(small_frames_written_at_once_and_released_at_once);
  RUN(stop_releases_queued_frames_and_silences_callbacks);
  RUN(write_error_in_flush_reaches_on_error);
  RUN(write_error_in_flight_reaches_on_error);
  return TEST_SUMMARY();
}
