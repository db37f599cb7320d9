/* conn: one accepted connection as an object: created in the server's
 * list, reading into the loop's shared buffer, writing through its output
 * queue, and closing in one of two ways: at once (sp__conn_abort) or after
 * everything queued has gone out, with a half-close and a bounded wait for
 * the peer's FIN (sp__conn_close_after_flush), so our last bytes are not
 * lost to a reset. Its memory goes in the handle's close callback, never
 * in the middle of another callback. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "net/conn_internal.h"

static void sp__read_cb(uv_stream_t *stream, ssize_t nread,
                        const uv_buf_t *buf);

static int sp__phase(sp_conn_state st) {
  return st == SP_CONN_WS         ? SP_OPEN_WS
         : st >= SP_CONN_DRAINING ? SP_OPEN_CLOSING
                                  : SP_OPEN_HTTP;
}

void sp__conn_set_state(sp_conn *c, sp_conn_state st) {
  int from = sp__phase(c->state), to = sp__phase(st);
  if (from != to) {
    SP_COUNT_SUB(c->srv->stats.open[from], 1);
    SP_COUNT_ADD(c->srv->stats.open[to], 1);
  }
  c->state = st;
}

/* The code a WebSocket ended with: the close we sent, else the one we
 * received, else 1006 (no closing handshake). */
static void sp__count_close(sp_conn *c) {
  uint16_t code = sp_ws_close_sent(c->ws);
  if (!code)
    code = sp_ws_close_received(c->ws);
  if (!code)
    code = 1006;
  SP_COUNT_ADD(c->srv->stats.ws_closes[sp_server_close_slot(code)], 1);
}

static void sp__conn_free(sp_conn *c) {
  sp_outq_free(&c->out);
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
  SP_COUNT_SUB(s->stats.open[SP_OPEN_CLOSING], 1);
  if (c->ws)
    sp__count_close(c);
  if (c->ip_counted)
    sp_iptable_dec(s->ips, &c->ip);
  if (c->ws && s->h.on_close)
    s->h.on_close(s->h.data, c);
  sp_log_debug("conn_closed", "conn=%llu peer=%s", (unsigned long long)c->id,
               c->peer);
  c->handle_closed = 1;
  if (c->holds == 0)
    sp__conn_free(c);
}

void sp__conn_abort(sp_conn *c) {
  if (c->state == SP_CONN_CLOSED)
    return;
  sp__conn_set_state(c, SP_CONN_CLOSED);
  sp_outq_stop(&c->out);
  uv_close((uv_handle_t *)&c->tcp, sp__close_cb);
}

static void sp__shutdown_cb(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

/* Everything queued is written: half-close if a close was asked for, and
 * wait (bounded, see the sweep) for the peer's FIN. */
static void sp__drained(sp_outq *q) {
  sp_conn *c = q->data;
  if (c->state == SP_CONN_HTTP_FULL) {
    /* The peer read its answers: go on with its requests. */
    c->deadline = uv_now(c->srv->loop) + c->srv->opt.header_timeout_ms;
    sp__http_resume(c);
    return;
  }
  if (c->state != SP_CONN_DRAINING)
    return;
  sp__conn_set_state(c, SP_CONN_LINGER);
  c->deadline = uv_now(c->srv->loop) + SP_LINGER_MS;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, sp__shutdown_cb) != 0) {
    free(req);
    sp__conn_abort(c);
  }
}

static void sp__write_failed(sp_outq *q, int err) {
  (void)err;
  sp__conn_abort(q->data);
}

static const sp_outq_callbacks sp__outq_cb = {sp__write_failed, sp__drained};

void sp__conn_close_after_flush(sp_conn *c) {
  if (c->state >= SP_CONN_DRAINING)
    return;
  sp__conn_set_state(c, SP_CONN_DRAINING);
  if (sp_outq_idle(&c->out))
    sp__drained(&c->out);
}

void sp__conn_enqueue(sp_conn *c, sp_frame *f) {
  if (!f) {
    sp__conn_abort(c);
    return;
  }
  SP_COUNT_ADD(c->srv->stats.bytes_out, f->len);
  int err = sp_outq_push(&c->out, f);
  if (err == UV_ENOMEM)
    sp__conn_abort(c);
  else if (err == 0)
    sp_outq_flush(&c->out);
}

void sp__conn_hold(sp_conn *c) { c->holds++; }

int sp__conn_unhold(sp_conn *c) {
  c->holds--;
  if (!c->handle_closed)
    return c->state != SP_CONN_CLOSED;
  if (c->holds == 0)
    sp__conn_free(c);
  return 0;
}

sp_conn *sp__conn_new(sp_server *s) {
  sp_conn *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->srv = s;
  c->id = ++s->next_id;
  c->state = SP_CONN_HTTP;
  c->req_method = -1;
  SP_COUNT_ADD(s->stats.open[SP_OPEN_HTTP], 1);
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  sp_outq_init(&c->out, (uv_stream_t *)&c->tcp, &sp__outq_cb, c);
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  return c;
}

static void sp__alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  sp_conn *c = h->data;
  *buf = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

void sp__conn_read_start(sp_conn *c) {
  uv_read_start((uv_stream_t *)&c->tcp, sp__alloc_cb, sp__read_cb);
}

static void sp__read_cb(uv_stream_t *stream, ssize_t nread,
                        const uv_buf_t *buf) {
  sp_conn *c = stream->data;
  if (nread == 0)
    return;
  if (nread < 0) {
    sp__conn_abort(c);
    return;
  }
  c->last_rx = uv_now(c->srv->loop);
  c->rx_bytes += (uint64_t)nread;
  SP_COUNT_ADD(c->srv->stats.bytes_in, nread);
  c->ping_sent = 0;
  switch (c->state) {
  case SP_CONN_HTTP:
  case SP_CONN_HTTP_HELD:
  case SP_CONN_HTTP_FULL: sp__http_input(c, buf->base, (size_t)nread); break;
  case SP_CONN_WS: sp__ws_input(c, buf->base, (size_t)nread); break;
  default: break; /* closing: what the peer still sends is dropped */
  }
}

/* ---- the handler's API ------------------------------------------------- */

void sp_conn_close(sp_conn *c, uint16_t code) {
  sp_conn_close_why(c, code, NULL);
}

void sp_conn_close_why(sp_conn *c, uint16_t code, const char *reason) {
  if (c->state >= SP_CONN_DRAINING)
    return;
  if (c->ws) {
    sp_ws_close_why(c->ws, code, reason);
    if (sp_ws_close_sent(c->ws))
      sp__conn_close_after_flush(c);
    /* else: inside on_message; sp__ws_input finishes the close. */
  } else {
    sp__conn_abort(c);
  }
}

void sp_conn_registered(sp_conn *c) {
  c->registered = 1;
  c->deadline = 0;
}

void *sp_conn_data(const sp_conn *c) { return c->data; }
void sp_conn_set_data(sp_conn *c, void *data) { c->data = data; }
uint64_t sp_conn_id(const sp_conn *c) { return c->id; }
const char *sp_conn_peer(const sp_conn *c) { return c->peer; }
const sp_iptable_key *sp_conn_addr(const sp_conn *c) { return &c->ip; }
