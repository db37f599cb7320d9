#include "room/proto.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

#include "core/text.h"
#include "game/game.h"

/* Commands are separated by commas; the first one follows the '['. */
static void sp__cmd(sp_buf *b, const char *head) {
  if (b->len > 0 && b->data[b->len - 1] != '[')
    sp_buf_putc(b, ',');
  sp_buf_puts(b, head);
}

void sp_proto_begin(sp_buf *b) { sp_buf_putc(b, '['); }
void sp_proto_end(sp_buf *b) { sp_buf_putc(b, ']'); }

void sp_json_string(sp_buf *b, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  if (sp_buf_reserve(b, len * 6 + 2))
    return;
  char *o = b->data + b->len;
  *o++ = '"';
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      switch (c) {
      case '\n':
        *o++ = '\\';
        *o++ = 'n';
        break;
      case '\r':
        *o++ = '\\';
        *o++ = 'r';
        break;
      case '\t':
        *o++ = '\\';
        *o++ = 't';
        break;
      default:
        memcpy(o, "\\u00", 4);
        o += 4;
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
      }
    } else {
      *o++ = (char)c;
    }
  }
  *o++ = '"';
  b->len = (size_t)(o - b->data);
}

void sp_proto_handshake(sp_buf *b, const char *name, uint32_t id) {
  sp__cmd(b, "[\"handshake\",");
  sp_json_string(b, name, strlen(name));
  sp_buf_putc(b, ',');
  sp_buf_put_uint(b, id);
  sp_buf_putc(b, ']');
}

void sp_proto_world(sp_buf *b, const sp_game *g) {
  int w = sp_game_width(g), h = sp_game_height(g);
  sp__cmd(b, "[\"world\",[");
  for (int y = 0; y < h; y++) {
    sp_buf_puts(b, y ? ",[" : "[");
    for (int x = 0; x < w; x++) {
      sp_cell c = sp_game_cell(g, x, y);
      if (x)
        sp_buf_putc(b, ',');
      sp_buf_putc(b, '[');
      sp_json_string(b, &c.ch, 1);
      sp_buf_putc(b, ',');
      sp_buf_put_uint(b, c.color);
      sp_buf_putc(b, ']');
    }
    sp_buf_putc(b, ']');
  }
  sp_buf_puts(b, "]]");
}

/* ID,NAME,COLOR,SCORE]: the tail that p_joined and a standings row share. */
static void sp__player_tail(sp_buf *b, uint32_t id, const char *name, int color,
                            uint32_t score) {
  sp_buf_put_uint(b, id);
  sp_buf_putc(b, ',');
  sp_json_string(b, name, strlen(name));
  sp_buf_putc(b, ',');
  sp_buf_put_uint(b, (uint64_t)color);
  sp_buf_putc(b, ',');
  sp_buf_put_uint(b, score);
  sp_buf_putc(b, ']');
}

void sp_proto_p_joined(sp_buf *b, uint32_t id, const char *name, int color,
                       uint32_t score) {
  sp__cmd(b, "[\"p_joined\",");
  sp__player_tail(b, id, name, color, score);
}

void sp_proto_p_gameover(sp_buf *b, uint32_t id) {
  sp__cmd(b, "[\"p_gameover\",");
  sp_buf_put_uint(b, id);
  sp_buf_putc(b, ']');
}

void sp_proto_p_score(sp_buf *b, uint32_t id, uint32_t score) {
  sp__cmd(b, "[\"p_score\",");
  sp_buf_put_uint(b, id);
  sp_buf_putc(b, ',');
  sp_buf_put_uint(b, score);
  sp_buf_putc(b, ']');
}

void sp_proto_render(sp_buf *b, int x, int y, char ch, int color) {
  sp__cmd(b, "[\"render\",");
  sp_buf_put_uint(b, (uint64_t)x);
  sp_buf_putc(b, ',');
  sp_buf_put_uint(b, (uint64_t)y);
  sp_buf_putc(b, ',');
  sp_json_string(b, &ch, 1);
  sp_buf_putc(b, ',');
  sp_buf_put_uint(b, (uint64_t)color);
  sp_buf_putc(b, ']');
}

void sp_proto_reset_world(sp_buf *b) { sp__cmd(b, "[\"reset_world\"]"); }

void sp_proto_error(sp_buf *b, const char *text) {
  sp__cmd(b, "[\"error\",");
  sp_json_string(b, text, strlen(text));
  sp_buf_putc(b, ']');
}

