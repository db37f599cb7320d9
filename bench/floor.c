/* floor: what one broadcast write costs on this machine, with no server logic.
 *
 * Opens N real TCP connections over 127.0.0.1 to a reader process that only
 * drains them, then, TICK_RATE times per second for the measured time, writes
 * the same ~300-byte WebSocket text frame to every one of them (one write(2)
 * per connection per tick, TCP_NODELAY, as a server does). The writer's CPU
 * time divided by the number of writes is the floor: loopback TCP charges the
 * kernel's work of both ends of the send to the sender, so no server can send
 * a frame for less. Prints a summary and one JSON line on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("floor: ", stderr);
  vfprintf(stderr, fmt, ap);
  if (errno)
    fprintf(stderr, ": %s", strerror(errno));
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv) {
  return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static double num_arg(const char *opt, const char *s, double lo, double hi) {
  char *end;
  double v;
  errno = 0;
  v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) {
    errno = 0;
    die("%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
  }
  return v;
}

static void raise_nofile(rlim_t need) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
    return;
  if (rl.rlim_max < need) {
    struct rlimit up = {need, need};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0)
      return;
  }
  rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
  setrlimit(RLIMIT_NOFILE, &rl);
}

/* The reader: accepts N connections on LFD and drains them until each is
 * closed. Its CPU time is not the writer's. */
static int reader(int lfd, int n, double time_limit) {
  static char buf[256 * 1024];
  int ep = epoll_create1(0), open = 0, accepted = 0;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, evs[256];
  double deadline = now_s() + time_limit;

  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
    die("reader: epoll");
  while ((accepted < n || open > 0) && now_s() < deadline) {
    int k = epoll_wait(ep, evs, 256, 1000);
    for (int i = 0; i < k; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          accepted++;
          open++;
        }
        continue;
      }
      for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0)
          continue;
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
          break;
        close(fd); /* EOF or error: the writer is done with it. */
        open--;
        break;
      }
    }
  }
  return 0;
}

