/* fuzz_http: the HTTP request path of a connection, as net/server.c runs it.
 *
 * Input: one mode byte, then the bytes a client sends. The bytes are fed to
 * sp_http_feed() the way sp__http_input() does: after a request, continue
 * with the rest of the read; stop on SP_HTTP_MORE (next read), on
 * SP_HTTP_ERROR (the connection is answered and closed) and after an
 * upgrade (the rest belongs to the WebSocket).
 *
 * The stream is run twice: once as a single read, and once cut into reads
 * as the mode byte says (byte by byte, fixed or random sizes, two halves),
 * so that every state of the parser is entered at a read boundary. Both
 * runs must see the same requests and end the same way, since TCP may cut
 * a stream anywhere.
 *
 * Every request then goes through the pure part of the routing: the URL is
 * split at '?', the path mapped to a file name (sp_static_path), the name
 * looked up and typed, the WebSocket key checked and answered, and the
 * query read for a room name (sp_lobby_parse_query). The checks are the
 * contracts of those functions: a mapped name can never leave the web
 * directory, a room name is always 1..32 of [A-Za-z0-9_-]. */
#include <http_parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "net/http.h"
#include "net/static.h"
#include "net/ws.h"
#include "room/lobby.h"

static int is_room_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int is_b64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* A string field of the request must be terminated inside its array. */
#define CHECK_TERMINATED(field)                                                \
  FZ_CHECK(memchr((field), '\0', sizeof(field)) != NULL,                       \
           "request field " #field " is not NUL-terminated")

static void check_path(const char *path) {
  /* Exactly the documented size: an overflow of name is an ASan report. */
  char name[SP_STATIC_MAX_NAME + 1];
  int status = sp_static_path(path, name);
  if (status == 0) {
    size_t n = strnlen(name, SP_STATIC_MAX_NAME + 1);
    FZ_CHECK(n >= 1 && n <= SP_STATIC_MAX_NAME, "name length %zu for %s", n,
             path);
    FZ_CHECK(strchr(name, '/') == NULL, "'/' in name \"%s\" from path \"%s\"",
             name, path);
    FZ_CHECK(strchr(name, '\\') == NULL, "'\\' in name \"%s\" from path \"%s\"",
             name, path);
    FZ_CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0,
             "name \"%s\" from path \"%s\"", name, path);
    FZ_CHECK(name[0] != '.', "hidden name \"%s\" from path \"%s\"", name, path);
    if (strcmp(path, "/") == 0)
      FZ_CHECK(strcmp(name, "index.html") == 0, "\"/\" maps to \"%s\"", name);
    /* What the server does next with a name. */
    const struct sp_asset *a = sp_static_builtin(name);
    FZ_CHECK(a == NULL, "the fuzz build has no built-in assets");
    const char *type = sp_static_content_type(name);
    FZ_CHECK(type != NULL && type[0] != '\0', "no content type for %s", name);
  } else {
    FZ_CHECK(status == 400 || status == 404, "sp_static_path status %d",
             status);
  }
}

static void check_ws_key(const char *key) {
  int valid = sp_ws_key_valid(key);
  if (valid) {
    FZ_CHECK(strlen(key) == 24 && key[22] == '=' && key[23] == '=',
             "accepted key \"%s\"", key);
    for (int i = 0; i < 22; i++)
      FZ_CHECK(is_b64(key[i]), "accepted key \"%s\"", key);
  }
  /* The server answers only valid keys, but the function must be safe on
   * anything a header can hold. */
  char accept[29 + 1];
  memset(accept, 'x', sizeof accept);
  sp_ws_accept_key(key, accept);
  FZ_CHECK(accept[28] == '\0' && accept[29] == 'x',
           "accept key not exactly 28 characters");
  for (int i = 0; i < 27; i++)
    FZ_CHECK(is_b64(accept[i]), "accept key \"%s\"", accept);
  FZ_CHECK(accept[27] == '=', "accept key \"%s\"", accept);
  if (strcmp(key, "dGhlIHNhbXBsZSBub25jZQ==") == 0) /* RFC 6455 1.3 */
    FZ_CHECK(strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
             "accept key \"%s\" for the RFC example", accept);
}

static void check_query(const char *query) {
  char room[SP_ROOM_NAME_MAX + 1];
  const char *reason = NULL;
  int status = sp_lobby_parse_query(query, room, &reason);
  if (status == 0) {
    size_t n = strnlen(room, SP_ROOM_NAME_MAX + 1);
    FZ_CHECK(n >= 1 && n <= SP_ROOM_NAME_MAX, "room length %zu for \"%s\"", n,
             query);
    for (size_t i = 0; i < n; i++)
      FZ_CHECK(is_room_char(room[i]), "room \"%s\" from query \"%s\"", room,
               query);
  } else {
    FZ_CHECK(status == 400, "sp_lobby_parse_query status %d", status);
    FZ_CHECK(reason != NULL && reason[0] != '\0', "400 without a reason");
  }
}

