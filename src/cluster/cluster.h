/* cluster: what the nodes of one game share through Redis.
 *
 *   - room leases: a room runs on exactly one node, the holder of its
 *     lease (taken atomically, renewed, fenced by an epoch);
 *   - the global top scores (a sorted set that only improves);
 *   - the cluster-wide room list (each room with its node);
 *   - events every node hears (the top changed, announcements).
 *
 * The cluster object lives on one loop, the hub's (the main thread); every
 * function must be called on that loop's thread, except the readers that
 * the worker loops need: sp_cluster_lease_valid, sp_cluster_top,
 * sp_cluster_rooms_json, sp_cluster_get_stats and sp_cluster_node_id,
 * which any thread may call (a mutex, a copy). Every callback and hook
 * runs on that loop, never inside the call that caused it.
 *
 * Redis is reached only asynchronously, over two connections (commands;
 * pub/sub), each with timeouts and reconnection (src/cluster/redis.h): a
 * slow or dead Redis delays no caller. While Redis is away claims answer
 * SP_CLAIM_UNAVAILABLE, scores wait in memory, and held leases run on
 * until their local deadline; when it is back the node re-claims what it
 * holds, writes the waiting scores and reads the shared state again.
 *
 * Redis keys (DB of the URL; "ROOM" and "NODE" are 1..32 of A-Z a-z 0-9
 * _ -):
 *   sp:lease:ROOM   string "NODE EPOCH", PX = lease time: the owner
 *   sp:epoch        integer, INCR by every claim: epochs only grow
 *   sp:leases       sorted set ROOM -> expiry (ms, Redis clock): an index
 *                   of the leases for the readers (room list, HAProxy)
 *   sp:leases:ver   integer, INCR whenever an owner changes, so HAProxy
 *                   reloads its map only then
 *   sp:roominfo     hash ROOM -> "NODE EPOCH CONNECTIONS SNAKES", shown
 *                   only while sp:lease:ROOM is still "NODE EPOCH"
 *   sp:top          sorted set NAME -> best score (ZADD GT), the best 100
 * Channels (DB in the name, since pub/sub ignores databases):
 *   sp:events:DB    {"type":"top"} | {"type":"announce","from":NODE,
 *                   "room":ROOM|null,"text":TEXT}
 *   sp:hb:DB:NODE   the node's own heartbeat, to detect a hung Redis on
 *                   its subscribed connection
 * The Lua scripts that change these keys are in src/cluster/scripts.h. */
#ifndef SP_CLUSTER_H
#define SP_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/url.h"
#include "core/buf.h"
#include "store/scores.h"

#define SP_NODE_ID_MAX 32
#define SP_ROOM_NAME_MAX 32
#define SP_ANNOUNCE_MAX 1024 /* bytes of announcement text */

typedef struct sp_cluster sp_cluster;

typedef struct sp_cluster_opts {
  sp_redis_url url;
  char node_id[SP_NODE_ID_MAX + 1];
  unsigned lease_ms;         /* lease time (default 3000): how long a dead
                                node's rooms wait before moving */
  unsigned redis_timeout_ms; /* connect and command timeout (default 1000) */
} sp_cluster_opts;

typedef enum {
  SP_CLAIM_GRANTED,    /* this node owns the room; epoch is set */
  SP_CLAIM_OWNED,      /* another node owns it; owner is its id */
  SP_CLAIM_UNAVAILABLE /* Redis could not say: refuse for now (503) */
} sp_claim_result;

/* epoch is set for GRANTED (otherwise 0); owner for OWNED (otherwise
 * NULL), valid during the call only. */
typedef void (*sp_claim_cb)(void *data, sp_claim_result result, uint64_t epoch,
                            const char *owner);

typedef struct sp_cluster_room {
  char name[SP_ROOM_NAME_MAX + 1];
  uint32_t connections, snakes;
} sp_cluster_room;

typedef struct sp_cluster_hooks {
  /* Both Redis connections answer (1) or one of them stopped (0). */
  void (*on_state)(void *data, int up);
  /* The lease of a room this node held is gone: its renewal found it
   * expired or taken, or its local deadline passed (Redis unreachable for
   * the lease time, or this process was stopped). Stop the room at once
   * (close its connections with 1012); the lease is already dropped. */
  void (*on_lease_lost)(void *data, const char *room);
  /* The global top scores changed: rows highest first (ties by name,
   * descending), valid during the call. */
  void (*on_top)(void *data, const sp_score_row *rows, size_t n);
  /* An announcement to one room (room set) or to every room (NULL). */
  void (*on_announce)(void *data, const char *room, const char *text);
  void *data;
} sp_cluster_hooks;

typedef struct sp_cluster_stats {
  int redis_up;                  /* 1 while both connections answer */
  uint64_t leases_held;          /* now */
  uint64_t lease_claims;         /* claims granted */
  uint64_t lease_losses;         /* on_lease_lost calls */
  uint64_t redis_outages;        /* times the cluster went from up to down */
  uint64_t scores_pending;       /* submitted, not yet acknowledged by Redis */
  uint64_t score_writes;         /* submissions Redis acknowledged */
  uint64_t score_write_failures; /* submissions that failed (retried) */
} sp_cluster_stats;

