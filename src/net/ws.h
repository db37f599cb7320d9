/* ws: the WebSocket protocol of one connection (RFC 6455), without I/O.
 *
 * Reading is wslay's event API: it parses client frames, checks masking,
 * reserved bits, opcodes and control frame rules, validates UTF-8 across
 * fragments, enforces the message size limit, answers pings and echoes
 * closes. This module adds what wslay leaves to us: a close frame with a
 * 1-byte payload is a protocol error (1002) and a binary message is refused
 * (1003). Writing data frames is not done here (see frame.h); the control
 * frames wslay produces are handed to on_output as whole frames, to be
 * queued in the connection's single output queue so frames never
 * interleave. */
#ifndef SP_WS_H
#define SP_WS_H

#include <stddef.h>
#include <stdint.h>

#define SP_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* Close codes we send (RFC 6455 7.4.1). */
enum {
  SP_WS_NORMAL = 1000,
  SP_WS_GOING_AWAY = 1001,
  SP_WS_PROTOCOL_ERROR = 1002,
  SP_WS_UNSUPPORTED = 1003,
  SP_WS_INVALID_DATA = 1007,
  SP_WS_POLICY = 1008,
  SP_WS_TOO_BIG = 1009,
  SP_WS_INTERNAL = 1011,
  SP_WS_SERVICE_RESTART = 1012,
};

typedef struct sp_ws sp_ws;

typedef struct sp_ws_callbacks {
  /* A complete, valid text message. */
  void (*on_message)(void *data, const uint8_t *msg, size_t len);
  /* Encoded control frames (pong, close) ready for the output queue. */
  void (*on_output)(void *data, const uint8_t *bytes, size_t len);
} sp_ws_callbacks;

/* Creates the protocol state of one server-side connection. Returns 0 or
 * UV_ENOMEM; the caller owns *out and frees it with sp_ws_free(). */
int sp_ws_new(size_t max_message, const sp_ws_callbacks *cb, void *data,
              sp_ws **out);
void sp_ws_free(sp_ws *ws);

/* Feeds bytes received from the peer (any split, down to one byte at a
 * time). Returns 1 while the connection stays open, 0 once a close frame
 * has been sent (the caller flushes its output and closes the socket). */
int sp_ws_feed(sp_ws *ws, const uint8_t *data, size_t len);

/* Starts the closing handshake with `code`; further input is ignored.
 * Safe to call from inside on_message. */
void sp_ws_close(sp_ws *ws, uint16_t code);
/* The most a close frame's reason can hold (125 bytes less the code). */
#define SP_WS_REASON_MAX 123
/* The same with a reason (UTF-8, cut at a character boundary to
 * SP_WS_REASON_MAX bytes; NULL for none). */
void sp_ws_close_why(sp_ws *ws, uint16_t code, const char *reason);
/* The largest message from now on (a reload), for a message under way
 * too. */
void sp_ws_set_max_message(sp_ws *ws, size_t max_message);

/* The close code we sent (0 if none yet) and the one we received (0 if
 * none). */
uint16_t sp_ws_close_sent(const sp_ws *ws);
uint16_t sp_ws_close_received(const sp_ws *ws);

/* Frees wslay's context (9 KiB) if no frame, fragmented message or close
 * is under way; it is made again when bytes arrive. sp_ws_feed does it
 * after every feed. */
void sp_ws_release_idle(sp_ws *ws);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
 * out receives 28 characters and a NUL. */
void sp_ws_accept_key(const char *key, char out[29]);
/* A valid Sec-WebSocket-Key is the base64 encoding of 16 bytes. */
int sp_ws_key_valid(const char *key);

#endif
