"""HTTP: the page and its assets, HEAD, 404/405, path traversal, --static,
keep-alive and pipelining, /healthz, /api/rooms, /api/scores."""
import json
import os
import re
import shutil
import socket
import tempfile

import harness
from harness import Player, RawWS, Server, http_get, http_raw, read_response, test

_server = None


def srv():
    global _server
    if _server is None:
        _server = Server("--tick-rate", "5", "--field", "30x20")
    return _server


TYPES = {
    ".html": ("text/html",),
    ".htm": ("text/html",),
    ".js": ("text/javascript", "application/javascript"),
    ".mjs": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".svg": ("image/svg+xml",),
    ".json": ("application/json",),
    ".ico": ("image/x-icon", "image/vnd.microsoft.icon"),
    ".txt": ("text/plain",),
}


def ctype(headers):
    return headers.get("content-type", "").split(";")[0].strip().lower()


@test
def get_root_is_html():
    status, headers, body = http_get(srv().port, "/")
    assert status == 200, status
    assert ctype(headers) == "text/html", headers
    assert int(headers["content-length"]) == len(body) > 0
    assert b"<" in body


@test
def head_root_has_length_but_no_body():
    port = srv().port
    _, _, body = http_get(port, "/")
    raw = http_raw(port, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", read_until_close=True)
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep, raw[:200]
    assert head.startswith(b"HTTP/1.1 200"), head
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    assert m, head
    assert int(m.group(1)) == len(body), (m.group(1), len(body))
    assert rest == b"", f"HEAD response carried a body: {rest[:100]!r}"


@test
def page_assets_have_content_types():
    port = srv().port
    _, _, body = http_get(port, "/")
    refs = set(re.findall(rb'(?:src|href)\s*=\s*["\']([^"\'#?]+)', body))
    local = [r.decode() for r in refs if not re.match(rb"^[a-z]+:|^//", r)]
    for ref in local:
        path = ref if ref.startswith("/") else "/" + ref
        ext = os.path.splitext(path)[1].lower()
        status, headers, data = http_get(port, path)
        assert status == 200, (path, status)
        if ext in TYPES:
            assert ctype(headers) in TYPES[ext], (path, headers.get("content-type"))
        assert len(data) == int(headers["content-length"])


@test
def every_builtin_client_file_served():
    """Each file of web/ (compiled into the binary) is served at /NAME."""
    port = srv().port
    web = os.path.join(harness.ROOT, "web")
    names = sorted(n for n in os.listdir(web) if os.path.isfile(os.path.join(web, n)))
    assert names, "web/ is empty"
    for name in names:
        status, headers, body = http_get(port, "/" + name)
        if name.startswith("admin."):
            # The admin console's page: not there while the console is off.
            assert status == 404, (name, status)
            continue
        assert status == 200, (name, status)
        ext = os.path.splitext(name)[1].lower()
        if ext in TYPES:
            assert ctype(headers) in TYPES[ext], (name, headers.get("content-type"))
        assert len(body) == int(headers["content-length"]) > 0, name


@test
def unknown_path_404():
    port = srv().port
    for path in ("/nope.html", "/nope", "/api/nope", "/favicon.ico.bak", "/index.htm"):
        status, _, body = http_get(port, path)
        assert status == 404, (path, status, body[:100])
    # nested paths: the client's files are flat, so refused or unknown
    for path in ("/connect/x", "/healthz/x", "/a/b/c.js"):
        status, _, body = http_get(port, path)
        assert status in (400, 404), (path, status, body[:100])


@test
def other_methods_405():
    port = srv().port
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        for path in ("/", "/healthz", "/api/rooms", "/nope"):
            req = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   f"Content-Length: 4\r\n\r\nabcd").encode()
            raw = http_raw(port, req, read_until_close=True)
            assert raw.startswith(b"HTTP/1.1 405"), (method, path, raw[:100])


