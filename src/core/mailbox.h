/* mailbox: how loops talk to each other. A mutex-protected FIFO of
 * messages, drained on the receiving loop when its uv_async_t fires; the
 * sender never touches the receiver's state. Each message carries the
 * function the receiver runs with it, so one mailbox serves every kind of
 * message and the receiver owns the payload once it runs. */
#ifndef SP_MAILBOX_H
#define SP_MAILBOX_H

#include <uv.h>

typedef struct sp_mailbox sp_mailbox;

/* Runs on the receiving loop's thread; owns (and frees) payload. */
typedef void (*sp_mail_fn)(void *ctx, void *payload);

/* Creates a mailbox on `loop` (call on that loop's thread). ctx is passed
 * to every handler. Returns 0 or a negative libuv error. */
int sp_mailbox_init(uv_loop_t *loop, void *ctx, sp_mailbox **out);

/* Posts a message from any thread. Returns 0, or UV_ENOMEM / SP_ECLOSED
 * (then the caller still owns payload). */
int sp_mailbox_post(sp_mailbox *m, sp_mail_fn fn, void *payload);

/* Stops receiving: messages still queued are delivered first, then the
 * handle closes and the mailbox is freed (on its loop's thread). Messages
 * posted afterwards are refused. */
void sp_mailbox_close(sp_mailbox *m);

#endif
