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
/* Extension: `["round", SECONDS_LEFT]`. */
void sp_proto_round(sp_buf *b, uint32_t seconds_left);

/* A JSON string literal: quotes, backslashes and control characters are
 * escaped; any other UTF-8 passes through unchanged. */
void sp_json_string(sp_buf *b, const char *s, size_t len);

typedef enum {
  SP_MSG_INVALID,    /* not a JSON value: ignored and counted */
  SP_MSG_IGNORED,    /* valid JSON of another shape: ignored */
  SP_MSG_NEW_PLAYER, /* name in msg.name, already sanitized */
  SP_MSG_JOIN,
  SP_MSG_KEY, /* msg.dir: SP_DIR_* */
} sp_msg_type;

typedef struct sp_msg {
  sp_msg_type type;
  int dir;
  char name[SP_NAME_SIZE];
} sp_msg;

/* Decodes one client message. Never fails on any input. */
sp_msg_type sp_proto_decode(const void *data, size_t len, sp_msg *out);

/* The name rules of PROTOCOL.md: control (and bidi override) characters
 * dropped, surrounding white space trimmed, at most 15 code points, and
 * `anonymous` when nothing is left. Invalid UTF-8 bytes are dropped.
 * out has room for SP_NAME_SIZE bytes. */
void sp_proto_sanitize_name(const char *in, size_t len, char *out);

/* A display colour 1..6 derived from the name, stable across messages. */
int sp_proto_name_color(const char *name);

#endif
