/* Unit tests of the wire format (src/room/proto.h): name sanitizing, JSON
 * string escaping (checked by decoding with jansson), the exact text of
 * every server command, and decoding of whatever a client may send. */
#include <jansson.h>

#include "core/buf.h"
#include "game/game.h"
#include "room/proto.h"
#include "test.h"

/* ---- names ------------------------------------------------------------- */

/* Sanitizes `in` (of length len) into a buffer with a canary behind
 * SP_NAME_SIZE; returns NULL (and fails) if the canary was touched. */
static const char *san_n(const char *in, size_t len) {
  static char buf[SP_NAME_SIZE + 16];
  memset(buf, 0x5a, sizeof buf);
  sp_proto_sanitize_name(in, len, buf);
  for (size_t i = SP_NAME_SIZE; i < sizeof buf; i++)
    if (buf[i] != 0x5a)
      return "<<wrote past SP_NAME_SIZE>>";
  if (!memchr(buf, '\0', SP_NAME_SIZE))
    return "<<not terminated>>";
  return buf;
}
static const char *san(const char *in) { return san_n(in, strlen(in)); }

/* Number of code points of valid UTF-8. */
static size_t utf8_len(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

TEST(sanitize_trims) {
  ASSERT_STR_EQ(san("  bob  "), "bob");
  ASSERT_STR_EQ(san("\tbob\n"), "bob");
  ASSERT_STR_EQ(san("bob the snake"), "bob the snake");
  ASSERT_STR_EQ(san("bob"), "bob");
  /* Unicode spaces at either end: NBSP, ideographic space. */
  ASSERT_STR_EQ(san("\xC2\xA0"
                    "bob"
                    "\xE3\x80\x80"),
                "bob");
}

TEST(sanitize_drops_controls) {
  ASSERT_STR_EQ(san("a\x01"
                    "b\x7f"),
                "ab");
  ASSERT_STR_EQ(san("a\x1b[31mred"), "a[31mred");
  ASSERT_STR_EQ(san("a\nb\rc\td"), "abcd");
  /* C1 controls U+0080..U+009F, NEL U+0085 included. */
  ASSERT_STR_EQ(san("a\xC2\x80"
                    "b\xC2\x85"
                    "c\xC2\x9F"
                    "d"),
                "abcd");
  /* U+00A0 is not a control: kept inside a name. */
  ASSERT_STR_EQ(san("a\xC2\xA0"
                    "b"),
                "a\xC2\xA0"
                "b");
  /* Bidi embeddings, overrides and isolates. */
  ASSERT_STR_EQ(san("\xE2\x80\xAE"
                    "evil"),
                "evil");
  ASSERT_STR_EQ(san("a\xE2\x80\xAA"
                    "b\xE2\x80\xAD"
                    "c"),
                "abc");
  ASSERT_STR_EQ(san("a\xE2\x81\xA6"
                    "b\xE2\x81\xA9"
                    "c"),
                "abc");
  /* A NUL byte inside the given length is a control too. */
  ASSERT_STR_EQ(san_n("a\0b", 3), "ab");
}

TEST(sanitize_truncates_to_15_code_points) {
  ASSERT_STR_EQ(san("abcdefghijklmnopqrst"), "abcdefghijklmno");
  ASSERT_STR_EQ(san("abcdefghijklmno"), "abcdefghijklmno");
  char in[128] = "", want[128] = "";
  for (int i = 0; i < 20; i++)
    strcat(in, "\xC3\xA9"); /* é: 2 bytes */
  for (int i = 0; i < 15; i++)
    strcat(want, "\xC3\xA9");
  ASSERT_STR_EQ(san(in), want);
  in[0] = want[0] = '\0';
  for (int i = 0; i < 20; i++)
    strcat(in, "\xF0\x9F\x90\x8D"); /* snake emoji: 4 bytes */
  for (int i = 0; i < 15; i++)
    strcat(want, "\xF0\x9F\x90\x8D");
  ASSERT_STR_EQ(san(in), want);
  ASSERT_EQ(utf8_len(san(in)), 15);
  ASSERT_EQ(strlen(san(in)), 60);
  /* Dropped characters do not count. */
  ASSERT_STR_EQ(san("\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
                    "\x01\x01\x01\x01"
                    "abc"),
                "abc");
  ASSERT_STR_EQ(san("                    abcdefghijklmnopq"),
                "abcdefghijklmno");
}

TEST(sanitize_trims_after_truncation) {
  ASSERT_STR_EQ(san("abcdefghijklmn  xyz"), "abcdefghijklmn");
  ASSERT_STR_EQ(san("abcdefghijklmn\xE3\x80\x80xyz"), "abcdefghijklmn");
}

TEST(sanitize_empty_becomes_anonymous) {
  ASSERT_STR_EQ(san(""), "anonymous");
  ASSERT_STR_EQ(san("   "), "anonymous");
  ASSERT_STR_EQ(san("\x01\x02"), "anonymous");
  ASSERT_STR_EQ(san("\xE2\x80\xAE"), "anonymous");
  ASSERT_STR_EQ(san("\xff\xfe"), "anonymous");
  ASSERT_STR_EQ(san_n("", 0), "anonymous");
}

TEST(sanitize_drops_invalid_utf8) {
  ASSERT_STR_EQ(san("a\xff"
                    "b"),
                "ab");
  ASSERT_STR_EQ(san("a\x80"
                    "b"),
                "ab");                  /* lone continuation */
  ASSERT_STR_EQ(san("ab\xC3"), "ab");   /* truncated at end */
  ASSERT_STR_EQ(san("a\xC3(b"), "a(b"); /* truncated inside */
  ASSERT_STR_EQ(san("a\xC0\xAF"
                    "b"),
                "ab"); /* overlong '/' */
  ASSERT_STR_EQ(san("a\xE0\x80\xAF"
                    "b"),
                "ab"); /* overlong 3-byte */
  ASSERT_STR_EQ(san("a\xED\xA0\x80"
                    "b"),
                "ab"); /* surrogate U+D800 */
  ASSERT_STR_EQ(san("a\xF4\x90\x80\x80"
                    "b"),
                "ab"); /* > U+10FFFF */
  ASSERT_STR_EQ(san("a\xF8\x88\x80\x80\x80"
                    "b"),
                "ab");
  /* The result is always valid UTF-8: check with jansson. */
  static const char *const junk[] = {"\xE2\x82", "\xF0\x9F\x90", "\xC3\xC3\xA9",
                                     "\xED\xBF\xBF\xE2\x82\xAC"};
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
    json_t *s = json_string(san(junk[i]));
    if (!s)
      FAILF("case %zu: \"%s\" is not valid UTF-8", i, san(junk[i]));
    json_decref(s);
  }
}

