"""The whole cluster as players meet it: real redis-server with
deploy/redis.conf, N nodes of the real binary and real haproxy with the
shipped deploy/haproxy.cfg and its Lua, all started by scripts/cluster.sh
(the tool users run), and players speaking the protocol with Python
websockets THROUGH HAProxy that reconnect as the web client does.

The binary is $SNAKEPIT_BIN (default build/snakepit; tests/run.sh also runs
these files with build/asan/snakepit). Every wait has a deadline; the
recovery times the tests measure are printed as "measured:" lines.
"""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import websockets

from lib import CLUSTER_SH, ROOT, SANITIZER_MARKS, Resp, free_port, harness

BIN = os.path.abspath(os.environ.get("SNAKEPIT_BIN", os.path.join(ROOT, "build", "snakepit")))
# How the players reconnect: 0.25 s doubling to 1 s, reset by a handshake,
# and at least the Retry-After of a refused upgrade. (The web client starts
# at 0.5 s and doubles further; players that try sooner meet more refusals,
# which is what these tests want to see honoured.)
BACKOFF_FIRST = 0.25
BACKOFF_MAX = 1.0


def now():
    return time.monotonic()


def logfmt(line):
    """{key: value} of one logfmt line (values may be "quoted")."""
    out = {}
    for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line):
        v = m.group(2)
        out[m.group(1)] = v[1:-1] if v.startswith('"') else v
    return out


