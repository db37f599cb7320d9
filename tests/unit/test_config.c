/* Unit tests of the options (src/core/config.h): the table itself, the
 * command line, the configuration file and its precedence, and the reload
 * that SIGHUP runs: what changed, what the command line keeps, what the hub
 * applies and what it logs. */
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "test.h"

static char tmpdir[] = "/tmp/snakepit-config-XXXXXX";
static char err[1024];

/* Writes text to a file in tmpdir; returns its path (static). */
static const char *file(const char *name, const char *text) {
  static char path[2][256];
  static int turn;
  char *p = path[turn++ % 2];
  snprintf(p, 256, "%s/%s", tmpdir, name);
  FILE *f = fopen(p, "w");
  fputs(text, f);
  fclose(f);
  return p;
}

/* Parses a NULL-terminated list of words after "snakepit". */
static int parse(sp_config *cfg, const char *env_port, ...) {
  char *argv[32] = {"snakepit"};
  int argc = 1;
  va_list ap;
  va_start(ap, env_port);
  for (char *w; (w = va_arg(ap, char *)) && argc < 31;)
    argv[argc++] = w;
  va_end(ap);
  argv[argc] = NULL;
  sp_config_default(cfg);
  err[0] = '\0';
  return sp_config_parse(cfg, argc, argv, env_port, err, sizeof err);
}

/* ---- the table ---------------------------------------------------------- */

TEST(table_is_complete) {
  for (int i = 0; i < SP_OPT_COUNT; i++) {
    const sp_option *o = &sp_options[i];
    if (!o->name || !o->help)
      FAILF("option %d has no name or no help", i);
    if (o->kind != SP_KIND_FLAG && (!o->arg || !o->valid))
      FAILF("--%s takes a value but has no arg name or no valid text", o->name);
    if (o->kind == SP_KIND_FLAG && !(o->flags & SP_OPT_CLI))
      FAILF("--%s is a flag but allowed in a file", o->name);
    for (int j = 0; j < i; j++)
      if (strcmp(sp_options[j].name, o->name) == 0)
        FAILF("--%s twice", o->name);
  }
}

TEST(defaults_are_the_documented_ones) {
  sp_config c;
  sp_config_default(&c);
  ASSERT_STR_EQ(c.host, "0.0.0.0");
  ASSERT_STR_EQ(c.host_name, "0.0.0.0");
  ASSERT_EQ(c.port, 8080);
  ASSERT_STR_EQ(c.data_dir, "./data");
  ASSERT_STR_EQ(c.static_dir, "");
  ASSERT(c.tick_rate == 10.0);
  ASSERT_EQ(c.max_players, 10);
  ASSERT_EQ(c.field_w, 50);
  ASSERT_EQ(c.field_h, 25);
  ASSERT_EQ(c.has_seed, 0);
  ASSERT_EQ(c.max_message, 4096);
  ASSERT_EQ(c.max_queue, 1024 * 1024);
  ASSERT_EQ(c.sndbuf, 0);
  ASSERT_EQ(c.log_level, SP_LOG_INFO);
  ASSERT_EQ(c.log_format, SP_LOG_LOGFMT);
  ASSERT_STR_EQ(c.log_file, "");
  ASSERT_EQ(c.max_conns_asked, 0);
  ASSERT_EQ(c.max_conns, SP_DEFAULT_MAX_CONNS);
  ASSERT_EQ(c.max_conns_per_ip, 64);
  ASSERT(c.header_timeout == 10 && c.register_timeout == 30);
  ASSERT(c.ping_interval == 20 && c.max_msg_rate == 30);
  ASSERT(c.workers >= 1 && c.workers <= 64);
  ASSERT_EQ(c.bots, 0);
  ASSERT_EQ(c.round_seconds, 0);
  ASSERT_EQ(c.from_cli, 0);
}

