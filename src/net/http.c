#include "net/http.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
  H_NONE,
  H_KEY,
  H_VERSION,
  H_ORIGIN,
  H_UPGRADE,
  H_CONNECTION,
  H_AUTHORIZATION
};

struct sp_http {
  http_parser parser;
  http_parser_settings settings;
  sp_http_request req;
  size_t url_len;
  size_t head_bytes; /* of the current request head */
  char field[32]; /* current header name (truncated: we only match short names)
                   */
  size_t field_len;
  int field_done;  /* value callbacks started for the current field */
  int header;      /* H_* for the current value */
  char value[256]; /* current value of an Upgrade / Connection header */
  size_t value_len;
  int overflow; /* the current value is too long: ignore all of it */
  char *body;   /* the current request's body, SP_HTTP_MAX_BODY + 1 bytes */
  int in_head, in_message, complete, error;
};

static void sp__reset_request(sp_http *h) {
  memset(&h->req, 0, sizeof h->req);
  h->req.body = "";
  h->url_len = 0;
  h->head_bytes = 0;
  h->field_len = 0;
  h->field_done = 0;
  h->header = H_NONE;
  h->value_len = 0;
  h->overflow = 0;
}

static int sp__on_begin(http_parser *p) {
  sp_http *h = p->data;
  sp__reset_request(h);
  h->in_message = 1;
  h->in_head = 1;
  return 0;
}

static int sp__on_url(http_parser *p, const char *at, size_t len) {
  sp_http *h = p->data;
  if (h->url_len + len > SP_HTTP_MAX_URL) {
    h->error = 414;
    return -1;
  }
  memcpy(h->req.url + h->url_len, at, len);
  h->url_len += len;
  h->req.url[h->url_len] = '\0';
  return 0;
}

static int sp__token_in(const char *list, const char *token) {
  size_t tl = strlen(token);
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == ',' || *p == '\t')
      p++;
    const char *start = p;
    while (*p && *p != ',')
      p++;
    const char *end = p;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
      end--;
    if ((size_t)(end - start) == tl && strncasecmp(start, token, tl) == 0)
      return 1;
  }
  return 0;
}

/* RFC 7230 3.2.4: optional white space around a field value is not part
 * of it. http-parser drops the leading part; the trailing part is cut
 * here, once the whole value is known (it may arrive in pieces). */
static void sp__trim_ows(char *v) {
  size_t n = strlen(v);
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    v[--n] = '\0';
}

/* Called when a header value is complete. */
static void sp__end_value(sp_http *h) {
  if (h->header == H_KEY)
    sp__trim_ows(h->req.ws_key);
  else if (h->header == H_VERSION)
    sp__trim_ows(h->req.ws_version);
  else if (h->header == H_ORIGIN)
    sp__trim_ows(h->req.origin);
  else if (h->header == H_AUTHORIZATION)
    sp__trim_ows(h->req.authorization);
  h->value[h->value_len] = '\0';
  if (h->overflow)
    h->value[0] = '\0';
  h->overflow = 0;
  if (h->header == H_UPGRADE && sp__token_in(h->value, "websocket"))
    h->req.has_upgrade_websocket = 1;
  if (h->header == H_CONNECTION && sp__token_in(h->value, "upgrade"))
    h->req.has_connection_upgrade = 1;
  h->header = H_NONE;
  h->value_len = 0;
}

static int sp__on_field(http_parser *p, const char *at, size_t len) {
  sp_http *h = p->data;
  if (h->field_done) {
    sp__end_value(h);
    h->field_len = 0;
    h->field_done = 0;
  }
  size_t room = sizeof h->field - 1 - h->field_len;
  size_t n = len < room ? len : room;
  memcpy(h->field + h->field_len, at, n);
  h->field_len += n;
  if (len > room)
    h->field_len = sizeof h->field - 1; /* too long to be one we know */
  h->field[h->field_len] = '\0';
  return 0;
}

static int sp__on_value(http_parser *p, const char *at, size_t len) {
  sp_http *h = p->data;
  if (!h->field_done) {
    h->field_done = 1;
    const char *f = h->field;
    h->header = !strcasecmp(f, "sec-websocket-key")       ? H_KEY
                : !strcasecmp(f, "sec-websocket-version") ? H_VERSION
                : !strcasecmp(f, "origin")                ? H_ORIGIN
                : !strcasecmp(f, "upgrade")               ? H_UPGRADE
                : !strcasecmp(f, "connection")            ? H_CONNECTION
                : !strcasecmp(f, "authorization")         ? H_AUTHORIZATION
                                                          : H_NONE;
    if (h->header == H_KEY)
      h->req.ws_key[0] = '\0';
    if (h->header == H_AUTHORIZATION) {
      h->req.authorization[0] = '\0';
      h->req.has_authorization = 1;
    }
  }
  /* A NUL byte would cut the value short differently for each split of
   * the input: such a value is as good as absent. */
  if (h->header != H_NONE && memchr(at, '\0', len))
    h->overflow = 1;
  char *dst = NULL;
  size_t cap = 0;
  switch (h->header) {
  case H_KEY:
    dst = h->req.ws_key;
    cap = sizeof h->req.ws_key;
    break;
  case H_VERSION:
    dst = h->req.ws_version;
    cap = sizeof h->req.ws_version;
    break;
  case H_ORIGIN:
    dst = h->req.origin;
    cap = sizeof h->req.origin;
    break;
  case H_AUTHORIZATION:
    dst = h->req.authorization;
    cap = sizeof h->req.authorization;
    break;
  case H_UPGRADE:
  case H_CONNECTION:
    if (h->overflow || h->value_len + len >= sizeof h->value) {
      h->overflow = 1; /* too long to be one we know: treat as absent */
      return 0;
    }
    memcpy(h->value + h->value_len, at, len);
    h->value_len += len;
    return 0;
  default: return 0;
  }
  size_t cur = strlen(dst);
  if (h->overflow || cur + len >= cap) {
    h->overflow = 1; /* too long to be valid: treat as absent */
    dst[0] = '\0';
    return 0;
  }
  memcpy(dst + cur, at, len);
  dst[cur + len] = '\0';
  return 0;
}

