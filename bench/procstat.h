/* procstat.h: another process's CPU time and resident memory, from /proc. */
#ifndef SB_PROCSTAT_H
#define SB_PROCSTAT_H

typedef struct sb_proc {
  double cpu_s; /* utime + stime of all its threads, in seconds. */
  long rss_kib; /* VmRSS. */
} sb_proc;

/* Reads /proc/PID/stat and /proc/PID/status. Returns 0, or -1 when the
 * process is gone or unreadable. */
int sb_proc_sample(int pid, sb_proc *out);

#endif
