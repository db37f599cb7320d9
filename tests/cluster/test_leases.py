"""Room leases against a real Redis: one owner at a time, epochs that grow,
renewal, the fence (a lease that expired or was taken is never renewed),
a stopped node that wakes to find its lease gone, Redis outages shorter
and longer than the lease, and release on close (SIGTERM's path)."""
import time

from lib import Nodes, Redis, poll, test, harness

LEASE_MS = 1500


def lease(r, room):
    return r.call("GET", f"sp:lease:{room}")


@test
def one_owner_and_growing_epochs():
    with Redis() as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        a, b = mk("a"), mk("b")
        a.wait_up()
        b.wait_up()
        kind, e1 = a.claim("x")
        assert kind == "granted" and e1 >= 1
        assert lease(r, "x") == f"a {e1}"
        assert b.claim("x") == ("owned", "a")
        assert a.claim("x") == ("granted", e1)  # already held: same epoch
        a.send("release x")
        poll(lambda: lease(r, "x") is None, timeout=2, what="released in Redis")
        kind, e2 = b.claim("x")
        assert kind == "granted" and e2 > e1, (e1, e2)
        assert a.claim("x") == ("owned", "b")


@test
def simultaneous_claims_have_one_winner():
    with Redis() as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        nodes = [mk(f"n{i}") for i in range(3)]
        for n in nodes:
            n.wait_up()
        for room in ("p", "q", "s"):
            for n in nodes:
                n.send(f"claim {room}")
            answers = [n.expect(rf"claim {room} (\w+) ?(\S*)")[0].groups() for n in nodes]
            winners = [a for a in answers if a[0] == "granted"]
            assert len(winners) == 1, answers
            owner = lease(r, room).split()[0]
            assert all(a == ("owned", owner) for a in answers if a[0] != "granted"), answers


@test
def renewal_keeps_a_lease_alive():
    with Redis() as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        a, b = mk("a"), mk("b")
        a.wait_up()
        b.wait_up()
        kind, e = a.claim("x")
        a.send(f"tick x {e} 50")
        a.expect(r"tick x ok")
        time.sleep(3 * LEASE_MS / 1000)
        assert lease(r, "x") == f"a {e}"
        assert 0 < r.call("PTTL", "sp:lease:x") <= LEASE_MS
        assert b.claim("x") == ("owned", "a")
        assert not a.saw(r"tick x stopped") and not a.saw(r"lost")


@test
def the_fence_a_taken_or_vanished_lease_is_not_renewed():
    with Redis() as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        a = mk("a")
        a.wait_up()
        _, ex = a.claim("x")
        _, ey = a.claim("y")
        a.send(f"tick x {ex} 50")
        a.expect(r"tick x ok")
        # Another owner appears behind a's back, another lease vanishes:
        # the next compare-and-renew finds both and gives them up.
        r.call("SET", "sp:lease:x", "b 999", "PX", 10000)
        r.call("DEL", "sp:lease:y")
        a.wait_saw(r"lost x", timeout=2)
        a.wait_saw(r"lost y", timeout=2)
        a.wait_saw(r"tick x stopped", timeout=1)
        assert lease(r, "x") == "b 999"   # never overwritten
        assert lease(r, "y") is None      # never resurrected
        assert any("why=taken owner=b" in l for l in a.log), a.log
        assert any("room=y" in l and "why=gone" in l for l in a.log), a.log
        assert a.stats()["losses"] == 2 and a.stats()["held"] == 0


