/* Unit tests of the WebSocket layer without sockets: src/net/ws.h (wslay
 * glue) and src/net/frame.h (our server frame encoder).
 *
 * Client frames are built by hand (masked, as RFC 6455 5.3 requires) and fed
 * to sp_ws_feed whole, one byte at a time and in random splits, in the style
 * of wslay's own tests; every split must give the same messages and the same
 * output. The output is decoded as server frames (never masked) to check
 * pongs and close codes. */
#include <stdint.h>

#include "core/buf.h"
#include "net/frame.h"
#include "net/ws.h"
#include "test.h"

/* ---- building client frames -------------------------------------------- */

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends one client frame. `first` is the first header byte as is (FIN,
 * RSV bits, opcode), so tests can set any bit they like. */
static void put_frame_raw(sp_buf *b, uint8_t first, int masked,
                          const void *payload, size_t n) {
  const uint8_t *p = payload;
  uint8_t h[14];
  size_t hl = 0;
  uint8_t m = masked ? 0x80 : 0;
  h[hl++] = first;
  if (n < 126) {
    h[hl++] = (uint8_t)(m | n);
  } else if (n < 65536) {
    h[hl++] = (uint8_t)(m | 126);
    h[hl++] = (uint8_t)(n >> 8);
    h[hl++] = (uint8_t)n;
  } else {
    h[hl++] = (uint8_t)(m | 127);
    for (int i = 0; i < 8; i++)
      h[hl++] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
  }
  if (masked)
    for (int i = 0; i < 4; i++)
      h[hl++] = mask_key[i];
  sp_buf_put(b, h, hl);
  for (size_t i = 0; i < n; i++)
    sp_buf_putc(b, (char)(masked ? p[i] ^ mask_key[i % 4] : p[i]));
}

/* A masked frame with FIN as given and no RSV bits. */
static void put_frame(sp_buf *b, int fin, uint8_t opcode, const void *payload,
                      size_t n) {
  put_frame_raw(b, (uint8_t)((fin ? 0x80 : 0) | opcode), 1, payload, n);
}

static void put_text(sp_buf *b, const char *s) {
  put_frame(b, 1, SP_WS_OP_TEXT, s, strlen(s));
}

static void put_close(sp_buf *b, uint16_t code) {
  uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
  put_frame(b, 1, SP_WS_OP_CLOSE, p, 2);
}

/* The input of the current test. It lives at file scope so that a test
 * that fails half-way (FAILF returns at once) leaks nothing under ASan. */
static sp_buf in;

/* ---- running a connection ---------------------------------------------- */

#define MAX_MSGS 16

typedef struct result {
  int nmsg;
  sp_buf msg[MAX_MSGS];
  sp_buf out;            /* every byte handed to on_output, in order */
  int open;              /* last return value of sp_ws_feed */
  int feeds_after_close; /* feeds we would have made after it returned 0 */
  uint16_t close_sent, close_received;
} result;

static void on_message(void *data, const uint8_t *msg, size_t len) {
  result *r = data;
  if (r->nmsg < MAX_MSGS) {
    sp_buf_put(&r->msg[r->nmsg], msg, len);
    sp_buf_putc(&r->msg[r->nmsg], '\0');
    r->msg[r->nmsg].len--; /* keep it a C string but count only the payload */
  }
  r->nmsg++;
}

static void on_output(void *data, const uint8_t *bytes, size_t len) {
  result *r = data;
  sp_buf_put(&r->out, bytes, len);
}

static void result_free(result *r) {
  for (int i = 0; i < MAX_MSGS; i++)
    sp_buf_free(&r->msg[i]);
  sp_buf_free(&r->out);
  memset(r, 0, sizeof *r);
}

enum { WHOLE = 0, BYTES = 1 }; /* split modes; >= 2 is a random seed */

static uint32_t rng_state;
static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

/* Feeds `in` to a new connection split as `mode` says, stopping as a real
 * caller would once sp_ws_feed returns 0. */
static void run_ws(const sp_buf *input, size_t max_message, int mode,
                   result *r) {
  static const sp_ws_callbacks cb = {on_message, on_output};
  sp_ws *ws = NULL;
  memset(r, 0, sizeof *r);
  r->open = 1;
  if (sp_ws_new(max_message, &cb, r, &ws) != 0) {
    r->open = -1;
    return;
  }
  rng_state = (uint32_t)mode * 2654435761u + 1;
  size_t off = 0;
  while (off < input->len) {
    size_t n = input->len - off;
    if (mode == BYTES)
      n = 1;
    else if (mode >= 2)
      n = 1 + rng() % (n < 9 ? n : 9);
    if (!r->open) {
      r->feeds_after_close++;
      break;
    }
    r->open = sp_ws_feed(ws, (const uint8_t *)input->data + off, n);
    off += n;
  }
  r->close_sent = sp_ws_close_sent(ws);
  r->close_received = sp_ws_close_received(ws);
  sp_ws_free(ws);
}

/* ---- decoding server frames -------------------------------------------- */

typedef struct sframe {
  int fin, rsv, opcode, masked;
  size_t len;
  const uint8_t *payload;
} sframe;

/* Decodes up to max frames from the output; returns how many, or -1 if the
 * bytes do not end on a frame boundary. */
