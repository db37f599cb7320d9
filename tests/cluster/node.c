/* cluster_node: a stand-in for the server core, to test src/cluster from
 * outside against a real Redis. It drives one sp_cluster on a libuv loop
 * exactly as the core will (same thread, same calls) and speaks a line
 * protocol: commands on stdin, events on stdout, one per line, each
 * starting with the milliseconds since start.
 *
 *   claim ROOM             -> claim ROOM granted EPOCH | owned NODE |
 *                             unavailable
 *   release ROOM
 *   tick ROOM EPOCH MS     a room "ticking" every MS ms: each tick first
 *                          asks sp_cluster_lease_valid, as the core must;
 *                          -> tick ROOM ok (first one only) ... then
 *                             tick ROOM stopped when it says no
 *   score NAME N
 *   top                    -> top NAME:SCORE,...
 *   rooms NAME:CONNS:SNAKES ...
 *   list                   -> list JSON
 *   announce ROOM|* TEXT
 *   stats                  -> stats up=U held=H claims=C losses=L
 *                             outages=O pending=P
 *   hammer MS              two threads call the functions that any thread
 *                          may call (lease_valid, top, rooms_json,
 *                          get_stats) for MS ms while the loop goes on;
 *                          -> hammer done calls=N (for ThreadSanitizer)
 *   close                  -> closed (then exits 0)
 * Hooks print: state up|down, lost ROOM, top_changed ..., announce
 * ROOM|* TEXT. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cluster/cluster.h"
#include "core/log.h"

static uv_loop_t *loop;
static sp_cluster *cl;
static uint64_t t0;
static char line[8192];
static size_t line_len;
static uv_pipe_t in;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...) {
  va_list ap;
  printf("%llu ", (unsigned long long)((uv_hrtime() - t0) / 1000000));
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static void print_rows(const char *what, const sp_score_row *rows, size_t n) {
  char buf[4096];
  size_t o = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && o < sizeof buf - 100; i++)
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s:%u", i ? "," : "",
                          rows[i].name, rows[i].score);
  out("%s %s", what, buf);
}

static void on_state(void *d, int up) {
  (void)d;
  out("state %s", up ? "up" : "down");
}
static void on_lost(void *d, const char *room) {
  (void)d;
  out("lost %s", room);
}
static void on_top(void *d, const sp_score_row *rows, size_t n) {
  (void)d;
  print_rows("top_changed", rows, n);
}
static void on_announce(void *d, const char *room, const char *text) {
  (void)d;
  out("announce %s %s", room ? room : "*", text);
}

typedef struct claim_ctx {
  char room[SP_ROOM_NAME_MAX + 1];
} claim_ctx;

static void on_claim(void *data, sp_claim_result r, uint64_t epoch,
                     const char *owner) {
  claim_ctx *x = data;
  if (r == SP_CLAIM_GRANTED)
    out("claim %s granted %llu", x->room, (unsigned long long)epoch);
  else if (r == SP_CLAIM_OWNED)
    out("claim %s owned %s", x->room, owner);
  else
    out("claim %s unavailable", x->room);
  free(x);
}

typedef struct ticker {
  uv_timer_t t;
  char room[SP_ROOM_NAME_MAX + 1];
  uint64_t epoch;
  int said_ok;
} ticker;

static void ticker_closed(uv_handle_t *h) { free(h->data); }

static void on_tick(uv_timer_t *t) {
  ticker *k = t->data;
  if (!sp_cluster_lease_valid(cl, k->room, k->epoch)) {
    out("tick %s stopped", k->room);
    uv_close((uv_handle_t *)t, ticker_closed);
    return;
  }
  if (!k->said_ok) {
    k->said_ok = 1;
    out("tick %s ok", k->room);
  }
}

/* ---- hammer: the thread-safe readers from other threads ------------- */

typedef struct hammer {
  uv_thread_t threads[2];
  uv_async_t done;
  uint64_t until_ns;
  uv_mutex_t mu; /* guards calls and finished */
  unsigned long long calls;
  int finished;
} hammer;

static hammer *hm;

