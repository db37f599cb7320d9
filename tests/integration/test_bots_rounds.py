"""Bots (--bots) and timed rounds (--round-seconds) of issue 6, played
through the real binary."""
import asyncio
import json
import time

import harness
from harness import Pilot, Server, http_get, recv_cmds, test, wait_cmd, ws_connect


async def register(s, name, room=None):
    ws = await ws_connect(s, room=room)
    await ws.send(json.dumps(["new_player", name]))
    hs, _ = await wait_cmd(ws, "handshake")
    ws.my_id = hs[2]
    await wait_cmd(ws, "top_scores")
    return ws


@test
async def bots_join_with_a_person_and_leave_with_the_last():
    with Server("--tick-rate", "50", "--field", "60x30", "--seed", "5", "--bots", "3") as s:
        ws = await register(s, "human")
        await ws.send(json.dumps(["join"]))
        names = {}
        deadline = time.monotonic() + 5
        while len([n for n in names.values() if n.startswith("bot-")]) < 3:
            assert time.monotonic() < deadline, names
            for c in await recv_cmds(ws):
                if c[0] == "p_joined":
                    names[c[1]] = c[2]
        assert sorted(n for n in names.values() if n != "human") == ["bot-1", "bot-2", "bot-3"]
        assert names[ws.my_id] == "human"
        # the bots play through the normal protocol: their snakes move
        bots = {i for i, n in names.items() if n.startswith("bot-")}
        # the person leaves the game (its snake dies at a wall, unsteered):
        # then every bot leaves too and the loop stops
        gone = set()
        deadline = time.monotonic() + 10
        human_dead = False
        while not (human_dead and bots <= gone):
            assert time.monotonic() < deadline, (human_dead, gone)
            for c in await recv_cmds(ws):
                if c[0] == "p_gameover":
                    if c[1] == ws.my_id:
                        human_dead = True
                    elif c[1] in bots and human_dead:
                        gone.add(c[1])
                    elif c[1] in bots:
                        bots.discard(c[1])  # died on its own; its place refills
                elif c[0] == "p_joined" and c[2].startswith("bot-"):
                    bots.add(c[1])
        # the rest of that tick's frames (top_scores, renders) arrive at once;
        # then nothing: at 50 ticks/s a running loop would send every 20 ms
        t_end = time.monotonic()
        late = []
        try:
            while True:
                msg = await asyncio.wait_for(ws.recv(), 0.5)
                if time.monotonic() - t_end > 0.1:
                    late.append(msg[:100])
        except asyncio.TimeoutError:
            pass
        assert not late, f"frames after the game ended: {late}"
        rooms = json.loads(http_get(s.port, "/api/rooms")[2])
        assert rooms["rooms"][0]["snakes"] == 0, rooms
        await ws.close()


@test
async def a_person_joining_a_full_room_replaces_a_bot():
    with Server("--tick-rate", "20", "--field", "60x30", "--seed", "6", "--bots", "2",
                "--max-players", "3") as s:
        a = await register(s, "alice")
        b = await register(s, "bob")
        await a.send(json.dumps(["join"]))
        bots = set()
        while len(bots) < 2:
            for c in await recv_cmds(a):
                if c[0] == "p_joined" and c[2].startswith("bot-"):
                    bots.add(c[1])
        await b.send(json.dumps(["join"]))
        evicted = joined = None
        deadline = time.monotonic() + 5
        while joined is None:
            assert time.monotonic() < deadline
            for c in await recv_cmds(b):
                if c[0] == "p_gameover" and c[1] in bots:
                    evicted = c[1]
                if c[0] == "p_joined" and c[1] == b.my_id:
                    joined = c
                if c[0] == "error":
                    raise AssertionError(f"bob was refused: {c}")
        assert evicted is not None, "no bot made room for bob"
        await a.close()
        await b.close()


