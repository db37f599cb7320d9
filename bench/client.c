/* client.c: see client.h. */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* The one read buffer shared by all clients. */
#define READ_BUF_SIZE (256 * 1024)
/* Larger server frames are a protocol error. */
#define MAX_FRAME (4u << 20)
#define MAX_HTTP_RESPONSE 8192
#define HANDSHAKE_TIMEOUT_NS (15ull * 1000000000ull)

const char *const sb_fail_names[SB_FAIL_KINDS] = {"tcp", "http", "accept",
                                                  "timeout", "eof"};

int sb_fleet_init(sb_fleet *f, const sb_opts *o, uv_loop_t *loop,
                  sb_counters *count, const sb_client_cb *cb, void *data) {
  memset(f, 0, sizeof *f);
  f->opt = o;
  f->loop = loop;
  f->rng = o->seed | 1;
  f->count = count;
  f->cb = *cb;
  f->data = data;
  f->tokens = 1;
  f->last_token = uv_hrtime();
  f->clients = calloc(o->clients, sizeof *f->clients);
  f->read_buf = malloc(READ_BUF_SIZE);
  if (!f->clients || !f->read_buf) {
    sb_fleet_free(f);
    return -1;
  }
  for (uint32_t i = 0; i < o->clients; i++) {
    sb_client *c = &f->clients[i];
    c->fleet = f;
    c->idx = i;
    c->room = i % o->rooms;
  }
  return 0;
}

void sb_fleet_free(sb_fleet *f) {
  free(f->clients);
  free(f->read_buf);
  f->clients = NULL;
  f->read_buf = NULL;
}

static void sb__changed(sb_fleet *f) {
  if (f->cb.changed)
    f->cb.changed(f);
}

/* ---- sending ---- */

typedef struct sb__wreq {
  uv_write_t req;
  uv_buf_t buf;
  char data[];
} sb__wreq;

static void sb__on_write_done(uv_write_t *req, int status) {
  sb_client *c = req->handle->data;
  if (status < 0 && status != UV_ECANCELED && !c->fleet->closing)
    c->fleet->stats.write_errors++;
  free(req->data);
}

/* Sends LEN bytes now if the socket takes them, else queues a copy. */
static void sb__send_raw(sb_client *c, const void *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int r;
  sb__wreq *w;

  if (c->state == SB_CS_DEAD || c->state == SB_CS_NEW || c->state == SB_CS_TCP)
    return;
  r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (r == (int)len)
    return;
  if (r < 0 && r != UV_EAGAIN) {
    c->fleet->stats.write_errors++;
    return;
  }
  if (r < 0)
    r = 0;
  w = malloc(sizeof *w + len - (size_t)r);
  if (!w)
    sb_die("out of memory");
  memcpy(w->data, (const char *)data + r, len - (size_t)r);
  w->buf = uv_buf_init(w->data, (unsigned)(len - (size_t)r));
  w->req.data = w;
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, sb__on_write_done) <
      0) {
    c->fleet->stats.write_errors++;
    free(w);
  }
}

/* Sends one masked frame, as a browser does. */
static void sb__send_frame(sb_client *c, int opcode, const void *payload,
                           size_t len) {
  uint8_t buf[512];
  size_t n = sb_ws_encode(buf, sizeof buf, opcode, payload, len,
                          (uint32_t)sb_rng_next(&c->fleet->rng));
  if (n)
    sb__send_raw(c, buf, n);
}

void sb_client_send_text(sb_client *c, const char *s) {
  sb__send_frame(c, SB_WS_TEXT, s, strlen(s));
}

/* ---- connection lifecycle ---- */

static void sb__on_closed(uv_handle_t *h) {
  sb_client *c = h->data;
  free(c->pend);
  free(c->msg);
  c->pend = c->msg = NULL;
  c->pend_len = c->pend_cap = c->msg_len = c->msg_cap = 0;
  c->fleet->live_handles--;
  sb__changed(c->fleet);
}

