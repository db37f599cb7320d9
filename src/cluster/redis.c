#include "cluster/redis.h"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/redis_uv.h"
#include "core/log.h"

/* A command in flight. Redis answers in order, so the list is oldest
 * first and the head has the earliest deadline. */
typedef struct sp__rcmd {
  struct sp__rcmd *next, *prev;
  sp_redis *r;
  sp_redis_cb cb;
  void *data;
  uint64_t deadline; /* uv_now, ms */
} sp__rcmd;

enum {
  S_WAIT,       /* no context; the retry timer will connect */
  S_RESOLVING,  /* uv_getaddrinfo in flight */
  S_CONNECTING, /* a context, waiting for the handshake's answer */
  S_UP,
  S_CLOSING
};

struct sp_redis {
  uv_loop_t *loop;
  sp_redis_opts o;
  char name[24];
  char where[SP_REDIS_HOST_MAX + 32]; /* the URL, for logs */
  char **channels;
  size_t subscribed; /* confirmations in this connection */
  redisAsyncContext *ac;
  int state, up;
  int freeing;     /* inside our own redisAsyncFree */
  int fail_err;    /* what pending callbacks are told while tearing down */
  int kick_reason; /* a teardown asked for from inside a callback */
  unsigned attempts;
  uint64_t rng;
  sp__rcmd *head, *tail;
  uv_timer_t retry, deadline, idle, kick;
  uv_getaddrinfo_t gai;
  int gai_busy;
  int handles_open;
  sp_redis_stats st;
  void (*done)(void *);
  void *done_data;
};

static void sp__redis_connect(sp_redis *r);
static void sp__redis_teardown(sp_redis *r, int err);
static void sp__redis_retry_cb(uv_timer_t *t);
static void sp__redis_deadline_cb(uv_timer_t *t);

/* ---- state ---------------------------------------------------------- */

static void sp__redis_set_up(sp_redis *r, int up) {
  if (r->up == up)
    return;
  r->up = up;
  r->st.up = up;
  if (up) {
    r->st.connects++;
    r->st.down_since = 0;
    r->attempts = 0;
    sp_log_info("redis_up", "conn=%s url=%s", r->name, r->where);
  } else {
    r->st.down_since = uv_now(r->loop);
    if (!r->st.down_since)
      r->st.down_since = 1;
    sp_log_warn("redis_down", "conn=%s url=%s", r->name, r->where);
  }
  if (r->o.on_state)
    r->o.on_state(r->o.data, up);
}

/* Backoff: min * 2^attempts, at most max, less up to a quarter at random
 * so that nodes that lost Redis together do not all knock at once. */
static void sp__redis_schedule_retry(sp_redis *r) {
  uint64_t d = r->o.backoff_min_ms;
  for (unsigned i = 0; i < r->attempts && d < r->o.backoff_max_ms; i++)
    d *= 2;
  if (d > r->o.backoff_max_ms)
    d = r->o.backoff_max_ms;
  r->rng ^= r->rng << 13;
  r->rng ^= r->rng >> 7;
  r->rng ^= r->rng << 17;
  d -= (r->rng % (d / 4 + 1));
  r->attempts++;
  r->state = S_WAIT;
  uv_timer_start(&r->retry, sp__redis_retry_cb, d, 0);
}

/* ---- commands ------------------------------------------------------- */

static void sp__rcmd_unlink(sp_redis *r, sp__rcmd *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    r->head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    r->tail = c->prev;
}

static void sp__redis_arm_deadline(sp_redis *r) {
  if (!r->head) {
    if (r->state == S_UP)
      uv_timer_stop(&r->deadline);
    return;
  }
  uint64_t now = uv_now(r->loop);
  uint64_t left = r->head->deadline > now ? r->head->deadline - now : 0;
  uv_timer_start(&r->deadline, sp__redis_deadline_cb, left, 0);
}

/* hiredis calls this with the reply, or with NULL when the context goes. */
static void sp__redis_reply(redisAsyncContext *ac, void *reply, void *priv) {
  (void)ac;
  sp__rcmd *c = priv;
  sp_redis *r = c->r;
  sp__rcmd_unlink(r, c);
  int err = reply ? 0 : (r->fail_err ? r->fail_err : UV_ECONNRESET);
  if (c->cb)
    c->cb(c->data, reply, err);
  free(c);
  if (!r->freeing && r->state == S_UP)
    sp__redis_arm_deadline(r);
}

