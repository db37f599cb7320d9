/* Unit tests of request parsing (src/net/http.h, on http-parser) and of
 * static file mapping and reading (src/net/static.h).
 *
 * Every request is fed whole and in small pieces, down to one byte at a
 * time: the results must not depend on how TCP split the bytes. */
#include <fcntl.h>
#include <http_parser.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/http.h"
#include "net/static.h"
#include "test.h"

/* ---- driving the parser ------------------------------------------------ */

#define MAX_REQ 4

typedef struct hres {
  int nreq;
  sp_http_request req[MAX_REQ];
  size_t end[MAX_REQ];    /* offset just after each request */
  char body[MAX_REQ][64]; /* the start of each body, copied at once */
  int error;              /* HTTP status after SP_HTTP_ERROR, else 0 */
  int bad_more;           /* SP_HTTP_MORE without consuming every byte */
  size_t stopped_at;      /* bytes consumed when we stopped feeding */
} hres;

/* Feeds data in chunks of `step` bytes (0: all at once) as a connection
 * would: after each request it feeds the rest of the chunk again, after an
 * upgrade request it stops (the rest belongs to the WebSocket). */
static void run_http(const char *data, size_t len, size_t step, hres *r) {
  static hres zero;
  *r = zero;
  sp_http *h = sp_http_new();
  if (!h) {
    r->error = -1;
    return;
  }
  size_t off = 0;
  int stop = 0;
  while (off < len && !stop) {
    size_t n = step && step < len - off ? step : len - off;
    size_t pos = 0;
    while (pos < n) {
      size_t c = 0;
      sp_http_result res = sp_http_feed(h, data + off + pos, n - pos, &c);
      pos += c;
      if (res == SP_HTTP_ERROR) {
        r->error = sp_http_error_status(h);
        stop = 1;
        break;
      }
      if (res == SP_HTTP_MORE) {
        if (pos != n)
          r->bad_more = 1;
        break;
      }
      if (r->nreq < MAX_REQ) {
        r->req[r->nreq] = *sp_http_request_get(h);
        r->end[r->nreq] = off + pos;
        snprintf(r->body[r->nreq], sizeof r->body[0], "%s",
                 sp_http_request_get(h)->body);
      }
      r->nreq++;
      if (sp_http_request_get(h)->upgrade) {
        stop = 1;
        break;
      }
    }
    off += pos;
    if (!stop && pos < n)
      break; /* MORE that left bytes: bad_more already says so */
  }
  r->stopped_at = off;
  sp_http_free(h);
}

/* The splits every request is tried with. */
static const size_t steps[] = {0, 1, 2, 3, 7, 64, 1000};
#define NSTEPS (sizeof steps / sizeof steps[0])

#define FOR_EACH_SPLIT(data, len, r)                                           \
  for (size_t si_ = 0;                                                         \
       si_ < NSTEPS && (run_http((data), (len), steps[si_], &(r)), 1); si_++)

#define SPLIT_FAILF(fmt, ...) FAILF("step %zu: " fmt, steps[si_], __VA_ARGS__)

/* ---- requests ---------------------------------------------------------- */

TEST(get_request_whole_and_bytewise) {
  static const char req[] = "GET /index.html?x=1 HTTP/1.1\r\n"
                            "Host: localhost:8080\r\n"
                            "Accept: */*\r\n"
                            "\r\n";
  hres r;
  FOR_EACH_SPLIT(req, sizeof req - 1, r) {
    if (r.nreq != 1 || r.error || r.bad_more)
      SPLIT_FAILF("%d requests, error %d, bad_more %d", r.nreq, r.error,
                  r.bad_more);
    if (strcmp(r.req[0].url, "/index.html?x=1") != 0 ||
        r.req[0].method != HTTP_GET || r.req[0].keep_alive != 1 ||
        r.req[0].upgrade != 0 || r.end[0] != sizeof req - 1 ||
        r.req[0].has_upgrade_websocket || r.req[0].has_connection_upgrade ||
        r.req[0].ws_key[0] || r.req[0].origin[0])
      SPLIT_FAILF("url \"%s\" method %d keep_alive %d upgrade %d end %zu",
                  r.req[0].url, r.req[0].method, r.req[0].keep_alive,
                  r.req[0].upgrade, r.end[0]);
  }
}

TEST(post_bodies_are_kept_in_order) {
  static const char req[] = "POST /admin/api/kick HTTP/1.1\r\nHost: x\r\n"
                            "Content-Length: 11\r\n\r\n{\"id\": 42}\n"
                            "POST /b HTTP/1.1\r\nHost: x\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                            "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
  hres r;
  FOR_EACH_SPLIT(req, sizeof req - 1, r) {
    if (r.nreq != 3 || r.error || r.bad_more)
      SPLIT_FAILF("%d requests, error %d", r.nreq, r.error);
    if (r.req[0].method != HTTP_POST || r.req[0].body_len != 11 ||
        strcmp(r.body[0], "{\"id\": 42}\n") != 0)
      SPLIT_FAILF("first body %zu \"%s\"", r.req[0].body_len, r.body[0]);
    if (r.req[1].body_len != 5 || strcmp(r.body[1], "abcde") != 0)
      SPLIT_FAILF("chunked body %zu \"%s\"", r.req[1].body_len, r.body[1]);
    if (r.req[2].body_len != 0 || r.body[2][0])
      SPLIT_FAILF("a GET without a body got %zu bytes", r.req[2].body_len);
  }
}