/* Closes C's socket; the memory of its buffers goes in the close callback. */
static void sb__close(sb_client *c) {
  sb_fleet *f = c->fleet;
  if (c->state == SB_CS_DEAD)
    return;
  if (c->state == SB_CS_OPEN || c->state == SB_CS_CLOSING)
    f->open--;
  if (f->cb.closing)
    f->cb.closing(c);
  c->state = SB_CS_DEAD;
  uv_close((uv_handle_t *)&c->tcp, sb__on_closed);
}

static void sb__fail(sb_client *c, enum sb_fail kind, const char *why) {
  sb_fleet *f = c->fleet;
  if (c->state == SB_CS_DEAD)
    return;
  f->stats.fails[kind]++;
  f->failed++;
  if (!f->stats.first_fail[kind][0])
    snprintf(f->stats.first_fail[kind], sizeof f->stats.first_fail[kind], "%s",
             why);
  if (c->state == SB_CS_TCP || c->state == SB_CS_HTTP)
    f->pending--;
  sb__close(c);
  sb__changed(f);
}

/* The server ended an open connection that we did not ask to close. */
static void sb__lost(sb_client *c) {
  if (!c->fleet->closing)
    c->fleet->stats.unexpected_closes++;
  sb__close(c);
}

static void sb__protocol_error(sb_client *c) {
  uint8_t code[2] = {1002 >> 8, 1002 & 0xff};
  c->fleet->stats.protocol_errors++;
  sb__send_frame(c, SB_WS_CLOSE, code, 2);
  sb__close(c);
}

/* ---- frames in ---- */

static int sb__append(uint8_t **buf, uint32_t *len, uint32_t *cap,
                      const uint8_t *p, size_t n) {
  if (*len + n > *cap) {
    size_t nc = *cap ? *cap : 1024;
    uint8_t *nb;
    while (nc < *len + n)
      nc *= 2;
    nb = realloc(*buf, nc);
    if (!nb)
      return -1;
    *buf = nb;
    *cap = (uint32_t)nc;
  }
  memcpy(*buf + *len, p, n);
  *len += (uint32_t)n;
  return 0;
}

static void sb__text(sb_client *c, const uint8_t *p, size_t n, uint64_t now) {
  if (c->fleet->cb.text)
    c->fleet->cb.text(c, (const char *)p, n, now);
}

/* Handles one complete frame. Returns -1 when the client was closed. */
static int sb__on_frame(sb_client *c, const sb_ws_header *h, const uint8_t *pl,
                        uint64_t now) {
  sb_counters *count = c->fleet->count;
  size_t n = (size_t)h->payload_len;

  switch (h->opcode) {
  case SB_WS_TEXT:
  case SB_WS_BINARY:
  case SB_WS_CONT:
    count->frames++;
    if (h->opcode != SB_WS_CONT && c->msg_active) {
      sb__protocol_error(c); /* A new message inside a fragmented one. */
      return -1;
    }
    if (h->opcode == SB_WS_CONT && !c->msg_active) {
      sb__protocol_error(c);
      return -1;
    }
    if (h->opcode == SB_WS_TEXT && h->fin) {
      sb__text(c, pl, n, now);
      return 0;
    }
    if (h->opcode == SB_WS_BINARY && h->fin)
      return 0;
    if (h->opcode != SB_WS_CONT) {
      c->msg_active = (uint8_t)h->opcode;
      c->msg_len = 0;
    }
    if (c->msg_len + n > MAX_FRAME ||
        sb__append(&c->msg, &c->msg_len, &c->msg_cap, pl, n) < 0) {
      sb__protocol_error(c);
      return -1;
    }
    if (h->fin) {
      if (c->msg_active == SB_WS_TEXT)
        sb__text(c, c->msg, c->msg_len, now);
      c->msg_active = 0;
      c->msg_len = 0;
    }
    return 0;
  case SB_WS_PING:
    count->control++;
    sb__send_frame(c, SB_WS_PONG, pl, n);
    return 0;
  case SB_WS_PONG: count->control++; return 0;
  case SB_WS_CLOSE:
    count->control++;
    if (c->state == SB_CS_CLOSING) {
      sb__close(c); /* The answer to our close. */
    } else {
      /* Echo the code as RFC 6455 asks, then count it. */
      sb__send_frame(c, SB_WS_CLOSE, pl, n >= 2 ? 2 : 0);
      sb__lost(c);
    }
    return -1;
  }
  return 0;
}

