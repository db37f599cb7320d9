/* config: the options. One table (sp_options, in config.c) says for every
 * option its name, the kind of value, what is valid, its default, its help
 * text and whether it may change at run time. That table drives the
 * command line (getopt_long), --help, the configuration file (--config
 * FILE, `name = value` lines with the same names) and SIGHUP reloads.
 * Every option has an embedded default, so the server runs with no
 * arguments at all.
 *
 * Precedence, lowest first: the default, the configuration file, the
 * environment variable PORT, the command line. */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/url.h"

#define SP_VERSION "0.1.0"

/* Without --max-conns: as many connections as the descriptor limit allows,
 * at most this many. */
#define SP_DEFAULT_MAX_CONNS 50000
/* Descriptors kept for everything that is not a connection: the listeners,
 * each loop's epoll and wake-up descriptors, the database and its journal,
 * a file being served, a connection being moved between loops. */
#define SP_FD_RESERVE(workers) (64 + 4 * (workers))

/* One value per option. Fields marked "in force" are derived at start
 * (sp_config_prepare) from what was asked; the others hold what was asked. */
typedef struct sp_config {
  char host[64];       /* in force: the numeric address to listen on */
  char host_name[256]; /* --host as given: an address or a host name */
  int port;            /* 0 = any free port (logged at start) */
  char data_dir[1024];
  char static_dir[1024]; /* empty = the built-in client */
  double tick_rate;      /* ticks per second */
  int max_players;       /* live snakes per room */
  int field_w, field_h;
  int has_seed;
  uint64_t seed;
  size_t max_message;          /* largest client message, bytes */
  size_t max_queue;            /* outgoing bytes queued per connection */
  size_t sndbuf;               /* kernel send buffer, 0 = the kernel's */
  int log_level;               /* sp_log_level */
  int log_format;              /* sp_log_format */
  char log_file[1024];         /* empty = standard error */
  char config_file[1024];      /* --config, empty = none */
  char admin_token_file[1024]; /* --admin-token-file, empty = no console */
  /* Limits (README "Limits and security"). */
  int max_conns_asked;     /* --max-conns as given, 0 = fit the fd limit */
  int max_conns;           /* in force: open connections in all */
  int max_conns_per_ip;    /* open connections per client address */
  double header_timeout;   /* seconds for a whole request head */
  double register_timeout; /* seconds for a WebSocket to send new_player */
  double ping_interval; /* seconds of silence before a ping, and its answer */
  double max_msg_rate;  /* client messages per second (burst: 2 s worth, at
                           least 10) */
  char allowed_origins[2048]; /* comma-separated; empty = any origin */
  int workers;                /* event loops, one thread each */
  int bots;                   /* computer snakes per room while humans play */
  int round_seconds;          /* 0: unlimited */
  int standings_seconds;      /* a round's standings are shown this long */
  int chat_max_chars;         /* longest chat message, code points */
  double chat_rate;           /* chat messages per 10 s per player; 0: off */
  /* Cluster mode (README "Beyond one machine"): on when --redis is given. */
  char redis_url[512];  /* --redis as given; empty: one node with SQLite */
  int cluster;          /* derived: --redis was given */
  sp_redis_url redis;   /* derived: --redis parsed */
  char node_id[33];     /* --node-id; empty: derived once the port is known
                           (sp_cluster_default_node_id) */
  double lease_time;    /* --lease-time, seconds */
  double redis_timeout; /* --redis-timeout, seconds */
  uint64_t from_cli;    /* SP_OPT_BIT of each option set by a flag or by PORT:
                           a reload keeps those values */
} sp_config;

/* The options, in --help order. */
typedef enum {
  SP_OPT_HOST,
  SP_OPT_PORT,
  SP_OPT_DATA,
  SP_OPT_STATIC,
  SP_OPT_TICK_RATE,
  SP_OPT_MAX_PLAYERS,
  SP_OPT_FIELD,
  SP_OPT_SEED,
  SP_OPT_MAX_MESSAGE,
  SP_OPT_MAX_QUEUE,
  SP_OPT_SNDBUF,
  SP_OPT_MAX_CONNS,
  SP_OPT_MAX_CONNS_PER_IP,
  SP_OPT_HEADER_TIMEOUT,
  SP_OPT_REGISTER_TIMEOUT,
  SP_OPT_PING_INTERVAL,
  SP_OPT_MAX_MSG_RATE,
  SP_OPT_ALLOWED_ORIGINS,
  SP_OPT_WORKERS,
  SP_OPT_BOTS,
  SP_OPT_ROUND_SECONDS,
  SP_OPT_STANDINGS_SECONDS,
  SP_OPT_CHAT_MAX_CHARS,
  SP_OPT_CHAT_RATE,
  SP_OPT_REDIS,
  SP_OPT_NODE_ID,
  SP_OPT_LEASE_TIME,
  SP_OPT_REDIS_TIMEOUT,
  SP_OPT_CONFIG,
  SP_OPT_LOG_LEVEL,
  SP_OPT_LOG_FORMAT,
  SP_OPT_LOG_FILE,
  SP_OPT_ADMIN_TOKEN_FILE,
  SP_OPT_HELP,
  SP_OPT_VERSION,
  SP_OPT_COUNT
} sp_opt_id;

