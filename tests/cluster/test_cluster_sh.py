"""scripts/cluster.sh with the real binary, real redis-server and haproxy:
up returns once the game answers through HAProxy, pid files, a player
plays through HAProxy (a WebSocket tunnel), status, start of a stopped
part with the same configuration, and down."""
import asyncio
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from lib import CLUSTER_SH, ROOT, free_port, poll, test, harness

BIN = os.environ.get("SNAKEPIT_BIN", os.path.join(ROOT, "build", "snakepit"))


def sh(*args, check=True, timeout=60):
    env = dict(os.environ, SNAKEPIT_BIN=BIN, SNAKEPIT_NODE_ARGS="--workers 1")
    p = subprocess.run([CLUSTER_SH, *args], capture_output=True, text=True, timeout=timeout,
                       env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"cluster.sh {' '.join(args)} exited {p.returncode}:\n"
                             f"{p.stdout}\n{p.stderr}")
    return p


def pid_of(d, name):
    f = os.path.join(d, f"{name}.pid")
    return int(open(f).read()) if os.path.exists(f) else None


def alive(pid):
    """Runs, and is no zombie (the parts' adoptive parent may reap late)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def status(d):
    p = sh("status", "--dir", d, check=False)
    return p.returncode, dict(re.findall(r"^(\S+)\s+(running|not running|stopped)", p.stdout, re.M))


def http(port, path):
    return harness.http_get(port, path)


class Url:
    def __init__(self, port):
        self.url = f"ws://127.0.0.1:{port}/connect"


async def play(port, room):
    p = await harness.Player.connect(Url(port), room=room, name="bob")
    await p.join()
    await p.next_frame()
    await p.close()


@test
def up_status_start_down():
    d = tempfile.mkdtemp(prefix="snakepit-cluster-")
    port = free_port()
    try:
        t0 = time.monotonic()
        sh("up", "--nodes", "3", "--port", str(port), "--dir", d)
        print(f"measured: cluster.sh up (Redis, 3 nodes, HAProxy) took {time.monotonic() - t0:.2f}s")
        # Up means the game answers through HAProxy, at once.
        code, headers, body = http(port, "/")
        assert code == 200 and b"<html" in body.lower(), (code, body[:200])
        assert http(port, "/healthz")[0] == 200
        parts = ["redis", "haproxy", "node-n1", "node-n2", "node-n3"]
        pids = {p: pid_of(d, p) for p in parts}
        assert all(pids.values()) and all(alive(p) for p in pids.values()), pids
        rc, st = status(d)
        assert rc == 0 and st == {n: "running" for n in ["redis", "n1", "n2", "n3", "haproxy"]}, st
        # Nodes are the real binary with --redis and --node-id.
        cmd = open(f"/proc/{pids['node-n2']}/cmdline").read().split("\0")
        assert "--node-id" in cmd and cmd[cmd.index("--node-id") + 1] == "n2", cmd
        assert cmd[cmd.index("--redis") + 1].startswith("redis://127.0.0.1:"), cmd
        # A game through HAProxy (the upgrade and the tunnel).
        asyncio.run(asyncio.wait_for(play(port, "lobby"), 30))

        # A node killed: status says so; start brings it back on its port.
        n2_port = re.search(r"NODE_PORT_n2=(\d+)", open(os.path.join(d, "cluster.env")).read())[1]
        os.kill(pids["node-n2"], signal.SIGKILL)
        poll(lambda: status(d)[1].get("n2") == "not running", timeout=5, what="n2 seen down")
        assert status(d)[0] == 3
        sh("start", "n2", "--dir", d)
        assert status(d)[1]["n2"] == "running"
        assert harness.healthz(int(n2_port))  # the same port as before
        assert "already running" in sh("start", "n2", "--dir", d).stdout

        # Redis killed and started again, with its data (append-only file).
        sh("start", "redis", "--dir", d)  # running: a no-op
        rport = int(re.search(r"REDIS_PORT=(\d+)", open(os.path.join(d, "cluster.env")).read())[1])
        from lib import Resp
        r = Resp(rport)
        r.call("SET", "probe", "kept")
        r.close()
        os.kill(pid_of(d, "redis"), signal.SIGKILL)
        poll(lambda: status(d)[1].get("redis") == "not running", timeout=5, what="redis down")
        sh("start", "redis", "--dir", d)
        r = Resp(rport)
        assert r.call("GET", "probe") == "kept"
        r.close()

        # HAProxy too.
        os.kill(pid_of(d, "haproxy"), signal.SIGKILL)
        poll(lambda: http_ok(port) is False, timeout=5, what="haproxy gone")
        sh("start", "haproxy", "--dir", d)
        assert http(port, "/healthz")[0] == 200

        # A bad part name and a second up are refused.
        assert sh("start", "nope", "--dir", d, check=False).returncode == 2
        again = sh("up", "--nodes", "1", "--port", str(port), "--dir", d, check=False)
        assert again.returncode == 2 and "already running" in again.stderr, again.stderr

        pids = {p: pid_of(d, p) for p in parts}
        sh("down", "--dir", d)
        assert not any(alive(p) for p in pids.values()), pids
        assert not any(os.path.exists(os.path.join(d, f"{p}.pid")) for p in parts)
        rc, st = status(d)
        assert rc == 3 and set(st.values()) == {"not running"}, st
        assert http_ok(port) is False
        # The nodes stopped cleanly (SIGTERM), with nothing from the sanitizers.
        from lib import SANITIZER_MARKS
        for n in ("n1", "n2", "n3"):
            log = open(os.path.join(d, f"node-{n}.log"), errors="replace").read()
            assert not any(m in log for m in SANITIZER_MARKS), log[-3000:]
    finally:
        sh("down", "--dir", d, check=False)
        shutil.rmtree(d, ignore_errors=True)


def http_ok(port):
    try:
        return http(port, "/healthz")[0] == 200
    except OSError:
        return False


@test
def bad_arguments_are_refused():
    d = tempfile.mkdtemp(prefix="snakepit-cluster-")
    try:
        for args in (["up", "--nodes", "0", "--port", "1", "--dir", d],
                     ["up", "--nodes", "2", "--port", "x", "--dir", d],
                     ["up", "--nodes", "2", "--port", "80"],
                     ["status", "--dir", d],
                     ["frobnicate", "--dir", d]):
            p = sh(*args, check=False)
            assert p.returncode == 2, (args, p.returncode, p.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    harness.main(timeout=180)
