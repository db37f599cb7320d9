"""Integration test harness: starts the real snakepit binary on a free
loopback port and gives tests a few helpers to talk to it.

Tests are plain functions (sync or async) decorated with @test. Each file ends
with `harness.main()`, which runs its tests, prints "ok - name" / "FAIL - name"
and a final "N passed, M failed" line, and exits non-zero on failure.

The binary comes from $SNAKEPIT_BIN (default build/snakepit).
"""
import asyncio
import base64
import inspect
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import weakref

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("SNAKEPIT_BIN", os.path.join(ROOT, "build", "snakepit")))
# A binary built with ASan or TSan runs several times slower: checks that
# bound a delay allow for it.
SANITIZED = any(part in ("asan", "tsan") for part in BIN.split(os.sep))

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def main(timeout=60):
    only = sys.argv[1:]
    passed = failed = 0
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        try:
            if inspect.iscoroutinefunction(fn):
                asyncio.run(asyncio.wait_for(fn(), timeout))
            else:
                fn()
            passed += 1
            print(f"ok - {fn.__name__}", flush=True)
        except BaseException:  # noqa: B036 - a test must never stop the run
            failed += 1
            print(f"FAIL - {fn.__name__}", flush=True)
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


class Server:
    """The real binary on 127.0.0.1 with --port 0; the port it bound is read
    from its `event=listening` log line. Logs are kept in self.lines."""

    def __init__(self, *args, data=None, env=None, wait=True, port=0, preexec_fn=None):
        """args are extra command-line arguments. data: the --data directory
        (a fresh temporary one by default). port: the --port value (None: no
        --port flag, e.g. to test $PORT). env: extra environment variables.
        preexec_fn: run in the child before exec (e.g. to set rlimits)."""
        self.tmp = None
        if data is None:
            self.tmp = tempfile.mkdtemp(prefix="snakepit-test-")
            data = self.tmp
        self.data = data
        self.args = ["--host", "127.0.0.1"]
        if port is not None:
            self.args += ["--port", str(port)]
        self.args += ["--data", data] + list(args)
        # tests/run.sh runs the suite with 1 and with 2 worker loops
        if os.environ.get("SNAKEPIT_WORKERS") and "--workers" not in args:
            self.args += ["--workers", os.environ["SNAKEPIT_WORKERS"]]
        self.lines = []
        self.port = None
        self._ready = threading.Event()
        full_env = dict(os.environ)
        full_env.pop("PORT", None)
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        full_env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen([BIN] + self.args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=full_env, preexec_fn=preexec_fn)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if wait:
            if not self._ready.wait(15):
                self.kill()
                raise RuntimeError("server did not start:\n" + "\n".join(self.lines))
            if self.port is None:
                raise RuntimeError("server exited:\n" + "\n".join(self.lines))

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if os.environ.get("SNAKEPIT_TEST_VERBOSE"):
                print("  server:", line, file=sys.stderr)
            # logfmt, or one JSON object a line (--log-format json)
            m = re.search(r'event=listening .*port=(\d+)|"event":"listening".*"port":(\d+)', line)
            if m and self.port is None:
                self.port = int(m.group(1) or m.group(2))
                self._ready.set()
        self._ready.set()

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/connect"

    def http_url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def log_has(self, pattern, timeout=5.0):
        """Waits until a log line matches the regular expression."""
        return self.log_line(pattern, timeout) is not None

    def log_line(self, pattern, timeout=5.0):
        """The first log line that matches, waiting for it; None if none came.
        A line can come after the message a client saw: the log is written by
        another thread and read through a pipe."""
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            line = next((l for l in list(self.lines) if rx.search(l)), None)
            if line is not None or time.monotonic() >= end:
                return line
            time.sleep(0.02)

    def reload(self, pattern, timeout=5.0):
        """Sends SIGHUP and waits for a log line after it that matches;
        returns the lines logged since the signal."""
        n = len(self.lines)
        self.proc.send_signal(signal.SIGHUP)
        rx = re.compile(pattern)
        poll(lambda: any(rx.search(l) for l in self.lines[n:]), timeout, what=pattern)
        return self.lines[n:]

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Sends sig and returns the exit status (negative for a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server did not exit within {timeout}s after {sig}")
        self._reader.join(2)
        self._check_sanitizers()
        return code

    def kill(self):
        return self.stop(signal.SIGKILL)

    def wait_exit(self, timeout=10.0):
        """Waits for the process to exit by itself; returns its status."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server still running after {timeout}s:\n" + "\n".join(self.lines[-20:]))
        self._reader.join(2)
        return code

    def alive(self):
        return self.proc.poll() is None

    def _check_sanitizers(self):
        bad = [l for l in self.lines if "ERROR: AddressSanitizer" in l or "runtime error:" in l
               or "ERROR: LeakSanitizer" in l or "WARNING: ThreadSanitizer" in l]
        if bad:
            raise AssertionError("sanitizer report:\n" + "\n".join(self.lines[-60:]))

    def cleanup(self):
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if self.proc.poll() is None:
                code = self.stop()
                if exc[0] is None and code not in (0, -signal.SIGKILL):
                    raise AssertionError(f"server exited with {code}:\n" + "\n".join(self.lines[-40:]))
            else:
                self._check_sanitizers()
        finally:
            self.cleanup()
        return False


# --- plain HTTP -----------------------------------------------------------

def http_raw(port, data, timeout=5.0, read_until_close=False):
    """Sends raw bytes and returns everything received until the server closes
    (read_until_close) or one full response has arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if read_until_close:
            chunks = []
            while True:
                try:
                    b = s.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    break
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)
        return read_response(s)


