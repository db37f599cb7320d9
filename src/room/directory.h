/* directory: which loop owns which room, shared by every loop. A room is
 * given to the loop with the fewest rooms when its first connection is
 * routed, and leaves the directory with its last connection, so rooms
 * spread evenly and each lives on one loop for its whole life.
 *
 * A connection is counted in by the loop that accepted it (route) and
 * counted out by the room's owner once it has forgotten the member
 * (leave): the owner's room and the directory's entry live exactly as
 * long, and a room is never left twice or not at all. Each life of a room
 * has its own uid, so a room of the same name made again later is another
 * room. Guarded by one mutex; the work under it is tiny. */
#ifndef SP_DIRECTORY_H
#define SP_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct sp_directory sp_directory;

/* The caller owns *out (sp_directory_free). Returns 0 or UV_ENOMEM. */
int sp_directory_new(int nloops, sp_directory **out);
void sp_directory_free(sp_directory *d);

/* Where a room lives: its owner loop, the uid of this life of it, the
 * lease epoch it runs under (cluster mode; 0 on a single node), and
 * whether the route that returned it created it. */
typedef struct sp_room_ref {
  int loop;
  uint64_t uid;
  uint64_t epoch;
  int created;
} sp_room_ref;

/* One room, for lists. */
typedef struct sp_directory_row {
  char name[33];
  size_t conns, snakes;
} sp_directory_row;

/* Counts one connection into room `name` and says where the room lives
 * (choosing a loop for a new room). Returns 0 or UV_ENOMEM. */
int sp_directory_route(sp_directory *d, const char *name, sp_room_ref *out);
/* Cluster mode: as sp_directory_route, for a room whose lease this node
 * holds with `epoch`. A new room is made under that epoch; an existing one
 * is joined only if it runs under the same epoch and has not lost its
 * lease, else SP_ECLOSED (an old life of the room is still closing; try
 * again later). Returns 0, SP_ECLOSED or UV_ENOMEM. */
int sp_directory_route_leased(sp_directory *d, const char *name, uint64_t epoch,
                              sp_room_ref *out);
/* Where room `name` lives, without counting anything: 0 with *out, or
 * UV_ENOENT when there is no such room or it lost its lease. */
int sp_directory_lookup(sp_directory *d, const char *name, sp_room_ref *out);
/* Cluster mode: room `name` lost its lease. It takes nobody in from now
 * on. Returns 0 with *out (its owner must close it), or UV_ENOENT. */
int sp_directory_lose(sp_directory *d, const char *name, sp_room_ref *out);
/* Copies up to max rooms, oldest first; returns how many there are. */
size_t sp_directory_list(sp_directory *d, sp_directory_row *rows, size_t max);
/* Counts one connection of room `uid` out; returns how many are left (0:
 * the room is gone from the directory, and its owner closes it). */
size_t sp_directory_leave(sp_directory *d, uint64_t uid);
/* The owner publishes the number of live snakes of its room. */
void sp_directory_set_snakes(sp_directory *d, uint64_t uid, size_t snakes);
size_t sp_directory_rooms(sp_directory *d);
/* Appends `[n0,n1,...]`: how many rooms each loop owns. */
void sp_directory_loads_json(sp_directory *d, sp_buf *out);
/* {"rooms":[{"name":..,"connections":N,"snakes":N},...]}, oldest first. */
void sp_directory_json(sp_directory *d, sp_buf *out);

#endif
