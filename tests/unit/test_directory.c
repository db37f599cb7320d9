/* Unit tests of the room directory (src/room/directory.h): which loop owns
 * which room. Placement is checked against a model of the per-loop loads
 * (a new room goes to a loop with the fewest rooms, whichever of several
 * tied ones the directory picks), and the JSON views exactly. The
 * concurrency test routes and leaves from several threads at once, then
 * checks that nothing is left behind. */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "core/buf.h"
#include "core/fault.h"
#include "room/directory.h"
#include "test.h"

#define NLOOPS 3

/* The directory and the test's model of how many rooms each loop owns. */
typedef struct fixture {
  sp_directory *d;
  size_t model[NLOOPS];
  sp_buf out;
} fixture;

static fixture fx;

static int setup(void) {
  memset(&fx, 0, sizeof fx);
  return sp_directory_new(NLOOPS, &fx.d);
}

static void teardown(void) {
  sp_directory_free(fx.d);
  sp_buf_free(&fx.out);
  fx.d = NULL;
}

static const char *loads(void) {
  sp_buf_reset(&fx.out);
  sp_directory_loads_json(fx.d, &fx.out);
  sp_buf_putc(&fx.out, '\0');
  return fx.out.data;
}

static const char *model_loads(void) {
  static char s[64];
  size_t o = 0;
  for (int i = 0; i < NLOOPS; i++)
    o +=
        (size_t)snprintf(s + o, sizeof s - o, i ? ",%zu" : "[%zu", fx.model[i]);
  snprintf(s + o, sizeof s - o, "]");
  return s;
}

static const char *listing(void) {
  sp_buf_reset(&fx.out);
  sp_directory_json(fx.d, &fx.out);
  sp_buf_putc(&fx.out, '\0');
  return fx.out.data;
}

static size_t model_min(void) {
  size_t m = fx.model[0];
  for (int i = 1; i < NLOOPS; i++)
    if (fx.model[i] < m)
      m = fx.model[i];
  return m;
}

/* Routes a name that has no room yet: returns the loop it went to, after
 * checking that it was one of the least loaded, or -1. */
static int route_new(const char *name, sp_room_ref *ref) {
  size_t min = model_min();
  if (sp_directory_route(fx.d, name, ref) != 0)
    return -1;
  if (ref->loop < 0 || ref->loop >= NLOOPS || fx.model[ref->loop] != min)
    return -1;
  fx.model[ref->loop]++;
  return ref->loop;
}

TEST(new_rooms_go_to_the_least_loaded_loop) {
  ASSERT_EQ(setup(), 0);
  sp_room_ref a, b, c, d, e;
  ASSERT_STR_EQ(loads(), "[0,0,0]");
  int la = route_new("a", &a);
  int lb = route_new("b", &b);
  int lc = route_new("c", &c);
  ASSERT(la >= 0 && lb >= 0 && lc >= 0);
  /* Three rooms on three loops: one each. */
  ASSERT(la != lb && lb != lc && la != lc);
  ASSERT_STR_EQ(loads(), "[1,1,1]");
  int ld = route_new("d", &d);
  ASSERT(ld >= 0);
  ASSERT_STR_EQ(loads(), model_loads());
  /* A room leaves a loop other than d's: that loop is then the only one
   * without a room, and the next new room must go there. */
  sp_room_ref *gone = la != ld ? &a : &b;
  int lgone = gone->loop;
  ASSERT_EQ(sp_directory_leave(fx.d, gone->uid), 0);
  fx.model[lgone]--;
  ASSERT_STR_EQ(loads(), model_loads());
  ASSERT_EQ(route_new("e", &e), lgone);
  ASSERT_STR_EQ(loads(), model_loads());
  ASSERT_EQ(sp_directory_rooms(fx.d), 4);
  teardown();
}

TEST(route_of_an_existing_room_same_loop_and_uid) {
  ASSERT_EQ(setup(), 0);
  sp_room_ref x, y, again;
  ASSERT(route_new("x", &x) >= 0);
  ASSERT(route_new("y", &y) >= 0);
  ASSERT(x.uid != y.uid);
  for (int i = 0; i < 5; i++) {
    ASSERT_EQ(sp_directory_route(fx.d, "x", &again), 0);
    ASSERT_EQ(again.loop, x.loop);
    ASSERT_EQ(again.uid, x.uid);
  }
  /* Connections are not rooms: the loads did not move. */
  ASSERT_STR_EQ(loads(), model_loads());
  ASSERT_EQ(sp_directory_rooms(fx.d), 2);
  teardown();
}

