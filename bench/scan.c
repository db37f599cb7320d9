/* scan.c: see scan.h. */
#include "scan.h"

#include <string.h>

void sb_cur_init(sb_cur *c, const char *p, size_t n) {
  c->p = p;
  c->end = p + n;
}

void sb_skip_ws(sb_cur *c) {
  while (c->p < c->end &&
         (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

int sb_accept(sb_cur *c, char ch) {
  sb_skip_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}

/* The cursor is on the opening quote; leaves it after the closing one. */
static int skip_string(sb_cur *c) {
  const char *p = c->p + 1;

  while (p < c->end) {
    if (*p == '\\') {
      p += 2;
    } else if (*p == '"') {
      c->p = p + 1;
      return 0;
    } else {
      p++;
    }
  }
  return -1;
}

int sb_skip_value(sb_cur *c) {
  int depth = 0;

  sb_skip_ws(c);
  if (c->p >= c->end)
    return -1;
  switch (*c->p) {
  case '"':
    return skip_string(c);
  case '[':
  case '{':
    while (c->p < c->end) {
      char ch = *c->p;
      if (ch == '"') {
        if (skip_string(c) < 0)
          return -1;
        continue;
      }
      if (ch == '[' || ch == '{') {
        depth++;
      } else if (ch == ']' || ch == '}') {
        if (--depth == 0) {
          c->p++;
          return 0;
        }
      }
      c->p++;
    }
    return -1;
  case ']':
  case '}':
  case ',':
  case ':':
    return -1;
  default: {
    const char *start = c->p;
    while (c->p < c->end && !strchr(",]} \t\r\n", *c->p))
      c->p++;
    return c->p > start ? 0 : -1;
  }
  }
}

int sb_read_int(sb_cur *c, long *out) {
  long v = 0;
  int neg = 0;
  const char *start;

  sb_skip_ws(c);
  if (c->p < c->end && *c->p == '-') {
    neg = 1;
    c->p++;
  }
  start = c->p;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && c->p - start < 18)
    v = v * 10 + (*c->p++ - '0');
  if (c->p == start)
    return -1;
  if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E' ||
                        (*c->p >= '0' && *c->p <= '9')))
    return -1;
  *out = neg ? -v : v;
  return 0;
}

int sb_read_string(sb_cur *c, const char **s, size_t *n) {
  const char *start;

  sb_skip_ws(c);
  if (c->p >= c->end || *c->p != '"')
    return -1;
  start = c->p + 1;
  if (skip_string(c) < 0)
    return -1;
  *s = start;
  *n = (size_t)(c->p - 1 - start);
  return 0;
}

void sb_cmd_iter_init(sb_cmd_iter *it, const char *p, size_t n) {
  sb_cur_init(&it->c, p, n);
  it->state = 0;
}

int sb_cmd_next(sb_cmd_iter *it, const char **name, size_t *name_len,
                sb_cur *args) {
  const char *start;

  if (it->state == 2)
    return 0;
  if (it->state == 0) {
    if (!sb_accept(&it->c, '['))
      return -1;
    it->state = 1;
    if (sb_accept(&it->c, ']')) {
      it->state = 2;
      return 0;
    }
  } else {
    /* After a command: a comma and another one, or the end. */
    if (sb_accept(&it->c, ']')) {
      it->state = 2;
      return 0;
    }
    if (!sb_accept(&it->c, ','))
      return -1;
  }
  sb_skip_ws(&it->c);
  if (it->c.p >= it->c.end || *it->c.p != '[')
    return -1;
  start = it->c.p;
  if (sb_skip_value(&it->c) < 0)
    return -1;
  /* The arguments end before the command's closing bracket. */
  args->p = start + 1;
  args->end = it->c.p - 1;
  if (sb_read_string(args, name, name_len) < 0) {
    args->p = start + 1;
    *name = "";
    *name_len = 0;
  }
  return 1;
}
