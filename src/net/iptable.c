#include "net/iptable.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define SP_IPTABLE_BUCKETS 4096 /* power of two */

typedef struct sp__ipentry {
  sp_iptable_key key;
  int count;
  struct sp__ipentry *next;
} sp__ipentry;

struct sp_iptable {
  uv_mutex_t lock;
  int total;
  sp__ipentry *buckets[SP_IPTABLE_BUCKETS];
};

void sp_iptable_key_from(sp_iptable_key *k, const struct sockaddr *sa) {
  memset(k, 0, sizeof *k);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    k->b[10] = k->b[11] = 0xff;
    memcpy(k->b + 12, &a->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    memcpy(k->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
  }
}

static uint32_t sp__hash(const sp_iptable_key *k) {
  uint32_t h = 2166136261u;
  for (int i = 0; i < 16; i++)
    h = (h ^ k->b[i]) * 16777619u;
  return h & (SP_IPTABLE_BUCKETS - 1);
}

sp_iptable *sp_iptable_new(void) {
  sp_iptable *t = calloc(1, sizeof *t);
  if (t && uv_mutex_init(&t->lock) != 0) {
    free(t);
    return NULL;
  }
  return t;
}

void sp_iptable_free(sp_iptable *t) {
  if (!t)
    return;
  for (int i = 0; i < SP_IPTABLE_BUCKETS; i++) {
    sp__ipentry *e = t->buckets[i], *next;
    for (; e; e = next) {
      next = e->next;
      free(e);
    }
  }
  uv_mutex_destroy(&t->lock);
  free(t);
}

int sp_iptable_inc(sp_iptable *t, const sp_iptable_key *k, int *total) {
  int n = -1;
  uv_mutex_lock(&t->lock);
  sp__ipentry **b = &t->buckets[sp__hash(k)];
  for (sp__ipentry *e = *b; e; e = e->next)
    if (memcmp(&e->key, k, sizeof *k) == 0) {
      n = ++e->count;
      break;
    }
  if (n < 0) {
    sp__ipentry *e = malloc(sizeof *e);
    if (e) {
      e->key = *k;
      e->count = n = 1;
      e->next = *b;
      *b = e;
    }
  }
  if (n > 0)
    t->total++;
  *total = t->total;
  uv_mutex_unlock(&t->lock);
  return n;
}

void sp_iptable_dec(sp_iptable *t, const sp_iptable_key *k) {
  uv_mutex_lock(&t->lock);
  for (sp__ipentry **pe = &t->buckets[sp__hash(k)]; *pe; pe = &(*pe)->next) {
    sp__ipentry *e = *pe;
    if (memcmp(&e->key, k, sizeof *k) == 0) {
      t->total--;
      if (--e->count == 0) {
        *pe = e->next;
        free(e);
      }
      break;
    }
  }
  uv_mutex_unlock(&t->lock);
}
