#include "net/server.h"

#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "net/http.h"
#include "net/iptable.h"
#include "net/static.h"
#include "net/ws.h"

#define SP_READ_BUF (64 * 1024) /* one per loop, shared by all connections */
#define SP_MAX_IOV 64           /* buffers handed to one write */
#define SP_LINGER_MS 2000       /* wait for the peer's FIN after ours */
#define SP_SWEEP_MS 250
#define SP_HTTP_BACKLOG                                                        \
  (256 * 1024)                /* unread answers before we stop reading         \
                               */
#define SP_QUIET_MS 2000      /* silent this long: drop wslay's context */
#define SP_RATE_LIMIT_MS 5000 /* over the rate this long in a row: 1008 */

enum { SP_CONN_HTTP, SP_CONN_WS, SP_CONN_CLOSING };

struct sp_conn {
  uv_tcp_t tcp;
  sp_server *srv;
  sp_conn *prev, *next;
  uint64_t id;
  void *data;
  uint8_t state;
  unsigned writing : 1;     /* a uv_write is in flight */
  unsigned upgraded : 1;    /* on_close is owed to the handler */
  unsigned drain_close : 1; /* shut down once the queue is empty */
  unsigned shut : 1;        /* uv_shutdown started */
  unsigned paused : 1;      /* an HTTP response is being prepared off-loop */
  unsigned handle_closing : 1;
  unsigned work_pending : 1;
  unsigned closed : 1;     /* close callback ran: memory owed to the work */
  unsigned out_paused : 1; /* HTTP: answers are piling up unread */
  sp_http *http;           /* HTTP phase only */
  sp_ws *ws;               /* WebSocket phase only */
  char *stash;             /* input that arrived while paused */
  size_t stash_len;
  sp_frame **q; /* ring of frames not yet handed to the kernel */
  uint32_t qhead, qlen, qcap, qoff;
  size_t queued; /* bytes not yet written to the kernel, in flight included */
  uint64_t deadline;  /* loop ms: HTTP head due, register due, or linger end */
  uint64_t last_rx;   /* loop ms of the last bytes from the peer */
  uint64_t ping_sent; /* loop ms of our unanswered ping, 0 if none */
  double tokens;      /* message rate bucket */
  uint64_t tokens_at;
  uint64_t over_since; /* loop ms of the first drop of the current run */
  uint64_t last_drop;  /* loop ms of the last dropped message */
  unsigned registered : 1;
  unsigned ip_counted : 1;
  unsigned adopted : 1;
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
  double burst;
  char origins[2048];
  char rbuf[SP_READ_BUF];
};

struct sp_moved_conn {
  int fd;
  sp_http_request req;
  char query[SP_HTTP_MAX_URL + 1];
  char peer[48];
  size_t restlen;
  char rest[]; /* bytes read after the request head */
};

typedef struct sp__write_req {
  uv_write_t req;
  sp_conn *c;
  size_t bytes;
  uint32_t n;
  sp_frame *frames[];
} sp__write_req;

static void sp__abort(sp_conn *c);
static void sp__http_input(sp_conn *c, const char *data, size_t len);
static void sp__flush(sp_conn *c);
static void sp__resume(sp_conn *c);
static void sp__slow_consumer(sp_conn *c);

/* ---- output queue --------------------------------------------------- */

static int sp__push(sp_conn *c, sp_frame *f) {
  if (c->qlen == c->qcap) {
    uint32_t cap = c->qcap ? c->qcap * 2 : 8;
    sp_frame **q = malloc(cap * sizeof *q);
    if (!q)
      return UV_ENOMEM;
    for (uint32_t i = 0; i < c->qlen; i++)
      q[i] = c->q[(c->qhead + i) % c->qcap];
    free(c->q);
    c->q = q;
    c->qcap = cap;
    c->qhead = 0;
  }
  c->q[(c->qhead + c->qlen) % c->qcap] = f;
  c->qlen++;
  c->queued += f->len;
  return 0;
}

static sp_frame *sp__pop(sp_conn *c) {
  sp_frame *f = c->q[c->qhead];
  c->qhead = (c->qhead + 1) % c->qcap;
  c->qlen--;
  return f;
}

/* Takes ownership of one reference to f and starts writing. */
static void sp__enqueue(sp_conn *c, sp_frame *f) {
  if (!f) {
    sp__abort(c);
    return;
  }
  if (c->handle_closing || sp__push(c, f)) {
    sp_frame_unref(f);
    return;
  }
  sp__flush(c);
}

