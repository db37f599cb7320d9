/* Unit tests of the connection counts per address (src/net/iptable.h):
 * IPv4 and IPv6 keys, IPv4 mapped into IPv6 as the same key, counts per
 * address and in all, more addresses than buckets (so chains of colliding
 * entries are unlinked from their heads, middles and tails), entries freed
 * at zero (measured on the heap), and several threads counting at once. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <uv.h>

#include "net/iptable.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* From the sanitizers' runtime (sanitizer/allocator_interface.h, a header
 * that GCC does not ship). */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void) {
  return __sanitizer_get_current_allocated_bytes();
}
#else
#include <malloc.h>
static size_t heap_in_use(void) {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}
#endif

static sp_iptable_key v4(const char *addr, int port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, addr, &sa.sin_addr);
  sp_iptable_key k;
  sp_iptable_key_from(&k, (struct sockaddr *)&sa);
  return k;
}

static sp_iptable_key v6(const char *addr, int port) {
  struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
  inet_pton(AF_INET6, addr, &sa.sin6_addr);
  sp_iptable_key k;
  sp_iptable_key_from(&k, (struct sockaddr *)&sa);
  return k;
}

/* The i-th of many distinct addresses: even ones IPv4, odd ones IPv6. */
static sp_iptable_key nth(int i) {
  char s[64];
  if (i % 2 == 0) {
    snprintf(s, sizeof s, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255,
             i & 255);
    return v4(s, 1);
  }
  snprintf(s, sizeof s, "2001:db8::%x:%x", (i >> 16) & 0xffff, i & 0xffff);
  return v6(s, 1);
}

