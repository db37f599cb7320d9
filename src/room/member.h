/* member: a room as one loop sees it.
 *
 * A connection in a room is an sp_member, made and freed on the loop that
 * accepted the connection (the only loop that touches its socket). The
 * members of one room on one loop form an sp_view: the room's owner sends
 * each tick's frames once per view, and the view's loop writes them to its
 * members. A room whose members are spread over every loop is so written
 * by every core, while its game runs on one.
 *
 * Life of a member: made when its connection enters a room; detached when
 * the connection closes (it receives nothing more); freed when the owner
 * says it has forgotten it (sp_member_release), so that the owner may use
 * the member as its handle until then. A view goes with its last member.
 *
 * Everything here runs on the member's loop, except what is marked as the
 * owner's: the owner reads the immutable fields, and keeps its record of
 * the member in a slot that only it touches. */
#ifndef SP_MEMBER_H
#define SP_MEMBER_H

#include <stddef.h>
#include <stdint.h>

#include "core/mailbox.h"
#include "net/frame.h"
#include "net/server.h"

typedef struct sp_view sp_view;
typedef struct sp_member sp_member;

/* What a delivery to one member also does (sp_member_deliver). */
enum {
  SP_MEMBER_REGISTERED = 1, /* it sent new_player: it gets broadcasts now */
  SP_MEMBER_PLAYING = 2,    /* it has a snake: first in its view's order */
};

/* A view of room `name` (life `uid`, run by loop `owner` under lease
 * `epoch`, 0 on a single node) on this loop; empty. NULL when out of
 * memory. */
sp_view *sp_view_new(const char *name, uint64_t uid, int owner, uint64_t epoch);
/* Immutable: readable by the owner. */
uint64_t sp_view_uid(const sp_view *v);
uint64_t sp_view_epoch(const sp_view *v);
int sp_view_owner(const sp_view *v);
const char *sp_view_name(const sp_view *v);
/* Members of the view, released or not (for the loop's own accounting). */
size_t sp_view_size(const sp_view *v);
/* Frees an empty view. */
void sp_view_free(sp_view *v);
/* Queues the frames on every registered member whose connection is open:
 * players first, so a key press shows up for the one who pressed it as
 * soon as it can. */
void sp_view_send(sp_view *v, sp_frame *const *frames, size_t n);
/* For a loop that stops: the members still in the view (to be freed with
 * the view, since no owner can answer any more). */
sp_member *sp_view_first(sp_view *v);

/* A member for connection c in view v, from loop `loop`. NULL when out of
 * memory. c's id and peer are copied (the owner logs them). */
sp_member *sp_member_new(sp_view *v, sp_conn *c, int loop);
/* The connection is gone: nothing more is delivered. */
void sp_member_detach(sp_member *m);
/* Frees the member (the owner has forgotten it); returns its view, now
 * maybe empty (see sp_view_size). */
sp_view *sp_member_release(sp_member *m);
/* Queues frames on the member's connection (if still open) and applies
 * flags (SP_MEMBER_*). */
void sp_member_deliver(sp_member *m, sp_frame *const *frames, size_t n,
                       unsigned flags);
/* Closes the member's connection with `code` (if still open). */
void sp_member_close(sp_member *m, uint16_t code);
/* The same with a reason for the client (NULL or "": none). */
void sp_member_close_why(sp_member *m, uint16_t code, const char *reason);
sp_member *sp_member_next(const sp_member *m);
/* The connection (NULL once detached); the member's loop only. */
sp_conn *sp_member_conn(const sp_member *m);

/* Immutable: readable by the owner. */
int sp_member_loop(const sp_member *m);
sp_view *sp_member_view(const sp_member *m);
uint64_t sp_member_conn_id(const sp_member *m);
const char *sp_member_peer(const sp_member *m);

/* Message slots of the member's own, so that entering a room, leaving it
 * and being released never need memory (none of them may fail): the relay
 * uses the first for the enter, the second for the leave (member's loop
 * -> owner) and then, once the leave has arrived, for the release (owner
 * -> member's loop). */
typedef struct sp_member_ctl {
  sp_mail mail;
  void *to; /* the receiving loop's relay */
} sp_member_ctl;
enum { SP_MEMBER_CTL_ENTER, SP_MEMBER_CTL_LEAVE };
sp_member_ctl *sp_member_ctl_of(sp_member *m, int slot);
sp_member *sp_member_of_ctl(sp_mail *mail, int slot);

/* The owner's slot: its record of the member, touched by the owner only. */
void *sp_member_owner_slot(const sp_member *m);
void sp_member_set_owner_slot(sp_member *m, void *p);

#endif
