#include "app/leases.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* What still needs the lease of one room. */
typedef struct sp__hold {
  char room[SP_ROOM_NAME_MAX + 1];
  unsigned pending; /* claims asked and not yet used by their asker */
  unsigned lives;   /* directory entries made under the lease */
  struct sp__hold *next;
} sp__hold;

struct sp_leases {
  sp_cluster *cluster;
  void (*lose)(void *data, const char *room);
  void *data;
  sp__hold *holds;
};

sp_leases *sp_leases_new(sp_cluster *c,
                         void (*lose)(void *data, const char *room),
                         void *data) {
  sp_leases *l = calloc(1, sizeof *l);
  if (l) {
    l->cluster = c;
    l->lose = lose;
    l->data = data;
  }
  return l;
}

void sp_leases_free(sp_leases *l) {
  if (!l)
    return;
  for (sp__hold *h = l->holds, *next; h; h = next) {
    next = h->next;
    free(h);
  }
  free(l);
}

static sp__hold **sp__find(sp_leases *l, const char *room) {
  sp__hold **ph = &l->holds;
  while (*ph && strcmp((*ph)->room, room) != 0)
    ph = &(*ph)->next;
  return ph;
}

/* Gives the lease back once nothing needs it. */
static void sp__maybe_release(sp_leases *l, sp__hold **ph) {
  sp__hold *h = *ph;
  if (h->pending > 0 || h->lives > 0)
    return;
  if (l->cluster)
    sp_cluster_release(l->cluster, h->room);
  *ph = h->next;
  free(h);
}

static void sp__claimed(void *data, sp_claim_result result, uint64_t epoch,
                        const char *owner) {
  (void)owner;
  sp_claim *cl = data;
  cl->result = result;
  cl->epoch = epoch;
  cl->reply(cl);
}

void sp_leases_claim(sp_leases *l, sp_claim *cl) {
  cl->leases = l;
  sp__hold **ph = sp__find(l, cl->room);
  if (!*ph && (*ph = calloc(1, sizeof **ph)) != NULL)
    strcpy((*ph)->room, cl->room);
  if (!*ph || !l->cluster ||
      sp_cluster_claim(l->cluster, cl->room, sp__claimed, cl) != 0) {
    /* Out of memory, or the cluster is closing: refuse for now. The
     * asker still reports back, so the count stays true. */
    if (*ph)
      (*ph)->pending++;
    cl->result = SP_CLAIM_UNAVAILABLE;
    cl->epoch = 0;
    cl->reply(cl);
    return;
  }
  (*ph)->pending++;
}

void sp_leases_claim_done(sp_leases *l, const char *room, int created) {
  sp__hold **ph = sp__find(l, room);
  if (!*ph)
    return; /* its hold could not be made (out of memory) */
  if ((*ph)->pending > 0)
    (*ph)->pending--;
  if (created)
    (*ph)->lives++;
  sp__maybe_release(l, ph);
}

void sp_leases_room_closed(sp_leases *l, const char *room) {
  sp__hold **ph = sp__find(l, room);
  if (!*ph)
    return;
  if ((*ph)->lives > 0)
    (*ph)->lives--;
  sp__maybe_release(l, ph);
}

void sp_leases_lost(sp_leases *l, const char *room) {
  /* The cluster has dropped the lease already; the room's life here ends
   * (its members are closed with 1012) and its hold goes with it. */
  l->lose(l->data, room);
}