/* Parses the frames in P..P+N; returns the number of bytes consumed, or -1
 * when the client was closed. */
static long sb__parse_frames(sb_client *c, const uint8_t *p, size_t n,
                             uint64_t now) {
  size_t off = 0;

  while (off < n) {
    sb_ws_header h;
    int r = sb_ws_parse_header(p + off, n - off, &h);
    if (r == 0)
      break;
    if (r < 0 || h.masked || h.payload_len > MAX_FRAME) {
      sb__protocol_error(c);
      return -1;
    }
    if (n - off < h.header_len + h.payload_len)
      break;
    if (sb__on_frame(c, &h, p + off + h.header_len, now) < 0)
      return -1;
    off += h.header_len + (size_t)h.payload_len;
  }
  return (long)off;
}

static void sb__feed_frames(sb_client *c, const uint8_t *p, size_t n,
                            uint64_t now) {
  long used;

  c->fleet->count->bytes += n;
  if (c->pend_len == 0) {
    used = sb__parse_frames(c, p, n, now);
    if (used < 0)
      return;
    if ((size_t)used < n && sb__append(&c->pend, &c->pend_len, &c->pend_cap,
                                       p + used, n - (size_t)used) < 0)
      sb_die("out of memory");
    return;
  }
  if (sb__append(&c->pend, &c->pend_len, &c->pend_cap, p, n) < 0)
    sb_die("out of memory");
  used = sb__parse_frames(c, c->pend, c->pend_len, now);
  if (used < 0)
    return;
  memmove(c->pend, c->pend + used, c->pend_len - (size_t)used);
  c->pend_len -= (uint32_t)used;
  if (c->pend_len == 0 && c->pend_cap > 65536) {
    free(c->pend); /* Do not keep a world-sized buffer per client. */
    c->pend = NULL;
    c->pend_cap = 0;
  }
}

/* ---- the HTTP upgrade ---- */

/* Finds header NAME (case-insensitive) in the response head H; copies its
 * trimmed value into OUT. Returns 0 or -1. */
static int sb__header_value(const char *h, const char *name, char *out,
                            size_t cap) {
  size_t nl = strlen(name);
  const char *line = strstr(h, "\r\n");

  while (line && line[2] != '\r' && line[2] != '\0') {
    const char *s = line + 2;
    const char *e = strstr(s, "\r\n");
    if (!e)
      return -1;
    if ((size_t)(e - s) > nl && strncasecmp(s, name, nl) == 0 && s[nl] == ':') {
      const char *v = s + nl + 1;
      size_t len;
      while (v < e && (*v == ' ' || *v == '\t'))
        v++;
      len = (size_t)(e - v);
      while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
      if (len >= cap)
        return -1;
      memcpy(out, v, len);
      out[len] = '\0';
      return 0;
    }
    line = e;
  }
  return -1;
}

static void sb__on_open(sb_client *c) {
  sb_fleet *f = c->fleet;
  c->state = SB_CS_OPEN;
  f->pending--;
  f->open++;
  f->opened++;
  if (f->cb.open)
    f->cb.open(c);
  sb__changed(f);
}