static void sp__shutdown_cb(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

/* Everything queued is written: half-close if a close was asked for, and
 * wait (bounded) for the peer's FIN so our last bytes are not lost to an
 * RST. */
static void sp__drained(sp_conn *c) {
  if (!c->drain_close || c->shut || c->handle_closing)
    return;
  c->shut = 1;
  c->state = SP_CONN_CLOSING;
  c->deadline = uv_now(c->srv->loop) + SP_LINGER_MS;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, sp__shutdown_cb) != 0) {
    free(req);
    sp__abort(c);
  }
}

static void sp__write_cb(uv_write_t *req, int status) {
  sp__write_req *w = (sp__write_req *)req;
  sp_conn *c = w->c;
  for (uint32_t i = 0; i < w->n; i++)
    sp_frame_unref(w->frames[i]);
  c->queued -= w->bytes;
  c->writing = 0;
  free(w);
  if (c->handle_closing)
    return;
  if (status < 0) {
    sp__abort(c);
    return;
  }
  sp__flush(c);
  if (c->out_paused && c->queued <= SP_HTTP_BACKLOG / 2) {
    c->out_paused = 0;
    c->deadline = uv_now(c->srv->loop) + c->srv->opt.header_timeout_ms;
    sp__resume(c);
  }
}

/* Writes what is queued: uv_try_write first (most writes finish there, with
 * no request allocated), then one uv_write for the rest. */
static void sp__flush(sp_conn *c) {
  if (c->writing || c->handle_closing)
    return;
  while (c->qlen > 0) {
    uv_buf_t bufs[SP_MAX_IOV];
    uint32_t n = c->qlen < SP_MAX_IOV ? c->qlen : SP_MAX_IOV;
    for (uint32_t i = 0; i < n; i++) {
      sp_frame *f = c->q[(c->qhead + i) % c->qcap];
      uint32_t off = i == 0 ? c->qoff : 0;
      bufs[i] = uv_buf_init((char *)f->bytes + off, f->len - off);
    }
    int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
    if (r == UV_EAGAIN || r == UV_ENOSYS)
      r = 0;
    if (r < 0) {
      sp__abort(c);
      return;
    }
    size_t left = (size_t)r;
    c->queued -= left;
    while (left > 0) {
      sp_frame *f = c->q[c->qhead];
      size_t rest = f->len - c->qoff;
      if (left >= rest) {
        left -= rest;
        c->qoff = 0;
        sp_frame_unref(sp__pop(c));
      } else {
        c->qoff += (uint32_t)left;
        left = 0;
      }
    }
    if (c->qlen == 0)
      break;
    /* The kernel is full: hand the rest to libuv, moving the references
     * from the queue into the request. */
    n = c->qlen < SP_MAX_IOV ? c->qlen : SP_MAX_IOV;
    sp__write_req *w = malloc(sizeof *w + n * sizeof(sp_frame *));
    if (!w) {
      sp__abort(c);
      return;
    }
    w->c = c;
    w->n = n;
    w->bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
      sp_frame *f = sp__pop(c);
      uint32_t off = i == 0 ? c->qoff : 0;
      bufs[i] = uv_buf_init((char *)f->bytes + off, f->len - off);
      w->frames[i] = f;
      w->bytes += f->len - off;
    }
    c->qoff = 0;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, n, sp__write_cb) != 0) {
      for (uint32_t i = 0; i < n; i++)
        sp_frame_unref(w->frames[i]);
      c->queued -= w->bytes;
      free(w);
      sp__abort(c);
      return;
    }
    c->writing = 1;
    return;
  }
  sp__drained(c);
}

/* ---- closing --------------------------------------------------------- */

static void sp__conn_free(sp_conn *c) {
  while (c->qlen > 0)
    sp_frame_unref(sp__pop(c));
  free(c->q);
  sp_http_free(c->http);
  sp_ws_free(c->ws);
  free(c->stash);
  free(c);
}

static void sp__close_cb(uv_handle_t *h) {
  sp_conn *c = h->data;
  sp_server *s = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->nconns--;
  if (c->ip_counted)
    sp_iptable_dec(s->ips, &c->ip);
  if (c->upgraded && s->h.on_close)
    s->h.on_close(s->h.data, c);
  sp_log_debug("conn_closed", "conn=%llu peer=%s", (unsigned long long)c->id,
               c->peer);
  if (c->work_pending) {
    c->closed = 1; /* the static file work frees it when it returns */
    return;
  }
  sp__conn_free(c);
}

/* Closes the socket now; the memory goes in the close callback. */
static void sp__abort(sp_conn *c) {
  if (c->handle_closing)
    return;
  c->handle_closing = 1;
  c->state = SP_CONN_CLOSING;
  uv_close((uv_handle_t *)&c->tcp, sp__close_cb);
}

/* Closes once everything queued has been written. */
static void sp__close_after_flush(sp_conn *c) {
  c->drain_close = 1;
  c->state = SP_CONN_CLOSING;
  if (!c->writing && c->qlen == 0)
    sp__drained(c);
}

