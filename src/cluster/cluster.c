/* The cluster object: its two Redis connections, its timers, the events
 * it hears, and its life cycle. Leases, scores and the room list live in
 * lease.c, top.c and roomlist.c. */
#include "cluster/cluster.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/internal.h"
#include "core/log.h"

#define SP__HEARTBEAT_MS 500
#define SP__REFRESH_MS 1000

int sp_cluster_valid_name(const char *s) {
  size_t n = 0;
  if (!s)
    return 0;
  for (; s[n]; n++) {
    char ch = s[n];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
      return 0;
    if (n >= SP_NODE_ID_MAX)
      return 0;
  }
  return n > 0;
}

void sp_cluster_default_node_id(char out[SP_NODE_ID_MAX + 1], int port) {
  char host[256] = "";
  char suffix[16];
  if (gethostname(host, sizeof host - 1) != 0 || !host[0])
    strcpy(host, "node");
  host[sizeof host - 1] = '\0';
  snprintf(suffix, sizeof suffix, "-%d", port);
  size_t room = SP_NODE_ID_MAX - strlen(suffix), n = 0;
  for (; host[n] && n < room; n++) {
    char ch = host[n];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    out[n] = ok ? ch : '-';
  }
  snprintf(out + n, SP_NODE_ID_MAX + 1 - n, "%s", suffix);
}

const char *sp_cluster_node_id(const sp_cluster *c) { return c->o.node_id; }

void sp_cluster_get_stats(sp_cluster *c, sp_cluster_stats *st) {
  uv_mutex_lock(&c->mu);
  *st = c->st;
  st->redis_up = c->up;
  uv_mutex_unlock(&c->mu);
}

int sp__cluster_eval(sp_cluster *c, const char *script, int nkeys,
                     const char **keys, const size_t *keylens, int nargs,
                     const char **args, const size_t *arglens, sp_redis_cb cb,
                     void *data) {
  int argc = 3 + nkeys + nargs;
  const char **argv = malloc((size_t)argc * sizeof *argv);
  size_t *lens = malloc((size_t)argc * sizeof *lens);
  char nk[16];
  int rc = UV_ENOMEM;
  if (!argv || !lens)
    goto out;
  snprintf(nk, sizeof nk, "%d", nkeys);
  argv[0] = "EVAL";
  argv[1] = script;
  argv[2] = nk;
  for (int i = 0; i < nkeys; i++) {
    argv[3 + i] = keys[i];
    lens[3 + i] = keylens ? keylens[i] : strlen(keys[i]);
  }
  for (int i = 0; i < nargs; i++) {
    argv[3 + nkeys + i] = args[i];
    lens[3 + nkeys + i] = arglens ? arglens[i] : strlen(args[i]);
  }
  for (int i = 0; i < 3; i++)
    lens[i] = strlen(argv[i]);
  rc = sp_redis_command(c->cmd, cb, data, argc, argv, lens);
out:
  free(argv);
  free(lens);
  return rc;
}

/* ---- state and events ----------------------------------------------- */

static void sp__cluster_update_state(sp_cluster *c) {
  int up = sp_redis_is_up(c->cmd) && sp_redis_is_up(c->sub);
  if (up == c->up || c->closing)
    return;
  uv_mutex_lock(&c->mu);
  c->up = up;
  if (!up)
    c->st.redis_outages++;
  uv_mutex_unlock(&c->mu);
  sp_log_info("cluster_redis", "state=%s node=%s leases=%llu",
              up ? "up" : "down", c->o.node_id,
              (unsigned long long)c->st.leases_held);
  if (c->h.on_state)
    c->h.on_state(c->h.data, up);
}

static void sp__cluster_heartbeat(sp_cluster *c) {
  char seq[24];
  snprintf(seq, sizeof seq, "%llu", (unsigned long long)++c->hb_seq);
  const char *argv[] = {"PUBLISH", c->ch_hb, seq};
  sp_redis_command(c->cmd, NULL, NULL, 3, argv, NULL);
}

static void sp__cluster_cmd_state(void *data, int up) {
  sp_cluster *c = data;
  if (up && !c->closing) {
    /* Back: our leases first (re-claimed before anyone else may take
     * them), then what waited, then a fresh read of the shared state. */
    sp__lease_on_up(c);
    sp__top_flush(c);
    sp__top_refresh(c);
    c->rooms_dirty = 1;
    sp__rooms_write(c);
    sp__rooms_read(c);
    sp__cluster_heartbeat(c);
  }
  sp__cluster_update_state(c);
}

static void sp__cluster_sub_state(void *data, int up) {
  sp_cluster *c = data;
  if (up && !c->closing)
    sp__top_refresh(c); /* events may have been missed meanwhile */
  sp__cluster_update_state(c);
}