static void sb__feed_http(sb_client *c, const uint8_t *p, size_t n,
                          uint64_t now) {
  char *end, val[128], status[64];
  size_t head_len;
  uint32_t rest;
  uint8_t *tail = NULL;

  if (sb__append(&c->pend, &c->pend_len, &c->pend_cap, p, n) < 0)
    sb_die("out of memory");
  if (c->pend_len > MAX_HTTP_RESPONSE) {
    sb__fail(c, SB_FAIL_HTTP, "response head too long");
    return;
  }
  if (sb__append(&c->pend, &c->pend_len, &c->pend_cap, (const uint8_t *)"", 1) <
      0)
    sb_die("out of memory");
  c->pend_len--; /* Keep a NUL after the bytes for the string functions. */
  end = strstr((char *)c->pend, "\r\n\r\n");
  if (!end)
    return;
  head_len = (size_t)(end + 4 - (char *)c->pend);
  if (strncmp((char *)c->pend, "HTTP/1.1 101", 12) != 0) {
    const char *eol = strstr((char *)c->pend, "\r\n");
    snprintf(status, sizeof status, "%.*s", (int)(eol - (char *)c->pend),
             (char *)c->pend);
    sb__fail(c, SB_FAIL_HTTP, status);
    return;
  }
  end[2] = '\0'; /* Headers end with the last CRLF. */
  if (sb__header_value((char *)c->pend, "Upgrade", val, sizeof val) < 0 ||
      strcasecmp(val, "websocket") != 0) {
    sb__fail(c, SB_FAIL_HTTP, "101 without Upgrade: websocket");
    return;
  }
  if (sb__header_value((char *)c->pend, "Sec-WebSocket-Accept", val,
                       sizeof val) < 0 ||
      strcmp(val, c->accept) != 0) {
    sb__fail(c, SB_FAIL_ACCEPT, "Sec-WebSocket-Accept missing or wrong");
    return;
  }
  /* Frames may follow the head in the same read. */
  rest = c->pend_len - (uint32_t)head_len;
  if (rest) {
    tail = malloc(rest);
    if (!tail)
      sb_die("out of memory");
    memcpy(tail, c->pend + head_len, rest);
  }
  c->pend_len = 0;
  if (c->pend_cap > 4096) {
    free(c->pend);
    c->pend = NULL;
    c->pend_cap = 0;
  }
  sb__on_open(c);
  if (rest && c->state == SB_CS_OPEN)
    sb__feed_frames(c, tail, rest, now);
  free(tail);
}

static void sb__on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  sb_client *c = h->data;
  (void)suggested;
  *buf = uv_buf_init((char *)c->fleet->read_buf, READ_BUF_SIZE);
}

static void sb__on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  sb_client *c = s->data;
  uint64_t now;

  if (nread == 0)
    return;
  if (nread < 0) {
    if (c->state == SB_CS_HTTP)
      sb__fail(c, SB_FAIL_EOF,
               nread == UV_EOF ? "closed before 101" : uv_strerror((int)nread));
    else if (c->state == SB_CS_CLOSING)
      sb__close(c);
    else
      sb__lost(c);
    return;
  }
  now = uv_hrtime();
  if (c->state == SB_CS_HTTP)
    sb__feed_http(c, (const uint8_t *)buf->base, (size_t)nread, now);
  else if (c->state == SB_CS_OPEN || c->state == SB_CS_CLOSING)
    sb__feed_frames(c, (const uint8_t *)buf->base, (size_t)nread, now);
}

static void sb__on_connect(uv_connect_t *req, int status) {
  sb_client *c = req->data;
  const sb_opts *o = c->fleet->opt;
  char nonce_key[SB_WS_KEY_LEN + 1], req_buf[768], query[300];
  uint8_t nonce[16];
  int len;

  if (c->state != SB_CS_TCP)
    return;
  if (status < 0) {
    sb__fail(c, SB_FAIL_TCP, uv_strerror(status));
    return;
  }
  for (int i = 0; i < 16; i += 8) {
    uint64_t r = sb_rng_next(&c->fleet->rng);
    memcpy(nonce + i, &r, 8);
  }
  sb_ws_make_key(nonce, nonce_key);
  if (sb_ws_accept_for(nonce_key, c->accept) < 0)
    sb_die("libcrypto SHA-1 failed");
  if (o->rooms_given || !o->query[0])
    snprintf(query, sizeof query, "?room=%s%u", o->room_prefix, c->room);
  else
    snprintf(query, sizeof query, "?%s", o->query);
  len = snprintf(req_buf, sizeof req_buf,
                 "GET %s%s HTTP/1.1\r\n"
                 "Host: %s:%d\r\n"
                 "User-Agent: snakepit-bench/1\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "Origin: http://%s:%d\r\n"
                 "\r\n",
                 o->path, query, o->host, o->port, nonce_key, o->host, o->port);
  c->state = SB_CS_HTTP;
  if (uv_read_start((uv_stream_t *)&c->tcp, sb__on_alloc, sb__on_read) < 0) {
    sb__fail(c, SB_FAIL_TCP, "uv_read_start failed");
    return;
  }
  sb__send_raw(c, req_buf, (size_t)len);
}

