#include "net/ws.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/text.h"
#include "net/frame.h"

struct sp_ws {
  wslay_event_context_ptr ctx;
  sp_ws_callbacks cb;
  void *data;
  const uint8_t *in; /* bytes being fed, consumed by sp__recv */
  size_t in_len;
  sp_buf out; /* control frames produced by one wslay_event_send() */
  int in_recv;
  uint16_t forced;   /* close code we sent ourselves, bypassing wslay */
  uint16_t received; /* close code we read ourselves (see sp__close_iana) */
  /* Frame boundaries in the input, tracked so that a close frame reaches
   * wslay in one piece: wslay 1.1.1 checks the UTF-8 of a close reason
   * from offset 2 of every chunk it receives, so a reason split across
   * reads would be judged wrongly. */
  uint8_t hdr[14];
  uint8_t hlen; /* header bytes seen of the current frame */
  int in_payload;
  uint64_t left; /* payload bytes still to come */
  int holding;   /* buffering a close frame */
  uint8_t held[14 + 125];
  size_t nheld;
  int msg_open; /* a fragmented data message is under way */
  size_t max_message;
};

static ssize_t sp__recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                        int flags, void *user) {
  (void)flags;
  sp_ws *ws = user;
  if (ws->in_len == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = len < ws->in_len ? len : ws->in_len;
  memcpy(buf, ws->in, n);
  ws->in += n;
  ws->in_len -= n;
  return (ssize_t)n;
}

static ssize_t sp__send(wslay_event_context_ptr ctx, const uint8_t *data,
                        size_t len, int flags, void *user) {
  (void)flags;
  sp_ws *ws = user;
  sp_buf_put(&ws->out, data, len);
  if (ws->out.failed) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)len;
}

static void
sp__frame_start(wslay_event_context_ptr ctx,
                const struct wslay_event_on_frame_recv_start_arg *arg,
                void *user) {
  (void)user;
  /* RFC 6455 5.5.1: a close payload is empty or holds a 2-byte code.
   * wslay accepts a single byte, so we refuse it here. */
  if (arg->opcode == WSLAY_CONNECTION_CLOSE && arg->payload_length == 1) {
    wslay_event_queue_close(ctx, SP_WS_PROTOCOL_ERROR, NULL, 0);
    wslay_event_shutdown_read(ctx);
  }
}

static void sp__msg(wslay_event_context_ptr ctx,
                    const struct wslay_event_on_msg_recv_arg *arg, void *user) {
  sp_ws *ws = user;
  if (!wslay_event_get_read_enabled(ctx))
    return;
  if (arg->opcode == WSLAY_TEXT_FRAME) {
    ws->cb.on_message(ws->data, arg->msg, arg->msg_length);
  } else if (arg->opcode == WSLAY_BINARY_FRAME) {
    wslay_event_queue_close(ctx, SP_WS_UNSUPPORTED, NULL, 0);
    wslay_event_shutdown_read(ctx);
  }
}

static const struct wslay_event_callbacks sp__callbacks = {
    .recv_callback = sp__recv,
    .send_callback = sp__send,
    .on_frame_recv_start_callback = sp__frame_start,
    .on_msg_recv_callback = sp__msg,
};

/* wslay's context holds two 4 KiB buffers. A connection needs it only while
 * a frame or a fragmented message is under way, or while closing, so it is
 * made when bytes arrive and dropped again as soon as they leave nothing
 * half-done (sp_ws_release_idle, at the end of every feed): a connection
 * costs a few hundred bytes instead of 9 KiB, and a crowd that registers
 * at once never holds thousands of contexts at the same time (memory that
 * the allocator would keep afterwards). Making one costs well under a
 * microsecond, once per read that carries messages. */
static int sp__ctx(sp_ws *ws) {
  if (ws->ctx)
    return 0;
  if (wslay_event_context_server_init(&ws->ctx, &sp__callbacks, ws) != 0) {
    ws->ctx = NULL;
    return UV_ENOMEM;
  }
  wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->max_message);
  return 0;
}

