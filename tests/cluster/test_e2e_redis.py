"""Failures of Redis, as players meet them through HAProxy (tests/cluster/
e2e.py: scripts/cluster.sh with Redis on the shipped deploy/redis.conf, 3
nodes of the real binary, HAProxy; players that reconnect as the web
client does):

  - kill -9 and restart, shorter than the lease: games go on (ticks keep
    coming), a score made meanwhile waits in memory and is shown only once
    Redis has it, the nodes reconnect, keep their rooms and subscribe
    again; a score players saw survives a kill -9 of Redis (append-only
    file); a Redis that comes back empty gets every room claimed again;
  - an outage longer than the lease: every room stops (1012), new rooms
    are refused with 503 and Retry-After while Redis is away, and players
    are back in a running game soon after Redis is;
  - a hung Redis (SIGSTOP): taken as an outage after the Redis timeout
    (/healthz says so), games go on while the lease lasts, new rooms are
    refused with 503 and Retry-After; all is well again after SIGCONT.
"""
import asyncio
import json
import shutil
import signal

from e2e import Cluster, Gamer, Url, apoll, now, rooms_on, stop_all, upgrade_status
from lib import harness, test

UNREACHABLE = "ok\nredis unreachable"


def spread(c, gs):
    """Players on at least two nodes (the rooms were chosen so)."""
    on = rooms_on(c, gs)
    assert len(on) >= 2 and None not in on, {k: [g.room for g in v] for k, v in on.items()}
    return on


@test
async def redis_kill9_and_restart_games_go_on_and_scores_wait():
    # Renewals every 2 s: a lease lives at least 6 - 2 - 0.3 s after the
    # last one, longer than this outage.
    with Cluster(lease=6, redis_timeout=1) as c:
        gs = [Gamer(c.port, r, f"p-{r}") for r in ("rd0", "rd1", "rd2", "rd3")]
        await asyncio.gather(*(g.in_game(timeout=15) for g in gs))
        spread(c, gs)
        owners = {g.room: c.redis("GET", f"sp:lease:{g.room}") for g in gs}
        watcher = gs[0]
        # A snake with a score, alive while Redis dies.
        scorer = await harness.Player.connect(Url(c.port), room=watcher.room, name="scorer")
        await scorer.join()
        s = await scorer.play_until_scored(timeout=40, attempts=20)

        t0 = now()
        c.kill9("redis")
        await apoll(lambda: all(c.healthz(n) == UNREACHABLE for n in c.names), 3,
                    "every node's /healthz says redis unreachable")
        t_down = now() - t0
        # The scorer leaves: its snake dies with its score while Redis is
        # away. Nobody may be shown it before Redis has it.
        await scorer.close()
        await asyncio.sleep(0.5)
        assert watcher.top_seen("scorer", s) is None
        assert all("scorer" not in c.scores(n) for n in c.names)
        t1 = now()
        c.start("redis")  # cluster.sh start: same port, same append-only file
        await apoll(lambda: all(c.healthz(n) == "ok" for n in c.names), 5,
                    "every node back with Redis")
        t_up = now() - t1
        await apoll(lambda: all(g.top_seen("scorer", s) for g in gs), 3,
                    "the waiting score in every player's top_scores")
        t_shown = max(g.top_seen("scorer", s) for g in gs) - t1
        print(f"measured: Redis kill -9: nodes saw it down after {t_down:.2f}s; after its restart "
              f"(outage {t1 - t0:.2f}s) every node was back after {t_up:.2f}s and the score made "
              f"meanwhile reached every player after {t_shown:.2f}s")
        assert all(c.scores(n).get("scorer") == s for n in c.names)
        assert c.redis("ZSCORE", "sp:top", "scorer") == str(s)
        # Games went on: ticks kept coming to every player, none was closed.
        games_went_on(gs, t0, t1)
        # The rooms stayed where they were, under the same leases, and every
        # node subscribed again...
        assert {g.room: c.redis("GET", f"sp:lease:{g.room}") for g in gs} == owners
        assert c.redis("PUBSUB", "NUMSUB", "sp:events:0")[1] == len(c.names)
        # ... so events reach every node again: a table changed behind the
        # nodes' back, then announced, is read by all of them.
        c.redis("ZADD", "sp:top", "1000", "zed")
        c.redis("PUBLISH", "sp:events:0", json.dumps({"type": "top"}))
        await apoll(lambda: all(g.top_seen("zed", 1000) for g in gs), 2, "the announced table")

        # kill -9 right after: what players saw is in the append-only file.
        c.kill9("redis")
        c.start("redis")
        assert c.redis("ZSCORE", "sp:top", "scorer") == str(s)
        await apoll(lambda: all(c.healthz(n) == "ok" for n in c.names), 5, "nodes back again")
        assert all(c.scores(n).get("scorer") == s for n in c.names)

        # A Redis that comes back empty (its data lost): the nodes claim
        # their rooms again, under the same epochs, and list them again.
        c.kill9("redis")
        shutil.rmtree(c.path("redis"))
        c.start("redis")
        await apoll(lambda: {g.room: c.redis("GET", f"sp:lease:{g.room}") for g in gs} == owners,
                    3, "every lease claimed again")
        assert int(c.redis("GET", "sp:epoch")) >= max(int(v.split()[1]) for v in owners.values())
        await apoll(lambda: all(set(c.rooms(n)) >= set(owners) for n in c.names), 3,
                    "every room listed again")
        for g in gs:
            assert g.closes() == [], (g.room, g.closes())
        await stop_all(gs)