TEST(leave_returns_the_connections_left) {
  ASSERT_EQ(setup(), 0);
  sp_room_ref r;
  for (int i = 0; i < 5; i++)
    ASSERT_EQ(sp_directory_route(fx.d, "room", &r), 0);
  for (size_t left = 4; left + 1 > 0; left--)
    ASSERT_EQ(sp_directory_leave(fx.d, r.uid), left);
  ASSERT_EQ(sp_directory_rooms(fx.d), 0);
  ASSERT_STR_EQ(loads(), "[0,0,0]");
  teardown();
}

TEST(room_gone_at_zero_and_made_again_with_a_new_uid) {
  ASSERT_EQ(setup(), 0);
  sp_room_ref p1, q, s, p2;
  int lp = route_new("p", &p1);
  int lq = route_new("q", &q);
  ASSERT(lp >= 0 && lq >= 0);
  ASSERT_EQ(sp_directory_leave(fx.d, p1.uid), 0);
  fx.model[lp]--;
  ASSERT_EQ(sp_directory_rooms(fx.d), 1);
  ASSERT(strstr(listing(), "\"p\"") == NULL);
  /* Load p's old loop again, so that p's next life goes elsewhere. */
  ASSERT_EQ(route_new("s", &s), lp);
  int lp2 = route_new("p", &p2);
  ASSERT(lp2 >= 0);
  ASSERT(lp2 != lp);
  ASSERT(p2.uid != p1.uid);
  ASSERT(p2.uid != q.uid && p2.uid != s.uid);
  ASSERT_STR_EQ(loads(), model_loads());
  /* Same name, same life: the new uid from now on. */
  sp_room_ref again;
  ASSERT_EQ(sp_directory_route(fx.d, "p", &again), 0);
  ASSERT_EQ(again.uid, p2.uid);
  ASSERT_EQ(again.loop, lp2);
  teardown();
}

TEST(uids_are_never_reused) {
  ASSERT_EQ(setup(), 0);
  uint64_t seen[200];
  for (int i = 0; i < 200; i++) {
    sp_room_ref r;
    ASSERT_EQ(sp_directory_route(fx.d, i % 2 ? "odd" : "even", &r), 0);
    seen[i] = r.uid;
    for (int j = 0; j < i; j++)
      ASSERT(seen[j] != r.uid);
    ASSERT_EQ(sp_directory_leave(fx.d, r.uid), 0);
  }
  teardown();
}

TEST(json_listing_oldest_first_with_counts) {
  ASSERT_EQ(setup(), 0);
  ASSERT_STR_EQ(listing(), "{\"rooms\":[]}");
  sp_room_ref a, b, c, tmp;
  ASSERT_EQ(sp_directory_route(fx.d, "alpha", &a), 0);
  ASSERT_EQ(sp_directory_route(fx.d, "alpha", &tmp), 0);
  ASSERT_EQ(sp_directory_route(fx.d, "beta", &b), 0);
  ASSERT_EQ(sp_directory_route(fx.d, "gamma", &c), 0);
  ASSERT_EQ(sp_directory_route(fx.d, "gamma", &tmp), 0);
  ASSERT_EQ(sp_directory_route(fx.d, "gamma", &tmp), 0);
  sp_directory_set_snakes(fx.d, b.uid, 4);
  sp_directory_set_snakes(fx.d, c.uid, 1);
  sp_directory_set_snakes(fx.d, 999999, 7); /* no such room: ignored */
  ASSERT_STR_EQ(listing(),
                "{\"rooms\":["
                "{\"name\":\"alpha\",\"connections\":2,\"snakes\":0},"
                "{\"name\":\"beta\",\"connections\":1,\"snakes\":4},"
                "{\"name\":\"gamma\",\"connections\":3,\"snakes\":1}"
                "]}");
  /* Leaving and coming back makes alpha the newest room. */
  ASSERT_EQ(sp_directory_leave(fx.d, a.uid), 1);
  ASSERT_EQ(sp_directory_leave(fx.d, a.uid), 0);
  ASSERT_EQ(sp_directory_route(fx.d, "alpha", &a), 0);
  sp_directory_set_snakes(fx.d, c.uid, 0);
  ASSERT_STR_EQ(listing(),
                "{\"rooms\":["
                "{\"name\":\"beta\",\"connections\":1,\"snakes\":4},"
                "{\"name\":\"gamma\",\"connections\":3,\"snakes\":0},"
                "{\"name\":\"alpha\",\"connections\":1,\"snakes\":0}"
                "]}");
  /* The last room of the list leaves, then the first: the list holds. */
  ASSERT_EQ(sp_directory_leave(fx.d, a.uid), 0);
  ASSERT_EQ(sp_directory_leave(fx.d, b.uid), 0);
  ASSERT_EQ(sp_directory_route(fx.d, "delta", &tmp), 0);
  ASSERT_STR_EQ(listing(),
                "{\"rooms\":["
                "{\"name\":\"gamma\",\"connections\":3,\"snakes\":0},"
                "{\"name\":\"delta\",\"connections\":1,\"snakes\":0}"
                "]}");
  teardown();
}

