"""Failures of a node, as players meet them through HAProxy (tests/cluster/
e2e.py: scripts/cluster.sh with Redis on deploy/redis.conf, 3 nodes of the
real binary, HAProxy with deploy/haproxy.cfg; players that reconnect as
the web client does):

  - kill -9: HAProxy's checks take the node out, its players are back in a
    running game on another node within 5 s, and a score a player saw
    before the kill is still there after it;
  - SIGSTOP then SIGCONT: while it hangs its rooms move; when it wakes it
    closes those rooms' connections with 1012 (a running room and an idle
    one alike) and sends nothing else, refuses their upgrades (503), and
    never ticks them again;
  - SIGTERM: its players get 1001, its leases are given back at once, and
    its rooms run elsewhere well before the lease would have expired.
"""
import asyncio
import signal

from e2e import (Cluster, Gamer, apoll, make_score, now, rooms_on, stop_all, upgrade_status)
from lib import harness, test

ROOMS = [f"nd{i}" for i in range(6)]


async def players(c, rooms=ROOMS):
    gs = [Gamer(c.port, r, f"p-{r}") for r in rooms]
    await asyncio.gather(*(g.in_game(timeout=15) for g in gs))
    return gs


def busiest(c, gs):
    """The node that holds the most of the players' rooms, and those players."""
    on = rooms_on(c, gs)
    node = max(sorted(on), key=lambda n: len(on[n]))
    return node, on[node]


@test
async def kill9_players_play_on_elsewhere_and_scores_stay():
    with Cluster(lease=1.5) as c:
        gs = await players(c)
        victim, moved = busiest(c, gs)
        others = [g for g in gs if g not in moved]
        # A score made in one of the victim's rooms, seen by its player.
        s = await make_score(c.port, moved[0].room, "scorer")
        await apoll(lambda: moved[0].top_seen("scorer", s), 2, "the score in top_scores")

        t0 = now()
        c.kill9(victim)
        await apoll(lambda: not c.haproxy_up(victim), 5, f"HAProxy takes {victim} out")
        t_out = now() - t0
        back = await asyncio.gather(*(g.in_game(since=t0, timeout=5) for g in moved))
        worst = max(back) - t0
        print(f"measured: kill -9 of a node: HAProxy took it out after {t_out:.2f}s; its "
              f"{len(moved)} players were back in a running game after {worst:.2f}s "
              f"(lease {c.lease}s, limit 5s)")
        assert worst <= 5.0, worst
        for g in moved:
            owner = c.owner(g.room)
            assert owner and owner != victim, (g.room, owner)
        # The players of the other nodes never noticed.
        assert all(g.closes(t0 - 1) == [] for g in others), [g.closes() for g in others]
        alive = [n for n in c.names if n != victim]
        for n in alive:
            assert c.scores(n).get("scorer") == s, (n, c.scores(n))
        assert c.redis("ZSCORE", "sp:top", "scorer") == str(s)
        await stop_all(gs)


