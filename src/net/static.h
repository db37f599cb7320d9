/* static: which file a request path names, and reading it.
 *
 * The client's files sit flat in one directory, so a valid path is "/" or
 * "/NAME" where NAME, once percent-decoded, is a single file name. Anything
 * that could reach elsewhere ("..", encoded slashes or backslashes, NUL
 * bytes, absolute or empty names) is refused before any file is touched. */
#ifndef SP_STATIC_H
#define SP_STATIC_H

#include <stddef.h>

#include "net/assets.h"

#define SP_STATIC_MAX_NAME 255
#define SP_STATIC_MAX_FILE (16 * 1024 * 1024)

/* Maps path (without the query) to a file name in name[SP_STATIC_MAX_NAME+1].
 * Returns 0, or the HTTP status to answer: 400 for a path that tries to
 * leave the directory or is malformed, 404 for names never served (hidden
 * files). "/" maps to "index.html". */
int sp_static_path(const char *path, char *name);

const char *sp_static_content_type(const char *name);

/* The built-in copy of a file, or NULL. */
const struct sp_asset *sp_static_builtin(const char *name);

/* Reads DIR/NAME: a regular file directly inside DIR, never through a
 * symbolic link. Blocking: call it from the thread pool. On success returns
 * 0 and a malloc'd *data the caller frees; otherwise 404 or 500. */
int sp_static_read(const char *dir, const char *name, char **data, size_t *len);

#endif
