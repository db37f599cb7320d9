#include "net/frame.h"

#include <stdlib.h>
#include <string.h>

size_t sp_frame_header_len(size_t n) {
  return n < 126 ? 2 : n < 65536 ? 4 : 10;
}

size_t sp_frame_write_header(uint8_t *out, uint8_t opcode, size_t n) {
  out[0] = (uint8_t)(0x80 | opcode);
  if (n < 126) {
    out[1] = (uint8_t)n;
    return 2;
  }
  if (n < 65536) {
    out[1] = 126;
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++)
    out[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
  return 10;
}

sp_frame *sp_frame_alloc(size_t n) {
  if (n > UINT32_MAX - 16)
    return NULL;
  sp_frame *f = malloc(sizeof *f + n);
  if (!f)
    return NULL;
  atomic_init(&f->refs, 1);
  f->len = (uint32_t)n;
  f->bytes = f->data;
  return f;
}

sp_frame *sp_frame_new(uint8_t opcode, const void *payload, size_t n) {
  size_t h = sp_frame_header_len(n);
  sp_frame *f = sp_frame_alloc(h + n);
  if (!f)
    return NULL;
  sp_frame_write_header(f->data, opcode, n);
  if (n)
    memcpy(f->data + h, payload, n);
  return f;
}

sp_frame *sp_frame_raw(const void *bytes, size_t n) {
  sp_frame *f = sp_frame_alloc(n);
  if (f && n)
    memcpy(f->data, bytes, n);
  return f;
}

size_t sp_frame_write_close(uint8_t out[SP_FRAME_CLOSE_LEN], uint16_t code) {
  sp_frame_write_header(out, SP_WS_OP_CLOSE, 2);
  out[2] = (uint8_t)(code >> 8);
  out[3] = (uint8_t)code;
  return SP_FRAME_CLOSE_LEN;
}

sp_frame *sp_frame_close(uint16_t code) {
  sp_frame *f = sp_frame_alloc(SP_FRAME_CLOSE_LEN);
  if (f)
    sp_frame_write_close(f->data, code);
  return f;
}

void sp_frame_unref(sp_frame *f) {
  if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
    free(f);
}