TEST(sanitize_keeps_quotes_and_backslashes) {
  ASSERT_STR_EQ(san("a\"b\\c'd<e>&"), "a\"b\\c'd<e>&");
  ASSERT_STR_EQ(san("\"\\\"\\\""), "\"\\\"\\\"");
}

TEST(sanitize_respects_len) {
  /* Bytes beyond len are not read, and the input need not be terminated. */
  char in[4] = {'b', 'o', 'b', 'X'};
  ASSERT_STR_EQ(san_n(in, 3), "bob");
}

TEST(name_color) {
  static const char *const names[] = {"bob",      "alice", "anonymous", "",
                                      "\xC3\xA9", "a",     "b",         "c",
                                      "d",        "e",     "f",         "g"};
  int seen[7] = {0};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    int c = sp_proto_name_color(names[i]);
    ASSERT(c >= 1 && c <= 6);
    ASSERT_EQ(sp_proto_name_color(names[i]), c);
    seen[c]++;
  }
  char name[16];
  for (int i = 0; i < 600; i++) {
    snprintf(name, sizeof name, "p%d", i);
    int c = sp_proto_name_color(name);
    ASSERT(c >= 1 && c <= 6);
    seen[c]++;
  }
  for (int c = 1; c <= 6; c++)
    ASSERT(seen[c] > 0); /* every colour is used */
}

/* ---- JSON strings ------------------------------------------------------ */

/* Encodes s with sp_json_string, decodes it with jansson and compares. */
static int json_roundtrip(const char *s, size_t len) {
  sp_buf b = SP_BUF_INIT;
  sp_json_string(&b, s, len);
  json_error_t err;
  json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  int ok = v && json_is_string(v) && json_string_length(v) == len &&
           memcmp(json_string_value(v), s, len) == 0;
  if (!ok)
    fprintf(stderr, "  encoded as %.*s: %s\n", (int)b.len, b.data,
            v ? "decodes to something else" : err.text);
  /* Our output never holds a raw control byte. */
  for (size_t i = 0; i < b.len; i++)
    if ((unsigned char)b.data[i] < 0x20 || b.data[i] == 0x7f)
      ok = 0;
  json_decref(v);
  sp_buf_free(&b);
  return ok;
}

static int json_is(const char *s, size_t len, const char *want) {
  sp_buf b = SP_BUF_INIT;
  sp_json_string(&b, s, len);
  int ok = b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
  if (!ok)
    fprintf(stderr, "  got %.*s want %s\n", (int)b.len, b.data, want);
  sp_buf_free(&b);
  return ok;
}

