/* procstat.h: CPU time and memory of the server, of this process and of the
 * whole machine, sampled at one moment; figures are the differences between
 * two samples. */
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

/* This process's own user + system CPU time, in seconds (getrusage). */
double sb_own_cpu_s(void);

/* Everything at one moment: the server (when there is a pid to read), this
 * process and the machine. An *_ok of 0 means that part is missing. */
typedef struct sb_sample {
  sb_proc srv;
  int srv_ok;
  double own_cpu_s;
  sb_machine mach;
  int mach_ok;
} sb_sample;

/* SERVER_PID 0: no server to sample. */
void sb_sample_take(sb_sample *s, int server_pid);

#endif
