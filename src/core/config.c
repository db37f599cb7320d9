#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

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
  strcpy(cfg->host, "0.0.0.0");
  cfg->port = 8080;
  strcpy(cfg->data_dir, "./data");
  cfg->tick_rate = 10.0;
  cfg->max_players = 10;
  cfg->field_w = 50;
  cfg->field_h = 25;
  cfg->max_message = 4096;
  cfg->max_queue = 1024 * 1024;
  cfg->log_level = SP_LOG_INFO;
  cfg->max_conns = 50000;
  cfg->max_conns_per_ip = 64;
  cfg->header_timeout = 10;
  cfg->register_timeout = 30;
  cfg->ping_interval = 20;
  cfg->max_msg_rate = 30;
  cfg->workers = sp__cpus();
  cfg->bots = 0;
  cfg->round_seconds = 0;
  cfg->standings_seconds = 6;
  cfg->chat_max_chars = 120;
  cfg->chat_rate = 5;
}

static const char sp__usage[] =
    "Usage: snakepit [OPTION]...\n"
    "A real-time multiplayer Snakepit game server: the web client at /,\n"
    "WebSocket play at /connect?room=NAME.\n"
    "\n"
    "  --host ADDR          address to listen on (default 0.0.0.0)\n"
    "  --port N             TCP port, 0 for any free one (default 8080, or "
    "$PORT)\n"
    "  --data DIR           where the top scores live, created if missing "
    "(default ./data)\n"
    "  --static DIR         serve the web client from DIR instead of the "
    "built-in copy\n"
    "  --tick-rate HZ       game ticks per second, a decimal number (default "
    "10)\n"
    "  --max-players N      live snakes per room (default 10)\n"
    "  --field WxH          field size in cells, each side 11..1000 (default "
    "50x25)\n"
    "  --seed N             fixed random seed, for reproducible games\n"
    "  --max-message BYTES  largest client message (default 4096)\n"
    "  --max-queue BYTES    outgoing bytes a connection may have queued "
    "(default 1048576)\n"
    "  --log-level LEVEL    debug, info, warn or error (default info)\n"
    "\n"
    "Limits:\n"
    "  --max-conns N        open connections in all (default 50000)\n"
    "  --max-conns-per-ip N open connections per client address (default 64)\n"
    "  --header-timeout S   seconds for a whole HTTP request head (default "
    "10)\n"
    "  --register-timeout S seconds for a WebSocket to send new_player "
    "(default 30)\n"
    "  --ping-interval S    ping after S seconds of silence, close if no "
    "answer\n"
    "                       within S more (default 20)\n"
    "  --max-msg-rate N     client messages per second; excess is dropped, "
    "and\n"
    "                       a client over it for 5 s is closed (default 30)\n"
    "  --allowed-origins L  comma-separated Origins allowed to open a "
    "WebSocket\n"
    "                       (default: any)\n"
    "\n"
    "Scale and play:\n"
    "  --workers N          event loops, one thread each (default: the CPUs "
    "this\n"
    "                       process may use)\n"
    "  --bots N             computer snakes per room while a human plays "
    "(default 0)\n"
    "  --round-seconds S    length of a timed round, 0 for unlimited "
    "(default 0)\n"
    "  --standings-seconds S  how long a round's standings are shown before "
    "the\n"
    "                       next round may start (default 6)\n"
    "  --chat-max-chars N   longest chat message in characters, 1..500 "
    "(default 120)\n"
    "  --chat-rate N        chat messages a player may send per 10 seconds, "
    "0 for\n"
    "                       no chat (default 5)\n"
    "\n"
    "  --help               show this help and exit\n"
    "  --version            show the version and exit\n";

static int sp__bad(const char *opt, const char *val, const char *why) {
  fprintf(stderr, "snakepit: invalid value for --%s: '%s' (%s)\n", opt, val,
          why);
  return 2;
}

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

static int sp__parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (*s < '0' || *s > '9')
    return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end != '\0')
    return -1;
  *out = v;
  return 0;
}

/* A positive decimal number of seconds (or a rate), 0.1 .. 86400. */
static int sp__parse_seconds(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end != '\0' || !isfinite(v) || v < 0.1 || v > 86400)
    return -1;
  *out = v;
  return 0;
}

static int sp__parse_port(const char *s, int *port) {
  long long v;
  if (sp__parse_int(s, 0, 65535, &v))
    return -1;
  *port = (int)v;
  return 0;
}