static void sp__cluster_on_event(sp_cluster *c, const char *msg, size_t len) {
  json_error_t jerr;
  json_t *j = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!j)
    return;
  const char *type = json_string_value(json_object_get(j, "type"));
  if (type && strcmp(type, "top") == 0) {
    sp__top_refresh(c);
  } else if (type && strcmp(type, "announce") == 0) {
    const char *from = json_string_value(json_object_get(j, "from"));
    const char *text = json_string_value(json_object_get(j, "text"));
    json_t *jroom = json_object_get(j, "room");
    const char *room = json_string_value(jroom);
    int room_ok = json_is_null(jroom) || sp_cluster_valid_name(room);
    /* Our own announcement was delivered when it was sent. */
    if (from && text && room_ok && strcmp(from, c->o.node_id) != 0 &&
        c->h.on_announce)
      c->h.on_announce(c->h.data, room, text);
  }
  json_decref(j);
}

static void sp__cluster_on_message(void *data, const char *channel,
                                   const char *msg, size_t len) {
  sp_cluster *c = data;
  if (c->closing || strcmp(channel, c->ch_events) != 0)
    return; /* a heartbeat: its arrival was all that mattered */
  sp__cluster_on_event(c, msg, len);
}

int sp_cluster_announce(sp_cluster *c, const char *room, const char *text) {
  size_t len = text ? strlen(text) : 0;
  if (len == 0 || len > SP_ANNOUNCE_MAX ||
      (room && !sp_cluster_valid_name(room)))
    return UV_EINVAL;
  if (c->closing || !sp_redis_is_up(c->cmd))
    return UV_ENOTCONN;
  json_t *jtext = json_stringn(text, len); /* NULL for invalid UTF-8 */
  if (!jtext)
    return UV_EINVAL;
  json_t *j =
      json_pack("{s:s,s:s,s:o,s:o}", "type", "announce", "from", c->o.node_id,
                "room", room ? json_string(room) : json_null(), "text", jtext);
  char *msg = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!msg)
    return UV_ENOMEM;
  const char *argv[] = {"PUBLISH", c->ch_events, msg};
  int rc = sp_redis_command(c->cmd, NULL, NULL, 3, argv, NULL);
  free(msg);
  if (rc == 0 && c->h.on_announce)
    c->h.on_announce(c->h.data, room, text);
  return rc;
}

/* ---- timers --------------------------------------------------------- */

static void sp__cluster_renew_cb(uv_timer_t *t) {
  sp__lease_renew_all(t->data);
}

static void sp__cluster_hb_cb(uv_timer_t *t) {
  sp_cluster *c = t->data;
  uint64_t now = uv_now(c->loop);
  /* Late by more than a beat: this process was stopped (SIGSTOP, a
   * stalled machine) and sent no heartbeat meanwhile, so the silence its
   * pub/sub connection heard is its own, not a hung Redis. This timer is
   * due before that connection's silence timer, so it runs first. */
  if (c->hb_at && now - c->hb_at > 2 * SP__HEARTBEAT_MS)
    sp_redis_restart_idle(c->sub);
  c->hb_at = now;
  sp__cluster_heartbeat(c);
}

static void sp__cluster_refresh_cb(uv_timer_t *t) {
  sp_cluster *c = t->data;
  sp__rooms_write(c);
  sp__rooms_read(c);
  sp__top_refresh(c);
  sp__top_flush(c);
}

static void sp__cluster_kick_cb(uv_timer_t *t) {
  sp__lease_flush_ready(t->data);
}

void sp__cluster_expiry_cb(uv_timer_t *t) { sp__lease_expiry(t->data); }

void sp__cluster_kick(sp_cluster *c) {
  if (!uv_is_closing((uv_handle_t *)&c->kick))
    uv_timer_start(&c->kick, sp__cluster_kick_cb, 0, 0);
}

/* ---- life cycle ----------------------------------------------------- */

static void sp__cluster_free(sp_cluster *c) {
  sp__lease_free(c);
  sp__top_free(c);
  sp__rooms_free(c);
  free(c);
}

static void sp__cluster_handle_closed(uv_handle_t *h) {
  sp_cluster *c = h->data;
  if (--c->handles_open > 0)
    return;
  void (*done)(void *) = c->done;
  void *data = c->done_data;
  sp__cluster_free(c);
  if (done)
    done(data);
}

static void sp__cluster_redis_closed(void *data) {
  sp_cluster *c = data;
  if (--c->redis_closing > 0)
    return;
  /* Every Redis callback has run: claims still waiting were answered. */
  sp__lease_flush_ready(c);
  uv_close((uv_handle_t *)&c->renew, sp__cluster_handle_closed);
  uv_close((uv_handle_t *)&c->hb, sp__cluster_handle_closed);
  uv_close((uv_handle_t *)&c->refresh, sp__cluster_handle_closed);
  uv_close((uv_handle_t *)&c->kick, sp__cluster_handle_closed);
  uv_close((uv_handle_t *)&c->expiry, sp__cluster_handle_closed);
}

