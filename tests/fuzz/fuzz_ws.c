/* fuzz_ws: the WebSocket read path of a connection (wslay plus net/ws.c).
 *
 * Input: four header bytes, then the stream.
 *   [0] kind: bit 0 clear = raw (the rest is fed as is), set = structured
 *       (the rest is a list of frame records, encoded as masked client
 *       frames first); bit 1 = call sp_ws_release_idle() after every read,
 *       as the server does for connections that have gone quiet
 *   [1] split: how the stream is cut into reads (see fz_split_init)
 *   [2] close: bits 7-6 say when we call sp_ws_close ourselves: 0 never,
 *       1 before read number (bits 5-0), 2 inside on_message number
 *       (bits 5-0), 3 after the last read
 *   [3] close code, an index into the codes the server sends
 *
 * A structured record is
 *   [b0: FIN RSV1-3 opcode, used as is] [flags] [len hi] [len lo] payload
 * with flags bit 0 = send unmasked, bits 1-2 = length encoding (minimal,
 * 16-bit, 64-bit, minimal), bit 3 = declare the length field even when the
 * input ends sooner (a truncated last frame). The payload is given in clear
 * and masked here, so the fuzzer reaches messages, fragments, pings and
 * closes instead of stopping at the masking check.
 *
 * Checked: each message handed to on_message is valid UTF-8 of at most
 * max_message bytes and comes before any close we started; on_output gets
 * only whole unmasked server control frames (pong or close, FIN set,
 * payload <= 125, close payload empty or a valid code), at most one close
 * and nothing after it; sp_ws_feed returns 0 exactly when that close went
 * out, and sp_ws_close_sent() reports its code.
 *
 * The stream is also fed once as a single read (without releasing the
 * context): unless our own close depends on the reads, both runs must hand
 * over the same messages and close with the same code, since TCP may cut
 * the stream anywhere. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "net/ws.h"

#define MAX_MESSAGE 4096

static const uint16_t close_codes[] = {
    SP_WS_NORMAL,      SP_WS_GOING_AWAY,   SP_WS_PROTOCOL_ERROR,
    SP_WS_UNSUPPORTED, SP_WS_INVALID_DATA, SP_WS_POLICY,
    SP_WS_TOO_BIG,     SP_WS_INTERNAL,
};

typedef struct state {
  sp_ws *ws;
  size_t messages;
  int close_in_message; /* index of the message that closes, or -1 */
  uint16_t code;
  int closed_by_us; /* sp_ws_close was called */
  int in_callback;
  size_t close_frames; /* close frames seen in on_output */
  uint16_t close_code_out;
  size_t pongs;
  uint8_t *log; /* every message: 4 bytes of length, then bytes */
  size_t log_len;
} state;

/* RFC 6455 §7.4.1 plus the codes IANA registered since (1012-1014). */
static int valid_close_code(uint16_t c) {
  return (c >= 1000 && c <= 1014 && c != 1004 && c != 1005 && c != 1006) ||
         (c >= 3000 && c <= 4999);
}

static void on_message(void *data, const uint8_t *msg, size_t len) {
  state *st = data;
  FZ_CHECK(!st->closed_by_us, "message after sp_ws_close");
  FZ_CHECK(st->close_frames == 0, "message after our close frame");
  FZ_CHECK(len <= MAX_MESSAGE, "message of %zu bytes", len);
  FZ_CHECK(len == 0 || msg != NULL, "NULL message of %zu bytes", len);
  FZ_CHECK(fz_utf8_valid(msg, len, NULL), "message is not UTF-8 (%zu bytes)",
           len);
  /* Copying the message also makes ASan check all of it is readable. */
  st->log = realloc(st->log, st->log_len + 4 + len);
  FZ_CHECK(st->log != NULL, "out of memory");
  uint32_t n32 = (uint32_t)len;
  memcpy(st->log + st->log_len, &n32, 4);
  if (len)
    memcpy(st->log + st->log_len + 4, msg, len);
  st->log_len += 4 + len;
  if (st->close_in_message >= 0 &&
      st->messages == (size_t)st->close_in_message) {
    st->closed_by_us = 1;
    st->in_callback = 1;
    sp_ws_close(st->ws, st->code);
    st->in_callback = 0;
  }
  st->messages++;
}

