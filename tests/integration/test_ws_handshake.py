"""WebSocket handshake at /connect: accept digest, refusals (400, 426) and
room names."""
import base64
import hashlib
import socket

import harness
from harness import RawWS, Server, read_response, test

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_server = None


def srv():
    global _server
    if _server is None:
        _server = Server("--tick-rate", "20", "--field", "20x12")
    return _server


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def upgrade(port, target="/connect", method="GET", key="dGhlIHNhbXBsZSBub25jZQ==",
            version="13", upgrade_hdr="websocket", connection="Upgrade", extra=b""):
    """Sends a handshake with the given parts (None leaves a header out);
    returns (status, headers, body, socket). The caller closes the socket."""
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1") if isinstance(target, str)
             else method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    if upgrade_hdr is not None:
        lines.append(b"Upgrade: " + upgrade_hdr.encode())
    if connection is not None:
        lines.append(b"Connection: " + connection.encode())
    if key is not None:
        lines.append(b"Sec-WebSocket-Key: " + key.encode())
    if version is not None:
        lines.append(b"Sec-WebSocket-Version: " + version.encode())
    if method != "GET":
        lines.append(b"Content-Length: 0")
    req = b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(req)
    try:
        status, headers, body = read_response(sock, head_only=False)
    except BaseException:
        sock.close()
        raise
    return status, headers, body, sock


def status_of(port, **kw):
    status, headers, body, sock = upgrade(port, **kw)
    sock.close()
    return status, headers, body


@test
def valid_upgrade_101_with_accept():
    port = srv().port
    for key in ("dGhlIHNhbXBsZSBub25jZQ==", base64.b64encode(bytes(range(16))).decode()):
        status, headers, body, sock = upgrade(port, key=key)
        sock.close()
        assert status == 101, status
        assert headers.get("upgrade", "").lower() == "websocket", headers
        assert "upgrade" in headers.get("connection", "").lower(), headers
        assert headers.get("sec-websocket-accept") == accept_for(key), (headers, accept_for(key))
    assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 example


@test
def header_names_and_tokens_case_insensitive():
    port = srv().port
    status, headers, _, sock = upgrade(port, upgrade_hdr="WebSocket", connection="keep-alive, Upgrade")
    sock.close()
    assert status == 101, status


@test
def not_an_upgrade_400():
    port = srv().port
    cases = {
        "missing key": dict(key=None),
        "missing Upgrade": dict(upgrade_hdr=None),
        "Upgrade: h2c": dict(upgrade_hdr="h2c"),
        "missing Connection": dict(connection=None),
        "plain GET": dict(key=None, upgrade_hdr=None, connection=None, version=None),
        "POST": dict(method="POST"),
    }
    bad = []
    for what, kw in cases.items():
        status, _, _ = status_of(port, **kw)
        if status != 400:
            bad.append(f"{what}: {status}")
    assert not bad, bad
    assert harness.healthz(port)


@test
def wrong_version_426():
    port = srv().port
    for version in ("8", "12", "14"):
        status, headers, _ = status_of(port, version=version)
        assert status == 426, (version, status)
        assert headers.get("sec-websocket-version") == "13", headers
    status, headers, _ = status_of(port, version=None)
    assert status in (400, 426), status


BAD_ROOMS = ["", "a" * 33, "a%20b", "a+b", "a%2Fb", "a/b", "..", ".", "a.b", "%C3%A9t%C3%A9",
             "caf%C3%A9", "a%00b", "%00", "a;b", "a%27b", "<script>", "x" * 1000]


@test
def bad_room_names_400():
    port = srv().port
    bad = []
    for room in BAD_ROOMS:
        status, _, body = status_of(port, target=f"/connect?room={room}")
        if status != 400:
            bad.append(f"room={room!r}: {status}")
        elif not body.strip() or b"\n" in body.strip():
            bad.append(f"room={room!r}: 400 without a one-line reason: {body[:100]!r}")
    # raw non-ASCII bytes in the request target
    status, _, _ = status_of(port, target=b"/connect?room=caf\xc3\xa9")
    if status != 400:
        bad.append(f"raw UTF-8 room: {status}")
    assert not bad, "\n".join(bad)


GOOD_ROOMS = ["a", "Z", "0", "_", "-", "a" * 32, "AZaz09_-", "Room-1_b",
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef", "0123456789_-0123456789_-01234567"]


@test
def good_room_names_accepted():
    port = srv().port
    conns = []
    try:
        for room in GOOD_ROOMS:
            assert len(room) <= 32
            conns.append(RawWS(port, f"/connect?room={room}"))
        names = {r["name"]: r["connections"] for r in harness.http_json(port, "/api/rooms")["rooms"]}
        for room in GOOD_ROOMS:
            assert names.get(room) == 1, (room, names)
    finally:
        for c in conns:
            c.close()


@test
def default_room_without_parameter():
    port = srv().port
    c = RawWS(port, "/connect")
    try:
        def default_has_one():
            names = {r["name"]: r["connections"] for r in harness.http_json(port, "/api/rooms")["rooms"]}
            return names.get("default") == 1 and names
        harness.poll(default_has_one, what="room default with 1 connection")
    finally:
        c.close()


@test
def header_values_with_optional_whitespace_accepted():
    """RFC 7230 3.2.4: white space around a field value (or none after the
    colon) is accepted, whole and one byte at a time."""
    import os
    for bytewise in (False, True):
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET /connect HTTP/1.1\r\nHost:127.0.0.1\r\nUpgrade:   websocket  \r\n"
                f"Connection:Upgrade\r\nSec-WebSocket-Key:\t{key}  \r\n"
                f"Sec-WebSocket-Version: 13\t\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", srv().port), timeout=5) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if bytewise:
                for b in head:
                    s.sendall(bytes([b]))
            else:
                s.sendall(head)
            status, headers, _ = read_response(s, head_only=True)
            assert status == 101, (bytewise, status)
            assert headers["sec-websocket-accept"] == accept_for(key), headers


@test
def server_exits_cleanly():
    global _server
    s = srv()
    _server = None
    s.__exit__(None, None, None)


harness.main()
