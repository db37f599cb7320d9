#include "room/directory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/error.h"
#include "core/fault.h"
#include "room/proto.h"

typedef struct sp__dentry {
  uint64_t uid;
  uint64_t epoch; /* the lease it runs under (cluster mode) */
  int lost;       /* its lease is gone: nobody comes in any more */
  char name[33];
  int loop;
  size_t conns, snakes;
  struct sp__dentry *next;
} sp__dentry;

struct sp_directory {
  uv_mutex_t lock;
  sp__dentry *head, *tail;
  size_t nrooms;
  uint64_t next_uid;
  int nloops;
  size_t *per_loop; /* rooms per loop */
};

int sp_directory_new(int nloops, sp_directory **out) {
  sp_directory *d = calloc(1, sizeof *d);
  if (!d)
    return UV_ENOMEM;
  d->per_loop = calloc((size_t)nloops, sizeof *d->per_loop);
  if (!d->per_loop || uv_mutex_init(&d->lock) != 0) {
    free(d->per_loop);
    free(d);
    return UV_ENOMEM;
  }
  d->nloops = nloops;
  *out = d;
  return 0;
}

void sp_directory_free(sp_directory *d) {
  if (!d)
    return;
  for (sp__dentry *e = d->head, *next; e; e = next) {
    next = e->next;
    free(e);
  }
  uv_mutex_destroy(&d->lock);
  free(d->per_loop);
  free(d);
}

static sp__dentry *sp__find_name(sp_directory *d, const char *name) {
  for (sp__dentry *e = d->head; e; e = e->next)
    if (strcmp(e->name, name) == 0)
      return e;
  return NULL;
}

static sp__dentry *sp__find_uid(sp_directory *d, uint64_t uid,
                                sp__dentry **prev) {
  sp__dentry *p = NULL;
  for (sp__dentry *e = d->head; e; p = e, e = e->next)
    if (e->uid == uid) {
      if (prev)
        *prev = p;
      return e;
    }
  return NULL;
}

static void sp__ref(const sp__dentry *e, int created, sp_room_ref *out) {
  out->loop = e->loop;
  out->uid = e->uid;
  out->epoch = e->epoch;
  out->created = created;
}

/* Makes the entry of a new room on the least loaded loop; NULL when out of
 * memory. Under the lock. */
static sp__dentry *sp__create(sp_directory *d, const char *name,
                              uint64_t epoch) {
  sp__dentry *e = sp_fault("directory_route") ? NULL : calloc(1, sizeof *e);
  if (!e)
    return NULL;
  snprintf(e->name, sizeof e->name, "%s", name);
  e->uid = ++d->next_uid;
  e->epoch = epoch;
  int best = 0;
  for (int i = 1; i < d->nloops; i++)
    if (d->per_loop[i] < d->per_loop[best])
      best = i;
  e->loop = best;
  d->per_loop[best]++;
  if (d->tail)
    d->tail->next = e;
  else
    d->head = e;
  d->tail = e;
  d->nrooms++;
  return e;
}

int sp_directory_route(sp_directory *d, const char *name, sp_room_ref *out) {
  uv_mutex_lock(&d->lock);
  sp__dentry *e = sp__find_name(d, name);
  int created = !e;
  if (!e && !(e = sp__create(d, name, 0))) {
    uv_mutex_unlock(&d->lock);
    return UV_ENOMEM;
  }
  e->conns++;
  sp__ref(e, created, out);
  uv_mutex_unlock(&d->lock);
  return 0;
}

int sp_directory_route_leased(sp_directory *d, const char *name, uint64_t epoch,
                              sp_room_ref *out) {
  uv_mutex_lock(&d->lock);
  sp__dentry *e = sp__find_name(d, name);
  int err = 0, created = !e;
  if (e && (e->lost || e->epoch != epoch))
    err = SP_ECLOSED;
  else if (!e && !(e = sp__create(d, name, epoch)))
    err = UV_ENOMEM;
  if (!err) {
    e->conns++;
    sp__ref(e, created, out);
  }
  uv_mutex_unlock(&d->lock);
  return err;
}

int sp_directory_lookup(sp_directory *d, const char *name, sp_room_ref *out) {
  uv_mutex_lock(&d->lock);
  sp__dentry *e = sp__find_name(d, name);
  int err = e && !e->lost ? 0 : UV_ENOENT;
  if (!err)
    sp__ref(e, 0, out);
  uv_mutex_unlock(&d->lock);
  return err;
}

int sp_directory_lose(sp_directory *d, const char *name, sp_room_ref *out) {
  uv_mutex_lock(&d->lock);
  sp__dentry *e = sp__find_name(d, name);
  if (e) {
    e->lost = 1;
    sp__ref(e, 0, out);
  }
  uv_mutex_unlock(&d->lock);
  return e ? 0 : UV_ENOENT;
}

size_t sp_directory_list(sp_directory *d, sp_directory_row *rows, size_t max) {
  uv_mutex_lock(&d->lock);
  size_t n = 0;
  for (sp__dentry *e = d->head; e; e = e->next, n++) {
    if (n < max) {
      memcpy(rows[n].name, e->name, sizeof rows[n].name);
      rows[n].conns = e->conns;
      rows[n].snakes = e->snakes;
    }
  }
  uv_mutex_unlock(&d->lock);
  return n;
}

size_t sp_directory_leave(sp_directory *d, uint64_t uid) {
  uv_mutex_lock(&d->lock);
  sp__dentry *prev = NULL, *e = sp__find_uid(d, uid, &prev);
  SP_ASSERT(e && e->conns > 0); /* left more often than routed */
  size_t left = --e->conns;
  if (left == 0) {
    if (prev)
      prev->next = e->next;
    else
      d->head = e->next;
    if (d->tail == e)
      d->tail = prev;
    d->per_loop[e->loop]--;
    d->nrooms--;
    free(e);
  }
  uv_mutex_unlock(&d->lock);
  return left;
}

void sp_directory_set_snakes(sp_directory *d, uint64_t uid, size_t snakes) {
  uv_mutex_lock(&d->lock);
  sp__dentry *e = sp__find_uid(d, uid, NULL);
  if (e)
    e->snakes = snakes;
  uv_mutex_unlock(&d->lock);
}

size_t sp_directory_rooms(sp_directory *d) {
  uv_mutex_lock(&d->lock);
  size_t n = d->nrooms;
  uv_mutex_unlock(&d->lock);
  return n;
}

void sp_directory_loads_json(sp_directory *d, sp_buf *out) {
  uv_mutex_lock(&d->lock);
  sp_buf_putc(out, '[');
  for (int i = 0; i < d->nloops; i++)
    sp_buf_printf(out, i ? ",%zu" : "%zu", d->per_loop[i]);
  sp_buf_putc(out, ']');
  uv_mutex_unlock(&d->lock);
}

void sp_directory_json(sp_directory *d, sp_buf *out) {
  uv_mutex_lock(&d->lock);
  sp_buf_puts(out, "{\"rooms\":[");
  for (sp__dentry *e = d->head; e; e = e->next) {
    if (e != d->head)
      sp_buf_putc(out, ',');
    sp_buf_puts(out, "{\"name\":");
    sp_json_string(out, e->name, strlen(e->name));
    sp_buf_printf(out, ",\"connections\":%zu,\"snakes\":%zu}", e->conns,
                  e->snakes);
  }
  sp_buf_puts(out, "]}");
  uv_mutex_unlock(&d->lock);
}