TEST(body_over_the_limit_is_413) {
  /* Announced too big: refused before a byte of it is read. */
  char head[200];
  snprintf(head, sizeof head,
           "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
           SP_HTTP_MAX_BODY + 1);
  hres r;
  FOR_EACH_SPLIT(head, strlen(head), r) {
    if (r.error != 413 || r.nreq != 0)
      SPLIT_FAILF("error %d, %d requests", r.error, r.nreq);
  }
  /* Chunked, growing past it: refused once it does. */
  size_t cap = SP_HTTP_MAX_BODY + 16384, n = 0;
  char *req = malloc(cap);
  ASSERT(req != NULL);
  n += (size_t)snprintf(req, cap,
                        "POST /x HTTP/1.1\r\nHost: x\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 5; i++) {
    n += (size_t)snprintf(req + n, cap - n, "1000\r\n");
    memset(req + n, 'a', 4096);
    n += 4096;
    n += (size_t)snprintf(req + n, cap - n, "\r\n");
    if (n + 5000 > cap)
      break;
  }
  FOR_EACH_SPLIT(req, n, r) {
    if (r.error != 413 || r.nreq != 0) {
      free(req);
      SPLIT_FAILF("chunked: error %d, %d requests", r.error, r.nreq);
    }
  }
  free(req);
  /* Exactly at the limit: taken. */
  size_t blen = SP_HTTP_MAX_BODY;
  req = malloc(blen + 200);
  ASSERT(req != NULL);
  n = (size_t)snprintf(req, 200,
                       "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: %zu"
                       "\r\n\r\n",
                       blen);
  memset(req + n, 'b', blen);
  FOR_EACH_SPLIT(req, n + blen, r) {
    if (r.error || r.nreq != 1 || r.req[0].body_len != blen) {
      free(req);
      SPLIT_FAILF("at the limit: error %d, %d requests", r.error, r.nreq);
    }
  }
  free(req);
}

TEST(authorization_is_kept_and_trimmed) {
  static const char req[] = "GET /admin/api/rooms HTTP/1.1\r\nHost: x\r\n"
                            "Authorization:   Bearer abc.DEF-123  \r\n\r\n"
                            "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  hres r;
  FOR_EACH_SPLIT(req, sizeof req - 1, r) {
    if (r.nreq != 2 || r.error)
      SPLIT_FAILF("%d requests, error %d", r.nreq, r.error);
    if (!r.req[0].has_authorization ||
        strcmp(r.req[0].authorization, "Bearer abc.DEF-123") != 0)
      SPLIT_FAILF("authorization \"%s\"", r.req[0].authorization);
    if (r.req[1].has_authorization || r.req[1].authorization[0])
      SPLIT_FAILF("the next request kept \"%s\"", r.req[1].authorization);
  }
  /* Too long to be a token of ours: present, but empty. */
  char big[SP_HTTP_MAX_AUTH + 200];
  int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nAuthorization: Bearer ");
  memset(big + n, 'x', SP_HTTP_MAX_AUTH);
  strcpy(big + n + SP_HTTP_MAX_AUTH, "\r\n\r\n");
  FOR_EACH_SPLIT(big, strlen(big), r) {
    if (r.nreq != 1 || !r.req[0].has_authorization || r.req[0].authorization[0])
      SPLIT_FAILF("long: %d requests, has %d, \"%.20s\"", r.nreq,
                  r.req[0].has_authorization, r.req[0].authorization);
  }
}

TEST(in_request_state) {
  sp_http *h = sp_http_new();
  ASSERT(h != NULL);
  size_t c;
  ASSERT_EQ(sp_http_in_request(h), 0);
  ASSERT_EQ(sp_http_feed(h, "GET / HT", 8, &c), SP_HTTP_MORE);
  ASSERT_EQ(c, 8);
  ASSERT_EQ(sp_http_in_request(h), 1);
  ASSERT_EQ(sp_http_feed(h, "TP/1.1\r\n\r\n", 10, &c), SP_HTTP_REQUEST);
  ASSERT_EQ(c, 10);
  ASSERT_EQ(sp_http_in_request(h), 0);
  ASSERT_STR_EQ(sp_http_request_get(h)->url, "/");
  /* Nothing more: MORE with nothing consumed. */
  ASSERT_EQ(sp_http_feed(h, "", 0, &c), SP_HTTP_MORE);
  ASSERT_EQ(c, 0);
  ASSERT_EQ(sp_http_in_request(h), 0);
  sp_http_free(h);
}