/* A ~SIZE-byte text frame of render commands, as a server sends each tick. */
static size_t make_frame(unsigned char *out, size_t size) {
  char payload[70000];
  size_t plen = size > 4 ? size - 4 : 0, n = 0;
  int i = 0;

  if (plen < 126 || plen > 65535) {
    /* Keep the 4-byte header form so SIZE is the frame's exact length. */
    plen = plen < 126 ? 126 : 65535;
  }
  n += (size_t)snprintf(payload, sizeof payload, "[");
  while (n + 30 < plen) {
    n += (size_t)snprintf(payload + n, sizeof payload - n,
                          "%s[\"render\",%d,%d,\"%c\",%d]", i ? "," : "",
                          10 + i % 30, 5 + i % 15, "%@* "[i % 4], 1 + i % 6);
    i++;
  }
  while (n + 1 < plen)
    payload[n++] = ' ';
  payload[n++] = ']';
  out[0] = 0x81;
  out[1] = 126;
  out[2] = (unsigned char)(plen >> 8);
  out[3] = (unsigned char)plen;
  memcpy(out + 4, payload, plen);
  return plen + 4;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"conns", required_argument, NULL, 'n'},
      {"tick-rate", required_argument, NULL, 't'},
      {"duration", required_argument, NULL, 'd'},
      {"warmup", required_argument, NULL, 'w'},
      {"size", required_argument, NULL, 's'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int n = 1000, json_only = 0, opt, lfd, *fds;
  double tick_rate = 20, duration = 10, warmup = 1, interval, t_start, t_end,
         next;
  size_t size = 300, flen;
  unsigned char frame[70000];
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof addr;
  struct rusage ru0, ru1, rch;
  uint64_t writes = 0, failed = 0, ticks = 0, late = 0;
  pid_t child;
  int status;

  while ((opt = getopt_long(argc, argv, "n:t:d:w:s:jh", opts, NULL)) != -1) {
    switch (opt) {
    case 'n':
      n = (int)num_arg("--conns", optarg, 1, 200000);
      break;
    case 't':
      tick_rate = num_arg("--tick-rate", optarg, 0.1, 10000);
      break;
    case 'd':
      duration = num_arg("--duration", optarg, 0.1, 3600);
      break;
    case 'w':
      warmup = num_arg("--warmup", optarg, 0, 3600);
      break;
    case 's':
      size = (size_t)num_arg("--size", optarg, 130, 65539);
      break;
    case 'j':
      json_only = 1;
      break;
    case 'h':
      printf("usage: floor [--conns N] [--tick-rate HZ] [--duration S] "
             "[--warmup S] "
             "[--size BYTES] [--json]\n"
             "Writes one SIZE-byte WebSocket frame (default 300) per "
             "connection per tick\n"
             "to N loopback TCP connections and reports CPU microseconds per "
             "write.\n");
      return 0;
    default:
      return 2;
    }
  }
  raise_nofile((rlim_t)(2 * n + 64));
  signal(SIGPIPE, SIG_IGN);
  flen = make_frame(frame, size);
  interval = 1 / tick_rate;

  lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
      listen(lfd, 4096) < 0 ||
      getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0)
    die("listen on 127.0.0.1");
  child = fork();
  if (child < 0)
    die("fork");
  if (child == 0)
    _exit(reader(lfd, n, warmup + duration + 120));
  close(lfd);

  fds = calloc((size_t)n, sizeof *fds);
  if (!fds)
    die("out of memory");
  for (int i = 0; i < n; i++) {
    int one = 1;
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[i] < 0 ||
        connect(fds[i], (struct sockaddr *)&addr, sizeof addr) < 0)
      die("connection %d of %d", i + 1, n);
    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
  }

  /* Warm-up ticks, then the measured ones, on a fixed schedule. */
  next = now_s();
  t_start = next + warmup;
  t_end = t_start + duration;
  for (int measuring = 0;;) {
    double now = now_s();
    if (!measuring && now >= t_start) {
      measuring = 1;
      getrusage(RUSAGE_SELF, &ru0);
      t_start = now;
      t_end = now + duration;
    }
    if (measuring && now >= t_end)
      break;
    for (int i = 0; i < n; i++) {
      ssize_t r = write(fds[i], frame, flen);
      if (measuring) {
        if (r == (ssize_t)flen)
          writes++;
        else
          failed++;
      }
    }
    if (measuring)
      ticks++;
    next += interval;
    now = now_s();
    if (now > next) {
      if (measuring)
        late++;
      next = now; /* Do not burst to catch up. */
    } else {
      struct timespec ts = {(time_t)next, (long)((next - floor(next)) * 1e9)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
             EINTR)
        ;
    }
  }
  getrusage(RUSAGE_SELF, &ru1);
  t_end = now_s();
  for (int i = 0; i < n; i++)
    close(fds[i]);
  free(fds);
  if (wait4(child, &status, 0, &rch) < 0)
    memset(&rch, 0, sizeof rch);

  {
    double user = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime);
    double sys = tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);
    double cpu = user + sys, wall = t_end - t_start;
    double us = writes ? cpu * 1e6 / (double)writes : 0;
    double reader_cpu = tv_s(rch.ru_utime) + tv_s(rch.ru_stime);

    if (!json_only)
      printf("floor: %d connections, %zu-byte frame, %.4g ticks/s, %.1f s: "
             "%llu writes "
             "(%llu failed, %llu late ticks), writer cpu %.2f s (user %.2f, "
             "sys %.2f, "
             "%.0f%% of a core): %.2f us/write; reader cpu %.2f s in all\n",
             n, flen, tick_rate, wall, (unsigned long long)writes,
             (unsigned long long)failed, (unsigned long long)late, cpu, user,
             sys, 100 * cpu / wall, us, reader_cpu);
    printf(
        "{\"tool\":\"floor\",\"version\":1,\"conns\":%d,\"frame_bytes\":%zu,"
        "\"tick_rate\":%g,"
        "\"duration_s\":%.3f,\"ticks\":%llu,\"writes\":%llu,\"failed_writes\":%"
        "llu,"
        "\"late_ticks\":%llu,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"cpu_s\":%"
        ".3f,"
        "\"cpu_pct\":%.1f,\"cpu_us_per_write\":%.3f,\"reader_cpu_s\":%.3f}\n",
        n, flen, tick_rate, wall, (unsigned long long)ticks,
        (unsigned long long)writes, (unsigned long long)failed,
        (unsigned long long)late, user, sys, cpu, 100 * cpu / wall, us,
        reader_cpu);
  }
  return writes > 0 ? 0 : 1;
}
