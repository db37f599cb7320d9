#include "room/relay.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "net/ws.h"
#include "room/lobby.h"

struct sp_relay {
  int self;
  sp_mailbox *box;
  struct sp_lobby *lobby;
  sp_relay *const *all;
};

sp_relay *sp_relay_new(int self, sp_mailbox *box, struct sp_lobby *lobby,
                       sp_relay *const *all) {
  sp_relay *r = calloc(1, sizeof *r);
  if (r)
    *r = (sp_relay){self, box, lobby, all};
  return r;
}

void sp_relay_free(sp_relay *r) { free(r); }
int sp_relay_self(const sp_relay *r) { return r->self; }

static int sp__post(sp_relay *r, int loop, sp_mail *mail, sp_mail_fn fn) {
  return sp_mailbox_post(r->all[loop]->box, mail, fn);
}

/* ---- member's loop -> owner ------------------------------------------------
 */

static int sp__owner(const sp_member *m) {
  return sp_view_owner(sp_member_view(m));
}

static void sp__on_enter(void *ctx, sp_mail *mail) {
  (void)ctx;
  sp_member *m = sp_member_of_ctl(mail, SP_MEMBER_CTL_ENTER);
  sp_relay *to = sp_member_ctl_of(m, SP_MEMBER_CTL_ENTER)->to;
  sp_lobby_owner_enter(to->lobby, m);
}

int sp_relay_enter(sp_relay *r, sp_member *m) {
  int owner = sp__owner(m);
  if (owner == r->self) {
    sp_lobby_owner_enter(r->lobby, m);
    return 0;
  }
  sp_member_ctl *ctl = sp_member_ctl_of(m, SP_MEMBER_CTL_ENTER);
  ctl->to = r->all[owner];
  return sp__post(r, owner, &ctl->mail, sp__on_enter);
}

typedef struct sp__input_mail {
  sp_mail mail;
  sp_relay *to;
  sp_member *m;
  sp_msg msg; /* only its first sp_msg_size() bytes are there */
} sp__input_mail;

static void sp__on_input(void *ctx, sp_mail *mail) {
  (void)ctx;
  sp__input_mail *in = (sp__input_mail *)mail;
  sp_lobby_owner_input(in->to->lobby, in->m, &in->msg);
  free(in);
}

void sp_relay_input(sp_relay *r, sp_member *m, const sp_msg *msg) {
  int owner = sp__owner(m);
  if (owner == r->self) {
    sp_lobby_owner_input(r->lobby, m, msg);
    return;
  }
  size_t size = sp_msg_size(msg);
  sp__input_mail *in = malloc(offsetof(sp__input_mail, msg) + size);
  if (!in)
    return; /* as if the client's message were lost on the way */
  in->to = r->all[owner];
  in->m = m;
  memcpy(&in->msg, msg, size);
  if (sp__post(r, owner, &in->mail, sp__on_input) != 0)
    free(in);
}

static void sp__on_leave(void *ctx, sp_mail *mail) {
  (void)ctx;
  sp_member *m = sp_member_of_ctl(mail, SP_MEMBER_CTL_LEAVE);
  sp_relay *to = sp_member_ctl_of(m, SP_MEMBER_CTL_LEAVE)->to;
  sp_lobby_owner_leave(to->lobby, m);
}

int sp_relay_leave(sp_relay *r, sp_member *m) {
  int owner = sp__owner(m);
  if (owner == r->self) {
    sp_lobby_owner_leave(r->lobby, m);
    return 0;
  }
  sp_member_ctl *ctl = sp_member_ctl_of(m, SP_MEMBER_CTL_LEAVE);
  ctl->to = r->all[owner];
  return sp__post(r, owner, &ctl->mail, sp__on_leave);
}

/* ---- owner -> member's loop ------------------------------------------------
 */

typedef struct sp__frames_mail {
  sp_mail mail;
  sp_relay *to;
  void *target; /* sp_member or sp_view */
  unsigned flags;
  size_t n;
  sp_frame *frames[];
} sp__frames_mail;

static sp__frames_mail *sp__frames_mail_new(sp_relay *to, void *target,
                                            sp_frame *const *frames, size_t n,
                                            unsigned flags) {
  sp__frames_mail *f = malloc(sizeof *f + n * sizeof *frames);
  if (!f)
    return NULL;
  f->to = to;
  f->target = target;
  f->flags = flags;
  f->n = n;
  for (size_t i = 0; i < n; i++)
    f->frames[i] = sp_frame_ref(frames[i]);
  return f;
}

