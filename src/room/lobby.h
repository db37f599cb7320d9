/* lobby: the rooms of one loop, by name. A room is created by its first
 * connection and closed when its last connection leaves. The lobby also
 * answers the JSON views of /api/rooms and /api/scores. */
#ifndef SP_LOBBY_H
#define SP_LOBBY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "net/server.h"
#include "room/room.h"
#include "store/scores.h"

typedef struct sp_lobby sp_lobby;

typedef struct sp_lobby_settings {
  double tick_rate;
  int max_players;
  int field_w, field_h;
  int has_seed;
  uint64_t seed;
} sp_lobby_settings;

/* The caller owns *out; sp_lobby_free() once every room has closed. The
 * scores store is borrowed and must outlive the lobby. */
int sp_lobby_new(uv_loop_t *loop, const sp_lobby_settings *st,
                 sp_scores *scores, sp_lobby **out);
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

size_t sp_lobby_room_count(const sp_lobby *l);
/* {"rooms":[{"name":..,"connections":N,"snakes":N},...]} */
void sp_lobby_rooms_json(const sp_lobby *l, sp_buf *out);
/* {"scores":[{"name":..,"score":N,"color":N},...]} */
void sp_lobby_scores_json(const sp_lobby *l, sp_buf *out);

#endif
