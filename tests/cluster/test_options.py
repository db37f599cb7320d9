"""The cluster options of the command line (src/core/config.c): each bad
value is refused with exit 2 and one line naming the option; good values
start the server, which with no Redis to reach still serves, and says so
in its /healthz."""
import os
import subprocess

from lib import ROOT, test, harness

BIN = os.environ.get("SNAKEPIT_BIN", os.path.join(ROOT, "build", "snakepit"))


def run(*args):
    return subprocess.run([BIN, "--port", "0", "--host", "127.0.0.1", *args],
                          capture_output=True, text=True, timeout=10)


@test
def bad_values_are_refused_by_name():
    cases = [
        (["--redis", "localhost:6379"], "--redis"),
        (["--redis", "redis://h:0"], "--redis"),
        (["--redis", "redis://h:6379/x"], "--redis"),
        (["--redis", "unix:"], "--redis"),
        (["--node-id", ""], "--node-id"),
        (["--node-id", "a/b"], "--node-id"),
        (["--node-id", "x" * 33], "--node-id"),
        (["--lease-time", "0.5"], "--lease-time"),
        (["--lease-time", "abc"], "--lease-time"),
        (["--redis-timeout", "0"], "--redis-timeout"),
        (["--lease-time", "2", "--redis-timeout", "1.5"], "--redis-timeout"),
    ]
    for args, name in cases:
        p = run(*args)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert len(lines) == 1 and name in lines[0], (args, p.stderr)


@test
def help_names_the_cluster_options():
    p = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    for opt in ("--redis URL", "--node-id ID", "--lease-time S", "--redis-timeout S"):
        assert opt in p.stdout, opt


def healthz_body(port):
    """The body of /healthz without its version line."""
    status, _, body = harness.http_get(port, "/healthz")
    assert status == 200, status
    return "\n".join(l for l in body.decode().splitlines() if not l.startswith("version "))


@test
def good_values_are_accepted():
    # No Redis answers there: the node runs, and says so (200, the body).
    with harness.Server("--redis", "redis://127.0.0.1:1/2", "--node-id", "n_1-A",
                        "--lease-time", "5", "--redis-timeout", "2.5") as s:
        assert healthz_body(s.port) == "ok\nredis unreachable"
        assert s.log_has(r"event=cluster_start node=n_1-A redis=redis://127\.0\.0\.1:1/2 "
                         r"lease_ms=5000 timeout_ms=2500")
    with harness.Server("--redis", "unix:/tmp/redis.sock") as s:
        assert healthz_body(s.port) == "ok\nredis unreachable"


if __name__ == "__main__":
    harness.main()