class Cluster:
    """scripts/cluster.sh up --nodes N in a temporary directory, nodes with
    short leases; close() brings it down (SIGTERM to every node) and checks
    that no node's log has a sanitizer report."""

    def __init__(self, nodes=3, lease=1.5, redis_timeout=0.5, workers=2, tick_rate=10,
                 args=()):
        self.dir = tempfile.mkdtemp(prefix="snakepit-e2e-")
        self.port = free_port()
        self.lease = lease
        node_args = [f"--workers {workers}", f"--lease-time {lease}",
                     f"--redis-timeout {redis_timeout}", f"--tick-rate {tick_rate}",
                     "--log-level debug", *args]
        self.env = dict(os.environ, SNAKEPIT_BIN=BIN, SNAKEPIT_NODE_ARGS=" ".join(node_args))
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.names = [f"n{i}" for i in range(1, nodes + 1)]
        try:
            for attempt in range(3):
                try:
                    self.sh("up", "--nodes", str(nodes), "--port", str(self.port))
                    break
                except AssertionError as e:
                    # The port was free when picked, and another process
                    # (tests run side by side) may have taken it since.
                    log = self.path("haproxy.log")
                    taken = f"port {self.port} is in use" in str(e) or (
                        os.path.exists(log) and
                        "cannot bind" in open(log, errors="replace").read())
                    if attempt == 2 or not taken:
                        raise
                    self.sh("down", check=False)
                    if os.path.exists(log):
                        os.remove(log)
                    self.port = free_port()
            env = dict(re.findall(r"^(\w+)=(.*)$", open(self.path("cluster.env")).read(), re.M))
            self.redis_port = int(env["REDIS_PORT"])
            self.node_port = {n: int(env[f"NODE_PORT_{n}"]) for n in self.names}
            # Every node up in Redis and in HAProxy before a test starts.
            harness.poll(lambda: all(self.healthz(n) == "ok" for n in self.names), timeout=10,
                         what="every node's /healthz says ok")
            harness.poll(lambda: all(self.haproxy_up(n) for n in self.names), timeout=10,
                         what="HAProxy has every node up")
        except BaseException:
            self.close(check=False)
            raise

    # -- parts --------------------------------------------------------------

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def sh(self, *args, check=True):
        p = subprocess.run([CLUSTER_SH, *args, "--dir", self.dir], capture_output=True,
                           text=True, timeout=60, env=self.env)
        if check and p.returncode != 0:
            raise AssertionError(f"cluster.sh {' '.join(args)} exited {p.returncode}:\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p

    def pid(self, part):
        f = self.path(f"{part}.pid" if part in ("redis", "haproxy") else f"node-{part}.pid")
        return int(open(f).read())

    def signal(self, part, sig):
        os.kill(self.pid(part), sig)

    def kill9(self, part):
        """kill -9, and waits until the process is gone."""
        pid = self.pid(part)
        os.kill(pid, signal.SIGKILL)
        harness.poll(lambda: not _alive(pid), timeout=5, what=f"{part} gone after kill -9")

    def wait_gone(self, part, timeout=5.0):
        pid = self.pid(part)
        harness.poll(lambda: not _alive(pid), timeout=timeout, what=f"{part} to exit")

    def start(self, part):
        """cluster.sh start PART: the same configuration (and port) again."""
        self.sh("start", part)

    # -- what a node says ---------------------------------------------------

    def http(self, node, path):
        """(status, headers, body) of GET path on node (a node id) or
        through HAProxy (node None)."""
        port = self.port if node is None else self.node_port[node]
        return harness.http_get(port, path)

    def json(self, node, path):
        status, _, body = self.http(node, path)
        assert status == 200, (node, path, status, body[:200])
        return json.loads(body)

    def healthz(self, node):
        """The body of /healthz without its version line ("ok", or
        "ok\\nredis unreachable"), or None when the node does not answer 200
        within a second."""
        try:
            s = socket.create_connection(("127.0.0.1", self.node_port[node]), timeout=1)
        except OSError:
            return None
        try:
            s.settimeout(1)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status, _, body = harness.read_response(s)
            lines = [l for l in body.decode().splitlines() if not l.startswith("version ")]
            return "\n".join(lines) if status == 200 else None
        except (OSError, AssertionError):
            return None
        finally:
            s.close()

    def rooms(self, node):
        """{room: node id} as /api/rooms of node lists them."""
        return {r["name"]: r["node"] for r in self.json(node, "/api/rooms")["rooms"]}

    def scores(self, node):
        return {r["name"]: r["score"] for r in self.json(node, "/api/scores")["scores"]}

    def log(self, node):
        """The node's log lines so far (every start of it, appended)."""
        with open(self.path(f"node-{node}.log"), errors="replace") as f:
            return f.read().splitlines()

    def events(self, node, event, **match):
        """Parsed log lines of node with event=EVENT and the given fields."""
        out = []
        for line in self.log(node):
            if f"event={event} " not in line + " ":
                continue
            kv = logfmt(line)
            if kv.get("event") == event and all(kv.get(k) == str(v) for k, v in match.items()):
                out.append(kv)
        return out

    # -- Redis and HAProxy ----------------------------------------------------

    def redis(self, *args):
        r = Resp(self.redis_port, timeout=2)
        try:
            return r.call(*args)
        finally:
            r.close()

    def owner(self, room):
        """The node holding room's lease in Redis, or None."""
        v = self.redis("GET", f"sp:lease:{room}")
        return v.split()[0] if v else None

    def admin(self, line):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.settimeout(2)
            s.connect(self.path("haproxy.sock"))
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                data = s.recv(65536)
                if not data:
                    return out.decode()
                out += data
        finally:
            s.close()

    def haproxy_status(self, node, backend="rooms"):
        for line in self.admin("show stat").splitlines():
            f = line.split(",")
            if len(f) > 17 and f[0] == backend and f[1] == node:
                return f[17]
        return None

    def haproxy_up(self, node):
        return (self.haproxy_status(node) or "").startswith("UP")

    # -- the end --------------------------------------------------------------

    def close(self, check=True):
        try:
            for n in getattr(self, "names", []):
                try:
                    os.kill(self.pid(n), signal.SIGCONT)  # a stopped node must wake to exit
                except (OSError, ValueError):
                    pass
            try:
                os.kill(self.pid("redis"), signal.SIGCONT)
            except (OSError, ValueError):
                pass
            self.sh("down", check=False)
            if check:
                for n in getattr(self, "names", []):
                    log = "\n".join(self.log(n))
                    if any(m in log for m in SANITIZER_MARKS):
                        raise AssertionError(f"sanitizer report in {n}'s log:\n{log[-4000:]}")
        finally:
            if os.environ.get("SNAKEPIT_E2E_KEEP"):
                print(f"kept: {self.dir}")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc, *rest):
        self.close(check=exc is None)
        return False


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Conn:
    """One WebSocket connection of a Gamer."""

    def __init__(self, opened):
        self.opened = opened
        self.player = None   # harness.Player on it
        self.handshake = None
        self.joined = None   # when this connection's snake first entered the game
        self.closed = None
        self.code = None     # the close code the server sent (None: none)

    def ticks(self, since=0.0):
        """Arrival times of the tick frames (render frames) on it."""
        if not self.player:
            return []
        return [t for t, cmds in self.player.frames if t >= since and harness.is_tick_frame(cmds)]


