#include "core/mailbox.h"

#include <stdlib.h>

#include "core/error.h"

struct sp_mailbox {
  uv_async_t async;
  uv_mutex_t lock;
  sp_mail *head, *tail; /* guarded by lock */
  int closed;           /* guarded by lock */
  int handle_closed;    /* the receiver's: the async handle is closed */
  void *ctx;
};

static void sp__drain(uv_async_t *a) {
  sp_mailbox *m = a->data;
  uv_mutex_lock(&m->lock);
  sp_mail *list = m->head;
  m->head = m->tail = NULL;
  uv_mutex_unlock(&m->lock);
  while (list) {
    sp_mail *next = list->next;
    list->fn(m->ctx, list);
    list = next;
  }
}

int sp_mailbox_init(uv_loop_t *loop, void *ctx, sp_mailbox **out) {
  sp_mailbox *m = calloc(1, sizeof *m);
  if (!m)
    return UV_ENOMEM;
  int err = uv_mutex_init(&m->lock);
  if (err) {
    free(m);
    return err;
  }
  err = uv_async_init(loop, &m->async, sp__drain);
  if (err) {
    uv_mutex_destroy(&m->lock);
    free(m);
    return err;
  }
  m->async.data = m;
  m->ctx = ctx;
  *out = m;
  return 0;
}

int sp_mailbox_post(sp_mailbox *m, sp_mail *mail, sp_mail_fn fn) {
  mail->fn = fn;
  mail->next = NULL;
  uv_mutex_lock(&m->lock);
  if (m->closed) {
    uv_mutex_unlock(&m->lock);
    return SP_ECLOSED;
  }
  if (m->tail)
    m->tail->next = mail;
  else
    m->head = mail;
  m->tail = mail;
  /* Sent under the lock: the receiver cannot close the handle meanwhile. */
  uv_async_send(&m->async);
  uv_mutex_unlock(&m->lock);
  return 0;
}

static void sp__closed(uv_handle_t *h) {
  sp_mailbox *m = h->data;
  sp__drain(&m->async); /* whatever was accepted before the close */
  m->handle_closed = 1;
}

void sp_mailbox_close(sp_mailbox *m) {
  uv_mutex_lock(&m->lock);
  int was = m->closed;
  m->closed = 1;
  uv_mutex_unlock(&m->lock);
  if (!was)
    uv_close((uv_handle_t *)&m->async, sp__closed);
}

void sp_mailbox_free(sp_mailbox *m) {
  if (!m)
    return;
  SP_ASSERT(m->closed && m->handle_closed);
  uv_mutex_destroy(&m->lock);
  free(m);
}