@test
async def a_slow_search_does_not_delay_ticks():
    # Every search sleeps 400 ms (8 ticks) on the thread pool: the loop
    # must keep its 50 ms ticks, and the late answers are counted.
    with Server("--tick-rate", "20", "--field", "100x50", "--seed", "8", "--bots", "4",
                env={"SNAKEPIT_TEST_BOT_DELAY_MS": "400"}) as s:
        ws = await register(s, "pace")
        pilot = Pilot(ws, 100, 50)
        pilot.me = ws.my_id
        await ws.send(json.dumps(["join"]))
        stamps = []
        while len(stamps) < 60:
            cmds = await pilot.step()
            if not cmds or cmds[0][0] == "render":
                stamps.append(time.monotonic())
            assert not pilot.dead, "the steering snake died"
        gaps = sorted(b - a for a, b in zip(stamps[10:], stamps[11:]))
        p95 = gaps[int(len(gaps) * 0.95)]
        mean = (stamps[-1] - stamps[10]) / (len(stamps) - 11)
        assert abs(mean - 0.05) < 0.005, f"mean tick interval {mean * 1000:.1f} ms"
        assert p95 < 0.075, f"p95 tick gap {p95 * 1000:.1f} ms"
        stats = json.loads(http_get(s.port, "/api/stats")[2])
        assert stats["bot_late"] > 0, stats
        assert stats["bot_searches"] > 0, stats
        await ws.close()


async def chase_digits(ws, w, h, seconds):
    """Steers greedily to the nearest digit (a Pilot otherwise) until the
    round ends; returns every command seen."""
    pilot = Pilot(ws, w, h)
    pilot.me = ws.my_id
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        cmds = await recv_cmds(ws, 5)
        seen.extend(cmds)
        tick = pilot.feed(cmds)
        if any(c[0] == "round" and c[1] == 0 for c in cmds):
            break
        if tick and pilot.alive and pilot.head and pilot.heading:
            digits = [p for p, ch in pilot.grid.items() if ch in "123456789"]
            if digits:
                tx, ty = min(digits, key=lambda p: abs(p[0] - pilot.head[0]) + abs(p[1] - pilot.head[1]))
                hx, hy = pilot.head
                want = []
                if tx < hx: want.append(37)
                if tx > hx: want.append(39)
                if ty < hy: want.append(38)
                if ty > hy: want.append(40)
                back = (-pilot.heading[0], -pilot.heading[1])
                for k in want:
                    if harness.KEYS[k] != back and pilot.free_run(k) >= 1:
                        if harness.KEYS[k] != pilot.heading:
                            await ws.send(str(k))
                            pilot.heading = harness.KEYS[k]
                        break
                else:
                    await pilot.steer()
            else:
                await pilot.steer()
    return seen


@test
async def a_round_ends_on_time_and_its_scores_count():
    with Server("--tick-rate", "20", "--field", "15x15", "--seed", "11",
                "--round-seconds", "3") as s:
        ws = await register(s, "timer")
        await ws.send(json.dumps(["join"]))
        t0 = time.monotonic()
        seen = await chase_digits(ws, 15, 15, 8)
        rounds = [c[1] for c in seen if c[0] == "round"]
        assert rounds[:4] == [3, 2, 1, 0], rounds
        took = time.monotonic() - t0
        assert 2.7 < took < 3.6, f"the round took {took:.2f} s"
        # at zero: the snake dies (p_gameover), GAME OVER is drawn, and the
        # loop stops
        rest = []
        try:
            while True:
                rest.extend(await recv_cmds(ws, 0.5))
        except asyncio.TimeoutError:
            pass
        everything = seen + rest
        assert ["p_gameover", ws.my_id] in everything, everything[-10:]
        text = "".join(c[3] for c in everything if c[0] == "render" and c[2] == 15 // 2)
        assert "GAME OVER" in text, text
        scores = [c[2] for c in everything if c[0] == "p_score" and c[1] == ws.my_id]
        assert scores, "the snake never scored in the round"
        top = [c for c in everything if c[0] == "top_scores"][-1][1]
        assert ["timer", scores[-1]] == top[0][:2], top
        api = json.loads(http_get(s.port, "/api/scores")[2])
        assert api["scores"][0]["name"] == "timer" and api["scores"][0]["score"] == scores[-1]
        await ws.close()


harness.main()