static int decode_out(const sp_buf *out, sframe *f, int max) {
  const uint8_t *p = (const uint8_t *)out->data;
  size_t len = out->len, off = 0;
  int n = 0;
  while (off < len) {
    if (n == max || len - off < 2)
      return -1;
    sframe *s = &f[n];
    s->fin = p[off] >> 7;
    s->rsv = (p[off] >> 4) & 7;
    s->opcode = p[off] & 15;
    s->masked = p[off + 1] >> 7;
    size_t pl = p[off + 1] & 127;
    off += 2;
    if (pl == 126) {
      if (len - off < 2)
        return -1;
      pl = (size_t)p[off] << 8 | p[off + 1];
      off += 2;
    } else if (pl == 127) {
      if (len - off < 8)
        return -1;
      pl = 0;
      for (int i = 0; i < 8; i++)
        pl = pl << 8 | p[off + i];
      off += 8;
    }
    if (s->masked)
      off += 4;
    if (off > len || len - off < pl)
      return -1;
    s->len = pl;
    s->payload = p + off;
    off += pl;
    n++;
  }
  return n;
}

/* The close code of the last frame of the output when it is a valid server
 * close frame, 0 when the output holds no close, -1 when it is malformed. */
static int out_close_code(const result *r) {
  sframe f[16];
  int n = decode_out(&r->out, f, 16);
  if (n < 0)
    return -1;
  for (int i = 0; i < n; i++) {
    if (f[i].masked || f[i].rsv || !f[i].fin)
      return -1;
    if (f[i].opcode == SP_WS_OP_CLOSE) {
      if (i != n - 1)
        return -1; /* nothing may follow a close */
      if (f[i].len == 0)
        return 1005; /* "no status", never sent on the wire */
      if (f[i].len < 2)
        return -1;
      return f[i].payload[0] << 8 | f[i].payload[1];
    }
  }
  return 0;
}

/* Runs `in` under every split and checks each gives the same result: the
 * expected number of messages, and a close with `code` (0: none, and the
 * connection stays open). */
#define NMODES 8
#define CHECK_ALL_SPLITS(in, max, nmsg_, code)                                 \
  do {                                                                         \
    for (int mode_ = 0; mode_ < NMODES; mode_++) {                             \
      result r_;                                                               \
      run_ws((in), (max), mode_, &r_);                                         \
      int got_code_ = out_close_code(&r_);                                     \
      int nm_ = r_.nmsg, open_ = r_.open, sent_ = r_.close_sent;               \
      result_free(&r_);                                                        \
      if (nm_ != (nmsg_) || got_code_ != (code) || open_ != ((code) == 0) ||   \
          sent_ != (code))                                                     \
        FAILF("split mode %d: %d messages (want %d), close %d (want %d), "     \
              "open %d, close_sent %d",                                        \
              mode_, nm_, (int)(nmsg_), got_code_, (int)(code), open_, sent_); \
    }                                                                          \
  } while (0)

/* ---- valid traffic ----------------------------------------------------- */

TEST(text_message_delivered) {
  sp_buf_reset(&in);
  put_text(&in, "[\"new_player\",\"bob\"]");
  put_text(&in, "37");
  for (int mode = 0; mode < NMODES; mode++) {
    result r;
    run_ws(&in, 4096, mode, &r);
    int ok = r.nmsg == 2 && r.open == 1 && r.out.len == 0 &&
             strcmp(r.msg[0].data, "[\"new_player\",\"bob\"]") == 0 &&
             r.msg[0].len == 20 && strcmp(r.msg[1].data, "37") == 0;
    result_free(&r);
    if (!ok)
      FAILF("split mode %d", mode);
  }
  sp_buf_reset(&in);
}

TEST(empty_text_message_delivered) {
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_TEXT, "", 0);
  CHECK_ALL_SPLITS(&in, 4096, 1, 0);
  sp_buf_reset(&in);
}

TEST(long_text_message_16bit_and_64bit_length) {
  /* 300 bytes use the 16-bit length; 70000 bytes the 64-bit one. */
  static char big[70001];
  memset(big, 'a', sizeof big - 1);
  for (int k = 0; k < 2; k++) {
    size_t n = k ? 70000 : 300;
    sp_buf_reset(&in);
    put_frame(&in, 1, SP_WS_OP_TEXT, big, n);
    result r;
    run_ws(&in, 100000, WHOLE, &r);
    int ok = r.nmsg == 1 && r.msg[0].len == n &&
             memcmp(r.msg[0].data, big, n) == 0 && r.open == 1;
    result_free(&r);
    run_ws(&in, 100000, BYTES, &r);
    ok = ok && r.nmsg == 1 && r.msg[0].len == n && r.open == 1;
    result_free(&r);
    sp_buf_reset(&in);
    ASSERT(ok);
  }
}

TEST(fragmented_text_with_ping_in_between) {
  sp_buf_reset(&in);
  put_frame(&in, 0, SP_WS_OP_TEXT, "[\"jo", 4);
  put_frame(&in, 1, SP_WS_OP_PING, "hi!", 3);
  put_frame(&in, 0, 0x0, "in", 2);
  put_frame(&in, 1, 0x0, "\"]", 2);
  for (int mode = 0; mode < NMODES; mode++) {
    result r;
    run_ws(&in, 4096, mode, &r);
    sframe f[4];
    int nf = decode_out(&r.out, f, 4);
    int ok = r.nmsg == 1 && r.msg[0].len == 8 &&
             strcmp(r.msg[0].data, "[\"join\"]") == 0 && r.open == 1 &&
             nf == 1 && f[0].opcode == SP_WS_OP_PONG && f[0].fin &&
             !f[0].masked && !f[0].rsv && f[0].len == 3 &&
             memcmp(f[0].payload, "hi!", 3) == 0;
    result_free(&r);
    if (!ok)
      FAILF("split mode %d: nf=%d", mode, nf);
  }
  sp_buf_reset(&in);
}

