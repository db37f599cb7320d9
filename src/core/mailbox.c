#include "core/mailbox.h"

#include <stdlib.h>

#include "core/error.h"

typedef struct sp__mail {
  sp_mail_fn fn;
  void *payload;
  struct sp__mail *next;
} sp__mail;

struct sp_mailbox {
  uv_async_t async;
  uv_mutex_t lock;
  sp__mail *head, *tail; /* guarded by lock */
  int closed;            /* guarded by lock */
  void *ctx;
};

static void sp__drain(uv_async_t *a) {
  sp_mailbox *m = a->data;
  uv_mutex_lock(&m->lock);
  sp__mail *list = m->head;
  m->head = m->tail = NULL;
  uv_mutex_unlock(&m->lock);
  while (list) {
    sp__mail *next = list->next;
    list->fn(m->ctx, list->payload);
    free(list);
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

int sp_mailbox_post(sp_mailbox *m, sp_mail_fn fn, void *payload) {
  sp__mail *mail = malloc(sizeof *mail);
  if (!mail)
    return UV_ENOMEM;
  mail->fn = fn;
  mail->payload = payload;
  mail->next = NULL;
  uv_mutex_lock(&m->lock);
  if (m->closed) {
    uv_mutex_unlock(&m->lock);
    free(mail);
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
  sp__drain(&m->async); /* whatever arrived before the close */
  uv_mutex_destroy(&m->lock);
  free(m);
}

void sp_mailbox_close(sp_mailbox *m) {
  uv_mutex_lock(&m->lock);
  m->closed = 1;
  uv_mutex_unlock(&m->lock);
  uv_close((uv_handle_t *)&m->async, sp__closed);
}
