/* procstat.c: see procstat.h. */
#include "procstat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int sb_proc_sample(int pid, sb_proc *out) {
  char path[64], buf[4096], *p;
  unsigned long long utime, stime;
  long tck = sysconf(_SC_CLK_TCK);
  size_t n;
  FILE *f;

  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  f = fopen(path, "r");
  if (!f)
    return -1;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* The command name may hold spaces and parentheses: skip to the last ')'. */
  p = strrchr(buf, ')');
  if (!p ||
      sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
             &utime, &stime) != 2)
    return -1;
  out->cpu_s = (double)(utime + stime) / (double)(tck > 0 ? tck : 100);

  snprintf(path, sizeof path, "/proc/%d/status", pid);
  f = fopen(path, "r");
  if (!f)
    return -1;
  out->rss_kib = -1;
  while (fgets(buf, sizeof buf, f))
    if (strncmp(buf, "VmRSS:", 6) == 0) {
      out->rss_kib = strtol(buf + 6, NULL, 10);
      break;
    }
  fclose(f);
  return out->rss_kib >= 0 ? 0 : -1;
}

int sb_machine_sample(sb_machine *out) {
  unsigned long long v[8] = {0};
  long tck = sysconf(_SC_CLK_TCK);
  double hz = (double)(tck > 0 ? tck : 100);
  char buf[512];
  FILE *f = fopen("/proc/stat", "r");
  int ok;

  if (!f)
    return -1;
  /* cpu  user nice system idle iowait irq softirq steal [guest guest_nice]:
   * guest time is already part of user. */
  ok = fgets(buf, sizeof buf, f) != NULL &&
       sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
              &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) >= 4;
  fclose(f);
  if (!ok)
    return -1;
  out->busy_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
  out->idle_s = (double)(v[3] + v[4]) / hz;
  out->cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
  return 0;
}

double sb_own_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

void sb_sample_take(sb_sample *s, int server_pid) {
  s->srv_ok = server_pid > 0 && sb_proc_sample(server_pid, &s->srv) == 0;
  s->own_cpu_s = sb_own_cpu_s();
  s->mach_ok = sb_machine_sample(&s->mach) == 0;
}
