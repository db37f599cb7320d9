"""RFC 6455 rules after the upgrade, with hand-made frames (RawWS): close
codes 1002/1003/1007/1009, pings, close handshake, --max-message."""
import json
import struct

import harness
from harness import RawWS, Server, test

F = RawWS.frame
TEXT, BIN, CLOSE, PING, PONG, CONT = 1, 2, 8, 9, 10, 0
_servers = {}


def srv(*args):
    if args not in _servers:
        _servers[args] = Server("--tick-rate", "20", "--field", "20x12", *args)
    return _servers[args]


def close_frame(code, reason=b""):
    return F(CLOSE, struct.pack("!H", code) + reason)


def expect_close(data, code, *args, hello=False):
    """Opens a connection, sends data (bytes or list of bytes), and checks
    that the server's close frame carries code."""
    ws = RawWS(srv(*args).port)
    try:
        if hello:
            ws.send_text(json.dumps(["new_player", "frames"]))
            assert ws.recv_json()[0][0] == "handshake"
        for d in ([data] if isinstance(data, bytes) else data):
            ws.send(d)
        got = ws.recv_close(5)
        assert got == code, f"close code {got}, want {code}"
    finally:
        ws.close()


def alive(ws, payload=b"still-here"):
    """The connection still answers a ping."""
    ws.send(F(PING, payload))
    while True:
        op, data = ws.recv_frame(5)
        assert op is not None, "connection closed"
        assert op != CLOSE, f"closed with {data!r}"
        if op == PONG:
            assert data == payload, data
            return True


@test
def unmasked_frame_1002():
    expect_close(F(TEXT, b'["join"]', mask=False), 1002)
    expect_close(F(PING, b"x", mask=False), 1002)


@test
def reserved_bits_1002():
    for rsv in (1, 2, 4, 7):
        expect_close(F(TEXT, b'["join"]', rsv=rsv), 1002)
    expect_close(F(PING, b"p", rsv=4), 1002)


@test
def unknown_opcodes_1002():
    for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        expect_close(F(op, b"abc"), 1002)


@test
def fragmented_control_frames_1002():
    expect_close(F(PING, b"abc", fin=False), 1002)
    expect_close(F(PONG, b"abc", fin=False), 1002)
    expect_close(F(CLOSE, struct.pack("!H", 1000), fin=False), 1002)


@test
def oversized_control_frames_1002():
    expect_close(F(PING, b"p" * 126), 1002)
    expect_close(F(PONG, b"p" * 126), 1002)
    expect_close(F(CLOSE, struct.pack("!H", 1000) + b"r" * 124), 1002)


@test
def close_with_one_byte_payload_1002():
    expect_close(F(CLOSE, b"\x03"), 1002)


@test
def invalid_close_codes_1002():
    for code in (0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
        expect_close(close_frame(code), 1002)


@test
def valid_close_codes_echoed():
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999):
        ws = RawWS(srv().port)
        try:
            ws.send(close_frame(code, b"bye"))
            got = ws.recv_close(5)
            assert got == code, f"sent close {code}, got {got}"
            assert ws.closed_by_server(5), f"TCP still open after close {code}"
        finally:
            ws.close()


@test
def iana_close_codes_1012_to_1014_echoed():
    """1012 (service restart), 1013 (try again later) and 1014 (bad
    gateway) are registered with IANA: valid to receive, whole or one byte
    at a time."""
    for bytewise in (False, True):
        for code in (1012, 1013, 1014):
            ws = RawWS(srv().port)
            try:
                data = close_frame(code, b"restart")
                if bytewise:
                    for b in data:
                        ws.send(bytes([b]))
                else:
                    ws.send(data)
                got = ws.recv_close(5)
                assert got == code, f"sent close {code} (bytewise {bytewise}), got {got}"
                assert ws.closed_by_server(5), f"TCP still open after close {code}"
            finally:
                ws.close()


@test
def close_without_payload_answered():
    ws = RawWS(srv().port)
    try:
        ws.send(F(CLOSE, b""))
        op, data = ws.recv_frame(5)
        assert op == CLOSE, (op, data)
        assert data in (b"", struct.pack("!H", 1000)), data
        assert ws.closed_by_server(5)
    finally:
        ws.close()