# Bytes read past the end of a response, per socket (socket.socket has
# __slots__, so they cannot live on the socket object itself).
_leftover = weakref.WeakKeyDictionary()


def leftover(sock):
    """Bytes already read from sock after the last response read_response
    returned (the start of a pipelined response or of WebSocket frames)."""
    return _leftover.pop(sock, b"")


def read_response(sock, head_only=False):
    """Reads one HTTP response (Content-Length framed) from sock and returns
    (status, headers dict with lower-case names, body bytes). Bytes after it
    are kept for the next call on the same socket (see leftover())."""
    buf = _leftover.pop(sock, b"")
    while b"\r\n\r\n" not in buf:
        b = sock.recv(65536)
        if not b:
            raise AssertionError(f"connection closed before a full head: {buf!r}")
        buf += b
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = 0 if head_only else int(headers.get("content-length", "0"))
    while len(rest) < n:
        b = sock.recv(65536)
        if not b:
            break
        rest += b
    body = rest[:n]
    _leftover[sock] = rest[n:]
    return status, headers, body


def http_get(port, path, method="GET", headers=None):
    req = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for k, v in (headers or {}).items():
        req += f"{k}: {v}\r\n"
    req += "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(req.encode("latin-1"))
        return read_response(s, head_only=(method == "HEAD"))


# --- raw WebSocket, for frames no polite client would send ------------------

