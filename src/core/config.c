#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "core/log.h"

/* ---- the table ---------------------------------------------------------- */

#define SECONDS "seconds from 0.1 to 86400"

static const char *const sp__levels[] = {"debug", "info", "warn", "error",
                                         NULL};
static const char *const sp__formats[] = {"logfmt", "json", NULL};

static const char *const sp__sections[] = {
    "",
    "Limits:\n",
    "Scale and play:\n",
    "Cluster (several nodes behind HAProxy, sharing state in Redis):\n",
    "Configuration and logs:\n",
    ""};

/* Shorthands for the table: where a value lives, and a number's range. */
#define AT(field) .offset = offsetof(sp_config, field)
#define TEXT(field) AT(field), .size = sizeof(((sp_config *)0)->field)
#define RANGE(a, b) .lo = (a), .hi = (b)

const sp_option sp_options[SP_OPT_COUNT] = {
    [SP_OPT_HOST] = {.name = "host",
                     .arg = "ADDR",
                     .kind = SP_KIND_HOST,
                     TEXT(host_name),
                     .def = "0.0.0.0",
                     .valid = "an IPv4 or IPv6 address or a host name",
                     .help = "address to listen on; a host name is resolved "
                             "at start to its first IPv4 address (else "
                             "IPv6)"},
    [SP_OPT_PORT] = {.name = "port",
                     .arg = "N",
                     .kind = SP_KIND_INT,
                     AT(port),
                     RANGE(0, 65535),
                     .def = "8080",
                     .valid = "0..65535",
                     .help = "TCP port, 0 for any free one ($PORT is used "
                             "when no --port is given)"},
    [SP_OPT_DATA] = {.name = "data",
                     .arg = "DIR",
                     .kind = SP_KIND_STRING,
                     TEXT(data_dir),
                     .def = "./data",
                     .valid = "a directory path",
                     .help = "where the top scores live, created if missing"},
    [SP_OPT_STATIC] = {.name = "static",
                       .arg = "DIR",
                       .kind = SP_KIND_STRING,
                       TEXT(static_dir),
                       .def_doc = "the built-in copy",
                       .valid = "a directory path",
                       .help = "serve the web client from DIR"},
    [SP_OPT_TICK_RATE] = {.name = "tick-rate",
                          .arg = "HZ",
                          .kind = SP_KIND_DOUBLE,
                          AT(tick_rate),
                          RANGE(0.1, 1000),
                          .def = "10",
                          .valid = "a number from 0.1 to 1000",
                          .help = "game ticks per second, a decimal number"},
    [SP_OPT_MAX_PLAYERS] = {.name = "max-players",
                            .arg = "N",
                            .kind = SP_KIND_INT,
                            AT(max_players),
                            RANGE(1, 1000),
                            .def = "10",
                            .valid = "1..1000",
                            .help = "live snakes per room"},
    [SP_OPT_FIELD] = {.name = "field",
                      .arg = "WxH",
                      .kind = SP_KIND_FIELD,
                      RANGE(SP_MIN_FIELD, SP_MAX_FIELD),
                      .def = "50x25",
                      .valid = "WxH, each side 11..1000",
                      .help = "field size in cells, each side 11..1000"},
    [SP_OPT_SEED] = {.name = "seed",
                     .arg = "N",
                     .kind = SP_KIND_SEED,
                     .def_doc = "random",
                     .valid = "a non-negative integer",
                     .help = "fixed random seed, for reproducible games"},
    [SP_OPT_MAX_MESSAGE] = {.name = "max-message",
                            .arg = "BYTES",
                            .kind = SP_KIND_SIZE,
                            AT(max_message),
                            RANGE(16, 16 * 1024 * 1024),
                            .def = "4096",
                            .valid = "16..16777216",
                            .help = "largest client message",
                            .flags = SP_OPT_RUNTIME},
    [SP_OPT_MAX_QUEUE] = {.name = "max-queue",
                          .arg = "BYTES",
                          .kind = SP_KIND_SIZE,
                          AT(max_queue),
                          RANGE(1024, 4294967296.0),
                          .def = "1048576",
                          .valid = "1024..4294967296",
                          .help = "outgoing bytes a connection may have "
                                  "queued",
                          .flags = SP_OPT_RUNTIME},
    /* Without a cap, Linux grows a slow reader's send buffer to
     * net.ipv4.tcp_wmem's maximum (4 MiB by default): memory outside
     * --max-queue, and seconds before the reader is found out. */
    [SP_OPT_SNDBUF] = {.name = "sndbuf",
                       .arg = "BYTES",
                       .kind = SP_KIND_SIZE,
                       AT(sndbuf),
                       RANGE(0, 16 * 1024 * 1024),
                       .def = "0",
                       .valid = "0..16777216",
                       .help = "kernel send buffer of each new connection; "
                               "0 leaves it to the kernel",
                       .flags = SP_OPT_RUNTIME},
    [SP_OPT_MAX_CONNS] = {.name = "max-conns",
                          .arg = "N",
                          .kind = SP_KIND_INT,
                          AT(max_conns_asked),
                          RANGE(1, 1000000),
                          .def_doc = "what the descriptor limit allows, at "
                                     "most 50000",
                          .valid = "1..1000000",
                          .help = "open connections in all",
                          .section = 1,
                          .flags = SP_OPT_RUNTIME},
    [SP_OPT_MAX_CONNS_PER_IP] = {.name = "max-conns-per-ip",
                                 .arg = "N",
                                 .kind = SP_KIND_INT,
                                 AT(max_conns_per_ip),
                                 RANGE(1, 1000000),
                                 .def = "64",
                                 .valid = "1..1000000",
                                 .help = "open connections per client "
                                         "address",
                                 .section = 1,
                                 .flags = SP_OPT_RUNTIME},
    [SP_OPT_HEADER_TIMEOUT] = {.name = "header-timeout",
                               .arg = "S",
                               .kind = SP_KIND_DOUBLE,
                               AT(header_timeout),
                               RANGE(0.1, 86400),
                               .def = "10",
                               .valid = SECONDS,
                               .help = "seconds for a whole HTTP request "
                                       "head",
                               .section = 1,
                               .flags = SP_OPT_RUNTIME},
    [SP_OPT_REGISTER_TIMEOUT] = {.name = "register-timeout",
                                 .arg = "S",
                                 .kind = SP_KIND_DOUBLE,
                                 AT(register_timeout),
                                 RANGE(0.1, 86400),
                                 .def = "30",
                                 .valid = SECONDS,
                                 .help = "seconds for a WebSocket to send "
                                         "new_player",
                                 .section = 1,
                                 .flags = SP_OPT_RUNTIME},
    [SP_OPT_PING_INTERVAL] = {.name = "ping-interval",
                              .arg = "S",
                              .kind = SP_KIND_DOUBLE,
                              AT(ping_interval),
                              RANGE(0.1, 86400),
                              .def = "20",
                              .valid = SECONDS,
                              .help = "ping after S seconds of silence, "
                                      "close if no answer within S more",
                              .section = 1,
                              .flags = SP_OPT_RUNTIME},
    [SP_OPT_MAX_MSG_RATE] = {.name = "max-msg-rate",
                             .arg = "N",
                             .kind = SP_KIND_DOUBLE,
                             AT(max_msg_rate),
                             RANGE(0.1, 86400),
                             .def = "30",
                             .valid = "messages per second, 0.1 to 86400",
                             .help = "client messages per second; excess is "
                                     "dropped, and a client over it for 5 s "
                                     "is closed",
                             .section = 1,
                             .flags = SP_OPT_RUNTIME},
    [SP_OPT_ALLOWED_ORIGINS] = {.name = "allowed-origins",
                                .arg = "L",
                                .kind = SP_KIND_STRING,
                                TEXT(allowed_origins),
                                .def_doc = "any",
                                .valid = "a comma-separated list of origins",
                                .help = "comma-separated Origins allowed to "
                                        "open a WebSocket",
                                .section = 1,
                                .flags = SP_OPT_RUNTIME},
    [SP_OPT_WORKERS] = {.name = "workers",
                        .arg = "N",
                        .kind = SP_KIND_INT,
                        AT(workers),
                        RANGE(1, 64),
                        .def_doc = "the CPUs this process may use",
                        .valid = "1..64",
                        .help = "event loops, one thread each",
                        .section = 2},
    [SP_OPT_BOTS] = {.name = "bots",
                     .arg = "N",
                     .kind = SP_KIND_INT,
                     AT(bots),
                     RANGE(0, 100),
                     .def = "0",
                     .valid = "0..100",
                     .help = "computer snakes per room while a human plays",
                     .section = 2},
    [SP_OPT_ROUND_SECONDS] = {.name = "round-seconds",
                              .arg = "S",
                              .kind = SP_KIND_INT,
                              AT(round_seconds),
                              RANGE(0, 86400),
                              .def = "0",
                              .valid = "whole seconds, 0..86400",
                              .help = "length of a timed round, 0 for "
                                      "unlimited",
                              .section = 2},
    [SP_OPT_STANDINGS_SECONDS] = {.name = "standings-seconds",
                                  .arg = "S",
                                  .kind = SP_KIND_INT,
                                  AT(standings_seconds),
                                  RANGE(1, 600),
                                  .def = "6",
                                  .valid = "whole seconds, 1..600",
                                  .help = "how long a round's standings are "
                                          "shown before the next round",
                                  .section = 2},
    [SP_OPT_CHAT_MAX_CHARS] = {.name = "chat-max-chars",
                               .arg = "N",
                               .kind = SP_KIND_INT,
                               AT(chat_max_chars),
                               RANGE(1, 500),
                               .def = "120",
                               .valid = "1..500",
                               .help = "longest chat message in characters",
                               .section = 2},
    [SP_OPT_CHAT_RATE] = {.name = "chat-rate",
                          .arg = "N",
                          .kind = SP_KIND_DOUBLE,
                          AT(chat_rate),
                          RANGE(0, 1000),
                          .def = "5",
                          .valid = "messages per 10 s, 0 to 1000",
                          .help = "chat messages a player may send per 10 "
                                  "seconds; 0 for no chat",
                          .section = 2},
    [SP_OPT_REDIS] = {.name = "redis",
                      .arg = "URL",
                      .kind = SP_KIND_REDIS,
                      TEXT(redis_url),
                      .def_doc = "off: one node, scores in SQLite",
                      .valid = "redis://HOST:PORT[/DB] or unix:PATH",
                      .help = "turns cluster mode on: rooms, scores and "
                              "events shared through this Redis",
                      .section = 3},
    [SP_OPT_NODE_ID] = {.name = "node-id",
                        .arg = "ID",
                        .kind = SP_KIND_NAME,
                        TEXT(node_id),
                        .def_doc = "the host name and the port",
                        .valid = "1 to 32 of A-Z a-z 0-9 _ -",
                        .help = "this node's name in the cluster (HAProxy's "
                                "server name)",
                        .section = 3},
    [SP_OPT_LEASE_TIME] = {.name = "lease-time",
                           .arg = "S",
                           .kind = SP_KIND_DOUBLE,
                           AT(lease_time),
                           RANGE(1, 600),
                           .def = "3",
                           .valid = "seconds from 1 to 600",
                           .help = "how long a room's lease lasts unrenewed: "
                                   "a dead node's rooms move after S seconds",
                           .section = 3},
    [SP_OPT_REDIS_TIMEOUT] = {.name = "redis-timeout",
                              .arg = "S",
                              .kind = SP_KIND_DOUBLE,
                              AT(redis_timeout),
                              RANGE(0.1, 60),
                              .def = "1",
                              .valid = "seconds from 0.1 to 60, at most half "
                                       "of --lease-time",
                              .help = "a Redis that does not answer within S "
                                      "seconds is taken as down",
                              .section = 3},
    [SP_OPT_CONFIG] = {.name = "config",
                       .arg = "FILE",
                       .kind = SP_KIND_STRING,
                       TEXT(config_file),
                       .def_doc = "none",
                       .valid = "a file path",
                       .help = "read options from FILE, one `name = value` "
                               "a line (a flag wins); SIGHUP reads it again",
                       .section = 4,
                       .flags = SP_OPT_CLI},
    [SP_OPT_LOG_LEVEL] = {.name = "log-level",
                          .arg = "LEVEL",
                          .kind = SP_KIND_CHOICE,
                          AT(log_level),
                          .choices = sp__levels,
                          .def = "info",
                          .valid = "debug, info, warn or error",
                          .help = "debug, info, warn or error",
                          .section = 4,
                          .flags = SP_OPT_RUNTIME},
    [SP_OPT_LOG_FORMAT] = {.name = "log-format",
                           .arg = "FORMAT",
                           .kind = SP_KIND_CHOICE,
                           AT(log_format),
                           .choices = sp__formats,
                           .def = "logfmt",
                           .valid = "logfmt or json",
                           .help = "logfmt (key=value) or json (one object "
                                   "a line)",
                           .section = 4,
                           .flags = SP_OPT_RUNTIME},
    [SP_OPT_LOG_FILE] = {.name = "log-file",
                         .arg = "PATH",
                         .kind = SP_KIND_STRING,
                         TEXT(log_file),
                         .def_doc = "standard error",
                         .valid = "a file path",
                         .help = "append the log to PATH; SIGHUP reopens it",
                         .section = 4,
                         .flags = SP_OPT_RUNTIME},
    [SP_OPT_ADMIN_TOKEN_FILE] = {.name = "admin-token-file",
                                 .arg = "FILE",
                                 .kind = SP_KIND_STRING,
                                 TEXT(admin_token_file),
                                 .def_doc = "none: no admin console",
                                 .valid = "a file path",
                                 .help = "turns the admin console (/admin) "
                                         "on; its token is FILE's first line",
                                 .section = 4},
    [SP_OPT_HELP] = {.name = "help",
                     .kind = SP_KIND_FLAG,
                     .help = "show this help and exit",
                     .section = 5,
                     .flags = SP_OPT_CLI},
    [SP_OPT_VERSION] = {.name = "version",
                        .kind = SP_KIND_FLAG,
                        .help = "show the version and exit",
                        .section = 5,
                        .flags = SP_OPT_CLI},
};

