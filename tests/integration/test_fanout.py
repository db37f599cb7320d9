"""One room, its members on several loops: a connection stays on the loop
that accepted it, the room runs on one loop, input crosses to it and each
tick's frames cross back to every loop.

- A room whose members are spread over 4 loops plays exactly as one whose
  members are all on 1 loop: same seed, same inputs at the same ticks,
  the same frames to every member.
- A slow reader on one loop never delays the members on another.
"""
import asyncio
import json
import socket
import statistics
import time

import harness
from harness import RawWS, Server, http_json, test

TICKS = 30
# (tick index, member, key): what the scripted members press, after the
# render frame of that tick arrived. 37..40 = left, up, right, down.
SCRIPT = [(2, 0, 38), (3, 1, 40), (6, 0, 37), (8, 1, 39), (11, 0, 40),
          (12, 1, 37), (15, 0, 39), (17, 1, 38), (20, 0, 38), (24, 1, 40)]


async def open_spread(s, workers, per_loop, room):
    """Opens WebSockets to room until every loop has per_loop of them (the
    kernel spreads connections over the loops' sockets by their ports);
    the extra ones are closed before they register. Returns the sockets in
    order of opening and their loops."""
    import websockets
    kept, loops, extra = [], [], []
    counts = [0] * workers
    for _ in range(400):
        if all(c >= per_loop for c in counts):
            break
        before = http_json(s.port, "/api/stats")["members_per_worker"]
        ws = await websockets.connect(f"{s.url}?room={room}", open_timeout=5, max_size=None)
        after = await asyncio.to_thread(harness.poll, lambda: (
            lambda a: a if a != before else None)(http_json(s.port, "/api/stats")["members_per_worker"]),
            5, 0.005, "the new member to be counted")
        loop = next(i for i in range(workers) if after[i] == before[i] + 1)
        if counts[loop] < per_loop:
            counts[loop] += 1
            kept.append(ws)
            loops.append(loop)
        else:
            extra.append(ws)
    for ws in extra:
        await ws.close()
    assert all(c >= per_loop for c in counts), counts
    return kept, loops


async def play_script(s, sockets):
    """Registers every socket in order (so player ids are the same in every
    run), joins the first two, plays SCRIPT, and returns each member's
    frames, one list per member, up to the TICKS-th render frame."""
    frames = [[] for _ in sockets]
    ids = {}   # player id -> index of the scripted member (0 or 1)

    async def recv(i):
        cmds = json.loads(await asyncio.wait_for(sockets[i].recv(), 10))
        frames[i].append(cmds)
        for c in cmds:
            if c[0] == "p_joined" and c[2] in ("m0", "m1"):
                ids[c[1]] = int(c[2][1])
        return cmds

    for i, ws in enumerate(sockets):
        await ws.send(json.dumps(["new_player", f"m{i}"]))
        while not any(c[0] == "handshake" for c in await recv(i)):
            pass
    # Joins one after the other: the second only once the first is seen.
    for i in (0, 1):
        await sockets[i].send(json.dumps(["join"]))
        while not any(c[0] == "p_joined" and c[2] == f"m{i}" for c in await recv(0)):
            pass
    # Member 0 paces the script: after its k-th tick frame, the keys of k;
    # a snake that died joins again at once (after the frame that said so).
    ticks = 0
    while ticks < TICKS:
        cmds = await recv(0)
        for c in cmds:
            if c[0] == "p_gameover" and c[1] in ids:
                await sockets[ids[c[1]]].send(json.dumps(["join"]))
        if is_tick(cmds):
            ticks += 1
            for k, who, key in SCRIPT:
                if k == ticks:
                    await sockets[who].send(str(key))
    # Everyone else reads as far as member 0 did.
    want = sum(1 for f in frames[0] if is_tick(f))
    for i in range(1, len(sockets)):
        while sum(1 for f in frames[i] if is_tick(f)) < want:
            await recv(i)
    for ws in sockets:
        await ws.close()
    return frames


def is_tick(cmds):
    return cmds == [] or all(c[0] == "render" for c in cmds)


PRIVATE = ("handshake", "world", "top_scores", "room_info")
TIMED = ("watching",)   # sent at most once a second: by the clock, not the game


def tick_frames(frames):
    """The frames of the game: without each member's own greeting (which
    differs by design: its handshake, the process's boot id) and without
    the clock-paced `watching` counts."""
    out = []
    for f in frames:
        if any(c[0] in PRIVATE for c in f):
            continue
        kept = [c for c in f if c[0] not in TIMED]
        if kept or not f:
            out.append(kept)
    return out


