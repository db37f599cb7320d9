/* buf: a growable byte buffer for building messages. Appends never fail
 * loudly: on allocation failure the buffer is marked `failed` and further
 * appends are ignored, so a whole message can be built and checked once. */
#ifndef SP_BUF_H
#define SP_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct sp_buf {
  char *data;
  size_t len, cap;
  int failed;
} sp_buf;

#define SP_BUF_INIT                                                            \
  { NULL, 0, 0, 0 }

void sp_buf_free(sp_buf *b);
/* Empties the buffer but keeps its memory for the next message. */
void sp_buf_reset(sp_buf *b);
int sp_buf_grow(sp_buf *b, size_t extra);
/* Makes room for `extra` more bytes; 0, or -1 once the buffer failed. */
static inline int sp_buf_reserve(sp_buf *b, size_t extra) {
  if (!b->failed && b->len + extra <= b->cap)
    return 0;
  return sp_buf_grow(b, extra);
}
void sp_buf_put(sp_buf *b, const void *p, size_t n);
void sp_buf_puts(sp_buf *b, const char *s);
/* Inline: the encoders call it for every bracket and comma. */
static inline void sp_buf_putc(sp_buf *b, char c) {
  if (sp_buf_reserve(b, 1) == 0)
    b->data[b->len++] = c;
}
void sp_buf_printf(sp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sp_buf_put_uint(sp_buf *b, uint64_t v);

#endif
