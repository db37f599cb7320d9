/* worker: one event loop on its own thread, with its own listener (the
 * port is shared with SO_REUSEPORT), its own connections, the rooms it
 * owns and its own mailbox. A connection stays on the worker that
 * accepted it; its room may run on any worker (room/directory.h), and
 * input and frames cross between them (room/relay.h). Workers talk to
 * each other and to the hub only through mailboxes. */
#ifndef SP_WORKER_H
#define SP_WORKER_H

#include <stdatomic.h>
#include <stddef.h>
#include <uv.h>

#include "app/leases.h"
#include "cluster/cluster.h"
#include "core/config.h"
#include "core/mailbox.h"
#include "net/iptable.h"
#include "net/server.h"
#include "room/directory.h"
#include "room/relay.h"
#include "room/room.h"
#include "store/scores.h"

typedef struct sp_worker sp_worker;
struct sp_admin_auth;
struct sp_hub_call;

/* What the hub shares with every worker; set up before the first worker
 * starts. The hub owns it. */
typedef struct sp_shared {
  const sp_config *cfg;
  sp_directory *dir;
  sp_iptable *limits;
  atomic_uint next_player_id;
  int nworkers;
  sp_worker **workers;
  sp_relay **relays; /* one per worker, by index: how their rooms talk */
  sp_mailbox *hub;
  void *hub_ctx;
  /* Hub handlers, run on the hub's loop. */
  void (*hub_score)(void *hub_ctx, const char *name, uint32_t score);
  void (*hub_worker_done)(void *hub_ctx, int index);
  int port; /* the port every loop listens on */
  /* Cluster mode (NULL on a single node): set before any worker runs.
   * Workers call only its thread-safe readers; leases is the hub's. */
  sp_cluster *cluster;
  sp_leases *leases;
  /* The admin console: its token (NULL: off), and what the hub does for
   * it (on the hub's loop; see app/admin.h). */
  struct sp_admin_auth *admin;
  void (*hub_admin)(void *hub_ctx, struct sp_hub_call *call);
  sp_scores *scores;   /* single node: the hub's store (metrics read it) */
  atomic_int started;  /* every worker runs: games are accepted */
  atomic_int stopping; /* from SIGTERM on */
  /* WebSocket members on each worker's loop (relaxed atomics, for
   * /api/stats: where the connections of a room are). */
  atomic_size_t *members_per_worker;
  sp_score_row top[SP_TOP_SCORES];
  size_t ntop;
} sp_shared;

/* Makes worker `index` on the calling (hub) thread: its loop, mailbox,
 * lobby and server, listening on fd (a socket from
 * sp_server_listen_socket, which it takes over, also on failure). Nothing
 * runs yet: every worker exists before any of them accepts, so a room can
 * be given to any loop from the first connection on. Returns 0 with *out,
 * or a negative libuv error with *out NULL (everything made is freed). */
int sp_worker_new(sp_shared *sh, int index, uv_os_sock_t fd, sp_worker **out);
/* Starts the worker's thread, which runs its loop. */
int sp_worker_run(sp_worker *w);
/* From the hub: a new global top scores table (copied). */
void sp_worker_post_top(sp_worker *w, const sp_score_row *rows, size_t n);
/* From the hub (cluster mode): room `uid` of this worker lost its lease. */
void sp_worker_post_lose(sp_worker *w, uint64_t uid);
/* From the hub: close every client with 1001, then stop the loop. The
 * worker reports to hub_worker_done when it is finished. */
void sp_worker_post_shutdown(sp_worker *w);
/* From the hub: new limits (copied), for the worker's server (a reload). */
void sp_worker_post_limits(sp_worker *w, const sp_server_limits *lim);
/* From the hub: ["announce", TEXT] to room (NULL: every room) of those
 * the worker runs. */
void sp_worker_post_announce(sp_worker *w, const char *room, const char *text);

/* Readers any thread may use while the worker exists. */
struct sp_lobby *sp_worker_lobby(sp_worker *w); /* its loop only */
sp_mailbox *sp_worker_mailbox(sp_worker *w);
const sp_server_stats *sp_worker_net_stats(const sp_worker *w);
const sp_room_stats *sp_worker_room_stats(const sp_worker *w);

/* 1 while the process accepts games: every worker started, not stopping,
 * and in cluster mode Redis up (/readyz). Any thread. */
int sp_shared_ready(sp_shared *sh);

/* Waits for the worker's thread to end (no-op if it never ran). */
void sp_worker_join(sp_worker *w);
/* Frees the worker, its mailbox included: call only once every thread that
 * could post to it has been joined. */
void sp_worker_free(sp_worker *w);

#endif
