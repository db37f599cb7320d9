/* admin: the admin console (README "Operations"), on only with
 * --admin-token-file. GET /admin is its page (web/admin.html, the UI
 * only); everything it does goes through a JSON API under /admin/api/
 * that wants `Authorization: Bearer TOKEN`:
 *
 *   GET  /admin/api/rooms         the rooms this node runs and their players
 *   POST /admin/api/kick          {"room","id","reason"?}: close 4000
 *   POST /admin/api/close-room    {"room","reason"?}: every member 4001
 *   POST /admin/api/announce      {"room"?: NAME|null, "text"}
 *   POST /admin/api/remove-score  {"name"}
 *
 * The token is compared in constant time (SHA-256 of both, CRYPTO_memcmp).
 * 401 without a Bearer token, 403 for a wrong one; an address with
 * SP_ADMIN_MAX_FAILURES of those within SP_ADMIN_WINDOW_MS gets 429 (with
 * Retry-After) until its window ends, whatever it sends. The addresses are
 * kept in a fixed table (SP_ADMIN_ADDRS; the oldest window gives way).
 *
 * A request is served by the worker that read it, whose rooms may run on
 * other loops: it asks each owner loop through its mailbox (the rooms are
 * touched only by their owner) and answers once every one has replied
 * (SP_HTTP_LATER); announcements and score removals go through the hub,
 * which owns the scores and the cluster. */
#ifndef SP_ADMIN_H
#define SP_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/mailbox.h"
#include "net/server.h"
#include "room/room.h"
#include "store/scores.h"

#define SP_ADMIN_TOKEN_MIN 16
#define SP_ADMIN_TOKEN_MAX 256
#define SP_ADMIN_MAX_FAILURES 5
#define SP_ADMIN_WINDOW_MS 60000
#define SP_ADMIN_ADDRS 1024
#define SP_ADMIN_ANNOUNCE_CHARS 250 /* code points of an announcement */
#define SP_ADMIN_KICK_CODE 4000     /* close code of a kicked player */
#define SP_ADMIN_CLOSE_CODE 4001    /* close code of a closed room */

struct sp_shared;
struct sp_worker;

/* ---- the token and the failures, shared by every worker ----------------- */

typedef struct sp_admin_auth sp_admin_auth;

/* Reads the token: the first line of path, which must be SP_ADMIN_TOKEN_MIN
 * to SP_ADMIN_TOKEN_MAX visible ASCII characters. Returns 0, 1 when the
 * file cannot be read or 2 when its token is not valid, with one line in
 * err (which never holds the token). The caller owns *out. */
int sp_admin_auth_load(const char *path, sp_admin_auth **out, char *err,
                       size_t errlen);
void sp_admin_auth_free(sp_admin_auth *a);
/* Checks a request's Authorization from addr at now_ms (any thread).
 * Returns 0 (the token), or 401, 403 or 429 (*retry_after: seconds). */
int sp_admin_auth_check(sp_admin_auth *a, const sp_iptable_key *addr,
                        const sp_http_request *req, uint64_t now_ms,
                        int *retry_after);

/* ---- a worker's side ----------------------------------------------------- */

typedef struct sp_admin sp_admin;

/* The console of worker w (owned by the worker, freed after its loop). */
sp_admin *sp_admin_new(struct sp_shared *sh, struct sp_worker *w);
void sp_admin_free(sp_admin *a);
/* Serves /admin and /admin/api/...: returns 1 when path is the console's
 * (reply filled in, or SP_HTTP_LATER), 0 otherwise. Off (no token): the
 * paths are not the console's, so they are 404 like any unknown file. */
int sp_admin_http(sp_admin *a, sp_conn *c, const sp_http_request *req,
                  const char *path, sp_http_reply *reply);
/* Requests still waiting for other loops: the worker stops only at 0. */
size_t sp_admin_waiting(const sp_admin *a);

/* ---- the hub's side ------------------------------------------------------ */

typedef enum { SP_HUB_ANNOUNCE, SP_HUB_REMOVE_SCORE } sp_hub_op;

/* What a worker asks the hub (sp_shared.hub_admin runs it on the hub's
 * loop, which answers with sp_hub_call_done, at once or later). */
typedef struct sp_hub_call {
  sp_mail mail;
  sp_hub_op op;
  int all; /* announce: to every room */
  char room[SP_ROOM_NAME_MAX + 1];
  char text[SP_ADMIN_ANNOUNCE_CHARS * 4 + 1];
  char name[SP_SCORE_NAME_SIZE];
  /* The caller's. */
  void *call;
  struct sp_worker *home;
  int status;
} sp_hub_call;

/* On the hub: the answer (an HTTP status: 200, 404, 503...) goes back to
 * the worker that asked; hc is the worker's again. */
void sp_hub_call_done(sp_hub_call *hc, int status);

#endif