uint64_t sp_config_runtime_mask(void) {
  uint64_t m = 0;
  for (int i = 0; i < SP_OPT_COUNT; i++)
    if (sp_options[i].flags & SP_OPT_RUNTIME)
      m |= SP_OPT_BIT(i);
  return m;
}

/* ---- values ------------------------------------------------------------- */

/* Parses a whole decimal integer in [lo, hi]; 0 on success. */
static int sp__parse_int(const char *s, long long lo, long long hi,
                         long long *out) {
  char *end;
  errno = 0;
  if (*s == '\0' || *s == ' ' || *s == '+')
    return -1;
  long long v = strtoll(s, &end, 10);
  if (errno || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

/* A host name as RFC 1123 allows it: dot-separated labels of letters,
 * digits and inner hyphens, the last one not all digits (so that a
 * mistyped address such as 999.1.1.1 is not taken for a name). */
static int sp__host_name_ok(const char *s) {
  size_t n = strlen(s), label = 0;
  int digits_only = 1;
  if (n == 0 || n > 253 || s[0] == '.')
    return 0;
  for (size_t i = 0; i <= n; i++) {
    char c = s[i];
    if (c == '.' || c == '\0') {
      if (label == 0 || s[i - 1] == '-')
        return 0;
      if (c == '\0' || (c == '.' && s[i + 1] == '\0'))
        return !digits_only;
      label = 0;
      digits_only = 1;
      continue;
    }
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    int digit = c >= '0' && c <= '9';
    if (!alpha && !digit && c != '-')
      return 0;
    if (c == '-' && label == 0)
      return 0;
    if (!digit)
      digits_only = 0;
    if (++label > 63)
      return 0;
  }
  return 0;
}

/* Parses and checks text for option o and stores it in cfg. Returns 0, or
 * -1 when the value is not valid (cfg unchanged). */
static int sp__set(const sp_option *o, sp_config *cfg, const char *v) {
  char *p = (char *)cfg + o->offset;
  long long n;
  switch (o->kind) {
  case SP_KIND_FLAG: return 0;
  case SP_KIND_INT:
    if (sp__parse_int(v, (long long)o->lo, (long long)o->hi, &n))
      return -1;
    *(int *)p = (int)n;
    return 0;
  case SP_KIND_SIZE:
    if (sp__parse_int(v, (long long)o->lo, (long long)o->hi, &n))
      return -1;
    *(size_t *)p = (size_t)n;
    return 0;
  case SP_KIND_DOUBLE: {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end != '\0' || !isfinite(d) || d < o->lo ||
        d > o->hi)
      return -1;
    *(double *)p = d;
    return 0;
  }
  case SP_KIND_SEED: {
    char *end;
    errno = 0;
    if (*v < '0' || *v > '9')
      return -1;
    unsigned long long u = strtoull(v, &end, 10);
    if (errno || *end != '\0')
      return -1;
    cfg->seed = u;
    cfg->has_seed = 1;
    return 0;
  }
  case SP_KIND_HOST: {
    unsigned char addr[sizeof(struct in6_addr)];
    if (strlen(v) >= o->size ||
        (inet_pton(AF_INET, v, addr) != 1 &&
         inet_pton(AF_INET6, v, addr) != 1 && !sp__host_name_ok(v)))
      return -1;
    strcpy(p, v);
    return 0;
  }
  case SP_KIND_STRING:
    if (strlen(v) == 0 || strlen(v) >= o->size)
      return -1;
    strcpy(p, v);
    return 0;
  case SP_KIND_NAME: {
    size_t len = strlen(v);
    if (len == 0 || len >= o->size)
      return -1;
    for (size_t i = 0; i < len; i++)
      if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z') ||
            (v[i] >= '0' && v[i] <= '9') || v[i] == '_' || v[i] == '-'))
        return -1;
    strcpy(p, v);
    return 0;
  }
  case SP_KIND_REDIS: {
    const char *why;
    sp_redis_url url;
    if (strlen(v) >= o->size || sp_redis_url_parse(v, &url, &why) != 0)
      return -1;
    strcpy(p, v);
    cfg->redis = url;
    cfg->cluster = 1;
    return 0;
  }
  case SP_KIND_CHOICE:
    for (int i = 0; o->choices[i]; i++)
      if (strcmp(v, o->choices[i]) == 0) {
        *(int *)p = i;
        return 0;
      }
    return -1;
  case SP_KIND_FIELD: {
    char w[16], h[16];
    const char *x = strchr(v, 'x');
    long long fw, fh;
    if (!x || x == v || (size_t)(x - v) >= sizeof w ||
        strlen(x + 1) >= sizeof h)
      return -1;
    memcpy(w, v, (size_t)(x - v));
    w[x - v] = '\0';
    strcpy(h, x + 1);
    if (sp__parse_int(w, (long long)o->lo, (long long)o->hi, &fw) ||
        sp__parse_int(h, (long long)o->lo, (long long)o->hi, &fh))
      return -1;
    cfg->field_w = (int)fw;
    cfg->field_h = (int)fh;
    return 0;
  }
  }
  return -1;
}

