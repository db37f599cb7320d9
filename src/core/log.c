#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static sp_log_level sp__log_level = SP_LOG_INFO;
static const char *const sp__log_names[] = {"debug", "info", "warn", "error"};

void sp_log_set_level(sp_log_level level) { sp__log_level = level; }
sp_log_level sp_log_get_level(void) { return sp__log_level; }

int sp_log_parse_level(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, sp__log_names[i]) == 0)
      return i;
  return -1;
}

static void sp__vlog(sp_log_level level, const char *event, const char *fmt,
                     va_list ap);

void sp_log(sp_log_level level, const char *event, const char *fmt, ...) {
  if (level < sp__log_level)
    return;
  va_list ap;
  va_start(ap, fmt);
  sp__vlog(level, event, fmt, ap);
  va_end(ap);
}

static void sp__vlog(sp_log_level level, const char *event, const char *fmt,
                     va_list ap) {
  char line[2048];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof line,
                   "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                   sp__log_names[level], event);
  if (fmt && n > 0 && (size_t)n < sizeof line - 2) {
    line[n++] = ' ';
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (m > 0)
      n += m;
  }
  if (n < 0)
    return;
  if ((size_t)n > sizeof line - 2)
    n = (int)sizeof line - 2;
  line[n++] = '\n';
  /* One write per line keeps lines whole when several threads log. */
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
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
