/* internal: the cluster object shared by the files of src/cluster
 * (cluster.c: life cycle, connections, events; lease.c: room leases;
 * top.c: global top scores; roomlist.c: the cluster-wide room list).
 * Not for use outside src/cluster. */
#ifndef SP_CLUSTER_INTERNAL_H
#define SP_CLUSTER_INTERNAL_H

#include "cluster/cluster.h"
#include "cluster/redis.h"

typedef struct sp__lease sp__lease;
typedef struct sp__waiter sp__waiter;

/* A score waiting for Redis's acknowledgement. */
typedef struct sp__pending_score {
  char name[SP_SCORE_NAME_SIZE];
  uint32_t score;    /* the best submitted */
  uint32_t inflight; /* the score being written now, 0 if none */
} sp__pending_score;

/* A room of the cluster-wide list as last read. */
typedef struct sp__remote_room {
  char name[SP_ROOM_NAME_MAX + 1];
  char node[SP_NODE_ID_MAX + 1];
  uint32_t connections, snakes;
  uint64_t expires_ns; /* uv_hrtime when its lease runs out, as last read */
} sp__remote_room;

#define SP__MAX_PENDING_SCORES 1024
#define SP__TOP_KEPT 100

struct sp_cluster {
  uv_loop_t *loop;
  sp_cluster_opts o;
  sp_cluster_hooks h;
  sp_redis *cmd, *sub;
  char ch_events[48], ch_hb[80];
  int up, closing, redis_closing;
  uv_timer_t renew;   /* every lease/3: renew held leases */
  uv_timer_t hb;      /* heartbeat on our channel */
  uv_timer_t refresh; /* once a second (or half a lease): room list, top */
  uv_timer_t kick;    /* runs deferred claim callbacks */
  uv_timer_t expiry;  /* fires at the earliest local lease deadline */
  int handles_open;
  uint64_t hb_seq;
  uint64_t hb_at; /* uv_now of the last heartbeat timer, 0 before it */
  sp_cluster_stats st;
  void (*done)(void *);
  void *done_data;

  /* Leases, and everything the functions callable from any thread read
   * (the lease table, top, mine, remote, st, up): changed on the loop
   * thread under mu, read by other threads under mu. */
  uv_mutex_t mu;
  sp__lease **buckets;
  size_t nbuckets, nleases;
  int renew_inflight;
  sp__waiter *ready, *ready_tail; /* answers waiting for the kick timer */

  /* Top scores. */
  sp_score_row top[SP_TOP_SCORES];
  size_t ntop;
  int top_read_inflight;
  sp__pending_score *pending;
  size_t npending;

  /* Room list. */
  sp_cluster_room *mine;
  size_t nmine;
  int rooms_dirty, rooms_write_inflight, rooms_read_inflight;
  sp__remote_room *remote;
  size_t nremote;
  uint64_t remote_at; /* uv_hrtime of the last successful read, 0 never */
};

/* lease.c */
int sp__lease_init(sp_cluster *c);
void sp__lease_free(sp_cluster *c);
void sp__lease_renew_all(sp_cluster *c);   /* the renew timer */
void sp__lease_on_up(sp_cluster *c);       /* commands came back */
void sp__lease_flush_ready(sp_cluster *c); /* the kick timer */
void sp__lease_expiry(sp_cluster *c);      /* the expiry timer */
void sp__lease_release_all(sp_cluster *c, void (*then)(sp_cluster *));
/* Calls fn for every held lease (room, epoch). */
void sp__lease_each_held(sp_cluster *c,
                         void (*fn)(void *arg, const char *room,
                                    uint64_t epoch),
                         void *arg);
int sp__lease_held_epoch(sp_cluster *c, const char *room, uint64_t *epoch);

/* top.c */
void sp__top_flush(sp_cluster *c);   /* write waiting scores */
void sp__top_refresh(sp_cluster *c); /* read the table */
void sp__top_free(sp_cluster *c);

/* roomlist.c */
void sp__rooms_write(sp_cluster *c);
void sp__rooms_read(sp_cluster *c);
void sp__rooms_free(sp_cluster *c);

/* The expiry timer's callback (sweeps the leases). */
void sp__cluster_expiry_cb(uv_timer_t *t);

/* Runs the deferred claim answers soon, from the kick timer. */
void sp__cluster_kick(sp_cluster *c);

/* Sends a script with EVAL: keys then args. Returns as sp_redis_command. */
int sp__cluster_eval(sp_cluster *c, const char *script, int nkeys,
                     const char **keys, const size_t *keylens, int nargs,
                     const char **args, const size_t *arglens, sp_redis_cb cb,
                     void *data);

#endif