TEST(json_string_escapes) {
  ASSERT(json_is("bob", 3, "\"bob\""));
  ASSERT(json_is("", 0, "\"\""));
  ASSERT(json_is("a\"b", 3, "\"a\\\"b\""));
  ASSERT(json_is("a\\b", 3, "\"a\\\\b\""));
  ASSERT(json_is("\n\r\t", 3, "\"\\n\\r\\t\""));
  ASSERT(json_is("\x01\x1f", 2, "\"\\u0001\\u001f\""));
  ASSERT(json_is("\x7f", 1, "\"\\u007f\""));
  ASSERT(json_is("\0", 1, "\"\\u0000\""));
  ASSERT(json_is("</script>", 9, "\"</script>\""));
  ASSERT(
      json_is("\xC3\xA9\xF0\x9F\x90\x8D", 6, "\"\xC3\xA9\xF0\x9F\x90\x8D\""));
}

TEST(json_string_roundtrips_through_jansson) {
  char all[128];
  for (int i = 0; i < 128; i++)
    all[i] = (char)i; /* every ASCII byte, NUL included */
  ASSERT(json_roundtrip(all, 128));
  ASSERT(json_roundtrip(all + 1, 127));
  ASSERT(json_roundtrip("\"\\\"\\", 4));
  ASSERT(json_roundtrip("\\u0041", 6));
  static const char uni[] = "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x90\x8D "
                            "\xE2\x80\xAE \xEF\xBF\xBF \xF4\x8F\xBF\xBF "
                            "\xE2\x80\xA8\xE2\x80\xA9";
  ASSERT(json_roundtrip(uni, sizeof uni - 1));
  /* Every sanitized name is a valid JSON string with the same text. */
  static const char *const names[] = {"a\"b\\c", "\xC2\xA0x", "\x01\x02",
                                      "\xF0\x9F\x90\x8D\xF0\x9F\x90\x8D"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *n = san(names[i]);
    ASSERT(json_roundtrip(n, strlen(n)));
  }
}

/* ---- encoders ---------------------------------------------------------- */

#define FRAME_IS(b, want)                                                      \
  do {                                                                         \
    sp_buf_putc(&(b), '\0');                                                   \
    (b).len--;                                                                 \
    if (strcmp((b).data, (want)) != 0) {                                       \
      char copy_[512];                                                         \
      snprintf(copy_, sizeof copy_, "%s", (b).data);                           \
      sp_buf_free(&(b));                                                       \
      FAILF("got  %s\n  want %s", copy_, (want));                              \
    }                                                                          \
    json_error_t e_;                                                           \
    json_t *v_ = json_loadb((b).data, (b).len, 0, &e_);                        \
    int ok_ = v_ && json_is_array(v_);                                         \
    json_decref(v_);                                                           \
    sp_buf_reset(&(b));                                                        \
    if (!ok_) {                                                                \
      sp_buf_free(&(b));                                                       \
      FAILF("not a JSON array: %s", (want));                                   \
    }                                                                          \
  } while (0)

TEST(encode_single_commands) {
  sp_buf b = SP_BUF_INIT;
  sp_proto_begin(&b);
  sp_proto_end(&b);
  FRAME_IS(b, "[]");

  sp_proto_begin(&b);
  sp_proto_handshake(&b, "bob", 3);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"handshake\",\"bob\",3]]");

  sp_proto_begin(&b);
  sp_proto_handshake(&b, "a\"b\\c", 4294967295u);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"handshake\",\"a\\\"b\\\\c\",4294967295]]");

  sp_proto_begin(&b);
  sp_proto_p_joined(&b, 7, "bob", 2, 0);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"p_joined\",7,\"bob\",2,0]]");

  sp_proto_begin(&b);
  sp_proto_p_gameover(&b, 7);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"p_gameover\",7]]");

  sp_proto_begin(&b);
  sp_proto_p_score(&b, 7, 12);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"p_score\",7,12]]");

  sp_proto_begin(&b);
  sp_proto_reset_world(&b);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"reset_world\"]]");

  sp_proto_begin(&b);
  sp_proto_error(&b, "Maximum players reached");
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"error\",\"Maximum players reached\"]]");

  sp_proto_begin(&b);
  sp_proto_round(&b, 42);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"round\",42]]");
  sp_buf_free(&b);
}