TEST(runtime_options_are_the_limits_and_the_log) {
  uint64_t want =
      SP_OPT_BIT(SP_OPT_MAX_MESSAGE) | SP_OPT_BIT(SP_OPT_MAX_QUEUE) |
      SP_OPT_BIT(SP_OPT_SNDBUF) | SP_OPT_BIT(SP_OPT_MAX_CONNS) |
      SP_OPT_BIT(SP_OPT_MAX_CONNS_PER_IP) | SP_OPT_BIT(SP_OPT_HEADER_TIMEOUT) |
      SP_OPT_BIT(SP_OPT_REGISTER_TIMEOUT) | SP_OPT_BIT(SP_OPT_PING_INTERVAL) |
      SP_OPT_BIT(SP_OPT_MAX_MSG_RATE) | SP_OPT_BIT(SP_OPT_ALLOWED_ORIGINS) |
      SP_CONFIG_HUB_OPTIONS;
  ASSERT_EQ(sp_config_runtime_mask(), want);
}

/* ---- the command line --------------------------------------------------- */

TEST(flags_set_values_and_mark_them) {
  sp_config c;
  ASSERT_EQ(parse(&c, NULL, "--port", "9000", "--field=20x30", "--seed", "7",
                  "--log-format", "json", "--max-conns", "100", NULL),
            0);
  ASSERT_EQ(c.port, 9000);
  ASSERT_EQ(c.field_w, 20);
  ASSERT_EQ(c.field_h, 30);
  ASSERT_EQ(c.has_seed, 1);
  ASSERT_EQ(c.seed, 7);
  ASSERT_EQ(c.log_format, SP_LOG_JSON);
  ASSERT_EQ(c.max_conns_asked, 100);
  ASSERT_EQ(c.from_cli, SP_OPT_BIT(SP_OPT_PORT) | SP_OPT_BIT(SP_OPT_FIELD) |
                            SP_OPT_BIT(SP_OPT_SEED) |
                            SP_OPT_BIT(SP_OPT_LOG_FORMAT) |
                            SP_OPT_BIT(SP_OPT_MAX_CONNS));
}

TEST(missing_value_names_the_option) {
  sp_config c;
  ASSERT_EQ(parse(&c, NULL, "--port", "--bots", "3", NULL), 2);
  ASSERT_STR_EQ(err, "option --port needs a value");
  ASSERT_EQ(parse(&c, NULL, "--bots", "3", "--port", NULL), 2);
  ASSERT_STR_EQ(err, "option --port needs a value");
  ASSERT_EQ(parse(&c, NULL, "--po", NULL), 2); /* an abbreviation */
  ASSERT_STR_EQ(err, "option --port needs a value");
  /* A value that merely starts with one dash is a value. */
  ASSERT_EQ(parse(&c, NULL, "--port", "-1", NULL), 2);
  ASSERT_STR_EQ(err, "invalid value for --port: '-1' (0..65535)");
  /* The = form takes anything. */
  ASSERT_EQ(parse(&c, NULL, "--allowed-origins=--x", NULL), 0);
  ASSERT_STR_EQ(c.allowed_origins, "--x");
}

TEST(errors_are_one_line_naming_the_option) {
  sp_config c;
  ASSERT_EQ(parse(&c, NULL, "--tick-rate", "0", NULL), 2);
  ASSERT_STR_EQ(
      err, "invalid value for --tick-rate: '0' (a number from 0.1 to 1000)");
  ASSERT_EQ(parse(&c, NULL, "--bogus", NULL), 2);
  ASSERT_STR_EQ(err, "unknown option '--bogus' (see --help)");
  ASSERT_EQ(parse(&c, NULL, "extra", NULL), 2);
  ASSERT_STR_EQ(err, "unexpected argument 'extra' (see --help)");
  ASSERT_EQ(parse(&c, NULL, "--allowed-origins", "a\nb", "--port", "x", NULL),
            2);
  ASSERT_STR_EQ(err, "invalid value for --port: 'x' (0..65535)");
  ASSERT_EQ(parse(&c, NULL, "--data", "a\nb", "--max-players", "0\n", NULL), 2);
  ASSERT(strchr(err, '\n') == NULL);
  ASSERT_EQ(parse(&c, "99999", NULL), 2);
  ASSERT_STR_EQ(err, "invalid value for PORT: '99999' (0..65535)");
}

