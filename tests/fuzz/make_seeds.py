#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/*/seed-*).

Run it again after changing a seed here; the files are committed so that a
fuzz run needs nothing but the corpus. Crash inputs (crash-*) found later
are kept beside the seeds and are not touched by this script.

Formats (see the comment at the top of each fuzz_*.c):
  http:  [split mode byte] request bytes
  ws:    [kind] [split] [close] [code] stream; kind odd = structured records
         [b0] [flags] [len hi] [len lo] payload, encoded as masked frames
  proto: one client text message
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# Split modes of fuzz_util.h (low nibble); the high nibble is a parameter.
WHOLE, BYTES, FIXED, SMALL, LARGE, HALVES = range(6)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- HTTP -----------------------------------------------------------------

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="

CHROME = (b"GET / HTTP/1.1\r\n"
          b"Host: snakepit.example:8080\r\n"
          b"Connection: keep-alive\r\n"
          b"Upgrade-Insecure-Requests: 1\r\n"
          b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
          b"(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n"
          b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,"
          b"image/avif,image/webp,*/*;q=0.8\r\n"
          b"Accept-Encoding: gzip, deflate, br\r\n"
          b"Accept-Language: en-US,en;q=0.9\r\n\r\n")


def get(path, extra=b"", version=b"HTTP/1.1"):
    return (b"GET " + path + b" " + version + b"\r\nHost: localhost\r\n" +
            extra + b"\r\n")


def upgrade(path=b"/connect", key=KEY, version=b"13", extra=b""):
    return (b"GET " + path + b" HTTP/1.1\r\n"
            b"Host: localhost:8080\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\n"
            b"Sec-WebSocket-Version: " + version + b"\r\n"
            b"Origin: http://localhost:8080\r\n" + extra + b"\r\n")


def client_frame(opcode, payload, fin=True, mask=b"\x37\xfa\x21\x3d"):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, 0x80 | n])
    elif n <= 0xFFFF:
        head = bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, 0x80 | 127]) + struct.pack(">Q", n)
    body = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + mask + body