static int sp__redis_send(sp_redis *r, sp_redis_cb cb, void *data, int argc,
                          const char **argv, const size_t *lens) {
  if (!r->ac)
    return UV_ENOTCONN;
  sp__rcmd *c = calloc(1, sizeof *c);
  if (!c)
    return UV_ENOMEM;
  c->r = r;
  c->cb = cb;
  c->data = data;
  c->deadline = uv_now(r->loop) + r->o.command_timeout_ms;
  if (redisAsyncCommandArgv(r->ac, sp__redis_reply, c, argc, argv, lens) !=
      REDIS_OK) {
    free(c);
    return UV_EIO;
  }
  c->prev = r->tail;
  if (r->tail)
    r->tail->next = c;
  else
    r->head = c;
  r->tail = c;
  if (r->state == S_UP && !uv_is_active((uv_handle_t *)&r->deadline))
    sp__redis_arm_deadline(r);
  return 0;
}

int sp_redis_command(sp_redis *r, sp_redis_cb cb, void *data, int argc,
                     const char **argv, const size_t *lens) {
  if (r->state != S_UP || r->o.on_message)
    return UV_ENOTCONN;
  return sp__redis_send(r, cb, data, argc, argv, lens);
}

int sp_redis_is_up(const sp_redis *r) { return r->up; }

void sp_redis_get_stats(const sp_redis *r, sp_redis_stats *st) { *st = r->st; }

/* ---- timers --------------------------------------------------------- */

static void sp__redis_retry_cb(uv_timer_t *t) {
  sp_redis *r = t->data;
  if (r->state == S_WAIT)
    sp__redis_connect(r);
}

/* A teardown asked for from inside a hiredis callback, done here. */
static void sp__redis_kick_cb(uv_timer_t *t) {
  sp_redis *r = t->data;
  if (r->kick_reason && r->state != S_CLOSING) {
    int err = r->kick_reason;
    r->kick_reason = 0;
    sp__redis_teardown(r, err);
  }
}

static void sp__redis_request_teardown(sp_redis *r, int err) {
  if (!r->kick_reason)
    r->kick_reason = err;
  uv_timer_start(&r->kick, sp__redis_kick_cb, 0, 0);
}

static void sp__redis_deadline_cb(uv_timer_t *t) {
  sp_redis *r = t->data;
  if (r->state == S_CONNECTING) {
    r->st.timeouts++;
    sp_log_warn("redis_timeout", "conn=%s url=%s what=connect after_ms=%u",
                r->name, r->where, r->o.connect_timeout_ms);
    sp__redis_teardown(r, UV_ETIMEDOUT);
    return;
  }
  if (r->state != S_UP || !r->head)
    return;
  /* The loop may just have woken from a stop of this very process, with
   * the answers waiting in the socket: read them before calling Redis
   * hung. (Timers run before I/O in a libuv iteration.) */
  if (r->head->deadline <= uv_now(r->loop) && r->ac)
    redisAsyncHandleRead(r->ac);
  if (r->state != S_UP || !r->head)
    return;
  if (r->head->deadline <= uv_now(r->loop)) {
    r->st.timeouts++;
    sp_log_warn("redis_timeout", "conn=%s url=%s what=command after_ms=%u",
                r->name, r->where, r->o.command_timeout_ms);
    sp__redis_teardown(r, UV_ETIMEDOUT);
    return;
  }
  sp__redis_arm_deadline(r);
}

static void sp__redis_idle_cb(uv_timer_t *t);

void sp_redis_restart_idle(sp_redis *r) {
  if (r->state == S_UP && r->o.idle_timeout_ms)
    uv_timer_start(&r->idle, sp__redis_idle_cb, r->o.idle_timeout_ms, 0);
}

