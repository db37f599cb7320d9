#include "net/outq.h"

#include <stdlib.h>

#include "core/error.h"

typedef struct sp__write_req {
  uv_write_t req;
  sp_outq *q;
  size_t bytes;
  uint32_t n;
  sp_frame *frames[];
} sp__write_req;

void sp_outq_init(sp_outq *q, uv_stream_t *stream, const sp_outq_callbacks *cb,
                  void *data) {
  *q = (sp_outq){.stream = stream, .cb = cb, .data = data};
}

static sp_frame *sp__at(const sp_outq *q, uint32_t i) {
  return q->q[(q->head + i) % q->cap];
}

static sp_frame *sp__pop(sp_outq *q) {
  sp_frame *f = q->q[q->head];
  q->head = (q->head + 1) % q->cap;
  q->len--;
  return f;
}

int sp_outq_push(sp_outq *q, sp_frame *f) {
  if (q->stopped) {
    sp_frame_unref(f);
    return SP_ECLOSED;
  }
  if (q->len == q->cap) {
    uint32_t cap = q->cap ? q->cap * 2 : 8;
    sp_frame **ring = malloc(cap * sizeof *ring);
    if (!ring) {
      sp_frame_unref(f);
      return UV_ENOMEM;
    }
    for (uint32_t i = 0; i < q->len; i++)
      ring[i] = sp__at(q, i);
    free(q->q);
    q->q = ring;
    q->cap = cap;
    q->head = 0;
  }
  q->q[(q->head + q->len) % q->cap] = f;
  q->len++;
  q->queued += f->len;
  return 0;
}

int sp_outq_idle(const sp_outq *q) { return q->len == 0 && !q->writing; }

static void sp__fail(sp_outq *q, int err) {
  if (!q->stopped)
    q->cb->on_error(q, err);
}

static void sp__write_cb(uv_write_t *req, int status) {
  sp__write_req *w = (sp__write_req *)req;
  sp_outq *q = w->q;
  for (uint32_t i = 0; i < w->n; i++)
    sp_frame_unref(w->frames[i]);
  q->queued -= w->bytes;
  q->writing = 0;
  free(w);
  if (q->stopped)
    return;
  if (status < 0) {
    sp__fail(q, status);
    return;
  }
  sp_outq_flush(q);
}

/* Drops the frames (and the part of the first) that the kernel took. */
static void sp__consume(sp_outq *q, size_t n) {
  q->queued -= n;
  while (n > 0) {
    sp_frame *f = q->q[q->head];
    size_t rest = f->len - q->off;
    if (n < rest) {
      q->off += (uint32_t)n;
      return;
    }
    n -= rest;
    q->off = 0;
    sp_frame_unref(sp__pop(q));
  }
}

/* Points bufs at the first n queued frames (the first from q->off). */
static uint32_t sp__bufs(const sp_outq *q, uv_buf_t *bufs) {
  uint32_t n = q->len < SP_OUTQ_MAX_IOV ? q->len : SP_OUTQ_MAX_IOV;
  for (uint32_t i = 0; i < n; i++) {
    sp_frame *f = sp__at(q, i);
    uint32_t off = i == 0 ? q->off : 0;
    bufs[i] = uv_buf_init((char *)f->bytes + off, f->len - off);
  }
  return n;
}

void sp_outq_flush(sp_outq *q) {
  if (q->writing || q->stopped)
    return;
  uv_buf_t bufs[SP_OUTQ_MAX_IOV];
  while (q->len > 0) {
    uint32_t n = sp__bufs(q, bufs);
    size_t offered = 0;
    for (uint32_t i = 0; i < n; i++)
      offered += bufs[i].len;
    int r = uv_try_write(q->stream, bufs, n);
    if (r == UV_EAGAIN || r == UV_ENOSYS)
      r = 0;
    if (r < 0) {
      sp__fail(q, r);
      return;
    }
    sp__consume(q, (size_t)r);
    if ((size_t)r == offered)
      continue; /* all taken: more than one batch was queued */
    /* The kernel is full: hand the rest to libuv, moving the references
     * from the ring into the request. */
    n = sp__bufs(q, bufs);
    sp__write_req *w = malloc(sizeof *w + n * sizeof(sp_frame *));
    if (!w) {
      sp__fail(q, UV_ENOMEM);
      return;
    }
    w->q = q;
    w->n = n;
    w->bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
      w->bytes += bufs[i].len;
      w->frames[i] = sp__pop(q);
    }
    q->off = 0;
    int err = uv_write(&w->req, q->stream, bufs, n, sp__write_cb);
    if (err) {
      for (uint32_t i = 0; i < n; i++)
        sp_frame_unref(w->frames[i]);
      q->queued -= w->bytes;
      free(w);
      sp__fail(q, err);
      return;
    }
    q->writing = 1;
    return;
  }
  q->cb->on_drained(q);
}

void sp_outq_stop(sp_outq *q) {
  q->stopped = 1;
  while (q->len > 0) {
    sp_frame *f = sp__pop(q);
    q->queued -= f->len - q->off;
    q->off = 0;
    sp_frame_unref(f);
  }
}

void sp_outq_free(sp_outq *q) {
  sp_outq_stop(q);
  free(q->q);
  q->q = NULL;
  q->cap = 0;
}
