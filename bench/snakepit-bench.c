/* snakepit-bench: a load generator that speaks PROTOCOL.md like a browser.
 *
 * N clients connect to ws://HOST:PORT/connect?room=bench-I (I round-robin over
 * R rooms), each registers with ["new_player","bI"]; K of them play (join, a
 * random arrow key every M ms, join again after death), the others watch.
 * After a warm-up, a measured window counts what arrives and how punctually,
 * and how long a turn takes to show up in the renders. One libuv loop, one
 * read buffer for all connections, and a JSON walk that only looks at the
 * fields it needs, so that one core keeps up with thousands of connections.
 *
 * Output: one progress line per second on stderr; a human summary and one
 * JSON line on stdout at the end (--json: the JSON line only).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <uv.h>

#include "hist.h"
#include "procstat.h"
#include "scan.h"
#include "ws.h"

/* Live snakes a player keeps track of per room. */
#define MAX_HEADS 24
/* The one read buffer shared by all clients. */
#define READ_BUF_SIZE (256 * 1024)
/* Larger server frames are a protocol error. */
#define MAX_FRAME (4u << 20)
#define MAX_HTTP_RESPONSE 8192
#define HANDSHAKE_TIMEOUT_NS (15ull * 1000000000ull)
/* A join without an answer is sent again after this. */
#define JOIN_WAIT_MS 5000
/* How long the close handshake may take at the end. */
#define CLOSE_WAIT_MS 3000

enum phase { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_CLOSING, PH_DONE };
static const char *const phase_names[] = {"connect", "warmup", "measure",
                                          "closing", "done"};

enum cstate { CS_NEW, CS_TCP, CS_HTTP, CS_OPEN, CS_CLOSING, CS_DEAD };

enum fail_kind {
  FAIL_TCP,
  FAIL_HTTP,
  FAIL_ACCEPT,
  FAIL_TIMEOUT,
  FAIL_EOF,
  FAIL_KINDS
};
static const char *const fail_names[] = {"tcp", "http", "accept", "timeout",
                                         "eof"};

enum tmode { TM_NONE, TM_KEY, TM_REJOIN, TM_JOINWAIT };

/* The head of a live snake as seen in the latest render frame. FLAG: 0 some
 * other snake, 1 maybe ours (born while we waited for our birth), 2 ours;
 * 3 only inside process_heads, for a newborn not yet compared. */
typedef struct head {
  int16_t x, y;
  uint8_t colour;
  uint8_t flag;
  uint8_t young; /* Born in the latest frame. */
} head;

typedef struct client client;

/* The state of a playing client. */
typedef struct player {
  uv_timer_t timer; /* Key presses, rejoin delay, join watchdog (see tmode). */
  client *c;
  long id;    /* From handshake; 0 until then. */
  int colour; /* From our own p_joined. */
  uint8_t tmode;
  uint8_t alive;
  uint8_t awaiting;     /* Our snake joined; its head is not identified yet. */
  uint8_t await_frames; /* Render frames seen since our p_joined. */
  uint8_t have_mine;    /* heads[] holds our head (flag 2). */
  uint8_t dir_known;
  uint8_t dir; /* 0 left, 1 up, 2 right, 3 down: key code - 37. */
  uint8_t moves_since_key;
  uint8_t turn_pending;
  uint8_t turn_dir;
  uint8_t turn_moves;
  uint64_t turn_sent;
  uint8_t nheads;
  head heads[MAX_HEADS];
} player;

struct client {
  uv_tcp_t tcp;
  uv_connect_t creq;
  player *pl;    /* NULL for a spectator. */
  uint8_t *pend; /* Bytes of an incomplete frame or HTTP response (owned). */
  uint32_t pend_len, pend_cap;
  uint8_t *msg; /* A fragmented text message being assembled (owned). */
  uint32_t msg_len, msg_cap;
  uint8_t msg_active;
  uint8_t state;
  uint32_t idx;
  uint32_t room;
  uint64_t t_connect;
  uint64_t last_tick; /* When the last render frame arrived; 0: none to measure
                         from. */
  uint64_t seg_ns; /* Sum of the gaps since the game (re)started or the window
                      opened. */
  uint32_t seg_n;  /* Their number. */
  char accept[SB_WS_ACCEPT_LEN + 1];
};

typedef struct counters {
  uint64_t frames;      /* Data frames (text, binary, continuation). */
  uint64_t bytes;       /* Every byte received after the HTTP response. */
  uint64_t tick_frames; /* Render frames: the tick's broadcast. */
  uint64_t control;
} counters;

static struct bench {
  /* Options. */
  char host[64];
  int port;
  char path[256];
  char query[256]; /* Used as is when --rooms is not given. */
  char room_prefix[64];
  int rooms_given;
  uint32_t n, rooms, players;
  uint32_t key_interval_ms, rejoin_delay_ms;
  double connect_rate;
  uint32_t max_pending;
  double warmup_s, duration_s, tick_rate, connect_timeout_s;
  int server_pid;
  long source_ips; /* Loopback source addresses to spread over; -1: auto. */
  int json_only, quiet;
  uint64_t seed;

  uv_loop_t *loop;
  struct sockaddr_storage addr;
  client *clients;
  player *pls;
  uv_timer_t connect_timer, progress_timer, phase_timer;
  uv_signal_t sigint, sigterm;
  int phase;
  uint64_t t0, phase_start, win_start, win_end;
  uint32_t next;    /* Next client to connect. */
  uint32_t pending; /* Connections between connect() and the 101. */
  uint32_t open, opened, failed, live_handles;
  double tokens;
  uint64_t last_token;
  uint64_t rng;

  /* Results. */
  counters tot, win0, win1, prog_last;
  uint64_t fails[FAIL_KINDS];
  char first_fail[FAIL_KINDS][120];
  uint64_t unexpected_closes, protocol_errors, write_errors, bad_json;
  uint64_t joins_sent, join_refused, join_retries, deaths, keys_sent;
  uint64_t turns_measurable, turns_measured, turns_unobserved, turns_superseded,
      tracks_lost;
  sb_hist gaps, keylat;
  double gap_sum_ns;
  uint64_t gap_n;
  uint64_t lost_ticks, extra_frames;
  sb_proc srv_before, srv_w0, srv_w1, srv_prog;
  int srv_ok_before, srv_ok_w0, srv_ok_w1, srv_prog_ok;
  double own_cpu_w0, own_cpu_w1, own_cpu_prog;
  sb_machine mach_w0, mach_w1; /* the whole machine over the window */
  int mach_ok_w0, mach_ok_w1;
  uint64_t prog_t;
  uint32_t open_at_end;
} B;

static uint8_t read_buf[READ_BUF_SIZE];

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("snakepit-bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static uint64_t rnd(void) {
  /* xorshift64*: masks, nonces and key choices need speed, not secrecy. */
  B.rng ^= B.rng >> 12;
  B.rng ^= B.rng << 25;
  B.rng ^= B.rng >> 27;
  return B.rng * 2685821657736338717ull;
}

static double own_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- sending ---- */

typedef struct wreq {
  uv_write_t req;
  uv_buf_t buf;
  char data[];
} wreq;

static void on_write_done(uv_write_t *req, int status) {
  if (status < 0 && status != UV_ECANCELED && B.phase < PH_CLOSING)
    B.write_errors++;
  free(req->data);
}

/* Sends LEN bytes now if the socket takes them, else queues a copy. */
static void send_raw(client *c, const void *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int r;
  wreq *w;

  if (c->state == CS_DEAD || c->state == CS_NEW || c->state == CS_TCP)
    return;
  r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (r == (int)len)
    return;
  if (r < 0 && r != UV_EAGAIN) {
    B.write_errors++;
    return;
  }
  if (r < 0)
    r = 0;
  w = malloc(sizeof *w + len - (size_t)r);
  if (!w)
    die("out of memory");
  memcpy(w->data, (const char *)data + r, len - (size_t)r);
  w->buf = uv_buf_init(w->data, (unsigned)(len - (size_t)r));
  w->req.data = w;
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_write_done) <
      0) {
    B.write_errors++;
    free(w);
  }
}

