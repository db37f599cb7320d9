/* ws_conn: the WebSocket phase of a connection: the upgrade of a /connect
 * request, messages in (through wslay, see ws.h) under the rate limit,
 * frames out under --max-queue, and the timeouts of an open WebSocket
 * (registration, silence and pings). */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "net/conn_internal.h"

/* ---- messages in --------------------------------------------------------- */

static void sp__ws_message(void *data, const uint8_t *msg, size_t len) {
  sp_conn *c = data;
  sp_server *s = c->srv;
  if (c->state != SP_CONN_WS)
    return;
  SP_COUNT_ADD(s->stats.messages_in, 1);
  switch (sp_ratelimit_take(&c->rate, &s->rate, uv_now(s->loop))) {
  case SP_RATE_OK: break;
  case SP_RATE_DROP: SP_COUNT_ADD(s->stats.dropped_messages, 1); return;
  case SP_RATE_CLOSE:
    SP_COUNT_ADD(s->stats.dropped_messages, 1);
    SP_COUNT_ADD(s->stats.rate_closes, 1);
    sp_log_warn("rate_limited", "conn=%llu peer=%s rate=%g",
                (unsigned long long)c->id, c->peer, s->opt.max_msg_rate);
    sp_conn_close(c, SP_WS_POLICY);
    return;
  }
  if (s->h.on_message)
    s->h.on_message(s->h.data, c, msg, len);
}

/* wslay's pongs and closes: a peer that pings and never reads must hit
 * --max-queue like any slow reader. */
static void sp__ws_output(void *data, const uint8_t *bytes, size_t len) {
  sp_conn *c = data;
  if (c->out.queued > c->srv->opt.max_queue) {
    sp__ws_slow_consumer(c);
    return;
  }
  sp__conn_enqueue(c, sp_frame_raw(bytes, len));
}

void sp__ws_input(sp_conn *c, const char *data, size_t len) {
  if (!sp_ws_feed(c->ws, (const uint8_t *)data, len)) {
    uint16_t code = sp_ws_close_sent(c->ws);
    if (code != SP_WS_NORMAL && code != SP_WS_GOING_AWAY &&
        !sp_ws_close_received(c->ws))
      sp_log_info("ws_error", "conn=%llu peer=%s close=%u",
                  (unsigned long long)c->id, c->peer, code);
    sp__conn_close_after_flush(c);
  }
}

/* ---- frames out ---------------------------------------------------------- */

void sp__ws_slow_consumer(sp_conn *c) {
  SP_COUNT_ADD(c->srv->stats.slow_consumers, 1);
  sp_log_warn("slow_consumer", "conn=%llu peer=%s queued=%zu limit=%zu",
              (unsigned long long)c->id, c->peer, c->out.queued,
              c->srv->opt.max_queue);
  /* The close frame only gets out if nothing is stuck ahead of it. */
  if (sp_outq_idle(&c->out)) {
    uint8_t close[SP_FRAME_CLOSE_LEN];
    uv_buf_t b = uv_buf_init(
        (char *)close, (unsigned)sp_frame_write_close(close, SP_WS_POLICY));
    uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  }
  sp__conn_abort(c);
}

void sp_conn_send(sp_conn *c, sp_frame *const *frames, size_t n) {
  if (c->state != SP_CONN_WS)
    return;
  /* The limit is on what is already waiting, so one batch larger than the
   * limit (the world of a huge field) still reaches a reader that keeps
   * up; memory stays below max_queue plus one batch. */
  if (c->out.queued > c->srv->opt.max_queue) {
    sp__ws_slow_consumer(c);
    return;
  }
  uint64_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    bytes += frames[i]->len;
    if (sp_outq_push(&c->out, sp_frame_ref(frames[i])) != 0) {
      sp__conn_abort(c);
      return;
    }
  }
  sp_server_stats *st = &c->srv->stats;
  SP_COUNT_ADD(st->messages_out, n);
  SP_COUNT_ADD(st->bytes_out, bytes);
  sp_outq_flush(&c->out);
}

/* ---- timeouts ------------------------------------------------------------ */

void sp__ws_sweep(sp_conn *c, uint64_t now) {
  sp_server *s = c->srv;
  if (!c->registered && now >= c->deadline) {
    SP_COUNT_ADD(s->stats.register_timeouts, 1);
    sp_log_info("register_timeout", "conn=%llu peer=%s",
                (unsigned long long)c->id, c->peer);
    sp_conn_close(c, SP_WS_POLICY);
  } else if (c->ping_sent && now - c->ping_sent >= s->opt.ping_interval_ms) {
    SP_COUNT_ADD(s->stats.ping_timeouts, 1);
    sp_log_info("ping_timeout", "conn=%llu peer=%s", (unsigned long long)c->id,
                c->peer);
    sp__conn_abort(c);
  } else if (!c->ping_sent && now - c->last_rx >= s->opt.ping_interval_ms) {
    static const uint8_t ping[] = {0x80 | SP_WS_OP_PING, 4, 's', 'p', 'i', 't'};
    c->ping_sent = now;
    sp__conn_enqueue(c, sp_frame_raw(ping, sizeof ping));
  }
}

