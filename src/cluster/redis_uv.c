#include "cluster/redis_uv.h"

#include <stdlib.h>

typedef struct sp__redis_uv {
  redisAsyncContext *ac; /* NULL once hiredis has let go of us */
  uv_poll_t poll;
  int events; /* UV_READABLE | UV_WRITABLE that hiredis asked for */
} sp__redis_uv;

static void sp__redis_uv_poll_cb(uv_poll_t *h, int status, int events) {
  sp__redis_uv *p = h->data;
  /* On an error (a refused connect gives POLLERR, reported as a status
   * with no events) let hiredis try what it waited for: its read or write
   * then meets the socket error and reports it. */
  int ev = status < 0 ? p->events : events;
  if (status < 0)
    p->events = 0; /* libuv stopped the handle: a later add starts it */
  if (p->ac && (ev & UV_READABLE))
    redisAsyncHandleRead(p->ac);
  /* The read may have freed the context: hiredis then called cleanup. */
  if (p->ac && (ev & UV_WRITABLE))
    redisAsyncHandleWrite(p->ac);
}

static void sp__redis_uv_update(sp__redis_uv *p, int events) {
  if (events == p->events)
    return;
  p->events = events;
  if (events)
    uv_poll_start(&p->poll, events, sp__redis_uv_poll_cb);
  else
    uv_poll_stop(&p->poll);
}

static void sp__redis_uv_add_read(void *d) {
  sp__redis_uv *p = d;
  sp__redis_uv_update(p, p->events | UV_READABLE);
}
static void sp__redis_uv_del_read(void *d) {
  sp__redis_uv *p = d;
  sp__redis_uv_update(p, p->events & ~UV_READABLE);
}
static void sp__redis_uv_add_write(void *d) {
  sp__redis_uv *p = d;
  sp__redis_uv_update(p, p->events | UV_WRITABLE);
}
static void sp__redis_uv_del_write(void *d) {
  sp__redis_uv *p = d;
  sp__redis_uv_update(p, p->events & ~UV_WRITABLE);
}

static void sp__redis_uv_closed(uv_handle_t *h) { free(h->data); }

/* hiredis frees the context (and closes its socket) right after this. */
static void sp__redis_uv_cleanup(void *d) {
  sp__redis_uv *p = d;
  p->ac = NULL;
  uv_close((uv_handle_t *)&p->poll, sp__redis_uv_closed);
}

int sp_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop) {
  if (ac->ev.data != NULL)
    return UV_EBUSY;
  sp__redis_uv *p = calloc(1, sizeof *p);
  if (!p)
    return UV_ENOMEM;
  int rc = uv_poll_init(loop, &p->poll, ac->c.fd);
  if (rc < 0) {
    free(p);
    return rc;
  }
  p->ac = ac;
  p->poll.data = p;
  ac->ev.data = p;
  ac->ev.addRead = sp__redis_uv_add_read;
  ac->ev.delRead = sp__redis_uv_del_read;
  ac->ev.addWrite = sp__redis_uv_add_write;
  ac->ev.delWrite = sp__redis_uv_del_write;
  ac->ev.cleanup = sp__redis_uv_cleanup;
  return 0;
}
