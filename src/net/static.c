#include "net/static.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/text.h"

int sp_static_path(const char *path, char *name) {
  if (path[0] != '/')
    return 400; /* absolute-form or garbage: we only serve origin-form */
  if (path[1] == '\0') {
    strcpy(name, "index.html");
    return 0;
  }
  size_t n = 0;
  for (const char *p = path + 1; *p; p++) {
    char c = *p;
    if (c == '%') {
      int hi = sp_hex_digit(p[1]), lo = hi < 0 ? -1 : sp_hex_digit(p[2]);
      if (hi < 0 || lo < 0)
        return 400;
      c = (char)(hi * 16 + lo);
      p += 2;
    }
    if (c == '\0' || c == '/' || c == '\\')
      return 400;
    if (n == SP_STATIC_MAX_NAME)
      return 404;
    name[n++] = c;
  }
  name[n] = '\0';
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return 400;
  if (name[0] == '.')
    return 404; /* hidden files are never part of the client */
  return 0;
}

const char *sp_static_content_type(const char *name) {
  static const struct {
    const char *ext, *type;
  } types[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
      {".woff2", "font/woff2"},
  };
  const char *dot = strrchr(name, '.');
  if (dot)
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      if (strcasecmp(dot, types[i].ext) == 0)
        return types[i].type;
  return "application/octet-stream";
}

const struct sp_asset *sp_static_builtin(const char *name) {
  for (const struct sp_asset *a = sp_web_assets; a->name; a++)
    if (strcmp(a->name, name) == 0)
      return a;
  return NULL;
}

int sp_static_read(const char *dir, const char *name, char **data,
                   size_t *len) {
  int status = 500;
  char *buf = NULL;
  /* Only plain names directly inside dir, whatever the caller checked. */
  if (name[0] == '\0' || name[0] == '.' || strchr(name, '/'))
    return 404;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return 500;
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    status = (errno == ENOENT || errno == ELOOP || errno == ENOTDIR ||
              errno == EISDIR || errno == EACCES)
                 ? 404
                 : 500;
    goto out_dir;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    status = 404;
    goto out_file;
  }
  if (st.st_size > SP_STATIC_MAX_FILE)
    goto out_file;
  size_t size = (size_t)st.st_size, got = 0;
  buf = malloc(size ? size : 1);
  if (!buf)
    goto out_file;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  *data = buf;
  *len = got;
  buf = NULL;
  status = 0;
out_file:
  free(buf);
  close(fd);
out_dir:
  close(dfd);
  return status;
}
