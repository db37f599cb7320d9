"""Hostile and broken clients: a client that never reads (cut off at
--max-queue, memory bounded, the room on time), 1000 handshakes dropped
halfway, garbage frames, invalid JSON, wrong types, huge numbers, deep
nesting, odd names, floods of pings or pipelined requests that are never
read. After each the server is up, /healthz answers and a healthy client
plays. The leak check (LeakSanitizer in the ASan build, valgrind memcheck
for the plain one) is proven to catch a leak, and valgrind runs one short
game."""
import asyncio
import json
import os
import random
import re
import socket
import struct
import subprocess
import tempfile
import threading
import time

import harness
from harness import (Player, RawWS, Server, apoll, healthz, http_json,
                     raw_ws_on, read_to_eof, tcp_connect, test, upgrade_head, vm_rss_kb)

TEXT, BIN, CLOSE, PING, PONG, CONT = 1, 2, 8, 9, 10, 0
F = RawWS.frame


async def keep_playing(p, stop):
    """Keeps p's snake alive (autopilot), joining again after a death."""
    while not stop.is_set():
        if not p.alive:
            await p.join()
            p.autopilot = "survive"
        await asyncio.sleep(0.02)


async def plays_normally(s, room="healthy", name="healthy"):
    """A fresh client registers, joins and sees its snake move for 10
    ticks, then leaves; /healthz answers."""
    assert await asyncio.to_thread(healthz, s.port), "/healthz failed"
    p = await Player.connect(s, room=room, name=name)
    try:
        assert p.name == name, p.name
        await p.join()
        await p.wait_born()
        p.autopilot = "survive"
        start = len(p.heads)
        end = time.monotonic() + 10
        while p.alive and len(p.heads) < start + 10:
            await p.next_frame(max(0.01, end - time.monotonic()))
        assert len(p.heads) >= start + 3, f"the snake moved only {len(p.heads) - start} times"
    finally:
        await p.close()
    return True


# --- a client that never reads --------------------------------------------------

# --sndbuf: without it the kernel grows the slow reader's send buffer to
# net.ipv4.tcp_wmem's maximum (4 MiB here), which takes 8 s to fill alone
# and far longer on a busy machine, longer even than --ping-interval, which
# then closes the reader first.
SLOW = ("--max-queue", "65536", "--sndbuf", "32768", "--tick-rate", "50",
        "--field", "100x60", "--bots", "60", "--max-players", "65", "--seed", "5")


class Watcher(threading.Thread):
    """A room member on its own thread that only stamps the arrival time of
    every frame (frames: [(time, payload)]), so that its clock is not held
    up by the game logic of the other test clients."""

    def __init__(self, port, room):
        super().__init__(daemon=True)
        self.ws = RawWS(port, f"/connect?room={room}")
        self.ws.send_text(json.dumps(["new_player", "watcher"]))
        self.frames = []
        self.halt = threading.Event()
        self.start()

    def run(self):
        while not self.halt.is_set():
            try:
                op, payload = self.ws.recv_frame(0.5)
            except socket.timeout:
                continue
            if op is None:
                return
            if op == TEXT:
                self.frames.append((time.monotonic(), payload))

    def gaps(self, t0, t1):
        """Sorted gaps between consecutive tick frames received in
        [t0, t1], within a game (a reset_world starts a new one), and
        the number of tick frames."""
        gaps, last, ticks = [], None, 0
        for t, payload in list(self.frames):
            if not t0 <= t <= t1:
                continue
            if b'"reset_world"' in payload:
                last = None
            elif payload == b"[]" or payload.startswith(b'[["render",'):
                ticks += 1
                if last is not None:
                    gaps.append(t - last)
                last = t
        return sorted(gaps), ticks

    def stop(self):
        self.halt.set()
        self.join(2)
        self.ws.close()


