"""What the nodes share, as players meet it through HAProxy (tests/cluster/
e2e.py: scripts/cluster.sh with Redis, 3 nodes of the real binary and
HAProxy with the shipped configurations):

  - placement: rooms spread over the nodes, and each room runs on exactly
    one node (every node's /api/rooms, /api/stats and log agree with the
    leases in Redis);
  - global scores: a score made in a room on one node is in the top_scores
    of players on the other nodes and in every node's /api/scores within a
    second;
  - the cluster-wide room list on every node, and the rooms of a dead node
    gone from it within the lease.
"""
import asyncio

from e2e import Cluster, Gamer, apoll, make_score, now, rooms_on, stop_all
from lib import harness, test

ROOMS = [f"room{i}" for i in range(12)]


@test
async def rooms_spread_over_the_nodes_and_each_runs_on_one():
    with Cluster(lease=1.5) as c:
        gs = [Gamer(c.port, r, f"p-{r}") for r in ROOMS]
        await asyncio.gather(*(g.in_game(timeout=15) for g in gs))
        owner = {r: c.owner(r) for r in ROOMS}
        on = rooms_on(c, gs)
        print("placement: " + ", ".join(f"{n}: {len(on.get(n, []))} rooms" for n in c.names))
        # The hash spreads these twelve names over all three nodes.
        assert set(owner.values()) == set(c.names), owner
        # Every node lists every room, each with the node that holds it.
        await apoll(lambda: all({r: n for r, n in c.rooms(x).items() if r in owner} == owner
                                for x in c.names), 3, "the same room list on every node")
        for n in c.names:
            mine = sorted(r for r in ROOMS if owner[r] == n)
            # A node runs exactly the rooms it holds...
            assert c.json(n, "/api/stats")["rooms"] == len(mine), (n, c.json(n, "/api/stats"))
            # ... and made each of them once, under its lease.
            made = sorted(e["room"] for e in c.events(n, "room_created"))
            taken = sorted(e["room"] for e in c.events(n, "lease_taken"))
            assert made == mine and taken == mine, (n, made, taken, mine)
            # Its players arrived there, and nowhere else.
            players = sorted(e["room"] for e in c.events(n, "new_player"))
            assert players == mine, (n, players, mine)
        await stop_all(gs)


@test
async def a_score_reaches_every_node_within_a_second():
    with Cluster(lease=1.5) as c:
        gs = [Gamer(c.port, r, f"p-{r}", join=False) for r in ROOMS[:6]]
        await apoll(lambda: all(g.conn and g.conn.handshake for g in gs), 10, "watchers in")
        on = rooms_on(c, gs)
        home = sorted(on)[0]
        room = on[home][0].room
        far = [g for n, ws in on.items() if n != home for g in ws]
        assert far, on
        s = await make_score(c.port, room, "scorer")
        # The snake died when its player left; its room-mate saw the score.
        t0 = now()
        await apoll(lambda: on[home][0].top_seen("scorer", s), 1, "the score in its own room")
        await apoll(lambda: all(c.scores(n).get("scorer") == s for n in c.names), 1,
                    "the score in every node's /api/scores")
        t_api = now() - t0
        await apoll(lambda: all(g.top_seen("scorer", s) for g in far), 1,
                    "the score in the top_scores of players on the other nodes")
        t_far = max(g.top_seen("scorer", s) for g in far) - t0
        print(f"measured: a score made on {home} was in every node's /api/scores after "
              f"{t_api:.3f}s and in the top_scores of players on other nodes after {t_far:.3f}s")
        await stop_all(gs)


@test
async def the_room_list_spans_the_cluster_and_forgets_a_dead_node():
    with Cluster(lease=1.5) as c:
        # Players that do not come back: the dead node's rooms just end.
        gs = [Gamer(c.port, r, f"p-{r}", reconnect=False) for r in ROOMS[:6]]
        await asyncio.gather(*(g.in_game(timeout=15) for g in gs))
        owner = {g.room: c.owner(g.room) for g in gs}
        await apoll(lambda: all({r: n for r, n in c.rooms(x).items() if r in owner} == owner
                                for x in c.names), 3, "the same room list on every node")
        victim = sorted(set(owner.values()))[0]
        c.kill9(victim)
        t0 = now()
        alive = [n for n in c.names if n != victim]
        await apoll(lambda: all(victim not in c.rooms(n).values() for n in alive), c.lease + 0.5,
                    f"{victim}'s rooms gone from every list")
        t_gone = now() - t0
        print(f"measured: a dead node's rooms left every node's /api/rooms {t_gone:.2f}s after "
              f"kill -9 (lease {c.lease}s)")
        assert t_gone <= c.lease + 0.1, t_gone
        rest = {r: n for r, n in owner.items() if n != victim}
        for n in alive:
            assert c.rooms(n) == rest, (n, c.rooms(n), rest)
        await stop_all(gs)


if __name__ == "__main__":
    harness.main(timeout=120)
