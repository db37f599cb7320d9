"""What the nodes share besides leases, against a real Redis: the global
top scores (only improve, reach every node within a second, wait in memory
while Redis is away, survive a Redis kill -9 with the shipped redis.conf),
the cluster-wide room list (rooms of a dead node vanish with its leases)
and announcements over pub/sub."""
import json
import os
import time

from lib import ROOT, Nodes, Redis, poll, test, harness

LEASE_MS = 1500
CONF = os.path.join(ROOT, "deploy", "redis.conf")


def rows(line):
    return dict((n, int(s)) for n, s in (kv.rsplit(":", 1) for kv in line.split(",") if kv))


@test
def scores_only_improve_and_reach_every_node():
    with Redis() as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        a, b = mk("a"), mk("b")
        a.wait_up()
        b.wait_up()
        a.send("score bob 10")
        t0 = time.monotonic()
        b.expect(r"top_changed bob:10$", timeout=1.0)  # within one second
        print(f"measured: a score reached the other node in {time.monotonic() - t0:.3f}s")
        a.expect(r"top_changed bob:10$", timeout=1.0)
        a.send("score bob 5")      # worse: changes nothing
        a.send("score alice 7")
        b.expect(r"top_changed bob:10,alice:7$")
        assert r.call("ZSCORE", "sp:top", "bob") == "10"
        b.send("score bob 12")
        a.expect(r"top_changed bob:12,alice:7$")
        assert rows(a.ask("top", r"top (.*)").group(1)) == {"bob": 12, "alice": 7}


@test
def the_table_keeps_fifteen_and_ignores_what_cannot_enter():
    with Redis() as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        a = mk("a")
        a.wait_up()
        for i in range(20):
            a.send(f"score p{i} {100 + i}")
        a.expect(r"top_changed p19:119,p18:118,.*,p5:105$", timeout=3)
        m = a.ask("top", r"top (.*)")
        assert len(rows(m.group(1))) == 15
        a.send("score late 104")   # below the 15th: never sent
        a.send("score early 200")
        a.expect(r"top_changed early:200,p19:119")
        assert r.call("ZSCORE", "sp:top", "late") is None


@test
def scores_wait_while_redis_is_away():
    with Redis() as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        a, b = mk("a"), mk("b")
        a.wait_up()
        a.send("score bob 10")
        a.expect(r"top_changed bob:10$")
        r.kill9()
        a.expect(r"state down", timeout=2)
        a.send("score carol 30")
        a.send("score dave 20")
        a.send("score carol 35")
        st = a.stats()
        assert st["pending"] == 2, st
        # Shown only once Redis has acknowledged them.
        assert rows(a.ask("top", r"top (.*)").group(1)) == {"bob": 10}
        r.start()  # an empty Redis: no persistence in this test
        a.expect(r"top_changed carol:35,dave:20$", timeout=4)
        assert a.stats()["pending"] == 0
        assert r.call("ZSCORE", "sp:top", "carol") == "35"
        b.wait_up(timeout=4)
        # b reads the table when it hears of the change, or within a second.
        poll(lambda: rows(b.ask("top", r"top (.*)").group(1)) == {"carol": 35, "dave": 20},
             timeout=2, what="b shows the scores written after the outage")


@test
def an_acknowledged_score_survives_redis_kill9_with_the_shipped_conf():
    with Redis(conf=CONF) as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        assert r.call("CONFIG", "GET", "appendfsync") == ["appendfsync", "always"]
        a = mk("a")
        a.wait_up()
        for i in range(1, 6):
            a.send(f"score s{i} {i * 11}")
        a.expect(r"top_changed s5:55,s4:44,s3:33,s2:22,s1:11$", timeout=3)
        r.kill9()   # at once after the acknowledgement
        r.start()
        got = r.call("ZRANGE", "sp:top", 0, -1, "REV", "WITHSCORES")
        assert got == ["s5", "55", "s4", "44", "s3", "33", "s2", "22", "s1", "11"], got
        a.wait_up(timeout=4)


@test
def room_list_spans_the_cluster_and_forgets_dead_nodes():
    with Redis() as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        a, b = mk("a"), mk("b")
        a.wait_up()
        b.wait_up()
        assert a.claim("r1")[0] == "granted"
        assert a.claim("r2")[0] == "granted"
        assert b.claim("r3")[0] == "granted"
        a.send("rooms r1:2:1 r2:0:0 notmine:9:9")  # notmine has no lease
        b.send("rooms r3:5:2")
        want = [{"name": "r1", "connections": 2, "snakes": 1, "node": "a"},
                {"name": "r2", "connections": 0, "snakes": 0, "node": "a"},
                {"name": "r3", "connections": 5, "snakes": 2, "node": "b"}]

        def listed(n):
            return json.loads(n.ask("list", r"list (.*)").group(1))["rooms"]
        poll(lambda: listed(a) == want and listed(b) == want, timeout=3,
             what="both nodes list every room")
        b.kill()  # kill -9: its rows must vanish with its lease
        t0 = time.monotonic()
        # Within the lease: each row goes when its lease runs out, as the
        # last read (every half lease here) said.
        poll(lambda: listed(a) == want[:2], timeout=LEASE_MS / 1000 + 0.2,
             what="the dead node's room gone")
        print(f"measured: a dead node's room left the list {time.monotonic() - t0:.2f}s after "
              f"kill -9 (lease {LEASE_MS} ms, list read every {LEASE_MS // 2} ms)")
        # A released room leaves at once.
        a.send("release r2")
        poll(lambda: listed(a) == want[:1], timeout=1, what="released room gone")


@test
def announcements_reach_every_node():
    with Redis() as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        a, b, c = mk("a"), mk("b"), mk("c")
        for n in (a, b, c):
            n.wait_up()
        a.send("announce r1 hello room one")
        for n in (a, b, c):
            n.expect(r"announce r1 hello room one$", timeout=1)
        b.send("announce * server restarts soon ✓")
        for n in (a, b, c):
            n.expect(r"announce \* server restarts soon ✓$", timeout=1)
        a.send("announce bad.room x")
        a.expect(r"announce_error EINVAL")
        assert len(b.saw(r"announce r1 ")) == 1  # once each, not twice


if __name__ == "__main__":
    harness.main(timeout=120)