@test
async def never_reading_client_is_cut_memory_bounded_room_on_time():
    with Server(*SLOW) as s:
        holders = [await Player.connect(s, room="r", name=f"h{i}") for i in range(2)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(keep_playing(h, stop)) for h in holders]
        watcher = Watcher(s.port, "r")
        try:
            await apoll(lambda: len(watcher.frames) > 50, 5, what="the room running")
            # before the slow client: the tick gaps this machine gives us now
            t_base = time.monotonic()
            await asyncio.sleep(3)
            base, _ = watcher.gaps(t_base, time.monotonic())
            base_p99 = base[int(len(base) * 0.99)]
            rss_before = vm_rss_kb(s.proc.pid)

            # the slow client: a tiny receive buffer, registers, never reads
            sock = tcp_connect(s.port, rcvbuf=2048)
            sock.sendall(upgrade_head("/connect?room=r"))
            sock.sendall(F(TEXT, json.dumps(["new_player", "sloth"]).encode()))
            t_slow = time.monotonic()
            rss = []
            while not any("event=slow_consumer" in l for l in s.lines):
                rss.append(vm_rss_kb(s.proc.pid))
                assert time.monotonic() - t_slow < 30, "the slow client was never cut off"
                await asyncio.sleep(0.1)
            t_cut = time.monotonic()
            line = next(l for l in s.lines if "event=slow_consumer" in l)
            m = re.search(r"level=warn event=slow_consumer conn=\d+ peer=127\.0\.0\.1:(\d+) queued=(\d+) limit=65536", line)
            assert m, line
            assert int(m.group(1)) == sock.getsockname()[1], (line, sock.getsockname())
            # cut at the first send after what waits passed the limit: at
            # most the last batch beyond it. A batch is one message here (a
            # tick's frame, a world), and the watcher gets the same ones; a
            # tick with bots dying can take 30 kB, a world of 100x60 48 kB.
            largest = max(len(p) for t, p in list(watcher.frames) if t <= t_cut)
            excess = int(m.group(2)) - 65536
            assert 0 < excess <= largest + 1024, (line, largest)
            # memory after the cut: bounded and not growing
            for _ in range(20):
                rss.append(vm_rss_kb(s.proc.pid))
                await asyncio.sleep(0.1)
            assert max(rss) < 100_000, f"RSS up to {max(rss)} KiB (before the slow client {rss_before})"
            assert rss[-1] <= rss[-21] + 4096, f"RSS still growing after the cut: {rss[-21:]}"

            # the other members got every tick on time meanwhile: p99 of the
            # gaps under 3 intervals (or, on a machine loaded by something
            # else, no worse than 1.5 x what it was just before)
            gaps, ticks = watcher.gaps(t_slow, t_cut + 2)
            assert ticks >= 0.6 * 50 * (t_cut + 2 - t_slow), f"{ticks} ticks in {t_cut + 2 - t_slow:.1f}s"
            p99 = gaps[int(len(gaps) * 0.99)]
            print(f"  cut after {t_cut - t_slow:.1f}s, {excess} B past the limit (largest message "
                  f"{largest} B); RSS KiB before {rss_before} max {max(rss)} "
                  f"last {rss[-1]}; p99 tick gap {p99 * 1000:.1f} ms (before {base_p99 * 1000:.1f} ms)")
            # (ThreadSanitizer slows the server down 5-15 times: no timing claim there)
            if harness.sanitizer() != "tsan":
                assert p99 < max(3 * 0.02, 1.5 * base_p99), \
                    f"p99 tick gap {p99 * 1000:.1f} ms at 50 Hz (max {gaps[-1] * 1000:.1f}, " \
                    f"p99 before the slow client {base_p99 * 1000:.1f})"

            # the slow client's connection is gone: what the kernels still
            # held drains, then the socket ends (FIN or reset)
            data, how = await asyncio.to_thread(read_to_eof, sock, 10)
            sock.close()
            assert how in ("eof", "reset"), f"slow client's socket still open ({len(data)} bytes read)"
            assert len(data) < 8 << 20, len(data)
            rooms = await asyncio.to_thread(http_json, s.port, "/api/rooms")
            r = [x for x in rooms["rooms"] if x["name"] == "r"]
            assert r and r[0]["connections"] == 3, rooms
        finally:
            watcher.stop()
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for p in holders:
                await p.close()
        assert await plays_normally(s)