@test
def close_after_new_player_answered_and_tcp_closed():
    ws = RawWS(srv().port)
    try:
        ws.send_text(json.dumps(["new_player", "closer"]))
        assert ws.recv_json()[0][0] == "handshake"
        ws.send(close_frame(1000))
        assert ws.recv_close(5) == 1000
        assert ws.closed_by_server(5)
    finally:
        ws.close()


@test
def continuation_without_start_1002():
    expect_close(F(CONT, b'["join"]'), 1002)
    expect_close(F(CONT, b'["join"]', fin=False), 1002)


@test
def new_message_inside_fragmented_one_1002():
    expect_close([F(TEXT, b'["new_', fin=False), F(TEXT, b'player","x"]')], 1002)
    expect_close([F(TEXT, b'["new_', fin=False), F(BIN, b'x')], 1002)


BAD_UTF8 = [b'["\xff"]', b'["\xc0\xaf"]', b'["\xed\xa0\x80"]', b'["\xf4\x90\x80\x80"]',
            b'["\xe2\x82"]', b'["\x80"]', b'["new_player","\xfe"]', b'\xe2\x82']


@test
def invalid_utf8_1007():
    for payload in BAD_UTF8:
        expect_close(F(TEXT, payload), 1007)


@test
def invalid_utf8_split_across_fragments_1007():
    # U+20AC is E2 82 AC: E2 82 then 28 is invalid, but only in the second part
    expect_close([F(TEXT, b'["\xe2\x82', fin=False), F(CONT, b'\x28"]')], 1007)
    expect_close([F(TEXT, b'["a', fin=False), F(CONT, b'\xe2', fin=False), F(CONT, b'\x82', fin=False),
                  F(CONT, b'\x28"]')], 1007)
    # a sequence left unfinished at the end of the message
    expect_close([F(TEXT, b'["a"', fin=False), F(CONT, b']\xf0\x9f')], 1007)


@test
def valid_utf8_split_across_fragments_accepted():
    ws = RawWS(srv().port)
    try:
        msg = json.dumps(["new_player", "s\u20acn\U0001F40D"], ensure_ascii=False).encode()
        i = msg.index(b"\xe2") + 1          # split inside the euro sign
        j = msg.index(b"\xf0") + 2          # and inside the snake
        ws.send(F(TEXT, msg[:i], fin=False) + F(CONT, msg[i:j], fin=False) + F(CONT, msg[j:]))
        cmds = ws.recv_json()
        assert cmds[0] == ["handshake", "s\u20acn\U0001F40D", cmds[0][2]], cmds
    finally:
        ws.close()


@test
def binary_message_1003():
    expect_close(F(BIN, b'["join"]'), 1003)
    expect_close(F(BIN, b''), 1003)


@test
def message_over_default_limit_1009():
    body = b"[" + b" " * 4094 + b"]"
    assert len(body) == 4096
    ws = RawWS(srv().port)
    try:
        ws.send(F(TEXT, body))                     # exactly the limit: fine
        assert alive(ws)
    finally:
        ws.close()
    expect_close(F(TEXT, b"[" + b" " * 4095 + b"]"), 1009)


@test
def message_over_max_message_1009():
    ws = RawWS(srv("--max-message", "100").port)
    try:
        ws.send(F(TEXT, b"[" + b" " * 98 + b"]"))  # 100 bytes: fine
        assert alive(ws)
        ws.send(F(TEXT, b"[" + b" " * 40, fin=False) + F(CONT, b" " * 58 + b"]"))  # 100 in 2 parts
        assert alive(ws)
    finally:
        ws.close()
    expect_close(F(TEXT, b"[" + b" " * 99 + b"]"), 1009, "--max-message", "100")
    expect_close([F(TEXT, b"[" + b" " * 59, fin=False), F(CONT, b" " * 59 + b"]")], 1009,
                 "--max-message", "100")
    expect_close([F(TEXT, b"[" + b" " * 49, fin=False), F(CONT, b" " * 49, fin=False),
                  F(CONT, b" " * 49, fin=False), F(CONT, b"]")], 1009, "--max-message", "100")


