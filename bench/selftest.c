/* selftest: byte-level checks of the load generator's framing and scanning,
 * of its loss and key-to-effect accounting and of its command line.
 * Prints "N passed, M failed" last, like the project's other suites. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "hist.h"
#include "measure.h"
#include "opts.h"
#include "scan.h"
#include "ws.h"

static int passed, failed;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      passed++;                                                                \
    } else {                                                                   \
      failed++;                                                                \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
    }                                                                          \
  } while (0)

static void test_accept(void) {
  char acc[SB_WS_ACCEPT_LEN + 1], key[SB_WS_KEY_LEN + 1];
  const unsigned char nonce[16] = "the sample nonce";

  /* The example of RFC 6455 section 1.3. */
  sb_ws_make_key(nonce, key);
  CHECK(strcmp(key, "dGhlIHNhbXBsZSBub25jZQ==") == 0);
  CHECK(sb_ws_accept_for(key, acc) == 0);
  CHECK(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
}

static void test_encode(void) {
  uint8_t out[200000];
  static uint8_t big[70000];
  sb_ws_header h;
  size_t n = sb_ws_encode(out, sizeof out, SB_WS_TEXT, "Hello", 5, 0x37fa213d);
  /* RFC 6455 section 5.7: a masked "Hello". */
  static const uint8_t want[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  CHECK(n == sizeof want && memcmp(out, want, n) == 0);
  CHECK(sb_ws_parse_header(out, n, &h) == 1 && h.masked && h.payload_len == 5 &&
        h.fin);
  n = sb_ws_encode(out, sizeof out, SB_WS_BINARY, big, 300, 1);
  CHECK(n == 300 + 8 && out[1] == (0x80 | 126));
  n = sb_ws_encode(out, sizeof out, SB_WS_BINARY, big, sizeof big, 1);
  CHECK(n == sizeof big + 14 && out[1] == (0x80 | 127));
  CHECK(sb_ws_parse_header(out, n, &h) == 1 && h.payload_len == sizeof big &&
        h.header_len == 14);
  CHECK(sb_ws_encode(out, 10, SB_WS_TEXT, "Hello", 5, 1) == 0);
}

static void test_parse_header(void) {
  sb_ws_header h;
  const uint8_t small[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
  const uint8_t ext16[] = {0x81, 126, 0x01, 0x00};
  const uint8_t rsv[] = {0xc1, 0x00};
  const uint8_t bad_op[] = {0x83, 0x00};
  const uint8_t long_ping[] = {0x89, 126, 0, 200};
  const uint8_t frag_close[] = {0x08, 0x00};

  /* Byte by byte: incomplete until the header is whole. */
  for (size_t i = 0; i < 2; i++)
    CHECK(sb_ws_parse_header(small, i, &h) == 0);
  CHECK(sb_ws_parse_header(small, 2, &h) == 1 && h.payload_len == 5 &&
        h.header_len == 2 && h.opcode == SB_WS_TEXT && !h.masked);
  CHECK(sb_ws_parse_header(ext16, 3, &h) == 0);
  CHECK(sb_ws_parse_header(ext16, 4, &h) == 1 && h.payload_len == 256 &&
        h.header_len == 4);
  CHECK(sb_ws_parse_header(rsv, 2, &h) == -1);
  CHECK(sb_ws_parse_header(bad_op, 2, &h) == -1);
  CHECK(sb_ws_parse_header(long_ping, 4, &h) == -1);
  CHECK(sb_ws_parse_header(frag_close, 2, &h) == -1);
}

static void test_scan(void) {
  const char *f = "[[\"render\",1,2,\"%\",3], [\"p_score\", 4, "
                  "10],[\"top_scores\",[[\"a\\\"]\",3,2]]],"
                  "[\"world\",[[[\" \",0],[\"#\",0]]]],[\"error\",\"x\"]]";
  sb_cmd_iter it;
  const char *name, *s;
  size_t nl, sl;
  sb_cur a;
  long v;

  sb_cmd_iter_init(&it, f, strlen(f));
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == 1 && nl == 6 &&
        memcmp(name, "render", 6) == 0);
  CHECK(sb_accept(&a, ',') && sb_read_int(&a, &v) == 0 && v == 1);
  CHECK(sb_accept(&a, ',') && sb_read_int(&a, &v) == 0 && v == 2);
  CHECK(sb_accept(&a, ',') && sb_read_string(&a, &s, &sl) == 0 && sl == 1 &&
        s[0] == '%');
  CHECK(sb_accept(&a, ',') && sb_read_int(&a, &v) == 0 && v == 3);
  CHECK(!sb_accept(&a, ','));
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == 1 && nl == 7 &&
        memcmp(name, "p_score", 7) == 0);
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == 1 && nl == 10);
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == 1 && nl == 5 &&
        memcmp(name, "world", 5) == 0);
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == 1 && nl == 5 &&
        memcmp(name, "error", 5) == 0);
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == 0);
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == 0);

  sb_cmd_iter_init(&it, " [ ] ", 5);
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == 0);
  sb_cmd_iter_init(&it, "[[\"render\",1", 12);
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == -1);
  sb_cmd_iter_init(&it, "{\"a\":1}", 7);
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == -1);
  sb_cmd_iter_init(&it, "[1]", 3);
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == -1);
  sb_cmd_iter_init(&it, "[[1,2]]", 7);
  CHECK(sb_cmd_next(&it, &name, &nl, &a) == 1 && nl == 0);
  sb_cur_init(&a, "1.5", 3);
  CHECK(sb_read_int(&a, &v) == -1);
  sb_cur_init(&a, "-12", 3);
  CHECK(sb_read_int(&a, &v) == 0 && v == -12);
}