def flood_bounded(s, sock, chunk, what, total=80 << 20, grow_kib=50_000):
    """Sends chunk after chunk on sock without ever reading. The server must
    keep its memory bounded: stop reading (our send blocks) or cut the
    connection, before its RSS has grown by grow_kib. Returns how it
    ended: "blocked" or "cut"."""
    base = vm_rss_kb(s.proc.pid)
    sent = 0
    sock.settimeout(3)
    try:
        while sent < total:
            try:
                sock.sendall(chunk)
            except socket.timeout:
                return "blocked"
            except (BrokenPipeError, ConnectionResetError):
                return "cut"
            sent += len(chunk)
            rss = vm_rss_kb(s.proc.pid)
            assert rss - base < grow_kib, \
                f"{what}: server RSS grew from {base} to {rss} KiB after {sent >> 10} KiB sent, never read"
        raise AssertionError(f"{what}: {sent >> 20} MiB accepted without reading, RSS {base} -> {vm_rss_kb(s.proc.pid)} KiB")
    finally:
        sock.close()


@test
def ping_flood_never_reading_is_bounded():
    """Pongs are output too: a client that sends pings and never reads the
    pongs must not make the server queue without limit (--max-queue)."""
    with Server("--max-queue", "65536") as s:
        sock = tcp_connect(s.port, rcvbuf=2048)
        ws = raw_ws_on(sock)
        ws.send_text(json.dumps(["new_player", "pinger"]))
        flood_bounded(s, sock, F(PING, b"p" * 125) * 400, "ping flood")
        assert healthz(s.port)


@test
def pipelined_http_never_reading_is_bounded():
    """Each 27-byte request asks for the 4 KB page: a client that pipelines
    requests and never reads must not make the server queue without limit."""
    with Server("--max-queue", "65536") as s:
        sock = tcp_connect(s.port, rcvbuf=2048)
        flood_bounded(s, sock, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 100, "pipelined GET /")
        assert healthz(s.port)


# --- handshakes dropped halfway --------------------------------------------------

SOURCES = ["127.0.0.%d" % i for i in range(1, 21)]


def half_handshakes(port, n, batch=100):
    """n connections, each dropped in the middle of its handshake, in
    batches (all of a batch open at once, spread over 20 source addresses
    to stay under the default --max-conns-per-ip of 64 even when the
    server notices the closes a few batches late)."""
    full = upgrade_head("/connect?room=default")
    kinds = [
        b"GET /conn",                              # half a request line
        full[:len(full) // 2],                     # half the upgrade head
        full[:-2],                                 # all but the final CRLF
        full,                                      # upgraded, closed unread
        full + F(TEXT, b'["new_player","half"]')[:5],  # half a frame after it
        b"",                                       # nothing at all
    ]
    for start in range(0, n, batch):
        socks = []
        for i in range(start, min(n, start + batch)):
            c = tcp_connect(port, SOURCES[i % len(SOURCES)])
            kind = kinds[i % len(kinds)]
            if kind:
                c.sendall(kind)
            if i % 2:
                # close with a reset instead of a FIN
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socks.append(c)
        for c in socks:
            c.close()


def default_room_connections(port):
    try:
        rooms = http_json(port, "/api/rooms")["rooms"]
    except (AssertionError, OSError):
        return None
    return sum(r["connections"] for r in rooms if r["name"] == "default")


def per_ip_quota_free(port, src, quota=64):
    """True when exactly quota connections from src are accepted (the
    per-address count went back to zero); they are closed again."""
    socks = []
    try:
        for _ in range(quota):
            c = tcp_connect(port, src)
            socks.append(c)
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            if harness.read_response(c)[0] != 200:
                return False
        c = tcp_connect(port, src)
        socks.append(c)
        data, _ = read_to_eof(c, 5)
        return data.startswith(b"HTTP/1.1 503 ")
    except (AssertionError, OSError):
        return False
    finally:
        for c in socks:
            c.close()


@test
async def thousand_dropped_handshakes_then_normal_play():
    with Server("--tick-rate", "20", "--field", "40x30") as s:
        rss0 = vm_rss_kb(s.proc.pid)
        await asyncio.to_thread(half_handshakes, s.port, 1000)
        # (a connection reset before it was accepted has no peer address:
        # refusing those does not matter, they are gone anyway)
        refused = [l for l in s.lines if re.search(r"event=conn_refused peer=\d", l)]
        assert not refused, refused[:3]
        # every dropped connection is forgotten: none left in the room, and
        # each address has its whole quota (default 64) again
        await apoll(lambda: default_room_connections(s.port) == 0, 10,
                    what="no connection left in the default room")
        for src in SOURCES[::4]:
            await apoll(lambda: per_ip_quota_free(s.port, src), 10, 0.2,
                        what=f"the 64 connections of {src} free again")
        assert await plays_normally(s, room="default")
        rss = vm_rss_kb(s.proc.pid)
        assert rss - rss0 < (60_000 if harness.sanitizer() else 20_000), (rss0, rss)
        assert not [l for l in s.lines if "level=error" in l], [l for l in s.lines if "level=error" in l][:5]


# --- garbage and malformed messages ----------------------------------------------

CLOSE_CODES = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011}


