#include "app/admin.h"

#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/worker.h"
#include "cluster/cluster.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "net/static.h"
#include "net/ws.h"
#include "room/lobby.h"
#include "room/proto.h"

#define SP_REALM "WWW-Authenticate: Bearer realm=\"snakepit admin\"\r\n"

/* ---- the token and the failures ----------------------------------------- */

typedef struct sp__failures {
  sp_iptable_key addr;
  uint64_t since; /* ms: the start of its window (0: free slot) */
  int count;
} sp__failures;

struct sp_admin_auth {
  unsigned char digest[32]; /* SHA-256 of the token: the token is not kept */
  uv_mutex_t lock;
  sp__failures addrs[SP_ADMIN_ADDRS];
};

static void sp__sha256(const void *data, size_t len, unsigned char out[32]) {
  unsigned int n = 0;
  SP_ASSERT(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32);
}

int sp_admin_auth_load(const char *path, sp_admin_auth **out, char *err,
                       size_t errlen) {
  *out = NULL;
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "cannot read the admin token file '%s': %s", path,
             strerror(errno));
    return 1;
  }
  char line[SP_ADMIN_TOKEN_MAX + 8] = "";
  int got = fgets(line, sizeof line, f) != NULL;
  int rd = ferror(f);
  fclose(f);
  if (rd) {
    snprintf(err, errlen, "cannot read the admin token file '%s'", path);
    return 1;
  }
  size_t n = got ? strlen(line) : 0;
  int whole = n == 0 || line[n - 1] == '\n' || n < sizeof line - 1;
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  int rc = 2;
  if (n == 0)
    snprintf(err, errlen, "admin token file '%s': its first line is empty",
             path);
  else if (!whole || n > SP_ADMIN_TOKEN_MAX || n < SP_ADMIN_TOKEN_MIN)
    snprintf(err, errlen,
             "admin token file '%s': the token must have at least %d and at "
             "most %d characters",
             path, SP_ADMIN_TOKEN_MIN, SP_ADMIN_TOKEN_MAX);
  else
    rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (line[i] < 0x21 || line[i] > 0x7e) {
      snprintf(err, errlen,
               "admin token file '%s': the token must be visible ASCII, "
               "without spaces",
               path);
      rc = 2;
    }
  sp_admin_auth *a = rc == 0 ? calloc(1, sizeof *a) : NULL;
  if (rc == 0 && (!a || uv_mutex_init(&a->lock) != 0)) {
    free(a);
    snprintf(err, errlen, "out of memory");
    rc = 1;
  } else if (rc == 0) {
    sp__sha256(line, n, a->digest);
    *out = a;
  }
  OPENSSL_cleanse(line, sizeof line);
  return rc;
}

void sp_admin_auth_free(sp_admin_auth *a) {
  if (!a)
    return;
  uv_mutex_destroy(&a->lock);
  free(a);
}

/* The token of "Bearer TOKEN" (scheme case-insensitive), or NULL. */
static const char *sp__bearer(const sp_http_request *req) {
  const char *v = req->authorization;
  if (!req->has_authorization || strncasecmp(v, "Bearer ", 7) != 0)
    return NULL;
  v += 7;
  while (*v == ' ')
    v++;
  return *v ? v : NULL;
}

int sp_admin_auth_check(sp_admin_auth *a, const sp_iptable_key *addr,
                        const sp_http_request *req, uint64_t now_ms,
                        int *retry_after) {
  uv_mutex_lock(&a->lock);
  sp__failures *mine = NULL, *slot = &a->addrs[0];
  for (int i = 0; i < SP_ADMIN_ADDRS; i++) {
    sp__failures *e = &a->addrs[i];
    if (e->since && memcmp(&e->addr, addr, sizeof *addr) == 0) {
      mine = e;
      break;
    }
    if (!e->since || (slot->since && e->since < slot->since))
      slot = e; /* a free slot, or the oldest window */
  }
  if (mine && now_ms - mine->since >= SP_ADMIN_WINDOW_MS) {
    mine->since = now_ms; /* its window is over: a new one */
    mine->count = 0;
  }
  if (mine && mine->count >= SP_ADMIN_MAX_FAILURES) {
    uint64_t left = mine->since + SP_ADMIN_WINDOW_MS - now_ms;
    *retry_after = (int)((left + 999) / 1000);
    uv_mutex_unlock(&a->lock);
    return 429;
  }
  const char *token = sp__bearer(req);
  int status = 401;
  if (token) {
    unsigned char d[32];
    sp__sha256(token, strlen(token), d);
    status = CRYPTO_memcmp(d, a->digest, sizeof d) == 0 ? 0 : 403;
  }
  if (status == 0 && mine) {
    mine->since = 0; /* the right token: its failures are forgotten */
  } else if (status != 0) {
    if (!mine) {
      mine = slot;
      mine->addr = *addr;
      mine->since = now_ms ? now_ms : 1;
      mine->count = 0;
    }
    mine->count++;
  }
  uv_mutex_unlock(&a->lock);
  return status;
}