TEST(host_names_and_addresses) {
  static const char *const good[] = {
      "localhost",    "127.0.0.1", "::1",   "game-1.example.org",
      "example.org.", "0.0.0.0",   "a1.b2", "::"};
  static const char *const bad[] = {
      "999.1.1.1", "",   "bad_name", "-a.b", "a-.b",
      "a..b",      ".a", "1.2.3",    "a b",  "1.2.3.4.5"};
  sp_config c;
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    if (parse(&c, NULL, "--host", good[i], NULL) != 0)
      FAILF("--host %s refused: %s", good[i], err);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (parse(&c, NULL, "--host", bad[i], NULL) != 2)
      FAILF("--host '%s' accepted", bad[i]);
  char label[80];
  memset(label, 'a', 64);
  label[64] = '\0';
  ASSERT_EQ(parse(&c, NULL, "--host", label, NULL), 2); /* label > 63 */
}

TEST(address_is_normalised_and_name_resolved) {
  sp_config c;
  ASSERT_EQ(parse(&c, NULL, "--host", "::ffff:127.0.0.1", NULL), 0);
  ASSERT_EQ(sp_config_prepare(&c, err, sizeof err), 0);
  ASSERT_STR_EQ(c.host, "::ffff:127.0.0.1");
  ASSERT_EQ(parse(&c, NULL, "--host", "localhost", NULL), 0);
  ASSERT_EQ(sp_config_prepare(&c, err, sizeof err), 0);
  ASSERT_STR_EQ(c.host_name, "localhost");
  /* /etc/hosts gives localhost an IPv4 address: that one is preferred. */
  ASSERT_STR_EQ(c.host, "127.0.0.1");
}

/* ---- the configuration file --------------------------------------------- */

TEST(file_sets_values_flags_and_port_env_win) {
  const char *p = file("a.conf", "# a comment\n"
                                 "\n"
                                 "  port = 9001  \n"
                                 "tick-rate=2.5\r\n"
                                 "\t# indented comment\n"
                                 "allowed-origins = \"http://a, http://b\"\n"
                                 "bots = 3\n"
                                 "bots = 4 # the last one wins\n"
                                 "data = \"/tmp/a #1\"  # quoted\n"
                                 "static = /tmp/b#2\n"
                                 "log-level = debug\n");
  sp_config c;
  ASSERT_EQ(parse(&c, NULL, "--config", p, NULL), 0);
  ASSERT_EQ(c.port, 9001);
  ASSERT(c.tick_rate == 2.5);
  ASSERT_STR_EQ(c.allowed_origins, "http://a, http://b");
  ASSERT_EQ(c.bots, 4); /* the last line wins */
  ASSERT_STR_EQ(c.data_dir, "/tmp/a #1");
  ASSERT_STR_EQ(c.static_dir, "/tmp/b#2"); /* # inside a word is the value */
  ASSERT_EQ(c.log_level, SP_LOG_DEBUG);
  ASSERT_EQ(c.from_cli, SP_OPT_BIT(SP_OPT_CONFIG));
  /* PORT over the file, a flag over both, wherever --config stands. */
  ASSERT_EQ(parse(&c, "9002", "--config", p, NULL), 0);
  ASSERT_EQ(c.port, 9002);
  ASSERT_EQ(
      parse(&c, "9002", "--port", "9003", "--bots", "1", "--config", p, NULL),
      0);
  ASSERT_EQ(c.port, 9003);
  ASSERT_EQ(c.bots, 1);
}

TEST(file_errors_name_the_file_and_line) {
  static const struct {
    const char *text, *want; /* want follows "FILE:" */
  } cases[] = {
      {"port = 9001\n# fine\nbogus = 1\n", "3: unknown option 'bogus'"},
      {"\nport = 70000\n", "2: invalid value for port: '70000' (0..65535)"},
      {"port 8080\n", "1: expected 'name = value', got 'port 8080'"},
      {"config = other.conf\n", "1: 'config' is for the command line only"},
      {"field =\n", "1: invalid value for field: '' (WxH, each side 11..1000)"},
      {"data = \"/a\" /b\n", "1: text after the closing quote: '/b'"},
      /* Exact names only in a file: no abbreviations. */
      {"po = 1\n", "1: unknown option 'po'"},
  };
  sp_config c;
  char want[600];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *p = file("bad.conf", cases[i].text);
    snprintf(want, sizeof want, "%s:%s", p, cases[i].want);
    if (parse(&c, NULL, "--config", p, NULL) != 2 || strcmp(err, want) != 0)
      FAILF("%s: got '%s', want '%s'", cases[i].text, err, want);
  }
  ASSERT_EQ(parse(&c, NULL, "--config", "/nonexistent/x.conf", NULL), 2);
  ASSERT_STR_EQ(err, "cannot read configuration file '/nonexistent/x.conf': "
                     "No such file or directory");
}

