#include "cluster/url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

/* A whole decimal number in [lo, hi] made of digits only. */
static int sp__url_num(const char *s, size_t len, long lo, long hi, int *out) {
  long v = 0;
  if (len == 0 || len > 6)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (v < lo || v > hi)
    return -1;
  *out = (int)v;
  return 0;
}

/* A host name: labels of letters, digits and '-' separated by dots. */
static int sp__url_hostname(const char *s, size_t len) {
  if (len == 0 || s[0] == '.' || s[0] == '-' || s[len - 1] == '.')
    return 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!ok || (c == '.' && s[i + 1] == '.'))
      return 0;
  }
  return 1;
}

int sp_redis_url_parse(const char *s, sp_redis_url *out, const char **why) {
  static const char form[] = "redis://HOST:PORT[/DB] or unix:PATH";
  memset(out, 0, sizeof *out);
  *why = form;
  if (strncmp(s, "unix:", 5) == 0) {
    const char *p = s + 5;
    size_t len = strlen(p);
    if (len == 0) {
      *why = "unix:PATH needs a path";
      return UV_EINVAL;
    }
    if (len >= SP_REDIS_PATH_MAX) {
      *why = "a Unix socket path is at most 107 bytes";
      return UV_EINVAL;
    }
    out->is_unix = 1;
    memcpy(out->path, p, len + 1);
    return 0;
  }
  if (strncmp(s, "redis://", 8) != 0)
    return UV_EINVAL;
  const char *h = s + 8, *hend, *colon;
  if (*h == '[') {
    hend = strchr(h, ']');
    if (!hend || hend[1] != ':')
      return UV_EINVAL;
    colon = hend + 1;
    h++;
  } else {
    colon = strchr(h, ':');
    if (!colon)
      return UV_EINVAL;
    hend = colon;
  }
  size_t hlen = (size_t)(hend - h);
  if (hlen == 0 || hlen >= SP_REDIS_HOST_MAX) {
    *why = "the host is missing or too long";
    return UV_EINVAL;
  }
  memcpy(out->host, h, hlen);
  out->host[hlen] = '\0';
  unsigned char addr[sizeof(struct in6_addr)];
  int v6 = s[8] == '[';
  if (v6 ? inet_pton(AF_INET6, out->host, addr) != 1
         : !sp__url_hostname(out->host, hlen)) {
    *why = "the host is not a host name, an IPv4 address or [IPv6]";
    return UV_EINVAL;
  }
  const char *port = colon + 1, *slash = strchr(port, '/');
  size_t plen = slash ? (size_t)(slash - port) : strlen(port);
  if (sp__url_num(port, plen, 1, 65535, &out->port)) {
    *why = "the port must be 1..65535";
    return UV_EINVAL;
  }
  if (slash && sp__url_num(slash + 1, strlen(slash + 1), 0, 65535, &out->db)) {
    *why = "the database must be 0..65535";
    return UV_EINVAL;
  }
  return 0;
}

void sp_redis_url_format(const sp_redis_url *u, char *out, unsigned long len) {
  if (u->is_unix)
    snprintf(out, len, "unix:%s", u->path);
  else if (strchr(u->host, ':'))
    snprintf(out, len, "redis://[%s]:%d/%d", u->host, u->port, u->db);
  else
    snprintf(out, len, "redis://%s:%d/%d", u->host, u->port, u->db);
}