/* ---- a request that waits for other loops -------------------------------- */

typedef enum { SP__LIST, SP__KICK, SP__CLOSE } sp__op;

struct sp_admin {
  sp_shared *sh;
  sp_worker *w;
  size_t waiting;
};

/* One HTTP request being answered: its parts go out to the loops, and it
 * is answered when the last one is back. */
typedef struct sp__call {
  sp_admin *home;
  sp_conn *conn;
  sp__op op;
  int waiting;
  sp_buf out; /* LIST: the rooms so far */
  size_t rooms;
  long result; /* KICK: found; CLOSE: members closed, -1 none */
} sp__call;

/* What one loop does for a call, and brings back. */
typedef struct sp__part {
  sp_mail mail;
  sp__call *call;
  char room[SP_ROOM_NAME_MAX + 1];
  uint32_t id;
  char reason[SP_WS_REASON_MAX + 1];
  sp_buf out;
  size_t rooms;
  long result;
} sp__part;

sp_admin *sp_admin_new(sp_shared *sh, sp_worker *w) {
  sp_admin *a = calloc(1, sizeof *a);
  if (a) {
    a->sh = sh;
    a->w = w;
  }
  return a;
}

void sp_admin_free(sp_admin *a) { free(a); }
size_t sp_admin_waiting(const sp_admin *a) { return a->waiting; }

static void sp__json_reply(sp_http_reply *reply, int status, const char *fmt,
                           ...) __attribute__((format(printf, 3, 4)));

static void sp__json_reply(sp_http_reply *reply, int status, const char *fmt,
                           ...) {
  va_list ap;
  va_start(ap, fmt);
  char text[512];
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  reply->status = status;
  reply->content_type = "application/json";
  sp_buf_puts(&reply->body, text);
}

static void sp__error(sp_http_reply *reply, int status, const char *why) {
  reply->status = status;
  reply->content_type = "application/json";
  sp_buf_puts(&reply->body, "{\"error\":");
  sp_json_string(&reply->body, why, strlen(why));
  sp_buf_puts(&reply->body, "}");
}

static void sp__finish(sp__call *call) {
  sp_http_reply reply = {.body = SP_BUF_INIT};
  switch (call->op) {
  case SP__LIST: {
    sp_cluster *cl = call->home->sh->cluster;
    reply.status = 200;
    sp_buf_puts(&reply.body, "{\"node\":");
    if (cl)
      sp_json_string(&reply.body, sp_cluster_node_id(cl),
                     strlen(sp_cluster_node_id(cl)));
    else
      sp_buf_puts(&reply.body, "null");
    sp_buf_puts(&reply.body, ",\"rooms\":[");
    sp_buf_put(&reply.body, call->out.data, call->out.len);
    sp_buf_puts(&reply.body, "]}");
    break;
  }
  case SP__KICK:
    if (call->result > 0)
      sp__json_reply(&reply, 200, "{\"kicked\":true}");
    else
      sp__error(&reply, 404, "no such player in that room");
    break;
  case SP__CLOSE:
    if (call->result >= 0)
      sp__json_reply(&reply, 200, "{\"closed\":%ld}", call->result);
    else
      sp__error(&reply, 404, "no such room");
    break;
  }
  call->home->waiting--;
  sp_conn_http_answer(call->conn, &reply); /* frees the body */
  sp_buf_free(&call->out);
  free(call);
}

/* Back on the home loop with one part's answer. */
static void sp__part_back(void *ctx, sp_mail *mail) {
  (void)ctx;
  sp__part *p = (sp__part *)mail;
  sp__call *call = p->call;
  if (call->op == SP__LIST && p->rooms > 0) {
    if (call->rooms > 0)
      sp_buf_putc(&call->out, ',');
    sp_buf_put(&call->out, p->out.data, p->out.len);
    call->rooms += p->rooms;
  } else if (call->op != SP__LIST && p->result > call->result) {
    call->result = p->result;
  }
  sp_buf_free(&p->out);
  free(p);
  if (--call->waiting == 0)
    sp__finish(call);
}