/* ---- reload ------------------------------------------------------------- */

/* The lines logged while fn runs (the log goes to a file meanwhile). */
static const char *logged(void (*fn)(void *), void *arg) {
  static char out[8192];
  char path[256];
  snprintf(path, sizeof path, "%s/log", tmpdir);
  unlink(path);
  fflush(stderr);
  if (sp_log_open(path, err, sizeof err) != 0)
    return "(cannot log to a file)";
  fn(arg);
  sp_log_open(NULL, err, sizeof err);
  return test_read_file(path, out, sizeof out);
}

typedef struct commit_args {
  sp_config *running, *next;
  uint64_t changed, apply, done;
} commit_args;

static void do_commit(void *arg) {
  commit_args *a = arg;
  a->done = sp_config_commit(a->running, a->next, a->changed, a->apply);
}

TEST(reload_finds_changes_and_keeps_flags) {
  const char *p = file("r.conf", "port = 9001\nbots = 2\nmax-conns = 500\n");
  sp_config run, next;
  uint64_t changed = 0;
  ASSERT_EQ(parse(&run, NULL, "--config", p, "--bots", "5", NULL), 0);
  ASSERT_EQ(sp_config_prepare(&run, err, sizeof err), 0);
  ASSERT_EQ(run.bots, 5);
  /* Unchanged file: nothing changed. */
  ASSERT_EQ(sp_config_reload(p, &run, &next, &changed, err, sizeof err), 0);
  ASSERT_EQ(changed, 0);
  p = file("r.conf", "port = 9002\nbots = 3\nmax-conns = 600\n"
                     "log-level = warn\nmax-conns-per-ip = 8\n");
  ASSERT_EQ(sp_config_reload(p, &run, &next, &changed, err, sizeof err), 0);
  ASSERT_EQ(changed, SP_OPT_BIT(SP_OPT_PORT) | SP_OPT_BIT(SP_OPT_MAX_CONNS) |
                         SP_OPT_BIT(SP_OPT_LOG_LEVEL) |
                         SP_OPT_BIT(SP_OPT_MAX_CONNS_PER_IP));
  ASSERT_EQ(next.bots, 5); /* --bots 5 still wins over the file */
  ASSERT_EQ(next.port, 9002);
  ASSERT_EQ(next.max_conns_asked, 600);
  ASSERT_EQ(next.max_conns, 600); /* in force, fitted to the fd limit */
  ASSERT_EQ(next.log_level, SP_LOG_WARN);
  ASSERT_EQ(run.port, 9001); /* running is not touched */
  /* A line taken away goes back to its default. */
  p = file("r.conf", "bots = 3\n");
  ASSERT_EQ(sp_config_reload(p, &run, &next, &changed, err, sizeof err), 0);
  ASSERT_EQ(changed, SP_OPT_BIT(SP_OPT_PORT) | SP_OPT_BIT(SP_OPT_MAX_CONNS));
  ASSERT_EQ(next.port, 8080);
  ASSERT_EQ(next.max_conns_asked, 0);
}

TEST(reload_of_a_bad_file_changes_nothing) {
  const char *p = file("s.conf", "port = 9001\n");
  sp_config run, next;
  uint64_t changed = 77;
  ASSERT_EQ(parse(&run, NULL, "--config", p, NULL), 0);
  memset(&next, 0xab, sizeof next);
  p = file("s.conf", "port = 9001\nmax-players = many\n");
  ASSERT_EQ(sp_config_reload(p, &run, &next, &changed, err, sizeof err), 2);
  ASSERT(strstr(err, "s.conf:2: invalid value for max-players: 'many'") !=
         NULL);
  ASSERT_EQ(changed, 77);
  ASSERT_EQ(((unsigned char *)&next)[0], 0xab);
}