static void on_output(void *data, const uint8_t *bytes, size_t len) {
  state *st = data;
  FZ_CHECK(len > 0, "empty output");
  FZ_CHECK(!st->in_callback, "output from inside on_message");
  size_t i = 0;
  while (i < len) {
    FZ_CHECK(st->close_frames == 0, "frame after our close frame");
    FZ_CHECK(len - i >= 2, "output ends inside a frame header");
    uint8_t b0 = bytes[i], b1 = bytes[i + 1];
    uint8_t op = b0 & 0x0F;
    FZ_CHECK(b0 & 0x80, "control frame without FIN (0x%02x)", b0);
    FZ_CHECK((b0 & 0x70) == 0, "reserved bits set (0x%02x)", b0);
    FZ_CHECK((b1 & 0x80) == 0, "server frame is masked");
    size_t plen = b1 & 0x7F;
    FZ_CHECK(plen <= 125, "control frame with %zu byte payload", plen);
    FZ_CHECK(len - i - 2 >= plen, "output ends inside a payload");
    const uint8_t *payload = bytes + i + 2;
    if (op == 0x8) {
      FZ_CHECK(plen == 0 || plen >= 2, "close payload of 1 byte");
      uint16_t code = 1005; /* no status, as wslay reports it */
      if (plen >= 2) {
        code = (uint16_t)(payload[0] << 8 | payload[1]);
        FZ_CHECK(valid_close_code(code), "close code %u sent", code);
      }
      st->close_frames++;
      st->close_code_out = code;
    } else {
      FZ_CHECK(op == 0xA, "server sent opcode 0x%x", op);
      st->pongs++;
    }
    i += 2 + plen;
  }
}

/* Encodes the records of a structured input as client frames. */
static uint8_t *encode(const uint8_t *in, size_t len, size_t *out_len) {
  /* A record of 4 + n input bytes becomes at most 14 + n bytes (64-bit
   * length and mask key), a truncated one stays as it is. */
  size_t o = 0;
  uint8_t *out = malloc(len / 4 * 10 + len + 1);
  FZ_CHECK(out != NULL, "out of memory");
  size_t i = 0;
  uint32_t idx = 0;
  while (i < len) {
    if (len - i < 4) { /* a truncated record: its bytes, unencoded */
      memcpy(out + o, in + i, len - i);
      o += len - i;
      break;
    }
    uint8_t b0 = in[i], flags = in[i + 1];
    size_t declared = (size_t)in[i + 2] << 8 | in[i + 3];
    i += 4;
    size_t n = declared < len - i ? declared : len - i;
    if (!(flags & 0x08))
      declared = n;
    int masked = !(flags & 0x01);
    int form = (flags >> 1) & 3;
    if (form == 0 || form == 3)
      form = declared < 126 ? 0 : declared <= 0xFFFF ? 1 : 2;
    out[o++] = b0;
    uint8_t mbit = masked ? 0x80 : 0;
    if (form == 0) {
      out[o++] = mbit | (uint8_t)(declared & 0x7F);
    } else if (form == 1) {
      out[o++] = mbit | 126;
      out[o++] = (uint8_t)(declared >> 8);
      out[o++] = (uint8_t)declared;
    } else {
      out[o++] = mbit | 127;
      for (int k = 7; k >= 0; k--)
        out[o++] = (uint8_t)((uint64_t)declared >> (8 * k));
    }
    uint8_t key[4] = {(uint8_t)(idx * 7 + 1), 0x5C, (uint8_t)(idx ^ 0xA5),
                      0x3A};
    if (masked) {
      memcpy(out + o, key, 4);
      o += 4;
    }
    for (size_t k = 0; k < n; k++)
      out[o++] = masked ? in[i + k] ^ key[k & 3] : in[i + k];
    i += n;
    idx++;
  }
  *out_len = o;
  return out;
}

