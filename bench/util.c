/* util.c: see util.h. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void sb_die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("snakepit-bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}