void sp_conn_close(sp_conn *c, uint16_t code) {
  if (c->handle_closing || c->drain_close)
    return;
  if (c->ws) {
    sp_ws_close(c->ws, code);
    if (sp_ws_close_sent(c->ws))
      sp__close_after_flush(c);
    /* else: inside on_message; sp__ws_input finishes the close. */
  } else {
    sp__abort(c);
  }
}

/* ---- WebSocket phase ------------------------------------------------- */

/* Token bucket: `rate` messages per second with a burst of `burst`. An
 * excess message is dropped and counted; a client that is over the rate
 * for SP_RATE_LIMIT_MS in a row is closed with 1008. */
static int sp__rate_ok(sp_conn *c) {
  sp_server *s = c->srv;
  uint64_t now = uv_now(s->loop);
  c->tokens += (double)(now - c->tokens_at) * s->opt.max_msg_rate / 1000.0;
  if (c->tokens > s->burst)
    c->tokens = s->burst;
  c->tokens_at = now;
  if (c->tokens >= 1.0) {
    c->tokens -= 1.0;
    return 1;
  }
  s->stats.dropped_messages++;
  /* A run of drops with no gap of a second or more is "keeps exceeding". */
  if (c->last_drop == 0 || now - c->last_drop > 1000)
    c->over_since = now;
  c->last_drop = now;
  if (now - c->over_since >= SP_RATE_LIMIT_MS) {
    s->stats.rate_closes++;
    sp_log_warn("rate_limited", "conn=%llu peer=%s rate=%g",
                (unsigned long long)c->id, c->peer, s->opt.max_msg_rate);
    sp_conn_close(c, SP_WS_POLICY);
  }
  return 0;
}

static void sp__ws_message(void *data, const uint8_t *msg, size_t len) {
  sp_conn *c = data;
  if (c->drain_close || !sp__rate_ok(c))
    return;
  if (c->srv->h.on_message)
    c->srv->h.on_message(c->srv->h.data, c, msg, len);
}

/* wslay's pongs and closes: a peer that pings and never reads must hit
 * --max-queue like any slow reader. */
static void sp__ws_output(void *data, const uint8_t *bytes, size_t len) {
  sp_conn *c = data;
  if (c->queued > c->srv->opt.max_queue) {
    sp__slow_consumer(c);
    return;
  }
  sp__enqueue(c, sp_frame_raw(bytes, len));
}

static void sp__ws_input(sp_conn *c, const char *data, size_t len) {
  if (!sp_ws_feed(c->ws, (const uint8_t *)data, len)) {
    uint16_t code = sp_ws_close_sent(c->ws);
    if (code != SP_WS_NORMAL && code != SP_WS_GOING_AWAY &&
        !sp_ws_close_received(c->ws))
      sp_log_info("ws_error", "conn=%llu peer=%s close=%u",
                  (unsigned long long)c->id, c->peer, code);
    sp__close_after_flush(c);
  }
}

/* A reader that does not keep up is cut off: its room never waits, and its
 * memory goes with it. The close frame only gets out if nothing is stuck
 * ahead of it. */
static void sp__slow_consumer(sp_conn *c) {
  c->srv->stats.slow_consumers++;
  sp_log_warn("slow_consumer", "conn=%llu peer=%s queued=%zu limit=%zu",
              (unsigned long long)c->id, c->peer, c->queued,
              c->srv->opt.max_queue);
  if (!c->writing && c->qlen == 0) {
    uint8_t close[4] = {0x88, 2, SP_WS_POLICY >> 8, SP_WS_POLICY & 0xff};
    uv_buf_t b = uv_buf_init((char *)close, sizeof close);
    uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  }
  sp__abort(c);
}

void sp_conn_send(sp_conn *c, sp_frame *const *frames, size_t n) {
  if (c->state != SP_CONN_WS || c->drain_close || c->handle_closing)
    return;
  /* The limit is on what is already waiting, so one batch larger than the
   * limit (the world of a huge field) still reaches a reader that keeps
   * up; memory stays below max_queue plus one batch. */
  if (c->queued > c->srv->opt.max_queue) {
    sp__slow_consumer(c);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (sp__push(c, sp_frame_ref(frames[i]))) {
      sp_frame_unref(frames[i]);
      sp__abort(c);
      return;
    }
  }
  sp__flush(c);
}

/* ---- HTTP phase ------------------------------------------------------ */

