/* proto: the wire format of PROTOCOL.md v1. Encodes server commands as JSON
 * into a sp_buf (one frame = one JSON array of commands) and decodes what
 * clients send (one JSON value per text message, parsed with jansson). */
#ifndef SP_PROTO_H
#define SP_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct sp_game;

/* Longest stored name: 15 code points of at most 4 bytes, plus NUL. */
#define SP_NAME_MAX_CHARS 15
#define SP_NAME_SIZE (SP_NAME_MAX_CHARS * 4 + 1)

/* Frame building: sp_proto_begin, any number of commands, sp_proto_end. */
void sp_proto_begin(sp_buf *b);
void sp_proto_end(sp_buf *b);

void sp_proto_handshake(sp_buf *b, const char *name, uint32_t id);
void sp_proto_world(sp_buf *b, const struct sp_game *g);
void sp_proto_p_joined(sp_buf *b, uint32_t id, const char *name, int color,
                       uint32_t score);
void sp_proto_p_gameover(sp_buf *b, uint32_t id);
void sp_proto_p_score(sp_buf *b, uint32_t id, uint32_t score);
void sp_proto_render(sp_buf *b, int x, int y, char ch, int color);
void sp_proto_reset_world(sp_buf *b);
void sp_proto_error(sp_buf *b, const char *text);
/* `["top_scores", [` ... `]]`: call _row for each row between the two. */
void sp_proto_top_scores_begin(sp_buf *b);
void sp_proto_top_scores_row(sp_buf *b, const char *name, uint32_t score,
                             int color);
void sp_proto_top_scores_end(sp_buf *b);
/* Extensions (docs/PROTOCOL.md, "Extensions"): commands a v1 client
 * ignores. */
/* `["round", SECONDS_LEFT]`. */
void sp_proto_round(sp_buf *b, uint32_t seconds_left);
/* `["round_end", SECONDS, [[ID, NAME, COLOR, SCORE], ...]]`: call _row for
 * each standing, winner first, between _begin and _end. */
void sp_proto_round_end_begin(sp_buf *b, uint32_t seconds);
void sp_proto_round_end_row(sp_buf *b, uint32_t id, const char *name, int color,
                            uint32_t score);
void sp_proto_round_end_end(sp_buf *b);
/* `["p_died", ID, CAUSE, SCORE, BY_ID, BY_NAME]`; cause is a
 * sp_death_cause, by 0 and by_name "" unless another snake did it. */
void sp_proto_p_died(sp_buf *b, uint32_t id, int cause, uint32_t score,
                     uint32_t by, const char *by_name);
/* The protocol's word for a sp_death_cause ("wall", "snake", ...). */
const char *sp_proto_cause_name(int cause);

typedef struct sp_proto_room_info {
  const char *room;
  int max_players;
  double tick_rate;
  int width, height;
  uint32_t round_seconds, standings_seconds;
  uint32_t chat_max_chars;
  double chat_per_10s;
  uint64_t boot; /* the same for every connection until the server restarts */
} sp_proto_info;
/* `["room_info", {...}]`: the room's settings, for the new player. */
void sp_proto_room_info(sp_buf *b, const sp_proto_info *info);
/* `["watching", N]`: registered members without a live snake. */
void sp_proto_watching(sp_buf *b, size_t n);
/* `["chat", ID, NAME, TEXT]` to every member; `["chat_refused", REASON,
 * RETRY_MS]` to the sender only. */
void sp_proto_chat(sp_buf *b, uint32_t id, const char *name, const char *text);
/* Extension ["announce", TEXT]: an operator's message to the room. */
void sp_proto_announce(sp_buf *b, const char *text);
void sp_proto_chat_refused(sp_buf *b, const char *reason, uint32_t retry_ms);

/* A JSON string literal: quotes, backslashes and control characters are
 * escaped; any other UTF-8 passes through unchanged. */
void sp_json_string(sp_buf *b, const char *s, size_t len);

/* The longest chat message any configuration allows (--chat-max-chars),
 * in code points, and its buffer. */
#define SP_CHAT_MAX_CHARS 500
#define SP_CHAT_SIZE (SP_CHAT_MAX_CHARS * 4 + 1)

typedef enum {
  SP_MSG_INVALID,    /* not a JSON value: ignored and counted */
  SP_MSG_IGNORED,    /* valid JSON of another shape: ignored */
  SP_MSG_NEW_PLAYER, /* name in msg.name, already sanitized */
  SP_MSG_JOIN,
  SP_MSG_KEY,  /* msg.dir: SP_DIR_* */
  SP_MSG_CHAT, /* extension ["chat", TEXT]: msg.text, msg.chars, msg.over */
} sp_msg_type;

typedef struct sp_msg {
  sp_msg_type type;
  int dir;
  size_t chars;
  int over;
  char name[SP_NAME_SIZE];
  /* CHAT: the text cleaned like a name (no controls or bidi overrides, no
   * white space at either end), at most SP_CHAT_MAX_CHARS code points;
   * over is set when the text had more. Last, so that a copy of a message
   * may stop where the message does (sp_msg_size). */
  char text[SP_CHAT_SIZE];
} sp_msg;

/* Decodes one client message. Never fails on any input. */
sp_msg_type sp_proto_decode(const void *data, size_t len, sp_msg *out);

/* The bytes of *m that hold its message (a key needs no text): a copy of
 * that many bytes is a whole message. */
size_t sp_msg_size(const sp_msg *m);

/* The name rules of PROTOCOL.md: control (and bidi override) characters
 * dropped, surrounding white space trimmed, at most 15 code points, and
 * `anonymous` when nothing is left. Invalid UTF-8 bytes are dropped.
 * out has room for SP_NAME_SIZE bytes. */
void sp_proto_sanitize_name(const char *in, size_t len, char *out);

/* The same rules for any text of at most max_chars code points, without
 * the `anonymous`: out (room for max_chars * 4 + 1 bytes) may be empty.
 * Returns the code points kept; *over is set when more would follow. */
size_t sp_proto_sanitize_text(const char *in, size_t len, size_t max_chars,
                              char *out, int *over);

/* A display colour 1..6 derived from the name, stable across messages. */
int sp_proto_name_color(const char *name);

#endif