static void sp__redis_idle_cb(uv_timer_t *t) {
  sp_redis *r = t->data;
  if (r->state != S_UP)
    return;
  r->st.timeouts++;
  sp_log_warn("redis_timeout", "conn=%s url=%s what=silence after_ms=%u",
              r->name, r->where, r->o.idle_timeout_ms);
  sp__redis_teardown(r, UV_ETIMEDOUT);
}

/* ---- connecting ----------------------------------------------------- */

/* hiredis reports the end of the connect; on failure it frees the
 * context right after this returns. */
static void sp__redis_on_connect(const redisAsyncContext *ac, int status) {
  sp_redis *r = ac->data;
  if (status == REDIS_OK || r->freeing)
    return;
  sp_log_debug("redis_connect_failed", "conn=%s url=%s", r->name, r->where);
  r->ac = NULL;
  r->fail_err = UV_ECONNREFUSED;
  r->st.failures++;
  uv_timer_stop(&r->deadline);
  sp__redis_set_up(r, 0);
  if (r->state != S_CLOSING)
    sp__redis_schedule_retry(r);
}

/* hiredis is freeing a connected context (an error, EOF or our free). */
static void sp__redis_on_disconnect(const redisAsyncContext *ac, int status) {
  (void)status;
  sp_redis *r = ac->data;
  if (r->freeing)
    return;
  r->ac = NULL;
  r->st.failures++;
  uv_timer_stop(&r->deadline);
  uv_timer_stop(&r->idle);
  sp_log_warn("redis_disconnected", "conn=%s url=%s", r->name, r->where);
  sp__redis_set_up(r, 0);
  if (r->state != S_CLOSING)
    sp__redis_schedule_retry(r);
}

/* The answer to the handshake's last command (PING). */
static void sp__redis_ping_cb(void *data, redisReply *reply, int err) {
  sp_redis *r = data;
  if (err || r->state != S_CONNECTING)
    return;
  if (reply->type == REDIS_REPLY_ERROR) {
    /* e.g. LOADING while Redis reads its append-only file: try later. */
    char q[160];
    sp_log_warn("redis_refused", "conn=%s url=%s reply=%s", r->name, r->where,
                sp_log_quote(q, sizeof q, reply->str, reply->len));
    sp__redis_request_teardown(r, UV_ECONNREFUSED);
    return;
  }
  r->state = S_UP;
  uv_timer_stop(&r->deadline);
  sp__redis_set_up(r, 1);
  sp__redis_arm_deadline(r);
}

static void sp__redis_select_cb(void *data, redisReply *reply, int err) {
  sp_redis *r = data;
  if (err || r->state != S_CONNECTING)
    return;
  if (reply->type == REDIS_REPLY_ERROR) {
    char q[160];
    sp_log_error("redis_select_failed", "conn=%s url=%s reply=%s", r->name,
                 r->where, sp_log_quote(q, sizeof q, reply->str, reply->len));
    sp__redis_request_teardown(r, UV_EINVAL);
  }
}

/* Every message and subscription answer of a pub/sub connection. */
static void sp__redis_sub_cb(redisAsyncContext *ac, void *reply_, void *priv) {
  (void)ac;
  sp_redis *r = priv;
  redisReply *reply = reply_;
  if (!reply || r->freeing || r->state == S_CLOSING)
    return;
  if (reply->type == REDIS_REPLY_ERROR) {
    sp__redis_request_teardown(r, UV_EPROTO);
    return;
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
      reply->element[0]->type != REDIS_REPLY_STRING ||
      reply->element[1]->type != REDIS_REPLY_STRING)
    return;
  const char *kind = reply->element[0]->str;
  if (r->state == S_UP && r->o.idle_timeout_ms)
    uv_timer_start(&r->idle, sp__redis_idle_cb, r->o.idle_timeout_ms, 0);
  if (strcmp(kind, "subscribe") == 0) {
    if (r->state == S_CONNECTING && ++r->subscribed == r->o.nchannels) {
      r->state = S_UP;
      uv_timer_stop(&r->deadline);
      if (r->o.idle_timeout_ms)
        uv_timer_start(&r->idle, sp__redis_idle_cb, r->o.idle_timeout_ms, 0);
      sp__redis_set_up(r, 1);
    }
  } else if (strcmp(kind, "message") == 0 && r->state == S_UP &&
             reply->element[2]->type == REDIS_REPLY_STRING) {
    r->o.on_message(r->o.data, reply->element[1]->str, reply->element[2]->str,
                    reply->element[2]->len);
  }
}