static void sp__cluster_close_redis(sp_cluster *c) {
  c->redis_closing = 2;
  sp_redis_close(c->cmd, sp__cluster_redis_closed, c);
  sp_redis_close(c->sub, sp__cluster_redis_closed, c);
}

void sp_cluster_close(sp_cluster *c, void (*done)(void *data), void *data) {
  if (c->closing)
    return;
  c->closing = 1;
  c->done = done;
  c->done_data = data;
  uv_timer_stop(&c->renew);
  uv_timer_stop(&c->hb);
  uv_timer_stop(&c->refresh);
  uv_timer_stop(&c->expiry);
  sp__lease_release_all(c, sp__cluster_close_redis);
}

int sp_cluster_start(uv_loop_t *loop, const sp_cluster_opts *opts,
                     const sp_cluster_hooks *hooks, sp_cluster **out) {
  if (!sp_cluster_valid_name(opts->node_id))
    return UV_EINVAL;
  sp_cluster *c = calloc(1, sizeof *c);
  if (!c)
    return UV_ENOMEM;
  c->loop = loop;
  c->o = *opts;
  if (!c->o.lease_ms)
    c->o.lease_ms = 3000;
  if (!c->o.redis_timeout_ms)
    c->o.redis_timeout_ms = 1000;
  if (c->o.lease_ms < 500 || c->o.lease_ms > 600000 ||
      c->o.redis_timeout_ms > c->o.lease_ms / 2) {
    free(c);
    return UV_EINVAL;
  }
  if (hooks)
    c->h = *hooks;
  snprintf(c->ch_events, sizeof c->ch_events, "sp:events:%d", opts->url.db);
  snprintf(c->ch_hb, sizeof c->ch_hb, "sp:hb:%d:%s", opts->url.db,
           c->o.node_id);
  int rc = sp__lease_init(c);
  if (rc < 0) {
    free(c);
    return rc;
  }
  sp_redis_opts ro;
  memset(&ro, 0, sizeof ro);
  ro.url = opts->url;
  ro.connect_timeout_ms = c->o.redis_timeout_ms;
  ro.command_timeout_ms = c->o.redis_timeout_ms;
  ro.backoff_min_ms = 100;
  ro.backoff_max_ms = 2000;
  ro.data = c;
  ro.name = "commands";
  ro.on_state = sp__cluster_cmd_state;
  if ((rc = sp_redis_start(loop, &ro, &c->cmd)) < 0)
    goto fail;
  const char *channels[] = {c->ch_events, c->ch_hb};
  ro.name = "pubsub";
  ro.channels = channels;
  ro.nchannels = 2;
  ro.on_message = sp__cluster_on_message;
  /* Four heartbeats missed, and at least two command timeouts. */
  ro.idle_timeout_ms = 4 * SP__HEARTBEAT_MS;
  if (ro.idle_timeout_ms < 2 * c->o.redis_timeout_ms)
    ro.idle_timeout_ms = 2 * c->o.redis_timeout_ms;
  ro.on_state = sp__cluster_sub_state;
  if ((rc = sp_redis_start(loop, &ro, &c->sub)) < 0) {
    sp_redis_close(c->cmd, NULL, NULL);
    goto fail;
  }
  uv_timer_t *timers[] = {&c->renew, &c->hb, &c->refresh, &c->kick, &c->expiry};
  for (size_t i = 0; i < 5; i++) {
    uv_timer_init(loop, timers[i]);
    timers[i]->data = c;
  }
  c->handles_open = 5;
  unsigned every = c->o.lease_ms / 3;
  uv_timer_start(&c->renew, sp__cluster_renew_cb, every, every);
  uv_timer_start(&c->hb, sp__cluster_hb_cb, SP__HEARTBEAT_MS, SP__HEARTBEAT_MS);
  /* A live lease has at least 2/3 of its time left when it is read (it is
   * renewed every third): read again within half a lease, so that a row
   * of the room list never runs out between two reads. */
  unsigned refresh = SP__REFRESH_MS;
  if (refresh > c->o.lease_ms / 2)
    refresh = c->o.lease_ms / 2;
  uv_timer_start(&c->refresh, sp__cluster_refresh_cb, refresh, refresh);
  char where[SP_REDIS_HOST_MAX + 32];
  sp_redis_url_format(&opts->url, where, sizeof where);
  sp_log_info("cluster_start", "node=%s redis=%s lease_ms=%u timeout_ms=%u",
              c->o.node_id, where, c->o.lease_ms, c->o.redis_timeout_ms);
  *out = c;
  return 0;
fail:
  sp__lease_free(c);
  free(c);
  return rc;
}
