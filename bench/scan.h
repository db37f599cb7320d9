/* scan.h: just enough JSON to walk the server's frames.
 *
 * Server frames are arrays of commands, each an array whose first element is
 * the command's name: [["render",1,2,"%",3],["p_score",4,10]]. The load
 * generator must read thousands of them per second, so this is a cursor that
 * skips what it does not need instead of building a tree. It validates only
 * what it walks over; a malformed frame makes the walk stop with -1.
 */
#ifndef SB_SCAN_H
#define SB_SCAN_H

#include <stddef.h>

typedef struct sb_cur {
  const char *p;
  const char *end;
} sb_cur;

void sb_cur_init(sb_cur *c, const char *p, size_t n);
void sb_skip_ws(sb_cur *c);
/* Skips white space; if the next character is CH, consumes it and returns 1,
 * else returns 0 and leaves the cursor on that character. */
int sb_accept(sb_cur *c, char ch);
/* Skips one JSON value (string, number, literal, array or object). Returns 0,
 * or -1 when the input ends first or is not JSON. */
int sb_skip_value(sb_cur *c);
/* Reads an integer (no fraction, no exponent). Returns 0 or -1. */
int sb_read_int(sb_cur *c, long *out);
/* Reads a string and returns its raw content (escapes left as they are).
 * Returns 0 or -1. */
int sb_read_string(sb_cur *c, const char **s, size_t *n);

/* Walks the commands of one frame. */
typedef struct sb_cmd_iter {
  sb_cur c;
  int state; /* 0 before '[', 1 inside, 2 done. */
} sb_cmd_iter;

void sb_cmd_iter_init(sb_cmd_iter *it, const char *p, size_t n);
/* Returns 1 with the next command's NAME (raw, not NUL-terminated) and a
 * cursor ARGS positioned after the name and bounded just before the command's
 * closing ']' (so each argument is read as sb_accept(',') then a value, and
 * the cursor is at its end after the last one); 0 at the end of the frame;
 * -1 when the frame is not an array of commands. An element that is an array
 * not starting with a string is returned with an empty name. */
int sb_cmd_next(sb_cmd_iter *it, const char **name, size_t *name_len,
                sb_cur *args);

#endif