TEST(ping_answered_with_same_payload) {
  uint8_t payload[125];
  for (int i = 0; i < 125; i++)
    payload[i] = (uint8_t)(i * 7 + 1);
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_PING, payload, 125); /* the largest allowed */
  put_frame(&in, 1, SP_WS_OP_PING, "", 0);
  for (int mode = 0; mode < NMODES; mode++) {
    result r;
    run_ws(&in, 4096, mode, &r);
    sframe f[4];
    int nf = decode_out(&r.out, f, 4);
    int ok = nf == 2 && f[0].opcode == SP_WS_OP_PONG && f[0].len == 125 &&
             memcmp(f[0].payload, payload, 125) == 0 && !f[0].masked &&
             f[1].opcode == SP_WS_OP_PONG && f[1].len == 0 && r.open == 1 &&
             r.nmsg == 0;
    result_free(&r);
    if (!ok)
      FAILF("split mode %d: nf=%d", mode, nf);
  }
  sp_buf_reset(&in);
}

TEST(unsolicited_pong_ignored) {
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_PONG, "x", 1);
  put_text(&in, "38");
  CHECK_ALL_SPLITS(&in, 4096, 1, 0);
  sp_buf_reset(&in);
}

TEST(valid_utf8_delivered_also_split_across_fragments) {
  sp_buf_reset(&in);
  put_text(&in, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x90\x8D\xF4\x8F\xBF\xBF");
  put_frame(&in, 0, SP_WS_OP_TEXT, "\xE2\x82", 2);
  put_frame(&in, 0, 0x0, "", 0);
  put_frame(&in, 1, 0x0, "\xAC", 1);
  CHECK_ALL_SPLITS(&in, 4096, 2, 0);
  result r;
  run_ws(&in, 4096, BYTES, &r);
  int ok = r.nmsg == 2 && strcmp(r.msg[1].data, "\xE2\x82\xAC") == 0;
  result_free(&r);
  sp_buf_reset(&in);
  ASSERT(ok);
}

TEST(message_of_exactly_max_message_delivered) {
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_TEXT, "0123456789abcdef", 16);
  put_frame(&in, 0, SP_WS_OP_TEXT, "01234567", 8);
  put_frame(&in, 1, 0x0, "89abcdef", 8);
  CHECK_ALL_SPLITS(&in, 16, 2, 0);
  sp_buf_reset(&in);
}

/* ---- closing handshake ------------------------------------------------- */

TEST(valid_close_codes_echoed) {
  static const uint16_t codes[] = {1000, 1001, 1003, 1007, 1011, 3000, 4999};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    sp_buf_reset(&in);
    put_close(&in, codes[i]);
    for (int mode = 0; mode < NMODES; mode++) {
      result r;
      run_ws(&in, 4096, mode, &r);
      int code = out_close_code(&r);
      int open = r.open, recv = r.close_received;
      result_free(&r);
      if (code != codes[i] || open != 0 || recv != codes[i])
        FAILF("close %u, split mode %d: echoed %d, open %d, received %d",
              codes[i], mode, code, open, recv);
    }
    sp_buf_reset(&in);
  }
}

TEST(iana_close_codes_1012_to_1014_echoed) {
  /* Registered with IANA after RFC 6455; wslay 1.1.1 refuses them. */
  for (uint16_t code = 1012; code <= 1014; code++) {
    sp_buf_reset(&in);
    put_close(&in, code);
    CHECK_ALL_SPLITS(&in, 4096, 0, code);
    for (int mode = 0; mode < NMODES; mode++) {
      result r;
      run_ws(&in, 4096, mode, &r);
      int recv = r.close_received;
      result_free(&r);
      if (recv != code)
        FAILF("close %u, split mode %d: received %d", code, mode, recv);
    }
    /* With a reason, and after a message. */
    sp_buf_reset(&in);
    put_text(&in, "[\"join\"]");
    uint8_t p[6] = {(uint8_t)(code >> 8), (uint8_t)code, 'b', 'y', 'e', '!'};
    put_frame(&in, 1, SP_WS_OP_CLOSE, p, sizeof p);
    CHECK_ALL_SPLITS(&in, 4096, 1, code);
    /* A reason that is not UTF-8 is still 1007. */
    sp_buf_reset(&in);
    uint8_t bad[4] = {(uint8_t)(code >> 8), (uint8_t)code, 0xc3, 0x28};
    put_frame(&in, 1, SP_WS_OP_CLOSE, bad, sizeof bad);
    CHECK_ALL_SPLITS(&in, 4096, 0, SP_WS_INVALID_DATA);
  }
  sp_buf_reset(&in);
}

/* A control frame between the fragments of a message, with wslay's
 * context released (as the server does for quiet connections) after every
 * single byte: the message still arrives whole and the ping is answered. */
