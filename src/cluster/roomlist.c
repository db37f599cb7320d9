/* The cluster-wide room list: each node writes the rows of the rooms it
 * holds (fenced by the lease's epoch), every node reads them all once a
 * second (twice a lease when leases are shorter than 2 s). A row shows
 * only while its lease lives: each read brings how long each lease has
 * left, and a row is dropped when that runs out, so the rooms of a dead
 * node vanish when their leases do, not up to a read later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/internal.h"
#include "cluster/scripts.h"
#include "core/log.h"

int sp_cluster_set_rooms(sp_cluster *c, const sp_cluster_room *rows, size_t n) {
  sp_cluster_room *copy = NULL;
  size_t k = 0;
  if (n) {
    copy = malloc(n * sizeof *copy);
    if (!copy)
      return UV_ENOMEM;
    /* Only valid names: they go into JSON and Redis as they are. */
    for (size_t i = 0; i < n; i++) {
      copy[k] = rows[i];
      copy[k].name[SP_ROOM_NAME_MAX] = '\0';
      k += sp_cluster_valid_name(copy[k].name);
    }
  }
  uv_mutex_lock(&c->mu);
  sp_cluster_room *old = c->mine;
  c->mine = copy;
  c->nmine = k;
  uv_mutex_unlock(&c->mu);
  free(old);
  c->rooms_dirty = 1;
  sp__rooms_write(c);
  return 0;
}

static void sp__rooms_write_cb(void *data, redisReply *reply, int err) {
  sp_cluster *c = data;
  c->rooms_write_inflight = 0;
  if (err || reply->type == REDIS_REPLY_ERROR) {
    if (!err)
      sp_log_error("rooms_write_failed", "reply=%.120s", reply->str);
    c->rooms_dirty = 1;
    return;
  }
  if (c->rooms_dirty)
    sp__rooms_write(c); /* changed while this write was out */
}

/* Writes the rows of the held rooms; one write in flight at a time, the
 * latest rows win. */
void sp__rooms_write(sp_cluster *c) {
  if (!c->rooms_dirty || c->rooms_write_inflight || c->closing ||
      !sp_redis_is_up(c->cmd))
    return;
  size_t n = 0;
  const char **keys = calloc(1 + c->nmine, sizeof *keys);
  const char **args = calloc(1 + 4 * c->nmine, sizeof *args);
  char(*kbuf)[sizeof SP_KEY_LEASE + SP_ROOM_NAME_MAX] =
      calloc(c->nmine ? c->nmine : 1, sizeof *kbuf);
  char(*nbuf)[3][24] = calloc(c->nmine ? c->nmine : 1, sizeof *nbuf);
  if (!keys || !args || !kbuf || !nbuf)
    goto out;
  keys[0] = SP_KEY_ROOMINFO;
  args[0] = c->o.node_id;
  for (size_t i = 0; i < c->nmine; i++) {
    uint64_t epoch;
    if (!sp__lease_held_epoch(c, c->mine[i].name, &epoch))
      continue;
    snprintf(kbuf[n], sizeof kbuf[n], SP_KEY_LEASE "%s", c->mine[i].name);
    snprintf(nbuf[n][0], sizeof nbuf[n][0], "%llu", (unsigned long long)epoch);
    snprintf(nbuf[n][1], sizeof nbuf[n][1], "%u", c->mine[i].connections);
    snprintf(nbuf[n][2], sizeof nbuf[n][2], "%u", c->mine[i].snakes);
    keys[1 + n] = kbuf[n];
    args[1 + 4 * n] = c->mine[i].name;
    args[2 + 4 * n] = nbuf[n][0];
    args[3 + 4 * n] = nbuf[n][1];
    args[4 + 4 * n] = nbuf[n][2];
    n++;
  }
  c->rooms_dirty = 0;
  if (n && sp__cluster_eval(c, SP_LUA_SET_ROOMS, (int)(1 + n), keys, NULL,
                            (int)(1 + 4 * n), args, NULL, sp__rooms_write_cb,
                            c) == 0)
    c->rooms_write_inflight = 1;
out:
  free(keys);
  free(args);
  free(kbuf);
  free(nbuf);
}

