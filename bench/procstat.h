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

/* The whole machine's CPU time from the first line of /proc/stat, in
 * seconds summed over all CPUs: busy (user, nice, system, irq, softirq,
 * steal) and idle (idle, iowait). */
typedef struct sb_machine {
  double busy_s, idle_s;
  int cpus; /* online CPUs */
} sb_machine;

/* Returns 0, or -1 when /proc/stat is unreadable. */
int sb_machine_sample(sb_machine *out);

#endif