TEST(pipelined_requests_in_order) {
  static const char req[] = "GET /a.css HTTP/1.1\r\nHost: x\r\n\r\n"
                            "HEAD /b.js HTTP/1.1\r\nHost: x\r\n"
                            "Connection: close\r\n\r\n";
  const size_t first = strlen("GET /a.css HTTP/1.1\r\nHost: x\r\n\r\n");
  hres r;
  FOR_EACH_SPLIT(req, sizeof req - 1, r) {
    if (r.nreq != 2 || r.error || r.bad_more)
      SPLIT_FAILF("%d requests, error %d", r.nreq, r.error);
    if (strcmp(r.req[0].url, "/a.css") != 0 || r.req[0].method != HTTP_GET ||
        r.req[0].keep_alive != 1 || r.end[0] != first)
      SPLIT_FAILF("first: url \"%s\" end %zu", r.req[0].url, r.end[0]);
    if (strcmp(r.req[1].url, "/b.js") != 0 || r.req[1].method != HTTP_HEAD ||
        r.req[1].keep_alive != 0 || r.end[1] != sizeof req - 1)
      SPLIT_FAILF("second: url \"%s\" end %zu keep_alive %d", r.req[1].url,
                  r.end[1], r.req[1].keep_alive);
  }
}

TEST(pipelined_whole_buffer_consumed_one_request_at_a_time) {
  /* In one buffer, the first call must stop after the first request. */
  static const char req[] = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"
                            "GET /3 HTTP/1.1\r\n\r\n";
  sp_http *h = sp_http_new();
  ASSERT(h != NULL);
  size_t c, off = 0;
  for (int i = 1; i <= 3; i++) {
    sp_http_result res = sp_http_feed(h, req + off, sizeof req - 1 - off, &c);
    if (res != SP_HTTP_REQUEST || c != 19) {
      sp_http_free(h);
      FAILF("request %d: result %d consumed %zu", i, (int)res, c);
    }
    char url[4] = {'/', (char)('0' + i), 0, 0};
    if (strcmp(sp_http_request_get(h)->url, url) != 0) {
      sp_http_free(h);
      FAILF("request %d: url %s", i, sp_http_request_get(h)->url);
    }
    off += c;
  }
  sp_http_free(h);
  ASSERT_EQ(off, sizeof req - 1);
}

TEST(post_body_skipped_then_next_request) {
  static const char req[] = "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
                            "hello"
                            "GET /y HTTP/1.1\r\n\r\n";
  hres r;
  FOR_EACH_SPLIT(req, sizeof req - 1, r) {
    if (r.nreq != 2 || r.error || r.bad_more)
      SPLIT_FAILF("%d requests, error %d", r.nreq, r.error);
    if (r.req[0].method != HTTP_POST || strcmp(r.req[1].url, "/y") != 0 ||
        r.end[1] != sizeof req - 1 ||
        r.end[0] != sizeof req - 1 - strlen("GET /y HTTP/1.1\r\n\r\n"))
      SPLIT_FAILF("method %d url2 %s end %zu/%zu", r.req[0].method,
                  r.req[1].url, r.end[0], r.end[1]);
  }
}

static const char upgrade_head[] =
    "GET /connect?room=abc HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "upgrade: WebSocket\r\n"
    "CONNECTION: keep-alive, Upgrade\r\n"
    "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-VERSION: 13\r\n"
    "oRiGiN: http://localhost:8080\r\n"
    "\r\n";

TEST(upgrade_request_fields_and_rest_not_consumed) {
  char buf[512];
  size_t head = strlen(upgrade_head);
  memcpy(buf, upgrade_head, head);
  /* A WebSocket frame right behind the head, in the same segment. */
  memcpy(buf + head, "\x81\x82\x37\xfa\x21\x3d\x04\xcd", 8);
  hres r;
  FOR_EACH_SPLIT(buf, head + 8, r) {
    if (r.nreq != 1 || r.error || r.bad_more)
      SPLIT_FAILF("%d requests, error %d", r.nreq, r.error);
    const sp_http_request *q = &r.req[0];
    if (strcmp(q->url, "/connect?room=abc") != 0 || q->method != HTTP_GET ||
        strcmp(q->ws_key, "dGhlIHNhbXBsZSBub25jZQ==") != 0 ||
        strcmp(q->ws_version, "13") != 0 ||
        strcmp(q->origin, "http://localhost:8080") != 0 ||
        !q->has_upgrade_websocket || !q->has_connection_upgrade || !q->upgrade)
      SPLIT_FAILF("url \"%s\" key \"%s\" version \"%s\" origin \"%s\" "
                  "upgrade_ws %d conn_upgrade %d upgrade %d",
                  q->url, q->ws_key, q->ws_version, q->origin,
                  q->has_upgrade_websocket, q->has_connection_upgrade,
                  q->upgrade);
    if (r.end[0] != head || r.stopped_at != head)
      SPLIT_FAILF("consumed %zu, head is %zu", r.end[0], head);
  }
}

static int conn_upgrade(const char *connection, const char *upgrade) {
  char buf[512];
  snprintf(buf, sizeof buf,
           "GET /connect HTTP/1.1\r\nConnection: %s\r\nUpgrade: %s\r\n\r\n",
           connection, upgrade);
  hres r;
  run_http(buf, strlen(buf), 0, &r);
  int whole = r.nreq == 1 ? r.req[0].has_connection_upgrade * 2 +
                                r.req[0].has_upgrade_websocket
                          : -1;
  run_http(buf, strlen(buf), 1, &r);
  int bytes = r.nreq == 1 ? r.req[0].has_connection_upgrade * 2 +
                                r.req[0].has_upgrade_websocket
                          : -1;
  return whole == bytes ? whole : -2;
}

