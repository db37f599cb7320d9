/* http_conn: the HTTP phase of a connection. Requests are parsed one at a
 * time and answered strictly in order (keep-alive and pipelining): while an
 * answer is prepared off the loop (a file read on the thread pool) the
 * connection is held and later input waits in its stash; a peer that
 * sends requests without reading the answers is paused once
 * SP_HTTP_BACKLOG bytes of them are waiting. /connect goes to the
 * WebSocket phase (ws_conn.c); other paths are offered to the handler,
 * then served from the client's files. */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "net/conn_internal.h"
#include "net/static.h"

/* One debug line per answered request: never a header (Authorization),
 * never the query. */
static void sp__log_request(sp_conn *c, int status, size_t len) {
  SP_COUNT_ADD(c->srv->stats.http_requests, 1);
  if (sp_log_get_level() > SP_LOG_DEBUG)
    return;
  char q[sizeof c->req_path * 4 + 8];
  sp_log_debug(
      "http_request",
      "conn=%llu peer=%s method=%s path=%s status=%d "
      "bytes=%zu",
      (unsigned long long)c->id, c->peer,
      c->req_method >= 0 ? http_method_str((enum http_method)c->req_method)
                         : "-",
      sp_log_quote(q, sizeof q, c->req_path, strlen(c->req_path)), status, len);
}

void sp__http_respond(sp_conn *c, int status, const char *ctype,
                      const char *extra, const void *body, size_t len,
                      int head_only, int keep_alive) {
  char head[768];
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
  if (n < 0 || (size_t)n >= sizeof head) {
    sp__conn_abort(c);
    return;
  }
  sp__log_request(c, status, len);
  size_t blen = head_only ? 0 : len;
  sp_frame *f = sp_frame_alloc((size_t)n + blen);
  if (f) {
    memcpy(f->data, head, (size_t)n);
    if (blen)
      memcpy(f->data + n, body, blen);
  }
  sp__conn_enqueue(c, f);
  if (!keep_alive)
    sp__conn_close_after_flush(c);
}

void sp__http_respond_text(sp_conn *c, int status, const char *text,
                           const char *extra, int head_only, int keep_alive) {
  char body[256];
  int n = snprintf(body, sizeof body, "%s\n", text);
  sp__http_respond(c, status, "text/plain; charset=utf-8", extra, body,
                   (size_t)n, head_only, keep_alive);
}

/* ---- static files from disk, read on the thread pool ------------------ */

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

static void sp__file_done_cb(uv_work_t *req, int status) {
  sp__file_work *w = req->data;
  sp_conn *c = w->c;
  if (!sp__conn_unhold(c)) {
    /* The connection went away meanwhile (its memory, if it was the last
     * holder, went with the unhold). */
  } else if (status != 0 || w->status == 500) {
    sp__http_respond_text(c, 500, "internal error", NULL, w->head_only, 0);
  } else if (w->status == 404) {
    sp__http_respond_text(c, 404, "not found", NULL, w->head_only,
                          w->keep_alive);
    sp__http_resume(c);
  } else {
    sp__http_respond(c, 200, sp_static_content_type(w->name), NULL, w->data,
                     w->len, w->head_only, w->keep_alive);
    sp__http_resume(c);
  }
  free(w->data);
  free(w);
}

static void sp__serve_file(sp_conn *c, const char *path, int head_only,
                           int keep) {
  char name[SP_STATIC_MAX_NAME + 1];
  int status = sp_static_path(path, name);
  if (status != 0) {
    sp__http_respond_text(c, status, status == 400 ? "bad path" : "not found",
                          NULL, head_only, keep && status != 400);
    return;
  }
  if (!c->srv->static_dir[0]) {
    const struct sp_asset *a = sp_static_builtin(name);
    if (!a)
      sp__http_respond_text(c, 404, "not found", NULL, head_only, keep);
    else
      sp__http_respond(c, 200, sp_static_content_type(name), NULL, a->data,
                       a->size, head_only, keep);
    return;
  }
  /* Disk reads happen on the thread pool; requests behind this one wait
   * (in order) until it is answered. */
  sp__file_work *w = calloc(1, sizeof *w);
  if (!w) {
    sp__http_respond_text(c, 500, "out of memory", NULL, head_only, 0);
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
    sp__http_respond_text(c, 500, "internal error", NULL, head_only, 0);
    return;
  }
  sp__conn_hold(c);
  sp__conn_set_state(c, SP_CONN_HTTP_HELD);
  uv_read_stop((uv_stream_t *)&c->tcp);
}

/* The handler answers this request later: the connection is held as for
 * a file read, bounded by the handler (which always answers). */
static void sp__hold_for_handler(sp_conn *c, int head_only, int keep) {
  c->later = 1;
  c->later_head = (uint8_t)head_only;
  c->later_keep = (uint8_t)keep;
  sp__conn_hold(c);
  sp__conn_set_state(c, SP_CONN_HTTP_HELD);
  uv_read_stop((uv_stream_t *)&c->tcp);
}

