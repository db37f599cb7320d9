#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>

const char *sp_strerror(int err) {
  switch (err) {
  case SP_OK: return "success";
  case SP_ENOMEM: return "out of memory";
  case SP_EINVAL: return "invalid argument";
  case SP_EFULL: return "limit reached";
  case SP_EEXIST: return "already exists";
  case SP_ENOENT: return "not found";
  case SP_EIO: return "storage error";
  case SP_ECLOSED: return "closing";
  default: return "unknown error";
  }
}

void sp__assert_fail(const char *expr, const char *file, int line) {
  fprintf(stderr, "snakepit: assertion failed: %s (%s:%d)\n", expr, file, line);
  abort();
}