static void sp__respond(sp_conn *c, int status, const char *ctype,
                        const char *extra, const void *body, size_t len,
                        int head_only, int keep_alive) {
  char head[512];
  int n =
      snprintf(head, sizeof head,
               "HTTP/1.1 %d %s\r\n"
               "Content-Type: %s\r\n"
               "Content-Length: %zu\r\n"
               "Cache-Control: no-cache\r\n"
               "X-Content-Type-Options: nosniff\r\n"
               "%s%s\r\n",
               status, sp_http_status_text(status), ctype, len,
               extra ? extra : "", keep_alive ? "" : "Connection: close\r\n");
  size_t blen = head_only ? 0 : len;
  sp_frame *f = malloc(sizeof *f + (size_t)n + blen);
  if (!f) {
    sp__abort(c);
    return;
  }
  atomic_init(&f->refs, 1);
  f->len = (uint32_t)((size_t)n + blen);
  f->bytes = f->data;
  memcpy(f->data, head, (size_t)n);
  if (blen)
    memcpy(f->data + n, body, blen);
  sp__enqueue(c, f);
  if (!keep_alive)
    sp__close_after_flush(c);
}

static void sp__respond_text(sp_conn *c, int status, const char *text,
                             const char *extra, int head_only, int keep_alive) {
  char body[256];
  int n = snprintf(body, sizeof body, "%s\n", text);
  sp__respond(c, status, "text/plain; charset=utf-8", extra, body, (size_t)n,
              head_only, keep_alive);
}

typedef struct sp__file_work {
  uv_work_t req;
  sp_conn *c;
  char name[SP_STATIC_MAX_NAME + 1];
  int head_only, keep_alive, status;
  char *data;
  size_t len;
} sp__file_work;

static void sp__file_work_cb(uv_work_t *req) {
  sp__file_work *w = req->data;
  w->status = sp_static_read(w->c->srv->static_dir, w->name, &w->data, &w->len);
}

static void sp__resume(sp_conn *c);

static void sp__file_done_cb(uv_work_t *req, int status) {
  sp__file_work *w = req->data;
  sp_conn *c = w->c;
  c->work_pending = 0;
  if (c->handle_closing) {
    /* The connection went away meanwhile; its close callback left the
     * memory to us. */
    if (c->closed)
      sp__conn_free(c);
  } else if (status != 0 || w->status == 500) {
    sp__respond_text(c, 500, "internal error", NULL, w->head_only, 0);
  } else if (w->status == 404) {
    sp__respond_text(c, 404, "not found", NULL, w->head_only, w->keep_alive);
    sp__resume(c);
  } else {
    sp__respond(c, 200, sp_static_content_type(w->name), NULL, w->data, w->len,
                w->head_only, w->keep_alive);
    sp__resume(c);
  }
  free(w->data);
  free(w);
}

static void sp__alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  sp_conn *c = h->data;
  *buf = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

static void sp__read_cb(uv_stream_t *stream, ssize_t nread,
                        const uv_buf_t *buf);

/* Continues with the requests that arrived while a response was prepared. */
static void sp__resume(sp_conn *c) {
  if (c->handle_closing || c->state != SP_CONN_HTTP || c->work_pending ||
      c->out_paused)
    return;
  c->paused = 0;
  char *stash = c->stash;
  size_t len = c->stash_len;
  c->stash = NULL;
  c->stash_len = 0;
  if (stash) {
    sp__http_input(c, stash, len);
    free(stash);
  }
  if (!c->paused && !c->handle_closing && c->state == SP_CONN_HTTP)
    uv_read_start((uv_stream_t *)&c->tcp, sp__alloc_cb, sp__read_cb);
}

/* Detaches the connection for another loop: a duplicate of the socket goes
 * with the request and the bytes already read; this loop's handle closes.
 * Reading stopped with the request, so no byte is lost or read twice. */
