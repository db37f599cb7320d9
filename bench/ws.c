/* ws.c: client-side WebSocket framing and handshake digest (RFC 6455). */
#include "ws.h"

#include <string.h>

#include <openssl/evp.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void sb_ws_make_key(const uint8_t nonce[16], char key[SB_WS_KEY_LEN + 1]) {
  /* EVP_EncodeBlock writes 24 characters and a NUL for 16 bytes. */
  EVP_EncodeBlock((unsigned char *)key, nonce, 16);
}

int sb_ws_accept_for(const char *key, char accept[SB_WS_ACCEPT_LEN + 1]) {
  char buf[128];
  size_t klen = strlen(key);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;

  if (klen + sizeof WS_GUID > sizeof buf)
    return -1;
  memcpy(buf, key, klen);
  memcpy(buf + klen, WS_GUID, sizeof WS_GUID - 1);
  if (!EVP_Digest(buf, klen + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(),
                  NULL) ||
      mdlen != 20)
    return -1;
  EVP_EncodeBlock((unsigned char *)accept, md, 20);
  return 0;
}

size_t sb_ws_encode(uint8_t *out, size_t cap, int opcode, const void *payload,
                    size_t len, uint32_t mask) {
  size_t h = 0;
  uint8_t m[4] = {(uint8_t)(mask >> 24), (uint8_t)(mask >> 16),
                  (uint8_t)(mask >> 8), (uint8_t)mask};
  const uint8_t *src = payload;

  if (cap < len + SB_WS_MAX_HEADER)
    return 0;
  out[h++] = (uint8_t)(0x80 | (opcode & 0x0f));
  if (len < 126) {
    out[h++] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    out[h++] = 0x80 | 126;
    out[h++] = (uint8_t)(len >> 8);
    out[h++] = (uint8_t)len;
  } else {
    out[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--)
      out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  memcpy(out + h, m, 4);
  h += 4;
  for (size_t i = 0; i < len; i++)
    out[h + i] = src[i] ^ m[i & 3];
  return h + len;
}

int sb_ws_parse_header(const uint8_t *p, size_t n, sb_ws_header *h) {
  size_t need = 2;
  uint64_t len;

  if (n < 2)
    return 0;
  h->fin = (p[0] & 0x80) != 0;
  h->opcode = p[0] & 0x0f;
  h->masked = (p[1] & 0x80) != 0;
  len = p[1] & 0x7f;
  if (p[0] & 0x70)
    return -1;
  switch (h->opcode) {
  case SB_WS_CONT:
  case SB_WS_TEXT:
  case SB_WS_BINARY:
    break;
  case SB_WS_CLOSE:
  case SB_WS_PING:
  case SB_WS_PONG:
    if (!h->fin || len > 125)
      return -1;
    break;
  default:
    return -1;
  }
  if (len == 126)
    need += 2;
  else if (len == 127)
    need += 8;
  if (h->masked)
    need += 4;
  if (n < need)
    return 0;
  if (len == 126) {
    len = ((uint64_t)p[2] << 8) | p[3];
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; i++)
      len = (len << 8) | p[2 + i];
    if (len >> 63)
      return -1;
  }
  h->payload_len = len;
  h->mask = 0;
  if (h->masked) {
    const uint8_t *m = p + need - 4;
    h->mask = ((uint32_t)m[0] << 24) | ((uint32_t)m[1] << 16) |
              ((uint32_t)m[2] << 8) | m[3];
  }
  h->header_len = need;
  return 1;
}