/* One connection fed with the stream in the reads sp chooses. */
static void run(const uint8_t *stream, fz_splitter *sp, int release_idle,
                int close_before, int close_at_end, state *st) {
  static const sp_ws_callbacks cb = {on_message, on_output};
  FZ_CHECK(sp_ws_new(MAX_MESSAGE, &cb, st, &st->ws) == 0, "sp_ws_new");
  FZ_CHECK(sp_ws_close_sent(st->ws) == 0 && sp_ws_close_received(st->ws) == 0,
           "a new connection reports a close");
  size_t off = 0;
  int open = 1;
  for (int piece = 0; open; piece++) {
    if (piece == close_before && !st->closed_by_us) {
      st->closed_by_us = 1;
      sp_ws_close(st->ws, st->code);
      FZ_CHECK(st->close_frames == 1,
               "sp_ws_close outside a callback sent no close frame");
      FZ_CHECK(sp_ws_close_sent(st->ws) != 0, "close not reported as sent");
      /* Further input is ignored: one more read, then stop like the
       * server does. */
      size_t before = st->messages;
      size_t n = fz_split_next(sp);
      if (n > 0) {
        uint8_t *buf = malloc(n);
        FZ_CHECK(buf != NULL, "out of memory");
        memcpy(buf, stream + off, n);
        off += n;
        FZ_CHECK(sp_ws_feed(st->ws, buf, n) == 0, "open after sp_ws_close");
        free(buf);
      }
      FZ_CHECK(st->messages == before, "input read after sp_ws_close");
      break;
    }
    size_t n = fz_split_next(sp);
    if (n == 0)
      break;
    /* A read buffer of exactly the bytes received. */
    uint8_t *buf = malloc(n);
    FZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, stream + off, n);
    off += n;
    int closing_inside = st->closed_by_us;
    open = sp_ws_feed(st->ws, buf, n);
    free(buf);
    FZ_CHECK(open == (st->close_frames == 0),
             "sp_ws_feed returned %d after %zu close frames", open,
             st->close_frames);
    if (st->closed_by_us && !closing_inside)
      FZ_CHECK(!open, "sp_ws_close inside on_message did not close");
    if (open && release_idle)
      sp_ws_release_idle(st->ws);
  }
  if (open && close_at_end && !st->closed_by_us) {
    st->closed_by_us = 1;
    sp_ws_close(st->ws, st->code);
    FZ_CHECK(st->close_frames == 1, "sp_ws_close sent no close frame");
  }

  uint16_t sent = sp_ws_close_sent(st->ws);
  if (st->close_frames) {
    FZ_CHECK(sent == st->close_code_out,
             "sp_ws_close_sent() = %u, the close frame said %u", sent,
             st->close_code_out);
  } else {
    FZ_CHECK(sent == 0, "sp_ws_close_sent() = %u without a close frame", sent);
  }
  sp_ws_free(st->ws);
  st->ws = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  uint8_t kind = data[0], split = data[1], close = data[2];
  state st;
  memset(&st, 0, sizeof st);
  st.close_in_message = (close >> 6) == 2 ? (close & 0x3F) : -1;
  st.code = close_codes[data[3] % (sizeof close_codes / sizeof close_codes[0])];
  int close_before = (close >> 6) == 1 ? (close & 0x3F) : -1;
  int close_at_end = (close >> 6) == 3;

  const uint8_t *stream = data + 4;
  size_t stream_len = size - 4;
  uint8_t *encoded = NULL;
  if (kind & 1) {
    encoded = encode(stream, stream_len, &stream_len);
    stream = encoded;
  }

  fz_splitter sp;
  fz_split_init(&sp, split, kind, stream_len);
  run(stream, &sp, kind & 2, close_before, close_at_end, &st);

  /* The reference: one read. Our close before a given read depends on
   * the reads, so then there is nothing to compare. */
  if (close_before < 0 && (sp.mode != FZ_SPLIT_WHOLE || (kind & 2))) {
    state ref;
    memset(&ref, 0, sizeof ref);
    ref.close_in_message = st.close_in_message;
    ref.code = st.code;
    fz_splitter whole;
    fz_split_init(&whole, FZ_SPLIT_WHOLE, 0, stream_len);
    run(stream, &whole, 0, -1, close_at_end, &ref);
    FZ_CHECK(ref.messages == st.messages,
             "%zu messages in one read, %zu in pieces (split mode %d)",
             ref.messages, st.messages, sp.mode);
    FZ_CHECK(
        ref.log_len == st.log_len &&
            (ref.log_len == 0 || memcmp(ref.log, st.log, ref.log_len) == 0),
        "messages differ between one read and pieces (split mode %d)", sp.mode);
    FZ_CHECK(ref.close_frames == st.close_frames &&
                 ref.close_code_out == st.close_code_out,
             "close %u in one read, %u in pieces (split mode %d)",
             ref.close_frames ? ref.close_code_out : 0,
             st.close_frames ? st.close_code_out : 0, sp.mode);
    free(ref.log);
  }
  free(st.log);
  free(encoded);
  return 0;
}