static void sp__redis_open(sp_redis *r, const char *ip) {
  redisAsyncContext *ac = r->o.url.is_unix
                              ? redisAsyncConnectUnix(r->o.url.path)
                              : redisAsyncConnect(ip, r->o.url.port);
  if (!ac || ac->err) {
    sp_log_debug("redis_connect_failed", "conn=%s url=%s why=%s", r->name,
                 r->where, ac ? ac->errstr : "out of memory");
    if (ac)
      redisAsyncFree(ac);
    goto fail;
  }
  if (sp_redis_uv_attach(ac, r->loop) < 0) {
    redisAsyncFree(ac);
    goto fail;
  }
  ac->data = r;
  r->ac = ac;
  r->state = S_CONNECTING;
  r->fail_err = 0;
  r->subscribed = 0;
  redisAsyncSetConnectCallback(ac, sp__redis_on_connect);
  redisAsyncSetDisconnectCallback(ac, sp__redis_on_disconnect);
  uv_timer_start(&r->deadline, sp__redis_deadline_cb, r->o.connect_timeout_ms,
                 0);
  /* The handshake is written now and sent once connected. */
  if (r->o.on_message) {
    const char *argv[1 + 8];
    size_t n = 0;
    argv[n++] = "SUBSCRIBE";
    for (size_t i = 0; i < r->o.nchannels; i++)
      argv[n++] = r->channels[i];
    if (redisAsyncCommandArgv(ac, sp__redis_sub_cb, r, (int)n, argv, NULL) !=
        REDIS_OK)
      sp__redis_request_teardown(r, UV_EIO);
    return;
  }
  int rc = 0;
  if (r->o.url.db) {
    char db[16];
    snprintf(db, sizeof db, "%d", r->o.url.db);
    const char *argv[] = {"SELECT", db};
    rc = sp__redis_send(r, sp__redis_select_cb, r, 2, argv, NULL);
  }
  const char *ping[] = {"PING"};
  if (rc == 0)
    rc = sp__redis_send(r, sp__redis_ping_cb, r, 1, ping, NULL);
  if (rc)
    sp__redis_request_teardown(r, rc);
  return;
fail:
  r->st.failures++;
  sp__redis_schedule_retry(r);
}

static void sp__redis_gai_cb(uv_getaddrinfo_t *req, int status,
                             struct addrinfo *res) {
  sp_redis *r = req->data;
  char ip[64] = "";
  r->gai_busy = 0;
  if (status == 0 && res) {
    if (res->ai_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof ip);
    else
      uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof ip);
  }
  uv_freeaddrinfo(res);
  if (r->state == S_CLOSING) {
    sp__redis_teardown(r, UV_ECANCELED);
    return;
  }
  if (!ip[0]) {
    sp_log_warn("redis_resolve_failed", "conn=%s url=%s why=%s", r->name,
                r->where, uv_strerror(status ? status : UV_EAI_NONAME));
    r->st.failures++;
    sp__redis_schedule_retry(r);
    return;
  }
  sp__redis_open(r, ip);
}

static void sp__redis_connect(sp_redis *r) {
  unsigned char a[sizeof(struct in6_addr)];
  const char *h = r->o.url.host;
  if (r->o.url.is_unix || inet_pton(AF_INET, h, a) == 1 ||
      inet_pton(AF_INET6, h, a) == 1) {
    sp__redis_open(r, h);
    return;
  }
  /* A host name is resolved on the thread pool, never on the loop. */
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  r->gai.data = r;
  r->state = S_RESOLVING;
  int rc = uv_getaddrinfo(r->loop, &r->gai, sp__redis_gai_cb, h, NULL, &hints);
  if (rc < 0) {
    r->st.failures++;
    sp__redis_schedule_retry(r);
    return;
  }
  r->gai_busy = 1;
}

/* ---- teardown and close --------------------------------------------- */