class RawWS:
    """A WebSocket client on a plain socket: it can send any bytes (unmasked
    frames, bad opcodes, broken UTF-8) and decodes what the server sends."""

    def __init__(self, port, path="/connect", extra=""):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        status, headers, _ = read_response(self.sock, head_only=True)
        if status != 101:
            raise AssertionError(f"upgrade refused: {status}")
        self.buf = leftover(self.sock)

    @staticmethod
    def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload) if length is None else length
        if n < 126:
            hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if not mask:
            return hdr + payload
        key = os.urandom(4)
        return hdr + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))

    def send(self, data):
        self.sock.sendall(data)

    def send_text(self, text):
        self.send(self.frame(1, text.encode() if isinstance(text, str) else text))

    def recv_frame(self, timeout=5.0):
        """Returns (opcode, payload); (None, b"") when the server closed the socket."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buf) >= 2:
                n = self.buf[1] & 0x7F
                off = 2
                if n == 126:
                    if len(self.buf) < 4:
                        n = None
                    else:
                        n, off = struct.unpack("!H", self.buf[2:4])[0], 4
                elif n == 127:
                    if len(self.buf) < 10:
                        n = None
                    else:
                        n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
                if n is not None and len(self.buf) >= off + n:
                    op = self.buf[0] & 0x0F
                    payload = self.buf[off:off + n]
                    self.buf = self.buf[off + n:]
                    return op, payload
            try:
                b = self.sock.recv(65536)
            except ConnectionResetError:
                b = b""
            if not b:
                return None, b""
            self.buf += b

    def recv_close(self, timeout=5.0):
        """Skips data frames until a close frame; returns its status code
        (None if the socket closed without one)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            op, payload = self.recv_frame(max(0.01, end - time.monotonic()))
            if op is None:
                return None
            if op == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        raise AssertionError("no close frame")

    def recv_json(self, timeout=5.0):
        while True:
            op, payload = self.recv_frame(timeout)
            if op is None:
                raise AssertionError("closed")
            if op == 1:
                return json.loads(payload)

    def closed_by_server(self, timeout=5.0):
        """True once the server has closed the TCP connection."""
        self.sock.settimeout(timeout)
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def free_port():
    """A loopback port free now, below the kernel's ephemeral range: a port
    the kernel hands out (bind to 0) may become the local port of any
    client connection of the tests running side by side, and then the
    server that was to listen on it cannot bind it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            hi = int(f.read().split()[0])
    except (OSError, ValueError):
        hi = 32768
    if hi <= 11000:  # an unusual range: let the kernel choose
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    for _ in range(200):
        port = random.randrange(10000, hi)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


async def ws_connect(server, room=None, **kw):
    import websockets
    url = server.url + (f"?room={room}" if room else "")
    return await websockets.connect(url, max_size=None, open_timeout=5, **kw)


async def recv_cmds(ws, timeout=5.0):
    """Receives one frame and returns its list of commands."""
    msg = await asyncio.wait_for(ws.recv(), timeout)
    cmds = json.loads(msg)
    assert isinstance(cmds, list), msg
    return cmds


async def wait_cmd(ws, name, timeout=5.0, pred=None):
    """Reads frames until a command called name (matching pred) arrives;
    returns (that command, every command seen before it)."""
    seen = []
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {name} within {timeout}s; saw {seen[-20:]}")
        for c in await recv_cmds(ws, left):
            if c[0] == name and (pred is None or pred(c)):
                return c, seen
            seen.append(c)


def healthz(port):
    """True when GET /healthz answers 200 with `ok` on its first line (the
    version and, in cluster mode, "redis unreachable" may follow)."""
    try:
        status, _, body = http_get(port, "/healthz")
    except OSError:
        return False
    return status == 200 and body.split(b"\n")[0] == b"ok"


def http_json(port, path):
    status, headers, body = http_get(port, path)
    assert status == 200, (path, status, body[:200])
    assert headers.get("content-type", "").startswith("application/json"), headers
    return json.loads(body)


def poll(cond, timeout=5.0, interval=0.02, what="condition"):
    """Calls cond() until it returns a true value (returned) or the deadline
    passes (AssertionError naming what)."""
    end = time.monotonic() + timeout
    last = None
    while True:
        last = cond()
        if last:
            return last
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last={last!r}")
        time.sleep(interval)


async def apoll(cond, timeout=5.0, interval=0.02, what="condition"):
    """poll() for async tests: cond is a plain function, run in a thread so
    that blocking HTTP calls do not stall the event loop."""
    end = time.monotonic() + timeout
    last = None
    while True:
        last = await asyncio.to_thread(cond)
        if last:
            return last
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last={last!r}")
        await asyncio.sleep(interval)


# --- a game client that tracks the field ---------------------------------------

KEY_OF = {(-1, 0): 37, (0, -1): 38, (1, 0): 39, (0, 1): 40}   # direction -> arrow key code
GAME_OVER_TEXT = " >>> GAME OVER <<< "


def is_tick_frame(cmds):
    """A tick's render frame: only render commands (possibly none)."""
    return all(isinstance(c, list) and c and c[0] == "render" for c in cmds)