static void test_hist(void) {
  sb_hist h;
  CHECK(sb_hist_init(&h) == 0);
  CHECK(sb_hist_quantile_ms(&h, 0.99) == 0);
  for (int i = 1; i <= 100; i++)
    sb_hist_add(&h, (uint64_t)i * 1000000);
  CHECK(h.count == 100);
  CHECK(sb_hist_quantile_ms(&h, 0.5) > 49.9 &&
        sb_hist_quantile_ms(&h, 0.5) <= 50.01);
  CHECK(sb_hist_quantile_ms(&h, 0.99) > 98.9 &&
        sb_hist_quantile_ms(&h, 0.99) <= 99.01);
  CHECK(sb_hist_max_ms(&h) == 100);
  sb_hist_add(&h, 60ull * 1000000000);
  CHECK(sb_hist_max_ms(&h) == 60000);
  CHECK(sb_hist_quantile_ms(&h, 1.0) == 60000);
  sb_hist_free(&h);
}

/* Render frames for one client at the given times (ms after T0). */
static void renders(sb_meas *m, sb_track *t, uint64_t t0, const int *ms,
                    int n) {
  for (int i = 0; i < n; i++)
    sb_meas_render(m, t, t0 + (uint64_t)ms[i] * 1000000);
}

static void test_measure(void) {
  static const int steady[] = {0, 50, 100, 150, 200};
  static const int missing[] = {300, 350, 450, 500};   /* 400 never came */
  static const int late[] = {600, 650, 740, 750, 800}; /* 700 came at 740 */
  const uint64_t t0 = 1000000000;
  sb_meas m;
  sb_track t = {0};

  CHECK(sb_meas_init(&m, 20) == 0);
  /* Before the window: counted, not measured. */
  renders(&m, &t, t0 - 500000000, steady, 3);
  CHECK(m.tot.tick_frames == 3 && m.gap_n == 0);
  sb_meas_open(&m, t0);
  /* The first frame in the window only starts the run: the gap from a frame
   * before the window is not counted. */
  renders(&m, &t, t0, steady, 5);
  CHECK(m.gap_n == 4 && t.seg_n == 4);
  CHECK(sb_hist_quantile_ms(&m.gaps, 0.99) > 49.9 &&
        sb_hist_quantile_ms(&m.gaps, 0.99) <= 50.01);
  /* A restart (reset_world) is no gap and closes the run without loss. */
  sb_meas_restart(&m, &t);
  CHECK(t.seg_n == 0 && t.last_tick == 0 && m.lost_ticks == 0);
  renders(&m, &t, t0, missing, 4);
  sb_meas_flush(&m, &t);
  CHECK(m.lost_ticks == 1 && m.extra_frames == 0);
  /* A late frame followed by an early one spans the ticks it should. */
  sb_meas_restart(&m, &t);
  renders(&m, &t, t0, late, 5);
  sb_meas_flush(&m, &t);
  CHECK(m.lost_ticks == 1 && m.extra_frames == 0);
  CHECK(sb_hist_max_ms(&m.gaps) > 99.9 && sb_hist_max_ms(&m.gaps) < 100.1);
  /* Key-to-effect counts only inside the window. */
  sb_meas_turn_shown(&m, 30000000);
  CHECK(m.turns_measured == 1 && m.keylat.count == 1);
  sb_meas_close(&m, t0 + 1000000000);
  sb_meas_turn_shown(&m, 30000000);
  CHECK(m.turns_measured == 1);
  renders(&m, &t, t0 + 900000000, steady, 2);
  CHECK(m.gap_n == 4 + 3 + 4);
  CHECK(sb_meas_window_s(&m) > 0.999 && sb_meas_window_s(&m) < 1.001);
  CHECK(sb_meas_window(&m).tick_frames == 5 + 4 + 5);
  sb_meas_free(&m);
}