void sp_ws_release_idle(sp_ws *ws) {
  if (ws->ctx && !ws->forced && !ws->in_payload && ws->hlen == 0 &&
      !ws->holding && !ws->msg_open && wslay_event_get_read_enabled(ws->ctx) &&
      !wslay_event_want_write(ws->ctx) &&
      !wslay_event_get_close_sent(ws->ctx) &&
      !wslay_event_get_close_received(ws->ctx)) {
    wslay_event_context_free(ws->ctx);
    ws->ctx = NULL;
  }
}

int sp_ws_new(size_t max_message, const sp_ws_callbacks *cb, void *data,
              sp_ws **out) {
  sp_ws *ws = calloc(1, sizeof *ws);
  if (!ws)
    return UV_ENOMEM;
  ws->max_message = max_message;
  ws->cb = *cb;
  ws->data = data;
  *out = ws;
  return 0;
}

void sp_ws_set_max_message(sp_ws *ws, size_t max_message) {
  ws->max_message = max_message;
  if (ws->ctx)
    wslay_event_config_set_max_recv_msg_length(ws->ctx, max_message);
}

void sp_ws_free(sp_ws *ws) {
  if (!ws)
    return;
  if (ws->ctx)
    wslay_event_context_free(ws->ctx);
  sp_buf_free(&ws->out);
  free(ws);
}

/* Lets wslay write what it queued (pongs, closes) and hands it on whole. */
static void sp__pump(sp_ws *ws) {
  if (!ws->ctx || ws->in_recv || !wslay_event_want_write(ws->ctx))
    return;
  sp_buf_reset(&ws->out);
  wslay_event_send(ws->ctx);
  if (ws->out.len > 0)
    ws->cb.on_output(ws->data, (const uint8_t *)ws->out.data, ws->out.len);
  sp_buf_reset(&ws->out);
}

/* Sends a close frame of our own and leaves wslay behind: used when wslay
 * has already queued a close without a status code, which would tell the
 * peer nothing. */
static void sp__force_close(sp_ws *ws, uint16_t code) {
  uint8_t frame[SP_FRAME_CLOSE_LEN];
  sp_frame_write_close(frame, code);
  ws->forced = code;
  if (ws->ctx) {
    wslay_event_shutdown_read(ws->ctx);
    wslay_event_shutdown_write(ws->ctx);
  }
  ws->cb.on_output(ws->data, frame, sizeof frame);
}

/* Hands bytes to wslay; returns 0 once it reads no more. */
static int sp__pass(sp_ws *ws, const uint8_t *data, size_t len) {
  if (len == 0 || ws->forced)
    return !ws->forced;
  if (sp__ctx(ws) != 0) {
    sp__force_close(ws, SP_WS_INTERNAL);
    return 0;
  }
  ws->in = data;
  ws->in_len = len;
  if (wslay_event_get_read_enabled(ws->ctx)) {
    ws->in_recv = 1;
    int rv = wslay_event_recv(ws->ctx);
    ws->in_recv = 0;
    /* Frame-level violations (a fragmented or oversized control frame, a
     * 64-bit length with its top bit set) come back as a callback failure,
     * with an empty close queued: answer 1002 instead. Our own callbacks
     * only fail when out of memory (1011). */
    if (rv != 0 && !wslay_event_get_close_sent(ws->ctx)) {
      ws->in = NULL;
      ws->in_len = 0;
      sp__force_close(ws, rv == WSLAY_ERR_NOMEM || ws->out.failed
                              ? SP_WS_INTERNAL
                              : SP_WS_PROTOCOL_ERROR);
      return 0;
    }
  }
  ws->in = NULL;
  ws->in_len = 0;
  return wslay_event_get_read_enabled(ws->ctx);
}

/* Total header length once enough of it is known, else 0. */
static size_t sp__hdr_need(const uint8_t *h, size_t n) {
  if (n < 2)
    return 0;
  size_t len7 = h[1] & 0x7f;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
}

