/* http: HTTP/1.1 requests read with http-parser, one at a time, without I/O.
 *
 * sp_http_feed() consumes bytes until one whole request is ready, then stops,
 * so the caller answers requests strictly in order (pipelining) and can
 * pause between them. Only the headers the server uses are kept. */
#ifndef SP_HTTP_H
#define SP_HTTP_H

#include <stddef.h>

#define SP_HTTP_MAX_HEAD 8192  /* request line + headers: 431 beyond */
#define SP_HTTP_MAX_URL 2048   /* request target: 414 beyond */
#define SP_HTTP_MAX_BODY 16384 /* request body (POST): 413 beyond */
#define SP_HTTP_MAX_AUTH 512   /* Authorization value kept (longer: "") */

typedef struct sp_http sp_http;

typedef struct sp_http_request {
  int method; /* enum http_method */
  char url[SP_HTTP_MAX_URL + 1];
  char ws_key[64];     /* Sec-WebSocket-Key */
  char ws_version[16]; /* Sec-WebSocket-Version */
  char origin[256];
  /* Authorization, when given and at most SP_HTTP_MAX_AUTH bytes (a longer
   * one leaves has_authorization set and the value empty). */
  char authorization[SP_HTTP_MAX_AUTH + 1];
  int has_authorization;
  /* The body, at most SP_HTTP_MAX_BODY bytes (owned by the parser, valid
   * until the next sp_http_feed; NUL-terminated for convenience). */
  const char *body;
  size_t body_len;
  int has_upgrade_websocket;  /* Upgrade: websocket */
  int has_connection_upgrade; /* Connection: ... upgrade ... */
  int keep_alive;
  int upgrade; /* http-parser saw an upgrade: the rest is not HTTP */
} sp_http_request;

typedef enum {
  SP_HTTP_MORE,    /* every byte consumed, no complete request yet */
  SP_HTTP_REQUEST, /* a request is ready: sp_http_request_get() */
  SP_HTTP_ERROR,   /* malformed: answer sp_http_error_status() and close */
} sp_http_result;

sp_http *sp_http_new(void);
void sp_http_free(sp_http *h);

/* Parses from data; *consumed tells how many bytes were used. After
 * SP_HTTP_REQUEST call again with the rest (for an upgrade, the rest
 * belongs to the new protocol). */
sp_http_result sp_http_feed(sp_http *h, const char *data, size_t len,
                            size_t *consumed);
const sp_http_request *sp_http_request_get(const sp_http *h);
/* 400, 413, 414 or 431 after SP_HTTP_ERROR. */
int sp_http_error_status(const sp_http *h);
/* True once some bytes of a request (not yet complete) were read. */
int sp_http_in_request(const sp_http *h);

const char *sp_http_status_text(int status);

#endif