TRAVERSAL = [
    "/../etc/passwd",
    "/../../../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
    "/.%2e/.%2e/.%2e/.%2e/etc/passwd",
    "/..%2fetc%2fpasswd",
    "/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/%2Fetc%2Fpasswd",
    "/%2fetc/passwd",
    "//etc/passwd",
    "///etc/passwd",
    "/etc/passwd",
    "/./../etc/passwd",
    "/index.html/../../../etc/passwd",
    "/..\\..\\..\\etc\\passwd",
    "/%2e%2e%5c%2e%2e%5c%2e%2e%5cetc%5cpasswd",
    "/..%c0%af..%c0%afetc%c0%afpasswd",
    "/%252e%252e/%252e%252e/etc/passwd",
    "/web/%00",
    "/%00",
    "/index.html%00.js",
    "/index.html%00",
    "/proc/self/environ",
    "/../proc/self/environ",
    "http://x/../../etc/passwd",
    "http://x/%2e%2e/%2e%2e/etc/passwd",
    "http://127.0.0.1/../../../../etc/passwd",
]


def refused(port, path, secret):
    """Sends GET path raw; returns None if refused properly, else a complaint."""
    req = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1")
    raw = http_raw(port, req, read_until_close=True)
    if secret in raw:
        return f"{path!r}: served the secret: {raw[:200]!r}"
    if not raw:
        return None   # closed without answering: refused
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    if not m:
        return f"{path!r}: not an HTTP response: {raw[:100]!r}"
    if int(m.group(1)) not in (400, 403, 404):
        return f"{path!r}: status {m.group(1).decode()} (want 400 or 404)"
    return None


@test
def traversal_refused():
    port = srv().port
    bad = [r for r in (refused(port, p, b"root:") for p in TRAVERSAL) if r]
    # a literal NUL and raw bytes in the request line
    for raw_path in (b"/index.html\x00.js", b"/\x00", b"/..\xc0\xaf..\xc0\xafetc/passwd"):
        raw = http_raw(port, b"GET " + raw_path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       read_until_close=True)
        if raw and not re.match(rb"HTTP/1\.[01] (400|403|404)", raw):
            bad.append(f"{raw_path!r}: {raw[:80]!r}")
    assert not bad, "\n".join(bad)
    assert harness.healthz(port)


def make_static():
    tmp = tempfile.mkdtemp(prefix="snakepit-static-")
    root = os.path.join(tmp, "client")
    os.mkdir(root)
    files = {
        "index.html": b"<!doctype html><title>static test</title><p>STATIC-INDEX</p>",
        "app.js": b"console.log('STATIC-JS');",
        "style.css": b"body { color: red }",
        "pic.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "data.json": b'{"k": 1}',
        "icon.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        "notes.txt": b"plain text",
    }
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    with open(os.path.join(tmp, "secret.txt"), "wb") as f:
        f.write(b"TOPSECRET-OUTSIDE")
    os.mkdir(os.path.join(root, "sub"))
    with open(os.path.join(root, "sub", "inner.txt"), "wb") as f:
        f.write(b"inner")
    os.symlink(os.path.join(tmp, "secret.txt"), os.path.join(root, "link.txt"))
    os.symlink("../secret.txt", os.path.join(root, "rel.txt"))
    os.symlink(tmp, os.path.join(root, "up"))
    return tmp, root, files


@test
def static_dir_served_and_confined():
    tmp, root, files = make_static()
    try:
        with Server("--static", root) as s:
            status, headers, body = http_get(s.port, "/")
            assert status == 200 and body == files["index.html"], (status, body[:100])
            for name, data in files.items():
                status, headers, body = http_get(s.port, "/" + name)
                assert status == 200, (name, status)
                assert body == data, name
                ext = os.path.splitext(name)[1]
                assert ctype(headers) in TYPES[ext], (name, headers.get("content-type"))
            bad = []
            for path in ["/link.txt", "/rel.txt", "/up/secret.txt", "/up", "/sub", "/sub/",
                         "/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
                         "/%2e%2e%2fsecret.txt", "/.%2e/secret.txt", "/sub/../../secret.txt",
                         "/sub/%2e%2e/%2e%2e/secret.txt", "http://x/../secret.txt",
                         "/" + tmp.lstrip("/") + "/secret.txt", "/%2F" + tmp.lstrip("/") + "%2Fsecret.txt",
                         "//" + tmp.lstrip("/") + "/secret.txt", "/index.html%00.js"]:
                r = refused(s.port, path, b"TOPSECRET")
                if r:
                    bad.append(r)
            # a directory is never answered 200 with a listing or garbage
            for path in ("/sub", "/sub/", "/up"):
                status, _, body = http_get(s.port, path)
                if status == 200:
                    bad.append(f"{path}: 200 for a directory or a link out of the client dir")
            assert not bad, "\n".join(bad)
            # files the server keeps of its own are not served from DIR's parent
            status, _, _ = http_get(s.port, "/secret.txt")
            assert status == 404, status
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def keep_alive_two_requests_one_socket():
    port = srv().port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for path, want in (("/healthz", b"ok"), ("/healthz", b"ok"), ("/", None), ("/nope", None)):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, headers, body = read_response(sock)
            assert status == (404 if path == "/nope" else 200), (path, status)
            if want:
                assert body.split(b"\n")[0] == want, body
            assert headers.get("connection", "").lower() != "close", headers