/* Bytes of a value held in one piece (0: strings, seed and field). */
static size_t sp__scalar_size(sp_opt_kind kind) {
  switch (kind) {
  case SP_KIND_INT:
  case SP_KIND_CHOICE: return sizeof(int);
  case SP_KIND_SIZE: return sizeof(size_t);
  case SP_KIND_DOUBLE: return sizeof(double);
  default: return 0;
  }
}

/* Copies the value of option o from src to dst. */
static void sp__assign(const sp_option *o, sp_config *dst,
                       const sp_config *src) {
  char *d = (char *)dst + o->offset;
  const char *v = (const char *)src + o->offset;
  if (o->kind == SP_KIND_SEED) {
    dst->seed = src->seed;
    dst->has_seed = src->has_seed;
  } else if (o->kind == SP_KIND_FIELD) {
    dst->field_w = src->field_w;
    dst->field_h = src->field_h;
  } else if (o->kind == SP_KIND_REDIS) {
    strcpy(d, v);
    dst->redis = src->redis;
    dst->cluster = src->cluster;
  } else if (o->kind == SP_KIND_STRING || o->kind == SP_KIND_HOST ||
             o->kind == SP_KIND_NAME) {
    strcpy(d, v);
  } else {
    memcpy(d, v, sp__scalar_size(o->kind));
  }
}