TEST(fragmented_message_with_control_frames_survives_idle_release) {
  static const sp_ws_callbacks cb = {on_message, on_output};
  static const uint8_t ops[] = {SP_WS_OP_PING, SP_WS_OP_PONG};
  for (size_t k = 0; k < sizeof ops; k++) {
    sp_buf_reset(&in);
    put_frame(&in, 0, SP_WS_OP_TEXT, "[\"jo", 4);
    put_frame(&in, 1, ops[k], "hi", 2);
    put_frame(&in, 0, 0x0, "i", 1);
    put_frame(&in, 1, ops[k], "", 0);
    put_frame(&in, 1, 0x0, "n\"]", 3);
    for (int every_byte = 0; every_byte < 2; every_byte++) {
      result r;
      memset(&r, 0, sizeof r);
      sp_ws *ws = NULL;
      ASSERT_EQ(sp_ws_new(4096, &cb, &r, &ws), 0);
      r.open = 1;
      for (size_t i = 0; i < in.len && r.open; i++) {
        r.open = sp_ws_feed(ws, (const uint8_t *)in.data + i, 1);
        if (every_byte || i % 3 == 0)
          sp_ws_release_idle(ws);
      }
      sframe f[4];
      int nf = decode_out(&r.out, f, 4);
      int want_pongs = ops[k] == SP_WS_OP_PING ? 2 : 0;
      int ok = r.open == 1 && r.nmsg == 1 &&
               strcmp(r.msg[0].data, "[\"join\"]") == 0 && nf == want_pongs &&
               (nf == 0 || (f[0].opcode == SP_WS_OP_PONG && f[0].len == 2));
      sp_ws_free(ws);
      result_free(&r);
      if (!ok)
        FAILF("control opcode %d, release every byte %d: nmsg/pongs wrong "
              "(nf=%d)",
              ops[k], every_byte, nf);
    }
  }
  sp_buf_reset(&in);
}

TEST(close_with_reason_echoed) {
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_CLOSE,
            "\x03\xe8"
            "bye",
            5);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1000);
  sp_buf_reset(&in);
}

TEST(empty_close_answered) {
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_CLOSE, "", 0);
  for (int mode = 0; mode < NMODES; mode++) {
    result r;
    run_ws(&in, 4096, mode, &r);
    sframe f[4];
    int nf = decode_out(&r.out, f, 4);
    int ok = nf == 1 && f[0].opcode == SP_WS_OP_CLOSE && !f[0].masked &&
             (f[0].len == 0 || (f[0].len == 2 && f[0].payload[0] == 0x03 &&
                                f[0].payload[1] == 0xe8)) &&
             r.open == 0;
    result_free(&r);
    if (!ok)
      FAILF("split mode %d", mode);
  }
  sp_buf_reset(&in);
}

TEST(input_after_close_ignored) {
  sp_buf_reset(&in);
  put_close(&in, 1000);
  put_text(&in, "37");
  put_frame(&in, 1, SP_WS_OP_PING, "p", 1);
  /* Even if the caller kept feeding, nothing more comes out. */
  static const sp_ws_callbacks cb = {on_message, on_output};
  result r;
  memset(&r, 0, sizeof r);
  sp_ws *ws;
  ASSERT_EQ(sp_ws_new(4096, &cb, &r, &ws), 0);
  int open = 1;
  for (size_t i = 0; i < in.len; i++)
    open = sp_ws_feed(ws, (const uint8_t *)in.data + i, 1);
  int code = out_close_code(&r);
  int nmsg = r.nmsg;
  sp_ws_free(ws);
  result_free(&r);
  sp_buf_reset(&in);
  ASSERT_EQ(open, 0);
  ASSERT_EQ(code, 1000);
  ASSERT_EQ(nmsg, 0);
}

TEST(sp_ws_close_sends_1001) {
  static const sp_ws_callbacks cb = {on_message, on_output};
  result r;
  memset(&r, 0, sizeof r);
  sp_ws *ws;
  ASSERT_EQ(sp_ws_new(4096, &cb, &r, &ws), 0);
  sp_ws_close(ws, SP_WS_GOING_AWAY);
  int code = out_close_code(&r);
  uint16_t sent = sp_ws_close_sent(ws);
  /* Input after our close is ignored and keeps reporting "closed". */
  sp_buf_reset(&in);
  put_text(&in, "37");
  int open = sp_ws_feed(ws, (const uint8_t *)in.data, in.len);
  int nmsg = r.nmsg;
  size_t outlen = r.out.len;
  sp_ws_free(ws);
  sp_buf_reset(&in);
  result_free(&r);
  ASSERT_EQ(code, 1001);
  ASSERT_EQ(sent, 1001);
  ASSERT_EQ(open, 0);
  ASSERT_EQ(nmsg, 0);
  ASSERT_EQ(outlen, 4);
}

/* sp_ws_close must be safe from inside on_message (the room may refuse a
 * message and close). */
static sp_ws *close_target;
static void on_message_close(void *data, const uint8_t *msg, size_t len) {
  on_message(data, msg, len);
  sp_ws_close(close_target, SP_WS_POLICY);
}

TEST(sp_ws_close_from_on_message) {
  static const sp_ws_callbacks cb = {on_message_close, on_output};
  sp_buf_reset(&in);
  put_text(&in, "a");
  put_text(&in, "b");
  for (int mode = 0; mode < 2; mode++) {
    result r;
    memset(&r, 0, sizeof r);
    ASSERT_EQ(sp_ws_new(4096, &cb, &r, &close_target), 0);
    int open = 1;
    size_t step = mode == WHOLE ? in.len : 1;
    for (size_t off = 0; off < in.len && open; off += step)
      open = sp_ws_feed(close_target, (const uint8_t *)in.data + off, step);
    int code = out_close_code(&r), nmsg = r.nmsg;
    sp_ws_free(close_target);
    result_free(&r);
    if (open != 0 || code != 1008 || nmsg != 1)
      FAILF("mode %d: open %d code %d nmsg %d", mode, open, code, nmsg);
  }
  sp_buf_reset(&in);
}