def check_server_output(ws, timeout=2.0):
    """Reads what the server sends until it closes (or timeout): every frame
    must be well-formed, text frames JSON arrays of commands, a close code
    one of ours."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        try:
            op, payload = ws.recv_frame(left)
        except socket.timeout:
            return None
        if op is None:
            return None
        assert op in (TEXT, CLOSE, PING, PONG), f"server sent opcode {op}"
        if op == TEXT:
            cmds = json.loads(payload)
            assert isinstance(cmds, list) and all(isinstance(c, list) and c and isinstance(c[0], str)
                                                  for c in cmds), payload[:200]
        if op == CLOSE:
            assert len(payload) >= 2, payload
            code = struct.unpack("!H", payload[:2])[0]
            assert code in CLOSE_CODES, code
            return code


def random_frame(rng):
    op = rng.choice([0, 1, 2, 8, 9, 10, rng.randrange(16)])
    payload = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 5, 30, 125, 126, 300])))
    if rng.random() < 0.3:
        payload = json.dumps(rng.choice([["join"], ["new_player", "g"], 37, 40])).encode()
    length = None
    r = rng.random()
    if r < 0.1:
        length = rng.choice([126, 127, 65535, 65536, 1 << 31, (1 << 63) - 1, (1 << 64) - 1])
    return F(op, payload, fin=rng.random() < 0.8, mask=rng.random() < 0.95,
             rsv=rng.choice([0, 0, 0, 0, 1, 2, 4, 7]), length=length)


@test
def garbage_frames_after_upgrade():
    rng = random.Random(20261127)
    with Server("--tick-rate", "20", "--field", "30x20") as s:
        codes = {}
        for i in range(150):
            ws = RawWS(s.port, "/connect?room=garbage")
            try:
                if i % 3 == 0:
                    ws.send_text(json.dumps(["new_player", f"g{i}"]))
                if i % 5 == 4:
                    data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
                else:
                    data = b"".join(random_frame(rng) for _ in range(rng.randrange(1, 8)))
                try:
                    ws.send(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                code = check_server_output(ws, 0.5)
                codes[code] = codes.get(code, 0) + 1
            finally:
                ws.close()
            if i % 50 == 49:
                assert healthz(s.port), f"/healthz failed after {i + 1} garbage connections"
        assert s.alive()
        assert set(codes) - {None} <= CLOSE_CODES, codes
        assert codes.get(1002, 0) > 10, codes   # most garbage is a protocol error
        assert asyncio.run(plays_normally(s, room="garbage"))
        assert not [l for l in s.lines if "level=error" in l]


def pong_next(ws, tag):
    """Sends a ping and checks that the next frame is its pong: nothing was
    sent in between (no error, no close) and the connection is open."""
    ws.send(F(PING, tag))
    op, payload = ws.recv_frame(5)
    assert (op, payload) == (PONG, tag), (tag, op, payload[:200])


BAD_JSON = ["", " ", "[", "]", "{", '{"a":', "nul", "tru", '["join"', "'join'", '"unterminated',
            "[1,]", "NaN", "Infinity", "-", "01", "1e", "0x25", '["join"]garbage', "[] []",
            '["join" "x"]', "\\u0000", '["\\ud800"]', '["new_player","\\ud800"]', '["new_player","\\udc00x"]']
WRONG_TYPES = ['["new_player", 5]', '["new_player"]', '["new_player", null]', '["new_player", ["x"]]',
               '["new_player", {"name": "x"}]', '{"a":1}', '{"new_player": "x"}', '"join"',
               '"new_player"', "37.5", "38.0", "-1", "0", "36", "41", "1e400", "-1e400",
               "99999999999999999999", "-99999999999999999999", "4294967333", "18446744073709551653",
               "[37]", "[[\"join\"]]", "[null]", "[]", "{}", "null", "true", "false",
               '["join\\u0000"]', '["JOIN"]', '[" join"]', '[5, "join"]', '[true]']


@test
def malformed_messages_ignored():
    with Server("--tick-rate", "20", "--field", "30x20", "--max-message", "1000000") as s:
        # before registering: nothing registers, nothing is answered
        ws = RawWS(s.port, "/connect?room=json")
        for i, msg in enumerate(BAD_JSON + WRONG_TYPES):
            ws.send_text(msg)
            pong_next(ws, b"u%d" % i)
        ws.send_text(json.dumps(["new_player", "after"]))
        hs = ws.recv_json()[0]
        assert hs[0] == "handshake" and hs[1] == "after", hs
        # read the rest of the welcome (world, top_scores) before probing
        pong_drain(ws, b"welcome")
        # registered: the same again, and deep nesting
        deep = ["[" * 100000, "[" * 100000 + "]" * 100000, '{"a":' * 50000, "[{" * 40000,
                "[" * 2000 + "]" * 2000, "[" * 3000 + '"join"' + "]" * 3000,
                '["new_player", "' + "x" * 500000 + '"]', " " * 900000 + "[]"]
        for i, msg in enumerate(BAD_JSON + WRONG_TYPES + deep):
            ws.send_text(msg)
            pong_next(ws, b"r%d" % i)
        ws.close()
    with Server("--tick-rate", "20", "--field", "30x20") as s:
        # deep nesting within the default --max-message 4096
        ws = RawWS(s.port, "/connect?room=json")
        ws.send_text(json.dumps(["new_player", "deep"]))
        pong_drain(ws, b"welcome")
        for i, msg in enumerate(["[" * 4000, "[" * 2040 + "]" * 2040, "{\"a\":" * 800]):
            ws.send_text(msg)
            pong_next(ws, b"d%d" % i)
        # one over the limit is closed with 1009 (documented), the server goes on
        ws.send_text("[" * 5000)
        assert ws.recv_close(5) == 1009
        ws.close()
        assert asyncio.run(plays_normally(s, room="json"))
        assert not [l for l in s.lines if "level=error" in l]


def pong_drain(ws, tag):
    """Skips what the server sent so far: sends a ping and reads up to its
    pong."""
    ws.send(F(PING, tag))
    while True:
        op, payload = ws.recv_frame(5)
        assert op not in (None, CLOSE), (op, payload)
        if op == PONG and payload == tag:
            return


# (name sent, name the server keeps, JSON with \u escapes only)
NAMES = [
    ("x" * 4000, "x" * 15, True),
    ("\u00e9" * 2000, "\u00e9" * 15, False),
    ("a\u0000b\u0000c", "abc", True),
    ("\U0001F600" * 20, "\U0001F600" * 15, True),     # as surrogate pairs
    ("\U0001F600" * 20, "\U0001F600" * 15, False),    # as raw UTF-8
    ("sn\U0001F40Dke\u0000!", "sn\U0001F40Dke!", False),
    ("\u0000\u0001\u001f\u007f", "anonymous", True),
    ("", "anonymous", True),
    ("   ", "anonymous", True),
    ("  bob  ", "bob", True),
    ("\u202eevil\u202c", "evil", False),
    ("<script>alert(1)</script>", "<script>alert(1", True),
    ('"quoted"\\back', '"quoted"\\back', True),
]


@test
def hostile_names():
    with Server("--tick-rate", "20", "--field", "30x20") as s:
        for i, (sent, want, ascii_only) in enumerate(NAMES):
            ws = RawWS(s.port, f"/connect?room=names{i % 3}")
            msg = json.dumps(["new_player", sent], ensure_ascii=ascii_only)
            assert len(msg.encode()) <= 4096, len(msg.encode())
            ws.send_text(msg)
            hs = ws.recv_json()[0]
            assert hs[0] == "handshake" and hs[1] == want, (sent[:20], hs[:2], want)
            pong_drain(ws, b"n%d" % i)
            ws.close()
        # a raw NUL byte in the JSON text is not valid JSON: ignored
        ws = RawWS(s.port)
        ws.send_text(b'["new_player","a\x00b"]')
        pong_next(ws, b"raw-nul")
        ws.close()
        # a name with markup plays like any other
        assert asyncio.run(plays_normally(s, room="names0", name="<b>\U0001F600</b>"))
        assert healthz(s.port)



# --- the leak check itself --------------------------------------------------------

LEAKY_C = r"""
#include <stdlib.h>
#include <string.h>
static void lose(void) {
  char *volatile p = malloc(4242);
  memset(p, 1, 4242);
  p = 0;
}
__attribute__((constructor)) static void leak_at_start(void) { lose(); }
"""


def build_leaky(tmp):
    src = os.path.join(tmp, "leaky.c")
    lib = os.path.join(tmp, "leaky.so")
    with open(src, "w") as f:
        f.write(LEAKY_C)
    subprocess.run(["cc", "-shared", "-fPIC", "-O0", "-o", lib, src], check=True)
    return lib


@test
def leak_check_catches_a_leak():
    """Proof that the leak check works: a library preloaded into the real
    server loses 4242 bytes at start. ASan build: LeakSanitizer runs at exit
    (detect_leaks=1 from the harness) and Server.stop() fails on its report.
    Plain build: valgrind memcheck (as used below) exits 9 on it."""
    tmp = tempfile.mkdtemp(prefix="snakepit-leak-")
    try:
        lib = build_leaky(tmp)
        if harness.uses_asan():
            s = Server(env={"LD_PRELOAD": lib,
                            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:verify_asan_link_order=0"})
            try:
                assert healthz(s.port)
                try:
                    s.stop()
                except AssertionError as e:
                    report = str(e)
                else:
                    raise AssertionError("a leak went unnoticed:\n" + "\n".join(s.lines[-20:]))
                assert "ERROR: LeakSanitizer: detected memory leaks" in report, report
                assert "4242 byte(s)" in report, report
            finally:
                s.cleanup()
            # and without the leak, the same start and stop is clean
            with Server() as s:
                assert healthz(s.port)
                assert s.stop() == 0
                assert not any("Sanitizer" in l for l in s.lines), s.lines[-20:]
        elif harness.sanitizer() is None and os.path.exists("/usr/bin/valgrind"):
            s = valgrind_server(tmp, env={"LD_PRELOAD": lib})
            try:
                assert healthz(s.port)
                code = s.stop(timeout=15)
                assert code == 9, f"valgrind exit {code}, want 9 for a leak"
                assert any("4,242 bytes in 1 blocks are definitely lost" in l for l in s.lines), s.lines[-20:]
            finally:
                s.cleanup()
    finally:
        subprocess.run(["rm", "-rf", tmp])


def valgrind_server(tmp, *args, env=None):
    """The plain build under valgrind memcheck: exit status 9 on a memory
    error or a definite/indirect leak."""
    wrapper = os.path.join(tmp, "snakepit-vg")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec /usr/bin/valgrind -q --leak-check=full --show-leak-kinds=definite,indirect "
                "--errors-for-leak-kinds=definite,indirect --error-exitcode=9 "
                f"{harness.BIN} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    real, harness.BIN = harness.BIN, wrapper
    try:
        return Server(*args, env=env)
    finally:
        harness.BIN = real


@test
async def valgrind_memcheck_short_game():
    """The plain build under valgrind memcheck for one short scenario (play,
    garbage, a dropped handshake, HTTP), stopped with SIGTERM: no memory
    error and no definite or indirect leak. (ASan build: skipped, it has
    its own leak check.)"""
    if harness.sanitizer() or not os.path.exists("/usr/bin/valgrind"):
        print("  (skipped: sanitizer build or no valgrind)")
        return
    tmp = tempfile.mkdtemp(prefix="snakepit-vg-")
    s = valgrind_server(tmp, "--tick-rate", "20", "--field", "30x20", "--workers", "2")
    try:
        p = await Player.connect(s, room="vg", name="valgrind")
        await p.send("[" * 3000)
        await p.send('["new_player", 5]')
        await p.join()
        await p.wait_born(10)
        p.autopilot = "survive"
        for _ in range(10):
            await p.next_frame(5)
        await asyncio.to_thread(half_handshakes, s.port, 12, 6)
        assert await asyncio.to_thread(healthz, s.port)
        await p.close()
        code = await asyncio.to_thread(s.stop, 15)   # SIGTERM
        vg = [l for l in s.lines if l.startswith("==")]
        assert code == 0, f"exit {code}:\n" + "\n".join(vg[-40:] or s.lines[-20:])
        assert not vg, "\n".join(vg[-40:])
    finally:
        if s.alive():
            s.kill()
        s.cleanup()
        subprocess.run(["rm", "-rf", tmp])


harness.main()