static void sp__rooms_read_cb(void *data, redisReply *reply, int err) {
  sp_cluster *c = data;
  c->rooms_read_inflight = 0;
  if (err || reply->type != REDIS_REPLY_ARRAY || reply->elements % 3)
    return;
  size_t n = reply->elements / 3, k = 0;
  sp__remote_room *rows = calloc(n ? n : 1, sizeof *rows);
  if (!rows)
    return;
  uint64_t now = uv_hrtime();
  for (size_t i = 0; i < n; i++) {
    redisReply *name = reply->element[3 * i], *info = reply->element[3 * i + 1],
               *left = reply->element[3 * i + 2];
    if (name->type != REDIS_REPLY_STRING || info->type != REDIS_REPLY_STRING ||
        left->type != REDIS_REPLY_INTEGER || left->integer <= 0 ||
        name->len > SP_ROOM_NAME_MAX)
      continue;
    sp__remote_room *r = &rows[k];
    snprintf(r->name, sizeof r->name, "%.*s", (int)name->len, name->str);
    unsigned long long epoch;
    unsigned conns, snakes;
    /* "NODE EPOCH CONNECTIONS SNAKES", as written by SP_LUA_SET_ROOMS. */
    if (!sp_cluster_valid_name(r->name) ||
        sscanf(info->str, "%32s %llu %u %u", r->node, &epoch, &conns,
               &snakes) != 4 ||
        !sp_cluster_valid_name(r->node))
      continue;
    r->connections = conns;
    r->snakes = snakes;
    /* From the answer's arrival: later than Redis's own expiry by the
     * reply's way back (a millisecond), never earlier. */
    r->expires_ns = now + (uint64_t)left->integer * 1000000u;
    k++;
  }
  uv_mutex_lock(&c->mu);
  sp__remote_room *old = c->remote;
  c->remote = rows;
  c->nremote = k;
  c->remote_at = uv_hrtime();
  uv_mutex_unlock(&c->mu);
  free(old);
}

void sp__rooms_read(sp_cluster *c) {
  if (c->rooms_read_inflight || c->closing)
    return;
  const char *keys[] = {SP_KEY_LEASES, SP_KEY_ROOMINFO};
  const char *args[] = {SP_KEY_LEASE};
  if (sp__cluster_eval(c, SP_LUA_ROOMS, 2, keys, NULL, 1, args, NULL,
                       sp__rooms_read_cb, c) == 0)
    c->rooms_read_inflight = 1;
}

typedef struct sp__room_out {
  const char *name, *node;
  uint32_t connections, snakes;
} sp__room_out;

static int sp__room_out_cmp(const void *a, const void *b) {
  const sp__room_out *x = a, *y = b;
  return strcmp(x->name, y->name);
}

void sp_cluster_rooms_json(sp_cluster *c, sp_buf *out) {
  /* Any thread: everything read here is changed only under mu. */
  uv_mutex_lock(&c->mu);
  uint64_t now = uv_hrtime();
  int fresh =
      c->remote_at && now - c->remote_at < (uint64_t)c->o.lease_ms * 1000000u;
  size_t cap = c->nmine + (fresh ? c->nremote : 0), n = 0;
  sp__room_out *rows = calloc(cap ? cap : 1, sizeof *rows);
  if (!rows) {
    uv_mutex_unlock(&c->mu);
    out->failed = 1;
    return;
  }
  /* Our own rooms as they are now (held ones only), then the others'. */
  for (size_t i = 0; i < c->nmine; i++) {
    uint64_t epoch;
    if (!sp__lease_held_epoch(c, c->mine[i].name, &epoch))
      continue;
    rows[n++] = (sp__room_out){c->mine[i].name, c->o.node_id,
                               c->mine[i].connections, c->mine[i].snakes};
  }
  for (size_t i = 0; fresh && i < c->nremote; i++) {
    uint64_t epoch;
    if (now >= c->remote[i].expires_ns ||
        strcmp(c->remote[i].node, c->o.node_id) == 0 ||
        sp__lease_held_epoch(c, c->remote[i].name, &epoch))
      continue;
    rows[n++] = (sp__room_out){c->remote[i].name, c->remote[i].node,
                               c->remote[i].connections, c->remote[i].snakes};
  }
  qsort(rows, n, sizeof *rows, sp__room_out_cmp);
  /* Names and node ids are checked to be [A-Za-z0-9_-]: no escaping. */
  sp_buf_puts(out, "{\"rooms\":[");
  for (size_t i = 0; i < n; i++) {
    if (i)
      sp_buf_putc(out, ',');
    sp_buf_printf(out,
                  "{\"name\":\"%s\",\"connections\":%u,\"snakes\":%u,"
                  "\"node\":\"%s\"}",
                  rows[i].name, rows[i].connections, rows[i].snakes,
                  rows[i].node);
  }
  sp_buf_puts(out, "]}");
  uv_mutex_unlock(&c->mu);
  free(rows);
}

void sp__rooms_free(sp_cluster *c) {
  free(c->mine);
  free(c->remote);
  c->mine = NULL;
  c->remote = NULL;
  c->nmine = c->nremote = 0;
}