TEST(close_with_one_byte_payload_is_1002) {
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_CLOSE, "\x03", 1);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
}

TEST(invalid_close_codes_are_1002) {
  static const uint16_t codes[] = {0,    999,  1004, 1005, 1006,
                                   1015, 1016, 2999, 5000, 65535};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    sp_buf_reset(&in);
    put_close(&in, codes[i]);
    for (int mode = 0; mode < NMODES; mode++) {
      result r;
      run_ws(&in, 4096, mode, &r);
      int code = out_close_code(&r), open = r.open;
      result_free(&r);
      if (code != 1002 || open != 0)
        FAILF("close %u, split mode %d: answered %d, open %d", codes[i], mode,
              code, open);
    }
    sp_buf_reset(&in);
  }
}

TEST(close_with_utf8_reason_echoed_whatever_the_split) {
  /* A valid multi-byte reason must be accepted however TCP splits it. */
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_CLOSE,
            "\x03\xe8"
            "\xC3\xA9\xE2\x82\xAC",
            7);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1000);
  sp_buf_reset(&in);
}

TEST(close_reason_invalid_utf8_is_1007) {
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_CLOSE, "\x03\xe8\xff", 3);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1007);
  sp_buf_reset(&in);
}

/* ---- protocol errors: 1002 --------------------------------------------- */

TEST(unmasked_frame_is_1002) {
  sp_buf_reset(&in);
  put_frame_raw(&in, 0x81, 0, "37", 2);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
  /* An unmasked control frame too. */
  put_frame_raw(&in, 0x89, 0, "p", 1);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
}

TEST(rsv_bits_are_1002) {
  static const uint8_t rsv[] = {0x40, 0x20, 0x10, 0x70};
  for (size_t i = 0; i < sizeof rsv; i++) {
    sp_buf_reset(&in);
    put_frame_raw(&in, (uint8_t)(0x80 | rsv[i] | SP_WS_OP_TEXT), 1, "37", 2);
    CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
    sp_buf_reset(&in);
    /* Also on a control frame. */
    put_frame_raw(&in, (uint8_t)(0x80 | rsv[i] | SP_WS_OP_PING), 1, "p", 1);
    CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
    sp_buf_reset(&in);
  }
}

TEST(reserved_opcodes_are_1002) {
  static const uint8_t ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
  for (size_t i = 0; i < sizeof ops; i++) {
    sp_buf_reset(&in);
    put_frame(&in, 1, ops[i], "x", 1);
    for (int mode = 0; mode < NMODES; mode++) {
      result r;
      run_ws(&in, 4096, mode, &r);
      int code = out_close_code(&r), open = r.open;
      result_free(&r);
      if (code != 1002 || open != 0)
        FAILF("opcode %#x, split mode %d: answered %d, open %d", ops[i], mode,
              code, open);
    }
    sp_buf_reset(&in);
  }
}

TEST(fragmented_ping_is_1002) {
  sp_buf_reset(&in);
  put_frame(&in, 0, SP_WS_OP_PING, "p", 1);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
  put_frame(&in, 0, SP_WS_OP_CLOSE, "\x03\xe8", 2);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
}

TEST(oversized_control_frames_are_1002) {
  uint8_t p[126];
  memset(p, 'p', sizeof p);
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_PING, p, 126);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
  p[0] = 0x03, p[1] = 0xe8;
  put_frame(&in, 1, SP_WS_OP_CLOSE, p, 126);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_PONG, p, 126);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
}

TEST(non_minimal_length_encoding_is_1002) {
  /* RFC 6455 5.2: the minimal number of bytes must be used to encode the
   * length; wslay refuses the others in its frame layer. */
  uint8_t h16[8] = {0x81, 0x80 | 126, 0x00, 0x02, 0, 0, 0, 0};
  memcpy(h16 + 4, mask_key, 4);
  sp_buf_reset(&in);
  sp_buf_put(&in, h16, sizeof h16);
  sp_buf_put(&in, "\x0c\xc9", 2); /* "37" masked */
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
  uint8_t h64[14] = {0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
  memcpy(h64 + 10, mask_key, 4);
  sp_buf_put(&in, h64, sizeof h64);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
  /* A 64-bit length with its most significant bit set (5.2: "the most
   * significant bit MUST be 0"). */
  uint8_t top[14] = {0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0x02};
  memcpy(top + 10, mask_key, 4);
  sp_buf_put(&in, top, sizeof top);
  CHECK_ALL_SPLITS(&in, 1u << 30, 0, 1002);
  sp_buf_reset(&in);
  /* A frame-level violation right after a valid message and a ping. */
  put_text(&in, "37");
  put_frame(&in, 1, SP_WS_OP_PING, "p", 1);
  put_frame(&in, 0, SP_WS_OP_PING, "q", 1);
  CHECK_ALL_SPLITS(&in, 4096, 1, 1002);
  sp_buf_reset(&in);
}

TEST(continuation_without_start_is_1002) {
  sp_buf_reset(&in);
  put_frame(&in, 1, 0x0, "37", 2);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
  /* Also right after a complete message. */
  put_text(&in, "37");
  put_frame(&in, 0, 0x0, "38", 2);
  CHECK_ALL_SPLITS(&in, 4096, 1, 1002);
  sp_buf_reset(&in);
}

TEST(new_text_frame_inside_fragmented_message_is_1002) {
  sp_buf_reset(&in);
  put_frame(&in, 0, SP_WS_OP_TEXT, "[", 1);
  put_text(&in, "37");
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
  put_frame(&in, 0, SP_WS_OP_TEXT, "[", 1);
  put_frame(&in, 1, SP_WS_OP_BINARY, "x", 1);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1002);
  sp_buf_reset(&in);
}

