/* Room leases: claim, renew, re-claim, release, and the local deadline
 * that makes a lease lost by this node's own clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"
#include "cluster/scripts.h"
#include "core/log.h"

enum { L_CLAIMING, L_HELD };

struct sp__waiter {
  sp__waiter *next;
  sp_claim_cb cb;
  void *data;
  sp_claim_result result;
  uint64_t epoch;
  char owner[SP_NODE_ID_MAX + 1];
};

struct sp__lease {
  sp__lease *next; /* hash chain */
  char room[SP_ROOM_NAME_MAX + 1];
  int state;
  int cancelled; /* released while claiming */
  uint64_t epoch;
  uint64_t deadline_ns; /* uv_hrtime after which it is lost */
  sp__waiter *waiters;  /* claims waiting for the answer */
};

/* One claim's round trip. */
typedef struct sp__claim_req {
  sp_cluster *c;
  char room[SP_ROOM_NAME_MAX + 1];
  uint64_t sent_ns;
} sp__claim_req;

/* A renew or re-claim of many leases in one round trip. */
typedef struct sp__renew_req {
  sp_cluster *c;
  uint64_t sent_ns;
  size_t n;
  struct {
    char room[SP_ROOM_NAME_MAX + 1];
    uint64_t epoch;
  } rows[];
} sp__renew_req;

/* ---- the table ------------------------------------------------------ */

static uint64_t sp__lease_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

int sp__lease_init(sp_cluster *c) {
  c->nbuckets = 256;
  c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
  if (!c->buckets)
    return UV_ENOMEM;
  if (uv_mutex_init(&c->mu) < 0) {
    free(c->buckets);
    return UV_ENOMEM;
  }
  return 0;
}

static sp__lease *sp__lease_find(sp_cluster *c, const char *room) {
  for (sp__lease *l = c->buckets[sp__lease_hash(room) % c->nbuckets]; l;
       l = l->next)
    if (strcmp(l->room, room) == 0)
      return l;
  return NULL;
}

/* Doubles the buckets when the table is full, under the lock. */
static void sp__lease_grow(sp_cluster *c) {
  size_t nb = c->nbuckets * 2;
  sp__lease **b = calloc(nb, sizeof *b);
  if (!b)
    return; /* longer chains, still correct */
  for (size_t i = 0; i < c->nbuckets; i++) {
    sp__lease *l = c->buckets[i];
    while (l) {
      sp__lease *next = l->next;
      size_t k = sp__lease_hash(l->room) % nb;
      l->next = b[k];
      b[k] = l;
      l = next;
    }
  }
  free(c->buckets);
  c->buckets = b;
  c->nbuckets = nb;
}

static sp__lease *sp__lease_add(sp_cluster *c, const char *room) {
  sp__lease *l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  snprintf(l->room, sizeof l->room, "%s", room);
  l->state = L_CLAIMING;
  uv_mutex_lock(&c->mu);
  if (c->nleases >= c->nbuckets)
    sp__lease_grow(c);
  size_t k = sp__lease_hash(room) % c->nbuckets;
  l->next = c->buckets[k];
  c->buckets[k] = l;
  c->nleases++;
  uv_mutex_unlock(&c->mu);
  return l;
}

/* Unlinks and frees l; its waiters must have been answered. */
static void sp__lease_remove(sp_cluster *c, sp__lease *l) {
  uv_mutex_lock(&c->mu);
  sp__lease **p = &c->buckets[sp__lease_hash(l->room) % c->nbuckets];
  while (*p != l)
    p = &(*p)->next;
  *p = l->next;
  c->nleases--;
  if (l->state == L_HELD)
    c->st.leases_held--;
  uv_mutex_unlock(&c->mu);
  free(l);
}

int sp_cluster_lease_valid(sp_cluster *c, const char *room, uint64_t epoch) {
  uint64_t now = uv_hrtime();
  uv_mutex_lock(&c->mu);
  sp__lease *l = sp__lease_find(c, room);
  int ok = l && l->state == L_HELD && l->epoch == epoch && now < l->deadline_ns;
  uv_mutex_unlock(&c->mu);
  return ok;
}