static int sp__on_headers_complete(http_parser *p) {
  sp_http *h = p->data;
  if (h->field_done)
    sp__end_value(h);
  h->in_head = 0;
  h->req.method = (int)p->method;
  h->req.keep_alive = http_should_keep_alive(p);
  /* A body that says in advance it is too big is refused before it comes. */
  if ((p->flags & F_CONTENTLENGTH) && p->content_length > SP_HTTP_MAX_BODY &&
      !p->upgrade) {
    h->error = 413;
    return -1;
  }
  return 0;
}

/* Bodies are kept (for the handler's POSTs) up to SP_HTTP_MAX_BODY; a
 * chunked one that grows past it is refused. */
static int sp__on_body(http_parser *p, const char *at, size_t len) {
  sp_http *h = p->data;
  if (h->req.body_len + len > SP_HTTP_MAX_BODY) {
    h->error = 413;
    return -1;
  }
  if (!h->body && !(h->body = malloc(SP_HTTP_MAX_BODY + 1))) {
    h->error = 500;
    return -1;
  }
  memcpy(h->body + h->req.body_len, at, len);
  h->req.body_len += len;
  h->body[h->req.body_len] = '\0';
  h->req.body = h->body;
  return 0;
}

static int sp__on_complete(http_parser *p) {
  sp_http *h = p->data;
  h->req.upgrade = p->upgrade;
  h->in_message = 0;
  h->complete = 1;
  h->head_bytes = 0;
  /* Stop after each request so the caller answers them one by one. */
  http_parser_pause(p, 1);
  return 0;
}

sp_http *sp_http_new(void) {
  sp_http *h = calloc(1, sizeof *h);
  if (!h)
    return NULL;
  h->req.body = "";
  http_parser_init(&h->parser, HTTP_REQUEST);
  h->parser.data = h;
  http_parser_settings_init(&h->settings);
  h->settings.on_message_begin = sp__on_begin;
  h->settings.on_url = sp__on_url;
  h->settings.on_header_field = sp__on_field;
  h->settings.on_header_value = sp__on_value;
  h->settings.on_headers_complete = sp__on_headers_complete;
  h->settings.on_body = sp__on_body;
  h->settings.on_message_complete = sp__on_complete;
  return h;
}

void sp_http_free(sp_http *h) {
  if (h)
    free(h->body);
  free(h);
}

sp_http_result sp_http_feed(sp_http *h, const char *data, size_t len,
                            size_t *consumed) {
  *consumed = 0;
  if (h->error)
    return SP_HTTP_ERROR;
  if (HTTP_PARSER_ERRNO(&h->parser) == HPE_PAUSED)
    http_parser_pause(&h->parser, 0);
  h->complete = 0;
  size_t n = 0;
  while (n < len && !h->complete) {
    /* Blank lines between requests are skipped here, not by http-parser,
     * so that they never count toward the next request's head. */
    if (!h->in_message) {
      while (n < len && (data[n] == '\r' || data[n] == '\n'))
        n++;
      if (n == len)
        break;
    }
    /* Feed the head in slices so its size limit holds whatever the split. */
    size_t chunk = len - n;
    int was_head = !h->in_message || h->in_head;
    if (was_head) {
      /* A head that has used up the limit and still goes on is too big. */
      if (h->head_bytes >= SP_HTTP_MAX_HEAD) {
        h->error = 431;
        *consumed = n;
        return SP_HTTP_ERROR;
      }
      size_t room = SP_HTTP_MAX_HEAD - h->head_bytes;
      if (chunk > room)
        chunk = room;
    }
    size_t used =
        http_parser_execute(&h->parser, &h->settings, data + n, chunk);
    enum http_errno e = HTTP_PARSER_ERRNO(&h->parser);
    if (was_head && !h->complete && h->in_head)
      h->head_bytes += used;
    n += used;
    if (e != HPE_OK && e != HPE_PAUSED) {
      if (!h->error)
        h->error = e == HPE_HEADER_OVERFLOW ? 431 : 400;
      *consumed = n;
      return SP_HTTP_ERROR;
    }
    if (h->complete || (h->parser.upgrade && !h->in_message))
      break;
    if (used < chunk && e == HPE_OK)
      break;
  }
  *consumed = n;
  if (h->complete)
    return SP_HTTP_REQUEST;
  return SP_HTTP_MORE;
}

const sp_http_request *sp_http_request_get(const sp_http *h) { return &h->req; }
int sp_http_error_status(const sp_http *h) { return h->error ? h->error : 400; }
int sp_http_in_request(const sp_http *h) { return h->in_message; }

const char *sp_http_status_text(int status) {
  switch (status) {
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 401: return "Unauthorized";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Payload Too Large";
  case 414: return "URI Too Long";
  case 426: return "Upgrade Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  default: return "Unknown";
  }
}