static void sp__move(sp_conn *c, const sp_http_request *req, const char *query,
                     const char *rest, size_t restlen) {
  sp_server *s = c->srv;
  uv_os_fd_t fd;
  sp_moved_conn *m = NULL;
  if (c->qlen > 0 || c->writing || c->stash_len > 0 ||
      uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
    goto fail; /* earlier responses still queued: too rare to wait for */
  m = malloc(sizeof *m + restlen);
  if (!m)
    goto fail;
  m->fd = dup(fd);
  if (m->fd < 0)
    goto fail;
  m->req = *req;
  snprintf(m->query, sizeof m->query, "%s", query);
  memcpy(m->peer, c->peer, sizeof m->peer);
  m->restlen = restlen;
  if (restlen)
    memcpy(m->rest, rest, restlen);
  uv_read_stop((uv_stream_t *)&c->tcp);
  sp__abort(c);
  s->h.on_move(s->h.data, c, m);
  return;
fail:
  free(m);
  sp__respond_text(c, 503, "cannot move the connection", NULL, 0, 0);
}

void sp_moved_conn_free(sp_moved_conn *m) {
  if (!m)
    return;
  close(m->fd);
  free(m);
}

const char *sp_moved_conn_query(const sp_moved_conn *m) { return m->query; }
int sp_conn_adopted(const sp_conn *c) { return c->adopted; }

/* Exact match against a comma-separated list (spaces around items ignored). */
static int sp__origin_allowed(const char *list, const char *origin) {
  size_t ol = strlen(origin);
  if (ol == 0)
    return 0;
  for (const char *p = list; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    const char *start = p;
    while (*p && *p != ',')
      p++;
    const char *end = p;
    while (end > start && end[-1] == ' ')
      end--;
    if ((size_t)(end - start) == ol && strncmp(start, origin, ol) == 0)
      return 1;
  }
  return 0;
}

static void sp__upgrade(sp_conn *c, const sp_http_request *req,
                        const char *query, const char *rest, size_t restlen) {
  if (req->method != HTTP_GET) {
    sp__respond_text(c, 400, "a WebSocket upgrade must be a GET", NULL, 0, 0);
    return;
  }
  if (!req->has_upgrade_websocket || !req->has_connection_upgrade) {
    sp__respond_text(c, 400, "/connect expects a WebSocket upgrade", NULL, 0,
                     0);
    return;
  }
  if (strcmp(req->ws_version, "13") != 0) {
    sp__respond_text(c, 426, "unsupported Sec-WebSocket-Version",
                     "Sec-WebSocket-Version: 13\r\n", 0, 0);
    return;
  }
  if (!sp_ws_key_valid(req->ws_key)) {
    sp__respond_text(c, 400, "missing or invalid Sec-WebSocket-Key", NULL, 0,
                     0);
    return;
  }
  if (c->srv->origins[0] && !sp__origin_allowed(c->srv->origins, req->origin)) {
    char q[300];
    sp_log_info("origin_refused", "conn=%llu peer=%s origin=%s",
                (unsigned long long)c->id, c->peer,
                sp_log_quote(q, sizeof q, req->origin, strlen(req->origin)));
    sp__respond_text(c, 403, "origin not allowed", NULL, 0, 0);
    return;
  }
  static const sp_ws_callbacks cb = {sp__ws_message, sp__ws_output};
  sp_ws *ws;
  if (sp_ws_new(c->srv->opt.max_message, &cb, c, &ws) != 0) {
    sp__respond_text(c, 500, "out of memory", NULL, 0, 0);
    return;
  }
  const char *reason = "refused";
  int status = c->srv->h.on_upgrade
                   ? c->srv->h.on_upgrade(c->srv->h.data, c, query, &reason)
                   : 404;
  if (status == SP_SERVER_MOVE) {
    sp_ws_free(ws);
    sp__move(c, req, query, rest, restlen);
    return;
  }
  if (status != 0) {
    sp_ws_free(ws);
    sp__respond_text(c, status, reason, NULL, 0, 0);
    return;
  }
  char accept[29], head[160];
  sp_ws_accept_key(req->ws_key, accept);
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 101 Switching Protocols\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n\r\n",
                   accept);
  c->upgraded = 1;
  c->ws = ws;
  c->state = SP_CONN_WS;
  c->deadline = uv_now(c->srv->loop) + c->srv->opt.register_timeout_ms;
  c->tokens = c->srv->burst;
  c->tokens_at = uv_now(c->srv->loop);
  sp_http_free(c->http);
  c->http = NULL;
  sp__enqueue(c, sp_frame_raw(head, (size_t)n));
  sp_log_debug("ws_open", "conn=%llu peer=%s", (unsigned long long)c->id,
               c->peer);
  if (restlen > 0 && !c->handle_closing)
    sp__ws_input(c, rest, restlen);
}

