#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>

const char *sp_strerror(int err) {
  switch (err) {
  case 0: return "success";
  case SP_EFULL: return "limit reached";
  case SP_ECLOSED: return "closing";
  default: return uv_strerror(err);
  }
}

void sp__assert_fail(const char *expr, const char *file, int line) {
  fprintf(stderr, "snakepit: assertion failed: %s (%s:%d)\n", expr, file, line);
  abort();
}