int sp__lease_held_epoch(sp_cluster *c, const char *room, uint64_t *epoch) {
  sp__lease *l = sp__lease_find(c, room);
  if (!l || l->state != L_HELD || uv_hrtime() >= l->deadline_ns)
    return 0;
  *epoch = l->epoch;
  return 1;
}

void sp__lease_each_held(sp_cluster *c,
                         void (*fn)(void *arg, const char *room,
                                    uint64_t epoch),
                         void *arg) {
  for (size_t i = 0; i < c->nbuckets; i++)
    for (sp__lease *l = c->buckets[i]; l; l = l->next)
      if (l->state == L_HELD)
        fn(arg, l->room, l->epoch);
}

/* The deadline of a renewal sent at sent_ns: Redis set its expiry when it
 * received the command, after we sent it, so sent + lease is never later
 * than Redis's own expiry; the margin covers clocks that run at slightly
 * different rates on different machines. */
static uint64_t sp__lease_deadline(sp_cluster *c, uint64_t sent_ns) {
  uint64_t lease = (uint64_t)c->o.lease_ms * 1000000u;
  uint64_t margin = lease / 20;
  if (margin < 50000000u)
    margin = 50000000u;
  return sent_ns + lease - margin;
}

/* ---- answers -------------------------------------------------------- */

/* Queues an answer for the kick timer: callbacks never run inside the
 * call (or the Redis callback) that produced them. */
static void sp__lease_answer(sp_cluster *c, sp__waiter *w, sp_claim_result r,
                             uint64_t epoch, const char *owner) {
  w->result = r;
  w->epoch = epoch;
  snprintf(w->owner, sizeof w->owner, "%s", owner ? owner : "");
  w->next = NULL;
  if (c->ready_tail)
    c->ready_tail->next = w;
  else
    c->ready = w;
  c->ready_tail = w;
  sp__cluster_kick(c);
}

void sp__lease_flush_ready(sp_cluster *c) {
  sp__waiter *w = c->ready;
  c->ready = c->ready_tail = NULL;
  while (w) {
    sp__waiter *next = w->next;
    w->cb(w->data, w->result, w->result == SP_CLAIM_GRANTED ? w->epoch : 0,
          w->result == SP_CLAIM_OWNED ? w->owner : NULL);
    free(w);
    w = next;
  }
}

static void sp__lease_answer_all(sp_cluster *c, sp__lease *l, sp_claim_result r,
                                 uint64_t epoch, const char *owner) {
  sp__waiter *w = l->waiters;
  l->waiters = NULL;
  while (w) {
    sp__waiter *next = w->next;
    sp__lease_answer(c, w, r, epoch, owner);
    w = next;
  }
}

/* ---- release -------------------------------------------------------- */

typedef struct sp__release_req {
  sp_cluster *c;
  void (*then)(sp_cluster *);
} sp__release_req;

static void sp__lease_release_cb(void *data, redisReply *reply, int err) {
  sp__release_req *q = data;
  (void)reply;
  (void)err;
  if (q->then)
    q->then(q->c);
  free(q);
}