static int sp__equal(const sp_option *o, const sp_config *a,
                     const sp_config *b) {
  const char *va = (const char *)a + o->offset,
             *vb = (const char *)b + o->offset;
  if (o->kind == SP_KIND_SEED)
    return a->has_seed == b->has_seed && a->seed == b->seed;
  if (o->kind == SP_KIND_FIELD)
    return a->field_w == b->field_w && a->field_h == b->field_h;
  if (o->kind == SP_KIND_STRING || o->kind == SP_KIND_HOST ||
      o->kind == SP_KIND_NAME || o->kind == SP_KIND_REDIS)
    return strcmp(va, vb) == 0;
  return memcmp(va, vb, sp__scalar_size(o->kind)) == 0;
}

const char *sp_config_format(const sp_config *cfg, sp_opt_id id, char *out,
                             size_t outlen) {
  const sp_option *o = &sp_options[id];
  const char *p = (const char *)cfg + o->offset;
  switch (o->kind) {
  case SP_KIND_FLAG: snprintf(out, outlen, "%s", ""); break;
  case SP_KIND_SEED:
    if (cfg->has_seed)
      snprintf(out, outlen, "%llu", (unsigned long long)cfg->seed);
    else
      snprintf(out, outlen, "%s", "");
    break;
  case SP_KIND_INT: snprintf(out, outlen, "%d", *(const int *)p); break;
  case SP_KIND_CHOICE:
    snprintf(out, outlen, "%s", o->choices[*(const int *)p]);
    break;
  case SP_KIND_SIZE: snprintf(out, outlen, "%zu", *(const size_t *)p); break;
  case SP_KIND_DOUBLE: snprintf(out, outlen, "%g", *(const double *)p); break;
  case SP_KIND_FIELD:
    snprintf(out, outlen, "%dx%d", cfg->field_w, cfg->field_h);
    break;
  case SP_KIND_HOST:
  case SP_KIND_NAME:
  case SP_KIND_REDIS:
  case SP_KIND_STRING: snprintf(out, outlen, "%s", p); break;
  }
  return out;
}