/* On the loop that runs the rooms. */
static void sp__part_run(void *ctx, sp_mail *mail) {
  sp_worker *w = ctx;
  sp__part *p = (sp__part *)mail;
  sp_lobby *l = sp_worker_lobby(w);
  switch (p->call->op) {
  case SP__LIST: p->rooms = sp_lobby_admin_rooms(l, &p->out, 0); break;
  case SP__KICK:
    p->result =
        sp_lobby_admin_kick(l, p->room, p->id, SP_ADMIN_KICK_CODE, p->reason);
    break;
  case SP__CLOSE:
    p->result =
        sp_lobby_admin_close(l, p->room, SP_ADMIN_CLOSE_CODE, p->reason);
    break;
  }
  sp_worker *home = p->call->home->w;
  /* The home loop waits for its parts before it stops (sp_admin_waiting),
   * so its mailbox is open. */
  if (sp_mailbox_post(sp_worker_mailbox(home), &p->mail, sp__part_back) != 0) {
    sp_log_error("admin_lost", "op=%d", (int)p->call->op);
    sp_buf_free(&p->out);
    free(p);
  }
}

/* Sends the call to loop i; a loop that has stopped answers nothing. */
static void sp__send_part(sp__call *call, int i, const sp__part *tmpl) {
  sp__part *p = calloc(1, sizeof *p);
  if (p && tmpl)
    *p = *tmpl;
  if (p) {
    p->call = call;
    p->out = (sp_buf)SP_BUF_INIT;
    p->result = call->op == SP__CLOSE ? -1 : 0;
  }
  call->waiting++;
  if (!p || sp_mailbox_post(sp_worker_mailbox(call->home->sh->workers[i]),
                            &p->mail, sp__part_run) != 0) {
    free(p);
    call->waiting--;
  }
}

/* Starts a call on the given loops (-1: all). Returns 0 when it answers
 * later, or 503 when no loop could be asked. */
static int sp__start(sp_admin *a, sp_conn *c, sp__op op, int loop,
                     const sp__part *tmpl) {
  sp__call *call = calloc(1, sizeof *call);
  if (!call)
    return 503;
  call->home = a;
  call->conn = c;
  call->op = op;
  call->out = (sp_buf)SP_BUF_INIT;
  call->result = op == SP__CLOSE ? -1 : 0;
  call->waiting = 1; /* held until every part is sent */
  a->waiting++;
  for (int i = 0; i < a->sh->nworkers; i++)
    if (loop < 0 || loop == i)
      sp__send_part(call, i, tmpl);
  if (--call->waiting == 0) {
    /* Nothing went out (the loops are stopping): nobody will answer. */
    a->waiting--;
    sp_buf_free(&call->out);
    free(call);
    return 503;
  }
  return 0;
}

/* ---- the hub's calls ------------------------------------------------------
 */

static void sp__hub_back(void *ctx, sp_mail *mail) {
  (void)ctx;
  sp_hub_call *hc = (sp_hub_call *)mail;
  sp_admin *a = hc->call;
  sp_http_reply reply = {.body = SP_BUF_INIT};
  int status = hc->status;
  if (status == 200)
    sp__json_reply(&reply, 200,
                   hc->op == SP_HUB_ANNOUNCE ? "{\"sent\":true}"
                                             : "{\"removed\":true}");
  else if (status == 404)
    sp__error(&reply, 404,
              hc->op == SP_HUB_ANNOUNCE ? "no such room" : "no such score");
  else if (status == 503)
    sp__error(&reply, 503, "the cluster's Redis is not reachable");
  else
    sp__error(&reply, status, "refused");
  a->waiting--;
  sp_conn *conn = *(sp_conn **)(hc + 1);
  free(hc);
  sp_conn_http_answer(conn, &reply);
}

/* A hub call and the connection it answers, in one block. */
static sp_hub_call *sp__hub_call_new(sp_admin *a, sp_conn *c, sp_hub_op op) {
  sp_hub_call *hc = calloc(1, sizeof *hc + sizeof(sp_conn *));
  if (!hc)
    return NULL;
  hc->op = op;
  hc->call = a;
  hc->home = a->w;
  *(sp_conn **)(hc + 1) = c;
  return hc;
}