class Gamer:
    """A player as the web client is one: opens /connect?room=ROOM (through
    HAProxy unless port says otherwise), sends new_player, joins, and lets
    its snake steer itself (harness.Player's "survive" autopilot), joining
    again after a death. After any close or refused open it reconnects
    with exponential backoff (0.25 s doubling to 1 s, reset by a
    handshake) and waits at least the Retry-After of a refusal.
    reconnect=False: one connection only. join=False: registers and
    watches, never plays (a spectator)."""

    def __init__(self, port, room, name, join=True, reconnect=True):
        self.url = f"ws://127.0.0.1:{port}/connect?room={room}"
        self.room, self.name = room, name
        self.join, self.reconnect = join, reconnect
        self.conns = []
        self.refusals = []   # (time, HTTP status, Retry-After header or None)
        self.failures = []   # (time, error) of opens that failed otherwise
        self.stopping = False
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self):
        attempt = 0
        while not self.stopping:
            wait = 0.0
            try:
                ws = await websockets.connect(self.url, open_timeout=3, max_size=None,
                                              close_timeout=1)
            except websockets.InvalidStatusCode as e:
                ra = e.headers.get("Retry-After")
                self.refusals.append((now(), e.status_code, ra))
                wait = float(ra) if ra and ra.isdigit() else 0.0
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
                self.failures.append((now(), repr(e)))
            else:
                c = Conn(now())
                self.conns.append(c)
                await self._play(c, ws)
                if c.handshake is not None:
                    attempt = 0
            if not self.reconnect or self.stopping:
                return
            backoff = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** attempt)
            attempt += 1
            await asyncio.sleep(max(backoff, wait))

    async def _play(self, c, ws):
        p = c.player = harness.Player(ws)
        try:
            await p.register(self.name)
            c.handshake = now()
            last_join = 0.0
            while not p._task.done() and not self.stopping:
                if self.join and not p.alive and now() - last_join > 0.5:
                    last_join = now()
                    await p.send(["join"])
                if self.join and p.alive and c.joined is None:
                    c.joined = now()
                    p.autopilot = "survive"
                await asyncio.wait([p._task], timeout=0.05)
        except (AssertionError, websockets.ConnectionClosed):
            pass  # closed while registering
        if self.stopping:
            await p.close()
        else:
            await asyncio.wait([p._task], timeout=5)
        c.closed = now()
        rcvd = getattr(ws, "close_rcvd", None)
        c.code = rcvd.code if rcvd is not None else None

    # -- what the player saw --------------------------------------------------

    @property
    def conn(self):
        return self.conns[-1] if self.conns else None

    def playing(self, since=0.0, ticks=2):
        """The time of the first tick of a game this player's snake is in, on
        a connection opened after `since`, once `ticks` ticks came on it;
        else None."""
        for c in self.conns:
            if c.opened < since or c.joined is None:
                continue
            ts = c.ticks(c.joined)
            if len(ts) >= ticks:
                return ts[0]
        return None

    async def in_game(self, since=0.0, timeout=10.0, ticks=2):
        """Waits until playing(since); returns that time."""
        end = now() + timeout
        while True:
            t = self.playing(since, ticks)
            if t is not None:
                return t
            if now() > end:
                raise AssertionError(
                    f"{self.name} in {self.room}: not back in a running game within {timeout}s; "
                    f"conns={[(round(c.opened, 2), c.code) for c in self.conns]} "
                    f"refusals={self.refusals[-5:]} failures={self.failures[-3:]}")
            await asyncio.sleep(0.02)

    def closes(self, since=0.0):
        """Close codes of the connections that closed after `since`."""
        return [c.code for c in self.conns if c.closed is not None and c.closed >= since]

    def top_seen(self, name, score):
        """The first time this player received a top_scores row NAME SCORE
        (or better), or None."""
        for c in self.conns:
            for t, cmds in (c.player.frames if c.player else []):
                for cmd in cmds:
                    if cmd[0] == "top_scores" and any(
                            r[0] == name and r[1] >= score for r in cmd[1]):
                        return t
        return None

    def ticks_between(self, since, until):
        """How many ticks this player received between since and until."""
        return sum(1 for c in self.conns for t in c.ticks(since) if t <= until)

    def tick_gap(self, since, until):
        """The longest time without a tick between since and until, over
        this player's connections (a closed connection counts as a gap)."""
        ts = sorted(t for c in self.conns for t in c.ticks(since) if t <= until)
        points = [since] + ts + [until]
        return max(b - a for a, b in zip(points, points[1:]))

    async def stop(self):
        self.stopping = True
        c = self.conn
        if c and c.player and not c.player._task.done():
            try:
                await c.player.ws.close()
            except Exception:  # noqa: BLE001 - already going
                pass
        try:
            await asyncio.wait_for(self.task, 5)
        except asyncio.TimeoutError:
            self.task.cancel()


async def stop_all(gamers):
    await asyncio.gather(*(g.stop() for g in gamers))


async def apoll(cond, timeout, what, interval=0.02):
    return await harness.apoll(cond, timeout=timeout, interval=interval, what=what)


def upgrade_status(port, room):
    """(status, headers) of a WebSocket upgrade for room on port (a raw
    request: the answer is read, nothing more)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        s.sendall(harness.upgrade_head(f"/connect?room={room}"))
        status, headers, _ = harness.read_response(s, head_only=True)
        return status, headers
    finally:
        s.close()


def rooms_on(cluster, gamers):
    """{node: [gamers whose room that node holds now]}."""
    out = {}
    for g in gamers:
        out.setdefault(cluster.owner(g.room), []).append(g)
    return out


class Url:
    """What harness.Player.connect wants: the game's /connect on port."""

    def __init__(self, port):
        self.url = f"ws://127.0.0.1:{port}/connect"


async def make_score(port, room, name, timeout=40.0):
    """A player in room (through HAProxy on port) plays until its snake ate
    a digit, then leaves: its snake dies with that score, which enters the
    top scores. Returns the score."""
    p = await harness.Player.connect(Url(port), room=room, name=name)
    try:
        await p.join()
        return await p.play_until_scored(timeout=timeout, attempts=20)
    finally:
        await p.close()