@test
async def room_spread_over_4_loops_plays_as_on_1_loop():
    # 4 ticks a second: a key sent after a tick's frame reaches the room
    # long before the next tick, even on a loaded machine.
    common = ("--seed", "7", "--tick-rate", "4", "--field", "24x16", "--max-players", "10")
    with Server(*common, "--workers", "1") as one:
        import websockets
        sockets = [await websockets.connect(f"{one.url}?room=same", open_timeout=5, max_size=None)
                   for _ in range(8)]
        single = await play_script(one, sockets)
    with Server(*common, "--workers", "4") as four:
        sockets, loops = await open_spread(four, 4, 2, "same")
        spread = await play_script(four, sockets)
    assert len(set(loops)) == 4, loops
    for i in range(8):
        a, b = tick_frames(single[i]), tick_frames(spread[i])
        n = min(len(a), len(b))
        assert n >= 10, (i, len(a), len(b))
        if a[:n] != b[:n]:
            k = next(k for k in range(n) if a[k] != b[k])
            raise AssertionError(f"member {i}: first difference at frame {k}:\n"
                                 f"  1 loop:  {a[max(0, k - 2):k + 1]}\n  4 loops: {b[max(0, k - 2):k + 1]}")
    # And every member saw the same broadcasts.
    base = tick_frames(spread[0])
    for i in range(1, 8):
        other = tick_frames(spread[i])
        n = min(len(base), len(other))
        assert base[:n] == other[:n], f"member {i} differs from member 0"
    # The script really played: ticks went by and the field changed.
    ticks = sum(1 for f in base if is_tick(f))
    renders = sum(1 for f in base for c in f if c[0] == "render")
    print(f"  {ticks} ticks, {renders} renders, identical for 8 members on loops {sorted(loops)}")
    assert ticks >= 10 and renders > 2 * ticks, (ticks, renders)


@test
async def slow_reader_on_one_loop_never_delays_another_loop():
    """A member that never reads sits on one loop; a player on the other
    loop keeps getting its ticks on time while the slow one's backlog
    grows (the kernel's buffers take megabytes before --max-queue is hit;
    test_hostile.py covers the cut itself)."""
    import websockets
    # On a 300x200 field the world alone is ~500 kB, which the slow reader
    # never takes; bots keep the broadcasts busy.
    with Server("--workers", "2", "--tick-rate", "50", "--field", "300x200",
                "--max-queue", "65536", "--bots", "4") as s:
        sockets, loops = await open_spread(s, 2, 1, "slow")
        fast = sockets[loops.index(0)]
        slow_loop_ws = sockets[loops.index(1)]
        await slow_loop_ws.close()

        def members():
            return http_json(s.port, "/api/stats")["members_per_worker"]
        # Each departure is waited for: a candidate that lands where the
        # last one just left would otherwise leave the counts unchanged.
        alone = [1, 0]
        await harness.apoll(lambda: members() == alone, 15, 0.005, f"members {alone}")
        # The slow reader: a raw socket on loop 1 with a tiny receive buffer.
        slow = None
        for _ in range(200):
            cand = await asyncio.to_thread(RawWS, s.port, "/connect?room=slow")
            after = await harness.apoll(lambda: (lambda a: a if a != alone else None)(members()),
                                        15, 0.005, "the candidate to be counted")
            if after == [1, 1]:
                slow = cand
                break
            cand.close()
            await harness.apoll(lambda: members() == alone, 15, 0.005, "the candidate to leave")
        assert slow is not None, "no connection landed on loop 1"
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.send_text('["new_player","slow"]')
        await fast.send(json.dumps(["new_player", "fast"]))
        await fast.send(json.dumps(["join"]))
        arrivals = []
        end = time.monotonic() + 6
        while time.monotonic() < end:
            cmds = json.loads(await asyncio.wait_for(fast.recv(), 5))
            if is_tick(cmds):
                arrivals.append(time.monotonic())
            if any(c[0] == "p_gameover" for c in cmds):
                # A new life: the pause until it starts is no tick gap.
                arrivals.append(None)
                await fast.send(json.dumps(["join"]))
        await fast.close()
        slow.close()
        assert s.alive()
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:]) if a and b]
        assert len(gaps) > 100, len(gaps)
        p99 = sorted(gaps)[int(len(gaps) * 0.99)]
        print(f"  fast member on loop 0: {len(gaps)} gaps, median "
              f"{statistics.median(gaps) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
              f"max {max(gaps) * 1000:.1f} ms (tick 20 ms)")
        # Not a timing target: a delay by the slow reader would be seconds.
        limit = 2.0 if harness.SANITIZED else 0.5
        assert max(gaps) < limit, f"a tick came {max(gaps):.3f}s late"


harness.main(timeout=120)