/* Sends one compare-and-delete for rooms[0..n). 0 if sent. */
static int sp__lease_send_release(sp_cluster *c, size_t n,
                                  const char (*rooms)[SP_ROOM_NAME_MAX + 1],
                                  const uint64_t *epochs,
                                  void (*then)(sp_cluster *)) {
  int rc = UV_ENOMEM;
  size_t nk = 3 + n, na = 2 * n;
  const char **keys = calloc(nk, sizeof *keys);
  const char **args = calloc(na ? na : 1, sizeof *args);
  char(*kbuf)[sizeof SP_KEY_LEASE + SP_ROOM_NAME_MAX] =
      calloc(n ? n : 1, sizeof *kbuf);
  char(*vbuf)[SP_NODE_ID_MAX + 24] = calloc(n ? n : 1, sizeof *vbuf);
  sp__release_req *q = calloc(1, sizeof *q);
  if (!keys || !args || !kbuf || !vbuf || !q)
    goto out;
  keys[0] = SP_KEY_LEASES;
  keys[1] = SP_KEY_LEASES_VER;
  keys[2] = SP_KEY_ROOMINFO;
  for (size_t i = 0; i < n; i++) {
    snprintf(kbuf[i], sizeof kbuf[i], SP_KEY_LEASE "%s", rooms[i]);
    snprintf(vbuf[i], sizeof vbuf[i], "%s %llu", c->o.node_id,
             (unsigned long long)epochs[i]);
    keys[3 + i] = kbuf[i];
    args[2 * i] = vbuf[i];
    args[2 * i + 1] = rooms[i];
  }
  q->c = c;
  q->then = then;
  rc = sp__cluster_eval(c, SP_LUA_RELEASE, (int)nk, keys, NULL, (int)na, args,
                        NULL, sp__lease_release_cb, q);
  if (rc == 0)
    q = NULL;
out:
  free(keys);
  free(args);
  free(kbuf);
  free(vbuf);
  free(q);
  return rc;
}

static void sp__lease_release_one(sp_cluster *c, const char *room,
                                  uint64_t epoch) {
  char r[1][SP_ROOM_NAME_MAX + 1];
  snprintf(r[0], sizeof r[0], "%s", room);
  sp__lease_send_release(c, 1, (const char(*)[SP_ROOM_NAME_MAX + 1]) r, &epoch,
                         NULL);
}

/* Drops a held lease that is no longer ours and tells the core. */
static void sp__lease_lost(sp_cluster *c, sp__lease *l, const char *why,
                           const char *owner) {
  char room[SP_ROOM_NAME_MAX + 1];
  uint64_t epoch = l->epoch;
  snprintf(room, sizeof room, "%s", l->room);
  sp__lease_remove(c, l);
  uv_mutex_lock(&c->mu);
  c->st.lease_losses++;
  uv_mutex_unlock(&c->mu);
  sp_log_warn("lease_lost", "room=%s epoch=%llu why=%s owner=%s", room,
              (unsigned long long)epoch, why, owner && *owner ? owner : "-");
  /* Expired by our clock but perhaps still ours in Redis (which may have
   * been stopped too): give it back so that another node need not wait. */
  if (strcmp(why, "expired") == 0 && sp_redis_is_up(c->cmd))
    sp__lease_release_one(c, room, epoch);
  if (c->h.on_lease_lost && !c->closing)
    c->h.on_lease_lost(c->h.data, room);
}

/* Every held lease whose local deadline passed is lost, first of all;
 * then the expiry timer is set for the next deadline, so that a loss is
 * reported when it happens, not at the next renewal. */
static void sp__lease_sweep(sp_cluster *c) {
  uint64_t now = uv_hrtime(), next_deadline = UINT64_MAX;
  for (size_t i = 0; i < c->nbuckets; i++) {
    sp__lease *l = c->buckets[i];
    while (l) {
      sp__lease *next = l->next;
      if (l->state == L_HELD && now >= l->deadline_ns)
        sp__lease_lost(c, l, "expired", NULL);
      else if (l->state == L_HELD && l->deadline_ns < next_deadline)
        next_deadline = l->deadline_ns;
      l = next;
    }
  }
  if (c->closing || uv_is_closing((uv_handle_t *)&c->expiry))
    return;
  if (next_deadline == UINT64_MAX)
    uv_timer_stop(&c->expiry);
  else
    uv_timer_start(&c->expiry, sp__cluster_expiry_cb,
                   (next_deadline - now) / 1000000 + 1, 0);
}

void sp__lease_expiry(sp_cluster *c) { sp__lease_sweep(c); }

