#include "app/metrics.h"

#include <stdio.h>
#include <string.h>

#include "app/worker.h"
#include "cluster/cluster.h"
#include "core/config.h"
#include "net/server.h"
#include "room/room.h"
#include "store/scores.h"

/* ---- the format ---------------------------------------------------------- */

static void sp__family(sp_buf *out, const char *name, const char *type,
                       const char *help) {
  sp_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sp__value(sp_buf *out, double v) {
  if (v == (double)(uint64_t)v && v < 1e18)
    sp_buf_printf(out, " %llu\n", (unsigned long long)v);
  else
    sp_buf_printf(out, " %.9g\n", v);
}

/* name{worker="w",extra} v; extra is `k="v"` (already escaped) or NULL. */
static void sp__sample(sp_buf *out, const char *name, int worker,
                       const char *extra, double v) {
  sp_buf_puts(out, name);
  if (worker >= 0 || extra) {
    sp_buf_putc(out, '{');
    if (worker >= 0)
      sp_buf_printf(out, "worker=\"%d\"%s", worker, extra ? "," : "");
    if (extra)
      sp_buf_puts(out, extra);
    sp_buf_putc(out, '}');
  }
  sp__value(out, v);
}

/* ---- the series -----------------------------------------------------------
 */

/* One family with a value per worker, from the servers' counters. */
#define SP_NET_FAMILY(out, sh, name, type, help, expr)                         \
  do {                                                                         \
    sp__family(out, name, type, help);                                         \
    for (int i_ = 0; i_ < (sh)->nworkers; i_++) {                              \
      const sp_server_stats *st = sp_worker_net_stats((sh)->workers[i_]);      \
      sp__sample(out, name, i_, NULL, (double)(expr));                         \
    }                                                                          \
  } while (0)

#define SP_ROOM_FAMILY(out, sh, name, type, help, expr)                        \
  do {                                                                         \
    sp__family(out, name, type, help);                                         \
    for (int i_ = 0; i_ < (sh)->nworkers; i_++) {                              \
      const sp_room_stats *rs = sp_worker_room_stats((sh)->workers[i_]);       \
      sp__sample(out, name, i_, NULL, (double)(expr));                         \
    }                                                                          \
  } while (0)

#define G(x) SP_COUNT_GET(x)

static void sp__net(sp_shared *sh, sp_buf *out) {
  static const char *const phases[SP_OPEN_PHASES] = {"http", "websocket",
                                                     "closing"};
  char label[64];
  sp__family(out, "snakepit_connections_open", "gauge",
             "Open connections, by state.");
  for (int i = 0; i < sh->nworkers; i++) {
    const sp_server_stats *st = sp_worker_net_stats(sh->workers[i]);
    for (int p = 0; p < SP_OPEN_PHASES; p++) {
      snprintf(label, sizeof label, "state=\"%s\"", phases[p]);
      sp__sample(out, "snakepit_connections_open", i, label,
                 (double)G(st->open[p]));
    }
  }
  SP_NET_FAMILY(out, sh, "snakepit_connections_accepted_total", "counter",
                "Connections accepted.", G(st->accepted));
  sp__family(out, "snakepit_connections_refused_total", "counter",
             "Connections refused with 503 before any byte was read, by "
             "reason.");
  for (int i = 0; i < sh->nworkers; i++) {
    const sp_server_stats *st = sp_worker_net_stats(sh->workers[i]);
    sp__sample(out, "snakepit_connections_refused_total", i,
               "reason=\"max_conns\"", (double)G(st->refused_max_conns));
    sp__sample(out, "snakepit_connections_refused_total", i,
               "reason=\"max_conns_per_ip\"", (double)G(st->refused_per_ip));
  }
  SP_NET_FAMILY(out, sh, "snakepit_http_requests_total", "counter",
                "HTTP requests answered (WebSocket upgrades included).",
                G(st->http_requests));
  sp__family(out, "snakepit_websocket_closes_total", "counter",
             "WebSocket connections ended, by close code (the one sent, else "
             "the one received; 1006: no closing handshake).");
  for (int i = 0; i < sh->nworkers; i++) {
    const sp_server_stats *st = sp_worker_net_stats(sh->workers[i]);
    for (int k = 0; k < SP_SERVER_CLOSE_CODES; k++) {
      if (sp_server_close_codes[k])
        snprintf(label, sizeof label, "code=\"%u\"", sp_server_close_codes[k]);
      else
        snprintf(label, sizeof label, "code=\"other\"");
      sp__sample(out, "snakepit_websocket_closes_total", i, label,
                 (double)G(st->ws_closes[k]));
    }
  }
  SP_NET_FAMILY(out, sh, "snakepit_websocket_messages_received_total",
                "counter", "WebSocket messages received from clients.",
                G(st->messages_in));
  SP_NET_FAMILY(out, sh, "snakepit_websocket_messages_sent_total", "counter",
                "WebSocket messages queued to clients.", G(st->messages_out));
  SP_NET_FAMILY(out, sh, "snakepit_received_bytes_total", "counter",
                "Bytes read from client sockets.", G(st->bytes_in));
  SP_NET_FAMILY(out, sh, "snakepit_sent_bytes_total", "counter",
                "Bytes queued to client sockets.", G(st->bytes_out));
  sp__family(out, "snakepit_limits_hit_total", "counter",
             "Times a limit of README \"Limits and security\" was hit, by "
             "limit (the option's name).");
  for (int i = 0; i < sh->nworkers; i++) {
    const sp_server_stats *st = sp_worker_net_stats(sh->workers[i]);
    const struct {
      const char *limit;
      uint64_t v;
    } rows[] = {
        {"max_conns", G(st->refused_max_conns)},
        {"max_conns_per_ip", G(st->refused_per_ip)},
        {"header_timeout", G(st->header_timeouts)},
        {"register_timeout", G(st->register_timeouts)},
        {"ping_interval", G(st->ping_timeouts)},
        {"max_msg_rate", G(st->dropped_messages)},
        {"max_msg_rate_close", G(st->rate_closes)},
        {"max_message", G(st->ws_closes[sp_server_close_slot(1009)])},
        {"max_queue", G(st->slow_consumers)},
        {"request_head", G(st->head_too_large)},
        {"request_target", G(st->url_too_long)},
        {"request_body", G(st->body_too_large)},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
      snprintf(label, sizeof label, "limit=\"%s\"", rows[k].limit);
      sp__sample(out, "snakepit_limits_hit_total", i, label, (double)rows[k].v);
    }
  }
  SP_NET_FAMILY(out, sh, "snakepit_slow_readers_cut_total", "counter",
                "Connections cut off because their queue passed --max-queue.",
                G(st->slow_consumers));
}

static void sp__rooms(sp_shared *sh, sp_buf *out) {
  SP_ROOM_FAMILY(out, sh, "snakepit_rooms", "gauge",
                 "Rooms whose game this worker runs.", G(rs->rooms));
  SP_ROOM_FAMILY(out, sh, "snakepit_snakes", "gauge",
                 "Live snakes (bots included) in the rooms this worker runs.",
                 G(rs->snakes));
  SP_ROOM_FAMILY(out, sh, "snakepit_players", "gauge",
                 "Members that sent new_player, in the rooms this worker "
                 "runs.",
                 G(rs->players));
  SP_ROOM_FAMILY(out, sh, "snakepit_deaths_total", "counter",
                 "Snakes that died.", G(rs->deaths));
  SP_ROOM_FAMILY(out, sh, "snakepit_ticks_total", "counter", "Game ticks.",
                 G(rs->ticks));
  SP_ROOM_FAMILY(out, sh, "snakepit_ticks_late_total", "counter",
                 "Ticks that started more than a quarter of an interval late.",
                 G(rs->late_ticks));
  static const uint64_t le_us[SP_TICK_BUCKETS - 1] = SP_TICK_BUCKETS_US;
  const char *h = "snakepit_tick_duration_seconds";
  sp__family(out, h, "histogram",
             "Wall time of a tick's work: the game's step, encoding, "
             "handing the frames to every loop.");
  for (int i = 0; i < sh->nworkers; i++) {
    const sp_room_stats *rs = sp_worker_room_stats(sh->workers[i]);
    uint64_t cum = 0;
    char label[48];
    for (int b = 0; b < SP_TICK_BUCKETS; b++) {
      cum += G(rs->tick_hist[b]);
      if (b < SP_TICK_BUCKETS - 1)
        snprintf(label, sizeof label, "le=\"%g\"", (double)le_us[b] / 1e6);
      else
        snprintf(label, sizeof label, "le=\"+Inf\"");
      sp__sample(out, "snakepit_tick_duration_seconds_bucket", i, label,
                 (double)cum);
    }
    sp__sample(out, "snakepit_tick_duration_seconds_sum", i, NULL,
               (double)G(rs->tick_wall_ns) / 1e9);
    sp__sample(out, "snakepit_tick_duration_seconds_count", i, NULL,
               (double)cum);
  }
  SP_ROOM_FAMILY(out, sh, "snakepit_bot_searches_total", "counter",
                 "Bot path searches that came back.", G(rs->bots.searches));
  SP_ROOM_FAMILY(out, sh, "snakepit_bot_search_seconds_total", "counter",
                 "Time bot searches took on the thread pool.",
                 (double)G(rs->bots.search_ns) / 1e9);
  SP_ROOM_FAMILY(out, sh, "snakepit_bot_answers_late_total", "counter",
                 "Bot answers still pending at the tick they were for.",
                 G(rs->bots.late));
}

static void sp__hub(sp_shared *sh, sp_buf *out) {
  uint64_t writes = 0, failures = 0;
  const char *store = sh->cluster ? "redis" : "sqlite";
  sp_cluster_stats cs;
  if (sh->cluster) {
    sp_cluster_get_stats(sh->cluster, &cs);
    writes = cs.score_writes;
    failures = cs.score_write_failures;
  } else if (sh->scores) {
    sp_scores_stats ss;
    sp_scores_get_stats(sh->scores, &ss);
    writes = ss.writes;
    failures = ss.failures;
  }
  char label[32];
  snprintf(label, sizeof label, "store=\"%s\"", store);
  sp__family(out, "snakepit_score_writes_total", "counter",
             "Score writes the store acknowledged (SQLite transactions, "
             "Redis submissions).");
  sp__sample(out, "snakepit_score_writes_total", -1, label, (double)writes);
  sp__family(out, "snakepit_score_write_failures_total", "counter",
             "Score writes that failed (and are retried).");
  sp__sample(out, "snakepit_score_write_failures_total", -1, label,
             (double)failures);
  if (!sh->cluster)
    return;
  sp__family(out, "snakepit_redis_up", "gauge",
             "1 while both Redis connections answer, else 0.");
  sp__sample(out, "snakepit_redis_up", -1, NULL, cs.redis_up ? 1 : 0);
  sp__family(out, "snakepit_leases_held", "gauge",
             "Room leases this node holds.");
  sp__sample(out, "snakepit_leases_held", -1, NULL, (double)cs.leases_held);
  sp__family(out, "snakepit_lease_claims_total", "counter",
             "Room leases granted to this node.");
  sp__sample(out, "snakepit_lease_claims_total", -1, NULL,
             (double)cs.lease_claims);
  sp__family(out, "snakepit_lease_losses_total", "counter",
             "Room leases this node lost (expired or taken).");
  sp__sample(out, "snakepit_lease_losses_total", -1, NULL,
             (double)cs.lease_losses);
  sp__family(out, "snakepit_redis_outages_total", "counter",
             "Times Redis went from up to down.");
  sp__sample(out, "snakepit_redis_outages_total", -1, NULL,
             (double)cs.redis_outages);
  sp__family(out, "snakepit_scores_pending", "gauge",
             "Scores waiting for Redis to acknowledge them.");
  sp__sample(out, "snakepit_scores_pending", -1, NULL,
             (double)cs.scores_pending);
}

void sp_metrics_write(sp_shared *sh, sp_buf *out) {
  sp__family(out, "snakepit_build_info", "gauge",
             "Always 1; the labels say which build this is.");
  sp_buf_puts(out, "snakepit_build_info{version=\"" SP_VERSION "\"} 1\n");
  sp__family(out, "snakepit_workers", "gauge", "Worker loops (--workers).");
  sp__sample(out, "snakepit_workers", -1, NULL, sh->nworkers);
  sp__family(out, "snakepit_ready", "gauge",
             "1 while /readyz answers 200, else 0.");
  sp__sample(out, "snakepit_ready", -1, NULL, sp_shared_ready(sh));
  sp__net(sh, out);
  sp__rooms(sh, out);
  sp__hub(sh, out);
}
