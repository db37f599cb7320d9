"""SIGTERM and SIGINT: every client gets close 1001, the process exits 0
within 2 seconds."""
import asyncio
import signal
import time

import harness
from harness import Player, RawWS, Server, test


async def shutdown_with_clients(sig):
    s = Server("--tick-rate", "20", "--field", "30x20")
    try:
        player = await Player.connect(s, room="r1", name="player")
        await player.join()
        await player.wait_born()
        player.autopilot = "survive"
        spectator = await Player.connect(s, room="r1", name="spectator")
        other = await Player.connect(s, room="r2", name="other")
        silent = await Player.connect(s, room="r3")              # no new_player
        raw = RawWS(s.port, "/connect?room=r1")
        raw.send_text('["new_player","raw"]')
        assert raw.recv_json()[0][0] == "handshake"

        t0 = time.monotonic()
        s.proc.send_signal(sig)
        codes = await asyncio.gather(*[p.closed(3) for p in (player, spectator, other, silent)])
        raw_code = await asyncio.to_thread(raw.recv_close, 3)
        raw.close()
        code = await asyncio.to_thread(s.wait_exit, 5)
        took = time.monotonic() - t0
        assert codes == [1001] * 4, codes
        assert raw_code == 1001, raw_code
        assert code == 0, f"exit status {code}:\n" + "\n".join(s.lines[-10:])
        assert took < 2.0, f"exit took {took:.2f}s"
        s._check_sanitizers()
    finally:
        if s.alive():
            s.kill()
        s.cleanup()


@test
async def sigterm_closes_clients_1001_and_exits_0():
    await shutdown_with_clients(signal.SIGTERM)


@test
async def sigint_closes_clients_1001_and_exits_0():
    await shutdown_with_clients(signal.SIGINT)


@test
def sigterm_idle_server_exits_0_quickly():
    s = Server()
    try:
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        assert s.wait_exit(5) == 0
        assert time.monotonic() - t0 < 2.0
        s._check_sanitizers()
    finally:
        if s.alive():
            s.kill()
        s.cleanup()


@test
def sigterm_with_open_http_keepalive_connection():
    """An idle keep-alive HTTP client does not hold the exit up."""
    import socket
    s = Server()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = harness.read_response(sock)
        assert status == 200
        half = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost")     # a request cut in the middle
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        assert s.wait_exit(5) == 0
        assert time.monotonic() - t0 < 2.0
        half.close()
        s._check_sanitizers()
    finally:
        sock.close()
        if s.alive():
            s.kill()
        s.cleanup()


harness.main()