void sp_cluster_release(sp_cluster *c, const char *room) {
  sp__lease *l = sp__lease_find(c, room);
  if (!l)
    return;
  if (l->state == L_CLAIMING) {
    l->cancelled = 1;
    return;
  }
  uint64_t epoch = l->epoch;
  sp__lease_remove(c, l);
  sp_log_info("lease_released", "room=%s epoch=%llu", room,
              (unsigned long long)epoch);
  if (sp_redis_is_up(c->cmd))
    sp__lease_release_one(c, room, epoch);
}

void sp__lease_release_all(sp_cluster *c, void (*then)(sp_cluster *)) {
  size_t n = 0;
  char(*rooms)[SP_ROOM_NAME_MAX + 1] =
      calloc(c->nleases ? c->nleases : 1, sizeof *rooms);
  uint64_t *epochs = calloc(c->nleases ? c->nleases : 1, sizeof *epochs);
  for (size_t i = 0; rooms && epochs && i < c->nbuckets; i++) {
    sp__lease *l = c->buckets[i];
    while (l) {
      sp__lease *next = l->next;
      if (l->state == L_HELD) {
        snprintf(rooms[n], sizeof rooms[n], "%s", l->room);
        epochs[n++] = l->epoch;
        sp_log_info("lease_released", "room=%s epoch=%llu", l->room,
                    (unsigned long long)l->epoch);
        sp__lease_remove(c, l);
      } else {
        l->cancelled = 1;
      }
      l = next;
    }
  }
  int sent =
      n && sp_redis_is_up(c->cmd) &&
      sp__lease_send_release(c, n, (const char(*)[SP_ROOM_NAME_MAX + 1]) rooms,
                             epochs, then) == 0;
  free(rooms);
  free(epochs);
  if (!sent)
    then(c);
}

/* ---- claim ---------------------------------------------------------- */

static void sp__lease_claim_cb(void *data, redisReply *reply, int err) {
  sp__claim_req *q = data;
  sp_cluster *c = q->c;
  sp__lease *l = sp__lease_find(c, q->room);
  if (!l || l->state != L_CLAIMING) {
    free(q);
    return;
  }
  int ok = !err && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
           reply->element[0]->type == REDIS_REPLY_INTEGER;
  if (!ok) {
    if (!err && reply->type == REDIS_REPLY_ERROR)
      sp_log_error("lease_claim_failed", "room=%s reply=%.120s", q->room,
                   reply->str);
    sp__lease_answer_all(c, l, SP_CLAIM_UNAVAILABLE, 0, NULL);
    sp__lease_remove(c, l);
    free(q);
    return;
  }
  redisReply *v = reply->element[1];
  if (reply->element[0]->integer == 0) {
    char owner[SP_NODE_ID_MAX + 1] = "";
    if (v->type == REDIS_REPLY_STRING)
      sscanf(v->str, "%32s", owner);
    sp__lease_answer_all(c, l, SP_CLAIM_OWNED, 0, owner);
    sp__lease_remove(c, l);
    free(q);
    return;
  }
  uint64_t epoch = v->type == REDIS_REPLY_INTEGER ? (uint64_t)v->integer : 0;
  uint64_t deadline = sp__lease_deadline(c, q->sent_ns);
  if (l->cancelled || c->closing || uv_hrtime() >= deadline) {
    /* Released meanwhile, or the answer came too late to be trusted. */
    sp__lease_answer_all(c, l, SP_CLAIM_UNAVAILABLE, 0, NULL);
    sp__lease_remove(c, l);
    sp__lease_release_one(c, q->room, epoch);
    free(q);
    return;
  }
  uv_mutex_lock(&c->mu);
  l->state = L_HELD;
  l->epoch = epoch;
  l->deadline_ns = deadline;
  c->st.leases_held++;
  c->st.lease_claims++;
  uv_mutex_unlock(&c->mu);
  sp_log_info("lease_taken", "room=%s epoch=%llu node=%s", q->room,
              (unsigned long long)epoch, c->o.node_id);
  sp__lease_answer_all(c, l, SP_CLAIM_GRANTED, epoch, NULL);
  c->rooms_dirty = 1;
  free(q);
  sp__lease_sweep(c); /* arms the expiry timer */
}