TEST(commit_applies_the_log_options_and_reports_the_rest) {
  const char *p = file("t.conf", "log-level = info\n");
  sp_config run, next;
  uint64_t changed;
  ASSERT_EQ(parse(&run, NULL, "--config", p, NULL), 0);
  p = file("t.conf", "log-level = warn\nport = 9005\nmax-conns-per-ip = 3\n");
  ASSERT_EQ(sp_config_reload(p, &run, &next, &changed, err, sizeof err), 0);
  commit_args a = {&run, &next, changed, SP_CONFIG_HUB_OPTIONS, 0};
  sp_log_set_level(SP_LOG_INFO);
  const char *out = logged(do_commit, &a);
  sp_log_set_level(SP_LOG_INFO);
  ASSERT_EQ(a.done, SP_OPT_BIT(SP_OPT_LOG_LEVEL));
  ASSERT_EQ(run.log_level, SP_LOG_WARN);
  ASSERT_EQ(run.port, 8080);           /* needs a restart: not copied */
  ASSERT_EQ(run.max_conns_per_ip, 64); /* the hub alone cannot apply it */
  /* The new level applies at once: the reload line (info) is not written,
   * the warnings are. */
  if (!strstr(out, "level=warn event=restart_needed option=port "
                   "running=\"8080\" asked=\"9005\"") ||
      !strstr(out, "event=restart_needed option=max-conns-per-ip"))
    FAILF("restart_needed lines missing:\n%s", out);
  if (strstr(out, "event=reload "))
    FAILF("info line logged at level warn:\n%s", out);
  /* Back to info: the reload line lists both sides. */
  p = file("t.conf", "log-level = info\nport = 9005\n");
  ASSERT_EQ(sp_config_reload(p, &run, &next, &changed, err, sizeof err), 0);
  a = (commit_args){&run, &next, changed, SP_CONFIG_HUB_OPTIONS, 0};
  out = logged(do_commit, &a);
  sp_log_set_level(SP_LOG_INFO);
  char want[600];
  snprintf(want, sizeof want,
           "event=reload config=\"%s\" applied=log-level not_applied=port\n",
           p);
  if (!strstr(out, want))
    FAILF("no '%s' in:\n%s", want, out);
}

TEST(format_writes_values_as_given) {
  sp_config c;
  char buf[64];
  ASSERT_EQ(parse(&c, NULL, "--field", "20x30", "--tick-rate", "2.5", NULL), 0);
  ASSERT_STR_EQ(sp_config_format(&c, SP_OPT_FIELD, buf, sizeof buf), "20x30");
  ASSERT_STR_EQ(sp_config_format(&c, SP_OPT_TICK_RATE, buf, sizeof buf), "2.5");
  ASSERT_STR_EQ(sp_config_format(&c, SP_OPT_LOG_LEVEL, buf, sizeof buf),
                "info");
  ASSERT_STR_EQ(sp_config_format(&c, SP_OPT_SEED, buf, sizeof buf), "");
}

int main(void) {
  if (!mkdtemp(tmpdir))
    return 1;
  RUN(table_is_complete);
  RUN(defaults_are_the_documented_ones);
  RUN(runtime_options_are_the_limits_and_the_log);
  RUN(flags_set_values_and_mark_them);
  RUN(missing_value_names_the_option);
  RUN(errors_are_one_line_naming_the_option);
  RUN(host_names_and_addresses);
  RUN(address_is_normalised_and_name_resolved);
  RUN(file_sets_values_flags_and_port_env_win);
  RUN(file_errors_name_the_file_and_line);
  RUN(reload_finds_changes_and_keeps_flags);
  RUN(reload_of_a_bad_file_changes_nothing);
  RUN(commit_applies_the_log_options_and_reports_the_rest);
  RUN(format_writes_values_as_given);
  test_rmtree(tmpdir);
  return TEST_SUMMARY();
}