/* The CPUs this process may use (its affinity mask), at least 1. */
static int sp__cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0)
      return n > 64 ? 64 : n;
  }
  return 1;
}

void sp_config_default(sp_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  for (int i = 0; i < SP_OPT_COUNT; i++)
    if (sp_options[i].def && sp__set(&sp_options[i], cfg, sp_options[i].def))
      abort(); /* a default the table itself refuses */
  strcpy(cfg->host, cfg->host_name);
  cfg->max_conns = SP_DEFAULT_MAX_CONNS;
  cfg->workers = sp__cpus();
}

/* ---- errors ------------------------------------------------------------- */

/* A value as it goes into an error line: control bytes shown as '?', so
 * that the message stays one line, and cut at 200 bytes. */
static const char *sp__shown(char *out, size_t outlen, const char *v) {
  size_t o = 0;
  for (; *v && o + 4 < outlen && o < 200; v++)
    out[o++] = ((unsigned char)*v < 0x20 || *v == 0x7f) ? '?' : *v;
  if (*v)
    out[o++] = '.', out[o++] = '.', out[o++] = '.';
  out[o] = '\0';
  return out;
}

/* where: "--" for a flag, "FILE:LINE: " for a file. */
static int sp__bad(char *err, size_t errlen, const char *where,
                   const sp_option *o, const char *v) {
  char shown[256];
  snprintf(err, errlen, "%sinvalid value for %s%s: '%s' (%s)",
           where[0] == '-' ? "" : where, where[0] == '-' ? "--" : "", o->name,
           sp__shown(shown, sizeof shown, v), o->valid);
  return 2;
}

/* ---- --help ------------------------------------------------------------- */

#define SP_HELP_COL 23 /* where the help texts start */
#define SP_HELP_WIDTH 79

/* Prints text from column `col`, wrapped at SP_HELP_WIDTH, continuation
 * lines indented to SP_HELP_COL. */
static void sp__wrap(FILE *f, int col, const char *text) {
  while (*text) {
    const char *w = text;
    while (*w && *w != ' ')
      w++;
    int len = (int)(w - text);
    if (col > SP_HELP_COL && col + 1 + len > SP_HELP_WIDTH) {
      fprintf(f, "\n%*s", SP_HELP_COL, "");
      col = SP_HELP_COL;
    } else if (col > SP_HELP_COL) {
      fputc(' ', f);
      col++;
    }
    fwrite(text, 1, (size_t)len, f);
    col += len;
    text = *w ? w + 1 : w;
  }
  fputc('\n', f);
}

