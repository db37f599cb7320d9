/* relay: what crosses between a connection's loop and its room's owner.
 *
 *   member's loop -> owner:  enter, input (a decoded client message), leave
 *   owner -> member's loop:  deliver (frames for one member), tick (frames
 *                            for a whole view), close, release
 *
 * When both ends are the same loop the receiver's code runs at once, so a
 * member on its room's own loop pays nothing extra. Otherwise the message
 * goes through the receiving loop's mailbox; frames travel by reference
 * (one per message, never copied). Messages from one loop to another
 * arrive in the order they were sent, which is what keeps a member's
 * frames in order and its registration ahead of its first broadcast.
 *
 * One relay per loop, made before any loop runs and freed after every
 * thread has been joined (with the mailboxes). */
#ifndef SP_RELAY_H
#define SP_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "core/mailbox.h"
#include "net/frame.h"
#include "room/member.h"
#include "room/proto.h"

typedef struct sp_relay sp_relay;
struct sp_lobby;

/* The relay of loop `self`: its mailbox, its lobby, and every loop's relay
 * (all[i] for loop i; the array is shared and outlives the loops). */
sp_relay *sp_relay_new(int self, sp_mailbox *box, struct sp_lobby *lobby,
                       sp_relay *const *all);
void sp_relay_free(sp_relay *r);
int sp_relay_self(const sp_relay *r);

/* Member's loop -> owner (the owner of m's view). enter and leave need no
 * memory; they return 0, or SP_ECLOSED when the owner has stopped (which
 * a running member never sees: every loop stops only after all have let
 * their members go). An input that cannot be sent is dropped. */
int sp_relay_enter(sp_relay *r, sp_member *m);
void sp_relay_input(sp_relay *r, sp_member *m, const sp_msg *msg);
int sp_relay_leave(sp_relay *r, sp_member *m);

/* Owner -> member's loop. The frames keep their references (each message
 * takes its own). */
void sp_relay_deliver(sp_relay *r, sp_member *m, sp_frame *const *frames,
                      size_t n, unsigned flags);
void sp_relay_tick(sp_relay *r, int loop, sp_view *v, sp_frame *const *frames,
                   size_t n);
void sp_relay_close(sp_relay *r, sp_member *m, uint16_t code);
/* The same with a reason for the client (copied; cut to a close frame's
 * SP_WS_REASON_MAX bytes). */
void sp_relay_close_why(sp_relay *r, sp_member *m, uint16_t code,
                        const char *reason);
/* The owner has forgotten m; its loop frees it. */
void sp_relay_release(sp_relay *r, sp_member *m);

#endif