int sp_config_parse(sp_config *cfg, int argc, char **argv,
                    const char *env_port) {
  enum {
    O_HOST = 256,
    O_PORT,
    O_DATA,
    O_STATIC,
    O_TICK,
    O_MAXP,
    O_FIELD,
    O_SEED,
    O_MAXMSG,
    O_MAXQ,
    O_LOG,
    O_HELP,
    O_VERSION,
    O_MAXCONNS,
    O_MAXIP,
    O_HEADER_TO,
    O_REGISTER_TO,
    O_PING,
    O_RATE,
    O_ORIGINS,
    O_WORKERS,
    O_BOTS,
    O_ROUND,
    O_STANDINGS,
    O_CHAT_CHARS,
    O_CHAT_RATE
  };
  static const struct option opts[] = {
      {"host", required_argument, NULL, O_HOST},
      {"port", required_argument, NULL, O_PORT},
      {"data", required_argument, NULL, O_DATA},
      {"static", required_argument, NULL, O_STATIC},
      {"tick-rate", required_argument, NULL, O_TICK},
      {"max-players", required_argument, NULL, O_MAXP},
      {"field", required_argument, NULL, O_FIELD},
      {"seed", required_argument, NULL, O_SEED},
      {"max-message", required_argument, NULL, O_MAXMSG},
      {"max-queue", required_argument, NULL, O_MAXQ},
      {"log-level", required_argument, NULL, O_LOG},
      {"max-conns", required_argument, NULL, O_MAXCONNS},
      {"max-conns-per-ip", required_argument, NULL, O_MAXIP},
      {"header-timeout", required_argument, NULL, O_HEADER_TO},
      {"register-timeout", required_argument, NULL, O_REGISTER_TO},
      {"ping-interval", required_argument, NULL, O_PING},
      {"max-msg-rate", required_argument, NULL, O_RATE},
      {"allowed-origins", required_argument, NULL, O_ORIGINS},
      {"workers", required_argument, NULL, O_WORKERS},
      {"bots", required_argument, NULL, O_BOTS},
      {"round-seconds", required_argument, NULL, O_ROUND},
      {"standings-seconds", required_argument, NULL, O_STANDINGS},
      {"chat-max-chars", required_argument, NULL, O_CHAT_CHARS},
      {"chat-rate", required_argument, NULL, O_CHAT_RATE},
      {"help", no_argument, NULL, O_HELP},
      {"version", no_argument, NULL, O_VERSION},
      {NULL, 0, NULL, 0},
  };

  if (env_port && *env_port && sp__parse_port(env_port, &cfg->port)) {
    fprintf(stderr, "snakepit: invalid value for PORT: '%s' (0..65535)\n",
            env_port);
    return 2;
  }

  opterr = 0;
  optind = 1;
  for (;;) {
    int c = getopt_long(argc, argv, ":", opts, NULL);
    if (c == -1)
      break;
    const char *v = optarg;
    long long n;
    switch (c) {
    case O_HOST: {
      unsigned char addr[sizeof(struct in6_addr)];
      if (strlen(v) == 0 || strlen(v) >= sizeof cfg->host ||
          (inet_pton(AF_INET, v, addr) != 1 &&
           inet_pton(AF_INET6, v, addr) != 1))
        return sp__bad("host", v, "an IPv4 or IPv6 address");
      strcpy(cfg->host, v);
      break;
    }
    case O_PORT:
      if (sp__parse_port(v, &cfg->port))
        return sp__bad("port", v, "0..65535");
      break;
    case O_DATA:
      if (strlen(v) == 0 || strlen(v) >= sizeof cfg->data_dir)
        return sp__bad("data", v, "a directory path");
      strcpy(cfg->data_dir, v);
      break;
    case O_STATIC:
      if (strlen(v) == 0 || strlen(v) >= sizeof cfg->static_dir)
        return sp__bad("static", v, "a directory path");
      strcpy(cfg->static_dir, v);
      break;
    case O_TICK: {
      char *end;
      errno = 0;
      double hz = strtod(v, &end);
      if (errno || end == v || *end != '\0' || !isfinite(hz) || hz < 0.1 ||
          hz > 1000)
        return sp__bad("tick-rate", v, "a number from 0.1 to 1000");
      cfg->tick_rate = hz;
      break;
    }
    case O_MAXP:
      if (sp__parse_int(v, 1, 1000, &n))
        return sp__bad("max-players", v, "1..1000");
      cfg->max_players = (int)n;
      break;
    case O_FIELD: {
      char w[16], h[16];
      const char *x = strchr(v, 'x');
      long long fw, fh;
      if (!x || x == v || (size_t)(x - v) >= sizeof w ||
          strlen(x + 1) >= sizeof h)
        return sp__bad("field", v, "WxH, each side 11..1000");
      memcpy(w, v, (size_t)(x - v));
      w[x - v] = '\0';
      strcpy(h, x + 1);
      if (sp__parse_int(w, SP_MIN_FIELD, SP_MAX_FIELD, &fw) ||
          sp__parse_int(h, SP_MIN_FIELD, SP_MAX_FIELD, &fh))
        return sp__bad("field", v, "WxH, each side 11..1000");
      cfg->field_w = (int)fw;
      cfg->field_h = (int)fh;
      break;
    }
    case O_SEED:
      if (sp__parse_u64(v, &cfg->seed))
        return sp__bad("seed", v, "a non-negative integer");
      cfg->has_seed = 1;
      break;
    case O_MAXMSG:
      if (sp__parse_int(v, 16, 16 * 1024 * 1024, &n))
        return sp__bad("max-message", v, "16..16777216");
      cfg->max_message = (size_t)n;
      break;
    case O_MAXQ:
      if (sp__parse_int(v, 1024, 1LL << 32, &n))
        return sp__bad("max-queue", v, "1024..4294967296");
      cfg->max_queue = (size_t)n;
      break;
    case O_LOG: {
      int l = sp_log_parse_level(v);
      if (l < 0)
        return sp__bad("log-level", v, "debug, info, warn or error");
      cfg->log_level = l;
      break;
    }
    case O_MAXCONNS:
      if (sp__parse_int(v, 1, 1000000, &n))
        return sp__bad("max-conns", v, "1..1000000");
      cfg->max_conns = (int)n;
      break;
    case O_MAXIP:
      if (sp__parse_int(v, 1, 1000000, &n))
        return sp__bad("max-conns-per-ip", v, "1..1000000");
      cfg->max_conns_per_ip = (int)n;
      break;
    case O_HEADER_TO:
      if (sp__parse_seconds(v, &cfg->header_timeout))
        return sp__bad("header-timeout", v, "seconds from 0.1 to 86400");
      break;
    case O_REGISTER_TO:
      if (sp__parse_seconds(v, &cfg->register_timeout))
        return sp__bad("register-timeout", v, "seconds from 0.1 to 86400");
      break;
    case O_PING:
      if (sp__parse_seconds(v, &cfg->ping_interval))
        return sp__bad("ping-interval", v, "seconds from 0.1 to 86400");
      break;
    case O_RATE:
      if (sp__parse_seconds(v, &cfg->max_msg_rate))
        return sp__bad("max-msg-rate", v, "messages per second, 0.1 to 86400");
      break;
    case O_ORIGINS:
      if (strlen(v) == 0 || strlen(v) >= sizeof cfg->allowed_origins)
        return sp__bad("allowed-origins", v,
                       "a comma-separated list of origins");
      strcpy(cfg->allowed_origins, v);
      break;
    case O_WORKERS:
      if (sp__parse_int(v, 1, 64, &n))
        return sp__bad("workers", v, "1..64");
      cfg->workers = (int)n;
      break;
    case O_BOTS:
      if (sp__parse_int(v, 0, 100, &n))
        return sp__bad("bots", v, "0..100");
      cfg->bots = (int)n;
      break;
    case O_ROUND:
      if (sp__parse_int(v, 0, 86400, &n))
        return sp__bad("round-seconds", v, "whole seconds, 0..86400");
      cfg->round_seconds = (int)n;
      break;
    case O_STANDINGS:
      if (sp__parse_int(v, 1, 600, &n))
        return sp__bad("standings-seconds", v, "whole seconds, 1..600");
      cfg->standings_seconds = (int)n;
      break;
    case O_CHAT_CHARS:
      if (sp__parse_int(v, 1, 500, &n))
        return sp__bad("chat-max-chars", v, "1..500");
      cfg->chat_max_chars = (int)n;
      break;
    case O_CHAT_RATE: {
      char *end;
      errno = 0;
      double r = strtod(v, &end);
      if (errno || end == v || *end || !isfinite(r) || r < 0 || r > 1000)
        return sp__bad("chat-rate", v, "messages per 10 s, 0 to 1000");
      cfg->chat_rate = r;
      break;
    }
    case O_HELP: fputs(sp__usage, stdout); return 1;
    case O_VERSION: printf("snakepit %s\n", SP_VERSION); return 1;
    case ':':
      fprintf(stderr, "snakepit: option %s needs a value\n", argv[optind - 1]);
      return 2;
    default:
      fprintf(stderr, "snakepit: unknown option '%s' (see --help)\n",
              argv[optind - 1]);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "snakepit: unexpected argument '%s' (see --help)\n",
            argv[optind]);
    return 2;
  }
  return 0;
}
