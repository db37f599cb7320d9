/* leases: the hub's side of cluster mode for rooms. A room runs on this
 * node only under its lease in Redis (cluster/cluster.h); this module
 * keeps, per room name, what still needs the lease:
 *
 *   - claims in flight: an upgrade for a room that does not run here yet
 *     waits (SP_UPGRADE_LATER) while the hub asks for the lease; upgrades
 *     of one room at the same time share the claim;
 *   - lives of the room here: a directory entry made under the lease.
 *
 * The lease is given back when neither is left, so a room that empties
 * moves freely, and a room made again at once keeps its lease (and its
 * epoch). Everything runs on the hub's loop, in the order the workers'
 * messages arrive: no counter is shared with another thread. */
#ifndef SP_LEASES_H
#define SP_LEASES_H

#include <stdint.h>

#include "cluster/cluster.h"
#include "core/mailbox.h"

typedef struct sp_leases sp_leases;

/* A worker's question for the hub, and the hub's answer in the same
 * message (it goes back to the worker's mailbox). */
typedef struct sp_claim sp_claim;
struct sp_claim {
  sp_mail mail;
  void *worker; /* the asker's, opaque here */
  void *conn;   /* the waiting upgrade (the asker's) */
  char room[SP_ROOM_NAME_MAX + 1];
  sp_claim_result result;
  uint64_t epoch;
  /* Set by the hub: where the answer goes. */
  void (*reply)(sp_claim *cl);
  sp_leases *leases;
};

/* lose(data, room) runs when a room that lives here lost its lease: the
 * caller marks it lost and tells its owner loop to stop it. */
sp_leases *sp_leases_new(sp_cluster *c,
                         void (*lose)(void *data, const char *room),
                         void *data);
void sp_leases_free(sp_leases *l);

/* A worker asks for room cl->room; cl->reply(cl) runs later, on the hub,
 * with cl->result and cl->epoch (UNAVAILABLE when the cluster refuses to
 * ask). The worker must then call sp_leases_claim_done. */
void sp_leases_claim(sp_leases *l, sp_claim *cl);
/* The asker has used the answer: `created` if it made the room's
 * directory entry (a new life of the room here). */
void sp_leases_claim_done(sp_leases *l, const char *room, int created);
/* A life of the room here has ended (its directory entry is gone). */
void sp_leases_room_closed(sp_leases *l, const char *room);
/* The cluster says the room's lease is gone. */
void sp_leases_lost(sp_leases *l, const char *room);

#endif