/* The extensions of docs/PROTOCOL.md, byte for byte. */
TEST(encode_extensions) {
  sp_buf b = SP_BUF_INIT;
  sp_proto_begin(&b);
  sp_proto_p_gameover(&b, 7);
  sp_proto_p_died(&b, 7, SP_CAUSE_SNAKE, 12, 9, "b\"o");
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"p_gameover\",7],[\"p_died\",7,\"snake\",12,9,\"b\\\"o\"]]");

  static const struct {
    int cause;
    const char *word;
  } causes[] = {{SP_CAUSE_WALL, "wall"},
                {SP_CAUSE_STONE, "stone"},
                {SP_CAUSE_SNAKE, "snake"},
                {SP_CAUSE_SELF, "self"},
                {SP_CAUSE_CORPSE, "corpse"},
                {SP_CAUSE_OBSTACLE, "obstacle"},
                {SP_CAUSE_LEFT, "left"},
                {SP_CAUSE_ROUND, "round"},
                {0, "obstacle"}};
  for (size_t i = 0; i < sizeof causes / sizeof causes[0]; i++)
    ASSERT_STR_EQ(sp_proto_cause_name(causes[i].cause), causes[i].word);

  sp_proto_begin(&b);
  sp_proto_p_died(&b, 3, SP_CAUSE_WALL, 0, 0, "");
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"p_died\",3,\"wall\",0,0,\"\"]]");

  sp_proto_begin(&b);
  sp_proto_round_end_begin(&b, 6);
  sp_proto_round_end_row(&b, 4, "ann", 2, 30);
  sp_proto_round_end_row(&b, 5, "<b>", 3, 7);
  sp_proto_round_end_end(&b);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"round_end\",6,[[4,\"ann\",2,30],[5,\"<b>\",3,7]]]]");
  sp_proto_begin(&b);
  sp_proto_round_end_begin(&b, 6);
  sp_proto_round_end_end(&b);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"round_end\",6,[]]]");

  sp_proto_info info = {.room = "r-1",
                        .max_players = 10,
                        .tick_rate = 7.5,
                        .width = 50,
                        .height = 25,
                        .round_seconds = 60,
                        .standings_seconds = 6,
                        .chat_max_chars = 120,
                        .chat_per_10s = 5,
                        .boot = 0xabcdefULL};
  sp_proto_begin(&b);
  sp_proto_room_info(&b, &info);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"room_info\",{\"room\":\"r-1\",\"max_players\":10,"
              "\"tick_rate\":7.5,\"field\":[50,25],\"round_seconds\":60,"
              "\"standings_seconds\":6,\"chat_max_chars\":120,"
              "\"chat_per_10s\":5,\"boot\":\"0000000000abcdef\"}]]");

  sp_proto_begin(&b);
  sp_proto_watching(&b, 3);
  sp_proto_chat(&b, 8, "ann", "hi \"you\"");
  sp_proto_chat_refused(&b, "Too fast", 1500);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"watching\",3],[\"chat\",8,\"ann\",\"hi \\\"you\\\"\"],"
              "[\"chat_refused\",\"Too fast\",1500]]");
  sp_buf_free(&b);
}

TEST(decode_chat) {
  sp_msg m;
  const char *hello = "[\"chat\",\"  hello\\u0007 world \\u202e!  \"]";
  ASSERT_EQ(sp_proto_decode(hello, strlen(hello), &m), SP_MSG_CHAT);
  ASSERT_STR_EQ(m.text, "hello world !");
  ASSERT_EQ(m.chars, 13);
  ASSERT_EQ(m.over, 0);
  const char *empty = "[\"chat\",\" \\n \"]";
  ASSERT_EQ(sp_proto_decode(empty, strlen(empty), &m), SP_MSG_CHAT);
  ASSERT_STR_EQ(m.text, "");
  ASSERT_EQ(m.chars, 0);
  /* not a string: ignored */
  ASSERT_EQ(sp_proto_decode("[\"chat\",5]", 10, &m), SP_MSG_IGNORED);
  ASSERT_EQ(sp_proto_decode("[\"chat\"]", 8, &m), SP_MSG_IGNORED);
  /* longer than any configuration allows: cut, and said so */
  static char big[SP_CHAT_MAX_CHARS * 3 + 64];
  strcpy(big, "[\"chat\",\"");
  size_t o = strlen(big);
  for (int i = 0; i < SP_CHAT_MAX_CHARS + 1; i++) {
    memcpy(big + o, "\xC3\xA9", 2); /* é: two bytes each */
    o += 2;
  }
  strcpy(big + o, "\"]");
  ASSERT_EQ(sp_proto_decode(big, strlen(big), &m), SP_MSG_CHAT);
  ASSERT_EQ(m.over, 1);
  ASSERT_EQ(m.chars, SP_CHAT_MAX_CHARS);
  ASSERT_EQ(strlen(m.text), 2 * SP_CHAT_MAX_CHARS);
  /* exactly at the limit, with trailing spaces: not over */
  big[o - 2] = ' ';
  big[o - 1] = ' ';
  ASSERT_EQ(sp_proto_decode(big, strlen(big), &m), SP_MSG_CHAT);
  ASSERT_EQ(m.over, 0);
  ASSERT_EQ(m.chars, SP_CHAT_MAX_CHARS);
}

