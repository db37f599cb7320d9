/* Unit tests of the --redis URL forms (src/cluster/url.h) and of the
 * cluster's name rules (node ids, room names). */
#include "cluster/cluster.h"
#include "cluster/url.h"
#include "test.h"

static int parse(const char *s, sp_redis_url *u) {
  const char *why = NULL;
  int rc = sp_redis_url_parse(s, u, &why);
  if (rc != 0 && (!why || !*why))
    return 99; /* every refusal must say why */
  return rc;
}

TEST(url_tcp_forms) {
  sp_redis_url u;
  ASSERT_EQ(parse("redis://127.0.0.1:6379", &u), 0);
  ASSERT_EQ(u.is_unix, 0);
  ASSERT_STR_EQ(u.host, "127.0.0.1");
  ASSERT_EQ(u.port, 6379);
  ASSERT_EQ(u.db, 0);
  ASSERT_EQ(parse("redis://redis.internal:1/15", &u), 0);
  ASSERT_STR_EQ(u.host, "redis.internal");
  ASSERT_EQ(u.port, 1);
  ASSERT_EQ(u.db, 15);
  ASSERT_EQ(parse("redis://[::1]:65535/0", &u), 0);
  ASSERT_STR_EQ(u.host, "::1");
  ASSERT_EQ(u.port, 65535);
  char out[300];
  sp_redis_url_format(&u, out, sizeof out);
  ASSERT_STR_EQ(out, "redis://[::1]:65535/0");
}

TEST(url_unix_form) {
  sp_redis_url u;
  ASSERT_EQ(parse("unix:/run/redis/redis.sock", &u), 0);
  ASSERT_EQ(u.is_unix, 1);
  ASSERT_STR_EQ(u.path, "/run/redis/redis.sock");
  char longpath[200];
  memset(longpath, 'a', sizeof longpath);
  memcpy(longpath, "unix:/", 6);
  longpath[5 + 108] = '\0'; /* a 108-byte path: one too many */
  ASSERT_EQ(parse(longpath, &u), UV_EINVAL);
  longpath[5 + 107] = '\0';
  ASSERT_EQ(parse(longpath, &u), 0);
}

TEST(url_refusals) {
  static const char *bad[] = {
      "",
      "redis://",
      "redis://host",        /* the port is required */
      "redis://host:",       /* empty port */
      "redis://:6379",       /* empty host */
      "redis://host:0",      /* port 0 */
      "redis://host:65536",  /* too big */
      "redis://host:+1",     /* not digits */
      "redis://host:6379/",  /* empty database */
      "redis://host:6379/x", /* not a number */
      "redis://host:6379/70000",
      "redis://ho st:6379", /* not a host name */
      "redis://a..b:6379",
      "redis://[::1:6379", /* unclosed bracket */
      "redis://[nothex]:6379",
      "rediss://host:6379", /* TLS is not supported */
      "http://host:6379",
      "unix:",
      "UNIX:/x",
  };
  sp_redis_url u;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (parse(bad[i], &u) != UV_EINVAL)
      FAILF("accepted '%s'", bad[i]);
}

TEST(names) {
  ASSERT_EQ(sp_cluster_valid_name("n1"), 1);
  ASSERT_EQ(sp_cluster_valid_name("A-z_09"), 1);
  ASSERT_EQ(sp_cluster_valid_name("01234567890123456789012345678901"), 1);
  ASSERT_EQ(sp_cluster_valid_name("012345678901234567890123456789012"), 0);
  ASSERT_EQ(sp_cluster_valid_name(""), 0);
  ASSERT_EQ(sp_cluster_valid_name(NULL), 0);
  ASSERT_EQ(sp_cluster_valid_name("a b"), 0);
  ASSERT_EQ(sp_cluster_valid_name("a.b"), 0);
  ASSERT_EQ(sp_cluster_valid_name("é"), 0);
}

TEST(default_node_id) {
  char id[SP_NODE_ID_MAX + 1];
  sp_cluster_default_node_id(id, 8080);
  ASSERT(sp_cluster_valid_name(id));
  size_t n = strlen(id);
  ASSERT(n >= 6 && n <= SP_NODE_ID_MAX);
  ASSERT_STR_EQ(id + n - 5, "-8080");
  sp_cluster_default_node_id(id, 65535);
  ASSERT(sp_cluster_valid_name(id));
}

int main(void) {
  RUN(url_tcp_forms);
  RUN(url_unix_form);
  RUN(url_refusals);
  RUN(names);
  RUN(default_node_id);
  return TEST_SUMMARY();
}