static void sp__request(sp_conn *c, const sp_http_request *req,
                        const char *rest, size_t restlen) {
  char path[SP_HTTP_MAX_URL + 1];
  const char *q = strchr(req->url, '?');
  size_t plen = q ? (size_t)(q - req->url) : strlen(req->url);
  memcpy(path, req->url, plen);
  path[plen] = '\0';
  const char *query = q ? q + 1 : "";
  int head_only = req->method == HTTP_HEAD;
  int keep = req->keep_alive && !req->upgrade;

  if (strcmp(path, "/connect") == 0) {
    sp__upgrade(c, req, query, rest, restlen);
    return;
  }
  if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
    sp__respond_text(c, 405, "method not allowed", "Allow: GET, HEAD\r\n", 0,
                     keep);
    return;
  }
  if (strcmp(path, "/healthz") == 0) {
    sp__respond(c, 200, "text/plain; charset=utf-8", NULL, "ok", 2, head_only,
                keep);
    return;
  }
  if (strncmp(path, "/api/", 5) == 0) {
    sp_buf body = SP_BUF_INIT;
    int status = c->srv->h.on_api
                     ? c->srv->h.on_api(c->srv->h.data, path + 5, &body)
                     : 404;
    if (body.failed)
      sp__respond_text(c, 500, "out of memory", NULL, head_only, 0);
    else if (status == 200)
      sp__respond(c, 200, "application/json", NULL, body.data, body.len,
                  head_only, keep);
    else
      sp__respond_text(c, 404, "not found", NULL, head_only, keep);
    sp_buf_free(&body);
    return;
  }
  char name[SP_STATIC_MAX_NAME + 1];
  int status = sp_static_path(path, name);
  if (status != 0) {
    sp__respond_text(c, status, status == 400 ? "bad path" : "not found", NULL,
                     head_only, keep && status != 400);
    return;
  }
  if (c->srv->static_dir[0]) {
    /* Disk reads happen on the thread pool; requests behind this one wait
     * (in order) until it is answered. */
    sp__file_work *w = calloc(1, sizeof *w);
    if (!w) {
      sp__respond_text(c, 500, "out of memory", NULL, head_only, 0);
      return;
    }
    w->c = c;
    w->req.data = w;
    strcpy(w->name, name);
    w->head_only = head_only;
    w->keep_alive = keep;
    if (uv_queue_work(c->srv->loop, &w->req, sp__file_work_cb,
                      sp__file_done_cb) != 0) {
      free(w);
      sp__respond_text(c, 500, "internal error", NULL, head_only, 0);
      return;
    }
    c->work_pending = 1;
    c->paused = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    return;
  }
  const struct sp_asset *a = sp_static_builtin(name);
  if (!a) {
    sp__respond_text(c, 404, "not found", NULL, head_only, keep);
    return;
  }
  sp__respond(c, 200, sp_static_content_type(name), NULL, a->data, a->size,
              head_only, keep);
}

static void sp__http_input(sp_conn *c, const char *data, size_t len) {
  while (len > 0 && c->state == SP_CONN_HTTP && !c->handle_closing) {
    if (!c->paused && c->queued > SP_HTTP_BACKLOG) {
      /* Pipelined requests from a peer that does not read its answers
       * (a 30-byte request can fetch kilobytes): stop reading until it
       * has caught up, or until the header timeout gives up on it. */
      c->paused = c->out_paused = 1;
      c->deadline = uv_now(c->srv->loop) + c->srv->opt.header_timeout_ms;
      uv_read_stop((uv_stream_t *)&c->tcp);
    }
    if (c->paused) {
      char *s = realloc(c->stash, c->stash_len + len);
      if (!s) {
        sp__abort(c);
        return;
      }
      memcpy(s + c->stash_len, data, len);
      c->stash = s;
      c->stash_len += len;
      return;
    }
    size_t used;
    sp_http_result r = sp_http_feed(c->http, data, len, &used);
    data += used;
    len -= used;
    if (r == SP_HTTP_ERROR) {
      int status = sp_http_error_status(c->http);
      sp_log_info("http_error", "conn=%llu peer=%s status=%d",
                  (unsigned long long)c->id, c->peer, status);
      sp__respond_text(c, status, sp_http_status_text(status), NULL, 0, 0);
      c->state = SP_CONN_CLOSING;
      return;
    }
    if (r == SP_HTTP_MORE)
      return;
    const sp_http_request *req = sp_http_request_get(c->http);
    int upgrade = req->upgrade;
    /* The next request head (or idle keep-alive) gets a fresh deadline. */
    c->deadline = uv_now(c->srv->loop) + c->srv->opt.header_timeout_ms;
    sp__request(c, req, data, len); /* may free c->http, and req with it */
    if (upgrade || c->state != SP_CONN_HTTP)
      return; /* the rest belonged to the new protocol (or was refused) */
  }
}

static void sp__read_cb(uv_stream_t *stream, ssize_t nread,
                        const uv_buf_t *buf) {
  sp_conn *c = stream->data;
  if (nread == 0)
    return;
  if (nread < 0) {
    sp__abort(c);
    return;
  }
  c->last_rx = uv_now(c->srv->loop);
  c->ping_sent = 0;
  switch (c->state) {
  case SP_CONN_HTTP: sp__http_input(c, buf->base, (size_t)nread); break;
  case SP_CONN_WS: sp__ws_input(c, buf->base, (size_t)nread); break;
  default: break; /* closing: what the peer still sends is dropped */
  }
}

/* ---- listener -------------------------------------------------------- */

/* A new connection object in the server's list, its handle initialised. */
static sp_conn *sp__conn_new(sp_server *s) {
  sp_conn *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->srv = s;
  c->id = ++s->next_id;
  c->state = SP_CONN_HTTP;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  return c;
}