static void sp__reply(sp_conn *c, sp_http_reply *reply, int head_only,
                      int keep) {
  if (reply->body.failed)
    sp__http_respond_text(c, 500, "out of memory", NULL, head_only, 0);
  else
    sp__http_respond(
        c, reply->status,
        reply->content_type ? reply->content_type : "application/json",
        reply->headers, reply->body.data, reply->body.len, head_only, keep);
  sp_buf_free(&reply->body);
}

int sp_conn_http_answer(sp_conn *c, sp_http_reply *reply) {
  SP_ASSERT(c->later);
  c->later = 0;
  if (!sp__conn_unhold(c)) {
    sp_buf_free(&reply->body);
    return SP_ECLOSED; /* it went away meanwhile (and is freed now) */
  }
  sp__reply(c, reply, c->later_head, c->later_keep);
  sp__http_resume(c);
  return 0;
}

/* ---- requests -------------------------------------------------------- */

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
  c->req_method = req->method;
  size_t cut = plen < sizeof c->req_path - 1 ? plen : sizeof c->req_path - 1;
  memcpy(c->req_path, path, cut);
  c->req_path[cut] = '\0';

  if (strcmp(path, "/connect") == 0) {
    sp__ws_upgrade(c, req, query, rest, restlen);
    return;
  }
  sp_server *s = c->srv;
  if (s->h.on_http) {
    sp_http_reply reply = {.body = SP_BUF_INIT};
    s->h.on_http(s->h.data, c, req, path, query, &reply);
    if (reply.status == SP_HTTP_LATER) {
      sp_buf_free(&reply.body);
      sp__hold_for_handler(c, head_only, keep);
      return;
    }
    if (reply.status != 0) {
      sp__reply(c, &reply, head_only, keep);
      return;
    }
    sp_buf_free(&reply.body);
  }
  if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
    sp__http_respond_text(c, 405, "method not allowed", "Allow: GET, HEAD\r\n",
                          0, keep);
    return;
  }
  sp__serve_file(c, path, head_only, keep);
}

static int sp__http_phase(const sp_conn *c) {
  return c->state == SP_CONN_HTTP || c->state == SP_CONN_HTTP_HELD ||
         c->state == SP_CONN_HTTP_FULL;
}

void sp__http_input(sp_conn *c, const char *data, size_t len) {
  while (len > 0 && sp__http_phase(c)) {
    if (c->state == SP_CONN_HTTP && c->out.queued > SP_HTTP_BACKLOG) {
      /* Pipelined requests from a peer that does not read its answers
       * (a 30-byte request can fetch kilobytes): stop reading until it
       * has caught up, or until the header timeout gives up on it. */
      sp__conn_set_state(c, SP_CONN_HTTP_FULL);
      c->deadline = uv_now(c->srv->loop) + c->srv->opt.header_timeout_ms;
      uv_read_stop((uv_stream_t *)&c->tcp);
    }
    if (c->state != SP_CONN_HTTP) {
      char *s = realloc(c->stash, c->stash_len + len);
      if (!s) {
        sp__conn_abort(c);
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
      sp_server_stats *st = &c->srv->stats;
      if (status == 431)
        SP_COUNT_ADD(st->head_too_large, 1);
      else if (status == 414)
        SP_COUNT_ADD(st->url_too_long, 1);
      else if (status == 413)
        SP_COUNT_ADD(st->body_too_large, 1);
      c->req_method = -1;
      c->req_path[0] = '\0';
      sp_log_info("http_error", "conn=%llu peer=%s status=%d",
                  (unsigned long long)c->id, c->peer, status);
      sp__http_respond_text(c, status, sp_http_status_text(status), NULL, 0, 0);
      return;
    }
    if (r == SP_HTTP_MORE)
      return;
    const sp_http_request *req = sp_http_request_get(c->http);
    int upgrade = req->upgrade;
    /* The next request head (or idle keep-alive) gets a fresh deadline. */
    c->deadline = uv_now(c->srv->loop) + c->srv->opt.header_timeout_ms;
    sp__request(c, req, data, len); /* may free c->http, and req with it */
    if (upgrade || !sp__http_phase(c))
      return; /* the rest belonged to the new protocol (or was refused) */
  }
}

void sp__http_resume(sp_conn *c) {
  if (c->state != SP_CONN_HTTP_HELD && c->state != SP_CONN_HTTP_FULL)
    return;
  if (c->holds > 0)
    return; /* still waiting for its file or the handler */
  sp__conn_set_state(c, SP_CONN_HTTP);
  char *stash = c->stash;
  size_t len = c->stash_len;
  c->stash = NULL;
  c->stash_len = 0;
  if (stash) {
    sp__http_input(c, stash, len);
    free(stash);
  }
  if (c->state == SP_CONN_HTTP)
    sp__conn_read_start(c);
}
