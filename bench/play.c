/* play.c: see play.h. */
#include "play.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"
#include "util.h"

/* Live snakes a player keeps track of per room. */
#define MAX_HEADS 24
/* A join without an answer is sent again after this. */
#define JOIN_WAIT_MS 5000

enum sb__tmode { TM_NONE, TM_KEY, TM_REJOIN, TM_JOINWAIT };

/* The head of a live snake as seen in the latest render frame. FLAG: 0 some
 * other snake, 1 maybe ours (born while we waited for our birth), 2 ours;
 * 3 only inside sb__process_heads, for a newborn not yet compared. */
typedef struct sb__head {
  int16_t x, y;
  uint8_t colour;
  uint8_t flag;
  uint8_t young; /* Born in the latest frame. */
} sb__head;

/* The state of a playing client. */
struct sb_player {
  uv_timer_t timer; /* Key presses, rejoin delay, join watchdog (see tmode). */
  sb_client *c;
  sb_play *play;
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
  sb__head heads[MAX_HEADS];
};

/* What this layer keeps for every client. */
struct sb_member {
  sb_player *pl; /* NULL for a spectator. */
  sb_track track;
};

static uint64_t sb__rnd(sb_player *pl) {
  return sb_rng_next(&pl->play->fleet->rng);
}

/* ---- the player's timer ---- */

static void sb__on_player_timer(uv_timer_t *t);

/* The player's one timer serves key presses, the rejoin delay and the join
 * watchdog, one at a time. */
static void sb__timer_start(sb_player *pl, enum sb__tmode mode, uint64_t first,
                            uint64_t repeat) {
  pl->tmode = (uint8_t)mode;
  uv_timer_start(&pl->timer, sb__on_player_timer, first, repeat);
}

static void sb__timer_stop(sb_player *pl) {
  if (pl && !uv_is_closing((uv_handle_t *)&pl->timer))
    uv_timer_stop(&pl->timer);
}

static void sb__send_join(sb_player *pl) {
  sb_client_send_text(pl->c, "[\"join\"]");
  pl->play->stats.joins_sent++;
  sb__timer_start(pl, TM_JOINWAIT, JOIN_WAIT_MS, 0);
}

static void sb__send_key(sb_player *pl, uint64_t now) {
  sb_meas *m = pl->play->meas;
  int key = 37 + (int)(sb__rnd(pl) % 4);
  int kdir = key - 37;
  char s[8];

  snprintf(s, sizeof s, "%d", key);
  if (pl->turn_pending) {
    /* A second key before the first showed: neither is measurable. */
    pl->turn_pending = 0;
    sb_meas_turn_superseded(m);
  } else if (m->active && pl->have_mine && pl->dir_known &&
             pl->moves_since_key >= 2 && kdir != pl->dir &&
             kdir != (pl->dir + 2) % 4) {
    /* A real turn: the same direction or a reversal changes nothing. */
    pl->turn_pending = 1;
    pl->turn_dir = (uint8_t)kdir;
    pl->turn_moves = 0;
    pl->turn_sent = now;
    sb_meas_turn_sent(m);
  }
  pl->moves_since_key = 0;
  sb_client_send_text(pl->c, s);
  pl->play->stats.keys_sent++;
}

static void sb__on_player_timer(uv_timer_t *t) {
  sb_player *pl = t->data;

  if (pl->play->fleet->closing || pl->c->state != SB_CS_OPEN)
    return;
  switch (pl->tmode) {
  case TM_KEY:
    if (pl->alive)
      sb__send_key(pl, uv_hrtime());
    break;
  case TM_REJOIN: sb__send_join(pl); break;
  case TM_JOINWAIT:
    pl->play->stats.join_retries++;
    sb__send_join(pl);
    break;
  default: break;
  }
}

/* ---- following our own snake ---- */

static void sb__forget_candidates(sb_player *pl) {
  for (int i = 0; i < pl->nheads; i++)
    pl->heads[i].flag = 0;
  pl->awaiting = pl->have_mine = pl->dir_known = pl->turn_pending = 0;
}