static uint64_t sp__payload_len(const uint8_t *h) {
  uint64_t len7 = h[1] & 0x7f, v = 0;
  if (len7 < 126)
    return len7;
  int n = len7 == 126 ? 2 : 8;
  for (int i = 0; i < n; i++)
    v = (v << 8) | h[2 + i];
  return v;
}

/* wslay 1.1.1 knows only the close codes of RFC 6455 7.4.1; 1012, 1013
 * and 1014 were registered with IANA later and are valid to receive. A
 * well-formed close frame (final, masked, no reserved bits) with one of them
 * is answered here, echoing its code (1007 if its reason is not UTF-8).
 * Returns 1 when it handled the held frame. */
static int sp__close_iana(sp_ws *ws) {
  const uint8_t *h = ws->held;
  size_t hl = sp__hdr_need(h, ws->nheld);
  if (hl == 0 || h[0] != (0x80 | WSLAY_CONNECTION_CLOSE) || !(h[1] & 0x80))
    return 0;
  size_t n = ws->nheld - hl;
  if (n < 2 || n > 125)
    return 0;
  const uint8_t *mask = h + hl - 4;
  uint8_t p[125];
  for (size_t i = 0; i < n; i++)
    p[i] = h[hl + i] ^ mask[i % 4];
  uint16_t code = (uint16_t)(p[0] << 8 | p[1]);
  if (code < 1012 || code > 1014)
    return 0;
  ws->received = code;
  if (ws->ctx && wslay_event_get_close_sent(ws->ctx)) {
    /* The answer to a close of ours: nothing more to send. */
    wslay_event_shutdown_read(ws->ctx);
    return 1;
  }
  sp__force_close(ws, sp_utf8_valid(p + 2, n - 2) ? code : SP_WS_INVALID_DATA);
  return 1;
}

static int sp__frame_end(sp_ws *ws) {
  ws->in_payload = 0;
  ws->hlen = 0;
  if (!ws->holding)
    return 1;
  ws->holding = 0;
  if (sp__close_iana(ws))
    return 0;
  return sp__pass(ws, ws->held, ws->nheld);
}

/* The common case without wslay: whole, final, masked text frames of less
 * than 126 bytes of valid UTF-8 (a key press, a join), arriving while
 * nothing else is under way. wslay would deliver exactly the same message
 * (the unit tests feed every input both ways, in every split); anything
 * else, or anything after the first frame that does not qualify, goes to
 * wslay. This spares a player's key press the making of wslay's context.
 * Returns the bytes consumed. */
static size_t sp__fast_path(sp_ws *ws, const uint8_t *data, size_t len) {
  size_t i = 0;
  while (!ws->ctx && !ws->forced && ws->hlen == 0 && !ws->in_payload &&
         !ws->msg_open && len - i >= 6) {
    const uint8_t *f = data + i;
    size_t n = f[1] & 0x7f;
    if (f[0] != (0x80 | WSLAY_TEXT_FRAME) || !(f[1] & 0x80) || n >= 126 ||
        n > ws->max_message || len - i < 6 + n)
      break;
    uint8_t msg[125];
    for (size_t k = 0; k < n; k++)
      msg[k] = f[6 + k] ^ f[2 + k % 4];
    if (!sp_utf8_valid(msg, n))
      break; /* wslay closes with 1007 */
    i += 6 + n;
    /* As inside wslay: what the handler does (a close) goes out after. */
    ws->in_recv = 1;
    ws->cb.on_message(ws->data, msg, n);
    ws->in_recv = 0;
  }
  return i;
}