/* Sends one masked frame, as a browser does. */
static void send_frame(client *c, int opcode, const void *payload, size_t len) {
  uint8_t buf[512];
  size_t n =
      sb_ws_encode(buf, sizeof buf, opcode, payload, len, (uint32_t)rnd());
  if (n)
    send_raw(c, buf, n);
}

static void send_text(client *c, const char *s) {
  send_frame(c, SB_WS_TEXT, s, strlen(s));
}

/* ---- connection lifecycle ---- */

static void finish_if_done(void);
static void check_connect_done(void);
static void flush_segment(client *c);

static void on_client_closed(uv_handle_t *h) {
  client *c = h->data;
  free(c->pend);
  free(c->msg);
  c->pend = c->msg = NULL;
  c->pend_len = c->pend_cap = c->msg_len = c->msg_cap = 0;
  B.live_handles--;
  finish_if_done();
}

static void player_stop(player *pl) {
  if (pl && !uv_is_closing((uv_handle_t *)&pl->timer))
    uv_timer_stop(&pl->timer);
}

/* Closes C's socket; the memory of its buffers goes in the close callback. */
static void client_close(client *c) {
  if (c->state == CS_DEAD)
    return;
  if (c->state == CS_OPEN || c->state == CS_CLOSING)
    B.open--;
  if (B.phase == PH_MEASURE)
    flush_segment(c);
  c->state = CS_DEAD;
  player_stop(c->pl);
  uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void client_fail(client *c, enum fail_kind kind, const char *why) {
  if (c->state == CS_DEAD)
    return;
  B.fails[kind]++;
  B.failed++;
  if (!B.first_fail[kind][0])
    snprintf(B.first_fail[kind], sizeof B.first_fail[kind], "%s", why);
  if (c->state == CS_TCP || c->state == CS_HTTP)
    B.pending--;
  client_close(c);
  check_connect_done();
}

/* The server ended an open connection that we did not ask to close. */
static void client_lost(client *c) {
  if (B.phase < PH_CLOSING)
    B.unexpected_closes++;
  client_close(c);
}

static void client_protocol_error(client *c) {
  uint8_t code[2] = {1002 >> 8, 1002 & 0xff};
  B.protocol_errors++;
  send_frame(c, SB_WS_CLOSE, code, 2);
  client_close(c);
}

/* ---- the game as a player sees it ---- */

static void on_player_timer(uv_timer_t *t);

/* The player's one timer serves key presses, the rejoin delay and the join
 * watchdog, one at a time. */
static void player_timer_start(player *pl, enum tmode mode, uint64_t first,
                               uint64_t repeat) {
  pl->tmode = (uint8_t)mode;
  uv_timer_start(&pl->timer, on_player_timer, first, repeat);
}

static void send_join(player *pl) {
  send_text(pl->c, "[\"join\"]");
  B.joins_sent++;
  player_timer_start(pl, TM_JOINWAIT, JOIN_WAIT_MS, 0);
}

static void send_key(player *pl, uint64_t now) {
  int key = 37 + (int)(rnd() % 4);
  int kdir = key - 37;
  char s[8];

  snprintf(s, sizeof s, "%d", key);
  if (pl->turn_pending) {
    /* A second key before the first showed: neither is measurable. */
    pl->turn_pending = 0;
    B.turns_superseded++;
  } else if (B.phase == PH_MEASURE && pl->have_mine && pl->dir_known &&
             pl->moves_since_key >= 2 && kdir != pl->dir &&
             kdir != (pl->dir + 2) % 4) {
    /* A real turn: the same direction or a reversal changes nothing. */
    pl->turn_pending = 1;
    pl->turn_dir = (uint8_t)kdir;
    pl->turn_moves = 0;
    pl->turn_sent = now;
    B.turns_measurable++;
  }
  pl->moves_since_key = 0;
  send_text(pl->c, s);
  B.keys_sent++;
}

static void on_player_timer(uv_timer_t *t) {
  player *pl = t->data;

  if (B.phase >= PH_CLOSING || pl->c->state != CS_OPEN)
    return;
  switch (pl->tmode) {
  case TM_KEY:
    if (pl->alive)
      send_key(pl, uv_hrtime());
    break;
  case TM_REJOIN:
    send_join(pl);
    break;
  case TM_JOINWAIT:
    B.join_retries++;
    send_join(pl);
    break;
  default:
    break;
  }
}

static void forget_candidates(player *pl) {
  for (int i = 0; i < pl->nheads; i++)
    pl->heads[i].flag = 0;
  pl->awaiting = pl->have_mine = pl->dir_known = pl->turn_pending = 0;
}

/* Exactly one candidate left: that head is ours. */
static void resolve_candidates(player *pl) {
  int k = -1, cnt = 0;
  for (int i = 0; i < pl->nheads; i++)
    if (pl->heads[i].flag == 1) {
      cnt++;
      k = i;
    }
  if (cnt == 1) {
    pl->heads[k].flag = 2;
    pl->awaiting = 0;
    pl->have_mine = 1;
    pl->dir_known = 0;
  }
}

static void own_joined(player *pl, int colour) {
  forget_candidates(pl);
  pl->alive = 1;
  pl->colour = colour;
  pl->awaiting = 1;
  pl->await_frames = 0;
  pl->moves_since_key = 0;
  /* Our server sends p_joined at the join and draws the snake at the next
   * tick. A server that drew it first would have done so in the latest
   * frame: its newborn heads of our colour stay candidates unless the next
   * frame brings a newborn of our colour (see process_heads). */
  for (int i = 0; i < pl->nheads; i++)
    if (pl->heads[i].young && pl->heads[i].colour == colour)
      pl->heads[i].flag = 1;
  player_timer_start(pl, TM_KEY, 1 + rnd() % B.key_interval_ms,
                     B.key_interval_ms);
}

static void own_died(player *pl) {
  if (pl->alive)
    B.deaths++;
  pl->alive = 0;
  forget_candidates(pl);
  player_timer_start(pl, TM_REJOIN, B.rejoin_delay_ms, 0);
}

/* Our head moved by (DX, DY): that is the direction the server applied. */
static void own_moved(player *pl, int dx, int dy, uint64_t now) {
  uint8_t mdir = dx < 0 ? 0 : dy < 0 ? 1 : dx > 0 ? 2 : 3;

  if (pl->moves_since_key < 255)
    pl->moves_since_key++;
  if (pl->turn_pending) {
    if (mdir == pl->turn_dir) {
      pl->turn_pending = 0;
      if (B.phase == PH_MEASURE) {
        sb_hist_add(&B.keylat, now - pl->turn_sent);
        B.turns_measured++;
      }
    } else if (++pl->turn_moves >= 5) {
      pl->turn_pending = 0;
      B.turns_unobserved++;
    }
  }
  pl->dir = mdir;
  pl->dir_known = 1;
}

/* A render frame arrived with the heads NH (every '%' in colour 1..6): follow
 * each known head to the new one next to it in the same colour; a head with
 * no predecessor is a snake born this tick. Several snakes may share our
 * colour, so ours is the one born in the first render frame after our
 * p_joined; if two of our colour were born then, we wait until one of them
 * dies without our p_gameover. */
static void process_heads(player *pl, head *nh, int nn, uint64_t now) {
  uint8_t used[MAX_HEADS] = {0};
  int mine_found = 0, newborn = 0;

  for (int i = 0; i < nn; i++) {
    head *n = &nh[i];
    n->flag = 0;
    n->young = 1;
    for (int j = 0; j < pl->nheads; j++) {
      head *h = &pl->heads[j];
      int dx = n->x - h->x, dy = n->y - h->y;
      if (used[j] || h->colour != n->colour || abs(dx) + abs(dy) != 1)
        continue;
      used[j] = 1;
      n->flag = h->flag;
      n->young = 0;
      if (h->flag == 2) {
        mine_found = 1;
        own_moved(pl, dx, dy, now);
      }
      break;
    }
    if (n->young && pl->awaiting && pl->await_frames == 0 &&
        n->colour == pl->colour) {
      n->flag = 3; /* Marked apart until the older candidates are sorted out. */
      newborn++;
    }
  }
  if (pl->awaiting && pl->await_frames == 0)
    for (int i = 0; i < nn; i++) {
      /* A newborn after our p_joined beats one drawn before it. */
      if (nh[i].flag == 1 && newborn)
        nh[i].flag = 0;
      else if (nh[i].flag == 3)
        nh[i].flag = 1;
    }
  memcpy(pl->heads, nh, (size_t)nn * sizeof *nh);
  pl->nheads = (uint8_t)nn;
  if (pl->have_mine && !mine_found) {
    B.tracks_lost++;
    pl->have_mine = pl->dir_known = pl->turn_pending = 0;
  }
  if (pl->awaiting) {
    if (pl->await_frames < 255)
      pl->await_frames++;
    resolve_candidates(pl);
  }
}

static int name_is(const char *name, size_t len, const char *lit) {
  return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

/* Walks a whole frame for a player. Sets *TICK for a render frame and
 * *RESET when the field was cleared. */
static void player_frame(client *c, const char *p, size_t n, uint64_t now,
                         int *tick, int *reset) {
  player *pl = c->pl;
  head nh[MAX_HEADS];
  int nn = 0, ncmd = 0, r;
  sb_cmd_iter it;
  const char *name;
  size_t nlen;
  sb_cur a;

  sb_cmd_iter_init(&it, p, n);
  while ((r = sb_cmd_next(&it, &name, &nlen, &a)) == 1) {
    long x, y, col, id;
    const char *s;
    size_t slen;

    ncmd++;
    if (name_is(name, nlen, "render")) {
      *tick = 1;
      if (sb_accept(&a, ',') && sb_read_int(&a, &x) == 0 &&
          sb_accept(&a, ',') && sb_read_int(&a, &y) == 0 &&
          sb_accept(&a, ',') && sb_read_string(&a, &s, &slen) == 0 &&
          slen == 1 && s[0] == '%' && sb_accept(&a, ',') &&
          sb_read_int(&a, &col) == 0 && col >= 1 && col <= 6 &&
          nn < MAX_HEADS) {
        nh[nn].x = (int16_t)x;
        nh[nn].y = (int16_t)y;
        nh[nn].colour = (uint8_t)col;
        nn++;
      }
    } else if (name_is(name, nlen, "p_joined")) {
      if (sb_accept(&a, ',') && sb_read_int(&a, &id) == 0 && id == pl->id &&
          sb_accept(&a, ',') && sb_skip_value(&a) == 0 && sb_accept(&a, ',') &&
          sb_read_int(&a, &col) == 0)
        own_joined(pl, (int)col);
    } else if (name_is(name, nlen, "p_gameover")) {
      if (sb_accept(&a, ',') && sb_read_int(&a, &id) == 0 && id == pl->id)
        own_died(pl);
    } else if (name_is(name, nlen, "reset_world")) {
      *reset = 1;
    } else if (name_is(name, nlen, "handshake")) {
      if (sb_accept(&a, ',') && sb_skip_value(&a) == 0 && sb_accept(&a, ',') &&
          sb_read_int(&a, &id) == 0 && pl->id == 0) {
        pl->id = id;
        send_join(pl);
      }
    } else if (name_is(name, nlen, "error")) {
      /* "Maximum players reached": try again later, as a person would. */
      if (!pl->alive && pl->tmode == TM_JOINWAIT) {
        B.join_refused++;
        player_timer_start(pl, TM_REJOIN, B.rejoin_delay_ms, 0);
      }
    }
  }
  if (r < 0)
    B.bad_json++;
  else if (ncmd == 0)
    *tick = 1; /* "[]": a tick in which nothing changed. */
  if (*tick)
    process_heads(pl, nh, nn, now);
}

/* A spectator only needs to know whether this is the tick's render frame and
 * whether the field was reset; most frames answer on their first bytes. */
static void spectator_frame(const char *p, size_t n, int *tick, int *reset) {
  static const char render_prefix[] = "[[\"render\"";
  sb_cmd_iter it;
  const char *name;
  size_t nlen;
  sb_cur a;
  int r, ncmd = 0;

  if (n >= sizeof render_prefix - 1 &&
      memcmp(p, render_prefix, sizeof render_prefix - 1) == 0) {
    *tick = 1;
    return;
  }
  sb_cmd_iter_init(&it, p, n);
  while ((r = sb_cmd_next(&it, &name, &nlen, &a)) == 1) {
    ncmd++;
    if (name_is(name, nlen, "render"))
      *tick = 1;
    else if (name_is(name, nlen, "reset_world"))
      *reset = 1;
  }
  if (r < 0)
    B.bad_json++;
  else if (ncmd == 0)
    *tick = 1;
}

/* Closes C's run of consecutive render frames: the ticks it spans, rounded,
 * less the frames that came, were lost. Rounding per run keeps late frames
 * (a long gap then a short one) from counting as lost. */
static void flush_segment(client *c) {
  if (c->seg_n) {
    double tick_ns = 1e9 / B.tick_rate;
    long long ticks = llround((double)c->seg_ns / tick_ns);
    if (ticks > (long long)c->seg_n)
      B.lost_ticks += (uint64_t)(ticks - (long long)c->seg_n);
    else
      B.extra_frames += (uint64_t)((long long)c->seg_n - ticks);
  }
  c->seg_ns = 0;
  c->seg_n = 0;
}

static void on_text(client *c, const char *p, size_t n, uint64_t now) {
  int tick = 0, reset = 0;

  if (c->pl)
    player_frame(c, p, n, now, &tick, &reset);
  else
    spectator_frame(p, n, &tick, &reset);
  if (reset) {
    c->last_tick = 0; /* The game stopped and starts again: no gap. */
    flush_segment(c);
  }
  if (tick) {
    B.tot.tick_frames++;
    if (B.phase == PH_MEASURE && c->last_tick && c->last_tick >= B.win_start) {
      uint64_t gap = now - c->last_tick;
      sb_hist_add(&B.gaps, gap);
      B.gap_sum_ns += (double)gap;
      B.gap_n++;
      c->seg_ns += gap;
      c->seg_n++;
    }
    c->last_tick = now;
  }
}

/* ---- frames in ---- */

static int append(uint8_t **buf, uint32_t *len, uint32_t *cap, const uint8_t *p,
                  size_t n) {
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

/* Handles one complete frame. Returns -1 when the client was closed. */
static int on_frame(client *c, const sb_ws_header *h, const uint8_t *pl,
                    uint64_t now) {
  size_t n = (size_t)h->payload_len;

  switch (h->opcode) {
  case SB_WS_TEXT:
  case SB_WS_BINARY:
  case SB_WS_CONT:
    B.tot.frames++;
    if (h->opcode != SB_WS_CONT && c->msg_active) {
      client_protocol_error(c); /* A new message inside a fragmented one. */
      return -1;
    }
    if (h->opcode == SB_WS_CONT && !c->msg_active) {
      client_protocol_error(c);
      return -1;
    }
    if (h->opcode == SB_WS_TEXT && h->fin) {
      on_text(c, (const char *)pl, n, now);
      return 0;
    }
    if (h->opcode == SB_WS_BINARY && h->fin)
      return 0;
    if (h->opcode != SB_WS_CONT) {
      c->msg_active = (uint8_t)h->opcode;
      c->msg_len = 0;
    }
    if (c->msg_len + n > MAX_FRAME ||
        append(&c->msg, &c->msg_len, &c->msg_cap, pl, n) < 0) {
      client_protocol_error(c);
      return -1;
    }
    if (h->fin) {
      if (c->msg_active == SB_WS_TEXT)
        on_text(c, (const char *)c->msg, c->msg_len, now);
      c->msg_active = 0;
      c->msg_len = 0;
    }
    return 0;
  case SB_WS_PING:
    B.tot.control++;
    send_frame(c, SB_WS_PONG, pl, n);
    return 0;
  case SB_WS_PONG:
    B.tot.control++;
    return 0;
  case SB_WS_CLOSE:
    B.tot.control++;
    if (c->state == CS_CLOSING) {
      client_close(c); /* The answer to our close. */
    } else {
      /* Echo the code as RFC 6455 asks, then count it. */
      send_frame(c, SB_WS_CLOSE, pl, n >= 2 ? 2 : 0);
      client_lost(c);
    }
    return -1;
  }
  return 0;
}

/* Parses the frames in P..P+N; returns the number of bytes consumed, or -1
 * when the client was closed. */
static long parse_frames(client *c, const uint8_t *p, size_t n, uint64_t now) {
  size_t off = 0;

  while (off < n) {
    sb_ws_header h;
    int r = sb_ws_parse_header(p + off, n - off, &h);
    if (r == 0)
      break;
    if (r < 0 || h.masked || h.payload_len > MAX_FRAME) {
      client_protocol_error(c);
      return -1;
    }
    if (n - off < h.header_len + h.payload_len)
      break;
    if (on_frame(c, &h, p + off + h.header_len, now) < 0)
      return -1;
    off += h.header_len + (size_t)h.payload_len;
  }
  return (long)off;
}

static void feed_frames(client *c, const uint8_t *p, size_t n, uint64_t now) {
  long used;

  B.tot.bytes += n;
  if (c->pend_len == 0) {
    used = parse_frames(c, p, n, now);
    if (used < 0)
      return;
    if ((size_t)used < n && append(&c->pend, &c->pend_len, &c->pend_cap,
                                   p + used, n - (size_t)used) < 0)
      die("out of memory");
    return;
  }
  if (append(&c->pend, &c->pend_len, &c->pend_cap, p, n) < 0)
    die("out of memory");
  used = parse_frames(c, c->pend, c->pend_len, now);
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
static int header_value(const char *h, const char *name, char *out,
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

static void on_open(client *c) {
  char msg[64];

  c->state = CS_OPEN;
  B.pending--;
  B.open++;
  B.opened++;
  snprintf(msg, sizeof msg, "[\"new_player\",\"b%u\"]", c->idx);
  send_text(c, msg);
  check_connect_done();
}

static void feed_http(client *c, const uint8_t *p, size_t n, uint64_t now) {
  char *end, val[128], status[64];
  size_t head_len;

  if (append(&c->pend, &c->pend_len, &c->pend_cap, p, n) < 0)
    die("out of memory");
  if (c->pend_len > MAX_HTTP_RESPONSE) {
    client_fail(c, FAIL_HTTP, "response head too long");
    return;
  }
  if (append(&c->pend, &c->pend_len, &c->pend_cap, (const uint8_t *)"", 1) < 0)
    die("out of memory");
  c->pend_len--; /* Keep a NUL after the bytes for the string functions. */
  end = strstr((char *)c->pend, "\r\n\r\n");
  if (!end)
    return;
  head_len = (size_t)(end + 4 - (char *)c->pend);
  if (strncmp((char *)c->pend, "HTTP/1.1 101", 12) != 0) {
    const char *eol = strstr((char *)c->pend, "\r\n");
    snprintf(status, sizeof status, "%.*s", (int)(eol - (char *)c->pend),
             (char *)c->pend);
    client_fail(c, FAIL_HTTP, status);
    return;
  }
  end[2] = '\0'; /* Headers end with the last CRLF. */
  if (header_value((char *)c->pend, "Upgrade", val, sizeof val) < 0 ||
      strcasecmp(val, "websocket") != 0) {
    client_fail(c, FAIL_HTTP, "101 without Upgrade: websocket");
    return;
  }
  if (header_value((char *)c->pend, "Sec-WebSocket-Accept", val, sizeof val) <
          0 ||
      strcmp(val, c->accept) != 0) {
    client_fail(c, FAIL_ACCEPT, "Sec-WebSocket-Accept missing or wrong");
    return;
  }
  /* Frames may follow the head in the same read. */
  {
    uint32_t rest = c->pend_len - (uint32_t)head_len;
    uint8_t *tail = NULL;
    if (rest) {
      tail = malloc(rest);
      if (!tail)
        die("out of memory");
      memcpy(tail, c->pend + head_len, rest);
    }
    c->pend_len = 0;
    if (c->pend_cap > 4096) {
      free(c->pend);
      c->pend = NULL;
      c->pend_cap = 0;
    }
    on_open(c);
    if (rest && c->state == CS_OPEN)
      feed_frames(c, tail, rest, now);
    free(tail);
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  /* One buffer for everybody: a read is consumed before the next starts. */
  *buf = uv_buf_init((char *)read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  client *c = s->data;
  uint64_t now;

  (void)buf;
  if (nread == 0)
    return;
  if (nread < 0) {
    if (c->state == CS_HTTP)
      client_fail(c, FAIL_EOF,
                  nread == UV_EOF ? "closed before 101"
                                  : uv_strerror((int)nread));
    else if (c->state == CS_CLOSING)
      client_close(c);
    else
      client_lost(c);
    return;
  }
  now = uv_hrtime();
  if (c->state == CS_HTTP)
    feed_http(c, read_buf, (size_t)nread, now);
  else if (c->state == CS_OPEN || c->state == CS_CLOSING)
    feed_frames(c, read_buf, (size_t)nread, now);
}

static void on_connect(uv_connect_t *req, int status) {
  client *c = req->data;
  char nonce_key[SB_WS_KEY_LEN + 1], req_buf[768];
  uint8_t nonce[16];
  int len;

  if (c->state != CS_TCP)
    return;
  if (status < 0) {
    client_fail(c, FAIL_TCP, uv_strerror(status));
    return;
  }
  for (int i = 0; i < 16; i += 8) {
    uint64_t r = rnd();
    memcpy(nonce + i, &r, 8);
  }
  sb_ws_make_key(nonce, nonce_key);
  if (sb_ws_accept_for(nonce_key, c->accept) < 0)
    die("libcrypto SHA-1 failed");
  {
    char query[300];
    if (B.rooms_given || !B.query[0])
      snprintf(query, sizeof query, "?room=%s%u", B.room_prefix, c->room);
    else
      snprintf(query, sizeof query, "?%s", B.query);
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
                   B.path, query, B.host, B.port, nonce_key, B.host, B.port);
  }
  c->state = CS_HTTP;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
    client_fail(c, FAIL_TCP, "uv_read_start failed");
    return;
  }
  send_raw(c, req_buf, (size_t)len);
}

static void client_start(client *c) {
  int r;

  r = uv_tcp_init(B.loop, &c->tcp);
  if (r < 0)
    die("uv_tcp_init: %s", uv_strerror(r));
  c->tcp.data = c;
  c->creq.data = c;
  c->state = CS_TCP;
  c->t_connect = uv_hrtime();
  B.pending++;
  B.live_handles++;
  uv_tcp_nodelay(&c->tcp, 1);
  if (B.source_ips > 1) {
    /* Client I speaks from 127.1.X.Y, as if from one of SOURCE_IPS hosts,
     * so that a per-address connection limit sees many clients. */
    struct sockaddr_in src;
    uint32_t k = c->idx % (uint32_t)B.source_ips;
    char ip[32];
    snprintf(ip, sizeof ip, "127.1.%u.%u", k / 250, k % 250 + 1);
    uv_ip4_addr(ip, 0, &src);
    r = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0);
    if (r < 0) {
      client_fail(c, FAIL_TCP, uv_strerror(r));
      return;
    }
  }
  r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&B.addr,
                     on_connect);
  if (r < 0)
    client_fail(c, FAIL_TCP, uv_strerror(r));
}

/* ---- phases ---- */

static void sample_server(sb_proc *p, int *ok) {
  *ok = B.server_pid > 0 && sb_proc_sample(B.server_pid, p) == 0;
}

static void start_closing(void);

static void on_phase_timer(uv_timer_t *t) {
  (void)t;
  if (B.phase == PH_WARMUP) {
    B.phase = PH_MEASURE;
    B.win0 = B.tot;
    sample_server(&B.srv_w0, &B.srv_ok_w0);
    B.own_cpu_w0 = own_cpu_s();
    B.mach_ok_w0 = sb_machine_sample(&B.mach_w0) == 0;
    B.win_start = B.phase_start = uv_hrtime();
    uv_timer_start(&B.phase_timer, on_phase_timer,
                   (uint64_t)(B.duration_s * 1000), 0);
  } else if (B.phase == PH_MEASURE) {
    start_closing();
  } else if (B.phase == PH_CLOSING) {
    /* The close handshake took too long: drop what is left. */
    for (uint32_t i = 0; i < B.next; i++)
      if (B.clients[i].state != CS_DEAD)
        client_close(&B.clients[i]);
  }
}

static void end_window(void) {
  for (uint32_t i = 0; i < B.next; i++)
    flush_segment(&B.clients[i]);
  B.win1 = B.tot;
  B.win_end = uv_hrtime();
  sample_server(&B.srv_w1, &B.srv_ok_w1);
  B.own_cpu_w1 = own_cpu_s();
  B.mach_ok_w1 = sb_machine_sample(&B.mach_w1) == 0;
  B.open_at_end = B.open;
}

static void start_closing(void) {
  static const uint8_t code[2] = {1000 >> 8, 1000 & 0xff};

  if (B.phase >= PH_CLOSING)
    return;
  if (B.phase == PH_MEASURE)
    end_window();
  B.phase = PH_CLOSING;
  B.phase_start = uv_hrtime();
  uv_timer_stop(&B.connect_timer);
  for (uint32_t i = 0; i < B.players; i++)
    player_stop(&B.pls[i]);
  for (uint32_t i = 0; i < B.next; i++) {
    client *c = &B.clients[i];
    if (c->state == CS_OPEN) {
      send_frame(c, SB_WS_CLOSE, code, 2);
      c->state = CS_CLOSING;
    } else if (c->state == CS_TCP || c->state == CS_HTTP) {
      B.pending--;
      client_close(c);
    }
  }
  uv_timer_start(&B.phase_timer, on_phase_timer, CLOSE_WAIT_MS, 0);
  finish_if_done();
}

static void finish_if_done(void) {
  if (B.phase != PH_CLOSING || B.live_handles > 0)
    return;
  B.phase = PH_DONE;
  uv_close((uv_handle_t *)&B.connect_timer, NULL);
  uv_close((uv_handle_t *)&B.progress_timer, NULL);
  uv_close((uv_handle_t *)&B.phase_timer, NULL);
  uv_close((uv_handle_t *)&B.sigint, NULL);
  uv_close((uv_handle_t *)&B.sigterm, NULL);
  for (uint32_t i = 0; i < B.players; i++)
    uv_close((uv_handle_t *)&B.pls[i].timer, NULL);
}

static void check_connect_done(void) {
  if (B.phase != PH_CONNECT || B.opened + B.failed < B.n)
    return;
  B.phase = PH_WARMUP;
  B.phase_start = uv_hrtime();
  uv_timer_start(&B.phase_timer, on_phase_timer, (uint64_t)(B.warmup_s * 1000),
                 0);
}

static void on_connect_timer(uv_timer_t *t) {
  uint64_t now = uv_hrtime();

  if (B.connect_rate > 0) {
    double burst = B.connect_rate * 0.02 > 1 ? B.connect_rate * 0.02 : 1;
    B.tokens += (double)(now - B.last_token) * B.connect_rate / 1e9;
    if (B.tokens > burst)
      B.tokens = burst;
  }
  B.last_token = now;
  while (B.next < B.n && B.pending < B.max_pending &&
         (B.connect_rate <= 0 || B.tokens >= 1)) {
    client_start(&B.clients[B.next++]);
    B.tokens -= 1;
  }
  if (B.next >= B.n)
    uv_timer_stop(t);
}

static void on_progress(uv_timer_t *t) {
  uint64_t now = uv_hrtime();
  double dt = (double)(now - B.prog_t) / 1e9;
  double cpu = own_cpu_s();
  counters d;
  char srv[48] = "";

  (void)t;
  /* Handshakes that hang, and a connect phase that never ends. */
  if (B.phase == PH_CONNECT) {
    for (uint32_t i = 0; i < B.next; i++) {
      client *c = &B.clients[i];
      if ((c->state == CS_TCP || c->state == CS_HTTP) &&
          now - c->t_connect > HANDSHAKE_TIMEOUT_NS)
        client_fail(c, FAIL_TIMEOUT, "no 101 within 15 s");
    }
    if ((double)(now - B.t0) / 1e9 > B.connect_timeout_s &&
        B.phase == PH_CONNECT) {
      fprintf(stderr, "snakepit-bench: connect phase timed out after %.0f s\n",
              B.connect_timeout_s);
      for (uint32_t i = B.next; i < B.n; i++) {
        B.fails[FAIL_TIMEOUT]++;
        B.failed++;
      }
      B.next = B.n;
      uv_timer_stop(&B.connect_timer);
      for (uint32_t i = 0; i < B.n; i++) {
        client *c = &B.clients[i];
        if (c->state == CS_TCP || c->state == CS_HTTP)
          client_fail(c, FAIL_TIMEOUT, "connect phase timed out");
      }
      check_connect_done();
    }
  }
  /* With every connection gone there is nothing left to measure. */
  if ((B.phase == PH_WARMUP || B.phase == PH_MEASURE) && B.open == 0) {
    fprintf(stderr, "snakepit-bench: no connection left open, stopping\n");
    start_closing();
  }
  d.frames = B.tot.frames - B.prog_last.frames;
  d.bytes = B.tot.bytes - B.prog_last.bytes;
  d.tick_frames = B.tot.tick_frames - B.prog_last.tick_frames;
  if (B.server_pid > 0) {
    sb_proc s;
    if (sb_proc_sample(B.server_pid, &s) == 0) {
      if (B.srv_prog_ok)
        snprintf(srv, sizeof srv, " | server cpu %3.0f%% rss %ld MiB",
                 100 * (s.cpu_s - B.srv_prog.cpu_s) / dt, s.rss_kib / 1024);
      B.srv_prog = s;
      B.srv_prog_ok = 1;
    } else {
      snprintf(srv, sizeof srv, " | server gone");
      B.srv_prog_ok = 0;
    }
  }
  if (!B.quiet && dt > 0)
    fprintf(stderr,
            "[%4.0fs] %-7s open %u/%u failed %" PRIu64 " dropped %" PRIu64
            " | %.0f msg/s %.0f render/s %.2f MB/s%s | own cpu %3.0f%%\n",
            (double)(now - B.t0) / 1e9, phase_names[B.phase], B.open, B.n,
            (uint64_t)B.failed, B.unexpected_closes, d.frames / dt,
            d.tick_frames / dt, d.bytes / dt / 1e6, srv,
            100 * (cpu - B.own_cpu_prog) / dt);
  B.prog_last = B.tot;
  B.prog_t = now;
  B.own_cpu_prog = cpu;
}

static void on_signal(uv_signal_t *s, int sig) {
  (void)s;
  fprintf(stderr, "snakepit-bench: signal %d, stopping\n", sig);
  if (B.phase < PH_CLOSING)
    start_closing();
}

/* ---- report ---- */

typedef struct jbuf {
  char s[8192];
  size_t n;
} jbuf;

static void jadd(jbuf *j, const char *fmt, ...) {
  va_list ap;
  int r;
  if (j->n >= sizeof j->s)
    return;
  va_start(ap, fmt);
  r = vsnprintf(j->s + j->n, sizeof j->s - j->n, fmt, ap);
  va_end(ap);
  if (r > 0)
    j->n += (size_t)r;
}

static void jnum(jbuf *j, const char *key, double v, int ok) {
  if (!ok || !isfinite(v))
    jadd(j, ",\"%s\":null", key);
  else if (v == floor(v) && fabs(v) < 1e15)
    jadd(j, ",\"%s\":%.0f", key, v);
  else
    jadd(j, ",\"%s\":%.3f", key, v);
}

/* The members of rooms in which someone plays, each owed one render frame
 * per tick while the game runs. */
static double expected_members(void) {
  uint32_t rooms = B.rooms_given || !B.query[0] ? B.rooms : 1;
  uint32_t playing = B.players < rooms ? B.players : rooms;
  double m = 0;
  for (uint32_t r = 0; r < playing; r++)
    m += B.n / rooms + (r < B.n % rooms ? 1 : 0);
  return m;
}

static void report(void) {
  double win =
      B.win_end > B.win_start ? (double)(B.win_end - B.win_start) / 1e9 : 0;
  int have = win > 0;
  counters w = {B.win1.frames - B.win0.frames, B.win1.bytes - B.win0.bytes,
                B.win1.tick_frames - B.win0.tick_frames,
                B.win1.control - B.win0.control};
  double msgs = have ? w.frames / win : 0, bytes = have ? w.bytes / win : 0;
  double renders = have ? w.tick_frames / win : 0;
  double expected = expected_members() * B.tick_rate;
  double lost_r = (double)B.lost_ticks;
  double loss_ratio = B.gap_n ? lost_r / ((double)B.gap_n + lost_r) : 0;
  double tick_obs = B.gap_sum_ns > 0 ? (double)B.gap_n * 1e9 / B.gap_sum_ns : 0;
  int srv = B.srv_ok_w0 && B.srv_ok_w1;
  double srv_cpu = srv ? B.srv_w1.cpu_s - B.srv_w0.cpu_s : 0;
  double srv_us = srv && w.frames ? srv_cpu * 1e6 / (double)w.frames : 0;
  double rss = srv ? (double)B.srv_w1.rss_kib : 0;
  double rss_before = B.srv_ok_before ? (double)B.srv_before.rss_kib : 0;
  double rss_conn = srv && B.srv_ok_before && B.open_at_end
                        ? (rss - rss_before) * 1024 / B.open_at_end
                        : 0;
  double own = B.own_cpu_w1 - B.own_cpu_w0;
  double own_pct = have ? 100 * own / win : 0;
  double own_us = w.frames ? own * 1e6 / (double)w.frames : 0;
  int saturated = own_pct > 85;
  /* The whole machine: what the server and the generator left to the
   * kernel's unattributed work and to other processes. */
  int mach = have && B.mach_ok_w0 && B.mach_ok_w1;
  double mach_busy = mach ? B.mach_w1.busy_s - B.mach_w0.busy_s : 0;
  double mach_pct = mach ? 100 * mach_busy / win : 0;
  double mach_other_pct = mach_pct - own_pct - (srv ? 100 * srv_cpu / win : 0);
  int mach_cpus = B.mach_ok_w1 ? B.mach_w1.cpus : 0;
  uint64_t fails = B.failed;
  jbuf j = {.n = 0};

  if (!B.json_only) {
    printf("snakepit-bench: %u clients, %u rooms, %u players, tick %.4g Hz, "
           "window %.1f s\n",
           B.n, B.rooms_given || !B.query[0] ? B.rooms : 1, B.players,
           B.tick_rate, win);
    printf("connections:  %u opened, %" PRIu64 " failed", B.opened, fails);
    for (int k = 0; k < FAIL_KINDS; k++)
      if (B.fails[k])
        printf(" [%s %" PRIu64 ": %s]", fail_names[k], B.fails[k],
               B.first_fail[k][0] ? B.first_fail[k] : "-");
    printf(", %" PRIu64 " unexpected closes, %" PRIu64 " protocol errors\n",
           B.unexpected_closes, B.protocol_errors);
    printf("delivered:    %.0f msgs/s, %.2f MB/s; render frames %.0f/s of %.0f "
           "expected "
           "(%.1f%%), lost ~%.0f (%.3f%%), observed tick %.3f Hz\n",
           msgs, bytes / 1e6, renders, expected,
           expected > 0 ? 100 * renders / expected : 0, lost_r,
           100 * loss_ratio, tick_obs);
    printf("broadcast gap: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%" PRIu64
           " gaps; target p99 <= %.1f ms)\n",
           sb_hist_quantile_ms(&B.gaps, 0.5),
           sb_hist_quantile_ms(&B.gaps, 0.99), sb_hist_max_ms(&B.gaps),
           B.gaps.count, 1.25 * 1000 / B.tick_rate);
    if (B.players)
      printf("key to effect: p50 %.2f ms, p99 %.2f ms (%" PRIu64
             " turns measured, %" PRIu64 " unobserved, %" PRIu64
             " superseded; %" PRIu64 " keys, %" PRIu64 " joins, %" PRIu64
             " refused, %" PRIu64 " deaths)\n",
             sb_hist_quantile_ms(&B.keylat, 0.5),
             sb_hist_quantile_ms(&B.keylat, 0.99), B.turns_measured,
             B.turns_unobserved, B.turns_superseded, B.keys_sent, B.joins_sent,
             B.join_refused, B.deaths);
    if (srv)
      printf("server:       cpu %.2f s (%.0f%% of a core), %.2f us/msg, rss "
             "%.0f KiB "
             "(before %.0f KiB), %.0f bytes/conn\n",
             srv_cpu, have ? 100 * srv_cpu / win : 0, srv_us, rss, rss_before,
             rss_conn);
    else if (B.server_pid > 0)
      printf("server:       pid %d could not be sampled\n", B.server_pid);
    printf(
        "generator:    cpu %.2f s (%.0f%% of a core), %.2f us/msg%s\n", own,
        own_pct, own_us,
        saturated
            ? "  WARNING: the load generator is near saturation; figures may "
              "show its limit, not the server's"
            : "");
    if (mach)
      printf("machine:      %d CPUs, %.0f%% of a core busy in all (%.0f%% "
             "neither server nor generator: kernel work, other processes)\n",
             mach_cpus, mach_pct, mach_other_pct);
  }
  jadd(&j, "{\"tool\":\"snakepit-bench\",\"version\":1");
  jadd(&j, ",\"url\":\"ws://%s:%d%s\"", B.host, B.port, B.path);
  jnum(&j, "clients", B.n, 1);
  jnum(&j, "source_ips", (double)B.source_ips, 1);
  jnum(&j, "rooms", B.rooms_given || !B.query[0] ? B.rooms : 1, 1);
  jnum(&j, "players", B.players, 1);
  jnum(&j, "tick_rate", B.tick_rate, 1);
  jnum(&j, "warmup_s", B.warmup_s, 1);
  jnum(&j, "duration_s", win, 1);
  jnum(&j, "connected", B.opened, 1);
  jnum(&j, "open_at_end", B.open_at_end, 1);
  jnum(&j, "connect_failures", (double)fails, 1);
  for (int k = 0; k < FAIL_KINDS; k++) {
    char key[40];
    snprintf(key, sizeof key, "connect_fail_%s", fail_names[k]);
    jnum(&j, key, (double)B.fails[k], 1);
  }
  jnum(&j, "unexpected_closes", (double)B.unexpected_closes, 1);
  jnum(&j, "protocol_errors", (double)B.protocol_errors, 1);
  jnum(&j, "write_errors", (double)B.write_errors, 1);
  jnum(&j, "bad_json", (double)B.bad_json, 1);
  jnum(&j, "msgs_per_s", msgs, have);
  jnum(&j, "bytes_per_s", bytes, have);
  jnum(&j, "render_frames_per_s", renders, have);
  jnum(&j, "expected_msgs_per_s", expected, 1);
  jnum(&j, "delivery_ratio", expected > 0 ? renders / expected : 0,
       have && expected > 0);
  jnum(&j, "frames_lost_est", lost_r, B.gap_n > 0);
  jnum(&j, "frames_extra", (double)B.extra_frames, B.gap_n > 0);
  jnum(&j, "loss_ratio", loss_ratio, B.gap_n > 0);
  jnum(&j, "tick_rate_observed", tick_obs, B.gap_n > 0);
  jnum(&j, "gap_p50_ms", sb_hist_quantile_ms(&B.gaps, 0.5), B.gaps.count > 0);
  jnum(&j, "gap_p99_ms", sb_hist_quantile_ms(&B.gaps, 0.99), B.gaps.count > 0);
  jnum(&j, "gap_max_ms", sb_hist_max_ms(&B.gaps), B.gaps.count > 0);
  jnum(&j, "gap_count", (double)B.gaps.count, 1);
  jnum(&j, "key_p50_ms", sb_hist_quantile_ms(&B.keylat, 0.5),
       B.keylat.count > 0);
  jnum(&j, "key_p99_ms", sb_hist_quantile_ms(&B.keylat, 0.99),
       B.keylat.count > 0);
  jnum(&j, "key_max_ms", sb_hist_max_ms(&B.keylat), B.keylat.count > 0);
  jnum(&j, "key_count", (double)B.keylat.count, 1);
  jnum(&j, "key_unobserved", (double)B.turns_unobserved, 1);
  jnum(&j, "key_superseded", (double)B.turns_superseded, 1);
  jnum(&j, "keys_sent", (double)B.keys_sent, 1);
  jnum(&j, "joins_sent", (double)B.joins_sent, 1);
  jnum(&j, "joins_refused", (double)B.join_refused, 1);
  jnum(&j, "deaths", (double)B.deaths, 1);
  jnum(&j, "tracks_lost", (double)B.tracks_lost, 1);
  jnum(&j, "server_pid", B.server_pid, B.server_pid > 0);
  jnum(&j, "server_cpu_s", srv_cpu, srv);
  jnum(&j, "server_cpu_pct", have ? 100 * srv_cpu / win : 0, srv && have);
  jnum(&j, "server_cpu_us_per_msg", srv_us, srv && w.frames);
  jnum(&j, "server_rss_kib", rss, srv);
  jnum(&j, "server_rss_before_kib", rss_before, B.srv_ok_before);
  jnum(&j, "server_rss_per_conn_bytes", rss_conn,
       srv && B.srv_ok_before && B.open_at_end);
  jnum(&j, "bench_cpu_s", own, have);
  jnum(&j, "bench_cpu_pct", own_pct, have);
  jnum(&j, "bench_cpu_us_per_msg", own_us, have && w.frames);
  jnum(&j, "machine_cpus", mach_cpus, mach);
  jnum(&j, "machine_cpu_pct", mach_pct, mach);
  jnum(&j, "machine_other_cpu_pct", mach_other_pct, mach && srv);
  jnum(&j, "machine_us_per_msg",
       w.frames ? mach_busy * 1e6 / (double)w.frames : 0, mach && w.frames);
  jadd(&j, ",\"bench_saturated\":%s}", saturated ? "true" : "false");
  puts(j.s);
  fflush(stdout);
}

/* ---- options ---- */

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: snakepit-bench [options] [ws://HOST:PORT/connect]\n"
      "  --url URL            server URL (default "
      "ws://127.0.0.1:8080/connect)\n"
      "  -c, --clients N      connections (default 100)\n"
      "  -r, --rooms R        spread clients round-robin over rooms "
      "PREFIX0..R-1\n"
      "                       (default 1; without it a ?query in the URL is "
      "kept)\n"
      "      --room-prefix S  room name prefix (default bench-)\n"
      "  -p, --players K      clients that play; the others watch (default 0)\n"
      "      --key-interval MS  a random arrow key every MS ms (default 250)\n"
      "      --rejoin-delay MS  join again MS ms after dying (default 2000)\n"
      "      --connect-rate N   new connections per second, 0 = no limit "
      "(default 1000)\n"
      "      --max-pending N    handshakes in flight at once (default 256)\n"
      "      --connect-timeout S  give up connecting after S s (default 30 + "
      "2*N/rate)\n"
      "  -w, --warmup S       seconds between the last connect and the window "
      "(default 5)\n"
      "  -d, --duration S     measured window in seconds (default 20)\n"
      "  -t, --tick-rate HZ   the server's tick rate (default 20)\n"
      "      --server-pid PID sample the server's CPU time and RSS from /proc\n"
      "      --source-ips K|auto  connect from K loopback addresses 127.1.x.y, "
      "as K\n"
      "                       hosts would (default auto: 32 clients per "
      "address on\n"
      "                       a loopback target, else 1 = no bind)\n"
      "      --seed N         random seed (default: from the system)\n"
      "      --json           print only the JSON line on stdout\n"
      "  -q, --quiet          no progress lines on stderr\n"
      "  -h, --help\n");
}

static double num_arg(const char *opt, const char *s, double lo, double hi) {
  char *end;
  double v;
  errno = 0;
  v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi))
    die("%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
  return v;
}

static void parse_url(const char *url) {
  const char *p, *host_end, *path;
  size_t hl;

  if (strncmp(url, "ws://", 5) != 0)
    die("URL must start with ws:// (got '%s')", url);
  p = url + 5;
  if (*p == '[') {
    host_end = strchr(p, ']');
    if (!host_end)
      die("bad IPv6 host in '%s'", url);
    hl = (size_t)(host_end - p - 1);
    if (hl >= sizeof B.host)
      die("host too long");
    memcpy(B.host, p + 1, hl);
    B.host[hl] = '\0';
    p = host_end + 1;
  } else {
    hl = strcspn(p, ":/?");
    if (hl == 0 || hl >= sizeof B.host)
      die("bad host in '%s'", url);
    memcpy(B.host, p, hl);
    B.host[hl] = '\0';
    p += hl;
  }
  B.port = 80;
  if (*p == ':') {
    char *end;
    long port = strtol(p + 1, &end, 10);
    if (end == p + 1 || port < 1 || port > 65535)
      die("bad port in '%s'", url);
    B.port = (int)port;
    p = end;
  }
  path = p;
  {
    size_t pl = strcspn(path, "?");
    if (pl == 0) {
      strcpy(B.path, "/");
    } else {
      if (pl >= sizeof B.path)
        die("path too long");
      memcpy(B.path, path, pl);
      B.path[pl] = '\0';
    }
    if (path[pl] == '?')
      snprintf(B.query, sizeof B.query, "%s", path + pl + 1);
    if (B.path[0] != '/')
      die("bad path in '%s'", url);
  }
  /* Only a literal address (or localhost): no name lookups, no surprises. */
  if (strcmp(B.host, "localhost") == 0)
    strcpy(B.host, "127.0.0.1");
  if (uv_ip4_addr(B.host, B.port, (struct sockaddr_in *)&B.addr) != 0 &&
      uv_ip6_addr(B.host, B.port, (struct sockaddr_in6 *)&B.addr) != 0)
    die("host must be an IP address or localhost (got '%s')", B.host);
}

static void raise_nofile(uint64_t need) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return;
  if (rl.rlim_cur >= need)
    return;
  if (rl.rlim_max < need) {
    struct rlimit up = {need, need};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0)
      return;
  }
  rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < need)
    fprintf(
        stderr,
        "snakepit-bench: warning: only %llu file descriptors for %llu needed\n",
        (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

int main(int argc, char **argv) {
  enum {
    O_URL = 256,
    O_SRC,
    O_KEY,
    O_REJOIN,
    O_RATE,
    O_PENDING,
    O_CTIMEOUT,
    O_PID,
    O_JSON,
    O_SEED,
    O_PREFIX
  };
  static const struct option opts[] = {
      {"url", required_argument, NULL, O_URL},
      {"clients", required_argument, NULL, 'c'},
      {"rooms", required_argument, NULL, 'r'},
      {"room-prefix", required_argument, NULL, O_PREFIX},
      {"players", required_argument, NULL, 'p'},
      {"key-interval", required_argument, NULL, O_KEY},
      {"rejoin-delay", required_argument, NULL, O_REJOIN},
      {"connect-rate", required_argument, NULL, O_RATE},
      {"max-pending", required_argument, NULL, O_PENDING},
      {"connect-timeout", required_argument, NULL, O_CTIMEOUT},
      {"warmup", required_argument, NULL, 'w'},
      {"duration", required_argument, NULL, 'd'},
      {"tick-rate", required_argument, NULL, 't'},
      {"server-pid", required_argument, NULL, O_PID},
      {"source-ips", required_argument, NULL, O_SRC},
      {"seed", required_argument, NULL, O_SEED},
      {"json", no_argument, NULL, O_JSON},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *url = "ws://127.0.0.1:8080/connect";
  int opt, url_given = 0;

  B.n = 100;
  B.rooms = 1;
  B.key_interval_ms = 250;
  B.rejoin_delay_ms = 2000;
  B.connect_rate = 1000;
  B.max_pending = 256;
  B.warmup_s = 5;
  B.duration_s = 20;
  B.tick_rate = 20;
  B.connect_timeout_s = -1;
  B.source_ips = -1;
  strcpy(B.room_prefix, "bench-");
  while ((opt = getopt_long(argc, argv, "c:r:p:w:d:t:qh", opts, NULL)) != -1) {
    switch (opt) {
    case O_URL:
      url = optarg;
      url_given = 1;
      break;
    case 'c':
      B.n = (uint32_t)num_arg("--clients", optarg, 1, 500000);
      break;
    case 'r':
      B.rooms = (uint32_t)num_arg("--rooms", optarg, 1, 500000);
      B.rooms_given = 1;
      break;
    case O_PREFIX:
      if (strlen(optarg) > 20 ||
          strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0"
                         "123456789_-") != strlen(optarg))
        die("--room-prefix: up to 20 of A-Z a-z 0-9 _ -");
      strcpy(B.room_prefix, optarg);
      break;
    case 'p':
      B.players = (uint32_t)num_arg("--players", optarg, 0, 500000);
      break;
    case O_KEY:
      B.key_interval_ms =
          (uint32_t)num_arg("--key-interval", optarg, 1, 3600000);
      break;
    case O_REJOIN:
      B.rejoin_delay_ms =
          (uint32_t)num_arg("--rejoin-delay", optarg, 0, 3600000);
      break;
    case O_RATE:
      B.connect_rate = num_arg("--connect-rate", optarg, 0, 1e7);
      break;
    case O_PENDING:
      B.max_pending = (uint32_t)num_arg("--max-pending", optarg, 1, 500000);
      break;
    case O_CTIMEOUT:
      B.connect_timeout_s = num_arg("--connect-timeout", optarg, 1, 86400);
      break;
    case 'w':
      B.warmup_s = num_arg("--warmup", optarg, 0, 86400);
      break;
    case 'd':
      B.duration_s = num_arg("--duration", optarg, 0.1, 86400);
      break;
    case 't':
      B.tick_rate = num_arg("--tick-rate", optarg, 0.01, 10000);
      break;
    case O_PID:
      B.server_pid = (int)num_arg("--server-pid", optarg, 1, 1 << 30);
      break;
    case O_SRC:
      B.source_ips = strcmp(optarg, "auto") == 0
                         ? -1
                         : (long)num_arg("--source-ips", optarg, 1, 62500);
      break;
    case O_SEED:
      B.seed = (uint64_t)num_arg("--seed", optarg, 1, 1e18);
      break;
    case O_JSON:
      B.json_only = 1;
      break;
    case 'q':
      B.quiet = 1;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    if (url_given || optind + 1 < argc)
      die("one URL only");
    url = argv[optind];
  }
  parse_url(url);
  if (B.source_ips < 0) {
    /* Auto: at most 32 clients per source address on loopback. */
    int loopback =
        B.addr.ss_family == AF_INET &&
        (ntohl(((struct sockaddr_in *)&B.addr)->sin_addr.s_addr) >> 24) == 127;
    B.source_ips = loopback ? (long)((B.n + 31) / 32) : 1;
  }
  if (B.source_ips > 1 &&
      !(B.addr.ss_family == AF_INET &&
        (ntohl(((struct sockaddr_in *)&B.addr)->sin_addr.s_addr) >> 24) == 127))
    die("--source-ips needs an IPv4 loopback server address");
  if (B.players > B.n)
    B.players = B.n;
  if (B.connect_timeout_s < 0)
    B.connect_timeout_s =
        30 + (B.connect_rate > 0 ? 2.0 * B.n / B.connect_rate : 0);
  if (B.seed == 0 && getrandom(&B.seed, sizeof B.seed, 0) != sizeof B.seed)
    B.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  B.rng = B.seed | 1;
  raise_nofile((uint64_t)B.n + 64);
  signal(SIGPIPE, SIG_IGN);

  if (sb_hist_init(&B.gaps) < 0 || sb_hist_init(&B.keylat) < 0)
    die("out of memory");
  B.clients = calloc(B.n, sizeof *B.clients);
  B.pls = calloc(B.players ? B.players : 1, sizeof *B.pls);
  if (!B.clients || !B.pls)
    die("out of memory");
  B.loop = uv_default_loop();
  for (uint32_t i = 0; i < B.n; i++) {
    client *c = &B.clients[i];
    c->idx = i;
    c->room = i % B.rooms;
    if (i < B.players) {
      player *pl = &B.pls[i];
      c->pl = pl;
      pl->c = c;
      uv_timer_init(B.loop, &pl->timer);
      pl->timer.data = pl;
    }
  }
  uv_timer_init(B.loop, &B.connect_timer);
  uv_timer_init(B.loop, &B.progress_timer);
  uv_timer_init(B.loop, &B.phase_timer);
  uv_signal_init(B.loop, &B.sigint);
  uv_signal_init(B.loop, &B.sigterm);
  uv_signal_start(&B.sigint, on_signal, SIGINT);
  uv_signal_start(&B.sigterm, on_signal, SIGTERM);

  sample_server(&B.srv_before, &B.srv_ok_before);
  if (B.server_pid > 0 && !B.srv_ok_before)
    fprintf(stderr, "snakepit-bench: cannot read /proc/%d; no server figures\n",
            B.server_pid);
  B.t0 = B.prog_t = B.last_token = B.phase_start = uv_hrtime();
  B.own_cpu_prog = own_cpu_s();
  B.phase = PH_CONNECT;
  B.tokens = 1;
  uv_timer_start(&B.connect_timer, on_connect_timer, 0, 5);
  uv_timer_start(&B.progress_timer, on_progress, 1000, 1000);
  uv_run(B.loop, UV_RUN_DEFAULT);

  report();
  uv_loop_close(B.loop);
  sb_hist_free(&B.gaps);
  sb_hist_free(&B.keylat);
  free(B.clients);
  free(B.pls);
  return B.win_end > B.win_start ? 0 : 1;
}