TEST(message_before_protocol_error_still_delivered) {
  sp_buf_reset(&in);
  put_text(&in, "37");
  put_frame_raw(&in, 0x81, 0, "38", 2);
  put_text(&in, "39");
  CHECK_ALL_SPLITS(&in, 4096, 1, 1002);
  sp_buf_reset(&in);
}

/* ---- invalid data: 1007 ------------------------------------------------ */

TEST(invalid_utf8_is_1007) {
  static const char *const bad[] = {
      "\xff",                 /* never valid */
      "a\x80",                /* lone continuation byte */
      "\xC3(",                /* truncated 2-byte sequence */
      "\xC0\xAF",             /* overlong '/' */
      "\xC1\xBF",             /* overlong */
      "\xE0\x80\xAF",         /* overlong 3-byte '/' */
      "\xF0\x80\x80\xAF",     /* overlong 4-byte '/' */
      "\xED\xA0\x80",         /* surrogate U+D800 */
      "\xED\xBF\xBF",         /* surrogate U+DFFF */
      "\xF4\x90\x80\x80",     /* U+110000 */
      "\xF5\x80\x80\x80",     /* beyond U+10FFFF */
      "\xF8\x88\x80\x80\x80", /* 5-byte form */
      "ok\xE2\x82",           /* truncated at the end of the message */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sp_buf_reset(&in);
    put_text(&in, bad[i]);
    for (int mode = 0; mode < NMODES; mode++) {
      result r;
      run_ws(&in, 4096, mode, &r);
      int code = out_close_code(&r), nmsg = r.nmsg;
      result_free(&r);
      if (code != 1007 || nmsg != 0)
        FAILF("case %zu, split mode %d: answered %d, %d messages", i, mode,
              code, nmsg);
    }
    sp_buf_reset(&in);
  }
}

TEST(invalid_utf8_split_across_fragments_is_1007) {
  sp_buf_reset(&in);
  put_frame(&in, 0, SP_WS_OP_TEXT, "\xE2\x82", 2);
  put_frame(&in, 1, 0x0, "\x28", 1);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1007);
  sp_buf_reset(&in);
  /* A sequence left open by the final fragment. */
  put_frame(&in, 0, SP_WS_OP_TEXT, "ab", 2);
  put_frame(&in, 1, 0x0, "\xF0\x9F\x90", 3);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1007);
  sp_buf_reset(&in);
}

/* ---- size and type limits: 1009, 1003 ---------------------------------- */

TEST(message_over_max_message_is_1009) {
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_TEXT, "0123456789abcdefg", 17);
  CHECK_ALL_SPLITS(&in, 16, 0, 1009);
  sp_buf_reset(&in);
}

/* The same limits for the small frames that skip wslay (see ws.c). */
TEST(small_frames_keep_every_rule) {
  sp_buf_reset(&in);
  put_text(&in, "12345678901");
  CHECK_ALL_SPLITS(&in, 10, 0, 1009);
  sp_buf_reset(&in);
  put_text(&in, "1234567890");
  CHECK_ALL_SPLITS(&in, 10, 1, 0);
  sp_buf_reset(&in);
  put_text(&in, "37");
  put_frame(&in, 1, SP_WS_OP_TEXT, "\xc3\x28", 2);
  put_text(&in, "38");
  CHECK_ALL_SPLITS(&in, 4096, 1, 1007);
  sp_buf_reset(&in);
  put_text(&in, "37");
  put_frame_raw(&in, 0x81, 0, "38", 2); /* unmasked */
  CHECK_ALL_SPLITS(&in, 4096, 1, 1002);
  sp_buf_reset(&in);
  put_text(&in, "37");
  put_frame_raw(&in, 0x91, 1, "38", 2); /* RSV1 */
  CHECK_ALL_SPLITS(&in, 4096, 1, 1002);
  sp_buf_reset(&in);
  for (int i = 0; i < 10; i++)
    put_text(&in, "39");
  CHECK_ALL_SPLITS(&in, 4096, 10, 0);
  sp_buf_reset(&in);
}

TEST(fragments_adding_up_past_max_message_are_1009) {
  sp_buf_reset(&in);
  put_frame(&in, 0, SP_WS_OP_TEXT, "0123456789", 10);
  put_frame(&in, 0, 0x0, "0123", 4);
  put_frame(&in, 1, 0x0, "01234", 5);
  CHECK_ALL_SPLITS(&in, 16, 0, 1009);
  sp_buf_reset(&in);
}

TEST(huge_declared_length_is_1009_without_the_bytes) {
  /* A header announcing 2^40 bytes: refused at once, nothing buffered. */
  uint8_t h[14] = {0x81, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0};
  memcpy(h + 10, mask_key, 4);
  sp_buf_reset(&in);
  sp_buf_put(&in, h, sizeof h);
  sp_buf_put(&in, "abcd", 4);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1009);
  sp_buf_reset(&in);
}

