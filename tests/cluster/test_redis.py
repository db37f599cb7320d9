"""The Redis connections of src/cluster against a real redis-server: a
refused connect is reported and retried (the fault of hiredis 0.14.1's own
libuv adapter), reconnection after kill -9, a hung (SIGSTOPped) Redis
detected by timeouts on both connections, and re-subscription after
CLIENT KILL TYPE pubsub. Figures are printed as "measured: ..." lines."""
import time

from lib import Nodes, Redis, free_port, poll, test, harness


@test
def refused_connect_is_retried_then_up():
    port = free_port()
    r = Redis(port=port, start=False)
    try:
        with Nodes(r) as mk:
            a = mk("a", env={"SP_LOG_DEBUG": "1"})
            assert a.claim("x") == ("unavailable", None)
            poll(lambda: sum("event=redis_connect_failed" in l for l in a.log) >= 6,
                 timeout=3, what="several refused connects reported")
            r.start()
            t0 = time.monotonic()
            a.expect(r"state up", timeout=4)
            print(f"measured: up {time.monotonic() - t0:.2f}s after Redis started "
                  "(backoff capped at 2s)")
            assert a.claim("x")[0] == "granted"
    finally:
        r.close()


@test
def reconnects_after_kill9_and_restart():
    with Redis() as r, Nodes(r) as mk:
        a = mk("a")
        a.expect(r"state up")
        assert a.claim("x")[0] == "granted"
        r.kill9()
        t0 = time.monotonic()
        a.expect(r"state down", timeout=3)
        print(f"measured: down {time.monotonic() - t0:.3f}s after kill -9 (the socket closed)")
        assert a.claim("y") == ("unavailable", None)
        time.sleep(0.3)
        r.start()
        t0 = time.monotonic()
        a.expect(r"state up", timeout=4)
        print(f"measured: up again {time.monotonic() - t0:.2f}s after the restart")
        assert a.stats()["outages"] == 1
        assert a.claim("y")[0] == "granted"


@test
def hung_redis_is_detected_and_is_an_outage():
    with Redis() as r, Nodes(r, timeout_ms=500) as mk:
        a = mk("a", lease_ms=3000)
        a.expect(r"state up")
        r.stop()
        t0 = time.monotonic()
        try:
            a.expect(r"state down", timeout=3)
            print(f"measured: hung Redis detected {time.monotonic() - t0:.2f}s after SIGSTOP "
                  "(command timeout 0.5s, heartbeat every 0.5s)")
            # Both connections find out by themselves: commands by a
            # command timeout, pub/sub by the silence of its heartbeat.
            poll(lambda: any("what=command" in l for l in a.log)
                 and any("conn=pubsub" in l and "what=silence" in l for l in a.log),
                 timeout=3, what="timeouts on both connections")
            assert a.claim("x") == ("unavailable", None)
            # A stopped server still accepts TCP connections (its kernel
            # does): the node must not call that "up".
            time.sleep(1.5)
            assert not a.saw(r"state up$")[1:], a.lines
            assert any("what=connect" in l for l in a.log), a.log[-10:]
        finally:
            r.cont()
        t0 = time.monotonic()
        a.expect(r"state up", timeout=4)
        print(f"measured: up {time.monotonic() - t0:.2f}s after SIGCONT")
        assert a.claim("x")[0] == "granted"


@test
def pubsub_resubscribes_after_client_kill():
    with Redis() as r, Nodes(r) as mk:
        a, b = mk("a"), mk("b")
        a.expect(r"state up")
        b.expect(r"state up")
        assert r.call("PUBSUB", "NUMSUB", "sp:events:0")[1] == 2
        killed = r.call("CLIENT", "KILL", "TYPE", "pubsub")
        assert killed >= 2, killed
        poll(lambda: r.call("PUBSUB", "NUMSUB", "sp:events:0")[1] == 2, timeout=4,
             what="both nodes subscribed again")
        assert any("conn=pubsub" in l and "redis_disconnected" in l for l in b.log)
        # Events flow again: a's announcement reaches b.
        poll(lambda: b.stats()["up"] == 1, timeout=3, what="b up")
        a.send("announce * after the kill")
        b.expect(r"announce \* after the kill", timeout=2)


@test
def unix_socket_and_database_urls():
    import os
    r = Redis(extra=["--unixsocket", "REPLACED", "--unixsocketperm", "700"], start=False)
    sock = os.path.join(r.dir, "redis.sock")
    r.extra = ["--unixsocket", sock, "--unixsocketperm", "700"]
    r.start()
    try:
        with Nodes(r) as mk:
            a = mk("a", url=f"unix:{sock}")
            a.wait_up()
            assert a.claim("x")[0] == "granted"
            assert r.call("GET", "sp:lease:x").startswith("a ")
            b = mk("b", url=f"{r.url}/3")
            b.wait_up()
            assert b.claim("x")[0] == "granted"  # another database: its own leases
            c = r.client()
            assert c.call("SELECT", 3) == "OK" and c.call("GET", "sp:lease:x").startswith("b ")
            c.close()
    finally:
        r.close()


if __name__ == "__main__":
    harness.main(timeout=120)
