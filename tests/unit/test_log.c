/* Unit tests of the log (src/core/log.h): the logfmt line, the same fields
 * as JSON (parsed back with jansson), values from peers kept escaped in
 * both, the level filter, and the log file reopened after logrotate moved
 * it away. */
#include <jansson.h>
#include <unistd.h>

#include "core/log.h"
#include "test.h"

static char tmpdir[] = "/tmp/snakepit-log-XXXXXX";
static char path[256], err[512];

/* Starts sending the log to a fresh file. */
static int capture(void) {
  snprintf(path, sizeof path, "%s/log", tmpdir);
  unlink(path);
  fflush(stderr);
  return sp_log_open(path, err, sizeof err);
}

/* Sends the log back to stderr and returns what was written (static). */
static const char *captured(void) {
  static char out[16384];
  sp_log_open(NULL, err, sizeof err);
  return test_read_file(path, out, sizeof out);
}

/* The one JSON object of a one-line text. */
static json_t *one_object(const char *text, char *why, size_t whylen) {
  size_t n = strlen(text);
  if (n == 0 || text[n - 1] != '\n' || memchr(text, '\n', n - 1)) {
    snprintf(why, whylen, "not one line: '%s'", text);
    return NULL;
  }
  json_error_t e;
  json_t *j = json_loads(text, 0, &e);
  if (!j || !json_is_object(j)) {
    snprintf(why, whylen, "not a JSON object (%s): %s", e.text, text);
    json_decref(j);
    return NULL;
  }
  return j;
}

TEST(logfmt_line) {
  sp_log_set_format(SP_LOG_LOGFMT);
  ASSERT_EQ(capture(), 0);
  sp_log_info("hello", "a=1 b=%s", "x");
  sp_log_warn("bare", NULL);
  const char *out = captured();
  ASSERT_EQ(strncmp(out, "ts=", 3), 0);
  ASSERT(strstr(out, "Z level=info event=hello a=1 b=x\n") != NULL);
  ASSERT(strstr(out, "Z level=warn event=bare\n") != NULL);
}

TEST(json_has_the_same_fields) {
  char q[256], why[512];
  const char name[] = "a\"b\\c\nd\x01 e";
  sp_log_set_format(SP_LOG_JSON);
  ASSERT_EQ(capture(), 0);
  sp_log_info("new_player",
              "room=lobby conn=12 peer=127.0.0.1:4000 name=%s rate=2.5 "
              "neg=-3 big=123456789012345678901 ver=0.1.0 field=50x25 "
              "exp=1e+06 empty= zero=0 octal=012",
              sp_log_quote(q, sizeof q, name, sizeof name - 1));
  sp_log_set_format(SP_LOG_LOGFMT);
  json_t *j = one_object(captured(), why, sizeof why);
  if (!j)
    FAILF("%s", why);
  const char *ts = json_string_value(json_object_get(j, "ts"));
  int ok =
      ts && strlen(ts) == 24 && ts[23] == 'Z' &&
      !strcmp(json_string_value(json_object_get(j, "level")), "info") &&
      !strcmp(json_string_value(json_object_get(j, "event")), "new_player") &&
      !strcmp(json_string_value(json_object_get(j, "room")), "lobby") &&
      json_integer_value(json_object_get(j, "conn")) == 12 &&
      !strcmp(json_string_value(json_object_get(j, "peer")),
              "127.0.0.1:4000") &&
      json_is_string(json_object_get(j, "name")) &&
      !strcmp(json_string_value(json_object_get(j, "name")), name) &&
      json_real_value(json_object_get(j, "rate")) == 2.5 &&
      json_integer_value(json_object_get(j, "neg")) == -3 &&
      json_is_string(json_object_get(j, "big")) &&
      json_is_string(json_object_get(j, "ver")) &&
      json_is_string(json_object_get(j, "field")) &&
      json_real_value(json_object_get(j, "exp")) == 1e6 &&
      !strcmp(json_string_value(json_object_get(j, "empty")), "") &&
      json_integer_value(json_object_get(j, "zero")) == 0 &&
      json_is_string(json_object_get(j, "octal"));
  char *dump = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!ok) {
    fprintf(stderr, "  got %s\n", dump);
    free(dump);
    FAILF("fields differ");
  }
  free(dump);
}

