/* fault: failures injected on purpose, to test the paths that real
 * failures (out of memory, a loop that is stopping) would take.
 *
 * SNAKEPIT_TEST_FAULTS="point,point,..." makes each named point fail every
 * second time it is reached (the 2nd, 4th, ...), so that one run sees both
 * outcomes; SNAKEPIT_TEST_FAULTS_MAX=N stops each point after N failures.
 * Without the variable every check is one load of a flag. The points are named
 * where they are checked (grep sp_fault). */
#ifndef SP_FAULT_H
#define SP_FAULT_H

/* Reads SNAKEPIT_TEST_FAULTS; call once, before any thread starts. */
void sp_fault_init(void);
/* True when `point` must fail this time. Thread-safe. */
int sp_fault(const char *point);

#endif