TEST(connection_and_upgrade_token_lists) {
  ASSERT_EQ(conn_upgrade("Upgrade", "websocket"), 3);
  ASSERT_EQ(conn_upgrade("upgrade", "WEBSOCKET"), 3);
  ASSERT_EQ(conn_upgrade("keep-alive, Upgrade", "websocket"), 3);
  ASSERT_EQ(conn_upgrade("Upgrade, keep-alive", "websocket"), 3);
  ASSERT_EQ(conn_upgrade("keep-alive,upgrade", "websocket"), 3);
  ASSERT_EQ(conn_upgrade("keep-alive ,  Upgrade  ", "websocket"), 3);
  ASSERT_EQ(conn_upgrade("keep-alive", "websocket"), 1);
  ASSERT_EQ(conn_upgrade("upgraded", "websocket"), 1);
  ASSERT_EQ(conn_upgrade("xupgrade", "websocket"), 1);
  ASSERT_EQ(conn_upgrade("Upgrade", "websockets"), 2);
  ASSERT_EQ(conn_upgrade("Upgrade", "h2c"), 2);
  ASSERT_EQ(conn_upgrade("Upgrade", "h2c, websocket"), 3);
}

/* RFC 7230 3.2.4: optional white space (spaces and tabs) around a field
 * value, or none at all after the colon, is accepted for every field we
 * read, whatever the split. */
TEST(header_values_with_optional_whitespace) {
  static const char head[] =
      "GET /connect HTTP/1.1\r\n"
      "Host:x\r\n"
      "Upgrade:   websocket  \r\n"
      "Connection:Upgrade\r\n"
      "Sec-WebSocket-Key:\t dGhlIHNhbXBsZSBub25jZQ== \t\r\n"
      "Sec-WebSocket-Version:13   \r\n"
      "Origin:  http://a.example \r\n"
      "\r\n";
  hres r;
  FOR_EACH_SPLIT(head, strlen(head), r) {
    const sp_http_request *q = &r.req[0];
    if (r.nreq != 1 || r.error || !q->has_upgrade_websocket ||
        !q->has_connection_upgrade ||
        strcmp(q->ws_key, "dGhlIHNhbXBsZSBub25jZQ==") != 0 ||
        strcmp(q->ws_version, "13") != 0 ||
        strcmp(q->origin, "http://a.example") != 0)
      SPLIT_FAILF("requests %d error %d upgrade %d connection %d key \"%s\" "
                  "version \"%s\" origin \"%s\"",
                  r.nreq, r.error, q->has_upgrade_websocket,
                  q->has_connection_upgrade, q->ws_key, q->ws_version,
                  q->origin);
  }
  ASSERT_EQ(conn_upgrade("\tUpgrade\t", " \twebsocket \t"), 3);
}

TEST(keep_alive_rules) {
  static const struct {
    const char *req;
    int keep_alive;
  } cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", 1},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0},
      {"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", 0},
      {"GET / HTTP/1.0\r\n\r\n", 0},
      {"GET / HTTP/1.0\r\nHost: x\r\n\r\n", 0},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hres r;
    FOR_EACH_SPLIT(cases[i].req, strlen(cases[i].req), r) {
      if (r.nreq != 1 || r.req[0].keep_alive != cases[i].keep_alive)
        SPLIT_FAILF("case %zu: %d requests, keep_alive %d", i, r.nreq,
                    r.nreq ? r.req[0].keep_alive : -1);
    }
  }
}

TEST(malformed_requests_are_400) {
  static const char *const bad[] = {
      "GARBAGE\r\n\r\n",
      "GET\r\n\r\n",
      "GET / HTTP/x.1\r\n\r\n",
      "GET / FOO/1.1\r\n\r\n",
      "\x01\x02\x03\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
      "GET /a b HTTP/1.1\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    hres r;
    FOR_EACH_SPLIT(bad[i], strlen(bad[i]), r) {
      if (r.error != 400 || r.nreq != 0)
        SPLIT_FAILF("case %zu: error %d, %d requests", i, r.error, r.nreq);
    }
  }
}

TEST(error_is_sticky) {
  sp_http *h = sp_http_new();
  ASSERT(h != NULL);
  size_t c;
  ASSERT_EQ(sp_http_feed(h, "BOGUS\r\n", 7, &c), SP_HTTP_ERROR);
  ASSERT_EQ(sp_http_error_status(h), 400);
  ASSERT_EQ(sp_http_feed(h, "GET / HTTP/1.1\r\n\r\n", 18, &c), SP_HTTP_ERROR);
  ASSERT_EQ(c, 0);
  sp_http_free(h);
}

/* A request whose head (request line, headers and the blank line) is
 * exactly `size` bytes, padded in one header or in many. */
