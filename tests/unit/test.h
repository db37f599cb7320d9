/* A tiny unit test harness in the style of libuv's: ASSERT macros that print
 * both values and are never compiled out. Each test file defines its tests
 * with TEST(name) and lists them in main via RUN(name); the program prints
 * "ok - name" or "FAIL - name" per test and a final "N passed, M failed". */
#ifndef SP_TEST_H
#define SP_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sp__test_failed_flag;
static int sp__test_passed, sp__test_failed;

#define TEST(name) static void test_##name(void)

#define FAILF(...)                                                             \
  do {                                                                         \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                          \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    sp__test_failed_flag = 1;                                                  \
    return;                                                                    \
  } while (0)

#define ASSERT(cond)                                                           \
  do {                                                                         \
    if (!(cond))                                                               \
      FAILF("assertion failed: %s", #cond);                                    \
  } while (0)

#define ASSERT_EQ(a, b)                                                        \
  do {                                                                         \
    long long sp__a = (long long)(a), sp__b = (long long)(b);                  \
    if (sp__a != sp__b)                                                        \
      FAILF("%s == %s: %lld != %lld", #a, #b, sp__a, sp__b);                   \
  } while (0)

#define ASSERT_STR_EQ(a, b)                                                    \
  do {                                                                         \
    const char *sp__a = (a), *sp__b = (b);                                     \
    if (!sp__a || !sp__b || strcmp(sp__a, sp__b) != 0)                         \
      FAILF("%s == %s: \"%s\" != \"%s\"", #a, #b, sp__a ? sp__a : "(null)",    \
            sp__b ? sp__b : "(null)");                                         \
  } while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                 \
  do {                                                                         \
    if (memcmp((a), (b), (n)) != 0)                                            \
      FAILF("%s == %s: %zu bytes differ", #a, #b, (size_t)(n));                \
  } while (0)

#define RUN(name)                                                              \
  do {                                                                         \
    sp__test_failed_flag = 0;                                                  \
    test_##name();                                                             \
    if (sp__test_failed_flag) {                                                \
      sp__test_failed++;                                                       \
      printf("FAIL - %s\n", #name);                                            \
    } else {                                                                   \
      sp__test_passed++;                                                       \
      printf("ok - %s\n", #name);                                              \
    }                                                                          \
    fflush(stdout);                                                            \
  } while (0)

/* Reads at most len - 1 bytes of a file into buf (NUL-terminated; empty if
 * the file cannot be read). Returns buf. */
static inline const char *test_read_file(const char *path, char *buf,
                                         size_t len) {
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, len - 1, f) : 0;
  buf[n] = '\0';
  if (f)
    fclose(f);
  return buf;
}

/* Removes a temporary directory a test file made, with what is in it. */
static inline void test_rmtree(const char *dir) {
  char cmd[1100];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

#define TEST_SUMMARY()                                                         \
  (printf("%d passed, %d failed\n", sp__test_passed, sp__test_failed),         \
   sp__test_failed ? 1 : 0)

#endif
