"""Helpers of the cluster tests: a real redis-server on a free loopback port,
the cluster_node stand-in for the core (tests/cluster/node.c), a tiny RESP
client to look into Redis, and real haproxy with the shipped configuration.

Tests use harness.test / harness.main from tests/integration (one line per
test, then "N passed, M failed"). Binaries: $SNAKEPIT_CLUSTER_NODE (default
build/tests/cluster_node) and $SNAKEPIT_BIN (default build/snakepit).
"""
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from harness import free_port, poll, test  # noqa: E402,F401

NODE_BIN = os.environ.get("SNAKEPIT_CLUSTER_NODE",
                          os.path.join(ROOT, "build", "tests", "cluster_node"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                   "WARNING: ThreadSanitizer")


def resp_encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Resp:
    """A blocking RESP2 client: enough to look into Redis from a test."""

    def __init__(self, port, timeout=2.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("redis closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("redis closed")
                self.buf += data
            val, self.buf = self.buf[:n], self.buf[n + 2:]
            return val.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")

    def call(self, *args):
        self.sock.sendall(resp_encode(*args))
        return self._read()

    def close(self):
        self.sock.close()


class Redis:
    """A redis-server of its own on a free loopback port, with its data in a
    temporary directory. conf: a configuration file to start from (e.g. the
    shipped deploy/redis.conf); extra: more "--option value" arguments."""

    def __init__(self, conf=None, extra=(), port=None, start=True):
        self.dir = tempfile.mkdtemp(prefix="snakepit-redis-")
        self.port = port or free_port()
        self.conf = conf
        self.extra = list(extra)
        self.proc = None
        if start:
            self.start()

    def start(self):
        args = ["redis-server"]
        if self.conf:
            args.append(self.conf)
        args += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                 "--daemonize", "no", "--logfile", "", "--loglevel", "warning"]
        if not self.conf:
            args += ["--save", "", "--appendonly", "no"]
        args += self.extra
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "redis.log"), "ab"))
        poll(self.ping, timeout=10, what=f"redis on port {self.port}")

    def ping(self):
        try:
            r = Resp(self.port, timeout=0.5)
            try:
                return r.call("PING") == "PONG"
            finally:
                r.close()
        except (OSError, RuntimeError):
            return False

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def client(self):
        return Resp(self.port)

    def call(self, *args):
        r = Resp(self.port)
        try:
            return r.call(*args)
        finally:
            r.close()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def stop(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def cont(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class Node:
    """The cluster_node stand-in: a real sp_cluster on a libuv loop, driven
    by lines on stdin; every line it prints ("MS event ...") is queued and
    kept, its log (stderr) is kept too."""

    def __init__(self, url, node_id, lease_ms=1500, timeout_ms=500, env=None):
        self.id = node_id
        self.killed = False
        e = dict(os.environ, **(env or {}))
        self.proc = subprocess.Popen(
            [NODE_BIN, "--redis", url, "--node-id", node_id, "--lease-ms", str(lease_ms),
             "--timeout-ms", str(timeout_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=e, text=True, bufsize=1)
        self.q = queue.Queue()
        self.lines, self.log = [], []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines, self.q),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.log, None),
                         daemon=True).start()
        self.expect(r"started")

    @staticmethod
    def _pump(f, keep, q):
        for line in f:
            line = line.rstrip("\n")
            keep.append(line)
            if q is not None:
                q.put(line)

    def send(self, line):
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            time.sleep(0.2)  # let the log pump catch up
            raise AssertionError(f"{self.id} is gone (exit {self.proc.poll()}):\n"
                                 + "\n".join(self.log[-40:])) from None

    def expect(self, pattern, timeout=5.0):
        """Waits for the next line (from now on) matching pattern; returns
        (match, time in seconds since the node started)."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.id}: no line matching {pattern!r} within {timeout}s;"
                                     f" last lines {self.lines[-12:]}\nlog: {self.log[-12:]}")
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            ms, _, rest = line.partition(" ")
            m = rx.match(rest)
            if m:
                return m, int(ms) / 1000.0

    def saw(self, pattern):
        rx = re.compile(pattern)
        return [l for l in self.lines if rx.match(l.partition(" ")[2])]

    def wait_saw(self, pattern, timeout=5.0):
        """Waits until some line so far matches, in whatever order lines
        came (expect() consumes them in order)."""
        return poll(lambda: self.saw(pattern), timeout=timeout, interval=0.01,
                    what=f"{self.id}: a line matching {pattern!r}")

    def ask(self, line, pattern, timeout=5.0):
        self.send(line)
        return self.expect(pattern, timeout)[0]

    def claim(self, room, timeout=5.0):
        """("granted", epoch) | ("owned", node) | ("unavailable", None)."""
        m = self.ask(f"claim {room}", rf"claim {room} (granted|owned|unavailable) ?(\S*)", timeout)
        kind, val = m.group(1), m.group(2)
        return kind, (int(val) if kind == "granted" else val or None)

    def stats(self):
        m = self.ask("stats", r"stats (.*)")
        return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}

    def wait_up(self, timeout=5.0):
        poll(lambda: self.stats()["up"] == 1, timeout=timeout, interval=0.05,
             what=f"{self.id} up")

    def now(self):
        """The node's clock (seconds since it started), from a stats line."""
        self.send("stats")
        return self.expect(r"stats ")[1]

    def sigstop(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def sigcont(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def close(self, timeout=5.0):
        """Asks for a clean close (sp_cluster_close) and checks the exit and
        the sanitizers' silence."""
        if self.proc.poll() is None:
            try:
                self.send("close")
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGCONT)
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"{self.id} did not exit after close; {self.lines[-10:]}")
        time.sleep(0.05)  # let the pump threads drain
        bad = [l for l in self.log if any(m in l for m in SANITIZER_MARKS)]
        if bad:
            raise AssertionError(f"{self.id}: sanitizer report:\n" + "\n".join(self.log[-60:]))
        if self.proc.returncode != 0:
            raise AssertionError(f"{self.id} exited {self.proc.returncode}: {self.log[-20:]}")

    def kill(self):
        self.killed = True
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            self.proc.kill()
            self.proc.wait(5)


class Nodes:
    """Closes every node it made, cleanly, when the test ends."""

    def __init__(self, redis, **kw):
        self.redis, self.kw, self.nodes = redis, kw, []

    def __call__(self, node_id, url=None, **kw):
        n = Node(url or self.redis.url, node_id, **dict(self.kw, **kw))
        self.nodes.append(n)
        return n

    def __enter__(self):
        return self

    def __exit__(self, exc, *rest):
        errors = []
        for n in self.nodes:
            try:
                if exc is None and not n.killed:
                    n.close()
            except AssertionError as e:
                errors.append(str(e))
            finally:
                n.kill()
        if errors and exc is None:
            raise AssertionError("\n".join(errors))
        return False


# --- HAProxy ----------------------------------------------------------------

CLUSTER_SH = os.path.join(ROOT, "scripts", "cluster.sh")


class Backend:
    """A Python HTTP server standing in for a node behind HAProxy: /healthz
    answers 200 "ok" (503 once unhealthy is set), every other request gets
    200 with the backend's name; requests are recorded as (path, query)."""

    def __init__(self, name):
        import http.server
        self.name, self.seen, self.healthy = name, [], True
        me = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path == "/healthz":
                    code, body = (200, b"ok") if me.healthy else (503, b"sick")
                else:
                    me.seen.append(self.path)
                    code, body = 200, me.name.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # HAProxy resets health-check connections: not news

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class HAProxy:
    """Real haproxy with deploy/haproxy.cfg as scripts/cluster.sh renders it,
    in front of the given backends, reading leases from the given Redis."""

    def __init__(self, redis, backends):
        self.dir = tempfile.mkdtemp(prefix="snakepit-haproxy-")
        self.port = free_port()
        args = [CLUSTER_SH, "haproxy-cfg", "--port", str(self.port), "--dir", self.dir,
                "--redis-port", str(redis.port)]
        for b in backends:
            args += ["--server", f"{b.name}=127.0.0.1:{b.port}"]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        self.log = open(os.path.join(self.dir, "haproxy.log"), "ab")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", os.path.join(self.dir, "haproxy.cfg")],
                                     stdout=self.log, stderr=self.log)
        poll(lambda: self.get("/healthz")[0] == 200, timeout=10, what="haproxy answering")

    def get(self, path):
        """(status, body) of GET path through HAProxy; (0, error) if none."""
        import http.client
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read().decode(errors="replace")
            c.close()
            return r.status, body
        except OSError as e:
            return 0, str(e)

    def admin(self, line):
        s = socket.socket(socket.AF_UNIX)
        s.connect(os.path.join(self.dir, "haproxy.sock"))
        s.sendall(line.encode() + b"\n")
        out = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            out += data
        s.close()
        return out.decode()

    def map(self):
        """The rooms map as HAProxy holds it now: {room: node}."""
        out = {}
        for line in self.admin(f"show map {self.dir}/rooms.map").splitlines():
            parts = line.split()
            if len(parts) == 3:
                out[parts[1]] = parts[2]
        return out

    def server_status(self, backend, name):
        """HAProxy's status of a server: "UP", "UP 1/2" (one check failed),
        "DOWN", "DOWN 1/2" (one check passed), ..."""
        for line in self.admin("show stat").splitlines():
            f = line.split(",")
            if len(f) > 17 and f[0] == backend and f[1] == name:
                return f[17]
        return None

    def server_up(self, backend, name):
        return (self.server_status(backend, name) or "").startswith("UP")

    def logs(self):
        with open(os.path.join(self.dir, "haproxy.log"), errors="replace") as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