int sp_ws_feed(sp_ws *ws, const uint8_t *data, size_t len) {
  size_t fast = sp__fast_path(ws, data, len);
  data += fast;
  len -= fast;
  size_t i = 0, seg = 0; /* data[seg..i) waits to be passed through */
  int open = !ws->forced;
  while (open && i < len) {
    if (ws->in_payload) {
      uint64_t take = ws->left < len - i ? ws->left : len - i;
      if (ws->holding) {
        memcpy(ws->held + ws->nheld, data + i, (size_t)take);
        ws->nheld += (size_t)take;
      }
      i += (size_t)take;
      ws->left -= take;
      if (ws->left == 0 && ws->holding) {
        open = sp__frame_end(ws);
        seg = i;
      } else if (ws->left == 0) {
        sp__frame_end(ws);
      }
      continue;
    }
    uint8_t b = data[i];
    if (ws->hlen == 0 && (b & 0x0f) == WSLAY_CONNECTION_CLOSE) {
      open = sp__pass(ws, data + seg, i - seg);
      if (!open)
        break;
      ws->holding = 1;
      ws->nheld = 0;
    }
    if (ws->holding)
      ws->held[ws->nheld++] = b;
    ws->hdr[ws->hlen++] = b;
    i++;
    size_t need = sp__hdr_need(ws->hdr, ws->hlen);
    if (need == 0 || ws->hlen < need)
      continue;
    ws->left = sp__payload_len(ws->hdr);
    ws->in_payload = 1;
    int opcode = ws->hdr[0] & 0x0f, fin = (ws->hdr[0] & 0x80) != 0;
    if (opcode == WSLAY_TEXT_FRAME || opcode == WSLAY_BINARY_FRAME)
      ws->msg_open = !fin;
    else if (opcode == WSLAY_CONTINUATION_FRAME && fin)
      ws->msg_open = 0;
    if (ws->holding && ws->left > 125) {
      /* Not a valid close frame: wslay refuses it on its own. */
      ws->holding = 0;
      open = sp__pass(ws, ws->held, ws->nheld);
      seg = i;
    }
    if (ws->left == 0) {
      int was_holding = ws->holding;
      open = sp__frame_end(ws) && open;
      if (was_holding)
        seg = i;
    }
  }
  if (open && !ws->holding)
    sp__pass(ws, data + seg, i - seg);
  sp__pump(ws);
  if (ws->forced)
    return 0;
  if (ws->ctx && wslay_event_get_close_sent(ws->ctx))
    return 0;
  sp_ws_release_idle(ws);
  return 1;
}

void sp_ws_close(sp_ws *ws, uint16_t code) { sp_ws_close_why(ws, code, NULL); }

void sp_ws_close_why(sp_ws *ws, uint16_t code, const char *reason) {
  if (ws->forced)
    return;
  if (sp__ctx(ws) != 0) {
    sp__force_close(ws, code);
    return;
  }
  size_t rlen = reason ? sp_utf8_prefix(reason, SP_WS_REASON_MAX) : 0;
  if (rlen && !sp_utf8_valid((const uint8_t *)reason, rlen))
    rlen = 0;
  wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, rlen);
  wslay_event_shutdown_read(ws->ctx);
  sp__pump(ws);
}

uint16_t sp_ws_close_sent(const sp_ws *ws) {
  if (ws->forced)
    return ws->forced;
  if (!ws->ctx || !wslay_event_get_close_sent(ws->ctx))
    return 0;
  return wslay_event_get_status_code_sent(ws->ctx);
}

uint16_t sp_ws_close_received(const sp_ws *ws) {
  if (ws->received)
    return ws->received;
  if (!ws->ctx || !wslay_event_get_close_received(ws->ctx))
    return 0;
  return wslay_event_get_status_code_received(ws->ctx);
}

void sp_ws_accept_key(const char *key, char out[29]) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  SP_ASSERT(md != NULL);
  EVP_DigestInit_ex(md, EVP_sha1(), NULL);
  EVP_DigestUpdate(md, key, strlen(key));
  EVP_DigestUpdate(md, SP_WS_GUID, sizeof SP_WS_GUID - 1);
  EVP_DigestFinal_ex(md, digest, NULL);
  EVP_MD_CTX_free(md);
  EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}

int sp_ws_key_valid(const char *key) {
  unsigned char raw[24];
  if (strlen(key) != 24 || key[22] != '=' || key[23] != '=')
    return 0;
  for (int i = 0; i < 22; i++) {
    char c = key[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '+' || c == '/'))
      return 0;
  }
  return EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18;
}