int sp_cluster_claim(sp_cluster *c, const char *room, sp_claim_cb cb,
                     void *data) {
  if (!sp_cluster_valid_name(room) || !cb)
    return UV_EINVAL;
  if (c->closing)
    return UV_ECANCELED;
  sp__lease_sweep(c);
  sp__waiter *w = calloc(1, sizeof *w);
  if (!w)
    return UV_ENOMEM;
  w->cb = cb;
  w->data = data;
  sp__lease *l = sp__lease_find(c, room);
  if (l && l->state == L_HELD) {
    sp__lease_answer(c, w, SP_CLAIM_GRANTED, l->epoch, NULL);
    return 0;
  }
  if (l) { /* a claim in flight: share its answer */
    l->cancelled = 0;
    w->next = l->waiters;
    l->waiters = w;
    return 0;
  }
  sp__claim_req *q = calloc(1, sizeof *q);
  if (!q || !sp_redis_is_up(c->cmd) || !(l = sp__lease_add(c, room))) {
    free(q);
    sp__lease_answer(c, w, SP_CLAIM_UNAVAILABLE, 0, NULL);
    return 0;
  }
  l->waiters = w;
  q->c = c;
  snprintf(q->room, sizeof q->room, "%s", room);
  q->sent_ns = uv_hrtime();
  char key[sizeof SP_KEY_LEASE + SP_ROOM_NAME_MAX], px[16];
  snprintf(key, sizeof key, SP_KEY_LEASE "%s", room);
  snprintf(px, sizeof px, "%u", c->o.lease_ms);
  const char *keys[] = {key, SP_KEY_EPOCH, SP_KEY_LEASES, SP_KEY_LEASES_VER,
                        SP_KEY_ROOMINFO};
  const char *args[] = {room, c->o.node_id, px};
  if (sp__cluster_eval(c, SP_LUA_CLAIM, 5, keys, NULL, 3, args, NULL,
                       sp__lease_claim_cb, q) != 0) {
    free(q);
    sp__lease_answer_all(c, l, SP_CLAIM_UNAVAILABLE, 0, NULL);
    sp__lease_remove(c, l);
  }
  return 0;
}

/* ---- renew ---------------------------------------------------------- */

static void sp__lease_renew_cb(void *data, redisReply *reply, int err) {
  sp__renew_req *q = data;
  sp_cluster *c = q->c;
  c->renew_inflight = 0;
  int ok = !err && reply->type == REDIS_REPLY_ARRAY && reply->elements == q->n;
  if (!ok && !err && reply->type == REDIS_REPLY_ERROR)
    sp_log_error("lease_renew_failed", "reply=%.120s", reply->str);
  uint64_t deadline = sp__lease_deadline(c, q->sent_ns);
  for (size_t i = 0; ok && i < q->n; i++) {
    sp__lease *l = sp__lease_find(c, q->rows[i].room);
    if (!l || l->state != L_HELD || l->epoch != q->rows[i].epoch)
      continue; /* released or re-claimed meanwhile */
    redisReply *e = reply->element[i];
    if (e->type == REDIS_REPLY_INTEGER && e->integer == 1) {
      if (deadline > l->deadline_ns && uv_hrtime() < l->deadline_ns) {
        uv_mutex_lock(&c->mu);
        l->deadline_ns = deadline;
        uv_mutex_unlock(&c->mu);
      }
    } else if (e->type == REDIS_REPLY_STRING) {
      char owner[SP_NODE_ID_MAX + 1] = "";
      sscanf(e->str, "%32s", owner);
      sp__lease_lost(c, l, "taken", owner);
    } else {
      sp__lease_lost(c, l, "gone", NULL);
    }
  }
  free(q);
  /* A renewal that came back after the deadline extends nothing. */
  sp__lease_sweep(c);
}