void sp_proto_top_scores_begin(sp_buf *b) { sp__cmd(b, "[\"top_scores\",["); }

void sp_proto_top_scores_row(sp_buf *b, const char *name, uint32_t score,
                             int color) {
  sp__cmd(b, "[");
  sp_json_string(b, name, strlen(name));
  sp_buf_putc(b, ',');
  sp_buf_put_uint(b, score);
  sp_buf_putc(b, ',');
  sp_buf_put_uint(b, (uint64_t)color);
  sp_buf_putc(b, ']');
}

void sp_proto_top_scores_end(sp_buf *b) { sp_buf_puts(b, "]]"); }

void sp_proto_round(sp_buf *b, uint32_t seconds_left) {
  sp__cmd(b, "[\"round\",");
  sp_buf_put_uint(b, seconds_left);
  sp_buf_putc(b, ']');
}

void sp_proto_round_end_begin(sp_buf *b, uint32_t seconds) {
  sp__cmd(b, "[\"round_end\",");
  sp_buf_put_uint(b, seconds);
  sp_buf_puts(b, ",[");
}

void sp_proto_round_end_row(sp_buf *b, uint32_t id, const char *name, int color,
                            uint32_t score) {
  sp__cmd(b, "[");
  sp__player_tail(b, id, name, color, score);
}

void sp_proto_round_end_end(sp_buf *b) { sp_buf_puts(b, "]]"); }

const char *sp_proto_cause_name(int cause) {
  switch (cause) {
  case SP_CAUSE_WALL: return "wall";
  case SP_CAUSE_STONE: return "stone";
  case SP_CAUSE_SNAKE: return "snake";
  case SP_CAUSE_SELF: return "self";
  case SP_CAUSE_CORPSE: return "corpse";
  case SP_CAUSE_LEFT: return "left";
  case SP_CAUSE_ROUND: return "round";
  default: return "obstacle";
  }
}

void sp_proto_p_died(sp_buf *b, uint32_t id, int cause, uint32_t score,
                     uint32_t by, const char *by_name) {
  sp__cmd(b, "[\"p_died\",");
  sp_buf_put_uint(b, id);
  sp_buf_puts(b, ",\"");
  sp_buf_puts(b, sp_proto_cause_name(cause));
  sp_buf_puts(b, "\",");
  sp_buf_put_uint(b, score);
  sp_buf_putc(b, ',');
  sp_buf_put_uint(b, by);
  sp_buf_putc(b, ',');
  sp_json_string(b, by_name, strlen(by_name));
  sp_buf_putc(b, ']');
}

void sp_proto_room_info(sp_buf *b, const sp_proto_info *info) {
  sp__cmd(b, "[\"room_info\",{\"room\":");
  sp_json_string(b, info->room, strlen(info->room));
  sp_buf_printf(b,
                ",\"max_players\":%d,\"tick_rate\":%.6g,\"field\":[%d,%d],"
                "\"round_seconds\":%u,\"standings_seconds\":%u,"
                "\"chat_max_chars\":%u,\"chat_per_10s\":%.6g,"
                "\"boot\":\"%016llx\"}]",
                info->max_players, info->tick_rate, info->width, info->height,
                info->round_seconds, info->standings_seconds,
                info->chat_max_chars, info->chat_per_10s,
                (unsigned long long)info->boot);
}

void sp_proto_watching(sp_buf *b, size_t n) {
  sp__cmd(b, "[\"watching\",");
  sp_buf_put_uint(b, n);
  sp_buf_putc(b, ']');
}

void sp_proto_announce(sp_buf *b, const char *text) {
  sp__cmd(b, "[\"announce\",");
  sp_json_string(b, text, strlen(text));
  sp_buf_putc(b, ']');
}

void sp_proto_chat(sp_buf *b, uint32_t id, const char *name, const char *text) {
  sp__cmd(b, "[\"chat\",");
  sp_buf_put_uint(b, id);
  sp_buf_putc(b, ',');
  sp_json_string(b, name, strlen(name));
  sp_buf_putc(b, ',');
  sp_json_string(b, text, strlen(text));
  sp_buf_putc(b, ']');
}

void sp_proto_chat_refused(sp_buf *b, const char *reason, uint32_t retry_ms) {
  sp__cmd(b, "[\"chat_refused\",");
  sp_json_string(b, reason, strlen(reason));
  sp_buf_putc(b, ',');
  sp_buf_put_uint(b, retry_ms);
  sp_buf_putc(b, ']');
}

