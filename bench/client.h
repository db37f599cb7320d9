/* client.h: the WebSocket clients of the load generator, as a browser is one.
 *
 * An sb_fleet holds the N clients of a run, all on one libuv loop. Each
 * connects over TCP (from one of --source-ips loopback addresses), sends
 * GET /connect with a real Sec-WebSocket-Key and checks the server's
 * Sec-WebSocket-Accept, then reads frames: it answers pings, reassembles
 * fragmented text messages and hands each whole one to the layer above
 * (play.h), and ends with a close handshake. What the messages mean is not
 * its business; how connections fail and how many are open is.
 *
 * Nothing here shares code with the server: it measures it.
 */
#ifndef SB_CLIENT_H
#define SB_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "measure.h"
#include "opts.h"
#include "ws.h"

enum sb_cstate {
  SB_CS_NEW,
  SB_CS_TCP,  /* connecting */
  SB_CS_HTTP, /* upgrade sent, waiting for the 101 */
  SB_CS_OPEN,
  SB_CS_CLOSING, /* our close frame sent, waiting for the server's */
  SB_CS_DEAD
};

enum sb_fail {
  SB_FAIL_TCP,
  SB_FAIL_HTTP,
  SB_FAIL_ACCEPT,
  SB_FAIL_TIMEOUT,
  SB_FAIL_EOF,
  SB_FAIL_KINDS
};
/* "tcp", "http", ...: the names used in the report. */
extern const char *const sb_fail_names[SB_FAIL_KINDS];

typedef struct sb_conn_stats {
  uint64_t fails[SB_FAIL_KINDS];
  char first_fail[SB_FAIL_KINDS][120]; /* The first reason of each kind. */
  uint64_t unexpected_closes;          /* The server closed an open one. */
  uint64_t protocol_errors, write_errors;
} sb_conn_stats;

typedef struct sb_client sb_client;
typedef struct sb_fleet sb_fleet;

/* What the layer above is told; each may be NULL. */
typedef struct sb_client_cb {
  /* The upgrade succeeded. */
  void (*open)(sb_client *c);
  /* One whole text message of N bytes at P, received at NOW. */
  void (*text)(sb_client *c, const char *p, size_t n, uint64_t now);
  /* C is being closed, for whatever reason; nothing more will come. */
  void (*closing)(sb_client *c);
  /* A connection opened or failed, or a closed one released its handle:
   * the run may move to its next phase. */
  void (*changed)(sb_fleet *f);
} sb_client_cb;

/* The fields are the fleet's; the layer above reads state and owns data. */
struct sb_client {
  uv_tcp_t tcp;
  uv_connect_t creq;
  sb_fleet *fleet;
  void *data;    /* The layer above's, set before the fleet starts. */
  uint8_t *pend; /* Bytes of an incomplete frame or HTTP response (owned). */
  uint32_t pend_len, pend_cap;
  uint8_t *msg; /* A fragmented text message being assembled (owned). */
  uint32_t msg_len, msg_cap;
  uint8_t msg_active;
  uint8_t state; /* enum sb_cstate */
  uint32_t idx;  /* Its number: its name is "bIDX". */
  uint32_t room; /* It joins room PREFIXROOM. */
  uint64_t t_connect;
  char accept[SB_WS_ACCEPT_LEN + 1];
};

struct sb_fleet {
  const sb_opts *opt;
  uv_loop_t *loop;
  uint64_t rng;       /* For masks and nonces, and the layer above's keys. */
  sb_counters *count; /* Where frames and bytes received are counted. */
  sb_client_cb cb;
  void *data;         /* The layer above's context. */
  sb_client *clients; /* opt->clients of them (owned). */
  uint8_t *read_buf;  /* One for all: a read is consumed before the next. */
  uint32_t next;      /* Next client to connect. */
  uint32_t pending;   /* Connections between connect() and the 101. */
  uint32_t open, opened, failed, live_handles;
  double tokens; /* The connect rate's bucket. */
  uint64_t last_token;
  int closing; /* The run ends: errors and closes no longer count. */
  sb_conn_stats stats;
};

/* Prepares O->clients clients on LOOP (none connects yet), counting into
 * *COUNT and telling CB (with DATA in f->data). Returns 0, or -1 when out of
 * memory; sb_fleet_free() releases it once the loop has closed every
 * client. */
int sb_fleet_init(sb_fleet *f, const sb_opts *o, uv_loop_t *loop,
                  sb_counters *count, const sb_client_cb *cb, void *data);
void sb_fleet_free(sb_fleet *f);

/* Starts as many connections as --connect-rate and --max-pending allow at
 * NOW. Returns 1 once every client has been started. */
int sb_fleet_connect_more(sb_fleet *f, uint64_t now);
/* Fails the handshakes that have taken longer than 15 s. */
void sb_fleet_expire(sb_fleet *f, uint64_t now);
/* The connect phase took too long: clients not started count as timed out,
 * those still connecting fail. */
void sb_fleet_give_up(sb_fleet *f);
/* The run ends: open clients send a close (1000) and wait for the answer,
 * those still connecting are dropped. */
void sb_fleet_shutdown(sb_fleet *f);
/* Closes every client still there without waiting. */
void sb_fleet_drop(sb_fleet *f);

/* Sends a masked text frame of the NUL-terminated S (queued if the socket
 * is full). */
void sb_client_send_text(sb_client *c, const char *s);

#endif