/* Parses the NULL-terminated ARGS (getopt restarts with optind 0). */
static int parse(sb_opts *o, const char *const *args) {
  char *argv[16];
  int argc = 0;
  while (args[argc] && argc < 15) {
    argv[argc] = (char *)args[argc];
    argc++;
  }
  argv[argc] = NULL;
  optind = 0;
  return sb_opts_parse(o, argc, argv);
}

static void test_opts(void) {
  sb_opts o;
  static const char *const defaults[] = {"snakepit-bench", NULL};
  static const char *const full[] = {"snakepit-bench",
                                     "-c",
                                     "100",
                                     "-r",
                                     "3",
                                     "-p",
                                     "4",
                                     "--seed",
                                     "9",
                                     "ws://localhost:9000/connect",
                                     NULL};
  static const char *const query[] = {"snakepit-bench",
                                      "--url",
                                      "ws://127.0.0.1:81/c?room=x",
                                      "-p",
                                      "500",
                                      NULL};

  CHECK(parse(&o, defaults) == 0);
  CHECK(strcmp(o.host, "127.0.0.1") == 0 && o.port == 8080 &&
        strcmp(o.path, "/connect") == 0);
  CHECK(o.clients == 100 && o.rooms == 1 && o.players == 0);
  CHECK(o.source_ips == 4); /* 32 clients per loopback address */
  CHECK(o.connect_timeout_s > 30.19 && o.connect_timeout_s < 30.21);
  CHECK(o.seed != 0);

  CHECK(parse(&o, full) == 0);
  CHECK(strcmp(o.host, "127.0.0.1") == 0 && o.port == 9000);
  CHECK(o.seed == 9 && sb_opts_rooms(&o) == 3);
  /* 100 clients over 3 rooms: 34, 33, 33; 4 players play in all 3. */
  CHECK(sb_opts_expected_members(&o) == 100);

  CHECK(parse(&o, query) == 0);
  CHECK(strcmp(o.path, "/c") == 0 && strcmp(o.query, "room=x") == 0);
  CHECK(o.players == 100); /* no more players than clients */
  CHECK(sb_opts_rooms(&o) == 1 && sb_opts_expected_members(&o) == 100);
}

int main(void) {
  test_accept();
  test_encode();
  test_parse_header();
  test_scan();
  test_hist();
  test_measure();
  test_opts();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
