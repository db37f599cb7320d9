/* lobby: the rooms of one loop, by name. A room is created by its first
 * connection and closed when its last connection leaves. The lobby also
 * keeps this loop's copy of the top scores (see sp_room_env). */
#ifndef SP_LOBBY_H
#define SP_LOBBY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "net/server.h"
#include "room/room.h"
#include "store/scores.h"
#include <stdatomic.h>

typedef struct sp_lobby sp_lobby;

typedef struct sp_lobby_settings {
  double tick_rate;
  int max_players;
  int field_w, field_h;
  int has_seed;
  uint64_t seed;
  atomic_uint *next_player_id; /* shared by every lobby */
  /* See sp_room_env; data is passed to both. */
  void (*on_score)(void *data, const char *name, uint32_t score);
  void (*on_snakes)(void *data, const char *room, size_t snakes);
  void *hooks_data;
  int bots;
  uint32_t round_seconds;
  uint32_t standings_seconds; /* see sp_room_env */
  uint32_t chat_max_chars;
  double chat_rate; /* per 10 s */
  sp_room_stats *stats;
} sp_lobby_settings;

/* The caller owns *out; sp_lobby_free() once every room has closed. */
int sp_lobby_new(uv_loop_t *loop, const sp_lobby_settings *st, sp_lobby **out);

/* Replaces this loop's copy of the top scores; if it changed, every
 * registered member of every room gets the new `top_scores`. */
void sp_lobby_set_top(sp_lobby *l, const sp_score_row *rows, size_t n);
void sp_lobby_free(sp_lobby *l);

/* Reads the room of a /connect query string: `room=NAME`, 1 to 32 of
 * A-Z a-z 0-9 _ -, default "default". Returns 0, or 400 with a one-line
 * *reason. */
int sp_lobby_parse_query(const char *query, char name[SP_ROOM_NAME_MAX + 1],
                         const char **reason);

/* Puts a connection in the named room (created if needed). NULL when out
 * of memory. */
sp_player *sp_lobby_enter(sp_lobby *l, const char *room, sp_conn *c);
/* The connection of p is gone; the room closes if it was the last. */
void sp_lobby_leave(sp_lobby *l, sp_player *p);

/* {"scores":[{"name":..,"score":N,"color":N},...]} */
void sp_lobby_scores_json(const sp_lobby *l, sp_buf *out);

#endif
