/* fuzz_proto: the client message decoder (room/proto.c), JSON to commands.
 *
 * Input: one client text message, as on_message would hand it over.
 *
 * Checked:
 * - sp_proto_decode() never fails, returns a known type, a direction 0..3
 *   for keys, and for new_player a name that obeys PROTOCOL.md: non-empty
 *   valid UTF-8, at most 15 code points, no control characters or bidi
 *   overrides, no white space at either end;
 * - sp_proto_sanitize_name() on the raw bytes gives such a name too, and
 *   is idempotent (a stored name sanitizes to itself);
 * - a sanitized name written into the server's frames (handshake,
 *   p_joined, top_scores) is parsed back by jansson as the same string;
 * - sp_json_string() of any valid UTF-8 input without NUL is a JSON string
 *   literal that jansson decodes to exactly the input. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "fuzz_util.h"
#include "room/proto.h"

static int is_space(uint32_t c) {
  /* Unicode White_Space. */
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int is_forbidden(uint32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || /* Cc */
         (c >= 0x202A && c <= 0x202E) ||         /* LRE..RLO */
         (c >= 0x2066 && c <= 0x2069);           /* LRI..PDI */
}

static void check_name(const char *name, const char *what) {
  size_t len = strnlen(name, SP_NAME_SIZE);
  FZ_CHECK(len < SP_NAME_SIZE, "%s: name not terminated", what);
  FZ_CHECK(len > 0, "%s: empty name", what);
  const uint8_t *s = (const uint8_t *)name;
  size_t i = 0, chars = 0;
  uint32_t cp = 0;
  while (i < len) {
    size_t n = fz_utf8_next(s + i, len - i, &cp);
    FZ_CHECK(n > 0, "%s: invalid UTF-8 at byte %zu of \"%s\"", what, i, name);
    FZ_CHECK(!is_forbidden(cp), "%s: U+%04X in \"%s\"", what, (unsigned)cp,
             name);
    if (i == 0)
      FZ_CHECK(!is_space(cp), "%s: leading U+%04X in \"%s\"", what,
               (unsigned)cp, name);
    i += n;
    chars++;
  }
  FZ_CHECK(!is_space(cp), "%s: trailing U+%04X in \"%s\"", what, (unsigned)cp,
           name);
  FZ_CHECK(chars <= SP_NAME_MAX_CHARS, "%s: %zu code points in \"%s\"", what,
           chars, name);
}

static void check_frames(const char *name);

static void check_sanitized(const uint8_t *data, size_t size) {
  /* Exactly the documented room, so an overflow is an ASan report. */
  char *out = malloc(SP_NAME_SIZE);
  char *again = malloc(SP_NAME_SIZE);
  FZ_CHECK(out && again, "out of memory");
  sp_proto_sanitize_name((const char *)data, size, out);
  check_name(out, "sanitize");
  sp_proto_sanitize_name(out, strlen(out), again);
  FZ_CHECK(strcmp(out, again) == 0, "not idempotent: \"%s\" -> \"%s\"", out,
           again);
  check_frames(out);
  int color = sp_proto_name_color(out);
  FZ_CHECK(color >= 1 && color <= 6, "colour %d", color);
  free(again);
  free(out);
}

/* A frame built by the server must be JSON whose strings are intact. */
static void check_frames(const char *name) {
  sp_buf b = SP_BUF_INIT;
  sp_proto_begin(&b);
  sp_proto_handshake(&b, name, 7);
  sp_proto_p_joined(&b, 7, name, sp_proto_name_color(name), 42);
  sp_proto_top_scores_begin(&b);
  sp_proto_top_scores_row(&b, name, 42, 3);
  sp_proto_top_scores_row(&b, name, 41, 4);
  sp_proto_top_scores_end(&b);
  sp_proto_error(&b, name);
  sp_proto_end(&b);
  FZ_CHECK(!b.failed, "out of memory");
  json_error_t err;
  json_t *v = json_loadb(b.data, b.len, 0, &err);
  FZ_CHECK(v != NULL, "frame for \"%s\" is not JSON: %s: %.*s", name, err.text,
           (int)b.len, b.data);
  FZ_CHECK(json_is_array(v) && json_array_size(v) == 4, "frame shape");
  const char *got[4] = {
      json_string_value(json_array_get(json_array_get(v, 0), 1)),
      json_string_value(json_array_get(json_array_get(v, 1), 2)),
      json_string_value(json_array_get(
          json_array_get(json_array_get(json_array_get(v, 2), 1), 1), 0)),
      json_string_value(json_array_get(json_array_get(v, 3), 1)),
  };
  for (int i = 0; i < 4; i++)
    FZ_CHECK(got[i] && strcmp(got[i], name) == 0,
             "command %d carries \"%s\" instead of \"%s\"", i,
             got[i] ? got[i] : "(null)", name);
  json_decref(v);
  sp_buf_free(&b);
}

static void check_json_string(const uint8_t *data, size_t size) {
  if (memchr(data, '\0', size) || !fz_utf8_valid(data, size, NULL))
    return;
  sp_buf b = SP_BUF_INIT;
  sp_json_string(&b, (const char *)data, size);
  FZ_CHECK(!b.failed, "out of memory");
  FZ_CHECK(b.len >= 2 && b.data[0] == '"' && b.data[b.len - 1] == '"',
           "not a string literal");
  json_error_t err;
  json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY, &err);
  FZ_CHECK(v != NULL, "sp_json_string output rejected: %s: %.*s", err.text,
           (int)b.len, b.data);
  FZ_CHECK(json_is_string(v), "not decoded as a string");
  FZ_CHECK(json_string_length(v) == size &&
               memcmp(json_string_value(v), data, size) == 0,
           "round trip changed the string (%zu -> %zu bytes)", size,
           json_string_length(v));
  json_decref(v);
  sp_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_msg m;
  memset(&m, 0xAB, sizeof m);
  sp_msg_type t = sp_proto_decode(data, size, &m);
  FZ_CHECK(t == m.type, "returned %d, stored %d", (int)t, (int)m.type);
  switch (t) {
  case SP_MSG_INVALID:
  case SP_MSG_IGNORED:
  case SP_MSG_JOIN: break;
  case SP_MSG_KEY:
    FZ_CHECK(m.dir >= 0 && m.dir <= 3, "direction %d", m.dir);
    break;
  case SP_MSG_NEW_PLAYER:
    check_name(m.name, "new_player");
    check_frames(m.name);
    break;
  default: FZ_CHECK(0, "unknown message type %d", (int)t);
  }
  check_sanitized(data, size);
  check_json_string(data, size);
  return 0;
}