@test
async def an_outage_longer_than_the_lease_stops_the_rooms_until_redis_is_back():
    with Cluster(lease=1.5) as c:
        gs = [Gamer(c.port, r, f"p-{r}") for r in ("rl0", "rl1", "rl2")]
        await asyncio.gather(*(g.in_game(timeout=15) for g in gs))
        t0 = now()
        c.kill9("redis")
        # The lease runs out by each node's clock: its rooms close with 1012.
        await apoll(lambda: all(1012 in g.closes(t0) for g in gs), 3, "1012 to every player")
        t_lost = max(c.closed for g in gs for c in g.conns if c.code == 1012) - t0
        # Meanwhile no room can be made: 503 with Retry-After, honoured.
        await apoll(lambda: all(any(t > t0 and st == 503 and ra == "1"
                                    for t, st, ra in g.refusals) for g in gs), 3,
                    "503 Retry-After: 1 to every player")
        status, headers = upgrade_status(c.port, "rl-new")
        assert status == 503 and headers.get("retry-after") == "1", (status, headers)
        assert not any(g.playing(t0 + 0.1) for g in gs)
        t1 = now()
        c.start("redis")
        back = await asyncio.gather(*(g.in_game(since=t1, timeout=6) for g in gs))
        worst = max(back) - t1
        print(f"measured: Redis away longer than the lease ({c.lease}s): rooms closed (1012) "
              f"{t_lost:.2f}s into the outage; players back in a running game {worst:.2f}s after "
              f"Redis restarted")
        for g in gs:
            assert c.owner(g.room) in c.names
        await stop_all(gs)


@test
async def a_hung_redis_is_an_outage():
    # Renewals every 1.5 s: a lease lives at least 4.5 - 1.5 - 0.23 s after
    # the last one, longer than this hang.
    with Cluster(lease=4.5, redis_timeout=0.5) as c:
        gs = [Gamer(c.port, r, f"p-{r}") for r in ("rh0", "rh1", "rh2")]
        await asyncio.gather(*(g.in_game(timeout=15) for g in gs))
        t0 = now()
        c.signal("redis", signal.SIGSTOP)
        await apoll(lambda: all(c.healthz(n) == UNREACHABLE for n in c.names), 3,
                    "every node's /healthz says redis unreachable")
        t_down = now() - t0
        # A room that does not run yet cannot be placed: refused, for now.
        status, headers = upgrade_status(c.port, "rh-new")
        assert status == 503 and headers.get("retry-after") == "1", (status, headers)
        late = Gamer(c.port, "rh-new", "late")
        await apoll(lambda: late.refusals, 3, "the new room refused")
        t1 = now()
        c.signal("redis", signal.SIGCONT)
        await apoll(lambda: all(c.healthz(n) == "ok" for n in c.names), 5, "nodes back")
        t_up = now() - t1
        await late.in_game(since=t1, timeout=5)
        print(f"measured: a hung Redis (SIGSTOP) was seen after {t_down:.2f}s (Redis timeout "
              f"0.5s); after SIGCONT the nodes were back after {t_up:.2f}s")
        assert all(st == 503 and ra == "1" for _, st, ra in late.refusals), late.refusals
        # The games that ran went on all along.
        games_went_on(gs, t0, t1)
        await stop_all(gs + [late])


def games_went_on(gs, t0, t1, rate=10):
    """Every player kept its connection and received ticks all through
    [t0, t1] (at `rate` a second: at least half of them, and never a
    second without one; a snake that died waits for its player's next
    join)."""
    for g in gs:
        assert g.closes() == [], (g.room, g.closes())
        n, gap = g.ticks_between(t0, t1), g.tick_gap(t0, t1)
        assert n >= (t1 - t0) * rate / 2 and gap < 1.0, (g.room, n, gap, t1 - t0)



if __name__ == "__main__":
    harness.main(timeout=120)