static void hammer_thread(void *arg) {
  int k = (int)(intptr_t)arg;
  unsigned long long n = 0;
  sp_buf b = SP_BUF_INIT;
  while (uv_hrtime() < hm->until_ns) {
    sp_score_row rows[SP_TOP_SCORES];
    size_t nrows;
    sp_cluster_stats st;
    char room[8];
    snprintf(room, sizeof room, "h%d", (int)(n % 4));
    (void)sp_cluster_lease_valid(cl, room, n % 8);
    sp_cluster_top(cl, rows, &nrows);
    sp_buf_reset(&b);
    sp_cluster_rooms_json(cl, &b);
    sp_cluster_get_stats(cl, &st);
    (void)sp_cluster_node_id(cl);
    n++;
  }
  sp_buf_free(&b);
  (void)k;
  uv_mutex_lock(&hm->mu);
  hm->calls += n;
  hm->finished++;
  uv_mutex_unlock(&hm->mu);
  uv_async_send(&hm->done);
}

static void hammer_closed(uv_handle_t *h) {
  (void)h;
  uv_mutex_destroy(&hm->mu);
  free(hm);
  hm = NULL;
}

static void hammer_done(uv_async_t *a) {
  (void)a;
  uv_mutex_lock(&hm->mu);
  int finished = hm->finished;
  unsigned long long calls = hm->calls;
  uv_mutex_unlock(&hm->mu);
  if (finished < 2)
    return;
  uv_thread_join(&hm->threads[0]);
  uv_thread_join(&hm->threads[1]);
  out("hammer done calls=%llu", calls);
  uv_close((uv_handle_t *)&hm->done, hammer_closed);
}

static void hammer_start(unsigned ms) {
  if (hm)
    return;
  hm = calloc(1, sizeof *hm);
  hm->until_ns = uv_hrtime() + (uint64_t)ms * 1000000u;
  uv_mutex_init(&hm->mu);
  uv_async_init(loop, &hm->done, hammer_done);
  for (int k = 0; k < 2; k++)
    uv_thread_create(&hm->threads[k], hammer_thread, (void *)(intptr_t)k);
}

static void close_rest(uv_handle_t *h, void *arg) {
  (void)arg;
  if (uv_is_closing(h))
    return;
  uv_close(h, h == (uv_handle_t *)&in ? NULL : ticker_closed);
}

/* The cluster is gone: close stdin and the tickers, and the loop ends. */
static void on_closed(void *d) {
  (void)d;
  out("closed");
  uv_walk(loop, close_rest, NULL);
}

