/* log: one line per event, `ts=... level=... event=NAME k=v ...` (logfmt)
 * or the same fields as one JSON object per line (--log-format json), on
 * standard error or in a file (--log-file, reopened on SIGHUP so that
 * logrotate works). Values that come from peers (names, paths) go through
 * sp_log_quote so that a line can never be split or forged by what a client
 * sends; the JSON form keeps them escaped. */
#ifndef SP_LOG_H
#define SP_LOG_H

#include <stddef.h>

typedef enum {
  SP_LOG_DEBUG,
  SP_LOG_INFO,
  SP_LOG_WARN,
  SP_LOG_ERROR
} sp_log_level;

typedef enum { SP_LOG_LOGFMT, SP_LOG_JSON } sp_log_format;

/* Level and format may be changed at any time from any thread. */
void sp_log_set_level(sp_log_level level);
sp_log_level sp_log_get_level(void);
void sp_log_set_format(sp_log_format format);
/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int sp_log_parse_level(const char *s);

/* Sends the log (and everything else written to standard error) to the
 * file path, appending, created with mode 0640 if missing; NULL or "" sends
 * it back to the standard error the process started with. The descriptor
 * is swapped with dup2, so a thread writing a line at the same moment
 * writes it whole to the old file or to the new one. Returns 0, or -1 with
 * one line in err (the log is unchanged). Call from one thread only (the
 * hub), like sp_log_reopen. */
int sp_log_open(const char *path, char *err, size_t errlen);
/* Opens the same path again (after logrotate moved the file away). Does
 * nothing when logging to standard error. Returns 0 or -1 with err. */
int sp_log_reopen(char *err, size_t errlen);

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