TEST(sanitize_text_limits) {
  char out[64];
  int over;
  ASSERT_EQ(sp_proto_sanitize_text("abcdef", 6, 3, out, &over), 3);
  ASSERT_STR_EQ(out, "abc");
  ASSERT_EQ(over, 1);
  ASSERT_EQ(sp_proto_sanitize_text("ab  ", 4, 3, out, &over), 2);
  ASSERT_STR_EQ(out, "ab");
  ASSERT_EQ(over, 0);
  ASSERT_EQ(sp_proto_sanitize_text("\x01\x02", 2, 3, out, &over), 0);
  ASSERT_STR_EQ(out, "");
  ASSERT_EQ(over, 0);
}

TEST(encode_renders) {
  sp_buf b = SP_BUF_INIT;
  sp_proto_begin(&b);
  sp_proto_render(&b, 1, 2, '%', 3);
  sp_proto_render(&b, 1, 3, '@', 3);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"render\",1,2,\"%\",3],[\"render\",1,3,\"@\",3]]");

  sp_proto_begin(&b);
  sp_proto_render(&b, 0, 0, ' ', 0);
  sp_proto_render(&b, 49, 24, '"', 1);
  sp_proto_render(&b, 10, 11, '\\', 6);
  sp_proto_render(&b, 5, 6, '7', 4);
  sp_proto_render(&b, 65535, 65535, '#', 0);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"render\",0,0,\" \",0],[\"render\",49,24,\"\\\"\",1],"
              "[\"render\",10,11,\"\\\\\",6],[\"render\",5,6,\"7\",4],"
              "[\"render\",65535,65535,\"#\",0]]");
  sp_buf_free(&b);
}

TEST(encode_top_scores) {
  sp_buf b = SP_BUF_INIT;
  sp_proto_begin(&b);
  sp_proto_top_scores_begin(&b);
  sp_proto_top_scores_end(&b);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"top_scores\",[]]]");

  sp_proto_begin(&b);
  sp_proto_top_scores_begin(&b);
  sp_proto_top_scores_row(&b, "alice", 30, 1);
  sp_proto_top_scores_row(&b, "b\"ob", 20, 2);
  sp_proto_top_scores_row(&b, "[", 10, 6);
  sp_proto_top_scores_end(&b);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"top_scores\",[[\"alice\",30,1],[\"b\\\"ob\",20,2],"
              "[\"[\",10,6]]]]");
  sp_buf_free(&b);
}

TEST(encode_many_commands_in_one_frame) {
  /* The order of a death in PROTOCOL.md: p_gameover, top_scores, renders. */
  sp_buf b = SP_BUF_INIT;
  sp_proto_begin(&b);
  sp_proto_p_gameover(&b, 1);
  sp_proto_top_scores_begin(&b);
  sp_proto_top_scores_row(&b, "bob", 5, 3);
  sp_proto_top_scores_end(&b);
  sp_proto_render(&b, 2, 2, 'x', 0);
  sp_proto_reset_world(&b);
  sp_proto_p_joined(&b, 2, "[", 1, 0);
  sp_proto_handshake(&b, "[", 2);
  sp_proto_end(&b);
  FRAME_IS(b, "[[\"p_gameover\",1],[\"top_scores\",[[\"bob\",5,3]]],"
              "[\"render\",2,2,\"x\",0],[\"reset_world\"],"
              "[\"p_joined\",2,\"[\",1,0],[\"handshake\",\"[\",2]]");
  sp_buf_free(&b);
}

/* The text of a JSON string, or "" for anything else. */
static const char *str0(const json_t *v) {
  const char *s = json_string_value(v);
  return s ? s : "";
}

/* Decodes a world frame and compares every cell with the game. */
static int world_matches(const sp_game *g, const sp_buf *b) {
  json_error_t err;
  json_t *v = json_loadb(b->data, b->len, 0, &err);
  int w = sp_game_width(g), h = sp_game_height(g), ok = 0;
  json_t *cmd = json_array_get(v, 0), *rows = json_array_get(cmd, 1);
  if (!v || json_array_size(v) != 1 || json_array_size(cmd) != 2 ||
      strcmp(str0(json_array_get(cmd, 0)), "world") != 0 ||
      json_array_size(rows) != (size_t)h)
    goto out;
  for (int y = 0; y < h; y++) {
    json_t *row = json_array_get(rows, (size_t)y);
    if (json_array_size(row) != (size_t)w)
      goto out;
    for (int x = 0; x < w; x++) {
      json_t *cell = json_array_get(row, (size_t)x);
      sp_cell c = sp_game_cell(g, x, y);
      json_t *ch = json_array_get(cell, 0), *col = json_array_get(cell, 1);
      if (json_array_size(cell) != 2 || !json_is_string(ch) ||
          json_string_length(ch) != 1 || json_string_value(ch)[0] != c.ch ||
          !json_is_integer(col) || json_integer_value(col) != c.color)
        goto out;
    }
  }
  ok = 1;
out:
  json_decref(v);
  return ok;
}