static int sp__is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Control characters (Cc) and the bidirectional overrides, which would let a
 * name reorder the text around it on other players' screens. */
static int sp__is_dropped(uint32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x2069);
}

size_t sp_proto_sanitize_text(const char *in, size_t len, size_t max_chars,
                              char *out, int *over) {
  const unsigned char *s = (const unsigned char *)in;
  size_t o = 0, chars = 0, kept = 0;
  size_t end_nonspace = 0; /* out length after the last non-space */
  size_t i = 0;
  *over = 0;
  while (i < len) {
    uint32_t cp;
    size_t n = sp_utf8_next(s + i, len - i, &cp);
    if (n == 0) {
      i++;
      continue;
    }
    if (!sp__is_dropped(cp) && !(o == 0 && sp__is_space(cp))) {
      if (chars == max_chars) {
        /* Only white space may follow what fits: it would be trimmed. */
        if (!sp__is_space(cp)) {
          *over = 1;
          break;
        }
        i += n;
        continue;
      }
      memcpy(out + o, s + i, n);
      o += n;
      chars++;
      if (!sp__is_space(cp)) {
        end_nonspace = o;
        kept = chars;
      }
    }
    i += n;
  }
  out[end_nonspace] = '\0';
  return kept;
}

void sp_proto_sanitize_name(const char *in, size_t len, char *out) {
  int over;
  /* A name is cut at 15 code points (and trimmed after the cut). */
  if (sp_proto_sanitize_text(in, len, SP_NAME_MAX_CHARS, out, &over) == 0)
    strcpy(out, "anonymous");
}

int sp_proto_name_color(const char *name) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    h = (h ^ *p) * 16777619u;
  return 1 + (int)(h % 6);
}

size_t sp_msg_size(const sp_msg *m) {
  size_t n = offsetof(sp_msg, text);
  return m->type == SP_MSG_CHAT ? n + strlen(m->text) + 1 : n;
}

sp_msg_type sp_proto_decode(const void *data, size_t len, sp_msg *out) {
  json_error_t err;
  const char *s = data;
  out->dir = 0;
  out->name[0] = '\0';
  /* What every player sends many times a second, decoded without a parser
   * (the same result as jansson's; tests compare both): a key, a join. */
  if (len == 2 && s[0] >= '1' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9') {
    int k = (s[0] - '0') * 10 + (s[1] - '0');
    if (k < 37 || k > 40)
      return out->type = SP_MSG_IGNORED;
    out->dir = k - 37;
    return out->type = SP_MSG_KEY;
  }
  if (len == 8 && memcmp(s, "[\"join\"]", 8) == 0)
    return out->type = SP_MSG_JOIN;
  memset(out, 0, sizeof *out);
  /* jansson limits nesting depth itself, so deep arrays cannot exhaust
   * the stack. NUL is allowed in strings: the name rules drop it like any
   * other control character. */
  json_t *v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  if (!v)
    return out->type = SP_MSG_INVALID;
  out->type = SP_MSG_IGNORED;
  if (json_is_integer(v)) {
    json_int_t k = json_integer_value(v);
    if (k >= 37 && k <= 40) {
      out->type = SP_MSG_KEY;
      out->dir = (int)(k - 37);
    }
  } else if (json_is_array(v) && json_array_size(v) >= 1 &&
             json_is_string(json_array_get(v, 0))) {
    json_t *name = json_array_get(v, 0);
    const char *cmd = json_string_value(name);
    size_t cmdlen = json_string_length(name); /* "join\u0000" is not "join" */
    json_t *arg = json_array_get(v, 1);
    if (cmdlen == 4 && memcmp(cmd, "join", 4) == 0) {
      out->type = SP_MSG_JOIN;
    } else if (cmdlen == 10 && memcmp(cmd, "new_player", 10) == 0 &&
               json_is_string(arg)) {
      out->type = SP_MSG_NEW_PLAYER;
      sp_proto_sanitize_name(json_string_value(arg), json_string_length(arg),
                             out->name);
    } else if (cmdlen == 4 && memcmp(cmd, "chat", 4) == 0 &&
               json_is_string(arg)) {
      out->type = SP_MSG_CHAT;
      out->chars = sp_proto_sanitize_text(
          json_string_value(arg), json_string_length(arg), SP_CHAT_MAX_CHARS,
          out->text, &out->over);
    }
  }
  json_decref(v);
  return out->type;
}
