/* mailbox: how loops talk to each other. A FIFO of messages, drained on
 * the receiving loop when its uv_async_t fires; the sender never touches
 * the receiver's state. A message is a struct of the sender's that embeds
 * an sp_mail (no allocation here) and names the function the receiver
 * runs with it; the receiver owns the message once that function runs.
 *
 * Life cycle: sp_mailbox_init() on the receiving loop before it runs;
 * posts from any thread; sp_mailbox_close() on the receiving loop, after
 * which every post is refused (the sender keeps its message); the memory
 * goes with sp_mailbox_free(), only once no thread can post any more (in
 * practice: after every thread of the process has been joined). */
#ifndef SP_MAILBOX_H
#define SP_MAILBOX_H

#include <uv.h>

typedef struct sp_mailbox sp_mailbox;
typedef struct sp_mail sp_mail;

/* Runs on the receiving loop's thread; owns (and frees) the message that
 * embeds mail. ctx is the mailbox's. */
typedef void (*sp_mail_fn)(void *ctx, sp_mail *mail);

struct sp_mail {
  sp_mail *next; /* the mailbox's */
  sp_mail_fn fn;
};

/* Creates a mailbox on `loop` (before the loop runs, or on its thread).
 * ctx is passed to every handler. Returns 0 or a negative libuv error. */
int sp_mailbox_init(uv_loop_t *loop, void *ctx, sp_mailbox **out);

/* Posts a message from any thread. Returns 0 (the receiver owns it from
 * now), or SP_ECLOSED once the mailbox is closed (the caller still owns
 * it). */
int sp_mailbox_post(sp_mailbox *m, sp_mail *mail, sp_mail_fn fn);

/* On the receiving loop: refuses every later post, delivers what was
 * accepted before, and closes the handle. */
void sp_mailbox_close(sp_mailbox *m);

/* Frees a closed mailbox whose handle has closed. */
void sp_mailbox_free(sp_mailbox *m);

#endif