@test
def a_stopped_node_wakes_to_find_its_lease_gone():
    with Redis() as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        a, b = mk("a"), mk("b")
        a.wait_up()
        b.wait_up()
        _, e1 = a.claim("x")
        a.send(f"tick x {e1} 20")
        a.expect(r"tick x ok")
        a.sigstop()
        try:
            t0 = time.monotonic()
            poll(lambda: lease(r, "x") is None, timeout=LEASE_MS / 1000 + 1,
                 what="a's lease expiring in Redis")
            print(f"measured: a stopped node's lease expired {time.monotonic() - t0:.2f}s "
                  f"after SIGSTOP (lease {LEASE_MS} ms)")
            kind, e2 = b.claim("x")
            assert kind == "granted" and e2 > e1, (kind, e2, e1)
        finally:
            a.sigcont()
        # On waking, the first tick already sees the lease invalid (local
        # clock), and the loss is reported before any renewal could run.
        m, t_stop = a.expect(r"tick x (\w+)", timeout=2)
        assert m.group(1) == "stopped", a.lines
        a.wait_saw(r"lost x", timeout=2)
        # The log (stderr) comes through its own pipe: wait for it too.
        poll(lambda: any("room=x" in l and "why=expired" in l for l in a.log), timeout=2,
             what="the lease_lost log line")
        time.sleep(0.5)
        assert lease(r, "x") == f"b {e2}"  # a's wake-up changed nothing
        assert a.claim("x") == ("owned", "b")


@test
def outage_longer_than_the_lease_loses_it():
    with Redis() as r, Nodes(r, lease_ms=LEASE_MS) as mk:
        a, b = mk("a"), mk("b")
        a.wait_up()
        _, e = a.claim("x")
        a.send(f"tick x {e} 50")
        a.expect(r"tick x ok")
        r.kill9()
        t0 = time.monotonic()
        a.wait_saw(r"lost x", timeout=LEASE_MS / 1000 + 1)
        dt = time.monotonic() - t0
        print(f"measured: lease lost {dt:.2f}s into a Redis outage (lease {LEASE_MS} ms)")
        assert dt <= LEASE_MS / 1000 + 0.3, dt  # at the deadline (renewals are 0.5 s apart)
        a.wait_saw(r"tick x stopped", timeout=1)
        r.start()
        a.wait_up(timeout=4)
        b.wait_up(timeout=4)
        assert a.stats()["held"] == 0
        kind, _ = b.claim("x")
        assert kind == "granted"


@test
def short_outage_reclaims_what_it_held():
    with Redis() as r, Nodes(r, lease_ms=3000) as mk:
        a = mk("a")
        a.wait_up()
        _, e = a.claim("x")
        a.send(f"tick x {e} 50")
        a.expect(r"tick x ok")
        # No persistence here: the restarted Redis has lost everything.
        r.kill9()
        r.start()
        a.expect(r"state up", timeout=3)
        poll(lambda: lease(r, "x") == f"a {e}", timeout=2, what="lease re-claimed")
        assert int(r.call("GET", "sp:epoch")) >= e  # epochs still grow
        b = mk("b")
        b.wait_up()
        assert b.claim("x") == ("owned", "a")
        kind, e2 = b.claim("z")
        assert kind == "granted" and e2 > e, (e2, e)
        assert not a.saw(r"lost") and not a.saw(r"tick x stopped")


@test
def close_releases_every_lease_at_once():
    with Redis() as r, Nodes(r, lease_ms=10000) as mk:
        a, b = mk("a"), mk("b")
        a.wait_up()
        b.wait_up()
        for room in ("r1", "r2", "r3"):
            assert a.claim(room)[0] == "granted"
        assert b.claim("r2") == ("owned", "a")
        a.close()
        assert r.call("KEYS", "sp:lease:*") == []
        assert b.claim("r2")[0] == "granted"  # at once, not after 10 s


@test
def a_restarted_node_takes_over_its_own_stale_lease():
    with Redis() as r, Nodes(r, lease_ms=10000) as mk:
        a = mk("a")
        a.wait_up()
        _, e1 = a.claim("x")
        a.kill()  # kill -9: the lease stays for 10 s
        a2 = mk("a")
        a2.wait_up()
        kind, e2 = a2.claim("x")
        assert kind == "granted" and e2 > e1
        assert lease(r, "x") == f"a {e2}"


if __name__ == "__main__":
    harness.main(timeout=120)