static char *make_head(size_t size, int many) {
  char *buf = malloc(size + 1);
  static const char line[] = "GET / HTTP/1.1\r\n";
  size_t off = strlen(line);
  memcpy(buf, line, off);
  while (off < size - 2) {
    size_t left = size - 2 - off; /* bytes left for header lines */
    size_t take = many && left > 60 ? 50 : left;
    if (left - take < 6 && take != left)
      take = left; /* never leave a stub too short for "X: v\r\n" */
    /* "X-Pad: " + value + "\r\n" */
    memcpy(buf + off, "X-Pad: ", 7);
    memset(buf + off + 7, 'a', take - 9);
    memcpy(buf + off + take - 2, "\r\n", 2);
    off += take;
  }
  memcpy(buf + off, "\r\n", 2);
  buf[size] = '\0';
  return buf;
}

TEST(head_at_limit_accepted) {
  for (int many = 0; many < 2; many++) {
    char *req = make_head(SP_HTTP_MAX_HEAD, many);
    hres r;
    FOR_EACH_SPLIT(req, SP_HTTP_MAX_HEAD, r) {
      if (r.nreq != 1 || r.error) {
        free(req);
        SPLIT_FAILF("many=%d: %d requests, error %d", many, r.nreq, r.error);
      }
    }
    free(req);
  }
}

static void check_head_431(const size_t *sizes, size_t nsizes) {
  for (size_t k = 0; k < nsizes; k++) {
    for (int many = 0; many < 2; many++) {
      char *req = make_head(sizes[k], many);
      hres r;
      FOR_EACH_SPLIT(req, sizes[k], r) {
        if (r.error != 431 || r.nreq != 0) {
          free(req);
          SPLIT_FAILF("size %zu many=%d: error %d, %d requests", sizes[k], many,
                      r.error, r.nreq);
        }
      }
      free(req);
    }
  }
}

TEST(head_over_limit_is_431) {
  static const size_t sizes[] = {SP_HTTP_MAX_HEAD + 2, SP_HTTP_MAX_HEAD + 100,
                                 3 * SP_HTTP_MAX_HEAD};
  check_head_431(sizes, sizeof sizes / sizeof sizes[0]);
}

TEST(head_one_byte_over_limit_is_431) {
  static const size_t sizes[] = {SP_HTTP_MAX_HEAD + 1};
  check_head_431(sizes, 1);
}

TEST(head_limit_applies_to_each_pipelined_request) {
  /* A small request, then one just at the limit, then one over it: the
   * count starts again with each request. */
  char *ok = make_head(SP_HTTP_MAX_HEAD, 1);
  char *big = make_head(SP_HTTP_MAX_HEAD + 10, 1);
  size_t n = 19 + 2 * SP_HTTP_MAX_HEAD + 10;
  char *req = malloc(n);
  memcpy(req, "GET /1 HTTP/1.1\r\n\r\n", 19);
  memcpy(req + 19, ok, SP_HTTP_MAX_HEAD);
  memcpy(req + 19 + SP_HTTP_MAX_HEAD, big, SP_HTTP_MAX_HEAD + 10);
  free(ok);
  free(big);
  hres r;
  FOR_EACH_SPLIT(req, n, r) {
    if (r.nreq != 2 || r.error != 431) {
      free(req);
      SPLIT_FAILF("%d requests, error %d", r.nreq, r.error);
    }
  }
  free(req);
}

static char *make_url_request(size_t url_len) {
  char *buf = malloc(url_len + 64);
  memcpy(buf, "GET /", 5);
  memset(buf + 5, 'u', url_len - 1);
  strcpy(buf + 4 + url_len, " HTTP/1.1\r\n\r\n");
  return buf;
}

TEST(url_at_limit_accepted) {
  char *req = make_url_request(SP_HTTP_MAX_URL);
  hres r;
  FOR_EACH_SPLIT(req, strlen(req), r) {
    if (r.nreq != 1 || r.error || strlen(r.req[0].url) != SP_HTTP_MAX_URL) {
      free(req);
      SPLIT_FAILF("%d requests, error %d", r.nreq, r.error);
    }
  }
  free(req);
}

TEST(url_over_limit_is_414) {
  static const size_t lens[] = {SP_HTTP_MAX_URL + 1, SP_HTTP_MAX_URL + 500,
                                SP_HTTP_MAX_HEAD - 100};
  for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
    char *req = make_url_request(lens[k]);
    hres r;
    FOR_EACH_SPLIT(req, strlen(req), r) {
      if (r.error != 414 || r.nreq != 0) {
        free(req);
        SPLIT_FAILF("url of %zu: error %d, %d requests", lens[k], r.error,
                    r.nreq);
      }
    }
    free(req);
  }
}

TEST(overlong_header_value_treated_as_absent_whatever_the_split) {
  /* http.h: a Sec-WebSocket-Key (or Origin) too long for its field is
   * "treated as absent". The result must not depend on the split. */
  char key[200];
  memset(key, 'A', 100);
  strcpy(key + 100, "dGhlIHNhbXBsZSBub25jZQ==");
  char origin[400];
  memset(origin, 'o', 300);
  strcpy(origin + 300, "http://evil");
  char req[1024];
  snprintf(req, sizeof req,
           "GET /connect HTTP/1.1\r\nSec-WebSocket-Key: %s\r\n"
           "Origin: %s\r\n\r\n",
           key, origin);
  hres r;
  FOR_EACH_SPLIT(req, strlen(req), r) {
    if (r.nreq != 1)
      SPLIT_FAILF("%d requests", r.nreq);
    if (r.req[0].ws_key[0] != '\0' || r.req[0].origin[0] != '\0')
      SPLIT_FAILF("key \"%s\" origin \"%s\"", r.req[0].ws_key, r.req[0].origin);
  }
}