@test
def huge_declared_length_refused():
    """A frame that announces 2^40 bytes is refused as soon as more than
    --max-message bytes of it have arrived (the server does not wait for the
    whole frame); one with the most significant bit of the 64-bit length set
    is a protocol error (RFC 6455 5.2)."""
    ws = RawWS(srv().port)
    try:
        ws.send(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 40) + b"\x00\x00\x00\x00" + b" " * 5000)
        assert ws.recv_close(5) == 1009
    finally:
        ws.close()
    expect_close(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 63) + b"\x00\x00\x00\x00", 1002)


@test
def ping_answered_with_same_payload():
    ws = RawWS(srv().port)
    try:
        for payload in (b"", b"hello", bytes(range(125)), b"\xff\x00\xfe"):
            ws.send(F(PING, payload))
            op, data = ws.recv_frame(5)
            assert (op, data) == (PONG, payload), (op, data)
        ws.send(F(PONG, b"unsolicited"))          # ignored
        assert alive(ws)
    finally:
        ws.close()


@test
def ping_inside_fragmented_message():
    ws = RawWS(srv().port)
    try:
        ws.send(F(TEXT, b'["new_pl', fin=False))
        ws.send(F(PING, b"mid"))
        op, data = ws.recv_frame(5)
        assert (op, data) == (PONG, b"mid"), (op, data)
        ws.send(F(CONT, b'ayer",', fin=False) + F(PING, b"mid2") + F(CONT, b'"frag"]'))
        got_pong = got_text = False
        while not (got_pong and got_text):     # in either order
            op, data = ws.recv_frame(5)
            assert op is not None, "closed"
            if op == PONG:
                assert data == b"mid2" and not got_pong, data
                got_pong = True
            elif op == TEXT:
                cmds = json.loads(data)
                if not got_text:
                    assert cmds[0][:2] == ["handshake", "frag"], cmds
                got_text = True
            else:
                raise AssertionError((op, data))
    finally:
        ws.close()


@test
def control_frames_between_fragments_after_quiet_pauses():
    """A ping or a pong between the fragments of a text message, with
    pauses longer than the 2 s after which a quiet connection's wslay
    context is dropped, and the frames sent one byte at a time: the ping is
    answered and the message arrives whole."""
    import socket as _s
    import time
    for ctl in (PING, PONG):
        ws = RawWS(srv().port)
        try:
            ws.sock.setsockopt(_s.IPPROTO_TCP, _s.TCP_NODELAY, 1)
            parts = [F(TEXT, b'["new_pl', fin=False), F(ctl, b"mid"),
                     F(CONT, b'ayer",', fin=False), F(ctl, b""), F(CONT, b'"q%d"]' % ctl)]
            for i, part in enumerate(parts):
                for b in part:
                    ws.send(bytes([b]))
                if i in (0, 2):
                    time.sleep(2.3)
            want_pongs = [b"mid", b""] if ctl == PING else []
            pongs = []
            while True:
                op, data = ws.recv_frame(5)
                assert op is not None, "closed"
                if op == PONG:
                    pongs.append(data)
                elif op == TEXT:
                    assert json.loads(data)[0][:2] == ["handshake", f"q{ctl}"], data
                    break
            while len(pongs) < len(want_pongs):
                op, data = ws.recv_frame(5)
                if op == PONG:
                    pongs.append(data)
            assert pongs == want_pongs, pongs
        finally:
            ws.close()


@test
def frames_split_in_single_bytes():
    """A masked text frame delivered one byte at a time is one message."""
    import socket as _s
    ws = RawWS(srv().port)
    try:
        ws.sock.setsockopt(_s.IPPROTO_TCP, _s.TCP_NODELAY, 1)
        data = F(TEXT, json.dumps(["new_player", "bytes"]).encode()) + F(PING, b"z")
        for b in data:
            ws.send(bytes([b]))
        got_pong = got_text = False
        while not (got_pong and got_text):     # in either order
            op, data = ws.recv_frame(5)
            assert op in (PONG, TEXT), (op, data)
            if op == PONG:
                assert data == b"z" and not got_pong, data
                got_pong = True
            elif not got_text:
                assert json.loads(data)[0][:2] == ["handshake", "bytes"], data
                got_text = True
        assert alive(ws)
    finally:
        ws.close()


@test
def server_survives_and_exits_cleanly():
    port = srv().port
    assert harness.healthz(port)
    for args, s in list(_servers.items()):
        del _servers[args]
        s.__exit__(None, None, None)


harness.main()
