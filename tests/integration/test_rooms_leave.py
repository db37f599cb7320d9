"""Every room a connection is routed to is left exactly once, whatever
fails on the way: no phantom room stays in /api/rooms, and the rooms
counted per loop stay true.

Failures are injected with SNAKEPIT_TEST_FAULTS (each named point fails
every second time it is reached, 12 times at most): the directory entry of a new room, this
loop's view of the room, the member, the room on its owner loop and the
room's record of the member. A connection that meets one of the first
three is refused with 503; one that meets the last two is closed with 1011
once it is in. Either way nothing may be left behind."""
import asyncio
import json
import socket

import harness
from harness import Server, http_json, read_response, test

FAULTS = "directory_route,view_new,member_new,room_new,room_enter"


def nothing_left(port, workers):
    rooms = http_json(port, "/api/rooms")["rooms"]
    stats = http_json(port, "/api/stats")
    return (rooms == [] and stats["rooms"] == 0 and stats["rooms_per_worker"] == [0] * workers
            and stats["members_per_worker"] == [0] * workers)


async def one_client(s, room, outcome):
    import websockets
    try:
        ws = await websockets.connect(f"{s.url}?room={room}", open_timeout=5)
    except websockets.InvalidStatusCode as e:
        outcome.append(e.status_code)
        return
    try:
        await ws.send(json.dumps(["new_player", room]))
        while True:
            cmds = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if any(c[0] == "handshake" for c in cmds):
                outcome.append("played")
                return
    except websockets.ConnectionClosed as e:
        outcome.append(e.code)
    finally:
        await ws.close()


@test
async def injected_failures_leave_no_phantom_rooms():
    for workers in (2, 4):
        with Server("--workers", str(workers), "--max-conns-per-ip", "1000",
                    env={"SNAKEPIT_TEST_FAULTS": FAULTS,
                         "SNAKEPIT_TEST_FAULTS_MAX": "12"}) as s:
            outcome = []
            for wave in range(3):
                await asyncio.gather(*[one_client(s, f"w{wave}r{i % 12}", outcome)
                                       for i in range(48)])
            counts = {k: outcome.count(k) for k in set(outcome)}
            # Every kind of ending happened, and nothing else.
            assert set(counts) == {"played", 503, 1011}, counts
            harness.poll(lambda: nothing_left(s.port, workers), 10,
                         what=f"no room left ({workers} workers): "
                         f"{http_json(s.port, '/api/rooms')} {http_json(s.port, '/api/stats')}")
            # Once the faults have stopped, a room of a used name plays.
            outcome = []
            await one_client(s, "w0r1", outcome)
            assert outcome == ["played"], outcome
            harness.poll(lambda: nothing_left(s.port, workers), 10, what="no room left at the end")


def upgrade_behind_pipelined_answers(port, room):
    """Pipelines many requests for the page and then an upgrade, on a
    socket that reads nothing for a while (so the answers are still queued
    when the upgrade is handled); returns the upgrade's status."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    up = (f"GET /connect?room={room} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    sock.sendall(get * 40 + up)
    import time
    time.sleep(0.3)
    sock.settimeout(5)
    status = None
    for _ in range(41):
        st, _, _ = read_response(sock)
        status = st
    sock.close()
    return status


@test
def upgrade_behind_queued_answers_leaves_its_room():
    """The hand-over to another loop used to refuse (503) an upgrade that
    had earlier answers still queued, without leaving the room it had
    been routed to: a phantom room, for ever."""
    with Server("--workers", "2") as s:
        statuses = [upgrade_behind_pipelined_answers(s.port, f"queued{i}") for i in range(8)]
        assert all(st in (101, 503) for st in statuses), statuses
        harness.poll(lambda: nothing_left(s.port, 2), 10,
                     what=f"no room left: {http_json(s.port, '/api/rooms')}")


harness.main(timeout=120)