TEST(long_connection_header_same_whatever_the_split) {
  /* An Upgrade or Connection value too long to keep must give the same
   * answer whether it arrives in one piece or byte by byte. */
  char pad[400];
  memset(pad, 'x', 300);
  pad[300] = '\0';
  char conn[512], upg[512];
  snprintf(conn, sizeof conn, "Upgrade, %s", pad);
  snprintf(upg, sizeof upg, "websocket, %s", pad);
  ASSERT(conn_upgrade(conn, "websocket") != -2);
  ASSERT(conn_upgrade("Upgrade", upg) != -2);
}

TEST(status_texts) {
  ASSERT_STR_EQ(sp_http_status_text(200), "OK");
  ASSERT_STR_EQ(sp_http_status_text(400), "Bad Request");
  ASSERT_STR_EQ(sp_http_status_text(404), "Not Found");
  ASSERT_STR_EQ(sp_http_status_text(414), "URI Too Long");
  ASSERT_STR_EQ(sp_http_status_text(426), "Upgrade Required");
  ASSERT_STR_EQ(sp_http_status_text(431), "Request Header Fields Too Large");
  ASSERT_STR_EQ(sp_http_status_text(401), "Unauthorized");
  ASSERT_STR_EQ(sp_http_status_text(413), "Payload Too Large");
  ASSERT_STR_EQ(sp_http_status_text(429), "Too Many Requests");
}

/* ---- static paths ------------------------------------------------------ */

/* sp_static_path with a canary after the name buffer. */
static int map(const char *path, char *name) {
  char buf[SP_STATIC_MAX_NAME + 1 + 8];
  memset(buf, 0x5a, sizeof buf);
  int st = sp_static_path(path, buf);
  for (size_t i = SP_STATIC_MAX_NAME + 1; i < sizeof buf; i++)
    if (buf[i] != 0x5a)
      return -1; /* wrote past the name buffer */
  if (st == 0)
    memcpy(name, buf, SP_STATIC_MAX_NAME + 1);
  else
    name[0] = '\0';
  return st;
}

TEST(static_path_valid) {
  char name[SP_STATIC_MAX_NAME + 1];
  ASSERT_EQ(map("/", name), 0);
  ASSERT_STR_EQ(name, "index.html");
  ASSERT_EQ(map("/client.js", name), 0);
  ASSERT_STR_EQ(name, "client.js");
  ASSERT_EQ(map("/a%20b.css", name), 0);
  ASSERT_STR_EQ(name, "a b.css");
  ASSERT_EQ(map("/%61%62c.JS", name), 0);
  ASSERT_STR_EQ(name, "abc.JS");
  ASSERT_EQ(map("/a.b.c", name), 0);
  ASSERT_STR_EQ(name, "a.b.c");
  ASSERT_EQ(map("/a..b", name), 0); /* ".." inside a name is harmless */
  ASSERT_STR_EQ(name, "a..b");
}

TEST(static_path_traversal_refused) {
  static const char *const bad[] = {
      "/../etc/passwd",
      "/%2e%2e/x",
      "/%2E%2E/x",
      "/%2e%2e",
      "/%2e.",
      "/.%2e",
      "/..",
      "/.",
      "/%2e",
      "/..%2fetc%2fpasswd",
      "/..%2Fetc%2Fpasswd",
      "/%2F",
      "/%2f",
      "/%2fetc%2fpasswd",
      "/a/b",
      "/a/",
      "/a%5cb",
      "/a%5Cb",
      "/a\\b",
      "/..\\..\\etc\\passwd",
      "/%00",
      "/index.html%00.js",
      "/%",
      "/%zz",
      "/%2",
      "/%g0",
      "/%0g",
      "/a%",
      "//etc/passwd",
      "//",
      "http://x/../../etc/passwd",
      "http://x/index.html",
      "",
      "index.html",
      "../index.html",
      "*",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char name[SP_STATIC_MAX_NAME + 1];
    int st = map(bad[i], name);
    if (st != 400)
      FAILF("\"%s\" -> %d \"%s\" (want 400)", bad[i], st, name);
  }
}

TEST(static_path_never_yields_a_path) {
  /* Whatever the input, a mapped name never holds '/', '\\' or NUL inside,
   * and is never "." or "..": try every 1- and 2-byte name made of the
   * dangerous characters, raw and percent-encoded. */
  static const char *const atoms[] = {".",   "/",   "\\",  "%2e", "%2f", "%5c",
                                      "%2E", "%2F", "%5C", "%00", "a",   "%"};
  const size_t na = sizeof atoms / sizeof atoms[0];
  for (size_t i = 0; i < na; i++)
    for (size_t j = 0; j < na; j++)
      for (size_t k = 0; k <= na; k++) {
        char path[32], name[SP_STATIC_MAX_NAME + 1];
        snprintf(path, sizeof path, "/%s%s%s", atoms[i], atoms[j],
                 k < na ? atoms[k] : "");
        int st = map(path, name);
        if (st < 0)
          FAILF("\"%s\": wrote past the name buffer", path);
        if (st == 0 && (strchr(name, '/') || strchr(name, '\\') ||
                        strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
                        name[0] == '.'))
          FAILF("\"%s\" mapped to \"%s\"", path, name);
        if (st != 0 && st != 400 && st != 404)
          FAILF("\"%s\" -> %d", path, st);
      }
}