/* ---- the upgrade -----------------------------------------------------------
 */

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

/* The refusal a request for /connect deserves before the handler sees it,
 * or 0 when it is a valid upgrade. */
static int sp__upgrade_refusal(sp_conn *c, const sp_http_request *req,
                               const char **text, const char **extra) {
  *extra = NULL;
  if (req->method != HTTP_GET) {
    *text = "a WebSocket upgrade must be a GET";
    return 400;
  }
  if (!req->has_upgrade_websocket || !req->has_connection_upgrade) {
    *text = "/connect expects a WebSocket upgrade";
    return 400;
  }
  if (strcmp(req->ws_version, "13") != 0) {
    *text = "unsupported Sec-WebSocket-Version";
    *extra = "Sec-WebSocket-Version: 13\r\n";
    return 426;
  }
  if (!sp_ws_key_valid(req->ws_key)) {
    *text = "missing or invalid Sec-WebSocket-Key";
    return 400;
  }
  if (c->srv->origins[0] && !sp__origin_allowed(c->srv->origins, req->origin)) {
    char q[300];
    sp_log_info("origin_refused", "conn=%llu peer=%s origin=%s",
                (unsigned long long)c->id, c->peer,
                sp_log_quote(q, sizeof q, req->origin, strlen(req->origin)));
    *text = "origin not allowed";
    return 403;
  }
  return 0;
}

/* Switches the connection to WebSocket: 101, then the handler's on_open,
 * then the bytes that came after the request. */
static void sp__ws_accept(sp_conn *c, const sp_http_request *req,
                          const char *rest, size_t restlen) {
  sp_server *s = c->srv;
  static const sp_ws_callbacks cb = {sp__ws_message, sp__ws_output};
  sp_ws *ws;
  if (sp_ws_new(s->opt.max_message, &cb, c, &ws) != 0) {
    sp__http_respond_text(c, 500, "out of memory", NULL, 0, 0);
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
  c->ws = ws; /* from here on_close is owed */
  sp__conn_set_state(c, SP_CONN_WS);
  c->deadline = uv_now(s->loop) + s->opt.register_timeout_ms;
  sp_ratelimit_init(&c->rate, &s->rate, uv_now(s->loop));
  sp_http_free(c->http);
  c->http = NULL;
  SP_COUNT_ADD(s->stats.http_requests, 1);
  sp__conn_enqueue(c, sp_frame_raw(head, (size_t)n));
  sp_log_debug("ws_open", "conn=%llu peer=%s", (unsigned long long)c->id,
               c->peer);
  if (s->h.on_open && c->state == SP_CONN_WS)
    s->h.on_open(s->h.data, c);
  if (restlen > 0 && c->state == SP_CONN_WS)
    sp__ws_input(c, rest, restlen);
}

void sp__ws_upgrade(sp_conn *c, const sp_http_request *req, const char *query,
                    const char *rest, size_t restlen) {
  sp_server *s = c->srv;
  const char *text, *extra;
  int status = sp__upgrade_refusal(c, req, &text, &extra);
  if (status) {
    sp__http_respond_text(c, status, text, extra, 0, 0);
    return;
  }
  sp_refusal why = {"refused", NULL};
  status = s->h.on_upgrade ? s->h.on_upgrade(s->h.data, c, query, &why) : 404;
  if (status == SP_UPGRADE_LATER) {
    /* The handler answers later (sp_conn_upgrade_answer): the request
     * stays in c->http, the bytes after it wait in the stash. */
    char *stash = restlen ? malloc(restlen) : NULL;
    if (restlen && !stash) {
      sp__conn_abort(c);
      return;
    }
    if (restlen)
      memcpy(stash, rest, restlen);
    c->stash = stash;
    c->stash_len = restlen;
    sp__conn_set_state(c, SP_CONN_UPGRADING);
    sp__conn_hold(c);
    uv_read_stop((uv_stream_t *)&c->tcp);
    return;
  }
  if (status != 0) {
    sp__http_respond_text(c, status, why.reason, why.headers, 0, 0);
    return;
  }
  sp__ws_accept(c, req, rest, restlen);
}

int sp_conn_upgrade_waiting(const sp_conn *c) {
  return c->state == SP_CONN_UPGRADING;
}

int sp_conn_upgrade_answer(sp_conn *c, int status, const char *reason,
                           const char *extra) {
  if (!sp__conn_unhold(c))
    return SP_ECLOSED; /* it went away meanwhile (and is freed now) */
  SP_ASSERT(c->state == SP_CONN_UPGRADING);
  sp__conn_set_state(c, SP_CONN_HTTP_HELD);
  char *rest = c->stash;
  size_t restlen = c->stash_len;
  c->stash = NULL;
  c->stash_len = 0;
  if (status != 0)
    sp__http_respond_text(c, status, reason ? reason : "refused", extra, 0, 0);
  else
    sp__ws_accept(c, sp_http_request_get(c->http), rest, restlen);
  free(rest);
  if (c->state == SP_CONN_WS)
    sp__conn_read_start(c);
  return 0;
}