TEST(binary_message_is_1003) {
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_BINARY, "\x00\x01", 2);
  CHECK_ALL_SPLITS(&in, 4096, 0, 1003);
  sp_buf_reset(&in);
  /* Fragmented binary, and text after it is not delivered. */
  put_frame(&in, 0, SP_WS_OP_BINARY, "\x00", 1);
  put_frame(&in, 1, 0x0, "\x01", 1);
  put_text(&in, "37");
  CHECK_ALL_SPLITS(&in, 4096, 0, 1003);
  sp_buf_reset(&in);
}

/* ---- handshake keys ---------------------------------------------------- */

TEST(accept_key_rfc6455_example) {
  char out[29];
  memset(out, 'X', sizeof out);
  sp_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
  ASSERT_STR_EQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  ASSERT_EQ(strlen(out), 28);
  /* Another known pair (from RFC 6455 implementations' test suites). */
  sp_ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", out);
  ASSERT_STR_EQ(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST(key_valid) {
  ASSERT(sp_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
  ASSERT(sp_ws_key_valid("x3JJHMbDL1EzLkh9GBhXDw=="));
  ASSERT(sp_ws_key_valid("AAAAAAAAAAAAAAAAAAAAAA=="));
  ASSERT(sp_ws_key_valid("/+/+/+/+/+/+/+/+/+/+/w=="));
  ASSERT(!sp_ws_key_valid(""));
  ASSERT(!sp_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ="));   /* too short */
  ASSERT(!sp_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ===")); /* too long */
  ASSERT(!sp_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ"));
  ASSERT(!sp_ws_key_valid("dGhlIHNhbXBsZSBub25j*Q==")); /* bad char */
  ASSERT(!sp_ws_key_valid("dGhlIHNhbXBsZSBub25j Q=="));
  ASSERT(!sp_ws_key_valid("dGhlIHNhbXBsZSBub25j-Q==")); /* base64url */
  ASSERT(!sp_ws_key_valid("dGhlIHNhbXBsZSBub25jZ=A="));
  ASSERT(!sp_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ\n="));
  /* 24 characters that decode to 15 and 17 bytes. */
  ASSERT(!sp_ws_key_valid("AAAAAAAAAAAAAAAAAAAA"));     /* 15 bytes, 20 chars */
  ASSERT(!sp_ws_key_valid("AAAAAAAAAAAAAAAAAAAAAAA=")); /* 17 bytes */
  ASSERT(!sp_ws_key_valid("AAAAAAAAAAAAAAAAAAAAAAAA")); /* 18 bytes */
  ASSERT(!sp_ws_key_valid("AAAAAAAAAAAAAAAAAAAA===="));
}

/* ---- frame encoder ----------------------------------------------------- */

static int check_frame(size_t n, uint8_t opcode) {
  uint8_t *payload = calloc(1, n ? n : 1);
  for (size_t i = 0; i < n; i++)
    payload[i] = (uint8_t)(i * 31 + 7);
  sp_frame *f = sp_frame_new(opcode, payload, n);
  int ok = f != NULL;
  size_t hl = n < 126 ? 2 : n < 65536 ? 4 : 10;
  if (ok) {
    const uint8_t *b = f->bytes;
    ok = f->len == hl + n && sp_frame_header_len(n) == hl &&
         b[0] == (0x80 | opcode) && !(b[1] & 0x80);
    if (hl == 2)
      ok = ok && b[1] == n;
    else if (hl == 4)
      ok = ok && b[1] == 126 && (size_t)(b[2] << 8 | b[3]) == n;
    else {
      uint64_t v = 0;
      for (int i = 0; i < 8; i++)
        v = v << 8 | b[2 + i];
      ok = ok && b[1] == 127 && v == n;
    }
    ok = ok && (n == 0 || memcmp(b + hl, payload, n) == 0);
    /* What we encode decodes back with our own decoder. */
    sp_buf out = SP_BUF_INIT;
    sp_buf_put(&out, b, f->len);
    sframe sf[2];
    ok = ok && decode_out(&out, sf, 2) == 1 && sf[0].len == n &&
         sf[0].opcode == opcode && sf[0].fin && !sf[0].masked;
    sp_buf_free(&out);
    sp_frame_unref(f);
  }
  free(payload);
  if (!ok)
    fprintf(stderr, "  frame of %zu bytes, opcode %u is wrong\n", n, opcode);
  return ok;
}

TEST(frame_new_header_lengths) {
  ASSERT(check_frame(0, SP_WS_OP_TEXT));
  ASSERT(check_frame(1, SP_WS_OP_TEXT));
  ASSERT(check_frame(125, SP_WS_OP_TEXT));
  ASSERT(check_frame(126, SP_WS_OP_TEXT));
  ASSERT(check_frame(127, SP_WS_OP_TEXT));
  ASSERT(check_frame(65535, SP_WS_OP_TEXT));
  ASSERT(check_frame(65536, SP_WS_OP_TEXT));
  ASSERT(check_frame(70000, SP_WS_OP_BINARY));
  ASSERT(check_frame(0, SP_WS_OP_CLOSE));
  ASSERT(check_frame(2, SP_WS_OP_CLOSE));
  ASSERT(check_frame(5, SP_WS_OP_PONG));
}

TEST(frame_exact_bytes) {
  sp_frame *f = sp_frame_new(SP_WS_OP_TEXT, "[]", 2);
  ASSERT(f != NULL);
  ASSERT_EQ(f->len, 4);
  ASSERT_MEM_EQ(f->bytes, "\x81\x02[]", 4);
  sp_frame_unref(f);
  f = sp_frame_new(SP_WS_OP_CLOSE, "\x03\xe9", 2);
  ASSERT(f != NULL);
  ASSERT_MEM_EQ(f->bytes, "\x88\x02\x03\xe9", 4);
  sp_frame_unref(f);
  uint8_t h[10];
  ASSERT_EQ(sp_frame_write_header(h, SP_WS_OP_TEXT, 300), 4);
  ASSERT_MEM_EQ(h, "\x81\x7e\x01\x2c", 4);
  ASSERT_EQ(sp_frame_write_header(h, SP_WS_OP_TEXT, 0x10203), 10);
  ASSERT_MEM_EQ(h, "\x81\x7f\x00\x00\x00\x00\x00\x01\x02\x03", 10);
  ASSERT_EQ(sp_frame_header_len(125), 2);
  ASSERT_EQ(sp_frame_header_len(126), 4);
  ASSERT_EQ(sp_frame_header_len(65535), 4);
  ASSERT_EQ(sp_frame_header_len(65536), 10);
}

TEST(frame_raw_copies_bytes) {
  uint8_t src[4] = {0x8a, 0x02, 'h', 'i'};
  sp_frame *f = sp_frame_raw(src, 4);
  ASSERT(f != NULL);
  src[2] = 'X';
  ASSERT_EQ(f->len, 4);
  ASSERT_MEM_EQ(f->bytes, "\x8a\x02hi", 4);
  sp_frame_unref(f);
}

TEST(frame_refcount) {
  /* Under ASan a leak or a double free here fails the run. */
  sp_frame *f = sp_frame_new(SP_WS_OP_TEXT, "hello", 5);
  ASSERT(f != NULL);
  ASSERT_EQ(atomic_load(&f->refs), 1);
  ASSERT(sp_frame_ref(f) == f);
  sp_frame_ref(f);
  ASSERT_EQ(atomic_load(&f->refs), 3);
  sp_frame_unref(f);
  sp_frame_unref(f);
  ASSERT_EQ(atomic_load(&f->refs), 1);
  ASSERT_MEM_EQ(f->bytes + 2, "hello", 5); /* still alive */
  sp_frame_unref(f);                       /* freed here */
  sp_frame_unref(NULL);                    /* harmless */
}

TEST(control_frames_from_ws_fit_frame_raw) {
  /* The bytes given to on_output are whole frames that can be queued as a
   * raw sp_frame. */
  sp_buf_reset(&in);
  put_frame(&in, 1, SP_WS_OP_PING, "abc", 3);
  result r;
  run_ws(&in, 4096, WHOLE, &r);
  sp_frame *f = sp_frame_raw(r.out.data, r.out.len);
  int ok = f && f->len == 5 &&
           memcmp(f->bytes,
                  "\x8a\x03"
                  "abc",
                  5) == 0;
  sp_frame_unref(f);
  result_free(&r);
  sp_buf_reset(&in);
  ASSERT(ok);
}

int main(void) {
  RUN(text_message_delivered);
  RUN(empty_text_message_delivered);
  RUN(long_text_message_16bit_and_64bit_length);
  RUN(fragmented_text_with_ping_in_between);
  RUN(ping_answered_with_same_payload);
  RUN(unsolicited_pong_ignored);
  RUN(valid_utf8_delivered_also_split_across_fragments);
  RUN(message_of_exactly_max_message_delivered);
  RUN(valid_close_codes_echoed);
  RUN(close_with_reason_echoed);
  RUN(iana_close_codes_1012_to_1014_echoed);
  RUN(fragmented_message_with_control_frames_survives_idle_release);
  RUN(empty_close_answered);
  RUN(input_after_close_ignored);
  RUN(sp_ws_close_sends_1001);
  RUN(sp_ws_close_from_on_message);
  RUN(close_with_one_byte_payload_is_1002);
  RUN(invalid_close_codes_are_1002);
  RUN(close_with_utf8_reason_echoed_whatever_the_split);
  RUN(close_reason_invalid_utf8_is_1007);
  RUN(unmasked_frame_is_1002);
  RUN(rsv_bits_are_1002);
  RUN(reserved_opcodes_are_1002);
  RUN(fragmented_ping_is_1002);
  RUN(oversized_control_frames_are_1002);
  RUN(non_minimal_length_encoding_is_1002);
  RUN(continuation_without_start_is_1002);
  RUN(new_text_frame_inside_fragmented_message_is_1002);
  RUN(message_before_protocol_error_still_delivered);
  RUN(invalid_utf8_is_1007);
  RUN(invalid_utf8_split_across_fragments_is_1007);
  RUN(message_over_max_message_is_1009);
  RUN(small_frames_keep_every_rule);
  RUN(fragments_adding_up_past_max_message_are_1009);
  RUN(huge_declared_length_is_1009_without_the_bytes);
  RUN(binary_message_is_1003);
  RUN(accept_key_rfc6455_example);
  RUN(key_valid);
  RUN(frame_new_header_lengths);
  RUN(frame_exact_bytes);
  RUN(frame_raw_copies_bytes);
  RUN(frame_refcount);
  RUN(control_frames_from_ws_fit_frame_raw);
  sp_buf_free(&in);
  return TEST_SUMMARY();
}
