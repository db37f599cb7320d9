/* redis: one asynchronous connection to Redis on a libuv loop, kept up.
 *
 * Over hiredis's async API (with our adapter, redis_uv.h) it adds what
 * hiredis 0.14.1 lacks: a connect timeout, a timeout for every command
 * (a Redis that stops answering, e.g. SIGSTOP, is an outage, not a wait
 * forever), reconnection with exponential backoff, and up/down callbacks.
 * "Up" means Redis answered: a TCP connect alone proves nothing (a stopped
 * server's kernel still completes the handshake), so a commands
 * connection is up after its first PING answers, and a pub/sub connection
 * after every channel's SUBSCRIBE is confirmed.
 *
 * A connection is in one of two modes, fixed at start. Commands: requests
 * and replies. Pub/sub (opts.on_message set): it subscribes to the given
 * channels after every (re)connect, carries nothing else (RESP2 forbids
 * it, and 0.14 cannot PING a subscribed connection), and is reset when no
 * message at all arrived for idle_timeout_ms: its owner publishes a
 * heartbeat on one of the channels, so silence means a hung Redis.
 *
 * Everything runs on the loop's thread. hiredis contexts are freed only
 * outside hiredis callbacks (from our own timers). */
#ifndef SP_CLUSTER_REDIS_H
#define SP_CLUSTER_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/url.h"

typedef struct sp_redis sp_redis;

/* A reply, or NULL with err < 0: UV_ETIMEDOUT (no answer in time; the
 * connection is being reset), UV_ECONNRESET (the connection broke) or
 * UV_ECANCELED (sp_redis_close). A Redis error reply is a reply (type
 * REDIS_REPLY_ERROR) with err 0. The reply lives only during the call. */
typedef void (*sp_redis_cb)(void *data, redisReply *reply, int err);

typedef struct sp_redis_opts {
  sp_redis_url url;
  const char *name;            /* in log lines: "commands", "pubsub" */
  unsigned connect_timeout_ms; /* connect + first answer (default 1000) */
  unsigned command_timeout_ms; /* any reply (default 1000) */
  unsigned backoff_min_ms;     /* first retry delay (default 100) */
  unsigned backoff_max_ms;     /* doubling up to this (default 2000) */
  /* Pub/sub mode: the channels (copied), the callback for each message
   * (channel and payload live only during the call), and the silence
   * after which the connection is reset (0: never). */
  const char *const *channels;
  size_t nchannels;
  void (*on_message)(void *data, const char *channel, const char *msg,
                     size_t len);
  unsigned idle_timeout_ms;
  /* Called on every change: 1 when Redis answers, 0 when it stopped. */
  void (*on_state)(void *data, int up);
  void *data;
} sp_redis_opts;

typedef struct sp_redis_stats {
  int up;
  uint64_t connects;   /* times it came up */
  uint64_t failures;   /* connects that failed or timed out, and resets */
  uint64_t timeouts;   /* commands or handshakes that timed out */
  uint64_t down_since; /* uv_now of the last down, 0 while up */
} sp_redis_stats;

/* Starts connecting at once. *out is owned by the caller until
 * sp_redis_close. Returns 0 or a negative libuv error. */
int sp_redis_start(uv_loop_t *loop, const sp_redis_opts *opts, sp_redis **out);

int sp_redis_is_up(const sp_redis *r);
void sp_redis_get_stats(const sp_redis *r, sp_redis_stats *st);

/* Pub/sub with idle_timeout_ms: starts the silence window again from now.
 * For a caller whose own messages, which the window waits for, could not
 * be sent for a while (this process was stopped, or its loop stalled):
 * that silence says nothing about Redis. No-op while not up. */
void sp_redis_restart_idle(sp_redis *r);

/* Sends one command (commands mode). Returns 0 and then cb runs exactly
 * once, later; or returns UV_ENOTCONN (not up) or another negative error
 * and cb never runs. */
int sp_redis_command(sp_redis *r, sp_redis_cb cb, void *data, int argc,
                     const char **argv, const size_t *lens);

/* Drops the connection (pending callbacks get UV_ECANCELED), stops
 * reconnecting, releases everything, then calls done(data) from the loop.
 * Safe from inside any callback of this connection. */
void sp_redis_close(sp_redis *r, void (*done)(void *data), void *data);

#endif