static void sp__help(FILE *f) {
  fputs("Usage: snakepit [OPTION]...\n"
        "A real-time multiplayer Snakepit game server: the web client at /,\n"
        "WebSocket play at /connect?room=NAME.\n",
        f);
  int section = -1;
  for (int i = 0; i < SP_OPT_COUNT; i++) {
    const sp_option *o = &sp_options[i];
    if (o->section != section) {
      section = o->section;
      fprintf(f, "\n%s", sp__sections[section]);
    }
    char head[64], text[512];
    int col = snprintf(head, sizeof head, "  --%s%s%s", o->name,
                       o->arg ? " " : "", o->arg ? o->arg : "");
    fputs(head, f);
    if (col >= SP_HELP_COL) /* no room for a space: text on the next line */
      fputc('\n', f), col = 0;
    fprintf(f, "%*s", SP_HELP_COL - col, "");
    if (o->def)
      snprintf(text, sizeof text, "%s (default %s)", o->help, o->def);
    else if (o->def_doc)
      snprintf(text, sizeof text, "%s (default: %s)", o->help, o->def_doc);
    else
      snprintf(text, sizeof text, "%s", o->help);
    sp__wrap(f, SP_HELP_COL, text);
  }
}

/* ---- the configuration file --------------------------------------------- */

static char *sp__trim(char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  char *e = s + strlen(s);
  while (e > s &&
         (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
    *--e = '\0';
  return s;
}

static const sp_option *sp__find(const char *name) {
  for (int i = 0; i < SP_OPT_COUNT; i++)
    if (strcmp(sp_options[i].name, name) == 0)
      return &sp_options[i];
  return NULL;
}

/* One line of a configuration file (`where` is "FILE:LINE: "): a blank
 * line, a comment, or `name = value` with an optional comment after the
 * value (`#` after a blank) and optional double quotes around it. Returns
 * 0, or 2 with one line in err. */
static int sp__load_line(sp_config *cfg, char *s, const char *where, char *err,
                         size_t errlen) {
  char shown[256];
  s = sp__trim(s);
  if (*s == '\0' || *s == '#')
    return 0;
  char *eq = strchr(s, '=');
  if (!eq) {
    snprintf(err, errlen, "%sexpected 'name = value', got '%s'", where,
             sp__shown(shown, sizeof shown, s));
    return 2;
  }
  *eq = '\0';
  char *name = sp__trim(s), *value = sp__trim(eq + 1);
  char *close = *value == '"' ? strchr(value + 1, '"') : NULL;
  if (close) {
    char *rest = sp__trim(close + 1);
    if (*rest && *rest != '#') {
      snprintf(err, errlen, "%stext after the closing quote: '%s'", where,
               sp__shown(shown, sizeof shown, rest));
      return 2;
    }
    *close = '\0';
    value++;
  } else {
    for (char *c = value; *c; c++)
      if (*c == '#' && c > value && (c[-1] == ' ' || c[-1] == '\t')) {
        *c = '\0';
        value = sp__trim(value);
        break;
      }
  }
  const sp_option *o = sp__find(name);
  if (!o) {
    snprintf(err, errlen, "%sunknown option '%s'", where,
             sp__shown(shown, sizeof shown, name));
    return 2;
  }
  if (o->flags & SP_OPT_CLI) {
    snprintf(err, errlen, "%s'%s' is for the command line only", where,
             o->name);
    return 2;
  }
  if (sp__set(o, cfg, value))
    return sp__bad(err, errlen, where, o, value);
  return 0;
}

/* Reads a configuration file into cfg. Returns 0, or 2 with one line in
 * err naming the file (and the line). */
static int sp__load_file(sp_config *cfg, const char *path, char *err,
                         size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "cannot read configuration file '%s': %s", path,
             strerror(errno));
    return 2;
  }
  char *line = NULL, where[1100];
  size_t cap = 0;
  ssize_t len;
  int rc = 0, lineno = 0;
  while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
    snprintf(where, sizeof where, "%s:%d: ", path, ++lineno);
    if ((size_t)len != strlen(line)) {
      snprintf(err, errlen, "%sa NUL byte", where);
      rc = 2;
    } else {
      rc = sp__load_line(cfg, line, where, err, errlen);
    }
  }
  if (rc == 0 && ferror(f)) {
    snprintf(err, errlen, "cannot read configuration file '%s': %s", path,
             strerror(errno));
    rc = 2;
  }
  free(line);
  fclose(f);
  return rc;
}

/* ---- the command line --------------------------------------------------- */