TEST(json_keeps_hostile_values_inside_their_field) {
  char q[512], why[512];
  /* A forged field and a forged line, bytes that are not UTF-8, and a bare
   * quote inside a value that was not quoted with sp_log_quote. */
  const char origin[] = "x\" level=error event=pwned\n{\"a\":1} \xff\xfe";
  sp_log_set_format(SP_LOG_JSON);
  ASSERT_EQ(capture(), 0);
  sp_log_info("origin_refused", "conn=1 origin=%s",
              sp_log_quote(q, sizeof q, origin, sizeof origin - 1));
  sp_log_error("scores_write_failed", "pending=2 error=\"%s\"",
               "near \"x\": syntax error");
  sp_log_warn("accept_failed", "error=%s", "too many open files");
  sp_log_set_format(SP_LOG_LOGFMT);
  const char *out = captured();
  char lines[3][2048];
  const char *p = out;
  for (int i = 0; i < 3; i++) {
    const char *nl = strchr(p, '\n');
    if (!nl)
      FAILF("line %d missing in:\n%s", i + 1, out);
    snprintf(lines[i], sizeof lines[i], "%.*s", (int)(nl - p + 1), p);
    p = nl + 1;
  }
  if (*p)
    FAILF("more than 3 lines:\n%s", out);
  json_t *a = one_object(lines[0], why, sizeof why);
  if (!a)
    FAILF("%s", why);
  const char *lvl = json_string_value(json_object_get(a, "level"));
  const char *ev = json_string_value(json_object_get(a, "event"));
  const char *o = json_string_value(json_object_get(a, "origin"));
  int ok = lvl && !strcmp(lvl, "info") && ev && !strcmp(ev, "origin_refused") &&
           o &&
           !strcmp(o, "x\" level=error event=pwned\n{\"a\":1} \\xff\\xfe") &&
           json_object_size(a) == 5;
  json_decref(a);
  if (!ok)
    FAILF("forged or lost: %s", lines[0]);
  json_t *b = one_object(lines[1], why, sizeof why);
  if (!b)
    FAILF("%s", why);
  o = json_string_value(json_object_get(b, "error"));
  ok = o && !strcmp(o, "near \"x\": syntax error");
  json_decref(b);
  if (!ok)
    FAILF("error text cut: %s", lines[1]);
  json_t *c = one_object(lines[2], why, sizeof why);
  if (!c)
    FAILF("%s", why);
  o = json_string_value(json_object_get(c, "error"));
  ok = o && !strcmp(o, "too many open files") && json_object_size(c) == 4;
  json_decref(c);
  if (!ok)
    FAILF("words lost: %s", lines[2]);
}

TEST(level_filters_and_changes_at_once) {
  sp_log_set_format(SP_LOG_LOGFMT);
  ASSERT_EQ(capture(), 0);
  sp_log_set_level(SP_LOG_WARN);
  sp_log_info("hidden", NULL);
  sp_log_warn("shown", NULL);
  sp_log_set_level(SP_LOG_DEBUG);
  sp_log_debug("debug_shown", NULL);
  sp_log_set_level(SP_LOG_INFO);
  const char *out = captured();
  ASSERT(strstr(out, "event=hidden") == NULL);
  ASSERT(strstr(out, "event=shown") != NULL);
  ASSERT(strstr(out, "event=debug_shown") != NULL);
}

TEST(reopen_after_rotation) {
  char rotated[300];
  ASSERT_EQ(capture(), 0);
  sp_log_info("before", NULL);
  snprintf(rotated, sizeof rotated, "%s.1", path);
  ASSERT_EQ(rename(path, rotated), 0);
  sp_log_info("still_old", NULL); /* until the reopen, the moved file */
  ASSERT_EQ(sp_log_reopen(err, sizeof err), 0);
  sp_log_info("after", NULL);
  const char *now = captured();
  ASSERT(strstr(now, "event=after") != NULL);
  ASSERT(strstr(now, "event=before") == NULL);
  char old[4096];
  test_read_file(rotated, old, sizeof old);
  ASSERT(strstr(old, "event=before") && strstr(old, "event=still_old"));
  ASSERT(strstr(old, "event=after") == NULL);
}

TEST(open_failure_keeps_the_log) {
  ASSERT_EQ(sp_log_open("/nonexistent/dir/log", err, sizeof err), -1);
  ASSERT_STR_EQ(err, "cannot open log file '/nonexistent/dir/log': No such "
                     "file or directory");
  ASSERT_EQ(sp_log_reopen(err, sizeof err), 0); /* still stderr */
}

int main(void) {
  if (!mkdtemp(tmpdir))
    return 1;
  RUN(logfmt_line);
  RUN(json_has_the_same_fields);
  RUN(json_keeps_hostile_values_inside_their_field);
  RUN(level_filters_and_changes_at_once);
  RUN(reopen_after_rotation);
  RUN(open_failure_keeps_the_log);
  test_rmtree(tmpdir);
  return TEST_SUMMARY();
}