TEST(static_path_hidden_is_404) {
  char name[SP_STATIC_MAX_NAME + 1];
  ASSERT_EQ(map("/.git", name), 404);
  ASSERT_EQ(map("/.env", name), 404);
  ASSERT_EQ(map("/%2egit", name), 404);
  ASSERT_EQ(map("/.htaccess", name), 404);
  ASSERT_EQ(map("/...", name), 404);
}

TEST(static_path_long_name) {
  char path[SP_STATIC_MAX_NAME + 8], name[SP_STATIC_MAX_NAME + 1];
  path[0] = '/';
  memset(path + 1, 'n', SP_STATIC_MAX_NAME);
  path[1 + SP_STATIC_MAX_NAME] = '\0';
  ASSERT_EQ(map(path, name), 0);
  ASSERT_EQ(strlen(name), SP_STATIC_MAX_NAME);
  strcat(path, "n");
  int st = map(path, name);
  ASSERT(st == 404 || st == 400 || st == 414);
  /* Percent-encoded bytes count once decoded. */
  char enc[3 * SP_STATIC_MAX_NAME + 2];
  enc[0] = '/';
  for (int i = 0; i < SP_STATIC_MAX_NAME; i++)
    memcpy(enc + 1 + 3 * i, "%41", 3);
  enc[1 + 3 * SP_STATIC_MAX_NAME] = '\0';
  ASSERT_EQ(map(enc, name), 0);
  ASSERT_EQ(strlen(name), SP_STATIC_MAX_NAME);
  ASSERT_EQ(name[0], 'A');
}

TEST(static_content_types) {
  ASSERT_STR_EQ(sp_static_content_type("index.html"),
                "text/html; charset=utf-8");
  ASSERT_STR_EQ(sp_static_content_type("INDEX.HTML"),
                "text/html; charset=utf-8");
  ASSERT_STR_EQ(sp_static_content_type("client.js"),
                "text/javascript; charset=utf-8");
  ASSERT_STR_EQ(sp_static_content_type("style.css"), "text/css; charset=utf-8");
  ASSERT_STR_EQ(sp_static_content_type("logo.svg"), "image/svg+xml");
  ASSERT_STR_EQ(sp_static_content_type("a.png"), "image/png");
  ASSERT_STR_EQ(sp_static_content_type("favicon.ico"), "image/x-icon");
  ASSERT_STR_EQ(sp_static_content_type("data.json"), "application/json");
  ASSERT_STR_EQ(sp_static_content_type("a.tar.gz"), "application/octet-stream");
  ASSERT_STR_EQ(sp_static_content_type("Makefile"), "application/octet-stream");
  ASSERT_STR_EQ(sp_static_content_type("html"), "application/octet-stream");
  ASSERT_STR_EQ(sp_static_content_type("x.html.bak"),
                "application/octet-stream");
}

TEST(static_builtin_index) {
  const struct sp_asset *a = sp_static_builtin("index.html");
  ASSERT(a != NULL);
  ASSERT(sp_static_builtin("no-such-file.xyz") == NULL);
  ASSERT(sp_static_builtin("") == NULL);
}

/* ---- reading files ----------------------------------------------------- */

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  fputs(text, f);
  return fclose(f);
}

/* A temp dir BASE holding BASE/secret.txt and the served dir BASE/www
 * with: hello.txt, empty.css, sub/ (with inner.txt), link.txt (absolute
 * symlink to ../secret.txt), rel.txt (relative symlink to it), dirlink
 * (symlink to BASE) and fifo. */
typedef struct fixture {
  char base[64], dir[128];
} fixture;

static int fixture_make(fixture *fx) {
  char path[512];
  snprintf(fx->base, sizeof fx->base, "/tmp/sp_test_static_XXXXXX");
  if (!mkdtemp(fx->base))
    return -1;
  snprintf(fx->dir, sizeof fx->dir, "%s/www", fx->base);
  int bad = mkdir(fx->dir, 0700);
  snprintf(path, sizeof path, "%s/hello.txt", fx->dir);
  bad |= write_file(path, "hello, world\n");
  snprintf(path, sizeof path, "%s/empty.css", fx->dir);
  bad |= write_file(path, "");
  snprintf(path, sizeof path, "%s/sub", fx->dir);
  bad |= mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/sub/inner.txt", fx->dir);
  bad |= write_file(path, "inner");
  char outside[512];
  snprintf(outside, sizeof outside, "%s/secret.txt", fx->base);
  bad |= write_file(outside, "secret");
  snprintf(path, sizeof path, "%s/link.txt", fx->dir);
  bad |= symlink(outside, path);
  snprintf(path, sizeof path, "%s/rel.txt", fx->dir);
  bad |= symlink("../secret.txt", path);
  snprintf(path, sizeof path, "%s/dirlink", fx->dir);
  bad |= symlink(fx->base, path);
  snprintf(path, sizeof path, "%s/fifo", fx->dir);
  bad |= mkfifo(path, 0600);
  return bad ? -1 : 0;
}