static void run(char *cmd) {
  char *arg = strchr(cmd, ' ');
  if (arg)
    *arg++ = '\0';
  if (strcmp(cmd, "claim") == 0 && arg) {
    claim_ctx *x = calloc(1, sizeof *x);
    snprintf(x->room, sizeof x->room, "%s", arg);
    int rc = sp_cluster_claim(cl, arg, on_claim, x);
    if (rc) {
      out("claim %s error %s", arg, uv_err_name(rc));
      free(x);
    }
  } else if (strcmp(cmd, "release") == 0 && arg) {
    sp_cluster_release(cl, arg);
  } else if (strcmp(cmd, "tick") == 0 && arg) {
    ticker *k = calloc(1, sizeof *k);
    unsigned long long epoch;
    unsigned ms;
    if (sscanf(arg, "%32s %llu %u", k->room, &epoch, &ms) != 3) {
      free(k);
      out("error tick");
      return;
    }
    k->epoch = epoch;
    uv_timer_init(loop, &k->t);
    k->t.data = k;
    uv_timer_start(&k->t, on_tick, 0, ms);
  } else if (strcmp(cmd, "score") == 0 && arg) {
    char name[64];
    unsigned score;
    if (sscanf(arg, "%63s %u", name, &score) == 2)
      sp_cluster_submit_score(cl, name, score);
  } else if (strcmp(cmd, "top") == 0) {
    sp_score_row rows[SP_TOP_SCORES];
    size_t n;
    sp_cluster_top(cl, rows, &n);
    print_rows("top", rows, n);
  } else if (strcmp(cmd, "rooms") == 0) {
    sp_cluster_room rows[64];
    size_t n = 0;
    for (char *tok = arg ? strtok(arg, " ") : NULL; tok && n < 64;
         tok = strtok(NULL, " ")) {
      unsigned c, s;
      char name[64];
      if (sscanf(tok, "%63[^:]:%u:%u", name, &c, &s) != 3)
        continue;
      memset(&rows[n], 0, sizeof rows[n]);
      snprintf(rows[n].name, sizeof rows[n].name, "%.32s", name);
      rows[n].connections = c;
      rows[n].snakes = s;
      n++;
    }
    sp_cluster_set_rooms(cl, rows, n);
  } else if (strcmp(cmd, "list") == 0) {
    sp_buf b = SP_BUF_INIT;
    sp_cluster_rooms_json(cl, &b);
    sp_buf_putc(&b, '\0');
    out("list %s", b.failed ? "(failed)" : b.data);
    sp_buf_free(&b);
  } else if (strcmp(cmd, "announce") == 0 && arg) {
    char *text = strchr(arg, ' ');
    if (!text)
      return;
    *text++ = '\0';
    int rc = sp_cluster_announce(cl, strcmp(arg, "*") ? arg : NULL, text);
    if (rc)
      out("announce_error %s", uv_err_name(rc));
  } else if (strcmp(cmd, "stats") == 0) {
    sp_cluster_stats st;
    sp_cluster_get_stats(cl, &st);
    out("stats up=%d held=%llu claims=%llu losses=%llu outages=%llu "
        "pending=%llu",
        st.redis_up, (unsigned long long)st.leases_held,
        (unsigned long long)st.lease_claims,
        (unsigned long long)st.lease_losses,
        (unsigned long long)st.redis_outages,
        (unsigned long long)st.scores_pending);
  } else if (strcmp(cmd, "hammer") == 0 && arg) {
    hammer_start((unsigned)atoi(arg));
  } else if (strcmp(cmd, "close") == 0) {
    uv_read_stop((uv_stream_t *)&in);
    sp_cluster_close(cl, on_closed, NULL);
  } else {
    out("error unknown %s", cmd);
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  (void)hint;
  static char buf[4096];
  *b = uv_buf_init(buf, sizeof buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  if (n < 0) { /* stdin closed: like SIGTERM */
    uv_read_stop(s);
    sp_cluster_close(cl, on_closed, NULL);
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    char ch = b->base[i];
    if (ch == '\n') {
      line[line_len] = '\0';
      line_len = 0;
      run(line);
    } else if (line_len < sizeof line - 1) {
      line[line_len++] = ch;
    }
  }
}

int main(int argc, char **argv) {
  sp_cluster_opts o;
  memset(&o, 0, sizeof o);
  const char *url = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--redis") == 0)
      url = argv[i + 1];
    else if (strcmp(argv[i], "--node-id") == 0)
      snprintf(o.node_id, sizeof o.node_id, "%s", argv[i + 1]);
    else if (strcmp(argv[i], "--lease-ms") == 0)
      o.lease_ms = (unsigned)atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--timeout-ms") == 0)
      o.redis_timeout_ms = (unsigned)atoi(argv[i + 1]);
  }
  const char *why;
  if (!url || sp_redis_url_parse(url, &o.url, &why) != 0) {
    fprintf(stderr, "cluster_node: --redis URL needed\n");
    return 2;
  }
  if (getenv("SP_LOG_DEBUG"))
    sp_log_set_level(SP_LOG_DEBUG);
  t0 = uv_hrtime();
  loop = uv_default_loop();
  sp_cluster_hooks h = {on_state, on_lost, on_top, on_announce, NULL};
  int rc = sp_cluster_start(loop, &o, &h, &cl);
  if (rc) {
    fprintf(stderr, "cluster_node: %s\n", uv_strerror(rc));
    return 1;
  }
  uv_pipe_init(loop, &in, 0);
  uv_pipe_open(&in, 0);
  uv_read_start((uv_stream_t *)&in, on_alloc, on_read);
  out("started %s", sp_cluster_node_id(cl));
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}
