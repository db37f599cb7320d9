"""/healthz and /readyz, and the log lines an operator reads: /healthz is
200 with the version (and "redis unreachable" in cluster mode without
Redis); /readyz is 200 only while the server takes games: 503 in cluster
mode while Redis is away, 200 again once it is back. Game events (join,
death with cause and score, the end of a round) are logged at info, HTTP
requests at debug, one line each, without their headers."""
import asyncio
import os
import re
import shutil
import signal
import subprocess
import tempfile

import harness
from harness import Player, Server, test


def get(port, path):
    status, _, body = harness.http_get(port, path)
    return status, body.decode()


@test
def a_single_node_is_healthy_and_ready():
    with Server() as s:
        assert get(s.port, "/healthz") == (200, "ok\nversion 0.1.0\n")
        assert get(s.port, "/readyz") == (200, "ready\n")
        status, headers, body = harness.http_get(s.port, "/readyz", method="HEAD")
        assert status == 200 and body == b"", (status, body)


def start_redis():
    port = harness.free_port()
    tmp = tempfile.mkdtemp(prefix="snakepit-redis-")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", tmp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port, tmp


@test
def cluster_mode_is_ready_only_with_redis():
    redis, rport, tmp = start_redis()
    try:
        with Server("--redis", f"redis://127.0.0.1:{rport}", "--redis-timeout", "0.2",
                    "--lease-time", "1", "--node-id", "h1") as s:
            harness.poll(lambda: get(s.port, "/readyz") == (200, "ready\n"), 10, what="ready")
            assert get(s.port, "/healthz") == (200, "ok\nversion 0.1.0\n")
            redis.kill()
            redis.wait()
            harness.poll(lambda: get(s.port, "/readyz") == (503, "redis unreachable\n"), 10,
                         what="not ready without Redis")
            # Healthy all the same: the node still runs its games (HAProxy).
            status, body = get(s.port, "/healthz")
            assert status == 200 and body == "ok\nversion 0.1.0\nredis unreachable\n", body
            redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", tmp],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            harness.poll(lambda: get(s.port, "/readyz")[0] == 200, 10, what="ready again")
    finally:
        redis.kill()
        redis.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@test
async def game_events_at_info_and_requests_at_debug():
    with Server("--tick-rate", "20", "--field", "20x12", "--round-seconds", "2",
                "--log-level", "debug") as s:
        p = await Player.connect(s, room="logs", name='e"ve')
        await p.join()
        await p.until("round_end", 10)
        await p.close()
        join = s.log_line("event=join ")
        assert join and "level=info" in join and 'name="e\\"ve"' in join and "room=logs" in join, join
        death = s.log_line("event=death ")
        assert death and "level=info" in death, death
        assert re.search(r'name="e\\"ve" cause=(wall|stone|self|corpse|obstacle|round) score=\d+', death), death
        end = s.log_line("event=round_over")
        assert end and "level=info" in end and "winner=" in end, end
        harness.http_get(s.port, "/api/rooms?secret=1", headers={"Authorization": "Bearer hidden-token"})
        assert s.log_has(r'level=debug event=http_request .*method=GET path="/api/rooms" status=200 bytes=\d+')
        assert not [l for l in s.lines if "hidden-token" in l or "secret=1" in l]


@test
def at_info_no_request_lines():
    with Server("--log-level", "info") as s:
        harness.http_get(s.port, "/healthz")
        assert not s.log_has(r"event=http_request", 0.3)


harness.main()