static void fixture_remove(fixture *fx) {
  static const char *const files[] = {
      "www/hello.txt", "www/empty.css", "www/sub/inner.txt", "www/link.txt",
      "www/rel.txt",   "www/dirlink",   "www/fifo",          "secret.txt"};
  char path[512];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", fx->base, files[i]);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/www/sub", fx->base);
  rmdir(path);
  rmdir(fx->dir);
  rmdir(fx->base);
}

TEST(static_read_only_regular_files) {
  fixture fx;
  int made = fixture_make(&fx);
  char *data = NULL;
  size_t len = 0;
  int st = sp_static_read(fx.dir, "hello.txt", &data, &len);
  int ok =
      st == 0 && len == 13 && data && memcmp(data, "hello, world\n", 13) == 0;
  free(data);
  data = NULL;
  size_t elen = 99;
  int est = sp_static_read(fx.dir, "empty.css", &data, &elen);
  free(data);
  /* A regular file, then a directory, symbolic links (to a file outside,
   * relative, to a directory), a fifo (which must not block: opened with
   * O_NONBLOCK and refused as not regular) and a missing name. */
  static const char *const refused[] = {"sub",     "link.txt", "rel.txt",
                                        "dirlink", "fifo",     "missing"};
  int sts[6];
  for (size_t i = 0; i < 6; i++) {
    data = NULL;
    sts[i] = sp_static_read(fx.dir, refused[i], &data, &len);
    if (sts[i] != 404)
      free(data);
  }
  /* A directory that does not exist is the server's problem: 500. */
  char path[512];
  snprintf(path, sizeof path, "%s/nope", fx.base);
  data = NULL;
  int nost = sp_static_read(path, "hello.txt", &data, &len);
  if (nost == 0)
    free(data);
  fixture_remove(&fx);
  ASSERT_EQ(made, 0);
  ASSERT(ok);
  ASSERT_EQ(est, 0);
  ASSERT_EQ(elen, 0);
  for (size_t i = 0; i < 6; i++)
    if (sts[i] != 404)
      FAILF("%s -> %d (want 404)", refused[i], sts[i]);
  ASSERT_EQ(nost, 500);
}

TEST(static_read_refuses_names_with_slashes) {
  /* static.h: "a regular file directly inside DIR, never through a symbolic
   * link". sp_static_path never produces such names, but sp_static_read
   * should keep its own promise: O_NOFOLLOW only guards the last
   * component, so "dirlink/secret.txt" would leave DIR through a link. */
  fixture fx;
  int made = fixture_make(&fx);
  static const char *const names[] = {"sub/inner.txt", "dirlink/secret.txt",
                                      "../secret.txt"};
  int sts[3];
  for (size_t i = 0; i < 3; i++) {
    char *data = NULL;
    size_t len;
    sts[i] = sp_static_read(fx.dir, names[i], &data, &len);
    if (sts[i] == 0)
      free(data);
  }
  fixture_remove(&fx);
  ASSERT_EQ(made, 0);
  for (size_t i = 0; i < 3; i++)
    if (sts[i] != 404)
      FAILF("%s -> %d (want 404)", names[i], sts[i]);
}

int main(void) {
  RUN(get_request_whole_and_bytewise);
  RUN(in_request_state);
  RUN(pipelined_requests_in_order);
  RUN(pipelined_whole_buffer_consumed_one_request_at_a_time);
  RUN(post_body_skipped_then_next_request);
  RUN(upgrade_request_fields_and_rest_not_consumed);
  RUN(connection_and_upgrade_token_lists);
  RUN(header_values_with_optional_whitespace);
  RUN(keep_alive_rules);
  RUN(malformed_requests_are_400);
  RUN(error_is_sticky);
  RUN(head_at_limit_accepted);
  RUN(head_over_limit_is_431);
  RUN(head_one_byte_over_limit_is_431);
  RUN(head_limit_applies_to_each_pipelined_request);
  RUN(url_at_limit_accepted);
  RUN(url_over_limit_is_414);
  RUN(overlong_header_value_treated_as_absent_whatever_the_split);
  RUN(long_connection_header_same_whatever_the_split);
  RUN(status_texts);
  RUN(post_bodies_are_kept_in_order);
  RUN(body_over_the_limit_is_413);
  RUN(authorization_is_kept_and_trimmed);
  RUN(static_path_valid);
  RUN(static_path_traversal_refused);
  RUN(static_path_never_yields_a_path);
  RUN(static_path_hidden_is_404);
  RUN(static_path_long_name);
  RUN(static_content_types);
  RUN(static_builtin_index);
  RUN(static_read_only_regular_files);
  RUN(static_read_refuses_names_with_slashes);
  return TEST_SUMMARY();
}