TEST(encode_world) {
  sp_game_config cfg;
  sp_game_config_default(&cfg);
  cfg.width = 11;
  cfg.height = 11;
  cfg.seed = 42;
  sp_game *g = NULL;
  ASSERT_EQ(sp_game_new(&cfg, &g), 0);
  sp_buf b = SP_BUF_INIT;
  sp_proto_begin(&b);
  sp_proto_world(&b, g);
  sp_proto_end(&b);
  int empty_ok = world_matches(g, &b);
  /* Every cell of a new game is [" ",0]. */
  json_error_t err;
  json_t *v = json_loadb(b.data, b.len, 0, &err);
  json_t *rows = json_array_get(json_array_get(v, 0), 1);
  int cells = 0, blank = 0;
  for (size_t y = 0; y < json_array_size(rows); y++)
    for (size_t x = 0; x < json_array_size(json_array_get(rows, y)); x++) {
      json_t *cell = json_array_get(json_array_get(rows, y), x);
      cells++;
      blank += strcmp(str0(json_array_get(cell, 0)), " ") == 0 &&
               json_integer_value(json_array_get(cell, 1)) == 0;
    }
  json_decref(v);
  /* Then with a snake on the field. */
  uint8_t color;
  int joined = sp_game_join(g, 1, &color);
  sp_game_tick(g);
  sp_game_tick(g);
  sp_buf_reset(&b);
  sp_proto_begin(&b);
  sp_proto_world(&b, g);
  sp_proto_end(&b);
  int snake_ok = world_matches(g, &b);
  sp_buf_free(&b);
  sp_game_free(g);
  ASSERT(empty_ok);
  ASSERT_EQ(cells, 121);
  ASSERT_EQ(blank, 121);
  ASSERT_EQ(joined, 0);
  ASSERT(snake_ok);
}

/* ---- decoding ---------------------------------------------------------- */

static sp_msg_type dec(const char *s, sp_msg *m) {
  return sp_proto_decode(s, strlen(s), m);
}

TEST(decode_new_player) {
  sp_msg m;
  ASSERT_EQ(dec("[\"new_player\",\"bob\"]", &m), SP_MSG_NEW_PLAYER);
  ASSERT_EQ(m.type, SP_MSG_NEW_PLAYER);
  ASSERT_STR_EQ(m.name, "bob");
  ASSERT_EQ(dec(" [ \"new_player\" , \"  al\\u0007ice \" ] ", &m),
            SP_MSG_NEW_PLAYER);
  ASSERT_STR_EQ(m.name, "alice");
  ASSERT_EQ(dec("[\"new_player\",\"\\u202Eevil\\\"q\"]", &m),
            SP_MSG_NEW_PLAYER);
  ASSERT_STR_EQ(m.name, "evil\"q");
  ASSERT_EQ(dec("[\"new_player\",\"\"]", &m), SP_MSG_NEW_PLAYER);
  ASSERT_STR_EQ(m.name, "anonymous");
  ASSERT_EQ(dec("[\"new_player\",\"\\ud83d\\udc0d\"]", &m), SP_MSG_NEW_PLAYER);
  ASSERT_STR_EQ(m.name, "\xF0\x9F\x90\x8D");
  ASSERT_EQ(dec("[\"new_player\",\"bob\",\"extra\",1]", &m), SP_MSG_NEW_PLAYER);
  ASSERT_STR_EQ(m.name, "bob");
  /* A long name is cut to 15 code points. */
  char big[3000] = "[\"new_player\",\"";
  for (int i = 0; i < 500; i++)
    strcat(big, "\xC3\xA9");
  strcat(big, "\"]");
  ASSERT_EQ(dec(big, &m), SP_MSG_NEW_PLAYER);
  ASSERT_EQ(utf8_len(m.name), 15);
}

