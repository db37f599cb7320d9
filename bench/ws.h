/* ws.h: the client side of RFC 6455 that the load generator needs.
 *
 * Nothing here does I/O: the caller hands in bytes and gets bytes back, so
 * the same code is used by snakepit-bench and by the self-test.
 */
#ifndef SB_WS_H
#define SB_WS_H

#include <stddef.h>
#include <stdint.h>

enum {
  SB_WS_CONT = 0x0,
  SB_WS_TEXT = 0x1,
  SB_WS_BINARY = 0x2,
  SB_WS_CLOSE = 0x8,
  SB_WS_PING = 0x9,
  SB_WS_PONG = 0xA,
};

/* Room for the header of a client frame: 2 + 8 bytes of length + 4 of mask. */
#define SB_WS_MAX_HEADER 14

/* Length of a Sec-WebSocket-Key and of a Sec-WebSocket-Accept value, without
 * the terminating NUL. */
#define SB_WS_KEY_LEN 24
#define SB_WS_ACCEPT_LEN 28

/* Writes the base64 of the 16 random bytes NONCE into KEY (NUL-terminated). */
void sb_ws_make_key(const uint8_t nonce[16], char key[SB_WS_KEY_LEN + 1]);

/* Computes the Sec-WebSocket-Accept a server must answer to KEY:
 * base64(SHA-1(KEY + GUID)), NUL-terminated. Returns 0, or -1 if libcrypto
 * failed. */
int sb_ws_accept_for(const char *key, char accept[SB_WS_ACCEPT_LEN + 1]);

/* Encodes one masked client frame (FIN set) of OPCODE with LEN bytes of
 * PAYLOAD into OUT, masked with MASK. Returns the frame's length, or 0 if CAP
 * is too small (it needs LEN + SB_WS_MAX_HEADER at most). */
size_t sb_ws_encode(uint8_t *out, size_t cap, int opcode, const void *payload,
                    size_t len, uint32_t mask);

/* A frame header as read from the server. */
typedef struct sb_ws_header {
  int fin;
  int opcode;
  int masked;
  uint32_t mask;
  size_t header_len;
  uint64_t payload_len;
} sb_ws_header;

/* Parses the frame header at the start of the N bytes at P.
 * Returns 1 when the whole header is there (H filled), 0 when more bytes are
 * needed, -1 when the header breaks RFC 6455 (reserved bits, unknown opcode,
 * a control frame that is fragmented or longer than 125 bytes, a 64-bit length
 * with the top bit set). A masked server frame is reported, not refused: the
 * caller decides. */
int sb_ws_parse_header(const uint8_t *p, size_t n, sb_ws_header *h);

#endif
