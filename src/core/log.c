#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SP_LOG_LINE 2048 /* longest line; longer fields are cut */

/* Read by every thread on every line, changed by the hub on SIGHUP. */
static _Atomic int sp__log_level = SP_LOG_INFO;
static _Atomic int sp__log_format = SP_LOG_LOGFMT;
static const char *const sp__log_names[] = {"debug", "info", "warn", "error"};

/* Hub only: the --log-file path (empty: standard error), and a copy of the
 * standard error the process started with, to go back to it. */
static char sp__log_path[1024];
static int sp__stderr_copy = -1;

void sp_log_set_level(sp_log_level level) {
  atomic_store_explicit(&sp__log_level, (int)level, memory_order_relaxed);
}
sp_log_level sp_log_get_level(void) {
  return (sp_log_level)atomic_load_explicit(&sp__log_level,
                                            memory_order_relaxed);
}
void sp_log_set_format(sp_log_format format) {
  atomic_store_explicit(&sp__log_format, (int)format, memory_order_relaxed);
}

int sp_log_parse_level(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, sp__log_names[i]) == 0)
      return i;
  return -1;
}

int sp_log_open(const char *path, char *err, size_t errlen) {
  if (!path || !*path) {
    if (sp__log_path[0] && sp__stderr_copy >= 0 &&
        dup2(sp__stderr_copy, STDERR_FILENO) < 0) {
      snprintf(err, errlen, "cannot go back to standard error: %s",
               strerror(errno));
      return -1;
    }
    sp__log_path[0] = '\0';
    return 0;
  }
  if (strlen(path) >= sizeof sp__log_path) {
    snprintf(err, errlen, "log file path too long");
    return -1;
  }
  int fd =
      open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open log file '%s': %s", path,
             strerror(errno));
    return -1;
  }
  if (sp__stderr_copy < 0)
    sp__stderr_copy = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  /* dup2 replaces descriptor 2 in one step: a line being written by another
   * thread goes whole to the old file or to the new one. */
  if (dup2(fd, STDERR_FILENO) < 0) {
    snprintf(err, errlen, "cannot log to '%s': %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  close(fd);
  if (path != sp__log_path)
    strcpy(sp__log_path, path);
  return 0;
}

int sp_log_reopen(char *err, size_t errlen) {
  if (!sp__log_path[0])
    return 0;
  return sp_log_open(sp__log_path, err, errlen);
}

/* ---- JSON lines --------------------------------------------------------- */

/* A JSON string of s; bytes that are not UTF-8 stay visible as \xNN, as
 * sp_log_quote would show them. NULL only when out of memory. */
static json_t *sp__json_text(const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  json_t *j = json_stringn(s, n);
  if (j || n > SP_LOG_LINE)
    return j;
  char tmp[4 * SP_LOG_LINE];
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
      tmp[o++] = (char)c;
      continue;
    }
    tmp[o++] = '\\';
    tmp[o++] = 'x';
    tmp[o++] = hex[c >> 4];
    tmp[o++] = hex[c & 15];
  }
  return json_stringn(tmp, o);
}

/* An unquoted logfmt value that is a JSON number becomes one. */
static json_t *sp__json_value(const char *v, size_t n, int quoted) {
  if (!quoted && n > 0) {
    size_t i = v[0] == '-';
    size_t int_start = i;
    while (i < n && v[i] >= '0' && v[i] <= '9')
      i++;
    size_t int_len = i - int_start;
    int ok = int_len > 0 && !(int_len > 1 && v[int_start] == '0');
    int real = 0;
    if (ok && i < n && v[i] == '.') {
      size_t f = ++i;
      while (i < n && v[i] >= '0' && v[i] <= '9')
        i++;
      ok = i > f;
      real = 1;
    }
    if (ok && i < n && (v[i] == 'e' || v[i] == 'E')) {
      i++;
      if (i < n && (v[i] == '+' || v[i] == '-'))
        i++;
      size_t e = i;
      while (i < n && v[i] >= '0' && v[i] <= '9')
        i++;
      ok = i > e;
      real = 1;
    }
    if (ok && i == n) {
      char num[64];
      if (n < sizeof num) {
        memcpy(num, v, n);
        num[n] = '\0';
        if (!real && int_len <= 18)
          return json_integer(strtoll(num, NULL, 10));
        double d = strtod(num, NULL);
        if (real && isfinite(d))
          return json_real(d);
      }
    }
  }
  return sp__json_text(v, n);
}

/* Adds the key=value fields of a logfmt tail to obj. A quoted value (as
 * sp_log_quote writes it) is unescaped; it ends at a quote followed by a
 * space or the end, so that one printed with a bare quote inside stays
 * whole. A word without `=` (an unquoted value with spaces) belongs to the
 * value before it. Returns -1 when out of memory. */