TEST(decode_new_player_wrong_shape_ignored) {
  sp_msg m;
  ASSERT_EQ(dec("[\"new_player\", 5]", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("[\"new_player\"]", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("[\"new_player\", null]", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("[\"new_player\", [\"bob\"]]", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("{\"new_player\": \"bob\"}", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("[\"NEW_PLAYER\", \"bob\"]", &m), SP_MSG_IGNORED);
}

TEST(decode_join) {
  sp_msg m;
  ASSERT_EQ(dec("[\"join\"]", &m), SP_MSG_JOIN);
  ASSERT_EQ(dec(" [\"join\", 1] ", &m), SP_MSG_JOIN);
  ASSERT_EQ(dec("[\"Join\"]", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("\"join\"", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("[[\"join\"]]", &m), SP_MSG_IGNORED);
}

TEST(decode_keys) {
  sp_msg m;
  ASSERT_EQ(dec("37", &m), SP_MSG_KEY);
  ASSERT_EQ(m.dir, SP_DIR_LEFT);
  ASSERT_EQ(dec("38", &m), SP_MSG_KEY);
  ASSERT_EQ(m.dir, SP_DIR_UP);
  ASSERT_EQ(dec("39", &m), SP_MSG_KEY);
  ASSERT_EQ(m.dir, SP_DIR_RIGHT);
  ASSERT_EQ(dec(" 40 ", &m), SP_MSG_KEY);
  ASSERT_EQ(m.dir, SP_DIR_DOWN);
  ASSERT_EQ(m.dir, 3);
  ASSERT_EQ(dec("36", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("41", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("-37", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("0", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("37.0", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("3.7e1", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("\"37\"", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("[37]", &m), SP_MSG_IGNORED);
  ASSERT_EQ(dec("4294967333", &m), SP_MSG_IGNORED); /* 2^32 + 37 */
  ASSERT_EQ(dec("-9223372036854775808", &m), SP_MSG_IGNORED);
}

/* The decoder reads keys and joins without jansson: every two-byte input
 * and the join must decode as jansson's reading says. */
TEST(decode_fast_path_matches_jansson) {
  char in[9];
  for (int a = 0; a < 256; a++) {
    for (int b = 0; b < 256; b++) {
      in[0] = (char)a;
      in[1] = (char)b;
      sp_msg m;
      sp_msg_type got = sp_proto_decode(in, 2, &m);
      json_error_t err;
      json_t *v = json_loadb(in, 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
      sp_msg_type want = !v ? SP_MSG_INVALID : SP_MSG_IGNORED;
      int dir = 0;
      if (v && json_is_integer(v) && json_integer_value(v) >= 37 &&
          json_integer_value(v) <= 40) {
        want = SP_MSG_KEY;
        dir = (int)json_integer_value(v) - 37;
      }
      json_decref(v);
      if (got != want || (want == SP_MSG_KEY && m.dir != dir))
        FAILF("input %02x %02x: type %d dir %d, jansson says %d dir %d", a, b,
              got, m.dir, want, dir);
    }
  }
  memcpy(in, "[\"join\"]", 8);
  sp_msg m;
  ASSERT_EQ(sp_proto_decode(in, 8, &m), SP_MSG_JOIN);
  ASSERT_EQ(sp_proto_decode("[ \"join\" ]", 10, &m), SP_MSG_JOIN);
  ASSERT_EQ(sp_proto_decode("[\"join\"", 7, &m), SP_MSG_INVALID);
}

TEST(decode_other_shapes_ignored) {
  static const char *const ignored[] = {
      "[]",     "{}",    "null",          "true",
      "false",  "\"\"",  "[\"unknown\"]", "[1,2]",
      "[null]", "[[]]",  "{\"a\":1}",     "\"new_player\"",
      "1.5",    "[\"\"]"};
  for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
    sp_msg m;
    sp_msg_type t = dec(ignored[i], &m);
    if (t != SP_MSG_IGNORED || m.type != SP_MSG_IGNORED)
      FAILF("%s -> %d", ignored[i], (int)t);
  }
}

TEST(decode_invalid_json) {
  static const char *const invalid[] = {"not json",
                                        "[",
                                        "",
                                        "[1,2",
                                        "]",
                                        "{\"a\"}",
                                        "37 38",
                                        "[\"join\"] x",
                                        "'join'",
                                        "[\"join\",]",
                                        "[\"a\\x\"]",
                                        "\xff",
                                        "[\"\xff\"]",
                                        "nul",
                                        "[\"new_player\",\"\xC0\xAF\"]",
                                        " "};
  for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
    sp_msg m;
    sp_msg_type t = dec(invalid[i], &m);
    if (t != SP_MSG_INVALID || m.type != SP_MSG_INVALID)
      FAILF("case %zu (%s) -> %d", i, invalid[i], (int)t);
  }
  /* Not NUL-terminated: only len bytes are read. */
  sp_msg m;
  char buf[4] = {'3', '7', '3', '7'};
  ASSERT_EQ(sp_proto_decode(buf, 2, &m), SP_MSG_KEY);
  ASSERT_EQ(sp_proto_decode(buf, 0, &m), SP_MSG_INVALID);
}

TEST(decode_hostile_inputs_do_not_crash) {
  sp_msg m;
  /* 100000 nested arrays, open and closed. */
  size_t depth = 100000;
  char *deep = malloc(2 * depth + 1);
  ASSERT(deep != NULL);
  memset(deep, '[', depth);
  memset(deep + depth, ']', depth);
  deep[2 * depth] = '\0';
  sp_msg_type t = sp_proto_decode(deep, 2 * depth, &m);
  int deep_ok = t == SP_MSG_INVALID || t == SP_MSG_IGNORED;
  t = sp_proto_decode(deep, depth, &m); /* never closed */
  deep_ok = deep_ok && t == SP_MSG_INVALID;
  /* Same with objects. */
  char *obj = malloc(5 * depth + 1);
  size_t o = 0;
  for (size_t i = 0; i < depth; i++) {
    memcpy(obj + o, "{\"a\":", 5);
    o += 5;
  }
  obj[o] = '\0';
  t = sp_proto_decode(obj, o, &m);
  deep_ok = deep_ok && t == SP_MSG_INVALID;
  free(obj);
  free(deep);
  ASSERT(deep_ok);

  static const char *const numbers[] = {
      "1e400",
      "-1e400",
      "99999999999999999999999",
      "[\"join\",1e400]",
      "[\"new_player\",\"x\",99999999999999999999999]",
      "1e-400",
      "-0",
      "37e0",
      "0x25",
      "037",
      "NaN",
      "Infinity"};
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
    t = dec(numbers[i], &m);
    if (t == SP_MSG_NEW_PLAYER || t == SP_MSG_KEY)
      FAILF("%s -> %d", numbers[i], (int)t);
  }
  /* \u0000 inside a name: dropped like any control character (or the
   * message refused), never an empty or truncated name. */
  static const char *const nuls[] = {
      "[\"new_player\",\"a\\u0000b\"]", "\"\\u0000\"",
      "[\"new_player\",\"\\u0000\"]", "[\"new_player\",\"\\ud800\"]"};
  for (size_t i = 0; i < sizeof nuls / sizeof nuls[0]; i++) {
    t = dec(nuls[i], &m);
    if (t == SP_MSG_NEW_PLAYER &&
        (strlen(m.name) == 0 || (i == 0 && strcmp(m.name, "ab") != 0)))
      FAILF("%s -> name \"%s\"", nuls[i], m.name);
  }
  /* A very long string. */
  size_t n = 1 << 20;
  char *big = malloc(n + 32);
  memcpy(big, "[\"new_player\",\"", 15);
  memset(big + 15, 'z', n);
  memcpy(big + 15 + n, "\"]", 3);
  t = dec(big, &m);
  free(big);
  ASSERT_EQ(t, SP_MSG_NEW_PLAYER);
  ASSERT_STR_EQ(m.name, "zzzzzzzzzzzzzzz");
}

TEST(decode_command_with_nul_is_not_a_command) {
  /* A command name is compared as a whole JSON string: "join\u0000x" is
   * not "join" (PROTOCOL.md: valid JSON of another shape is ignored). */
  sp_msg m;
  ASSERT_EQ(dec("[\"join\\u0000\"]", &m) == SP_MSG_JOIN, 0);
  ASSERT_EQ(dec("[\"join\\u0000x\"]", &m) == SP_MSG_JOIN, 0);
  ASSERT_EQ(dec("[\"new_player\\u0000\",\"bob\"]", &m) == SP_MSG_NEW_PLAYER, 0);
}

int main(void) {
  RUN(sanitize_trims);
  RUN(sanitize_drops_controls);
  RUN(sanitize_truncates_to_15_code_points);
  RUN(sanitize_trims_after_truncation);
  RUN(sanitize_empty_becomes_anonymous);
  RUN(sanitize_drops_invalid_utf8);
  RUN(sanitize_keeps_quotes_and_backslashes);
  RUN(sanitize_respects_len);
  RUN(name_color);
  RUN(json_string_escapes);
  RUN(json_string_roundtrips_through_jansson);
  RUN(encode_single_commands);
  RUN(encode_extensions);
  RUN(decode_chat);
  RUN(sanitize_text_limits);
  RUN(encode_renders);
  RUN(encode_top_scores);
  RUN(encode_many_commands_in_one_frame);
  RUN(encode_world);
  RUN(decode_new_player);
  RUN(decode_new_player_wrong_shape_ignored);
  RUN(decode_join);
  RUN(decode_keys);
  RUN(decode_fast_path_matches_jansson);
  RUN(decode_other_shapes_ignored);
  RUN(decode_invalid_json);
  RUN(decode_hostile_inputs_do_not_crash);
  RUN(decode_command_with_nul_is_not_a_command);
  return TEST_SUMMARY();
}