/* Exactly one candidate left: that head is ours. */
static void sb__resolve_candidates(sb_player *pl) {
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

static void sb__own_joined(sb_player *pl, int colour) {
  uint32_t every = pl->play->fleet->opt->key_interval_ms;

  sb__forget_candidates(pl);
  pl->alive = 1;
  pl->colour = colour;
  pl->awaiting = 1;
  pl->await_frames = 0;
  pl->moves_since_key = 0;
  /* Our server sends p_joined at the join and draws the snake at the next
   * tick. A server that drew it first would have done so in the latest
   * frame: its newborn heads of our colour stay candidates unless the next
   * frame brings a newborn of our colour (see sb__process_heads). */
  for (int i = 0; i < pl->nheads; i++)
    if (pl->heads[i].young && pl->heads[i].colour == colour)
      pl->heads[i].flag = 1;
  sb__timer_start(pl, TM_KEY, 1 + sb__rnd(pl) % every, every);
}

static void sb__own_died(sb_player *pl) {
  if (pl->alive)
    pl->play->stats.deaths++;
  pl->alive = 0;
  sb__forget_candidates(pl);
  sb__timer_start(pl, TM_REJOIN, pl->play->fleet->opt->rejoin_delay_ms, 0);
}

/* Our head moved by (DX, DY): that is the direction the server applied. */
static void sb__own_moved(sb_player *pl, int dx, int dy, uint64_t now) {
  uint8_t mdir = dx < 0 ? 0 : dy < 0 ? 1 : dx > 0 ? 2 : 3;

  if (pl->moves_since_key < 255)
    pl->moves_since_key++;
  if (pl->turn_pending) {
    if (mdir == pl->turn_dir) {
      pl->turn_pending = 0;
      sb_meas_turn_shown(pl->play->meas, now - pl->turn_sent);
    } else if (++pl->turn_moves >= 5) {
      pl->turn_pending = 0;
      sb_meas_turn_unobserved(pl->play->meas);
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
static void sb__process_heads(sb_player *pl, sb__head *nh, int nn,
                              uint64_t now) {
  uint8_t used[MAX_HEADS] = {0};
  int mine_found = 0, newborn = 0;

  for (int i = 0; i < nn; i++) {
    sb__head *n = &nh[i];
    n->flag = 0;
    n->young = 1;
    for (int j = 0; j < pl->nheads; j++) {
      sb__head *h = &pl->heads[j];
      int dx = n->x - h->x, dy = n->y - h->y;
      if (used[j] || h->colour != n->colour || abs(dx) + abs(dy) != 1)
        continue;
      used[j] = 1;
      n->flag = h->flag;
      n->young = 0;
      if (h->flag == 2) {
        mine_found = 1;
        sb__own_moved(pl, dx, dy, now);
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
    pl->play->stats.tracks_lost++;
    pl->have_mine = pl->dir_known = pl->turn_pending = 0;
  }
  if (pl->awaiting) {
    if (pl->await_frames < 255)
      pl->await_frames++;
    sb__resolve_candidates(pl);
  }
}

/* ---- frames ---- */

static int sb__name_is(const char *name, size_t len, const char *lit) {
  return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

/* Walks a whole frame for a player. Sets *TICK for a render frame and
 * *RESET when the field was cleared. */
static void sb__player_frame(sb_player *pl, const char *p, size_t n,
                             uint64_t now, int *tick, int *reset) {
  sb__head nh[MAX_HEADS];
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
    if (sb__name_is(name, nlen, "render")) {
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
    } else if (sb__name_is(name, nlen, "p_joined")) {
      if (sb_accept(&a, ',') && sb_read_int(&a, &id) == 0 && id == pl->id &&
          sb_accept(&a, ',') && sb_skip_value(&a) == 0 && sb_accept(&a, ',') &&
          sb_read_int(&a, &col) == 0)
        sb__own_joined(pl, (int)col);
    } else if (sb__name_is(name, nlen, "p_gameover")) {
      if (sb_accept(&a, ',') && sb_read_int(&a, &id) == 0 && id == pl->id)
        sb__own_died(pl);
    } else if (sb__name_is(name, nlen, "reset_world")) {
      *reset = 1;
    } else if (sb__name_is(name, nlen, "handshake")) {
      if (sb_accept(&a, ',') && sb_skip_value(&a) == 0 && sb_accept(&a, ',') &&
          sb_read_int(&a, &id) == 0 && pl->id == 0) {
        pl->id = id;
        sb__send_join(pl);
      }
    } else if (sb__name_is(name, nlen, "error")) {
      /* "Maximum players reached": try again later, as a person would. */
      if (!pl->alive && pl->tmode == TM_JOINWAIT) {
        pl->play->stats.join_refused++;
        sb__timer_start(pl, TM_REJOIN, pl->play->fleet->opt->rejoin_delay_ms,
                        0);
      }
    }
  }
  if (r < 0)
    pl->play->stats.bad_json++;
  else if (ncmd == 0)
    *tick = 1; /* "[]": a tick in which nothing changed. */
  if (*tick)
    sb__process_heads(pl, nh, nn, now);
}

/* A spectator only needs to know whether this is the tick's render frame and
 * whether the field was reset; most frames answer on their first bytes. */
static void sb__spectator_frame(sb_play *play, const char *p, size_t n,
                                int *tick, int *reset) {
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
    if (sb__name_is(name, nlen, "render"))
      *tick = 1;
    else if (sb__name_is(name, nlen, "reset_world"))
      *reset = 1;
  }
  if (r < 0)
    play->stats.bad_json++;
  else if (ncmd == 0)
    *tick = 1;
}

/* ---- the client callbacks ---- */

static void sb__on_open(sb_client *c) {
  char msg[64];
  snprintf(msg, sizeof msg, "[\"new_player\",\"b%u\"]", c->idx);
  sb_client_send_text(c, msg);
}

static void sb__on_text(sb_client *c, const char *p, size_t n, uint64_t now) {
  sb_play *play = c->fleet->data;
  sb_member *m = c->data;
  int tick = 0, reset = 0;

  if (m->pl)
    sb__player_frame(m->pl, p, n, now, &tick, &reset);
  else
    sb__spectator_frame(play, p, n, &tick, &reset);
  if (reset)
    sb_meas_restart(play->meas, &m->track);
  if (tick)
    sb_meas_render(play->meas, &m->track, now);
}

static void sb__on_closing(sb_client *c) {
  sb_play *play = c->fleet->data;
  sb_member *m = c->data;

  if (play->meas->active)
    sb_meas_flush(play->meas, &m->track);
  sb__timer_stop(m->pl);
}

const sb_client_cb sb_play_client_cb = {
    .open = sb__on_open,
    .text = sb__on_text,
    .closing = sb__on_closing,
};

/* ---- setup ---- */

int sb_play_init(sb_play *p, sb_fleet *f, sb_meas *m) {
  uint32_t n = f->opt->clients;

  memset(p, 0, sizeof *p);
  p->fleet = f;
  p->meas = m;
  p->nplayers = f->opt->players;
  p->members = calloc(n, sizeof *p->members);
  p->players = calloc(p->nplayers ? p->nplayers : 1, sizeof *p->players);
  if (!p->members || !p->players) {
    sb_play_free(p);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++) {
    sb_client *c = &f->clients[i];
    c->data = &p->members[i];
    if (i < p->nplayers) {
      sb_player *pl = &p->players[i];
      p->members[i].pl = pl;
      pl->c = c;
      pl->play = p;
      uv_timer_init(f->loop, &pl->timer);
      pl->timer.data = pl;
    }
  }
  return 0;
}

void sb_play_stop(sb_play *p) {
  for (uint32_t i = 0; i < p->nplayers; i++)
    sb__timer_stop(&p->players[i]);
}

void sb_play_flush(sb_play *p) {
  for (uint32_t i = 0; i < p->fleet->next; i++)
    sb_meas_flush(p->meas, &p->members[i].track);
}

void sb_play_close(sb_play *p) {
  for (uint32_t i = 0; i < p->nplayers; i++)
    uv_close((uv_handle_t *)&p->players[i].timer, NULL);
}

void sb_play_free(sb_play *p) {
  free(p->members);
  free(p->players);
  p->members = NULL;
  p->players = NULL;
}
