"""Hundreds of rooms at once: each room's loop ticks for its own players,
the rooms are isolated, and with several worker loops they are shared out
evenly."""
import asyncio
import json
import os
import time

import harness
from harness import Server, http_get, recv_cmds, test, ws_connect

ROOMS = 200


async def player(s, room):
    ws = await ws_connect(s, room=room)
    await ws.send(json.dumps(["new_player", room]))
    me = None
    while me is None:
        for c in await recv_cmds(ws):
            if c[0] == "handshake":
                me = c[2]
    await ws.send(json.dumps(["join"]))
    return ws, me


async def count_ticks(ws, me, seconds):
    """Render frames received, and the ids of snakes seen joining. Only
    small frames are decoded: 200 worlds would keep Python busy."""
    ticks, joined, died = 0, set(), False
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            msg = await asyncio.wait_for(ws.recv(), max(0.01, end - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if msg == "[]" or msg.startswith('[["render"'):
            ticks += 1
        elif msg.startswith('[["p_joined"'):
            joined.update(c[1] for c in json.loads(msg))
        elif msg.startswith('[["p_gameover"'):
            died = True  # at a wall: that room's loop stops, as it must
    return ticks, joined, died


@test
async def two_hundred_rooms_tick_at_once():
    # 20 ticks/s on a big field, so no snake reaches a wall in the window.
    with Server("--tick-rate", "20", "--field", "200x100", "--seed", "4",
                "--max-conns-per-ip", "1000") as s:
        players = await asyncio.gather(*(player(s, f"r{i}") for i in range(ROOMS)))
        rooms = json.loads(http_get(s.port, "/api/rooms")[2])["rooms"]
        assert len(rooms) == ROOMS, len(rooms)
        assert all(r["connections"] == 1 for r in rooms), rooms[:5]
        results = await asyncio.gather(*(count_ticks(ws, me, 1.5) for ws, me in players))
        # every room ticks (about 30 frames in 1.5 s, fewer if its snake hit
        # a wall and its loop stopped), for its own snake only
        slow = [(i, t) for i, (t, _, died) in enumerate(results) if t < (2 if died else 20)]
        assert not slow, f"rooms that did not tick: {slow[:10]}"
        assert sum(1 for _, _, died in results if not died) > ROOMS // 2
        for (ws, me), (_, joined, _) in zip(players, results):
            assert joined <= {me}, f"room of {me} saw other snakes join: {joined}"
        stats = json.loads(http_get(s.port, "/api/stats")[2])
        loads = stats["rooms_per_worker"]
        assert sum(loads) == ROOMS, stats
        assert max(loads) - min(loads) <= 1, f"rooms not spread evenly: {loads}"
        await asyncio.gather(*(ws.close() for ws, _ in players))
        # every room is freed when its last connection leaves
        deadline = time.monotonic() + 5
        while json.loads(http_get(s.port, "/api/rooms")[2])["rooms"]:
            assert time.monotonic() < deadline, "rooms left behind"
            await asyncio.sleep(0.05)


harness.main(timeout=90)