static void sp__set_peer(sp_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    char ip[40];
    if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      uv_ip6_name(a, ip, sizeof ip);
      snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, ntohs(a->sin6_port));
    } else {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      uv_ip4_name(a, ip, sizeof ip);
      snprintf(c->peer, sizeof c->peer, "%s:%d", ip, ntohs(a->sin_port));
    }
  }
  sp_iptable_key_from(&c->ip, (struct sockaddr *)&ss);
}

static void sp__on_connection(uv_stream_t *listener, int status) {
  sp_server *s = listener->data;
  if (status < 0) {
    sp_log_warn("accept_failed", "error=%s", sp_strerror(status));
    return;
  }
  sp_conn *c = sp__conn_new(s);
  if (!c) {
    sp_log_error("accept_failed", "error=\"out of memory\"");
    return;
  }
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    sp__abort(c);
    return;
  }
  sp__set_peer(c);
  uv_tcp_nodelay(&c->tcp, 1);
  int total = 0;
  int per_ip = sp_iptable_inc(s->ips, &c->ip, &total);
  c->ip_counted = per_ip > 0;
  if (total > s->opt.max_conns || per_ip > s->opt.max_conns_per_ip ||
      per_ip < 0) {
    /* Refused before any byte is read: one 503, then the socket closes. */
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 20\r\n"
                               "Connection: close\r\n\r\n"
                               "too many connections\n";
    s->stats.refused_full++;
    sp_log_warn("conn_refused", "peer=%s conns=%d per_ip=%d", c->peer, total,
                per_ip);
    uv_buf_t b = uv_buf_init((char *)busy, sizeof busy - 1);
    uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    sp__abort(c);
    return;
  }
  c->http = sp_http_new();
  if (!c->http) {
    sp__abort(c);
    return;
  }
  c->last_rx = uv_now(s->loop);
  c->deadline = c->last_rx + s->opt.header_timeout_ms;
  uv_read_start((uv_stream_t *)&c->tcp, sp__alloc_cb, sp__read_cb);
}

int sp_server_adopt(sp_server *s, sp_moved_conn *m) {
  sp_conn *c = s->shutting_down ? NULL : sp__conn_new(s);
  if (!c)
    return SP_ECLOSED;
  c->adopted = 1;
  if (uv_tcp_open(&c->tcp, m->fd) != 0) {
    sp__abort(c);
    return SP_ECLOSED;
  }
  m->fd = -1; /* the handle owns it now */
  memcpy(c->peer, m->peer, sizeof c->peer);
  sp__set_peer(c);
  int total = 0;
  c->ip_counted = sp_iptable_inc(s->ips, &c->ip, &total) > 0;
  uv_tcp_nodelay(&c->tcp, 1);
  c->last_rx = uv_now(s->loop);
  sp__upgrade(c, &m->req, m->query, m->rest, m->restlen);
  if (!c->handle_closing)
    uv_read_start((uv_stream_t *)&c->tcp, sp__alloc_cb, sp__read_cb);
  free(m);
  return 0;
}

/* Closes connections whose peer never finished the closing handshake. */
static void sp__ping(sp_conn *c, uint64_t now) {
  static const uint8_t ping[] = {0x89, 4, 's', 'p', 'i', 't'};
  c->ping_sent = now;
  sp__enqueue(c, sp_frame_raw(ping, sizeof ping));
}

/* One pass over the connections for every timeout: slow request heads,
 * unregistered WebSockets, silent peers (ping, then close) and peers that
 * never finish the closing handshake. */
static void sp__sweep_cb(uv_timer_t *t) {
  sp_server *s = t->data;
  uint64_t now = uv_now(s->loop);
  sp_conn *next;
  for (sp_conn *c = s->conns; c; c = next) {
    next = c->next;
    if (c->handle_closing)
      continue;
    if (c->shut) {
      if (now >= c->deadline)
        sp__abort(c);
    } else if (c->state == SP_CONN_HTTP) {
      if ((!c->paused || c->out_paused) && now >= c->deadline) {
        s->stats.header_timeouts++;
        sp_log_info("header_timeout", "conn=%llu peer=%s",
                    (unsigned long long)c->id, c->peer);
        sp__abort(c);
      }
    } else if (c->state == SP_CONN_WS && !c->drain_close) {
      if (!c->registered && now >= c->deadline) {
        s->stats.register_timeouts++;
        sp_log_info("register_timeout", "conn=%llu peer=%s",
                    (unsigned long long)c->id, c->peer);
        sp_conn_close(c, SP_WS_POLICY);
      } else if (c->ping_sent &&
                 now - c->ping_sent >= s->opt.ping_interval_ms) {
        s->stats.ping_timeouts++;
        sp_log_info("ping_timeout", "conn=%llu peer=%s",
                    (unsigned long long)c->id, c->peer);
        sp__abort(c);
      } else if (!c->ping_sent && now - c->last_rx >= s->opt.ping_interval_ms) {
        sp__ping(c, now);
      } else if (now - c->last_rx >= SP_QUIET_MS) {
        sp_ws_release_idle(c->ws);
      }
    }
  }
}