@test
async def a_hung_node_loses_its_rooms_and_wakes_without_a_second_copy():
    # One loop per node: a message that waited in the kernel during the
    # hang is then read by the very loop that owns its room, before any
    # timer of that loop or word from the hub (with several loops the hub
    # usually wins the race, and the test would prove less).
    with Cluster(lease=1.5, workers=1) as c:
        gs = await players(c)
        victim, moved = busiest(c, gs)
        port = c.node_port[victim]
        running = moved[0].room
        # Two players straight on the victim, not through HAProxy (which
        # would cut them when the node is marked down): one in a room that
        # runs (and that HAProxy's players move elsewhere), one watching an
        # idle room (no game, so no tick would notice the lease is gone).
        direct = Gamer(port, running, "direct", reconnect=False)
        idle = Gamer(port, "nd-idle", "idler", join=False, reconnect=False)
        await direct.in_game(timeout=5)
        await apoll(lambda: idle.conn and idle.conn.handshake, 5, "the idle room's greeting")
        assert c.owner("nd-idle") == victim

        t0 = now()
        c.signal(victim, signal.SIGSTOP)
        out = asyncio.ensure_future(apoll(lambda: not c.haproxy_up(victim) and now(), 4,
                                          f"HAProxy takes {victim} out"))
        back = await asyncio.gather(*(g.in_game(since=t0, timeout=5) for g in moved))
        worst = max(back) - t0
        t_out = await out - t0
        print(f"measured: a hung node (SIGSTOP): HAProxy took it out after {t_out:.2f}s; its "
              f"{len(moved)} players were back in a running game on another node after "
              f"{worst:.2f}s (lease {c.lease}s, limit 5s)")
        assert worst <= 5.0, worst
        new_owner = c.owner(running)
        assert new_owner and new_owner != victim, new_owner
        # The idle room's player presses Join while the node hangs: the
        # message waits in the kernel, and is the first thing the woken
        # node reads, before any timer of it runs.
        await idle.conn.player.send(["join"])

        t1 = now()
        c.signal(victim, signal.SIGCONT)
        await apoll(lambda: direct.conn.closed and idle.conn.closed, 3,
                    "the woken node closes its lost rooms' connections")
        print(f"measured: the woken node closed its lost rooms' players "
              f"{direct.conn.closed - t1:.3f}s (running room) and "
              f"{idle.conn.closed - t1:.3f}s (idle room) after SIGCONT")
        assert direct.conn.code == 1012 and idle.conn.code == 1012, \
            (direct.conn.code, idle.conn.code)
        # Nothing but the close after the stop: no tick, no frame at all
        # (frames already on their way at SIGSTOP get 0.2 s to arrive).
        for g in (direct, idle):
            late = [cmds for t, cmds in g.conn.player.frames if t > t0 + 0.2]
            assert late == [], (g.name, late[:5])
        # The woken node refuses the room (another node runs it now).
        status, headers = upgrade_status(port, running)
        assert status == 503 and headers.get("retry-after") == "1", (status, headers)
        assert c.owner(running) == new_owner
        # Its log: the lease lost and the rooms stopped at the wake, and no
        # tick of them started again since.
        log = c.log(victim)
        lost_at = max(i for i, l in enumerate(log) if f"event=room_lost room={running} " in l)
        assert [e for e in c.events(victim, "room_lost") if e["room"] == "nd-idle"], log[-30:]
        after = [l for l in log[lost_at + 1:] if f"room={running} " in l and
                 ("event=room_started" in l or "event=new_player" in l)]
        assert after == [], after
        # Its own stop is no Redis outage: no timeout taken for one (the
        # pub/sub connection was silent because the node itself was).
        assert c.events(victim, "redis_timeout") == [], c.events(victim, "redis_timeout")
        assert c.healthz(victim) == "ok"
        assert all(c.owner(g.room) != victim for g in moved)
        await stop_all(gs + [direct, idle])


@test
async def sigterm_closes_1001_and_gives_the_leases_back_at_once():
    # A long lease: the rooms must move long before it could expire.
    with Cluster(lease=6, redis_timeout=1) as c:
        gs = await players(c)
        victim, moved = busiest(c, gs)
        t0 = now()
        c.signal(victim, signal.SIGTERM)
        released = await apoll(lambda: all(c.owner(g.room) != victim for g in moved) and now(),
                               3, "the leases given back")
        back = await asyncio.gather(*(g.in_game(since=t0, timeout=c.lease / 2) for g in moved))
        worst = max(back) - t0
        print(f"measured: SIGTERM of a node: leases given back after {released - t0:.2f}s, its "
              f"{len(moved)} players back in a running game after {worst:.2f}s "
              f"(lease {c.lease}s)")
        for g in moved:
            assert g.conns[0].code == 1001, [(x.code, x.opened) for x in g.conns]
            assert c.owner(g.room) not in (None, victim), c.owner(g.room)
        c.wait_gone(victim)
        assert c.events(victim, "lease_released"), c.log(victim)[-20:]
        await stop_all(gs)


if __name__ == "__main__":
    harness.main(timeout=120)