class Player:
    """One WebSocket connection playing the game. A background task receives
    every frame, stamps its arrival time, applies it to a local copy of the
    field (grid, my snake, scores) and, when autopilot is set ("survive" or
    "digits"), steers after each tick. The test reads the same frames in
    order with next_frame()/until(); the state may be ahead of what the test
    has read."""

    def __init__(self, ws):
        self.ws = ws
        self.grid = None
        self.w = self.h = None
        self.id = None
        self.name = None
        self.color = None
        self.score = 0
        self.alive = False
        self.top_scores = None
        self.players = {}          # id -> [name, color, score] of live snakes
        self.frames = []           # (monotonic time, cmds), every frame received
        self.pending = []          # commands read by next_frame, not yet consumed by until()
        self.head = None
        self.dir = None
        self.heads = []            # my head positions, in order
        self.eaten = []            # digits my head entered, this life
        self.autopilot = None
        self.error = None
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._reader())

    @classmethod
    async def connect(cls, server, room=None, name=None, **kw):
        p = cls(await ws_connect(server, room, **kw))
        if name is not None:
            await p.register(name)
        return p

    async def _reader(self):
        import websockets
        try:
            while True:
                msg = await self.ws.recv()
                t = time.monotonic()
                cmds = json.loads(msg)
                assert isinstance(cmds, list), msg
                for c in cmds:
                    assert isinstance(c, list) and c and isinstance(c[0], str), \
                        f"bad command {c!r} in {msg[:200]}"
                self.frames.append((t, cmds))
                self.apply(cmds)
                self._queue.put_nowait(cmds)
                if self.autopilot and self.alive and is_tick_frame(cmds):
                    await self.steer(self.autopilot)
        except websockets.ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise  # the test stopped reading on purpose: not an error
        except BaseException as e:  # noqa: B036 - reported to the test
            self.error = e
            traceback.print_exc()
        finally:
            self._queue.put_nowait(None)

    async def send(self, msg):
        await self.ws.send(msg if isinstance(msg, str) else json.dumps(msg))

    async def close(self):
        await self.ws.close()
        try:
            await asyncio.wait_for(self._task, 5)
        except asyncio.TimeoutError:
            self._task.cancel()

    async def closed(self, timeout=5.0):
        """Waits until the connection is closed; returns the close code the
        server sent (None if none)."""
        await asyncio.wait_for(asyncio.shield(self._task), timeout)
        try:
            await asyncio.wait_for(self.ws.wait_closed(), timeout)
        except asyncio.TimeoutError:
            pass
        rcvd = getattr(self.ws, "close_rcvd", None)
        return rcvd.code if rcvd is not None else None

    async def next_frame(self, timeout=5.0):
        """The next frame not yet read by the test (its commands are also
        queued for until()). asyncio.TimeoutError if none arrives in time."""
        cmds = await asyncio.wait_for(self._queue.get(), timeout)
        if cmds is None:
            self._queue.put_nowait(None)
            if self.error:
                raise AssertionError(f"reader failed: {self.error!r}")
            raise AssertionError(f"connection closed (code {self.ws.close_code})")
        self.pending.extend(cmds)
        return cmds

    async def quiet(self, seconds):
        """True if no frame is received within seconds from now (frames
        received earlier but not yet read do not count)."""
        n = len(self.frames)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await asyncio.sleep(min(0.01, max(0.0, end - time.monotonic())))
            if len(self.frames) > n:
                return False
        return len(self.frames) == n

    def frame_index(self, pred):
        """Index in self.frames of the first frame (list of commands) for
        which pred is true, or None."""
        for i, (_, cmds) in enumerate(self.frames):
            if pred(cmds):
                return i
        return None

    def apply(self, cmds):
        head = None
        body = None
        for c in cmds:
            name = c[0]
            if name == "handshake":
                self.name, self.id = c[1], c[2]
            elif name == "world":
                self.grid = [[(cell[0], cell[1]) for cell in row] for row in c[1]]
                self.h = len(self.grid)
                self.w = len(self.grid[0]) if self.grid else 0
            elif name == "reset_world":
                if self.grid is not None:
                    self.grid = [[(" ", 0)] * self.w for _ in range(self.h)]
            elif name == "render":
                _, x, y, ch, col = c
                under = self.grid[y][x][0]
                self.grid[y][x] = (ch, col)
                if self.alive and col == self.color:
                    if ch == "%":
                        head = (x, y)
                        if under.isdigit():
                            self.eaten.append(int(under))
                    elif ch == "@":
                        body = body or (x, y)
            elif name == "p_joined":
                self.players[c[1]] = [c[2], c[3], c[4]]
                if c[1] == self.id:
                    self.color, self.score, self.alive = c[3], c[4], True
                    self.head = self.dir = None
                    self.heads = []
                    self.eaten = []
            elif name == "p_gameover":
                self.players.pop(c[1], None)
                if c[1] == self.id:
                    self.alive = False
            elif name == "p_score":
                if c[1] in self.players:
                    self.players[c[1]][2] = c[2]
                if c[1] == self.id:
                    self.score = c[2]
            elif name == "top_scores":
                self.top_scores = c[1]
        if head is not None:
            if self.head is not None and abs(head[0] - self.head[0]) + abs(head[1] - self.head[1]) == 1:
                self.dir = (head[0] - self.head[0], head[1] - self.head[1])
            elif body is not None and abs(head[0] - body[0]) + abs(head[1] - body[1]) == 1:
                self.dir = (head[0] - body[0], head[1] - body[1])   # newborn
            self.head = head
            self.heads.append(head)

    async def until(self, name, timeout=5.0, pred=None):
        """Consumes commands until one called name (any name if "") matching
        pred; returns (that command, the commands consumed before it)."""
        seen = []
        end = time.monotonic() + timeout
        while True:
            while self.pending:
                c = self.pending.pop(0)
                if (c[0] == name or not name) and (pred is None or pred(c)):
                    return c, seen
                seen.append(c)
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {name} within {timeout}s; saw {seen[-15:]}")
            try:
                await self.next_frame(left)
            except asyncio.TimeoutError:
                raise AssertionError(f"no {name} within {timeout}s; saw {seen[-15:]}") from None

    async def register(self, name, timeout=5.0):
        """new_player; waits for handshake, world and top_scores."""
        await self.send(["new_player", name])
        hs, _ = await self.until("handshake", timeout)
        want = {"world", "top_scores"}
        while want:
            c, _ = await self.until("", timeout, pred=lambda c: c[0] in want)
            want.discard(c[0])
        return hs

    async def join(self, timeout=5.0):
        """join; waits for this player's p_joined and returns it."""
        await self.send(["join"])
        c, _ = await self.until("p_joined", timeout, pred=lambda c: c[1] == self.id)
        return c

    async def wait_born(self, timeout=5.0):
        end = time.monotonic() + timeout
        while self.head is None or self.dir is None:
            assert self.alive, "snake died before it was born"
            await self.next_frame(max(0.01, end - time.monotonic()))

    # -- steering --

    def cell(self, x, y):
        if 0 <= x < self.w and 0 <= y < self.h:
            return self.grid[y][x][0]
        return "#"

    def passable(self, x, y):
        ch = self.cell(x, y)
        return ch == " " or ch.isdigit()

    def area(self, start, cap=150):
        if not self.passable(*start):
            return 0
        seen = {start}
        todo = [start]
        while todo and len(seen) < cap:
            x, y = todo.pop()
            for dx, dy in KEY_OF:
                n = (x + dx, y + dy)
                if n not in seen and self.passable(*n):
                    seen.add(n)
                    todo.append(n)
        return len(seen)

    def run_ahead(self, pos, d, cap=3):
        n = 0
        x, y = pos
        while n < cap:
            x, y = x + d[0], y + d[1]
            if not self.passable(x, y):
                break
            n += 1
        return n

    def candidates(self):
        return [d for d in KEY_OF if self.dir is None or d != (-self.dir[0], -self.dir[1])]

    def choose_survive(self):
        best = None
        for d in self.candidates():
            n = (self.head[0] + d[0], self.head[1] + d[1])
            if not self.passable(*n):
                continue
            key = (min(self.area(n), 60), self.run_ahead(n, d) >= 2, d == self.dir, self.area(n))
            if best is None or key > best[0]:
                best = (key, d)
        return best[1] if best else self.dir

    def choose_digit(self):
        """First step of a shortest path to a digit, if one is reachable
        through a step that leaves enough room; else choose_survive()."""
        from collections import deque
        firsts = {}
        q = deque()
        for d in self.candidates():
            n = (self.head[0] + d[0], self.head[1] + d[1])
            if self.passable(*n) and self.area(n, 30) >= 30:
                firsts[n] = d
                q.append(n)
        seen = set(firsts)
        while q:
            p = q.popleft()
            if self.cell(*p).isdigit():
                return firsts[p]
            for d in KEY_OF:
                n = (p[0] + d[0], p[1] + d[1])
                if n not in seen and self.passable(*n):
                    seen.add(n)
                    firsts[n] = firsts[p]
                    q.append(n)
        return self.choose_survive()

    async def steer(self, mode="survive"):
        """Sends the key for the chosen direction, if it is a change."""
        if not self.alive or self.head is None or self.dir is None:
            return
        d = self.choose_digit() if mode == "digits" else self.choose_survive()
        if d and d != self.dir:
            await self.send(str(KEY_OF[d]))

    async def play_until_scored(self, timeout=30.0, attempts=8):
        """Joins and steers toward digits until the score is positive; joins
        again after a death with score 0. Returns the score."""
        end = time.monotonic() + timeout
        for _ in range(attempts):
            if not self.alive:
                await self.join()
            self.autopilot = "digits"
            try:
                while self.alive and self.score == 0:
                    assert time.monotonic() < end, "no score in time"
                    await self.next_frame(max(0.01, end - time.monotonic()))
            finally:
                self.autopilot = None
            if self.score > 0:
                return self.score
        raise AssertionError("never scored")

    async def die(self, timeout=10.0):
        """Lets the snake run straight into whatever is ahead; returns the
        top_scores list that follows this player's p_gameover."""
        await self.until("p_gameover", timeout, pred=lambda c: c[1] == self.id)
        ts, _ = await self.until("top_scores", timeout)
        return ts[1]

    def text_row(self, y):
        return "".join(ch for ch, _ in self.grid[y])


