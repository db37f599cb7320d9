"""A port belongs to one process. The worker loops of one snakepit share
their port (SO_REUSEPORT); a second process on that port, which the kernel
would let join and then split the players with, must refuse to start."""
import socket
import subprocess
import time

import harness
from harness import BIN, Server, free_port, test


def second_start(port, *extra):
    """Starts another snakepit on port; returns (exit status, stderr)."""
    p = subprocess.run([BIN, "--host", "127.0.0.1", "--port", str(port), "--max-conns", "1000", "--data",
                        "/nonexistent-never-used"] + list(extra),
                       capture_output=True, timeout=10)
    return p.returncode, p.stderr.decode()


def assert_refused(port, status, err):
    lines = [l for l in err.splitlines() if l.strip()]
    assert status == 1, (status, err)
    assert len(lines) == 1 and str(port) in lines[0] and "in use" in lines[0], err


@test
def second_snakepit_on_a_port_in_use_exits_1():
    port = free_port()
    with Server("--workers", "2", port=port) as first:
        for workers in ("1", "2", "4"):
            status, err = second_start(port, "--workers", workers, "--data", first.data)
            assert_refused(port, status, err)
        # The first one still has the port to itself and serves.
        for _ in range(20):
            assert harness.healthz(port)


@test
def another_reuseport_listener_is_detected():
    """A program that listens with SO_REUSEPORT itself (which the kernel
    would let us join) is found too."""
    port = free_port()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    try:
        status, err = second_start(port)
        assert_refused(port, status, err)
    finally:
        s.close()


@test
def port_is_free_again_after_exit():
    port = free_port()
    with Server(port=port):
        pass
    with Server(port=port) as again:
        assert harness.healthz(again.port)


@test
def simultaneous_starts_one_wins():
    """Two started at the same instant: exactly one serves the port."""
    port = free_port()
    procs = [subprocess.Popen([BIN, "--host", "127.0.0.1", "--port", str(port), "--data",
                               f"/tmp/snakepit-port-{port}-{i}", "--workers", "2", "--max-conns", "1000"],
                              stderr=subprocess.PIPE) for i in range(2)]
    try:
        harness.poll(lambda: sum(p.poll() is not None for p in procs) >= 1, 10,
                     what="one of the two to give up")
        time.sleep(0.3)
        running = [p for p in procs if p.poll() is None]
        assert len(running) == 1, [p.poll() for p in procs]
        loser = [p for p in procs if p.poll() is not None][0]
        assert_refused(port, loser.returncode, loser.stderr.read().decode())
        assert harness.healthz(port)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(5)
        subprocess.run(["rm", "-rf"] + [f"/tmp/snakepit-port-{port}-{i}" for i in range(2)])


harness.main()