static void sp__lease_send_renew(sp_cluster *c, int reclaim) {
  size_t n = 0;
  for (size_t i = 0; i < c->nbuckets; i++)
    for (sp__lease *l = c->buckets[i]; l; l = l->next)
      n += l->state == L_HELD;
  if (n == 0 || c->renew_inflight || !sp_redis_is_up(c->cmd))
    return;
  sp__renew_req *q = calloc(1, sizeof *q + n * sizeof q->rows[0]);
  const char **keys = calloc(3 + n, sizeof *keys);
  const char **args = calloc(2 + 3 * n, sizeof *args);
  char(*kbuf)[sizeof SP_KEY_LEASE + SP_ROOM_NAME_MAX] = calloc(n, sizeof *kbuf);
  char(*vbuf)[SP_NODE_ID_MAX + 24] = calloc(n, sizeof *vbuf);
  char(*ebuf)[24] = calloc(n, sizeof *ebuf);
  char px[16];
  if (!q || !keys || !args || !kbuf || !vbuf || !ebuf)
    goto out;
  snprintf(px, sizeof px, "%u", c->o.lease_ms);
  keys[0] = SP_KEY_LEASES;
  keys[1] = SP_KEY_EPOCH;
  keys[2] = SP_KEY_LEASES_VER;
  args[0] = px;
  args[1] = reclaim ? "1" : "0";
  size_t k = 0;
  for (size_t i = 0; i < c->nbuckets; i++)
    for (sp__lease *l = c->buckets[i]; l; l = l->next) {
      if (l->state != L_HELD)
        continue;
      snprintf(q->rows[k].room, sizeof q->rows[k].room, "%s", l->room);
      q->rows[k].epoch = l->epoch;
      snprintf(kbuf[k], sizeof kbuf[k], SP_KEY_LEASE "%s", l->room);
      snprintf(vbuf[k], sizeof vbuf[k], "%s %llu", c->o.node_id,
               (unsigned long long)l->epoch);
      snprintf(ebuf[k], sizeof ebuf[k], "%llu", (unsigned long long)l->epoch);
      keys[3 + k] = kbuf[k];
      args[2 + 3 * k] = vbuf[k];
      args[3 + 3 * k] = q->rows[k].room;
      args[4 + 3 * k] = ebuf[k];
      k++;
    }
  q->c = c;
  q->n = n;
  q->sent_ns = uv_hrtime();
  if (sp__cluster_eval(c, SP_LUA_RENEW, (int)(3 + n), keys, NULL,
                       (int)(2 + 3 * n), args, NULL, sp__lease_renew_cb,
                       q) == 0) {
    c->renew_inflight = 1;
    q = NULL;
  }
out:
  free(q);
  free(keys);
  free(args);
  free(kbuf);
  free(vbuf);
  free(ebuf);
}

void sp__lease_renew_all(sp_cluster *c) {
  sp__lease_sweep(c);
  sp__lease_send_renew(c, 0);
}

void sp__lease_on_up(sp_cluster *c) {
  sp__lease_sweep(c);
  c->renew_inflight = 0; /* the old one was answered with an error */
  sp__lease_send_renew(c, 1);
}

void sp__lease_free(sp_cluster *c) {
  for (size_t i = 0; i < c->nbuckets; i++) {
    sp__lease *l = c->buckets[i];
    while (l) {
      sp__lease *next = l->next;
      sp__waiter *w = l->waiters;
      while (w) {
        sp__waiter *wn = w->next;
        free(w);
        w = wn;
      }
      free(l);
      l = next;
    }
  }
  free(c->buckets);
  c->buckets = NULL;
  sp__waiter *w = c->ready;
  while (w) {
    sp__waiter *next = w->next;
    free(w);
    w = next;
  }
  c->ready = c->ready_tail = NULL;
  uv_mutex_destroy(&c->mu);
}