# --- a client that keeps its snake alive --------------------------------

KEYS = {37: (-1, 0), 38: (0, -1), 39: (1, 0), 40: (0, 1)}


class Pilot:
    """Tracks the field from `world` and `render` and steers its own snake
    away from walls and obstacles (the longest free run ahead), so that a
    room's loop keeps running as long as a test needs it."""

    def __init__(self, ws, width, height):
        self.ws, self.w, self.h = ws, width, height
        self.grid = {}
        self.me = None
        self.head = None
        self.heading = None
        self.alive = False
        self.dead = False

    def feed(self, cmds):
        """Updates the state from one frame's commands; returns True if the
        frame is a tick's render frame."""
        for c in cmds:
            if c[0] == "handshake":
                self.me = c[2]
            elif c[0] == "world":
                self.grid = {(x, y): cell[0] for y, row in enumerate(c[1]) for x, cell in enumerate(row)}
            elif c[0] == "reset_world":
                self.grid = {}
            elif c[0] == "p_joined" and c[1] == self.me:
                self.alive, self.head, self.heading = True, None, None
            elif c[0] == "p_gameover" and c[1] == self.me:
                self.alive, self.dead = False, True
            elif c[0] == "render":
                _, x, y, ch, _color = c
                self.grid[(x, y)] = ch
                if ch == "%" and self.alive:
                    if self.head is not None and abs(x - self.head[0]) + abs(y - self.head[1]) == 1:
                        self.heading = (x - self.head[0], y - self.head[1])
                    if self.head is None or abs(x - self.head[0]) + abs(y - self.head[1]) <= 1:
                        self.head = (x, y)
        return not cmds or cmds[0][0] == "render"

    def free_run(self, key, limit=12):
        dx, dy = KEYS[key]
        x, y = self.head
        n = 0
        while n <= limit:
            x, y = x + dx, y + dy
            if not (0 <= x < self.w and 0 <= y < self.h) or self.grid.get((x, y), " ") not in " 123456789":
                return n
            n += 1
        return n

    async def steer(self):
        """Turns if the way ahead is short; call once per tick."""
        if not self.alive or self.head is None:
            return
        cur = next((k for k, v in KEYS.items() if v == self.heading), None)
        if cur is not None and self.free_run(cur) >= 3:
            return
        back = (-self.heading[0], -self.heading[1]) if self.heading else None
        options = [k for k in KEYS if KEYS[k] != back]
        best = max(options, key=lambda k: (self.free_run(k), k == cur))
        if best != cur:
            await self.ws.send(str(best))
            self.heading = KEYS[best]

    async def step(self, timeout=5.0):
        """Receives one frame, updates, steers after a render frame; returns
        the frame's commands."""
        cmds = await recv_cmds(self.ws, timeout)
        if self.feed(cmds):
            await self.steer()
        return cmds