static void sp__hub_run(void *ctx, sp_mail *mail) {
  sp_shared *sh = ctx;
  sh->hub_admin(sh->hub_ctx, (sp_hub_call *)mail);
}

void sp_hub_call_done(sp_hub_call *hc, int status) {
  hc->status = status;
  if (sp_mailbox_post(sp_worker_mailbox(hc->home), &hc->mail, sp__hub_back) !=
      0) {
    sp_log_error("admin_lost", "op=%d", (int)hc->op);
    free(hc);
  }
}

static int sp__hub_start(sp_admin *a, sp_hub_call *hc) {
  a->waiting++;
  if (sp_mailbox_post(a->sh->hub, &hc->mail, sp__hub_run) != 0) {
    a->waiting--;
    free(hc);
    return 503;
  }
  return 0;
}

/* ---- the API ---------------------------------------------------------------
 */

static int sp__room_ok(const char *s) { return sp_cluster_valid_name(s); }

/* An optional reason: a string, cut to what a close frame carries. */
static int sp__reason(json_t *j, const char *dflt,
                      char out[SP_WS_REASON_MAX + 1]) {
  json_t *r = json_object_get(j, "reason");
  const char *text = dflt;
  if (r && !json_is_null(r)) {
    if (!json_is_string(r))
      return -1;
    char clean[SP_WS_REASON_MAX * 4 + 1];
    int over = 0;
    sp_proto_sanitize_text(json_string_value(r), json_string_length(r),
                           SP_WS_REASON_MAX, clean, &over);
    size_t n = sp_utf8_prefix(clean, SP_WS_REASON_MAX);
    memcpy(out, clean, n);
    out[n] = '\0';
    if (n > 0)
      return 0;
  }
  snprintf(out, SP_WS_REASON_MAX + 1, "%s", text);
  return 0;
}

static void sp__api(sp_admin *a, sp_conn *c, const sp_http_request *req,
                    const char *what, sp_http_reply *reply) {
  int is_get = req->method == HTTP_GET || req->method == HTTP_HEAD;
  int is_post = req->method == HTTP_POST;
  static const char *const posts[] = {"kick", "close-room", "announce",
                                      "remove-score", NULL};
  int post_op = -1;
  for (int i = 0; posts[i]; i++)
    if (strcmp(what, posts[i]) == 0)
      post_op = i;
  if (strcmp(what, "rooms") != 0 && post_op < 0) {
    sp__error(reply, 404, "no such endpoint");
    return;
  }
  if (post_op < 0 ? !is_get : !is_post) {
    sp__error(reply, 405, "method not allowed");
    reply->headers = post_op < 0 ? "Allow: GET, HEAD\r\n" : "Allow: POST\r\n";
    return;
  }
  if (post_op < 0) {
    int st = sp__start(a, c, SP__LIST, -1, NULL);
    if (st)
      sp__error(reply, st, "shutting down");
    else
      reply->status = SP_HTTP_LATER;
    return;
  }
  json_error_t jerr;
  json_t *j =
      json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
  if (!j || !json_is_object(j)) {
    json_decref(j);
    sp__error(reply, 400, "the body must be a JSON object");
    return;
  }
  sp__part tmpl;
  memset(&tmpl, 0, sizeof tmpl);
  const char *room = json_string_value(json_object_get(j, "room"));
  json_t *jroom = json_object_get(j, "room");
  int st = 0;
  if (post_op == 0 || post_op == 1) { /* kick, close-room */
    json_t *jid = json_object_get(j, "id");
    json_int_t id = json_is_integer(jid) ? json_integer_value(jid) : 0;
    if (!room || !sp__room_ok(room))
      sp__error(reply, 400, "room: 1 to 32 of A-Z a-z 0-9 _ -");
    else if (post_op == 0 && (id < 1 || id > UINT32_MAX))
      sp__error(reply, 400, "id: a player's id, a positive integer");
    else if (sp__reason(j,
                        post_op == 0 ? "Kicked by an administrator"
                                     : "The room was closed by an "
                                       "administrator",
                        tmpl.reason) != 0)
      sp__error(reply, 400, "reason: a string");
    else {
      sp_room_ref ref;
      snprintf(tmpl.room, sizeof tmpl.room, "%s", room);
      tmpl.id = (uint32_t)id;
      if (sp_directory_lookup(a->sh->dir, room, &ref) != 0)
        sp__error(reply, 404, "no such room");
      else if ((st = sp__start(a, c, post_op == 0 ? SP__KICK : SP__CLOSE,
                               ref.loop, &tmpl)) != 0)
        sp__error(reply, st, "shutting down");
      else
        reply->status = SP_HTTP_LATER;
    }
  } else if (post_op == 2) { /* announce */
    json_t *jtext = json_object_get(j, "text");
    char clean[SP_ADMIN_ANNOUNCE_CHARS * 4 + 1];
    int over = 0;
    size_t chars = 0;
    if (json_is_string(jtext))
      chars = sp_proto_sanitize_text(json_string_value(jtext),
                                     json_string_length(jtext),
                                     SP_ADMIN_ANNOUNCE_CHARS, clean, &over);
    if (jroom && !json_is_null(jroom) && (!room || !sp__room_ok(room)))
      sp__error(reply, 400, "room: 1 to 32 of A-Z a-z 0-9 _ -, or null");
    else if (!json_is_string(jtext) || chars == 0)
      sp__error(reply, 400, "text: a non-empty string");
    else if (over)
      sp__error(reply, 400, "text: at most 250 characters");
    else {
      sp_hub_call *hc = sp__hub_call_new(a, c, SP_HUB_ANNOUNCE);
      if (!hc) {
        sp__error(reply, 503, "out of memory");
      } else {
        hc->all = room == NULL;
        snprintf(hc->room, sizeof hc->room, "%s", room ? room : "");
        snprintf(hc->text, sizeof hc->text, "%s", clean);
        if ((st = sp__hub_start(a, hc)) != 0)
          sp__error(reply, st, "shutting down");
        else
          reply->status = SP_HTTP_LATER;
      }
    }
  } else { /* remove-score */
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!name || !*name || strlen(name) >= SP_SCORE_NAME_SIZE)
      sp__error(reply, 400, "name: a name in the top scores");
    else {
      sp_hub_call *hc = sp__hub_call_new(a, c, SP_HUB_REMOVE_SCORE);
      if (!hc) {
        sp__error(reply, 503, "out of memory");
      } else {
        snprintf(hc->name, sizeof hc->name, "%s", name);
        if ((st = sp__hub_start(a, hc)) != 0)
          sp__error(reply, st, "shutting down");
        else
          reply->status = SP_HTTP_LATER;
      }
    }
  }
  json_decref(j);
}

