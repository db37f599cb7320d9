#include "room/member.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"

struct sp_member {
  /* The member's loop. */
  sp_conn *conn; /* NULL once detached */
  sp_member *prev, *next;
  unsigned registered : 1;
  /* Immutable after sp_member_new. */
  sp_view *view;
  int loop;
  uint64_t conn_id;
  char peer[48];
  /* The owner's. */
  void *owner_slot;
  /* The relay's. */
  sp_member_ctl ctl[2];
};

struct sp_view {
  uint64_t uid, epoch;
  int owner;
  char name[33];
  sp_member *head, *tail; /* players first, newcomers last */
  size_t n;
};

sp_view *sp_view_new(const char *name, uint64_t uid, int owner,
                     uint64_t epoch) {
  sp_view *v = sp_fault("view_new") ? NULL : calloc(1, sizeof *v);
  if (v) {
    v->uid = uid;
    v->epoch = epoch;
    v->owner = owner;
    strncpy(v->name, name, sizeof v->name - 1);
  }
  return v;
}

const char *sp_view_name(const sp_view *v) { return v->name; }

uint64_t sp_view_uid(const sp_view *v) { return v->uid; }
uint64_t sp_view_epoch(const sp_view *v) { return v->epoch; }
int sp_view_owner(const sp_view *v) { return v->owner; }
size_t sp_view_size(const sp_view *v) { return v->n; }
sp_member *sp_view_first(sp_view *v) { return v->head; }
sp_member *sp_member_next(const sp_member *m) { return m->next; }
sp_conn *sp_member_conn(const sp_member *m) { return m->conn; }

void sp_view_free(sp_view *v) { free(v); }

void sp_view_send(sp_view *v, sp_frame *const *frames, size_t n) {
  for (sp_member *m = v->head; m; m = m->next)
    if (m->registered && m->conn)
      sp_conn_send(m->conn, frames, n);
}

static void sp__unlink(sp_member *m) {
  sp_view *v = m->view;
  if (m->prev)
    m->prev->next = m->next;
  else
    v->head = m->next;
  if (m->next)
    m->next->prev = m->prev;
  else
    v->tail = m->prev;
  m->prev = m->next = NULL;
}

static void sp__link_front(sp_member *m) {
  sp_view *v = m->view;
  m->next = v->head;
  if (v->head)
    v->head->prev = m;
  v->head = m;
  if (!v->tail)
    v->tail = m;
}

sp_member *sp_member_new(sp_view *v, sp_conn *c, int loop) {
  sp_member *m = sp_fault("member_new") ? NULL : calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->conn = c;
  m->view = v;
  m->loop = loop;
  m->conn_id = sp_conn_id(c);
  strncpy(m->peer, sp_conn_peer(c), sizeof m->peer - 1);
  m->prev = v->tail;
  if (v->tail)
    v->tail->next = m;
  else
    v->head = m;
  v->tail = m;
  v->n++;
  return m;
}

void sp_member_detach(sp_member *m) { m->conn = NULL; }

sp_view *sp_member_release(sp_member *m) {
  sp_view *v = m->view;
  sp__unlink(m);
  v->n--;
  free(m);
  return v;
}

void sp_member_deliver(sp_member *m, sp_frame *const *frames, size_t n,
                       unsigned flags) {
  if (!m->conn)
    return;
  if (flags & SP_MEMBER_REGISTERED) {
    m->registered = 1;
    sp_conn_registered(m->conn);
  }
  if ((flags & SP_MEMBER_PLAYING) && m->view->head != m) {
    sp__unlink(m);
    sp__link_front(m);
  }
  if (n > 0)
    sp_conn_send(m->conn, frames, n);
}

void sp_member_close(sp_member *m, uint16_t code) {
  sp_member_close_why(m, code, NULL);
}

void sp_member_close_why(sp_member *m, uint16_t code, const char *reason) {
  if (m->conn)
    sp_conn_close_why(m->conn, code, reason);
}

int sp_member_loop(const sp_member *m) { return m->loop; }
sp_view *sp_member_view(const sp_member *m) { return m->view; }
uint64_t sp_member_conn_id(const sp_member *m) { return m->conn_id; }
const char *sp_member_peer(const sp_member *m) { return m->peer; }
void *sp_member_owner_slot(const sp_member *m) { return m->owner_slot; }
void sp_member_set_owner_slot(sp_member *m, void *p) { m->owner_slot = p; }

sp_member_ctl *sp_member_ctl_of(sp_member *m, int slot) {
  return &m->ctl[slot];
}

sp_member *sp_member_of_ctl(sp_mail *mail, int slot) {
  sp_member_ctl *ctl =
      (sp_member_ctl *)((char *)mail - offsetof(sp_member_ctl, mail));
  return (sp_member *)((char *)(ctl - slot) - offsetof(sp_member, ctl));
}