#define SP_OPT_BIT(id) (UINT64_C(1) << (id))

typedef enum {
  SP_KIND_FLAG,   /* no value: --help, --version */
  SP_KIND_INT,    /* an int in [lo, hi] */
  SP_KIND_SIZE,   /* a size_t in [lo, hi] */
  SP_KIND_DOUBLE, /* a finite decimal number in [lo, hi] */
  SP_KIND_SEED,   /* any uint64_t; sets has_seed */
  SP_KIND_STRING, /* non-empty text that fits its array */
  SP_KIND_HOST,   /* an IPv4 or IPv6 address or a host name */
  SP_KIND_CHOICE, /* one of choices[]; stored as its index (an int) */
  SP_KIND_FIELD,  /* WxH, each side in [lo, hi] */
  SP_KIND_NAME,   /* 1 to size-1 of A-Z a-z 0-9 _ - (a node id) */
  SP_KIND_REDIS   /* a Redis URL (cluster/url.h); also sets redis, cluster */
} sp_opt_kind;

/* Flags of an option. */
enum {
  SP_OPT_RUNTIME = 1, /* may change at run time (SIGHUP) */
  SP_OPT_CLI = 2      /* command line only, not in a configuration file */
};

typedef struct sp_option {
  const char *name; /* --NAME on the command line, NAME = in a file */
  const char *arg;  /* the value's name in --help; NULL for a flag */
  sp_opt_kind kind;
  size_t offset; /* of the value in sp_config (seed and field: fixed) */
  size_t size;   /* of a string's array */
  double lo, hi; /* range of a number (or of each side of a field) */
  const char *const *choices; /* SP_KIND_CHOICE: NULL-terminated */
  const char *def;     /* the default, parsed like a given value; NULL: none
                          or computed at start (def_doc says which) */
  const char *def_doc; /* the default as --help says it when def is NULL */
  const char *valid;   /* what a valid value is, for the error line */
  const char *help;    /* one sentence for --help */
  int section;         /* the --help section */
  unsigned flags;      /* SP_OPT_RUNTIME, SP_OPT_CLI */
} sp_option;

extern const sp_option sp_options[SP_OPT_COUNT];

/* Every option that may change at run time. */
uint64_t sp_config_runtime_mask(void);

/* Smallest field side: a newborn snake is born at least INIT_LENGTH + 2
 * cells from every border. */
#define SP_INIT_LENGTH 3
#define SP_MIN_FIELD (2 * (SP_INIT_LENGTH + 2) + 1)
#define SP_MAX_FIELD 1000

void sp_config_default(sp_config *cfg);

/* Parses argv, the configuration file named by --config, and the PORT
 * environment variable (env_port, may be NULL). Returns 0 to run, 1 when
 * --help or --version was printed on stdout (exit 0), or 2 with one line
 * in err naming the option (and the file and line) at fault (exit 2). */
int sp_config_parse(sp_config *cfg, int argc, char **argv, const char *env_port,
                    char *err, size_t errlen);

/* Makes the configuration usable before the server starts: starts the log
 * (level, format, --log-file), resolves --host to an address (logging
 * `host_resolved` for a name), raises the soft descriptor limit and sets
 * max_conns (logging `fd_limit` only when more was asked than can be had).
 * Returns 0, 1 for a failure of the machine (a log file that cannot be
 * opened) or 2 for a bad value (a name that does not resolve), with one
 * line in err. */
int sp_config_prepare(sp_config *cfg, char *err, size_t errlen);

/* Reads the configuration file path again for a reload (SIGHUP). next
 * becomes the configuration the file now asks for, with the values the
 * command line and PORT gave at start kept (a flag still wins), and
 * *changed the SP_OPT_BIT of every option whose value differs from
 * running. Blocks on the file only; resolves no names. Returns 0, or 2
 * with one line in err (file:line: why) and next untouched. */
int sp_config_reload(const char *path, const sp_config *running,
                     sp_config *next, uint64_t *changed, char *err,
                     size_t errlen);

/* Hub side of a reload: copies into running the options of changed that
 * are in apply (the options the caller can make take effect now; at least
 * the log ones, which this function applies itself: level, format and
 * file), logs one `restart_needed` line for each other changed option and
 * one `reload` line that lists what was applied and what was not. Returns
 * the options applied. */
uint64_t sp_config_commit(sp_config *running, const sp_config *next,
                          uint64_t changed, uint64_t apply);

/* The options the hub applies by itself in sp_config_commit. */
#define SP_CONFIG_HUB_OPTIONS                                                  \
  (SP_OPT_BIT(SP_OPT_LOG_LEVEL) | SP_OPT_BIT(SP_OPT_LOG_FORMAT) |              \
   SP_OPT_BIT(SP_OPT_LOG_FILE))

/* Writes the value of option id in cfg as it would be given (e.g. "50x25"),
 * always NUL-terminated. Returns out. */
const char *sp_config_format(const sp_config *cfg, sp_opt_id id, char *out,
                             size_t outlen);

#endif
