/* config: the command line. Every option has an embedded default, so the
 * server runs with no arguments at all. */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define SP_VERSION "0.1.0"

typedef struct sp_config {
  char host[64];
  int port; /* 0 = any free port (logged at start) */
  char data_dir[1024];
  char static_dir[1024]; /* empty = the built-in client */
  double tick_rate;      /* ticks per second */
  int max_players;       /* live snakes per room */
  int field_w, field_h;
  int has_seed;
  uint64_t seed;
  size_t max_message; /* largest client message, bytes */
  size_t max_queue;   /* outgoing bytes queued per connection */
  int log_level;      /* sp_log_level */
  /* Limits (README "Limits and security"). */
  int max_conns;           /* open connections in all */
  int max_conns_per_ip;    /* open connections per client address */
  double header_timeout;   /* seconds for a whole request head */
  double register_timeout; /* seconds for a WebSocket to send new_player */
  double
      ping_interval; /* seconds of silence before a ping, and for its answer */
  double max_msg_rate; /* client messages per second (burst: 2 s worth, at least
                          10) */
  char allowed_origins[2048]; /* comma-separated; empty = any origin */
  int workers;                /* event loops, one thread each */
  int bots;                   /* computer snakes per room while humans play */
  int round_seconds;          /* 0: unlimited */
  int standings_seconds;      /* a round's standings are shown this long */
  int chat_max_chars;         /* longest chat message, code points */
  double chat_rate;           /* chat messages per 10 s per player; 0: off */
} sp_config;

/* Smallest field side: a newborn snake is born at least INIT_LENGTH + 2
 * cells from every border. */
#define SP_INIT_LENGTH 3
#define SP_MIN_FIELD (2 * (SP_INIT_LENGTH + 2) + 1)
#define SP_MAX_FIELD 1000

void sp_config_default(sp_config *cfg);

/* Parses argv (and the PORT environment variable, which a --port flag
 * overrides). Returns 0 to run, 1 when --help or --version was printed
 * (exit 0), or 2 after printing one line naming the bad option (exit 2). */
int sp_config_parse(sp_config *cfg, int argc, char **argv,
                    const char *env_port);

#endif
