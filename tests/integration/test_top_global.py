"""The top scores are global: a new top score made in one room reaches the
members of every other room, on every worker loop."""
import asyncio

import harness
from harness import Player, Server, test


@test
async def a_top_score_reaches_every_room():
    # Four watcher rooms plus the scorer's own: with 2 workers they are
    # spread over both loops (rooms_per_worker shows it).
    with Server("--tick-rate", "20", "--field", "20x12", "--seed", "21",
                "--max-conns-per-ip", "100") as s:
        watchers = [await Player.connect(s, room=f"watch{i}", name=f"w{i}") for i in range(4)]
        scorer = await Player.connect(s, room="scorer", name="ace")
        await scorer.play_until_scored(timeout=40)
        await scorer.die(15)
        best = max(sc for name, sc, _ in scorer.top_scores if name == "ace")
        for w in watchers:
            c, _ = await w.until("top_scores", 5,
                                 pred=lambda c: any(r[0] == "ace" and r[1] == best for r in c[1]))
            assert c[1][0][:2] == ["ace", best], c
        stats = harness.http_json(s.port, "/api/stats")
        assert sum(stats["rooms_per_worker"]) == 5, stats
        for p in watchers + [scorer]:
            await p.close()


harness.main(timeout=90)