@test
def pipelined_requests_answered_in_order():
    port = srv().port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        reqs = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /api/rooms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        sock.sendall(reqs)
        st1, _, b1 = read_response(sock)
        st2, _, _ = read_response(sock)
        st3, h3, _ = read_response(sock, head_only=True)
        st4, h4, b4 = read_response(sock)
        st5, h5, b5 = read_response(sock)
        assert (st1, b1.split(b"\n")[0]) == (200, b"ok"), (st1, b1)
        assert st2 == 404, st2
        assert st3 == 200 and ctype(h3) == "text/html", (st3, h3)
        assert st4 == 200 and ctype(h4) == "text/html" and len(b4) == int(h3["content-length"]), (st4, h4)
        assert st5 == 200 and "rooms" in json.loads(b5), b5
        assert harness.leftover(sock) == b""
        sock.settimeout(3)
        assert sock.recv(100) == b"", "connection not closed after Connection: close"


@test
def pipelined_in_tiny_pieces():
    """The same requests sent one byte at a time."""
    port = srv().port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n":
            sock.sendall(bytes([b]))
        st1, _, b1 = read_response(sock)
        st2, _, _ = read_response(sock)
        assert (st1, b1.split(b"\n")[0], st2) == (200, b"ok", 404)


@test
def healthz_ok():
    """`ok`, then the version; /readyz says the server takes games."""
    status, headers, body = http_get(srv().port, "/healthz")
    assert status == 200 and body == b"ok\nversion 0.1.0\n", (status, body)
    status, headers, body = http_get(srv().port, "/readyz")
    assert status == 200 and body == b"ready\n", (status, body)


@test
def api_scores_empty_on_fresh_data():
    doc = harness.http_json(srv().port, "/api/scores")
    assert doc == {"scores": []}, doc


def rooms(port):
    doc = harness.http_json(port, "/api/rooms")
    assert isinstance(doc, dict) and isinstance(doc.get("rooms"), list), doc
    out = {}
    for r in doc["rooms"]:
        assert set(r) >= {"name", "connections", "snakes"}, r
        assert isinstance(r["connections"], int) and isinstance(r["snakes"], int), r
        out[r["name"]] = (r["connections"], r["snakes"])
    return out


@test
async def api_rooms_reflects_connections_and_snakes():
    s = srv()
    a = await Player.connect(s, room="alpha", name="alice")
    b = await Player.connect(s, room="alpha")                 # no new_player
    c = RawWS(s.port, "/connect")                               # default room
    d = await Player.connect(s, room="beta_2", name="dan")
    try:
        await harness.apoll(lambda: rooms(s.port).get("alpha") == (2, 0) and
                            rooms(s.port).get("default") == (1, 0) and
                            rooms(s.port).get("beta_2") == (1, 0), what="rooms before join")
        await a.join()
        await d.join()
        want = {"alpha": (2, 1), "default": (1, 0), "beta_2": (1, 1)}
        await harness.apoll(lambda: {k: v for k, v in rooms(s.port).items() if k in want} == want,
                            what=f"rooms {want}")
        await d.close()
        await harness.apoll(lambda: "beta_2" not in rooms(s.port), what="beta_2 freed")
    finally:
        c.close()
        await a.close()
        await b.close()
    await harness.apoll(lambda: not ({"alpha", "default"} & set(rooms(s.port))),
                        what="rooms freed after the last connection left")


@test
def server_exits_cleanly():
    global _server
    s = srv()
    _server = None
    s.__exit__(None, None, None)


harness.main()
