/* directory: which loop owns which room, shared by every loop. A room is
 * given to the loop with the fewest rooms when its first connection is
 * routed, and leaves the directory with its last connection, so rooms
 * spread evenly and each lives on one loop for its whole life. Guarded by
 * one mutex; the work under it is tiny (a lookup, a counter). */
#ifndef SP_DIRECTORY_H
#define SP_DIRECTORY_H

#include <stddef.h>

#include "core/buf.h"

typedef struct sp_directory sp_directory;

/* The caller owns *out (sp_directory_free). Returns 0 or UV_ENOMEM. */
int sp_directory_new(int nloops, sp_directory **out);
void sp_directory_free(sp_directory *d);

/* Counts one connection into room `name` and returns the loop that owns
 * it (choosing one for a new room), or a negative error. */
int sp_directory_route(sp_directory *d, const char *name);
/* Counts one connection of room `name` out. */
void sp_directory_leave(sp_directory *d, const char *name);
/* The owner publishes the number of live snakes of its room. */
void sp_directory_set_snakes(sp_directory *d, const char *name, size_t snakes);
size_t sp_directory_rooms(sp_directory *d);
/* Appends `[n0,n1,...]`: how many rooms each loop owns. */
void sp_directory_loads_json(sp_directory *d, sp_buf *out);
/* {"rooms":[{"name":..,"connections":N,"snakes":N},...]}, oldest first. */
void sp_directory_json(sp_directory *d, sp_buf *out);

#endif