int sp_config_parse(sp_config *cfg, int argc, char **argv, const char *env_port,
                    char *err, size_t errlen) {
  struct option longopts[SP_OPT_COUNT + 1];
  for (int i = 0; i < SP_OPT_COUNT; i++)
    longopts[i] = (struct option){
        sp_options[i].name,
        sp_options[i].kind == SP_KIND_FLAG ? no_argument : required_argument,
        NULL, 256 + i};
  longopts[SP_OPT_COUNT] = (struct option){NULL, 0, NULL, 0};

  /* Two passes: the first checks the words and finds --config, so that the
   * file can be read before the flags, which win over it. */
  opterr = 0;
  for (int pass = 0; pass < 2; pass++) {
    optind = 0; /* GNU: start again from argv[1] */
    for (;;) {
      int c = getopt_long(argc, argv, ":", longopts, NULL);
      if (c == -1)
        break;
      if (c == ':') {
        snprintf(err, errlen, "option --%s needs a value",
                 optopt >= 256 ? sp_options[optopt - 256].name : "?");
        return 2;
      }
      if (c < 256 || c >= 256 + SP_OPT_COUNT) {
        snprintf(err, errlen, "unknown option '%s' (see --help)",
                 argv[optind - 1]);
        return 2;
      }
      const sp_option *o = &sp_options[c - 256];
      /* getopt takes the next word as the value even when it is another
       * option: `--port --bots 3` is a --port without its value. */
      if (optarg && optarg == argv[optind - 1] &&
          strncmp(optarg, "--", 2) == 0) {
        snprintf(err, errlen, "option --%s needs a value", o->name);
        return 2;
      }
      if (pass == 0) {
        if (c - 256 == SP_OPT_HELP) {
          sp__help(stdout);
          return 1;
        }
        if (c - 256 == SP_OPT_VERSION) {
          printf("snakepit %s\n", SP_VERSION);
          return 1;
        }
        if (c - 256 == SP_OPT_CONFIG && sp__set(o, cfg, optarg))
          return sp__bad(err, errlen, "--", o, optarg);
        continue;
      }
      if (sp__set(o, cfg, optarg))
        return sp__bad(err, errlen, "--", o, optarg);
      cfg->from_cli |= SP_OPT_BIT(c - 256);
    }
    if (pass == 0 && optind < argc) {
      snprintf(err, errlen, "unexpected argument '%s' (see --help)",
               argv[optind]);
      return 2;
    }
    if (pass == 0 && cfg->config_file[0] &&
        sp__load_file(cfg, cfg->config_file, err, errlen))
      return 2;
    if (pass == 0 && env_port && *env_port) {
      if (sp__set(&sp_options[SP_OPT_PORT], cfg, env_port)) {
        snprintf(err, errlen, "invalid value for PORT: '%s' (0..65535)",
                 env_port);
        return 2;
      }
      cfg->from_cli |= SP_OPT_BIT(SP_OPT_PORT);
    }
  }
  /* A renewal must be able to time out and be retried within a lease. */
  if (cfg->redis_timeout * 2 > cfg->lease_time) {
    snprintf(err, errlen,
             "invalid value for --redis-timeout: '%g' (at most half of "
             "--lease-time, %g s)",
             cfg->redis_timeout, cfg->lease_time);
    return 2;
  }
  return 0;
}

/* ---- start -------------------------------------------------------------- */

/* Finds the address of a host name: the first IPv4 one, else the first
 * IPv6 one, so that `--host localhost` is reached at 127.0.0.1. Returns the
 * number of addresses the name has (0 for an address), or -1 with err. */