TEST(longest_room_name_kept_whole) {
  /* Room names are 1 to 32 characters (PROTOCOL.md); all 32 count. */
  ASSERT_EQ(setup(), 0);
  const char *n32 = "abcdefghijklmnopqrstuvwxyz012345";
  const char *other = "abcdefghijklmnopqrstuvwxyz012346";
  sp_room_ref a, b, again;
  ASSERT_EQ(strlen(n32), 32);
  ASSERT_EQ(sp_directory_route(fx.d, n32, &a), 0);
  ASSERT_EQ(sp_directory_route(fx.d, other, &b), 0);
  ASSERT(a.uid != b.uid);
  ASSERT_EQ(sp_directory_route(fx.d, n32, &again), 0);
  ASSERT_EQ(again.uid, a.uid);
  ASSERT(strstr(listing(), "\"name\":\"abcdefghijklmnopqrstuvwxyz012345\"") !=
         NULL);
  teardown();
}

TEST(failed_route_counts_nothing) {
  /* The directory_route fault point fails every second new room. */
  setenv("SNAKEPIT_TEST_FAULTS", "directory_route", 1);
  sp_fault_init();
  int ok = setup() == 0;
  sp_room_ref a, b, c;
  int r1 = ok ? sp_directory_route(fx.d, "a", &a) : -1;
  int r2 = ok ? sp_directory_route(fx.d, "b", &b) : -1;
  int r3 = ok ? sp_directory_route(fx.d, "b", &c) : -1;
  unsetenv("SNAKEPIT_TEST_FAULTS");
  sp_fault_init();
  ASSERT(ok);
  ASSERT_EQ(r1, 0);
  ASSERT_EQ(r2, UV_ENOMEM);
  ASSERT_EQ(r3, 0);
  ASSERT_EQ(sp_directory_rooms(fx.d), 2);
  ASSERT_EQ(sp_directory_leave(fx.d, c.uid), 0);
  ASSERT_EQ(sp_directory_leave(fx.d, a.uid), 0);
  ASSERT_STR_EQ(loads(), "[0,0,0]");
  teardown();
}

/* Leaving a room more often than it was routed is a bug of the caller's;
 * the directory must not take it out of another life of the same name. */
static void leave_twice(void) {
  sp_directory *d;
  sp_room_ref old, now;
  if (sp_directory_new(2, &d) != 0 || sp_directory_route(d, "r", &old) != 0)
    _exit(3);
  sp_directory_leave(d, old.uid);
  if (sp_directory_route(d, "r", &now) != 0)
    _exit(3);
  sp_directory_leave(d, old.uid); /* gone: must abort */
  _exit(0);
}

TEST(leaving_a_gone_room_aborts) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stderr);
    leave_twice();
  }
  int st = 0;
  ASSERT(pid > 0);
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT(WIFSIGNALED(st));
  ASSERT_EQ(WTERMSIG(st), SIGABRT);
}

/* ---- concurrency ------------------------------------------------------- */

#define THREADS 4
#define ITERS 20000
#define SHARED 3 /* names every thread uses */
#define OWN 4    /* names only one thread uses */

typedef struct worker {
  sp_directory *d;
  uv_barrier_t *start;
  uv_thread_t thread;
  int id;
  int errors;      /* broken properties seen */
  int first_error; /* the iteration of the first */
} worker;

static void fail_at(worker *w, int i) {
  if (w->errors++ == 0)
    w->first_error = i;
}

/* Each iteration holds a connection to a name while it routes it again
 * (the room cannot have gone: same loop and uid, and leave says at least
 * one is left). For its own names a thread also knows that its last leave
 * takes the room away, and that the next life gets a new uid. */
