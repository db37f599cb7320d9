/* conn_internal: what the modules of the network layer share, and nothing
 * outside src/net may include (as libuv's internal.h). One connection's
 * life is spread over four files, one concern each:
 *
 *   conn.c      the object: creation, the output queue, closing, accessors
 *   http_conn.c the HTTP phase: requests in order, responses, static files
 *   ws_conn.c   the WebSocket phase: the upgrade, messages, rate, limits
 *   server.c    the listener, accepting, the sweep of timeouts, shutdown
 *
 * A connection is in exactly one state (sp_conn_state); the few bits that
 * are not part of its life cycle are named as such. */
#ifndef SP_CONN_INTERNAL_H
#define SP_CONN_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "net/http.h"
#include "net/iptable.h"
#include "net/outq.h"
#include "net/ratelimit.h"
#include "net/server.h"
#include "net/ws.h"

#define SP_READ_BUF (64 * 1024) /* one per loop, shared by all conns */
#define SP_LINGER_MS 2000       /* wait for the peer's FIN after ours */
#define SP_SWEEP_MS 250         /* period of the timeout sweep */
#define SP_HTTP_BACKLOG                                                        \
  (256 * 1024)           /* unread answers before we stop reading              \
                          */
#define SP_QUIET_MS 2000 /* silent this long: drop wslay's context */

typedef enum sp_conn_state {
  SP_CONN_HTTP,      /* reading requests, answering them in order */
  SP_CONN_HTTP_HELD, /* an answer is prepared off the loop (a file read on
                        the thread pool, or the handler's SP_HTTP_LATER):
                        later input waits in the stash */
  SP_CONN_HTTP_FULL, /* answers pile up unread: reading stopped until the
                        peer catches up (or the header timeout) */
  SP_CONN_UPGRADING, /* a valid upgrade the handler answers later: reading
                        stopped, later bytes in the stash */
  SP_CONN_WS,        /* WebSocket open */
  SP_CONN_DRAINING,  /* closing: what is queued goes out, then our FIN */
  SP_CONN_LINGER,    /* FIN sent: waiting (bounded) for the peer's */
  SP_CONN_CLOSED,    /* uv_close called; memory goes in its callback, or
                        with the last hold (see holds) */
} sp_conn_state;

struct sp_conn {
  uv_tcp_t tcp;
  sp_server *srv;
  sp_conn *prev, *next; /* the server's list */
  uint64_t id;
  void *data; /* the handler's */
  sp_conn_state state;
  /* Jobs on the thread pool that still point at this connection (a file
   * read): the memory outlives the handle until the last one is back. */
  uint8_t holds;
  uint8_t handle_closed; /* the close callback has run */
  uint8_t registered;    /* the handler saw new_player: no register timeout */
  uint8_t ip_counted;    /* counted in the server's per-address table */
  uint8_t later;         /* the handler answers the held request later */
  uint8_t later_head;    /* ... and it was a HEAD */
  uint8_t later_keep;    /* ... with keep-alive */
  int req_method;        /* of the request being answered, for the log */
  char req_path[128];    /* its path (no query), cut, for the log */
  sp_http *http;         /* HTTP phase only */
  sp_ws *ws;             /* set by the upgrade: on_close is owed */
  char *stash;           /* input that arrived while held */
  size_t stash_len;
  sp_outq out;
  uint64_t deadline;  /* loop ms: HTTP head due, register due, linger end */
  uint64_t last_rx;   /* loop ms of the last bytes from the peer */
  uint64_t ping_sent; /* loop ms of our unanswered ping, 0 if none */
  uint64_t rx_bytes;  /* bytes ever read (an idle preconnect has none) */
  sp_ratelimit rate;
  sp_iptable_key ip;
  char peer[48];
};

struct sp_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_timer_t sweep;
  sp_server_options opt;
  char static_dir[1024];
  sp_server_handler h;
  sp_conn *conns;
  size_t nconns;
  uint64_t next_id;
  int port;
  int shutting_down;
  sp_iptable *ips;
  int own_ips;
  sp_server_stats stats;
  sp_ratelimit_config rate;
  char origins[2048];
  char rbuf[SP_READ_BUF];
};

/* conn.c */
sp_conn *sp__conn_new(sp_server *s);
/* Every change of state goes through here: it keeps the open gauges. */
void sp__conn_set_state(sp_conn *c, sp_conn_state st);
void sp__conn_read_start(sp_conn *c);
/* Closes the socket now; the memory goes in the close callback. */
void sp__conn_abort(sp_conn *c);
/* Closes once everything queued has been written (FIN, then linger). */
void sp__conn_close_after_flush(sp_conn *c);
/* Queues one frame, taking ownership of its reference; f == NULL (out of
 * memory while building it) aborts the connection. */
void sp__conn_enqueue(sp_conn *c, sp_frame *f);
/* A pool job keeps the memory alive; sp__conn_unhold() after it returns
 * (it frees the connection if the handle closed meanwhile) and says
 * whether the connection is still usable. */
void sp__conn_hold(sp_conn *c);
int sp__conn_unhold(sp_conn *c);

/* http_conn.c */
void sp__http_input(sp_conn *c, const char *data, size_t len);
/* Continues with the requests that arrived while held, and reading. */
void sp__http_resume(sp_conn *c);
/* One complete response (head and body) as a single frame. */
void sp__http_respond(sp_conn *c, int status, const char *ctype,
                      const char *extra, const void *body, size_t len,
                      int head_only, int keep_alive);
void sp__http_respond_text(sp_conn *c, int status, const char *text,
                           const char *extra, int head_only, int keep_alive);

/* ws_conn.c */
/* Checks a request for /connect and, if the handler accepts it, switches
 * the connection to WebSocket (101) and feeds it the bytes read after the
 * request. */
void sp__ws_upgrade(sp_conn *c, const sp_http_request *req, const char *query,
                    const char *rest, size_t restlen);
void sp__ws_input(sp_conn *c, const char *data, size_t len);
/* Cuts off a reader that does not keep up (close 1008 if it can still go). */
void sp__ws_slow_consumer(sp_conn *c);
/* The sweep's work for one open WebSocket at loop time now. */
void sp__ws_sweep(sp_conn *c, uint64_t now);

#endif