static void sp__frames_mail_free(sp__frames_mail *f) {
  for (size_t i = 0; i < f->n; i++)
    sp_frame_unref(f->frames[i]);
  free(f);
}

static void sp__post_frames(sp_relay *r, int loop, void *target,
                            sp_frame *const *frames, size_t n, unsigned flags,
                            sp_mail_fn fn) {
  sp__frames_mail *f =
      sp__frames_mail_new(r->all[loop], target, frames, n, flags);
  if (!f) {
    sp_log_error("relay_lost", "loop=%d frames=%zu error=\"%s\"", loop, n,
                 sp_strerror(UV_ENOMEM));
    return;
  }
  if (sp__post(r, loop, &f->mail, fn) != 0)
    sp__frames_mail_free(f); /* that loop has stopped: nobody to tell */
}

static void sp__on_deliver(void *ctx, sp_mail *mail) {
  (void)ctx;
  sp__frames_mail *f = (sp__frames_mail *)mail;
  sp_member_deliver(f->target, f->frames, f->n, f->flags);
  sp__frames_mail_free(f);
}

void sp_relay_deliver(sp_relay *r, sp_member *m, sp_frame *const *frames,
                      size_t n, unsigned flags) {
  int loop = sp_member_loop(m);
  if (loop == r->self)
    sp_member_deliver(m, frames, n, flags);
  else
    sp__post_frames(r, loop, m, frames, n, flags, sp__on_deliver);
}

static void sp__on_tick(void *ctx, sp_mail *mail) {
  (void)ctx;
  sp__frames_mail *f = (sp__frames_mail *)mail;
  sp_view_send(f->target, f->frames, f->n);
  sp__frames_mail_free(f);
}

void sp_relay_tick(sp_relay *r, int loop, sp_view *v, sp_frame *const *frames,
                   size_t n) {
  if (loop == r->self)
    sp_view_send(v, frames, n);
  else
    sp__post_frames(r, loop, v, frames, n, 0, sp__on_tick);
}

typedef struct sp__close_mail {
  sp_mail mail;
  sp_member *m;
  uint16_t code;
  char reason[SP_WS_REASON_MAX + 1];
} sp__close_mail;

static void sp__on_close(void *ctx, sp_mail *mail) {
  (void)ctx;
  sp__close_mail *c = (sp__close_mail *)mail;
  sp_member_close_why(c->m, c->code, c->reason);
  free(c);
}

void sp_relay_close(sp_relay *r, sp_member *m, uint16_t code) {
  sp_relay_close_why(r, m, code, NULL);
}

void sp_relay_close_why(sp_relay *r, sp_member *m, uint16_t code,
                        const char *reason) {
  int loop = sp_member_loop(m);
  if (loop == r->self) {
    sp_member_close_why(m, code, reason);
    return;
  }
  sp__close_mail *c = malloc(sizeof *c);
  if (!c) {
    sp_log_error("relay_lost", "loop=%d close=%u error=\"%s\"", loop, code,
                 sp_strerror(UV_ENOMEM));
    return;
  }
  c->m = m;
  c->code = code;
  size_t n = reason ? sp_utf8_prefix(reason, SP_WS_REASON_MAX) : 0;
  memcpy(c->reason, reason ? reason : "", n);
  c->reason[n] = '\0';
  if (sp__post(r, loop, &c->mail, sp__on_close) != 0)
    free(c);
}

static void sp__on_release(void *ctx, sp_mail *mail) {
  (void)ctx;
  sp_member *m = sp_member_of_ctl(mail, SP_MEMBER_CTL_LEAVE);
  sp_relay *to = sp_member_ctl_of(m, SP_MEMBER_CTL_LEAVE)->to;
  sp_lobby_member_released(to->lobby, m);
}

void sp_relay_release(sp_relay *r, sp_member *m) {
  int loop = sp_member_loop(m);
  if (loop == r->self) {
    sp_lobby_member_released(r->lobby, m);
    return;
  }
  /* The member's own slot is free again: its leave has arrived. A refusal
   * means its loop has stopped and frees its members itself. */
  sp_member_ctl *ctl = sp_member_ctl_of(m, SP_MEMBER_CTL_LEAVE);
  ctl->to = r->all[loop];
  sp__post(r, loop, &ctl->mail, sp__on_release);
}
