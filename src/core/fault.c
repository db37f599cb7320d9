#include "core/fault.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SP_FAULT_MAX 16

static struct {
  char name[32];
  atomic_uint hits;
} sp__points[SP_FAULT_MAX];
static int sp__npoints;
static unsigned sp__max = ~0u; /* failures per point */

void sp_fault_init(void) {
  const char *env = getenv("SNAKEPIT_TEST_FAULTS");
  sp__npoints = 0;
  if (!env)
    return;
  const char *max = getenv("SNAKEPIT_TEST_FAULTS_MAX");
  if (max)
    sp__max = (unsigned)strtoul(max, NULL, 10);
  for (const char *p = env; *p && sp__npoints < SP_FAULT_MAX;) {
    size_t n = strcspn(p, ",");
    if (n > 0 && n < sizeof sp__points[0].name) {
      memcpy(sp__points[sp__npoints].name, p, n);
      sp__points[sp__npoints].name[n] = '\0';
      atomic_init(&sp__points[sp__npoints].hits, 0);
      sp__npoints++;
    }
    p += n;
    if (*p == ',')
      p++;
  }
}

int sp_fault(const char *point) {
  for (int i = 0; i < sp__npoints; i++)
    if (strcmp(sp__points[i].name, point) == 0) {
      unsigned n = atomic_fetch_add(&sp__points[i].hits, 1);
      return n % 2 == 1 && n / 2 < sp__max;
    }
  return 0;
}