static int sp__json_fields(json_t *obj, const char *p) {
  char key[128], val[SP_LOG_LINE];
  size_t vlen = 0;
  int have = 0, quoted = 0;
  for (;;) {
    while (*p == ' ')
      p++;
    const char *q = p;
    while (*q && *q != ' ' && *q != '=')
      q++;
    if (have && (!*p || (*q == '=' && q > p))) {
      json_t *j = sp__json_value(val, vlen, quoted);
      if (!j || json_object_set_new(obj, key, j) != 0)
        return -1;
      have = 0;
    }
    if (!*p)
      return 0;
    if (*q != '=' || q == p) { /* a word of the value before */
      while (*q && *q != ' ')
        q++;
      if (!have) {
        strcpy(key, "text");
        vlen = 0;
        quoted = 1;
        have = 1;
      } else if (vlen < sizeof val) {
        val[vlen++] = ' ';
      }
      for (; p < q && vlen < sizeof val; p++)
        val[vlen++] = *p;
      p = q;
      continue;
    }
    size_t klen =
        (size_t)(q - p) < sizeof key ? (size_t)(q - p) : sizeof key - 1;
    memcpy(key, p, klen);
    key[klen] = '\0';
    p = q + 1;
    vlen = 0;
    have = 1;
    quoted = *p == '"';
    if (!quoted) {
      while (*p && *p != ' ' && vlen < sizeof val)
        val[vlen++] = *p++;
      continue;
    }
    for (p++; *p && vlen < sizeof val;) {
      if (p[0] == '\\' && p[1] == 'x' && p[2] && p[3] &&
          strchr("0123456789abcdef", p[2]) &&
          strchr("0123456789abcdef", p[3])) {
        val[vlen++] = (char)strtol((char[]){p[2], p[3], 0}, NULL, 16);
        p += 4;
      } else if (p[0] == '\\' && p[1]) {
        val[vlen++] = p[1];
        p += 2;
      } else if (p[0] == '"' && (p[1] == ' ' || p[1] == '\0')) {
        p++;
        break;
      } else {
        val[vlen++] = *p++;
      }
    }
  }
}

/* Writes one JSON line; -1 when out of memory (the caller then writes the
 * logfmt line, so nothing is lost). */
static int sp__write_json(const char *ts, sp_log_level level, const char *event,
                          const char *fields) {
  json_t *obj = json_object();
  int rc = -1;
  char *text = NULL;
  if (!obj || json_object_set_new(obj, "ts", json_string(ts)) != 0 ||
      json_object_set_new(obj, "level", json_string(sp__log_names[level])) !=
          0 ||
      json_object_set_new(obj, "event", sp__json_text(event, strlen(event))) !=
          0)
    goto done;
  if (fields && sp__json_fields(obj, fields) != 0)
    goto done;
  text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(15));
  if (!text)
    goto done;
  /* One call per line keeps lines whole when several threads log. */
  struct iovec iov[2] = {{text, strlen(text)}, {"\n", 1}};
  ssize_t w = writev(STDERR_FILENO, iov, 2);
  (void)w;
  rc = 0;
done:
  free(text);
  json_decref(obj);
  return rc;
}

/* ---- lines -------------------------------------------------------------- */

static void sp__vlog(sp_log_level level, const char *event, const char *fmt,
                     va_list ap) {
  char ts[64], fields[SP_LOG_LINE], line[SP_LOG_LINE + 128];
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, now.tv_nsec / 1000000);
  fields[0] = '\0';
  if (fmt && vsnprintf(fields, sizeof fields, fmt, ap) < 0)
    fields[0] = '\0';
  if (atomic_load_explicit(&sp__log_format, memory_order_relaxed) ==
          SP_LOG_JSON &&
      sp__write_json(ts, level, event, fmt ? fields : NULL) == 0)
    return;
  int n = snprintf(line, sizeof line - 1, "ts=%s level=%s event=%s%s%s", ts,
                   sp__log_names[level], event, fields[0] ? " " : "", fields);
  if (n < 0)
    return;
  if ((size_t)n > sizeof line - 2)
    n = (int)sizeof line - 2;
  line[n++] = '\n';
  /* One write per line keeps lines whole when several threads log. */
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
}

void sp_log(sp_log_level level, const char *event, const char *fmt, ...) {
  if ((int)level < atomic_load_explicit(&sp__log_level, memory_order_relaxed))
    return;
  va_list ap;
  va_start(ap, fmt);
  sp__vlog(level, event, fmt, ap);
  va_end(ap);
}

const char *sp_log_quote(char *out, size_t outlen, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  if (outlen < 3) {
    if (outlen)
      out[0] = '\0';
    return out;
  }
  out[o++] = '"';
  for (size_t i = 0; i < len && o + 6 < outlen; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  out[o++] = '"';
  out[o] = '\0';
  return out;
}