/* sp__request() in net/server.c, minus the I/O. */
static void route(const sp_http_request *req) {
  CHECK_TERMINATED(req->url);
  CHECK_TERMINATED(req->ws_key);
  CHECK_TERMINATED(req->ws_version);
  CHECK_TERMINATED(req->origin);
  FZ_CHECK(req->method >= 0, "method %d", req->method);
  FZ_CHECK(http_method_str((enum http_method)req->method) != NULL, "method");

  const char *q = strchr(req->url, '?');
  size_t plen = q ? (size_t)(q - req->url) : strlen(req->url);
  FZ_CHECK(plen <= SP_HTTP_MAX_URL, "url of %zu bytes", plen);
  char path[SP_HTTP_MAX_URL + 1];
  memcpy(path, req->url, plen);
  path[plen] = '\0';
  const char *query = q ? q + 1 : "";

  /* The server reaches only one of these per request (by path), but each
   * is a pure function of what a client controls, so all of them run. */
  check_path(path);
  check_query(query);
  check_ws_key(req->ws_key);
}

/* sp_http_feed must never hand http_parser an empty slice: for http_parser
 * a length of 0 means the peer closed the connection (EOF), and it answers
 * it by consuming nothing, so a caller that loops until all bytes are used
 * never ends. The target links with -Wl,--wrap=http_parser_execute to see
 * every call. */
size_t __real_http_parser_execute(http_parser *parser,
                                  const http_parser_settings *settings,
                                  const char *data, size_t len);
size_t __wrap_http_parser_execute(http_parser *parser,
                                  const http_parser_settings *settings,
                                  const char *data, size_t len);
size_t __wrap_http_parser_execute(http_parser *parser,
                                  const http_parser_settings *settings,
                                  const char *data, size_t len) {
  FZ_CHECK(len > 0, "sp_http_feed called http_parser_execute with 0 bytes "
                    "(an EOF signal); it consumes nothing and the feed loop "
                    "would spin forever");
  return __real_http_parser_execute(parser, settings, data, len);
}

/* What one connection made of the stream: the requests in order, and how
 * it ended. The same bytes must give the same outcome however they are cut
 * into reads, since TCP may cut them anywhere. */
typedef struct outcome {
  sp_http_request *reqs;
  size_t nreqs, cap;
  int error;       /* status after SP_HTTP_ERROR, or 0 */
  size_t ended_at; /* stream offset after an upgrade request */
  int in_request;  /* a request was still incomplete at the end */
} outcome;

static void outcome_add(outcome *o, const sp_http_request *req) {
  if (o->nreqs == o->cap) {
    o->cap = o->cap ? o->cap * 2 : 4;
    o->reqs = realloc(o->reqs, o->cap * sizeof *o->reqs);
    FZ_CHECK(o->reqs != NULL, "out of memory");
  }
  o->reqs[o->nreqs++] = *req;
}

/* sp__http_input() in net/server.c, minus the I/O: feeds the stream in the
 * pieces sp chooses. Each piece is copied to the very end of a heap buffer,
 * as if it were a socket read of exactly its size, so reading past it is an
 * ASan report (one allocation per run keeps the byte-by-byte mode fast). */
static void run(const uint8_t *data, size_t size, fz_splitter *sp, int do_route,
                outcome *o) {
  memset(o, 0, sizeof *o);
  sp_http *h = sp_http_new();
  FZ_CHECK(h != NULL, "out of memory");
  char *buf = malloc(size ? size : 1);
  FZ_CHECK(buf != NULL, "out of memory");
  size_t off = 0;
  int done = 0;
  while (!done) {
    size_t n = fz_split_next(sp);
    if (n == 0)
      break;
    char *piece = buf + size - n;
    memcpy(piece, data + off, n);
    off += n;
    const char *p = piece;
    size_t len = n;
    while (len > 0) {
      size_t used = (size_t)-1;
      sp_http_result r = sp_http_feed(h, p, len, &used);
      FZ_CHECK(used <= len, "consumed %zu of %zu bytes", used, len);
      p += used;
      len -= used;
      if (r == SP_HTTP_ERROR) {
        int st = sp_http_error_status(h);
        FZ_CHECK(st == 400 || st == 413 || st == 414 || st == 431, "error status %d", st);
        FZ_CHECK(strcmp(sp_http_status_text(st), "Unknown") != 0,
                 "no text for %d", st);
        /* Once in error, nothing more is read. */
        size_t again = (size_t)-1;
        FZ_CHECK(sp_http_feed(h, "GET / HTTP/1.1\r\n\r\n", 18, &again) ==
                         SP_HTTP_ERROR &&
                     again == 0,
                 "parser left its error state");
        /* Where the parser stopped does not matter: the connection is
         * answered and closed. */
        o->error = st;
        done = 1;
        break;
      }
      if (r == SP_HTTP_MORE) {
        /* The server drops whatever is left of the read after MORE, so
         * the contract is that every byte was consumed. */
        FZ_CHECK(len == 0, "SP_HTTP_MORE left %zu of %zu bytes unread", len, n);
        break;
      }
      FZ_CHECK(r == SP_HTTP_REQUEST, "result %d", (int)r);
      FZ_CHECK(used > 0, "a request from no bytes");
      const sp_http_request *req = sp_http_request_get(h);
      outcome_add(o, req);
      if (do_route)
        route(req);
      if (req->upgrade) {
        o->ended_at = off - len; /* the rest is WebSocket data */
        done = 1;
        break;
      }
    }
  }
  free(buf);
  if (!done)
    o->in_request = sp_http_in_request(h);
  sp_http_free(h);
}

