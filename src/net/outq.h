/* outq: the output queue of one stream. Frames are queued by reference
 * (the same bytes may sit in thousands of queues) and leave in as few
 * writes as possible: uv_try_write first, which finishes most writes with
 * no request allocated, then one uv_write of up to SP_OUTQ_MAX_IOV buffers
 * for whatever the kernel did not take. A frame's reference is dropped as
 * soon as its last byte is handed to the kernel.
 *
 * The queue does not own the stream; it reports to its owner through two
 * callbacks, run on the stream's loop: on_error (a write failed: close
 * the stream) and on_drained (nothing is queued or in flight any more). */
#ifndef SP_OUTQ_H
#define SP_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/frame.h"

#define SP_OUTQ_MAX_IOV 64 /* buffers handed to one write */

typedef struct sp_outq sp_outq;

typedef struct sp_outq_callbacks {
  void (*on_error)(sp_outq *q, int err);
  void (*on_drained)(sp_outq *q);
} sp_outq_callbacks;

struct sp_outq {
  uv_stream_t *stream;
  const sp_outq_callbacks *cb;
  void *data;   /* the owner's */
  sp_frame **q; /* ring of frames not yet handed to the kernel */
  uint32_t head, len, cap;
  uint32_t off;  /* bytes of q[head] already written */
  size_t queued; /* bytes not yet taken by the kernel, in flight included */
  int writing;   /* a uv_write is in flight */
  int stopped;   /* sp_outq_stop: the stream is closing */
};

void sp_outq_init(sp_outq *q, uv_stream_t *stream, const sp_outq_callbacks *cb,
                  void *data);
/* Queues f, taking ownership of one reference. Returns 0, UV_ENOMEM (the
 * reference was dropped) or SP_ECLOSED once stopped (dropped as well).
 * Nothing is written until sp_outq_flush(). */
int sp_outq_push(sp_outq *q, sp_frame *f);
/* Writes what the kernel takes now and hands the rest to one uv_write.
 * May call on_error or on_drained before it returns. */
void sp_outq_flush(sp_outq *q);
/* True when nothing is queued and no write is in flight. */
int sp_outq_idle(const sp_outq *q);
/* The stream is closing: queued frames are dropped; the write in flight
 * (cancelled by uv_close) releases its own frames; no callback runs any
 * more. */
void sp_outq_stop(sp_outq *q);
/* Drops whatever is left and frees the ring (after sp_outq_stop and the
 * stream's close callback). */
void sp_outq_free(sp_outq *q);

#endif