static void sp__redis_handle_closed(uv_handle_t *h) {
  sp_redis *r = h->data;
  if (--r->handles_open > 0)
    return;
  void (*done)(void *) = r->done;
  void *data = r->done_data;
  for (size_t i = 0; i < r->o.nchannels; i++)
    free(r->channels[i]);
  free(r->channels);
  free(r);
  if (done)
    done(data);
}

/* Frees the context; every pending callback gets err. Only from our own
 * timers or API calls, never from inside a hiredis callback. */
static void sp__redis_teardown(sp_redis *r, int err) {
  uv_timer_stop(&r->deadline);
  uv_timer_stop(&r->idle);
  if (r->ac) {
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    r->freeing = 1;
    r->fail_err = err;
    redisAsyncFree(ac);
    r->freeing = 0;
    r->st.failures++;
  }
  if (r->state == S_CLOSING) {
    if (r->gai_busy)
      return; /* sp__redis_gai_cb comes back here */
    uv_close((uv_handle_t *)&r->retry, sp__redis_handle_closed);
    uv_close((uv_handle_t *)&r->deadline, sp__redis_handle_closed);
    uv_close((uv_handle_t *)&r->idle, sp__redis_handle_closed);
    uv_close((uv_handle_t *)&r->kick, sp__redis_handle_closed);
    return;
  }
  sp__redis_set_up(r, 0);
  sp__redis_schedule_retry(r);
}

static void sp__redis_close_cb(uv_timer_t *t) {
  sp_redis *r = t->data;
  sp__redis_teardown(r, UV_ECANCELED);
}

void sp_redis_close(sp_redis *r, void (*done)(void *data), void *data) {
  if (r->state == S_CLOSING)
    return;
  r->done = done;
  r->done_data = data;
  r->state = S_CLOSING;
  r->up = 0;
  r->st.up = 0;
  uv_timer_stop(&r->retry);
  /* Deferred, so that a call from inside a reply callback is safe. */
  uv_timer_start(&r->kick, sp__redis_close_cb, 0, 0);
}

int sp_redis_start(uv_loop_t *loop, const sp_redis_opts *opts, sp_redis **out) {
  if (opts->nchannels > 8 || (opts->on_message && !opts->nchannels))
    return UV_EINVAL;
  sp_redis *r = calloc(1, sizeof *r);
  if (!r)
    return UV_ENOMEM;
  r->loop = loop;
  r->o = *opts;
  if (!r->o.connect_timeout_ms)
    r->o.connect_timeout_ms = 1000;
  if (!r->o.command_timeout_ms)
    r->o.command_timeout_ms = 1000;
  if (!r->o.backoff_min_ms)
    r->o.backoff_min_ms = 100;
  if (r->o.backoff_max_ms < r->o.backoff_min_ms)
    r->o.backoff_max_ms =
        r->o.backoff_min_ms > 2000 ? r->o.backoff_min_ms : 2000;
  snprintf(r->name, sizeof r->name, "%s", opts->name ? opts->name : "redis");
  sp_redis_url_format(&opts->url, r->where, sizeof r->where);
  r->rng = uv_hrtime() | 1;
  if (opts->nchannels) {
    r->channels = calloc(opts->nchannels, sizeof *r->channels);
    if (!r->channels)
      goto nomem;
    for (size_t i = 0; i < opts->nchannels; i++)
      if (!(r->channels[i] = strdup(opts->channels[i])))
        goto nomem;
  }
  r->o.channels = NULL;
  uv_timer_t *timers[] = {&r->retry, &r->deadline, &r->idle, &r->kick};
  for (size_t i = 0; i < 4; i++) {
    uv_timer_init(loop, timers[i]);
    timers[i]->data = r;
  }
  r->handles_open = 4;
  r->state = S_WAIT;
  r->st.down_since = uv_now(loop) ? uv_now(loop) : 1;
  uv_timer_start(&r->retry, sp__redis_retry_cb, 0, 0);
  *out = r;
  return 0;
nomem:
  if (r->channels)
    for (size_t i = 0; i < opts->nchannels; i++)
      free(r->channels[i]);
  free(r->channels);
  free(r);
  return UV_ENOMEM;
}