static int sp__resolve(sp_config *cfg, char *err, size_t errlen) {
  unsigned char addr[sizeof(struct in6_addr)];
  int family = inet_pton(AF_INET, cfg->host_name, addr) == 1    ? AF_INET
               : inet_pton(AF_INET6, cfg->host_name, addr) == 1 ? AF_INET6
                                                                : 0;
  if (family) { /* an address already: written as inet_ntop writes it */
    inet_ntop(family, addr, cfg->host, sizeof cfg->host);
    return 0;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_ADDRCONFIG},
                  *res, *ai;
  int e = getaddrinfo(cfg->host_name, NULL, &hints, &res);
  if (e != 0) {
    snprintf(err, errlen, "invalid value for --host: '%s' (%s)", cfg->host_name,
             e == EAI_SYSTEM ? strerror(errno) : gai_strerror(e));
    return -1;
  }
  int n = 0;
  const struct addrinfo *pick = NULL;
  for (ai = res; ai; ai = ai->ai_next) {
    n++;
    if (!pick || (pick->ai_family != AF_INET && ai->ai_family == AF_INET))
      pick = ai;
  }
  const void *sa =
      pick->ai_family == AF_INET
          ? (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr
          : (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr;
  inet_ntop(pick->ai_family, sa, cfg->host, sizeof cfg->host);
  freeaddrinfo(res);
  return n;
}

/* Sets max_conns to what was asked (or, by default, SP_DEFAULT_MAX_CONNS),
 * raising the soft descriptor limit towards the hard one for it, and lower
 * if the hard limit does not allow it. The hard limit is the
 * administrator's (ulimit -Hn, systemd LimitNOFILE=). */
static void sp__fit_fds(sp_config *cfg) {
  int asked = cfg->max_conns_asked;
  rlim_t reserve = (rlim_t)SP_FD_RESERVE(cfg->workers);
  rlim_t want = (rlim_t)(asked ? asked : SP_DEFAULT_MAX_CONNS);
  struct rlimit rl;
  cfg->max_conns = (int)want;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want + reserve) {
    struct rlimit raised = rl;
    raised.rlim_cur =
        rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want + reserve
            ? want + reserve
            : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
      rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want + reserve)
    return;
  rlim_t room = rl.rlim_cur > reserve + 1 ? rl.rlim_cur - reserve : 1;
  cfg->max_conns = (int)room;
  if (asked)
    sp_log_warn("fd_limit",
                "max_conns_asked=%d max_conns=%d fd_limit=%llu fd_hard=%llu",
                asked, cfg->max_conns, (unsigned long long)rl.rlim_cur,
                (unsigned long long)rl.rlim_max);
}

int sp_config_prepare(sp_config *cfg, char *err, size_t errlen) {
  sp_log_set_level((sp_log_level)cfg->log_level);
  sp_log_set_format((sp_log_format)cfg->log_format);
  /* Resolve before the log moves to its file: a name that does not resolve
   * is a bad option, told where the command was typed. */
  int addresses = sp__resolve(cfg, err, errlen);
  if (addresses < 0)
    return 2;
  if (sp_log_open(cfg->log_file, err, errlen) != 0)
    return 1;
  if (addresses > 0)
    sp_log_info("host_resolved", "name=%s host=%s addresses=%d", cfg->host_name,
                cfg->host, addresses);
  sp__fit_fds(cfg);
  return 0;
}

/* ---- reload ------------------------------------------------------------- */

int sp_config_reload(const char *path, const sp_config *running,
                     sp_config *next, uint64_t *changed, char *err,
                     size_t errlen) {
  sp_config fresh;
  sp_config_default(&fresh);
  if (sp__load_file(&fresh, path, err, errlen) != 0)
    return 2;
  uint64_t diff = 0;
  for (int i = 0; i < SP_OPT_COUNT; i++) {
    const sp_option *o = &sp_options[i];
    /* What the command line gave at start still wins over the file. */
    if (running->from_cli & SP_OPT_BIT(i))
      sp__assign(o, &fresh, running);
    if (!sp__equal(o, running, &fresh))
      diff |= SP_OPT_BIT(i);
  }
  *next = *running;
  for (int i = 0; i < SP_OPT_COUNT; i++)
    if (diff & SP_OPT_BIT(i))
      sp__assign(&sp_options[i], next, &fresh);
  if (diff & SP_OPT_BIT(SP_OPT_MAX_CONNS))
    sp__fit_fds(next);
  *changed = diff;
  return 0;
}

/* Appends ",name" (or "name") to a list. */
static void sp__list_add(char *list, size_t len, const char *name) {
  size_t n = strlen(list);
  snprintf(list + n, len - n, "%s%s", n ? "," : "", name);
}

uint64_t sp_config_commit(sp_config *running, const sp_config *next,
                          uint64_t changed, uint64_t apply) {
  char applied[512] = "", restart[512] = "", err[512];
  char was[256], now[256], q[600], q2[600];
  uint64_t done = 0;
  /* Apply first, so that every line below is written as the new log
   * options say (level, format, file). */
  for (int i = 0; i < SP_OPT_COUNT; i++) {
    if (!(changed & apply & SP_OPT_BIT(i)))
      continue;
    if (i == SP_OPT_LOG_FILE && sp_log_open(next->log_file, err, sizeof err)) {
      sp_log_error("log_file_failed", "error=%s",
                   sp_log_quote(q, sizeof q, err, strlen(err)));
      continue;
    }
    if (i == SP_OPT_MAX_CONNS)
      running->max_conns = next->max_conns;
    sp__assign(&sp_options[i], running, next);
    done |= SP_OPT_BIT(i);
    sp__list_add(applied, sizeof applied, sp_options[i].name);
  }
  sp_log_set_level((sp_log_level)running->log_level);
  sp_log_set_format((sp_log_format)running->log_format);
  for (int i = 0; i < SP_OPT_COUNT; i++) {
    if (!(changed & SP_OPT_BIT(i)) || (done & SP_OPT_BIT(i)))
      continue;
    sp_config_format(running, (sp_opt_id)i, was, sizeof was);
    sp_config_format(next, (sp_opt_id)i, now, sizeof now);
    sp_log_warn("restart_needed", "option=%s running=%s asked=%s",
                sp_options[i].name, sp_log_quote(q, sizeof q, was, strlen(was)),
                sp_log_quote(q2, sizeof q2, now, strlen(now)));
    sp__list_add(restart, sizeof restart, sp_options[i].name);
  }
  sp_log_info("reload", "config=%s applied=%s not_applied=%s",
              sp_log_quote(q, sizeof q, running->config_file,
                           strlen(running->config_file)),
              applied[0] ? applied : "none", restart[0] ? restart : "none");
  return done;
}
