/* lobby: the rooms of one loop, in both senses.
 *
 * As an owner, the lobby holds the rooms this loop runs (each room lives on
 * exactly one loop, chosen by the directory), creates a room when its first
 * member enters and closes it when the directory says its last one left.
 *
 * As the home of connections, the lobby puts each connection accepted on
 * this loop into its room, wherever the room runs: the connection becomes a
 * member of this loop's view of the room (member.h), its messages are
 * decoded here and go to the owner, and the owner's frames come back
 * through the view (relay.h). A connection never leaves its loop.
 *
 * Everything here runs on the lobby's loop. */
#ifndef SP_LOBBY_H
#define SP_LOBBY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "net/server.h"
#include "room/directory.h"
#include "room/member.h"
#include "room/proto.h"
#include "room/relay.h"
#include "room/room.h"
#include "store/scores.h"

typedef struct sp_lobby sp_lobby;

typedef struct sp_lobby_settings {
  double tick_rate;
  int max_players;
  int field_w, field_h;
  int has_seed;
  uint64_t seed;
  atomic_uint *next_player_id; /* shared by every lobby */
  sp_directory *dir;           /* shared by every lobby */
  int nloops;
  /* See sp_room_env; data is passed to both. */
  void (*on_score)(void *data, const char *name, uint32_t score);
  void (*on_snakes)(void *data, uint64_t uid, size_t snakes);
  /* Cluster mode (NULL on a single node): see sp_room_env. */
  int (*lease_ok)(void *data, const char *room, uint64_t epoch);
  /* A room this loop owned has closed (cluster mode: its lease may go). */
  void (*on_room_closed)(void *data, const char *room);
  void *hooks_data;
  int shared_top; /* cluster mode: see sp_room_env */
  int bots;
  uint32_t round_seconds;
  uint32_t standings_seconds; /* see sp_room_env */
  uint32_t chat_max_chars;
  double chat_rate; /* per 10 s */
  sp_room_stats *stats;
} sp_lobby_settings;

/* The caller owns *out; sp_lobby_free() once the loop has stopped. */
int sp_lobby_new(uv_loop_t *loop, const sp_lobby_settings *st, sp_lobby **out);
/* The relay of the lobby's loop (made with the lobby; set before the loop
 * runs). */
void sp_lobby_set_relay(sp_lobby *l, sp_relay *relay);
/* Frees the lobby; the views and members still in it go too (a loop that
 * stops for good: no owner will release them). */
void sp_lobby_free(sp_lobby *l);

/* Reads the room of a /connect query string: `room=NAME`, 1 to 32 of
 * A-Z a-z 0-9 _ -, default "default". Returns 0, or 400 with a one-line
 * *reason. */
int sp_lobby_parse_query(const char *query, char name[SP_ROOM_NAME_MAX + 1],
                         const char **reason);

/* ---- connections of this loop ------------------------------------------- */

/* Routes connection c to room `room` and makes its member, at the
 * upgrade. epoch: 0 on a single node; in cluster mode the epoch of the
 * room's lease, which this node holds (see sp_directory_route_leased).
 * Returns the member (*created says whether the room was made for it), or
 * NULL with an HTTP status and one-line *reason to refuse the upgrade with
 * (503: out of memory, or an old life of the room is still closing). */
sp_member *sp_lobby_connect(sp_lobby *l, sp_conn *c, const char *room,
                            uint64_t epoch, int *created, int *status,
                            const char **reason);
/* Cluster mode: room `uid`, which this loop owns, lost its lease: it stops
 * and its members are closed with 1012. */
void sp_lobby_lose(sp_lobby *l, uint64_t uid);
/* Once the connection is a WebSocket: the member enters its room (whose
 * owner may answer at once, even by closing it). */
void sp_lobby_open(sp_lobby *l, sp_member *m);
/* One client message of member m (decoded here, handled by the owner). */
void sp_lobby_message(sp_lobby *l, sp_member *m, const uint8_t *msg,
                      size_t len);
/* m's connection is gone. */
void sp_lobby_disconnect(sp_lobby *l, sp_member *m);
/* Members of this loop not yet released by their owner: a loop may stop
 * only when it has none (nobody holds a pointer into it any more). */
size_t sp_lobby_members(const sp_lobby *l);
/* Rooms this loop owns. */
size_t sp_lobby_rooms(const sp_lobby *l);

/* ---- the relay's entry points (see relay.h) ------------------------------ */

void sp_lobby_owner_enter(sp_lobby *l, sp_member *m);
void sp_lobby_owner_input(sp_lobby *l, sp_member *m, const sp_msg *msg);
void sp_lobby_owner_leave(sp_lobby *l, sp_member *m);
void sp_lobby_member_released(sp_lobby *l, sp_member *m);

/* ---- operators (the admin console), on this loop ------------------------ */

/* Appends the rooms this loop runs (sp_room_admin_json), each preceded by
 * a comma unless it is the first of all (`before`: rooms written before
 * them). Returns how many. */
size_t sp_lobby_admin_rooms(sp_lobby *l, sp_buf *out, size_t before);
/* Closes player `id` of room `room` (if this loop runs it) with code and
 * reason; 1 if it did. */
int sp_lobby_admin_kick(sp_lobby *l, const char *room, uint32_t id,
                        uint16_t code, const char *reason);
/* Closes every member of room `room`: how many, or -1 if not run here. */
long sp_lobby_admin_close(sp_lobby *l, const char *room, uint16_t code,
                          const char *reason);
/* ["announce", TEXT] to room `room` (NULL: every room this loop runs);
 * returns the rooms reached. */
size_t sp_lobby_announce(sp_lobby *l, const char *room, const char *text);

/* ---- the top scores ------------------------------------------------------ */

/* Replaces this loop's copy of the top scores; if it changed, every
 * registered member of every room this loop owns gets the new
 * `top_scores`. */
void sp_lobby_set_top(sp_lobby *l, const sp_score_row *rows, size_t n);
/* {"scores":[{"name":..,"score":N,"color":N},...]} */
void sp_lobby_scores_json(const sp_lobby *l, sp_buf *out);

#endif
