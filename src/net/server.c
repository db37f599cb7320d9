/* server: the listener of one loop, accepting under the connection limits,
 * the sweep of timeouts, and shutting down. The life of each connection
 * is in conn.c, http_conn.c and ws_conn.c. */
#include "net/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "net/conn_internal.h"

#define SP_RATE_CLOSE_MS 5000 /* over the message rate this long: 1008 */

const uint16_t sp_server_close_codes[SP_SERVER_CLOSE_CODES] = {
    1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009, 1011, 1012, 4000, 4001, 0};

int sp_server_close_slot(uint16_t code) {
  for (int i = 0; i < SP_SERVER_CLOSE_CODES - 1; i++)
    if (sp_server_close_codes[i] == code)
      return i;
  return SP_SERVER_CLOSE_CODES - 1;
}
#define SP_LISTEN_BACKLOG 1024

/* ---- the listening socket -------------------------------------------------
 */

static int sp__addr(const char *host, int port, struct sockaddr_storage *addr,
                    socklen_t *len) {
  memset(addr, 0, sizeof *addr);
  if (strchr(host, ':')) {
    *len = sizeof(struct sockaddr_in6);
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr);
  }
  *len = sizeof(struct sockaddr_in);
  return uv_ip4_addr(host, port, (struct sockaddr_in *)addr);
}

int sp_server_claim_port(const char *host, int port, uv_os_sock_t *lock) {
  struct sockaddr_storage addr;
  socklen_t alen;
  *lock = -1;
  if (port == 0)
    return 0; /* the kernel will pick a port nobody uses */
  int err = sp__addr(host, port, &addr, &alen);
  if (err)
    return err;
  /* Without SO_REUSEPORT this bind fails while anyone listens on the port,
   * even a process that set SO_REUSEPORT itself (which the kernel would
   * otherwise let us join, splitting the players between us). */
  int probe = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0)
    return uv_translate_sys_error(errno);
  int one = 1;
  setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  err = bind(probe, (struct sockaddr *)&addr, alen) == 0
            ? 0
            : uv_translate_sys_error(errno);
  close(probe);
  if (err)
    return err;
  /* Two of us starting at the same instant could both pass the probe: an
   * abstract socket named after the address is held by one process only,
   * and the kernel drops it when the process ends, however it ends. */
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  int n = snprintf(un.sun_path + 1, sizeof un.sun_path - 1, "snakepit:%s:%d",
                   host, port);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return uv_translate_sys_error(errno);
  if (bind(fd, (struct sockaddr *)&un,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) != 0) {
    err = errno == EADDRINUSE ? UV_EADDRINUSE : uv_translate_sys_error(errno);
    close(fd);
    return err;
  }
  *lock = fd;
  return 0;
}

int sp_server_listen_socket(const char *host, int port, uv_os_sock_t *fd,
                            int *bound) {
  struct sockaddr_storage addr;
  socklen_t alen;
  int err = sp__addr(host, port, &addr, &alen);
  if (err)
    return err;
  /* libuv 1.44 has no UV_TCP_REUSEPORT: the socket is made by hand. Every
   * loop of the process has its own on the same port, and the kernel
   * spreads new connections over them. */
  int s = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0)
    return uv_translate_sys_error(errno);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (bind(s, (struct sockaddr *)&addr, alen) != 0 ||
      listen(s, SP_LISTEN_BACKLOG) != 0) {
    err = uv_translate_sys_error(errno);
    close(s);
    return err;
  }
  struct sockaddr_storage got;
  socklen_t glen = sizeof got;
  getsockname(s, (struct sockaddr *)&got, &glen);
  *bound = ntohs(((struct sockaddr_in *)&got)->sin_port);
  *fd = s;
  return 0;
}

/* ---- accepting --------------------------------------------------------- */

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
    sp_log_warn("accept_failed", "error=\"%s\"", sp_strerror(status));
    return;
  }
  sp_conn *c = sp__conn_new(s);
  if (!c) {
    sp_log_error("accept_failed", "error=\"%s\"", sp_strerror(UV_ENOMEM));
    return;
  }
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    sp__conn_abort(c);
    return;
  }
  sp__set_peer(c);
  uv_tcp_nodelay(&c->tcp, 1);
  if (s->opt.sndbuf > 0) {
    int size = s->opt.sndbuf; /* libuv may write back what the kernel set */
    uv_send_buffer_size((uv_handle_t *)&c->tcp, &size);
  }
  int total = 0;
  int per_ip = sp_iptable_inc(s->ips, &c->ip, &total);
  c->ip_counted = per_ip > 0;
  int full = total > s->opt.max_conns;
  if (full || per_ip > s->opt.max_conns_per_ip || per_ip < 0) {
    /* Refused before any byte is read: one 503, then the socket closes. */
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 20\r\n"
                               "Connection: close\r\n\r\n"
                               "too many connections\n";
    if (full || per_ip < 0)
      SP_COUNT_ADD(s->stats.refused_max_conns, 1);
    else
      SP_COUNT_ADD(s->stats.refused_per_ip, 1);
    sp_log_warn("conn_refused", "peer=%s conns=%d per_ip=%d", c->peer, total,
                per_ip);
    uv_buf_t b = uv_buf_init((char *)busy, sizeof busy - 1);
    uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    sp__conn_abort(c);
    return;
  }
  c->http = sp_http_new();
  if (!c->http) {
    sp__conn_abort(c);
    return;
  }
  SP_COUNT_ADD(s->stats.accepted, 1);
  c->last_rx = uv_now(s->loop);
  c->deadline = c->last_rx + s->opt.header_timeout_ms;
  sp__conn_read_start(c);
}