static int keys_equal(sp_iptable_key a, sp_iptable_key b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

/* inc, returning the count of k; *total as the table said. */
static int inc(sp_iptable *t, sp_iptable_key k, int *total) {
  return sp_iptable_inc(t, &k, total);
}

static void dec(sp_iptable *t, sp_iptable_key k) { sp_iptable_dec(t, &k); }

/* The total of the table, read by counting a connection of an address no
 * test uses and taking it back. */
static int total_of(sp_iptable *t) {
  sp_iptable_key probe = v6("2001:db8:ffff::1", 1);
  int total = -1;
  inc(t, probe, &total);
  dec(t, probe);
  return total - 1;
}

TEST(ipv4_mapped_into_ipv6_is_the_ipv4_key) {
  sp_iptable_key a = v4("192.0.2.7", 1000);
  ASSERT(keys_equal(a, v6("::ffff:192.0.2.7", 2000)));
  ASSERT(keys_equal(a, v4("192.0.2.7", 3000))); /* the port is no part */
  ASSERT(!keys_equal(a, v4("192.0.2.8", 1000)));
  /* The same four bytes in an IPv6 address that is not mapped. */
  ASSERT(!keys_equal(a, v6("::c000:207", 1000)));
  ASSERT(!keys_equal(a, v6("2001:db8::c000:207", 1000)));
  ASSERT(!keys_equal(v6("2001:db8::1", 1), v6("2001:db8::2", 1)));

  sp_iptable *t = sp_iptable_new();
  ASSERT(t != NULL);
  int total = 0;
  ASSERT_EQ(inc(t, a, &total), 1);
  ASSERT_EQ(total, 1);
  ASSERT_EQ(inc(t, v6("::ffff:192.0.2.7", 5), &total), 2);
  ASSERT_EQ(total, 2);
  ASSERT_EQ(inc(t, v6("::c000:207", 5), &total), 1);
  ASSERT_EQ(total, 3);
  dec(t, v6("::ffff:192.0.2.7", 6));
  ASSERT_EQ(inc(t, a, &total), 2);
  ASSERT_EQ(total, 3);
  sp_iptable_free(t);
}

TEST(other_families_share_the_zero_key) {
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  sp_iptable_key k, zero = {{0}};
  memset(&k, 0xab, sizeof k);
  sp_iptable_key_from(&k, (struct sockaddr *)&un);
  ASSERT(keys_equal(k, zero));
  ASSERT(keys_equal(v6("::", 1), zero));
}

TEST(counts_per_address_and_in_all) {
  sp_iptable *t = sp_iptable_new();
  ASSERT(t != NULL);
  sp_iptable_key a = v4("198.51.100.1", 1), b = v6("2001:db8::b", 1);
  int total = 0;
  for (int i = 1; i <= 3; i++) {
    ASSERT_EQ(inc(t, a, &total), i);
    ASSERT_EQ(total, i);
  }
  ASSERT_EQ(inc(t, b, &total), 1);
  ASSERT_EQ(total, 4);
  dec(t, a);
  ASSERT_EQ(total_of(t), 3);
  ASSERT_EQ(inc(t, a, &total), 3);
  ASSERT_EQ(total, 4);
  dec(t, a);
  dec(t, a);
  dec(t, a);
  ASSERT_EQ(total_of(t), 1);
  /* a is at zero: counted from one again, b untouched. */
  ASSERT_EQ(inc(t, a, &total), 1);
  ASSERT_EQ(total, 2);
  ASSERT_EQ(inc(t, b, &total), 2);
  dec(t, a);
  dec(t, b);
  dec(t, b);
  ASSERT_EQ(total_of(t), 0);
  sp_iptable_free(t);
}

#define MANY 20000 /* addresses: far more than the table's 4096 buckets */

TEST(many_colliding_addresses_keep_their_counts) {
  sp_iptable *t = sp_iptable_new();
  ASSERT(t != NULL);
  int total = 0, want = 0;
  for (int i = 0; i < MANY; i++)
    for (int c = 1; c <= i % 3 + 1; c++) {
      ASSERT_EQ(inc(t, nth(i), &total), c);
      ASSERT_EQ(total, ++want);
    }
  /* Take every third address away, in the opposite order from the one
   * they came in: each is at the head, in the middle or at the tail of
   * some chain. */
  for (int i = MANY - 1; i >= 0; i--)
    if (i % 3 == 1) {
      dec(t, nth(i));
      dec(t, nth(i));
      want -= 2;
    }
  ASSERT_EQ(total_of(t), want);
  for (int i = 0; i < MANY; i++) {
    int now = i % 3 == 1 ? 0 : i % 3 + 1;
    int got = inc(t, nth(i), &total);
    if (got != now + 1)
      FAILF("address %d: count %d after inc, want %d", i, got, now + 1);
    dec(t, nth(i));
  }
  for (int i = 0; i < MANY; i++)
    for (int c = 0; i % 3 != 1 && c < i % 3 + 1; c++)
      dec(t, nth(i));
  ASSERT_EQ(total_of(t), 0);
  sp_iptable_free(t);
}

TEST(entries_freed_at_zero) {
  /* The table holds memory only for addresses that have connections: a
   * crowd of addresses that came and went leaves nothing behind. */
  sp_iptable *t = sp_iptable_new();
  ASSERT(t != NULL);
  int total;
  for (int i = 0; i < 100; i++) /* let the allocator settle */
    inc(t, nth(i), &total);
  for (int i = 0; i < 100; i++)
    dec(t, nth(i));
  size_t before = heap_in_use();
  for (int i = 0; i < MANY; i++)
    inc(t, nth(i), &total);
  size_t full = heap_in_use();
  for (int i = 0; i < MANY; i++)
    dec(t, nth(i));
  size_t after = heap_in_use();
  sp_iptable_free(t);
  ASSERT(full >= before + MANY * sizeof(sp_iptable_key));
  /* The allocator may keep a few freed chunks in its caches. */
  ASSERT(after <= before + 4096);
}

/* ---- several threads --------------------------------------------------- */

#define THREADS 4
#define ITERS 20000
#define OWN 8    /* addresses only one thread counts */
#define SHARED 4 /* addresses every thread counts */

typedef struct worker {
  sp_iptable *t;
  uv_barrier_t *start;
  uv_thread_t thread;
  int id;
  int errors, first_error;
} worker;

static sp_iptable_key own_key(int thread, int k) {
  char s[32];
  snprintf(s, sizeof s, "172.16.%d.%d", thread, k);
  return v4(s, 1);
}

static sp_iptable_key shared_key(int k) {
  char s[32];
  snprintf(s, sizeof s, "2001:db8:5::%d", k);
  return v6(s, 1);
}

static void fail_at(worker *w, int i) {
  if (w->errors++ == 0)
    w->first_error = i;
}

/* Only this thread counts its own addresses, so it knows their counts
 * exactly whatever the others do; the total is at least what it holds. */
static void work(void *arg) {
  worker *w = arg;
  int held[OWN] = {0}, held_all = 0, total;
  uv_barrier_wait(w->start);
  for (int i = 0; i < ITERS; i++) {
    int k = i % OWN;
    if (held[k] < 3) {
      sp_iptable_key o = own_key(w->id, k);
      if (inc(w->t, o, &total) != ++held[k] || total < ++held_all)
        fail_at(w, i);
    } else {
      for (; held[k] > 0; held[k]--, held_all--)
        dec(w->t, own_key(w->id, k));
    }
    sp_iptable_key s = shared_key(i % SHARED);
    int n = inc(w->t, s, &total);
    if (n < 1 || n > THREADS || total < held_all + 1)
      fail_at(w, i);
    dec(w->t, s);
  }
  for (int k = 0; k < OWN; k++)
    for (; held[k] > 0; held[k]--)
      dec(w->t, own_key(w->id, k));
}

TEST(concurrent_counts_end_at_zero) {
  sp_iptable *t = sp_iptable_new();
  ASSERT(t != NULL);
  uv_barrier_t start;
  ASSERT_EQ(uv_barrier_init(&start, THREADS), 0);
  worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (worker){.t = t, .start = &start, .id = i};
    ASSERT_EQ(uv_thread_create(&w[i].thread, work, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++)
    uv_thread_join(&w[i].thread);
  uv_barrier_destroy(&start);
  for (int i = 0; i < THREADS; i++)
    if (w[i].errors)
      FAILF("thread %d: %d errors, first at iteration %d", i, w[i].errors,
            w[i].first_error);
  ASSERT_EQ(total_of(t), 0);
  /* Every address is back at zero: counted from one again. */
  int total, bad = 0;
  for (int i = 0; i < THREADS; i++)
    for (int k = 0; k < OWN; k++) {
      bad += inc(t, own_key(i, k), &total) != 1;
      dec(t, own_key(i, k));
    }
  for (int k = 0; k < SHARED; k++) {
    bad += inc(t, shared_key(k), &total) != 1;
    dec(t, shared_key(k));
  }
  sp_iptable_free(t);
  ASSERT_EQ(bad, 0);
}

int main(void) {
  RUN(ipv4_mapped_into_ipv6_is_the_ipv4_key);
  RUN(other_families_share_the_zero_key);
  RUN(counts_per_address_and_in_all);
  RUN(many_colliding_addresses_keep_their_counts);
  RUN(entries_freed_at_zero);
  RUN(concurrent_counts_end_at_zero);
  return TEST_SUMMARY();
}
