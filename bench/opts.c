/* opts.c: see opts.h. */
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <uv.h>

#include "util.h"

static void sb__usage(FILE *f) {
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

static double sb__num(const char *opt, const char *s, double lo, double hi) {
  char *end;
  double v;
  errno = 0;
  v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi))
    sb_die("%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
  return v;
}

static void sb__parse_url(sb_opts *o, const char *url) {
  const char *p, *host_end, *path;
  size_t hl, pl;

  if (strncmp(url, "ws://", 5) != 0)
    sb_die("URL must start with ws:// (got '%s')", url);
  p = url + 5;
  if (*p == '[') {
    host_end = strchr(p, ']');
    if (!host_end)
      sb_die("bad IPv6 host in '%s'", url);
    hl = (size_t)(host_end - p - 1);
    if (hl >= sizeof o->host)
      sb_die("host too long");
    memcpy(o->host, p + 1, hl);
    o->host[hl] = '\0';
    p = host_end + 1;
  } else {
    hl = strcspn(p, ":/?");
    if (hl == 0 || hl >= sizeof o->host)
      sb_die("bad host in '%s'", url);
    memcpy(o->host, p, hl);
    o->host[hl] = '\0';
    p += hl;
  }
  o->port = 80;
  if (*p == ':') {
    char *end;
    long port = strtol(p + 1, &end, 10);
    if (end == p + 1 || port < 1 || port > 65535)
      sb_die("bad port in '%s'", url);
    o->port = (int)port;
    p = end;
  }
  path = p;
  pl = strcspn(path, "?");
  if (pl == 0) {
    strcpy(o->path, "/");
  } else {
    if (pl >= sizeof o->path)
      sb_die("path too long");
    memcpy(o->path, path, pl);
    o->path[pl] = '\0';
  }
  if (path[pl] == '?')
    snprintf(o->query, sizeof o->query, "%s", path + pl + 1);
  if (o->path[0] != '/')
    sb_die("bad path in '%s'", url);
  /* Only a literal address (or localhost): no name lookups, no surprises. */
  if (strcmp(o->host, "localhost") == 0)
    strcpy(o->host, "127.0.0.1");
  if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&o->addr) != 0 &&
      uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&o->addr) != 0)
    sb_die("host must be an IP address or localhost (got '%s')", o->host);
}

static int sb__ipv4_loopback(const struct sockaddr_storage *a) {
  return a->ss_family == AF_INET &&
         (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
}

int sb_opts_parse(sb_opts *o, int argc, char **argv) {
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

  memset(o, 0, sizeof *o);
  o->clients = 100;
  o->rooms = 1;
  o->key_interval_ms = 250;
  o->rejoin_delay_ms = 2000;
  o->connect_rate = 1000;
  o->max_pending = 256;
  o->warmup_s = 5;
  o->duration_s = 20;
  o->tick_rate = 20;
  o->connect_timeout_s = -1;
  o->source_ips = -1; /* auto */
  strcpy(o->room_prefix, "bench-");
  while ((opt = getopt_long(argc, argv, "c:r:p:w:d:t:qh", opts, NULL)) != -1) {
    switch (opt) {
    case O_URL:
      url = optarg;
      url_given = 1;
      break;
    case 'c':
      o->clients = (uint32_t)sb__num("--clients", optarg, 1, 500000);
      break;
    case 'r':
      o->rooms = (uint32_t)sb__num("--rooms", optarg, 1, 500000);
      o->rooms_given = 1;
      break;
    case O_PREFIX:
      if (strlen(optarg) > 20 ||
          strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0"
                         "123456789_-") != strlen(optarg))
        sb_die("--room-prefix: up to 20 of A-Z a-z 0-9 _ -");
      strcpy(o->room_prefix, optarg);
      break;
    case 'p':
      o->players = (uint32_t)sb__num("--players", optarg, 0, 500000);
      break;
    case O_KEY:
      o->key_interval_ms =
          (uint32_t)sb__num("--key-interval", optarg, 1, 3600000);
      break;
    case O_REJOIN:
      o->rejoin_delay_ms =
          (uint32_t)sb__num("--rejoin-delay", optarg, 0, 3600000);
      break;
    case O_RATE:
      o->connect_rate = sb__num("--connect-rate", optarg, 0, 1e7);
      break;
    case O_PENDING:
      o->max_pending = (uint32_t)sb__num("--max-pending", optarg, 1, 500000);
      break;
    case O_CTIMEOUT:
      o->connect_timeout_s = sb__num("--connect-timeout", optarg, 1, 86400);
      break;
    case 'w': o->warmup_s = sb__num("--warmup", optarg, 0, 86400); break;
    case 'd': o->duration_s = sb__num("--duration", optarg, 0.1, 86400); break;
    case 't': o->tick_rate = sb__num("--tick-rate", optarg, 0.01, 10000); break;
    case O_PID:
      o->server_pid = (int)sb__num("--server-pid", optarg, 1, 1 << 30);
      break;
    case O_SRC:
      o->source_ips = strcmp(optarg, "auto") == 0
                          ? -1
                          : (long)sb__num("--source-ips", optarg, 1, 62500);
      break;
    case O_SEED: o->seed = (uint64_t)sb__num("--seed", optarg, 1, 1e18); break;
    case O_JSON: o->json_only = 1; break;
    case 'q': o->quiet = 1; break;
    case 'h': sb__usage(stdout); return 1;
    default: sb__usage(stderr); return -1;
    }
  }
  if (optind < argc) {
    if (url_given || optind + 1 < argc)
      sb_die("one URL only");
    url = argv[optind];
  }
  sb__parse_url(o, url);
  if (o->source_ips < 0)
    /* Auto: at most 32 clients per source address on loopback. */
    o->source_ips =
        sb__ipv4_loopback(&o->addr) ? (long)((o->clients + 31) / 32) : 1;
  if (o->source_ips > 1 && !sb__ipv4_loopback(&o->addr))
    sb_die("--source-ips needs an IPv4 loopback server address");
  if (o->players > o->clients)
    o->players = o->clients;
  if (o->connect_timeout_s < 0)
    o->connect_timeout_s =
        30 + (o->connect_rate > 0 ? 2.0 * o->clients / o->connect_rate : 0);
  if (o->seed == 0 && getrandom(&o->seed, sizeof o->seed, 0) != sizeof o->seed)
    o->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  if (o->seed == 0)
    o->seed = 1;
  return 0;
}

uint32_t sb_opts_rooms(const sb_opts *o) {
  return o->rooms_given || !o->query[0] ? o->rooms : 1;
}

double sb_opts_expected_members(const sb_opts *o) {
  uint32_t rooms = sb_opts_rooms(o);
  uint32_t playing = o->players < rooms ? o->players : rooms;
  double m = 0;
  for (uint32_t r = 0; r < playing; r++)
    m += o->clients / rooms + (r < o->clients % rooms ? 1 : 0);
  return m;
}