int sp_server_start(uv_loop_t *loop, const sp_server_options *opt,
                    const sp_server_handler *handler, sp_server **out) {
  int err;
  struct sockaddr_storage addr;
  sp_server *s = calloc(1, sizeof *s);
  if (!s)
    return UV_ENOMEM;
  s->loop = loop;
  s->opt = *opt;
  s->h = *handler;
  s->burst = opt->max_msg_rate * 2 > 10 ? opt->max_msg_rate * 2 : 10;
  if (opt->allowed_origins)
    snprintf(s->origins, sizeof s->origins, "%s", opt->allowed_origins);
  s->ips = opt->limits;
  if (!s->ips) {
    s->ips = sp_iptable_new();
    s->own_ips = 1;
  }
  if (!s->ips) {
    free(s);
    return UV_ENOMEM;
  }
  if (opt->static_dir)
    snprintf(s->static_dir, sizeof s->static_dir, "%s", opt->static_dir);
  if (strchr(opt->host, ':'))
    err = uv_ip6_addr(opt->host, opt->port, (struct sockaddr_in6 *)&addr);
  else
    err = uv_ip4_addr(opt->host, opt->port, (struct sockaddr_in *)&addr);
  if (err)
    goto fail;
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  if (opt->reuseport) {
    /* libuv 1.44 has no UV_TCP_REUSEPORT: make the socket by hand. */
    int one = 1;
    int fd =
        socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = uv_translate_sys_error(errno);
      goto fail_listener;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    socklen_t alen = addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    if (bind(fd, (struct sockaddr *)&addr, alen) != 0) {
      err = uv_translate_sys_error(errno);
      close(fd);
      goto fail_listener;
    }
    if ((err = uv_tcp_open(&s->listener, fd)) != 0) {
      close(fd);
      goto fail_listener;
    }
  } else if ((err = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0)) !=
             0) {
    goto fail_listener;
  }
  if ((err = uv_listen((uv_stream_t *)&s->listener, 1024, sp__on_connection)) !=
      0)
    goto fail_listener;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
  s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  uv_timer_init(loop, &s->sweep);
  s->sweep.data = s;
  uv_timer_start(&s->sweep, sp__sweep_cb, SP_SWEEP_MS, SP_SWEEP_MS);
  uv_unref((uv_handle_t *)&s->sweep);
  *out = s;
  return 0;

fail_listener:
  /* The handle is closed by the caller's loop run; the server memory must
   * outlive it, so it is released in sp_server_free. */
  s->shutting_down = 1;
  uv_close((uv_handle_t *)&s->listener, NULL);
  *out = s;
  return err;
fail:
  if (s->own_ips)
    sp_iptable_free(s->ips);
  free(s);
  *out = NULL;
  return err;
}

int sp_server_port(const sp_server *s) { return s->port; }
size_t sp_server_conn_count(const sp_server *s) { return s->nconns; }

void sp_server_shutdown(sp_server *s) {
  if (s->shutting_down)
    return;
  s->shutting_down = 1;
  uv_close((uv_handle_t *)&s->listener, NULL);
  sp_conn *next;
  for (sp_conn *c = s->conns; c; c = next) {
    next = c->next;
    if (c->state == SP_CONN_WS)
      sp_conn_close(c, SP_WS_GOING_AWAY);
    else if (c->state == SP_CONN_HTTP && !c->paused)
      sp__abort(c);
  }
}

void sp_server_abort_all(sp_server *s) {
  sp_conn *next;
  for (sp_conn *c = s->conns; c; c = next) {
    next = c->next;
    sp__abort(c);
  }
}

void sp_server_close(sp_server *s) {
  if (!uv_is_closing((uv_handle_t *)&s->sweep))
    uv_close((uv_handle_t *)&s->sweep, NULL);
}

void sp_server_free(sp_server *s) {
  if (!s)
    return;
  if (s->own_ips)
    sp_iptable_free(s->ips);
  free(s);
}

const sp_server_stats *sp_server_get_stats(const sp_server *s) {
  return &s->stats;
}

void sp_conn_registered(sp_conn *c) {
  c->registered = 1;
  c->deadline = 0;
}

void *sp_conn_data(const sp_conn *c) { return c->data; }
void sp_conn_set_data(sp_conn *c, void *data) { c->data = data; }
uint64_t sp_conn_id(const sp_conn *c) { return c->id; }
const char *sp_conn_peer(const sp_conn *c) { return c->peer; }