/* Starts connecting (the cluster starts down; on_state(1) follows when
 * Redis answers). hooks is copied. *out is the caller's until
 * sp_cluster_close. Returns 0, UV_EINVAL for a bad node id or lease time,
 * or another negative libuv error. */
int sp_cluster_start(uv_loop_t *loop, const sp_cluster_opts *opts,
                     const sp_cluster_hooks *hooks, sp_cluster **out);

/* Asks for the lease of `room`. cb runs exactly once, later: GRANTED at
 * once when this node already holds it (same epoch). Concurrent claims of
 * one room share one Redis round trip. Returns 0, or UV_EINVAL for a bad
 * room name or UV_ECANCELED while closing (cb never runs then). */
int sp_cluster_claim(sp_cluster *c, const char *room, sp_claim_cb cb,
                     void *data);

/* Gives the lease of `room` back (compare-and-delete: only if it is still
 * ours), so another node may take the room at once. A claim still in
 * flight is cancelled: its callbacks get UNAVAILABLE. No-op for a room
 * not held. */
void sp_cluster_release(sp_cluster *c, const char *room);

/* 1 while this node holds `room` with `epoch` and its local deadline (the
 * time of the last renewal that Redis acknowledged, plus the lease, less
 * a margin) has not passed; 0 otherwise. By the local monotonic clock, so
 * a process that was stopped longer than the lease sees 0 the moment it
 * wakes, before any renewal. Any thread; a mutex and a lookup. Call it
 * before each tick of a room in cluster mode. */
int sp_cluster_lease_valid(sp_cluster *c, const char *room, uint64_t epoch);

/* Records a score for the global table (0 and scores that cannot enter
 * the top 15 are ignored). It waits in memory while Redis is away and is
 * written when it is back (ZADD GT: repeating it is harmless). The table
 * that readers see (sp_cluster_top, on_top) only ever comes from Redis,
 * after Redis acknowledged the write. */
void sp_cluster_submit_score(sp_cluster *c, const char *name, uint32_t score);

/* Removes `name` from the global table (an operator's decision): ZREM,
 * then "top" is published so every node reads the table again (this one
 * too, at once). Submissions of that name still waiting are dropped. cb
 * runs once, later, with 1 (removed), 0 (not in the table) or a negative
 * error (Redis did not answer). Returns 0 (cb will run), UV_EINVAL, or
 * UV_ENOTCONN while Redis is away (cb never runs then). */
int sp_cluster_remove_score(sp_cluster *c, const char *name,
                            void (*cb)(void *data, int result), void *data);

/* Copies the cached global top (at most SP_TOP_SCORES rows) to rows. */
void sp_cluster_top(sp_cluster *c, sp_score_row *rows, size_t *n);

/* This node's rooms, all of them, each time they change (or once a
 * second): copied. Only rooms whose lease this node holds are published;
 * the list every node reads is refreshed once a second (every half lease
 * with leases under 2 s). */
int sp_cluster_set_rooms(sp_cluster *c, const sp_cluster_room *rows, size_t n);

/* Appends {"rooms":[{"name":..,"connections":N,"snakes":N,"node":ID}]}:
 * every room of the cluster, by name. This node's rooms are current; the
 * others are as of the last read (at most a second, or half a lease,
 * old), and each is left out once its lease has run out by what that read
 * said (so a dead node's rooms go within the lease time), or when Redis
 * has not answered for a lease time. */
void sp_cluster_rooms_json(sp_cluster *c, sp_buf *out);

/* Sends an announcement to `room` (NULL: every room) on every node,
 * including this one (whose on_announce runs even without pub/sub).
 * text: 1..SP_ANNOUNCE_MAX bytes of UTF-8. Returns 0, UV_EINVAL, or
 * UV_ENOTCONN while Redis is away (pub/sub is at most once). */
int sp_cluster_announce(sp_cluster *c, const char *room, const char *text);

void sp_cluster_get_stats(sp_cluster *c, sp_cluster_stats *st);
const char *sp_cluster_node_id(const sp_cluster *c);

/* SIGTERM: releases every held lease in one round trip (bounded by the
 * Redis timeout), drops pending claims (UNAVAILABLE), closes both
 * connections, frees c, then calls done(data) on the loop. No hook runs
 * after this call. Safe from inside a hook or callback. */
void sp_cluster_close(sp_cluster *c, void (*done)(void *data), void *data);

/* 1 if s is a valid node id (also room name): 1..32 of A-Z a-z 0-9 _ -. */
int sp_cluster_valid_name(const char *s);

/* The default node id, HOSTNAME-PORT with the host name's other bytes
 * mapped to '-' and cut so that the whole fits in 32 bytes. Call it once
 * the listening port is known. */
void sp_cluster_default_node_id(char out[SP_NODE_ID_MAX + 1], int port);

#endif