static void check_same_request(const sp_http_request *a,
                               const sp_http_request *b, size_t i) {
  FZ_CHECK(a->method == b->method, "request %zu: method %d vs %d", i, a->method,
           b->method);
  FZ_CHECK(strcmp(a->url, b->url) == 0,
           "request %zu: url \"%.80s\" vs "
           "\"%.80s\"",
           i, a->url, b->url);
  FZ_CHECK(a->keep_alive == b->keep_alive, "request %zu: keep-alive %d vs %d",
           i, a->keep_alive, b->keep_alive);
  FZ_CHECK(a->upgrade == b->upgrade, "request %zu: upgrade %d vs %d", i,
           a->upgrade, b->upgrade);
  FZ_CHECK(strcmp(a->ws_key, b->ws_key) == 0,
           "request %zu: Sec-WebSocket-Key \"%s\" vs \"%s\"", i, a->ws_key,
           b->ws_key);
  FZ_CHECK(strcmp(a->ws_version, b->ws_version) == 0,
           "request %zu: Sec-WebSocket-Version \"%s\" vs \"%s\"", i,
           a->ws_version, b->ws_version);
  FZ_CHECK(strcmp(a->origin, b->origin) == 0,
           "request %zu: Origin \"%.80s\" vs \"%.80s\"", i, a->origin,
           b->origin);
  FZ_CHECK(a->has_upgrade_websocket == b->has_upgrade_websocket,
           "request %zu: Upgrade: websocket %d vs %d", i,
           a->has_upgrade_websocket, b->has_upgrade_websocket);
  FZ_CHECK(a->has_connection_upgrade == b->has_connection_upgrade,
           "request %zu: Connection: upgrade %d vs %d", i,
           a->has_connection_upgrade, b->has_connection_upgrade);
}

static void compare(const outcome *ref, const outcome *got, int mode) {
  FZ_CHECK(ref->nreqs == got->nreqs,
           "%zu requests in one read, %zu in pieces (split mode %d)",
           ref->nreqs, got->nreqs, mode);
  for (size_t i = 0; i < ref->nreqs; i++)
    check_same_request(&ref->reqs[i], &got->reqs[i], i);
  /* Which error a request both too long and malformed gets (414, 431 or
   * 400) may depend on where the parser saw the reads end; that there is
   * an error may not. */
  FZ_CHECK((ref->error != 0) == (got->error != 0),
           "error %d in one read, %d in pieces (split mode %d)", ref->error,
           got->error, mode);
  FZ_CHECK(ref->ended_at == got->ended_at,
           "WebSocket data starts at byte %zu in one read, %zu in pieces",
           ref->ended_at, got->ended_at);
  FZ_CHECK(ref->in_request == got->in_request,
           "request pending %d in one read, %d in pieces", ref->in_request,
           got->in_request);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t mode = data[0];
  data++;
  size--;
  /* The reference: everything in one read, every request routed. */
  fz_splitter whole;
  fz_split_init(&whole, FZ_SPLIT_WHOLE, 0, size);
  outcome ref;
  run(data, size, &whole, 1, &ref);
  /* The same stream cut as the mode byte says must give the same. */
  fz_splitter sp;
  fz_split_init(&sp, mode, (uint32_t)size, size);
  if (sp.mode != FZ_SPLIT_WHOLE) {
    outcome got;
    run(data, size, &sp, 0, &got);
    compare(&ref, &got, sp.mode);
    free(got.reqs);
  }
  free(ref.reqs);
  return 0;
}