/* ---- timeouts --------------------------------------------------------------
 */

static void sp__header_timeout(sp_conn *c) {
  SP_COUNT_ADD(c->srv->stats.header_timeouts, 1);
  /* A browser opens connections ahead of need and may never use them; an
   * idle keep-alive is as harmless. Only a request that never finished
   * (slowloris) is worth a line at info. */
  int partial = c->http && sp_http_in_request(c->http);
  sp_log(partial ? SP_LOG_INFO : SP_LOG_DEBUG, "header_timeout",
         "conn=%llu peer=%s bytes=%llu", (unsigned long long)c->id, c->peer,
         (unsigned long long)c->rx_bytes);
  sp__conn_abort(c);
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
    switch (c->state) {
    case SP_CONN_HTTP:
    case SP_CONN_HTTP_FULL:
    case SP_CONN_UPGRADING: /* the handler's answer is bounded too */
      if (now >= c->deadline)
        sp__header_timeout(c);
      break;
    case SP_CONN_WS: sp__ws_sweep(c, now); break;
    case SP_CONN_LINGER:
      if (now >= c->deadline)
        sp__conn_abort(c);
      break;
    default: break;
    }
  }
}

/* ---- the server ------------------------------------------------------------
 */

static void sp__set_rate(sp_server *s, double rate) {
  s->rate.rate = rate;
  s->rate.burst = rate * 2 > 10 ? rate * 2 : 10;
  s->rate.close_after_ms = SP_RATE_CLOSE_MS;
}

void sp_server_set_limits(sp_server *s, const sp_server_limits *lim) {
  s->opt.max_message = lim->max_message;
  s->opt.max_queue = lim->max_queue;
  s->opt.sndbuf = lim->sndbuf;
  s->opt.max_conns = lim->max_conns;
  s->opt.max_conns_per_ip = lim->max_conns_per_ip;
  s->opt.header_timeout_ms = lim->header_timeout_ms;
  s->opt.register_timeout_ms = lim->register_timeout_ms;
  s->opt.ping_interval_ms = lim->ping_interval_ms;
  s->opt.max_msg_rate = lim->max_msg_rate;
  s->opt.allowed_origins = NULL; /* the copy below is what counts */
  sp__set_rate(s, lim->max_msg_rate);
  snprintf(s->origins, sizeof s->origins, "%s", lim->allowed_origins);
  /* The queue, the rate and the timeouts are read as they are checked;
   * the message size lives in each open WebSocket. */
  for (sp_conn *c = s->conns; c; c = c->next)
    if (c->ws && c->state == SP_CONN_WS)
      sp_ws_set_max_message(c->ws, lim->max_message);
}

int sp_server_start(uv_loop_t *loop, const sp_server_options *opt,
                    const sp_server_handler *handler, sp_server **out) {
  int err;
  *out = NULL;
  sp_server *s = calloc(1, sizeof *s);
  if (!s)
    return UV_ENOMEM;
  s->loop = loop;
  s->opt = *opt;
  s->h = *handler;
  sp__set_rate(s, opt->max_msg_rate);
  if (opt->allowed_origins)
    snprintf(s->origins, sizeof s->origins, "%s", opt->allowed_origins);
  if (opt->static_dir)
    snprintf(s->static_dir, sizeof s->static_dir, "%s", opt->static_dir);
  s->ips = opt->limits;
  if (!s->ips) {
    s->ips = sp_iptable_new();
    s->own_ips = 1;
    if (!s->ips) {
      free(s);
      return UV_ENOMEM;
    }
  }
  uv_os_sock_t fd = opt->fd;
  int port = opt->port;
  if (fd < 0 &&
      (err = sp_server_listen_socket(opt->host, opt->port, &fd, &port)) != 0)
    goto fail;
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  if ((err = uv_tcp_open(&s->listener, fd)) != 0) {
    close(fd);
    goto fail_listener;
  }
  if ((err = uv_listen((uv_stream_t *)&s->listener, SP_LISTEN_BACKLOG,
                       sp__on_connection)) != 0)
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
  return err;
}

int sp_server_port(const sp_server *s) { return s->port; }
size_t sp_server_conn_count(const sp_server *s) { return s->nconns; }
const sp_server_stats *sp_server_get_stats(const sp_server *s) {
  return &s->stats;
}

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
    else if (c->state == SP_CONN_HTTP || c->state == SP_CONN_HTTP_FULL ||
             c->state == SP_CONN_UPGRADING)
      sp__conn_abort(c);
    /* A held request is answered first; the grace period bounds it. */
  }
}

void sp_server_abort_all(sp_server *s) {
  sp_conn *next;
  for (sp_conn *c = s->conns; c; c = next) {
    next = c->next;
    sp__conn_abort(c);
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
