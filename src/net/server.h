/* server: the network layer on libuv. It listens, reads HTTP requests,
 * serves the client's files, upgrades /connect to WebSocket and moves bytes;
 * it knows nothing of snakes. What a WebSocket connection means is decided
 * by the handler (the room layer) through four callbacks.
 *
 * Lifecycle, as libuv's handles: sp_server_start() → use →
 * sp_server_shutdown() → when the loop has drained, sp_server_free(). */
#ifndef SP_SERVER_H
#define SP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/counter.h"
#include "net/frame.h"
#include "net/http.h"
#include "net/iptable.h"

typedef struct sp_server sp_server;
typedef struct sp_conn sp_conn;

typedef struct sp_server_options {
  const char *host;
  int port;
  const char *static_dir; /* NULL or "": the built-in client */
  size_t max_message;     /* largest client message (close 1009 beyond) */
  size_t max_queue;       /* outgoing bytes queued per WebSocket (cut beyond) */
  int sndbuf;             /* SO_SNDBUF of accepted sockets; 0 = kernel's */
  int max_conns;          /* open connections (503 beyond) */
  int max_conns_per_ip;   /* open connections per client address (503 beyond) */
  uint64_t header_timeout_ms; /* a whole request head, or an idle keep-alive */
  uint64_t register_timeout_ms; /* until the handler calls sp_conn_registered */
  uint64_t ping_interval_ms;    /* silence before a ping, and for its answer */
  double max_msg_rate;          /* messages per second per WebSocket */
  const char *allowed_origins;  /* comma-separated; NULL or "" = any */
  /* Connection counts shared by every server of the process (borrowed);
   * NULL: the server keeps its own. */
  struct sp_iptable *limits;
  /* A listening socket made by sp_server_listen_socket(), which the server
   * takes over; -1: the server makes its own from host and port. */
  uv_os_sock_t fd;
} sp_server_options;

/* The limits a running server may change (sp_server_set_limits): the
 * run-time options of a reload. */
typedef struct sp_server_limits {
  size_t max_message;
  size_t max_queue;
  int sndbuf;
  int max_conns;
  int max_conns_per_ip;
  uint64_t header_timeout_ms;
  uint64_t register_timeout_ms;
  uint64_t ping_interval_ms;
  double max_msg_rate;
  char allowed_origins[2048]; /* comma-separated; "" = any */
} sp_server_limits;

/* on_http sets reply->status to this to answer later, with
 * sp_conn_http_answer(): the request stays held, and the requests behind it
 * on the same connection wait (in order). */
#define SP_HTTP_LATER 1

/* A reply to an HTTP request that the handler serves (see on_http). */
typedef struct sp_http_reply {
  int status;               /* 0: not served here (files, then 404/405);
                               SP_HTTP_LATER: answered later */
  const char *content_type; /* NULL: application/json */
  const char *headers;      /* extra header lines ending in \r\n, or NULL */
  sp_buf body;              /* the handler appends; the server frees it */
} sp_http_reply;

/* The close codes counted one by one (ws_closes[i] counts
 * sp_server_close_codes[i]); the last slot, code 0, counts the others.
 * 1006 is a WebSocket that ended without a closing handshake. */
#define SP_SERVER_CLOSE_CODES 13
extern const uint16_t sp_server_close_codes[SP_SERVER_CLOSE_CODES];

/* Connections by phase, for the open gauges. */
enum { SP_OPEN_HTTP, SP_OPEN_WS, SP_OPEN_CLOSING, SP_OPEN_PHASES };

/* What one server (one loop) did, for the metrics: written by the loop's
 * thread only, readable from any thread (core/counter.h). */
typedef struct sp_server_stats {
  sp_counter open[SP_OPEN_PHASES]; /* gauges: connections open, by phase */
  sp_counter accepted;             /* connections taken in */
  sp_counter refused_max_conns;    /* 503: --max-conns */
  sp_counter refused_per_ip;       /* 503: --max-conns-per-ip */
  sp_counter http_requests;        /* requests answered (upgrades too) */
  sp_counter head_too_large;       /* 431 */
  sp_counter url_too_long;         /* 414 */
  sp_counter body_too_large;       /* 413 */
  sp_counter bytes_in, bytes_out;  /* read from / queued to sockets */
  sp_counter messages_in;          /* WebSocket messages received */
  sp_counter messages_out;         /* WebSocket data frames queued */
  sp_counter ws_closes[SP_SERVER_CLOSE_CODES]; /* WebSockets ended, by code */
  sp_counter header_timeouts;                  /* closed: slow request head */
  sp_counter register_timeouts;
  sp_counter ping_timeouts;
  sp_counter dropped_messages; /* over --max-msg-rate */
  sp_counter rate_closes;      /* 1008 after 5 s over the rate */
  sp_counter slow_consumers;   /* cut at --max-queue */
} sp_server_stats;

/* What on_upgrade may say along with a refusal. */
typedef struct sp_refusal {
  const char *reason;  /* one line (a static string) */
  const char *headers; /* extra header lines ending in \r\n, or NULL */
} sp_refusal;

/* on_upgrade returns this to answer later (sp_conn_upgrade_answer). */
#define SP_UPGRADE_LATER 1

