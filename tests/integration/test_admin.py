"""The admin console (--admin-token-file): off without it; its page at
/admin; a JSON API under /admin/api/ behind a Bearer token: list rooms and
players, kick (close 4000 with the reason), close a room (4001), announce
to a room or to all, remove a score. Every refusal: 401 (with
WWW-Authenticate), 403, 429 with Retry-After after repeated failures from
one address (another address unaffected), 400, 404, 405, 413. The token
never appears in the log; each request is one debug line."""
import atexit
import json
import os
import shutil
import subprocess
import tempfile

import harness
from harness import BIN, Player, Server, test

TOKEN = "s3cret-Token_0123456789abcdef"
GAME = ("--tick-rate", "20", "--field", "30x20")
_tmp = tempfile.mkdtemp(prefix="snakepit-admin-")


def token_file(text=TOKEN + "\n", name="token"):
    p = os.path.join(_tmp, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def admin_server(*args, **kw):
    return Server(*GAME, "--admin-token-file", token_file(), *args, **kw)


def call(port, method, path, token=TOKEN, body=None, auth=None, src=None, raw_body=None):
    """One request on its own connection; returns (status, headers, parsed
    JSON or raw bytes)."""
    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if auth is not None:
        head += f"Authorization: {auth}\r\n"
    elif token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    if data or method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    sock = harness.tcp_connect(port, src=src)
    try:
        sock.sendall(head.encode() + b"\r\n" + data)
        status, headers, raw = harness.read_response(sock)
    finally:
        sock.close()
    try:
        return status, headers, json.loads(raw)
    except ValueError:
        return status, headers, raw


def rooms(port):
    status, _, doc = call(port, "GET", "/admin/api/rooms")
    assert status == 200, (status, doc)
    return {r["name"]: r for r in doc["rooms"]}


def run(args, timeout=5.0):
    env = dict(os.environ)
    env.pop("PORT", None)
    p = subprocess.run([BIN, "--port", "0", "--host", "127.0.0.1", "--data", _tmp] + args,
                       capture_output=True, timeout=timeout, env=env)
    return p.returncode, p.stderr.decode()


@test
def off_without_a_token_file():
    with Server(*GAME) as s:
        for path in ("/admin", "/admin/api/rooms", "/admin.html", "/admin.js"):
            status, _, _ = call(s.port, "GET", path)
            assert status == 404, (path, status)
        status, _, _ = call(s.port, "POST", "/admin/api/kick", body={"room": "x", "id": 1})
        assert status == 404, status


@test
def a_token_file_that_cannot_serve_refuses_to_start():
    code, err = run(["--admin-token-file", os.path.join(_tmp, "missing")])
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, (code, err)
    assert lines[0].startswith("snakepit: cannot read the admin token file") and "missing" in lines[0], err
    for text, why in (("", "is empty"), ("\n\nsecond line is not read\n", "is empty"),
                      ("short\n", "at least 16"), ("has a space in it 1234\n", "visible ASCII")):
        code, err = run(["--admin-token-file", token_file(text, "bad")])
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and why in lines[0], (text, code, err)
        assert "snakepit: admin token file" in lines[0], lines
        assert text.strip() == "" or text.split()[0] not in lines[0], "the token in the message"


@test
def the_page_is_served_and_holds_no_token():
    with admin_server() as s:
        status, headers, body = call(s.port, "GET", "/admin", token=None)
        assert status == 200 and headers["content-type"].startswith("text/html"), (status, headers)
        assert b"<title>" in body and TOKEN.encode() not in body
        for bad in (b'src="http', b"src='http", b'href="http'):
            assert bad not in body, bad  # no external assets


@test
def every_refusal():
    with admin_server() as s:
        port = s.port
        # No token, or not a Bearer one: 401 with the scheme to use.
        for auth in (None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer "):
            status, headers, doc = call(port, "GET", "/admin/api/rooms", token=None, auth=auth)
            assert status == 401, (auth, status)
            assert headers["www-authenticate"] == 'Bearer realm="snakepit admin"', headers
            assert "error" in doc
        # A wrong token: 403 (and the same for one of the right length).
        status, headers, doc = call(port, "GET", "/admin/api/rooms", token="x" * len(TOKEN), src="127.0.0.3")
        assert status == 403 and "www-authenticate" not in headers, (status, headers)
        # Wrong method, unknown endpoint, bad bodies.
        status, headers, _ = call(port, "GET", "/admin/api/kick")
        assert status == 405 and headers["allow"] == "POST", (status, headers)
        status, headers, _ = call(port, "POST", "/admin/api/rooms", body={})
        assert status == 405 and headers["allow"] == "GET, HEAD", (status, headers)
        assert call(port, "GET", "/admin/api/nope")[0] == 404
        for body in (b"", b"not json", b"[1,2]", b'{"room": 5, "id": 1}', b'{"room": "a b", "id": 1}',
                     b'{"room": "r", "id": -1}', b'{"room": "r"}'):
            status, _, doc = call(port, "POST", "/admin/api/kick", raw_body=body)
            assert status == 400 and doc["error"], (body, status, doc)
        for body in ({"text": ""}, {"text": "x" * 1025}, {"room": "r"}, {"text": 3}):
            status, _, doc = call(port, "POST", "/admin/api/announce", body=body)
            assert status == 400, (body, status, doc)
        assert call(port, "POST", "/admin/api/remove-score", body={"name": ""})[0] == 400
        # Too big a body: 413 before the handler sees it.
        status, _, _ = call(port, "POST", "/admin/api/announce", raw_body=b"{" + b" " * 20000 + b"}")
        assert status == 413, status
        # Nothing to act on: 404.
        assert call(port, "POST", "/admin/api/kick", body={"room": "none", "id": 7})[0] == 404
        assert call(port, "POST", "/admin/api/close-room", body={"room": "none"})[0] == 404
        assert call(port, "POST", "/admin/api/announce", body={"room": "none", "text": "hi"})[0] == 404
        assert call(port, "POST", "/admin/api/remove-score", body={"name": "nobody"})[0] == 404


@test
def repeated_failures_from_one_address_are_slowed_down():
    with admin_server() as s:
        port, src = s.port, "127.0.0.2"
        codes = [call(port, "GET", "/admin/api/rooms", token=f"wrong-{i}", src=src)[0] for i in range(5)]
        assert codes == [403] * 5, codes
        # From now on, even the right token waits: brute force gains nothing.
        for token in ("wrong-again", TOKEN, None):
            status, headers, doc = call(port, "GET", "/admin/api/rooms", token=token, src=src)
            assert status == 429, (token, status)
            assert 1 <= int(headers["retry-after"]) <= 60, headers
            assert "error" in doc
        # Another address is not slowed down.
        status, _, doc = call(port, "GET", "/admin/api/rooms", src="127.0.0.4")
        assert status == 200 and doc["rooms"] == [], (status, doc)


@test
async def lists_kicks_closes_and_announces():
    with admin_server("--log-level", "debug") as s:
        port = s.port
        a = await Player.connect(s, room="alpha", name="ann")
        b = await Player.connect(s, room="alpha", name="bob")
        c = await Player.connect(s, room="beta", name="cy")
        await a.join()
        await a.send(["chat", "hello"])  # something else in flight
        got = await harness.apoll(lambda: rooms(port), 5, what="rooms")
        assert set(got) == {"alpha", "beta"}, got
        alpha = got["alpha"]
        assert alpha["members"] == 2 and [p["name"] for p in alpha["players"]] == ["ann", "bob"], alpha
        ann = alpha["players"][0]
        assert ann["id"] == a.id and ann["alive"] is True and ann["score"] == 0, ann
        assert alpha["players"][1]["alive"] is False
        assert [p["name"] for p in got["beta"]["players"]] == ["cy"]

        # Announce to one room: alpha hears it, beta does not.
        text = "Server <b>restart</b> at 10:00 \u2014 \"soon\""
        status, _, doc = call(port, "POST", "/admin/api/announce", body={"room": "alpha", "text": text})
        assert status == 200 and doc == {"sent": True}, (status, doc)
        for p in (a, b):
            cmd, _ = await p.until("announce", 5)
            assert cmd == ["announce", text], cmd
        # ... and to every room.
        status, _, _ = call(port, "POST", "/admin/api/announce", body={"room": None, "text": "all of you"})
        assert status == 200
        for p in (a, b, c):
            cmd, seen = await p.until("announce", 5)
            assert cmd == ["announce", "all of you"], cmd
            assert not any(x[0] == "announce" for x in seen) or p is not c
        assert not any(x[0] == "announce" and x[1] == text for _, f in c.frames for x in f)

        # Kick bob: 4000 with the reason; the others stay.
        status, _, doc = call(port, "POST", "/admin/api/kick",
                              body={"room": "alpha", "id": b.id, "reason": "Be nice"})
        assert status == 200 and doc == {"kicked": True}, (status, doc)
        assert await b.closed() == 4000
        assert b.ws.close_reason == "Be nice", b.ws.close_reason
        assert call(port, "POST", "/admin/api/kick", body={"room": "alpha", "id": b.id})[0] == 404
        got = await harness.apoll(lambda: (r := rooms(port))["alpha"]["members"] == 1 and r, 5,
                                  what="bob gone")
        assert [p["name"] for p in got["alpha"]["players"]] == ["ann"]

        # Close beta: every member 4001, the room goes.
        status, _, doc = call(port, "POST", "/admin/api/close-room",
                              body={"room": "beta", "reason": "Maintenance"})
        assert status == 200 and doc == {"closed": 1}, (status, doc)
        assert await c.closed() == 4001
        assert c.ws.close_reason == "Maintenance"
        await harness.apoll(lambda: "beta" not in rooms(port), 5, what="beta closed")
        await a.close()
        # One debug line per request, and never the token.
        assert s.log_has(r'event=http_request .*method=POST path="/admin/api/kick" status=200'), s.lines[-5:]
        assert s.log_has(r'event=kicked room=alpha id=%d' % b.id)
    assert not [l for l in s.lines if TOKEN in l], "the token is in the log"


@test
async def removes_a_score_from_the_table_and_every_room():
    data = tempfile.mkdtemp(prefix="data-", dir=_tmp)
    with admin_server(data=data) as s:
        port = s.port
        p = await Player.connect(s, room="sc", name="dee")
        watcher = await Player.connect(s, room="other", name="eve")
        await p.play_until_scored(timeout=40)
        ts = await p.die(15)
        assert any(r[0] == "dee" for r in ts), ts
        await harness.apoll(lambda: any(r["name"] == "dee" for r in harness.http_json(port, "/api/scores")["scores"]),
                            5, what="dee in /api/scores")
        status, _, doc = call(port, "POST", "/admin/api/remove-score", body={"name": "dee"})
        assert status == 200 and doc == {"removed": True}, (status, doc)
        # Every room is told, and the API no longer lists it.
        for who in (p, watcher):
            cmd, _ = await who.until("top_scores", 5, pred=lambda c: not any(r[0] == "dee" for r in c[1]))
        await harness.apoll(lambda: not any(r["name"] == "dee" for r in harness.http_json(port, "/api/scores")["scores"]),
                            5, what="dee gone from /api/scores")
        assert call(port, "POST", "/admin/api/remove-score", body={"name": "dee"})[0] == 404
        await p.close()
        await watcher.close()
    # Gone from the database too: a restart does not bring it back.
    with Server(*GAME, data=data) as again:
        assert not any(r["name"] == "dee" for r in harness.http_json(again.port, "/api/scores")["scores"])


@test
async def in_cluster_mode_announcements_reach_every_node():
    """Two nodes on one Redis: an announcement to every room made on one
    node reaches a player of a room that runs on the other; a score removed
    on one node leaves the global table, which every node reads again."""
    port = harness.free_port()
    tmp = tempfile.mkdtemp(prefix="redis-", dir=_tmp)
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", tmp],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{port}"
        common = ("--redis", url, "--redis-timeout", "0.2", "--lease-time", "1")
        with admin_server(*common, "--node-id", "na") as a, admin_server(*common, "--node-id", "nb") as b:
            for s in (a, b):
                harness.poll(lambda: harness.http_get(s.port, "/readyz")[0] == 200, 10, what="ready")
            p = await Player.connect(b, room="far", name="fay")
            doc = await harness.apoll(lambda: (r := call(b.port, "GET", "/admin/api/rooms")[2])["rooms"] and r,
                                      5, what="far on nb")
            assert doc["node"] == "nb" and doc["rooms"][0]["name"] == "far", doc
            assert call(a.port, "GET", "/admin/api/rooms")[2] == {"node": "na", "rooms": []}
            status, _, doc = call(a.port, "POST", "/admin/api/announce", body={"text": "from na"})
            assert status == 200 and doc == {"sent": True}, (status, doc)
            cmd, _ = await p.until("announce", 5)
            assert cmd == ["announce", "from na"], cmd
            # A score in the global table, removed from the other node.
            rcli = subprocess.run(["redis-cli", "-p", str(port), "ZADD", "sp:top", "42", "zed"],
                                  capture_output=True, timeout=5)
            assert rcli.returncode == 0, rcli
            await harness.apoll(lambda: any(r["name"] == "zed" for r in harness.http_json(b.port, "/api/scores")["scores"]),
                                5, what="zed on nb")
            status, _, doc = call(a.port, "POST", "/admin/api/remove-score", body={"name": "zed"})
            assert status == 200 and doc == {"removed": True}, (status, doc)
            await p.until("top_scores", 5, pred=lambda c: not any(r[0] == "zed" for r in c[1]))
            assert call(a.port, "POST", "/admin/api/remove-score", body={"name": "zed"})[0] == 404
            await p.close()
    finally:
        redis.kill()
        redis.wait()


atexit.register(shutil.rmtree, _tmp, True)
harness.main()
