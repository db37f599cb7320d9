/* frame: an encoded server-to-client WebSocket frame, refcounted so that the
 * same bytes can be queued on every member of a room without a copy.
 *
 * Server frames are never masked (RFC 6455 5.1), which is what makes one
 * encoding byte-identical for every recipient. A frame is immutable once
 * made; each queue that holds it owns one reference, and the last
 * sp_frame_unref() frees it. References are atomic: a frame may be shared
 * by connections on several loops. */
#ifndef SP_FRAME_H
#define SP_FRAME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SP_WS_OP_TEXT 0x1
#define SP_WS_OP_BINARY 0x2
#define SP_WS_OP_CLOSE 0x8
#define SP_WS_OP_PING 0x9
#define SP_WS_OP_PONG 0xA

typedef struct sp_frame {
  atomic_uint refs;
  uint32_t len;   /* bytes on the wire, header included */
  uint8_t *bytes; /* points into data[] */
  uint8_t data[];
} sp_frame;

/* Size of the frame header for a payload of n bytes (2, 4 or 10). */
size_t sp_frame_header_len(size_t n);
/* Writes the header of an unmasked final frame into out (which has room for
 * sp_frame_header_len(n) bytes) and returns its length. */
size_t sp_frame_write_header(uint8_t *out, uint8_t opcode, size_t n);

/* A new frame holding `opcode` and a copy of the payload, with one reference
 * owned by the caller. NULL when out of memory. */
sp_frame *sp_frame_new(uint8_t opcode, const void *payload, size_t n);
/* A frame holding bytes that are already a complete encoding (e.g. wslay's
 * control frames); one reference owned by the caller. */
sp_frame *sp_frame_raw(const void *bytes, size_t n);
/* A frame of n bytes left for the caller to fill (e.g. an HTTP response)
 * before anyone else sees it; one reference owned by the caller. */
sp_frame *sp_frame_alloc(size_t n);

/* A close frame carries a 2-byte status code and, from us, no reason. */
#define SP_FRAME_CLOSE_LEN 4
/* Writes the close frame for `code` into out; returns SP_FRAME_CLOSE_LEN. */
size_t sp_frame_write_close(uint8_t out[SP_FRAME_CLOSE_LEN], uint16_t code);
/* The close frame for `code` as a frame (NULL when out of memory). */
sp_frame *sp_frame_close(uint16_t code);

static inline sp_frame *sp_frame_ref(sp_frame *f) {
  atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
  return f;
}
void sp_frame_unref(sp_frame *f);

#endif
