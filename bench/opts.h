/* opts.h: the load generator's command line.
 *
 * sb_opts_parse() fills an sb_opts from argv, with the defaults for what is
 * not given and the values derived from the rest (source addresses, connect
 * timeout, seed); the rest of the program only reads it.
 */
#ifndef SB_OPTS_H
#define SB_OPTS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

typedef struct sb_opts {
  /* The server, from the URL. */
  char host[64];
  int port;
  char path[256];
  char query[256]; /* Used as is when --rooms is not given. */
  struct sockaddr_storage addr;
  /* The clients. */
  char room_prefix[64];
  int rooms_given;
  uint32_t clients, rooms, players;
  uint32_t key_interval_ms, rejoin_delay_ms;
  double connect_rate;
  uint32_t max_pending;
  double connect_timeout_s;
  long source_ips; /* Loopback source addresses to spread over (>= 1). */
  uint64_t seed;   /* Never 0. */
  /* The run. */
  double warmup_s, duration_s, tick_rate;
  int server_pid; /* 0: none to sample. */
  int json_only, quiet;
} sb_opts;

/* Parses ARGV into *O. Returns 0 to run, 1 when --help was printed on
 * stdout, -1 after printing the usage on stderr (an unknown option). A value
 * out of range exits with status 2 and says which (sb_die). */
int sb_opts_parse(sb_opts *o, int argc, char **argv);

/* The rooms the clients are spread over: --rooms, or 1 when the URL's
 * ?query names the room itself. */
uint32_t sb_opts_rooms(const sb_opts *o);

/* Clients of rooms in which someone plays: each is owed one render frame per
 * tick while its room's game runs. */
double sb_opts_expected_members(const sb_opts *o);

#endif
