"""Start-up and shutdown races between the worker loops.

- Clients that open WebSockets to many distinct rooms the moment the port
  opens (every browser reconnecting after a restart) must all be served:
  no listener may accept before every loop, its mailbox and the room
  directory are ready.
- SIGTERM while deaths keep changing the global top scores (the hub posts
  the table to every worker while the workers are stopping) must exit 0
  within 2 s with no sanitizer report.
"""
import asyncio
import json
import os
import signal
import socket
import time

import harness
from harness import Server, free_port, test

WORKERS = int(os.environ.get("SNAKEPIT_STARTUP_WORKERS", "32"))
STARTS = int(os.environ.get("SNAKEPIT_STARTUP_RUNS", "20"))


async def handshake_as_soon_as_open(port, room, deadline):
    """Opens a WebSocket to room on port, retrying connection refusals until
    the port opens, and returns once `handshake` arrived."""
    import websockets
    while True:
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/connect?room={room}",
                                          open_timeout=5, max_size=None)
            break
        except (ConnectionRefusedError, OSError):
            if time.monotonic() > deadline:
                raise AssertionError(f"room {room}: port {port} never opened")
            await asyncio.sleep(0.002)
    try:
        await ws.send(json.dumps(["new_player", room]))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"room {room}: no handshake")
            cmds = json.loads(await asyncio.wait_for(ws.recv(), left))
            if any(c[0] == "handshake" for c in cmds):
                return
    finally:
        await ws.close()


@test
async def many_rooms_connecting_at_start_are_all_served():
    """32 workers, 64 distinct rooms connecting as soon as the port opens,
    20 starts: no crash, every client gets its handshake."""
    for run in range(STARTS):
        port = free_port()
        s = Server("--workers", str(WORKERS), "--max-conns-per-ip", "1000", port=port, wait=False)
        try:
            deadline = time.monotonic() + 20
            rooms = [f"r{run}x{i}" for i in range(64)]
            try:
                await asyncio.gather(*[handshake_as_soon_as_open(port, r, deadline) for r in rooms])
            except Exception as e:
                status = s.proc.poll()
                raise AssertionError(f"run {run}: {e!r}; server exit status {status}:\n"
                                     + "\n".join(s.lines[-30:])) from e
            assert s.alive(), f"run {run}: server died:\n" + "\n".join(s.lines[-30:])
            code = await asyncio.to_thread(s.stop)
            assert code == 0, f"run {run}: exit {code}:\n" + "\n".join(s.lines[-30:])
        finally:
            if s.alive():
                s.kill()
            s.cleanup()


@test
async def sigterm_while_top_scores_change_exits_cleanly():
    """SIGTERM while deaths keep changing the top table, 8 workers, 20
    times: exit 0 within 2 s, no sanitizer report (the harness fails the
    test on any ASan/UBSan/TSan report).

    Each of 8 rooms (one per worker) has a player with a positive score and
    a name of its own. At SIGTERM half of the players stop reading, so their
    workers wait out the shutdown grace period while the other workers
    finish; when the waiting players are cut, their scores change the top
    table and the hub posts it to every worker, finished or not."""
    from harness import Player
    for run in range(STARTS):
        s = Server("--workers", "8", "--tick-rate", "40", "--field", "30x20")
        players = []
        try:
            players = [await Player.connect(s, room=f"room{i}", name=f"p{run}x{i}")
                       for i in range(8)]
            await asyncio.gather(*[p.play_until_scored(timeout=30) for p in players])
            for p in players:
                p.autopilot = "survive"
            for p in players[::2]:
                p.ws.transport.pause_reading()
            t0 = time.monotonic()
            s.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(s.wait_exit, 5)
            took = time.monotonic() - t0
            assert code == 0, f"run {run}: exit {code}:\n" + "\n".join(s.lines[-30:])
            assert took < 2.0, f"run {run}: exit took {took:.2f}s"
            s._check_sanitizers()
        finally:
            for p in players:
                p.ws.transport.abort()
            if s.alive():
                s.kill()
            s.cleanup()


if __name__ == "__main__":
    harness.main(timeout=600)