static void work(void *arg) {
  worker *w = arg;
  uint64_t last_own[OWN] = {0};
  char name[16];
  uv_barrier_wait(w->start);
  for (int i = 0; i < ITERS; i++) {
    int own = i % 2;
    int k = own ? (i / 2) % OWN : (i / 2) % SHARED;
    if (own)
      snprintf(name, sizeof name, "own%d-%d", w->id, k);
    else
      snprintf(name, sizeof name, "shared%d", k);
    sp_room_ref held, again;
    if (sp_directory_route(w->d, name, &held) != 0 ||
        sp_directory_route(w->d, name, &again) != 0) {
      fail_at(w, i);
      continue;
    }
    if (held.loop < 0 || held.loop >= NLOOPS || again.uid != held.uid ||
        again.loop != held.loop)
      fail_at(w, i);
    if (sp_directory_leave(w->d, again.uid) < 1)
      fail_at(w, i);
    size_t left = sp_directory_leave(w->d, held.uid);
    if (own) {
      if (left != 0 || held.uid == last_own[k])
        fail_at(w, i);
      last_own[k] = held.uid;
    }
  }
}

/* Reads both views while the workers change them: each must be whole,
 * with no loop owning more rooms than there are names. */
static void read_views(void *arg) {
  worker *w = arg;
  sp_buf b = SP_BUF_INIT;
  uv_barrier_wait(w->start);
  for (int i = 0; i < ITERS; i++) {
    sp_buf_reset(&b);
    sp_directory_loads_json(w->d, &b);
    sp_buf_putc(&b, '\0');
    size_t n[NLOOPS];
    if (sscanf(b.data, "[%zu,%zu,%zu]", &n[0], &n[1], &n[2]) != NLOOPS ||
        n[0] + n[1] + n[2] > SHARED + THREADS * OWN)
      fail_at(w, i);
    sp_buf_reset(&b);
    sp_directory_json(w->d, &b);
    sp_buf_putc(&b, '\0');
    if (strncmp(b.data, "{\"rooms\":[", 10) != 0 ||
        strcmp(b.data + b.len - 3, "]}") != 0)
      fail_at(w, i);
  }
  sp_buf_free(&b);
}

TEST(concurrent_route_and_leave_leave_nothing_behind) {
  sp_directory *d;
  ASSERT_EQ(sp_directory_new(NLOOPS, &d), 0);
  uv_barrier_t start;
  ASSERT_EQ(uv_barrier_init(&start, THREADS + 1), 0);
  worker w[THREADS + 1]; /* the last one reads */
  for (int i = 0; i <= THREADS; i++) {
    w[i] = (worker){.d = d, .start = &start, .id = i};
    ASSERT_EQ(
        uv_thread_create(&w[i].thread, i < THREADS ? work : read_views, &w[i]),
        0);
  }
  for (int i = 0; i <= THREADS; i++)
    uv_thread_join(&w[i].thread);
  uv_barrier_destroy(&start);
  sp_buf b = SP_BUF_INIT;
  sp_directory_loads_json(d, &b);
  sp_directory_json(d, &b);
  sp_buf_putc(&b, '\0');
  char got[128];
  snprintf(got, sizeof got, "%s", b.data);
  sp_buf_free(&b);
  size_t rooms = sp_directory_rooms(d);
  sp_directory_free(d);
  for (int i = 0; i <= THREADS; i++)
    if (w[i].errors)
      FAILF("thread %d: %d errors, first at iteration %d", i, w[i].errors,
            w[i].first_error);
  ASSERT_EQ(rooms, 0);
  ASSERT_STR_EQ(got, "[0,0,0]{\"rooms\":[]}");
}

int main(void) {
  RUN(leaving_a_gone_room_aborts); /* forks: first, with one thread */
  RUN(new_rooms_go_to_the_least_loaded_loop);
  RUN(route_of_an_existing_room_same_loop_and_uid);
  RUN(leave_returns_the_connections_left);
  RUN(room_gone_at_zero_and_made_again_with_a_new_uid);
  RUN(uids_are_never_reused);
  RUN(json_listing_oldest_first_with_counts);
  RUN(longest_room_name_kept_whole);
  RUN(failed_route_counts_nothing);
  RUN(concurrent_route_and_leave_leave_nothing_behind);
  return TEST_SUMMARY();
}