int sp_admin_http(sp_admin *a, sp_conn *c, const sp_http_request *req,
                  const char *path, sp_http_reply *reply) {
  if (!a->sh->admin) {
    /* Off: nothing is there, as for any unknown path. */
    if (strcmp(path, "/admin") != 0 && strncmp(path, "/admin/", 7) != 0 &&
        strcmp(path, "/admin.html") != 0 && strcmp(path, "/admin.js") != 0)
      return 0;
    reply->status = 404;
    reply->content_type = "text/plain; charset=utf-8";
    sp_buf_puts(&reply->body, "not found\n");
    return 1;
  }
  if (strcmp(path, "/admin") == 0 || strcmp(path, "/admin/") == 0) {
    /* The page holds the UI only: every call it makes needs the token. */
    const struct sp_asset *page = sp_static_builtin("admin.html");
    if (!page || (req->method != HTTP_GET && req->method != HTTP_HEAD))
      return 0;
    reply->status = 200;
    reply->content_type = "text/html; charset=utf-8";
    reply->headers = "Content-Security-Policy: default-src 'self'; "
                     "style-src 'self' 'unsafe-inline'\r\n";
    sp_buf_put(&reply->body, page->data, page->size);
    return 1;
  }
  if (strncmp(path, "/admin/api/", 11) != 0)
    return 0;
  int retry = 0;
  int st = sp_admin_auth_check(a->sh->admin, sp_conn_addr(c), req,
                               uv_hrtime() / 1000000, &retry);
  if (st == 401) {
    sp__error(reply, 401,
              "an admin token is needed: Authorization: Bearer "
              "TOKEN");
    reply->headers = SP_REALM;
  } else if (st == 403) {
    sp__error(reply, 403, "wrong admin token");
  } else if (st == 429) {
    static _Thread_local char hdr[64];
    snprintf(hdr, sizeof hdr, "Retry-After: %d\r\n", retry);
    sp__error(reply, 429, "too many failed attempts from this address");
    reply->headers = hdr;
  }
  if (st) {
    sp_log_info("admin_refused", "peer=%s status=%d", sp_conn_peer(c), st);
    return 1;
  }
  sp__api(a, c, req, path + 11, reply);
  return 1;
}