def http_seeds():
    w = lambda name, mode, data: write("http", name, bytes([mode]) + data)
    w("chrome-index", WHOLE, CHROME)
    w("chrome-index-bytewise", BYTES, CHROME)
    w("firefox-js", SMALL | 0x30,
      get(b"/client.js", b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0)"
          b" Gecko/20100101 Firefox/125.0\r\nAccept: */*\r\n"
          b"Referer: http://localhost:8080/\r\nIf-None-Match: \"abc\"\r\n"))
    w("upgrade", WHOLE, upgrade(b"/connect?room=lobby_1"))
    w("upgrade-bytewise", BYTES, upgrade(b"/connect?room=a-b"))
    w("upgrade-with-frame", HALVES | 0x80,
      upgrade(b"/connect?room=default",
              extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n") +
      client_frame(1, b'["new_player","bob"]'))
    w("upgrade-lowercase-list", FIXED | 0x50,
      b"GET /connect?x=1&room=Room-42&y HTTP/1.1\r\nhost: h\r\n"
      b"upgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
      b"sec-websocket-key: " + KEY + b"\r\nsec-websocket-version: 13\r\n\r\n")
    w("upgrade-bad-key", WHOLE, upgrade(key=b"not-a-key==", version=b"8"))
    w("upgrade-key-too-long", WHOLE, upgrade(key=b"A" * 80))
    w("upgrade-rooms-twice", WHOLE, upgrade(b"/connect?room=a&room=b"))
    w("upgrade-room-percent", WHOLE,
      upgrade(b"/connect?room=%41bc%2d_9&room"))
    w("upgrade-room-long", WHOLE, upgrade(b"/connect?room=" + b"r" * 33))
    w("upgrade-room-bad", WHOLE, upgrade(b"/connect?room=%2e%2e/x"))
    w("pipelined", FIXED | 0x20,
      get(b"/") + get(b"/style.css") + get(b"/healthz") +
      b"HEAD /api/rooms HTTP/1.1\r\nHost: x\r\n\r\n")
    w("pipelined-then-upgrade", LARGE,
      get(b"/index.html") + upgrade(b"/connect") +
      client_frame(1, b'["join"]'))
    w("traversal-dotdot", WHOLE, get(b"/../etc/passwd"))
    w("traversal-encoded", WHOLE, get(b"/%2e%2e%2f%2e%2e%2fetc%2fpasswd"))
    w("traversal-backslash", WHOLE, get(b"/..%5c..%5cwindows%5cwin.ini"))
    w("traversal-dot", WHOLE, get(b"/%2E"))
    w("hidden-file", WHOLE, get(b"/.git%2fconfig"))
    w("hidden-env", BYTES, get(b"/.env"))
    w("nul-byte", WHOLE, get(b"/index.html%00.png"))
    w("bad-percent", WHOLE, get(b"/%zz%4"))
    w("long-name", WHOLE, get(b"/" + b"a" * 300 + b".js"))
    w("absolute-form", WHOLE, get(b"http://localhost:8080/index.html"))
    w("query", WHOLE, get(b"/index.html?v=3&x=%2f"))
    w("http10", WHOLE, b"GET /favicon.ico HTTP/1.0\r\n\r\n")
    w("head", WHOLE, b"HEAD /app.webmanifest HTTP/1.1\r\nHost: a\r\n\r\n")
    w("post-body", SMALL,
      b"POST /connect HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
    w("body-too-large-413", WHOLE,
      b"POST /admin/api/announce HTTP/1.1\r\nHost: a\r\n"
      b"Content-Length: 999999\r\n\r\n{")
    w("post-chunked", SMALL | 0x70,
      b"POST /api/scores HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
      b"\r\n5\r\nhello\r\n0\r\n\r\n" + get(b"/"))
    w("connection-close-then-more", WHOLE,
      get(b"/", b"Connection: close\r\n") + get(b"/"))
    w("obs-fold", WHOLE,
      b"GET /connect HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
      b"Connection: keep-alive,\r\n Upgrade\r\nSec-WebSocket-Key: " + KEY +
      b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    w("crlf-before-request", BYTES, b"\r\n\r\n" + get(b"/"))
    w("garbage", WHOLE, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    w("bad-version", WHOLE, b"GET / HTTP/9.9\r\n\r\n")
    w("url-2048", HALVES | 0x40, get(b"/" + b"u" * 2047))
    w("url-2049", LARGE, get(b"/" + b"u" * 2048))
    big = b"X-Pad: " + b"p" * 8000 + b"\r\n"
    w("head-near-limit", LARGE, get(b"/", big))
    w("head-over-limit", LARGE, get(b"/", big + big))
    w("many-headers", SMALL,
      get(b"/", b"".join(b"X-H%d: v\r\n" % i for i in range(200))))


# ---- WebSocket ------------------------------------------------------------


def ws_raw(name, frames, split=WHOLE, close=0, code=0, kind=0):
    write("ws", name, bytes([kind, split, close, code]) + b"".join(frames))


def rec(b0, payload, flags=0, length=None):
    n = len(payload) if length is None else length
    return bytes([b0, flags]) + struct.pack(">H", n) + payload


def ws_rec(name, records, split=WHOLE, close=0, code=0, kind=1):
    write("ws", name, bytes([kind, split, close, code]) + b"".join(records))


def ws_seeds():
    new_player = b'["new_player","bob"]'
    ws_raw("text", [client_frame(1, new_player)])
    ws_raw("text-bytewise", [client_frame(1, new_player),
                             client_frame(1, b'["join"]'),
                             client_frame(1, b"38")], split=BYTES)
    ws_raw("ping-then-text", [client_frame(9, b"ping!"),
                              client_frame(1, b"37")], split=SMALL)
    ws_raw("close-1000", [client_frame(8, b"\x03\xe8bye")])
    ws_raw("close-empty", [client_frame(8, b"")])
    ws_raw("close-bad-code", [client_frame(8, b"\x03\xed")])
    # 1012-1014 are registered with IANA after RFC 6455: echoed, not refused.
    ws_raw("close-1013", [client_frame(8, b"\x03\xf5later")])
    ws_raw("close-one-byte", [client_frame(8, b"\x03")])
    ws_raw("fragmented-with-ping",
           [client_frame(1, b'["new_', fin=False),
            client_frame(9, b"mid"),
            client_frame(0, b'player",', fin=False),
            client_frame(0, b'"al\xc3\xa9"]')], split=FIXED | 0x10)
    ws_raw("utf8-split-across-fragments",
           [client_frame(1, b'["new_player","\xf0\x9f', fin=False),
            client_frame(0, b'\x90\x8d"]')], split=BYTES)
    ws_raw("invalid-utf8", [client_frame(1, b'["new_player","\xff\xfe"]')])
    ws_raw("surrogate-utf8", [client_frame(1, b"\xed\xa0\x80")])
    ws_raw("binary", [client_frame(2, b"\x00\x01\x02")])
    ws_raw("unmasked", [b"\x81\x05hello"])
    ws_raw("rsv1", [bytes([0xC1]) + client_frame(1, b"x")[1:]])
    ws_raw("reserved-opcode", [client_frame(3, b"x")])
    ws_raw("continuation-first", [client_frame(0, b"x")])
    ws_raw("ping-fragmented", [client_frame(9, b"x", fin=False)])
    ws_raw("ping-too-long", [client_frame(9, b"p" * 126)])
    ws_raw("max-message", [client_frame(1, b"m" * 4096)], split=LARGE)
    ws_raw("too-big", [client_frame(1, b"m" * 4097)], split=LARGE)
    ws_raw("too-big-fragments", [client_frame(1, b"m" * 3000, fin=False),
                                 client_frame(0, b"m" * 1097)], split=LARGE)
    ws_raw("len64", [b"\x81\xff" + struct.pack(">Q", 5) + b"\0\0\0\0hello"])
    ws_raw("len64-huge", [b"\x81\xff\x7f\xff\xff\xff\xff\xff\xff\xff"])
    ws_raw("close-by-server", [client_frame(1, b"37")] * 3, split=BYTES,
           close=0x40 | 2, code=5)
    ws_raw("close-in-message", [client_frame(1, b"37")] * 3,
           close=0x80 | 1, code=0)
    ws_raw("close-at-end", [client_frame(9, b"")], close=0xC0, code=7)

    ws_rec("records-session",
           [rec(0x81, new_player), rec(0x81, b'["join"]'), rec(0x89, b"hi"),
            rec(0x81, b"39"), rec(0x88, b"\x03\xe8")], split=SMALL | 0x20)
    ws_rec("records-fragments",
           [rec(0x01, b'["new_player",'), rec(0x8A, b""), rec(0x00, b'"zo'),
            rec(0x89, b"p"), rec(0x80, b'\xc3\xab"]')], split=BYTES)
    ws_rec("records-forms",
           [rec(0x81, b"x" * 200), rec(0x81, b"40", flags=6),
            rec(0x81, b"40", flags=2), rec(0x81, b"37", flags=4)],
           split=FIXED | 0x30)
    ws_rec("records-unmasked", [rec(0x81, b"37", flags=1)])
    ws_rec("records-truncated", [rec(0x81, b"[\"jo", flags=8, length=300)],
           split=BYTES)
    ws_rec("records-close-inside",
           [rec(0x81, b"37"), rec(0x81, b"38"), rec(0x89, b"x")],
           close=0x80 | 0, code=1)
    ws_rec("records-close-before",
           [rec(0x81, b"37"), rec(0x81, b"38")], split=BYTES,
           close=0x40 | 3, code=3)
    ws_rec("records-binary-then-text",
           [rec(0x82, b"\x00"), rec(0x81, b"37")], close=0xC0)
    # kind bit 1: the context is released after every read when idle.
    ws_raw("release-idle-between-messages",
           [client_frame(1, b"37"), client_frame(9, b"p"),
            client_frame(1, b"38")], split=FIXED | 0x40, kind=2)
    ws_raw("release-idle-fragmented-bytewise",
           [client_frame(1, b'["jo', fin=False), client_frame(0, b'in"]')],
           split=BYTES, kind=2)
    ws_raw("release-idle-close-split",
           [client_frame(1, b"40"), client_frame(8, b"\x03\xe8caf\xc3\xa9")],
           split=BYTES, kind=2)
    ws_rec("records-release-idle",
           [rec(0x81, new_player), rec(0x89, b""), rec(0x01, b"3"),
            rec(0x80, b"9"), rec(0x88, b"\x0f\xa0")], split=SMALL, kind=3)
    ws_raw("close-reason-utf8-split",
           [client_frame(8, b"\x03\xe8\xf0\x9f\x90\x8d bye")], split=BYTES)
    ws_rec("records-too-big", [rec(0x01, b"a" * 4000), rec(0x80, b"b" * 97)],
           split=LARGE)


# ---- protocol messages ----------------------------------------------------


def proto_seeds():
    w = lambda name, data: write("proto", name, data)
    w("new-player", b'["new_player","bob"]')
    w("new-player-spaces", b'["new_player","   Zo\xc3\xab  \xf0\x9f\x90\x8d  "]')
    w("new-player-escapes", b'["new_player","\\u00a0\\t al\\u00e9 \\u3000"]')
    w("new-player-emoji-escape", b'["new_player","\\ud83d\\udc0d snake"]')
    w("new-player-bidi", b'["new_player","\\u202egnp.exe\\u2066x"]')
    w("new-player-controls", b'["new_player","a\\u0007b\\u007fc\\u0085d"]')
    w("new-player-nul", b'["new_player","a\\u0000b"]')
    w("new-player-lone-surrogate", b'["new_player","\\ud800x"]')
    w("new-player-long", b'["new_player","' + b"abcdefghij" * 5 + b'"]')
    w("new-player-cjk",
      '["new_player","日本語のなまえです十六文字以上あります"]'.encode())
    w("new-player-empty", b'["new_player",""]')
    w("new-player-only-spaces", b'["new_player","  \\u2003  "]')
    w("new-player-number", b'["new_player",5]')
    w("new-player-extra", b'["new_player","bob","extra",{"a":[1]}]')
    w("join", b'["join"]')
    w("join-extra", b'["join",null,1]')
    for k in (37, 38, 39, 40):
        w("key-%d" % k, b"%d" % k)
    w("key-36", b"36")
    w("key-41", b"41")
    w("key-negative", b"-37")
    w("key-float", b"37.0")
    w("key-exp", b"3.7e1")
    w("key-huge", b"99999999999999999999999")
    w("key-int64-max", b"9223372036854775807")
    w("key-spaces", b" \t\n38\r\n")
    w("string", b'"new_player"')
    w("object", b'{"new_player":"bob"}')
    w("empty-array", b"[]")
    w("nested", b"[" * 64 + b"]" * 64)
    w("deep-nested", b"[" * 5000 + b"]" * 5000)
    w("array-number-first", b'[1,"join"]')
    w("invalid-json", b'["new_player","bob"')
    w("invalid-utf8", b'["new_player","\xc3\x28\xff"]')
    w("raw-name-invalid-utf8", b"\xe2\x82 bob \xf8\x88\x80\x80\x80 ")
    w("empty", b"")
    w("nul-inside", b'["join"]\x00')
    w("two-values", b'["join"] ["join"]')


if __name__ == "__main__":
    http_seeds()
    ws_seeds()
    proto_seeds()
