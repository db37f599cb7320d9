/* log: one line per event on stderr, `ts=... level=... event=NAME k=v ...`.
 * Values that come from peers (names, paths) go through sp_log_quote so that
 * a line can never be split or forged by what a client sends. */
#ifndef SP_LOG_H
#define SP_LOG_H

#include <stddef.h>

typedef enum {
  SP_LOG_DEBUG,
  SP_LOG_INFO,
  SP_LOG_WARN,
  SP_LOG_ERROR
} sp_log_level;

void sp_log_set_level(sp_log_level level);
sp_log_level sp_log_get_level(void);
/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int sp_log_parse_level(const char *s);

/* Writes one line: the fixed fields, then `event=EVENT`, then the formatted
 * key=value fields (may be NULL). Thread-safe: each line is one write(2). */
void sp_log(sp_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sp_log_debug(ev, ...) sp_log(SP_LOG_DEBUG, ev, __VA_ARGS__)
#define sp_log_info(ev, ...) sp_log(SP_LOG_INFO, ev, __VA_ARGS__)
#define sp_log_warn(ev, ...) sp_log(SP_LOG_WARN, ev, __VA_ARGS__)
#define sp_log_error(ev, ...) sp_log(SP_LOG_ERROR, ev, __VA_ARGS__)

/* Writes s as a double-quoted value into out (always NUL-terminated),
 * escaping quotes, backslashes and control bytes, truncating if needed.
 * Returns out, so it can be used directly as a printf argument. */
const char *sp_log_quote(char *out, size_t outlen, const char *s, size_t len);

#endif