# --- raw sockets for the limit and hostile-client tests ------------------------

def tcp_connect(port, src=None, rcvbuf=None, timeout=5.0):
    """A TCP connection to the server; src binds the client side to that
    loopback address (any 127/8 address works), rcvbuf sets SO_RCVBUF
    before connecting."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if src:
            s.bind((src, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    return s


def read_to_eof(sock, timeout=5.0):
    """Reads until the server closes. Returns (bytes, how): how is "eof"
    (FIN), "reset" (RST) or "timeout" (still open at the deadline)."""
    end = time.monotonic() + timeout
    chunks = []
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return b"".join(chunks), "timeout"
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            return b"".join(chunks), "timeout"
        except (ConnectionResetError, BrokenPipeError):
            return b"".join(chunks), "reset"
        if not b:
            return b"".join(chunks), "eof"
        chunks.append(b)


def upgrade_head(path="/connect", extra=""):
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def raw_ws_on(sock, path="/connect", extra=""):
    """Upgrades an open socket (see tcp_connect) and returns a RawWS on it;
    AssertionError with the status if the upgrade is refused."""
    sock.sendall(upgrade_head(path, extra))
    status, _, _ = read_response(sock, head_only=True)
    if status != 101:
        raise AssertionError(f"upgrade refused: {status}")
    ws = RawWS.__new__(RawWS)
    ws.sock = sock
    ws.buf = leftover(sock)
    return ws


def vm_rss_kb(pid):
    """Resident set size of a process in KiB (from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def sanitizer():
    """"asan" or "tsan" when the binary under test is built with that
    sanitizer, else None."""
    try:
        with open(BIN, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"libasan" in data or b"__asan_init" in data:
        return "asan"
    if b"libtsan" in data or b"__tsan_init" in data:
        return "tsan"
    return None


def uses_asan():
    """True when the binary under test is the AddressSanitizer build."""
    return sanitizer() == "asan"