typedef struct sp_server_handler {
  void *data;
  /* A valid WebSocket upgrade for /connect with its raw query string (may
   * be empty). Returns 0 to accept (the handler may attach its state with
   * sp_conn_set_data), SP_UPGRADE_LATER to answer later, or an HTTP status
   * to refuse with, with *why filled in. */
  int (*on_upgrade)(void *data, sp_conn *c, const char *query, sp_refusal *why);
  /* The connection has just become a WebSocket (its 101 is queued): it
   * may now be sent to and closed. */
  void (*on_open)(void *data, sp_conn *c);
  /* A complete, valid UTF-8 text message. */
  void (*on_message)(void *data, sp_conn *c, const uint8_t *msg, size_t len);
  /* The connection is gone (called once, for accepted upgrades only, from
   * the handle's close callback: never in the middle of a send). After it
   * returns the sp_conn is freed. */
  void (*on_close)(void *data, sp_conn *c);
  /* Any request but /connect, before the client's files: the handler
   * fills *reply for the paths it serves (for HEAD the body is counted in
   * Content-Length, not sent), leaves status 0 for the others, or sets
   * SP_HTTP_LATER and answers later with sp_conn_http_answer(c, ...).
   * req (its body included) is valid during the call only. */
  void (*on_http)(void *data, sp_conn *c, const sp_http_request *req,
                  const char *path, const char *query, sp_http_reply *reply);
} sp_server_handler;

/* Makes sure no other process listens on host:port: the worker loops of
 * one process share their port (SO_REUSEPORT), and the kernel would let a
 * second process join them and split the players. Call once, before the
 * listening sockets are made; *lock (or -1 for port 0) is held open for the
 * life of the process. Returns 0 or UV_EADDRINUSE (or another error). */
int sp_server_claim_port(const char *host, int port, uv_os_sock_t *lock);
/* A socket listening on host:port with SO_REUSEPORT, for one loop; *bound
 * receives the port (the kernel's choice for port 0). The caller owns *fd
 * until it passes it to sp_server_start in sp_server_options.fd. */
int sp_server_listen_socket(const char *host, int port, uv_os_sock_t *fd,
                            int *bound);

/* Starts serving on the loop; takes over opt->fd, also on failure.
 * Returns 0 with *out, or a negative libuv error with *out either NULL or
 * (when the listening handle had been made) a server whose handle is
 * closing: the caller runs the loop once more and then calls
 * sp_server_free(*out). */
int sp_server_start(uv_loop_t *loop, const sp_server_options *opt,
                    const sp_server_handler *handler, sp_server **out);
int sp_server_port(const sp_server *s);
size_t sp_server_conn_count(const sp_server *s);
/* The server's counters; any thread may read them (core/counter.h). */
const sp_server_stats *sp_server_get_stats(const sp_server *s);
/* Index of a close code in sp_server_stats.ws_closes. */
int sp_server_close_slot(uint16_t code);
/* New limits, on the server's loop (a reload): new connections get them,
 * and open ones too wherever a limit is checked as it goes (queue, rate,
 * timeouts, the message size of open WebSockets). */
void sp_server_set_limits(sp_server *s, const sp_server_limits *lim);
/* Stops accepting and closes every connection: WebSockets with 1001. */
void sp_server_shutdown(sp_server *s);
/* Closes whatever is still open at once (end of a shutdown grace period). */
void sp_server_abort_all(sp_server *s);
/* Closes the server's own handles; call once no connection is left. */
void sp_server_close(sp_server *s);
/* Frees the server once the loop has run its close callbacks. */
void sp_server_free(sp_server *s);

/* Queues frames for a WebSocket, taking a new reference to each; they leave
 * in one write when the socket can take them. Dropped silently once the
 * connection is closing. A connection whose queue would pass max_queue is
 * cut off (close 1008 when it can still be sent). */
void sp_conn_send(sp_conn *c, sp_frame *const *frames, size_t n);
/* Answers an upgrade that on_upgrade put off, on the connection's loop:
 * status 0 accepts it (101, then on_open), any other refuses it with that
 * HTTP status, one-line reason and extra header lines (or NULL). Returns 0,
 * or SP_ECLOSED when the connection went away meanwhile (nothing is sent;
 * its memory goes now). Either way the connection may not be used after a
 * refusal or SP_ECLOSED. */
int sp_conn_upgrade_answer(sp_conn *c, int status, const char *reason,
                           const char *extra);
/* True while an upgrade put off by on_upgrade still waits for its answer
 * (false once the connection went away: the answer then only frees it). */
int sp_conn_upgrade_waiting(const sp_conn *c);
/* Starts the closing handshake with `code`, then closes the socket. */
void sp_conn_close(sp_conn *c, uint16_t code);
/* The same with a reason for the peer (UTF-8, cut to the 123 bytes a close
 * frame can carry, at a character boundary; NULL or "" for none). */
void sp_conn_close_why(sp_conn *c, uint16_t code, const char *reason);
/* Answers a request that on_http put off (SP_HTTP_LATER), on the
 * connection's loop; the reply's body is freed here. Returns 0, or
 * SP_ECLOSED when the connection went away meanwhile (nothing is sent; its
 * memory goes now). The requests behind it are then served in order. */
int sp_conn_http_answer(sp_conn *c, sp_http_reply *reply);
/* The handler has seen the connection register (new_player): it is no
 * longer subject to the register timeout. */
void sp_conn_registered(sp_conn *c);
void *sp_conn_data(const sp_conn *c);
void sp_conn_set_data(sp_conn *c, void *data);
uint64_t sp_conn_id(const sp_conn *c);
const char *sp_conn_peer(const sp_conn *c);
/* The peer's address (IPv4 mapped into IPv6), e.g. to count by address. */
const sp_iptable_key *sp_conn_addr(const sp_conn *c);

#endif