static void sb__start(sb_client *c) {
  sb_fleet *f = c->fleet;
  int r;

  r = uv_tcp_init(f->loop, &c->tcp);
  if (r < 0)
    sb_die("uv_tcp_init: %s", uv_strerror(r));
  c->tcp.data = c;
  c->creq.data = c;
  c->state = SB_CS_TCP;
  c->t_connect = uv_hrtime();
  f->pending++;
  f->live_handles++;
  uv_tcp_nodelay(&c->tcp, 1);
  if (f->opt->source_ips > 1) {
    /* Client I speaks from 127.1.X.Y, as if from one of SOURCE_IPS hosts,
     * so that a per-address connection limit sees many clients. */
    struct sockaddr_in src;
    uint32_t k = c->idx % (uint32_t)f->opt->source_ips;
    char ip[32];
    snprintf(ip, sizeof ip, "127.1.%u.%u", k / 250, k % 250 + 1);
    uv_ip4_addr(ip, 0, &src);
    r = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0);
    if (r < 0) {
      sb__fail(c, SB_FAIL_TCP, uv_strerror(r));
      return;
    }
  }
  r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&f->opt->addr,
                     sb__on_connect);
  if (r < 0)
    sb__fail(c, SB_FAIL_TCP, uv_strerror(r));
}

/* ---- the fleet ---- */

int sb_fleet_connect_more(sb_fleet *f, uint64_t now) {
  const sb_opts *o = f->opt;

  if (o->connect_rate > 0) {
    double burst = o->connect_rate * 0.02 > 1 ? o->connect_rate * 0.02 : 1;
    f->tokens += (double)(now - f->last_token) * o->connect_rate / 1e9;
    if (f->tokens > burst)
      f->tokens = burst;
  }
  f->last_token = now;
  while (f->next < o->clients && f->pending < o->max_pending &&
         (o->connect_rate <= 0 || f->tokens >= 1)) {
    sb__start(&f->clients[f->next++]);
    f->tokens -= 1;
  }
  return f->next >= o->clients;
}

void sb_fleet_expire(sb_fleet *f, uint64_t now) {
  for (uint32_t i = 0; i < f->next; i++) {
    sb_client *c = &f->clients[i];
    if ((c->state == SB_CS_TCP || c->state == SB_CS_HTTP) &&
        now - c->t_connect > HANDSHAKE_TIMEOUT_NS)
      sb__fail(c, SB_FAIL_TIMEOUT, "no 101 within 15 s");
  }
}

void sb_fleet_give_up(sb_fleet *f) {
  uint32_t n = f->opt->clients;

  for (uint32_t i = f->next; i < n; i++) {
    f->stats.fails[SB_FAIL_TIMEOUT]++;
    f->failed++;
  }
  f->next = n;
  for (uint32_t i = 0; i < n; i++) {
    sb_client *c = &f->clients[i];
    if (c->state == SB_CS_TCP || c->state == SB_CS_HTTP)
      sb__fail(c, SB_FAIL_TIMEOUT, "connect phase timed out");
  }
}

void sb_fleet_shutdown(sb_fleet *f) {
  static const uint8_t code[2] = {1000 >> 8, 1000 & 0xff};

  f->closing = 1;
  for (uint32_t i = 0; i < f->next; i++) {
    sb_client *c = &f->clients[i];
    if (c->state == SB_CS_OPEN) {
      sb__send_frame(c, SB_WS_CLOSE, code, 2);
      c->state = SB_CS_CLOSING;
    } else if (c->state == SB_CS_TCP || c->state == SB_CS_HTTP) {
      f->pending--;
      sb__close(c);
    }
  }
}

void sb_fleet_drop(sb_fleet *f) {
  for (uint32_t i = 0; i < f->next; i++)
    if (f->clients[i].state != SB_CS_DEAD)
      sb__close(&f->clients[i]);
}
