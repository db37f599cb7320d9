"""Issue 13 on the wire: fair births, death causes, colours kept from life
to life, rounds in wall time with standings, room chat and its limits, the
count of spectators, room_info; and a strict v1 client that plays among all
the extensions (docs/PROTOCOL.md)."""
import asyncio
import json
import time

import harness
from harness import KEY_OF, Player, Server, is_tick_frame, test


def name_color(name):
    """The server's colour of a name (sp_proto_name_color, FNV-1a)."""
    h = 2166136261
    for b in name.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return 1 + h % 6


async def close_all(*players):
    for p in players:
        try:
            await p.close()
        except Exception:
            pass


def cmds_of(p, name):
    """Every command called name that p received, in order."""
    return [c for _, f in p.frames for c in f if c[0] == name]


async def wait_for(p, pred, timeout, what):
    """Reads frames until pred() holds."""
    end = time.monotonic() + timeout
    while not pred():
        left = end - time.monotonic()
        assert left > 0, f"timed out waiting for {what}"
        try:
            await p.next_frame(left)
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None


# --- births -------------------------------------------------------------------

@test
async def hundred_newborns_live_two_seconds_without_a_key():
    # 100 joins, each on a fresh field (a room of its own), the default
    # field and tick rate (10 Hz: two seconds are 20 moves), no key pressed.
    with Server("--max-conns-per-ip", "300") as s:
        players = await asyncio.gather(*[
            Player.connect(s, room=f"born{i}", name=f"n{i}") for i in range(100)])
        try:
            await asyncio.gather(*[p.join() for p in players])
            t0 = time.monotonic()
            while time.monotonic() - t0 < 4:
                moved = [sum(1 for _, f in p.frames if is_tick_frame(f)) for p in players]
                if min(moved) >= 23:
                    break
                await asyncio.sleep(0.1)
            early = []
            for p in players:
                ticks = 0
                for _, f in p.frames:
                    if is_tick_frame(f) and any(c[3] == "%" for c in f):
                        ticks += 1
                    if ["p_gameover", p.id] in f:
                        if ticks < 21:  # the birth and 20 moves are safe
                            died = [c for c in f if c[0] == "p_died"]
                            early.append((p.name, ticks, died))
                        break
                assert ticks >= 21 or any(["p_gameover", p.id] in f for _, f in p.frames), \
                    f"{p.name}: only {ticks} ticks seen"
            assert not early, f"{len(early)} of 100 died in their first two seconds: {early[:5]}"
        finally:
            await close_all(*players)


# --- deaths -------------------------------------------------------------------

@test
async def death_by_the_wall_says_so():
    with Server("--tick-rate", "50", "--field", "20x12") as s:
        p = await Player.connect(s, name="walle")
        try:
            await p.join()
            while p.alive:
                await p.next_frame(5)
            frame = next(f for _, f in p.frames if ["p_gameover", p.id] in f)
            # p_died rides in the frame of p_gameover, right after it
            assert frame[0] == ["p_gameover", p.id], frame
            assert frame[1] == ["p_died", p.id, "wall", p.score, 0, ""], frame
        finally:
            await close_all(p)


@test
async def death_by_another_snake_names_it():
    # prey circles on a 2x2 square (its 3 cells fit in 4); the hunter heads
    # for the nearest of its cells and dies there: p_died names the prey.
    with Server("--tick-rate", "10", "--field", "30x20", "--seed", "13") as s:
        prey = await Player.connect(s, name="prey")
        hunter = await Player.connect(s, name="hunter")
        try:
            await prey.join()
            await prey.wait_born()
            for attempt in range(4):
                if not hunter.alive:
                    await hunter.join()
                await hunter.wait_born()
                while hunter.alive:
                    assert prey.alive, "the prey died"
                    cmds = await hunter.next_frame(3)
                    if not is_tick_frame(cmds):
                        continue
                    if prey.dir:
                        turn = KEY_OF[(-prey.dir[1], prey.dir[0])]  # a right turn
                        await prey.send(str(turn))
                        prey.dir = (-prey.dir[1], prey.dir[0])
                    if hunter.head and hunter.dir and hunter.grid:
                        cells = [(x, y) for y, row in enumerate(hunter.grid) for x, (ch, col) in enumerate(row)
                                 if col == prey.color and ch in "%@*"]
                        back = (-hunter.dir[0], -hunter.dir[1])
                        best = None
                        for d in KEY_OF:
                            if d == back:
                                continue
                            n = (hunter.head[0] + d[0], hunter.head[1] + d[1])
                            if not (0 <= n[0] < 30 and 0 <= n[1] < 20):
                                continue
                            if not hunter.passable(*n) and n not in cells:
                                continue
                            dist = min(abs(n[0] - x) + abs(n[1] - y) for x, y in cells)
                            if best is None or dist < best[0]:
                                best = (dist, d)
                        if best and best[1] != hunter.dir:
                            await hunter.send(str(KEY_OF[best[1]]))
                died = [c for _, f in hunter.frames for c in f if c[0] == "p_died" and c[1] == hunter.id]
                if died and died[-1][2] == "snake":
                    assert died[-1][4:] == [prey.id, "prey"], died[-1]
                    # every member hears it, the prey too
                    await wait_for(prey, lambda: any(c[:3] == ["p_died", hunter.id, "snake"]
                                                     for c in cmds_of(prey, "p_died")), 2, "p_died at the prey")
                    return
                print(f"  (note: the hunter died otherwise: {died[-1] if died else None}; again)")
            raise AssertionError("the hunter never reached the prey")
        finally:
            await close_all(prey, hunter)


# --- colours ------------------------------------------------------------------

@test
async def a_player_keeps_its_colour_and_top_scores_show_it():
    with Server("--tick-rate", "20", "--field", "16x12", "--seed", "3") as s:
        carol = await Player.connect(s, name="carol")
        try:
            joined = await carol.join()
            assert joined[3] == name_color("carol"), (joined, name_color("carol"))
            score = await carol.play_until_scored(timeout=30)
            carol.autopilot = None
            while carol.alive:
                await carol.next_frame(5)
            top = carol.top_scores
            row = next(r for r in top if r[0] == "carol")
            assert row[2] == joined[3], f"top_scores colour {row} vs snake colour {joined[3]}"
            assert row[1] >= score
            for _ in range(2):
                again = await carol.join()
                assert again[3] == joined[3], (again, joined)
                while carol.alive:
                    await carol.next_frame(5)
        finally:
            await close_all(carol)


@test
async def a_colour_taken_by_another_is_kept_while_free():
    # two names of the same colour: the second gets another one and keeps it
    # from life to life, even once the first has left
    names = [f"p{i}" for i in range(100)]
    a, b = next((x, y) for x in names for y in names if x < y and name_color(x) == name_color(y))
    with Server("--tick-rate", "20", "--field", "24x16", "--seed", "9") as s:
        pa = await Player.connect(s, name=a)
        pb = await Player.connect(s, name=b)
        try:
            ja = await pa.join()
            pa.autopilot = "survive"
            jb = await pb.join()
            assert ja[3] == name_color(a), ja
            assert jb[3] != ja[3], (ja, jb)
            other = jb[3]
            while pb.alive:
                await pb.next_frame(5)
            if pa.alive:
                again = await pb.join()
                assert again[3] == other, (again, other)
                while pb.alive:
                    await pb.next_frame(5)
            await pa.close()
            again = await pb.join()  # its name's colour is free now: it keeps its own
            assert again[3] == other, (again, other)
        finally:
            await close_all(pa, pb)


# --- rounds -------------------------------------------------------------------

@test
async def a_round_is_wall_time_and_ends_with_standings():
    with Server("--tick-rate", "20", "--field", "20x12", "--seed", "21",
                "--round-seconds", "4", "--standings-seconds", "2") as s:
        ann = await Player.connect(s, name="ann")
        spec = await Player.connect(s, name="spec")
        try:
            t0 = time.monotonic()
            await ann.join()
            lives = 1
            # ann dies at a wall again and again and joins again: the round
            # goes on counting, and is never restarted
            while not cmds_of(ann, "round_end"):
                assert time.monotonic() - t0 < 7, "no round_end"
                cmds = await ann.next_frame(3)
                if not ann.alive and not any(c[0] == "round_end" for c in cmds) \
                        and sp_left(ann) > 1:
                    await ann.send(["join"])
                    await ann.until("p_joined", 3, pred=lambda c: c[1] == ann.id)
                    lives += 1
            took = time.monotonic() - t0
            assert lives >= 2, "ann never died and joined again"
            assert 3.6 < took < 4.8, f"the round took {took:.2f} s"
            rounds = [c[1] for c in cmds_of(ann, "round")]
            assert rounds[0] == 4 and rounds == sorted(rounds, reverse=True), rounds
            assert rounds[-1] == 0 and len(rounds) == len(set(rounds)), rounds
            end = cmds_of(ann, "round_end")[0]
            assert end[1] == 2, end
            standings = end[2]
            assert [r[:2] for r in standings] == [[ann.id, "ann"]], standings
            best = max([c[3] for c in cmds_of(ann, "p_died") if c[1] == ann.id] + [0])
            assert standings[0][3] == best, (standings, best)
            assert standings[0][2] == name_color("ann"), standings
            # the spectator sees the same standings
            await wait_for(spec, lambda: cmds_of(spec, "round_end"), 2, "round_end at the spectator")
            assert cmds_of(spec, "round_end")[0] == end
            # a join during the standings is refused, with the wait
            await ann.send(["join"])
            err, _ = await ann.until("error", 2)
            assert err[1].startswith("The next round starts in "), err
            # a newcomer during the standings gets them too
            late = await Player.connect(s, name="late")
            await wait_for(late, lambda: cmds_of(late, "round_end"), 2, "round_end for a newcomer")
            assert cmds_of(late, "round_end")[0][2] == standings
            await late.close()
            # after the standings the next join starts a new round, full length
            await asyncio.sleep(max(0, t0 + 4 + 2 + 0.2 - time.monotonic()))
            n = len(cmds_of(ann, "round"))
            await ann.send(["join"])
            await ann.until("p_joined", 3, pred=lambda c: c[1] == ann.id)
            await wait_for(ann, lambda: len(cmds_of(ann, "round")) > n, 2, "a new round")
            assert cmds_of(ann, "round")[n][1] == 4, cmds_of(ann, "round")[n:]
            # a newcomer to a running round learns the seconds left at once
            mid = await Player.connect(s, name="mid")
            info = next(f for _, f in mid.frames if any(c[0] == "room_info" for c in f))
            r = [c for c in info if c[0] == "round"]
            assert r and 1 <= r[0][1] <= 4, info
            await mid.close()
        finally:
            await close_all(ann, spec)


def sp_left(p):
    """The seconds left of the round as p last heard it."""
    r = cmds_of(p, "round")
    return r[-1][1] if r else 0


# --- chat ---------------------------------------------------------------------

@test
async def chat_reaches_the_room_within_its_limits():
    with Server("--chat-max-chars", "20", "--chat-rate", "3") as s:
        alice = await Player.connect(s, room="talk", name="alice")
        bob = await Player.connect(s, room="talk", name="bob")
        other = await Player.connect(s, room="elsewhere", name="carl")
        mute = await Player.connect(s, room="talk")  # never sends new_player
        try:
            await alice.send(["chat", "  hi <b>bob</b>\u0007\u202e! "])
            msg = ["chat", alice.id, "alice", "hi <b>bob</b>!"]
            for p in (alice, bob):
                c, _ = await p.until("chat", 2)
                assert c == msg, c
            # too long: refused to the sender only, with the limit
            await alice.send(["chat", "x" * 21])
            c, _ = await alice.until("chat_refused", 2)
            assert c == ["chat_refused", "Messages are at most 20 characters", 0], c
            # empty after cleaning, or not a string: nothing at all
            await alice.send(["chat", " \n\t "])
            await alice.send(["chat", 5])
            # the rate: 3 in a burst (one is spent), then a wait
            await alice.send(["chat", "two"])
            await alice.send(["chat", "three"])
            await alice.send(["chat", "four"])
            c, seen = await alice.until("chat_refused", 2)
            assert [x[3] for x in seen if x[0] == "chat"] == ["two", "three"], seen
            assert c[1] == "Too many messages: at most 3 in 10 seconds" and 3000 <= c[2] <= 3334, c
            # a connection that never registered can neither chat nor read it
            await mute.send(["chat", "boo"])
            await asyncio.sleep(0.3)
            assert not any(c[0] == "chat" and c[3] == "boo" for _, f in bob.frames for c in f)
            assert not mute.frames, mute.frames
            # nothing reached the other room
            assert not cmds_of(other, "chat"), cmds_of(other, "chat")
            assert [c[3] for c in cmds_of(bob, "chat")] == ["hi <b>bob</b>!", "two", "three"]
        finally:
            await close_all(alice, bob, other, mute)


@test
async def chat_off():
    with Server("--chat-rate", "0") as s:
        p = await Player.connect(s, name="quiet")
        try:
            await p.send(["chat", "hello"])
            c, _ = await p.until("chat_refused", 2)
            assert c == ["chat_refused", "Chat is off on this server", 0], c
            info = cmds_of(p, "room_info")[0][1]
            assert info["chat_per_10s"] == 0, info
        finally:
            await close_all(p)


# --- watching, room_info ------------------------------------------------------------

@test
async def watching_counts_the_spectators():
    with Server("--tick-rate", "20", "--field", "30x20") as s:
        a = await Player.connect(s, room="w", name="a")
        try:
            assert cmds_of(a, "watching")[-1] == ["watching", 1]
            b = await Player.connect(s, room="w", name="b")
            assert cmds_of(b, "watching")[-1] == ["watching", 2]
            await wait_for(a, lambda: cmds_of(a, "watching")[-1] == ["watching", 2], 2, "watching 2")
            await a.join()
            a.autopilot = "survive"
            await wait_for(b, lambda: cmds_of(b, "watching")[-1] == ["watching", 1], 2, "watching 1")
            # at most one a second: a crowd arriving is told in one go
            n = len(cmds_of(a, "watching"))
            crowd = await asyncio.gather(*[Player.connect(s, room="w", name=f"c{i}") for i in range(5)])
            await wait_for(a, lambda: cmds_of(a, "watching")[-1] == ["watching", 6], 2.5, "watching 6")
            assert len(cmds_of(a, "watching")) - n <= 2, cmds_of(a, "watching")[n:]
            await close_all(b, *crowd)
            await wait_for(a, lambda: cmds_of(a, "watching")[-1] == ["watching", 0], 2.5, "watching 0")
        finally:
            await close_all(a)


@test
async def room_info_tells_the_settings():
    with Server("--tick-rate", "7.5", "--field", "30x20", "--max-players", "4",
                "--round-seconds", "90", "--standings-seconds", "9",
                "--chat-max-chars", "50", "--chat-rate", "2.5") as s:
        p = await Player.connect(s, room="conf", name="x")
        q = await Player.connect(s, room="other", name="y")
        try:
            frames = [f for _, f in p.frames]
            # after the v1 greeting, in a frame of its own
            first = [f[0][0] for f in frames]
            assert first[:3] == ["handshake", "world", "top_scores"], first
            info = cmds_of(p, "room_info")[0][1]
            boot = info.pop("boot")
            assert len(boot) == 16 and int(boot, 16) > 0, boot
            assert info == {"room": "conf", "max_players": 4, "tick_rate": 7.5, "field": [30, 20],
                            "round_seconds": 90, "standings_seconds": 9, "chat_max_chars": 50,
                            "chat_per_10s": 2.5}, info
            assert cmds_of(q, "room_info")[0][1]["boot"] == boot, "one boot id per server"
        finally:
            await close_all(p, q)
        with Server() as s2:
            r = await Player.connect(s2, name="z")
            assert cmds_of(r, "room_info")[0][1]["boot"] != boot, "a new server, a new boot id"
            await r.close()


@test
def the_built_in_page_has_its_favicons():
    # the copy compiled into the binary (no --static): no 404 on load
    with Server() as s:
        status, _, page = harness.http_get(s.port, "/")
        assert status == 200 and b'<link rel="icon" href="favicon.svg"' in page
        for path, ctype in (("/favicon.svg", "image/svg+xml"), ("/favicon.ico", "image/x-icon")):
            status, headers, body = harness.http_get(s.port, path)
            assert status == 200 and headers["content-type"] == ctype and len(body) > 100, (path, status, headers)


# --- a v1 client among the extensions -----------------------------------------------

V1_SHAPES = {
    "handshake": lambda c: len(c) == 3 and isinstance(c[1], str) and is_int(c[2]) and c[2] > 0,
    "world": lambda c: len(c) == 2 and all(isinstance(r, list) and all(
        isinstance(x, list) and len(x) == 2 and isinstance(x[0], str) and len(x[0]) == 1 and is_int(x[1])
        for x in r) for r in c[1]),
    "top_scores": lambda c: len(c) == 2 and all(
        isinstance(r, list) and len(r) == 3 and isinstance(r[0], str) and is_int(r[1]) and 1 <= r[2] <= 6
        for r in c[1]),
    "p_joined": lambda c: len(c) == 5 and is_int(c[1]) and isinstance(c[2], str) and 1 <= c[3] <= 6 and is_int(c[4]),
    "p_gameover": lambda c: len(c) == 2 and is_int(c[1]),
    "p_score": lambda c: len(c) == 3 and is_int(c[1]) and is_int(c[2]),
    "render": lambda c: len(c) == 5 and is_int(c[1]) and is_int(c[2]) and isinstance(c[3], str)
    and len(c[3]) == 1 and 0 <= c[4] <= 6,
    "reset_world": lambda c: len(c) == 1,
    "error": lambda c: len(c) == 2 and isinstance(c[1], str),
}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class V1Client:
    """Knows PROTOCOL.md v1 and nothing else, like the original page: it
    applies every v1 command (checking its exact v1 shape) and skips any
    other command, inside the same frames."""

    def __init__(self, ws):
        self.ws = ws
        self.id = None
        self.color = None
        self.alive = False
        self.heads = []
        self.skipped = set()
        self.bad = []
        self.grid = None

    async def recv(self, timeout=5.0):
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if not isinstance(frame[0] if frame else [], list):
            frame = [frame]
        for c in frame:
            if not c:
                continue
            name = c[0]
            if name not in V1_SHAPES:
                self.skipped.add(name)
                continue
            if not V1_SHAPES[name](c):
                self.bad.append(c)
            if name == "handshake":
                self.id = c[2]
            elif name == "world":
                self.grid = [[x[0] for x in r] for r in c[1]]
            elif name == "p_joined" and c[1] == self.id:
                self.alive, self.color = True, c[3]
            elif name == "p_gameover" and c[1] == self.id:
                self.alive = False
            elif name == "render":
                self.grid[c[2]][c[1]] = c[3]
                if c[3] == "%" and c[4] == self.color and self.alive:
                    self.heads.append((c[1], c[2]))
        return frame


@test
async def a_v1_client_plays_among_the_extensions():
    with Server("--tick-rate", "20", "--field", "24x16", "--round-seconds", "3",
                "--standings-seconds", "1", "--max-players", "2") as s:
        ext = await Player.connect(s, room="mixed", name="modern")
        v1 = V1Client(await harness.ws_connect(s, room="mixed"))
        try:
            await v1.ws.send(json.dumps(["new_player", "oldie"]))
            while v1.grid is None:
                await v1.recv()
            await ext.join()
            await ext.send(["chat", "hello old friend"])
            lives = 0
            t0 = time.monotonic()
            while time.monotonic() - t0 < 7:
                if not v1.alive:
                    await v1.ws.send(json.dumps(["join"]))
                    lives += 1
                try:
                    await v1.recv(1)
                except asyncio.TimeoutError:
                    continue
                if v1.alive and len(v1.heads) % 5 == 4:
                    await v1.ws.send(json.dumps(37 + len(v1.heads) % 4))
                if not ext.alive and ext.frames and time.monotonic() - t0 > 4:
                    await ext.send(["join"])
            assert not v1.bad, f"v1 commands of another shape: {v1.bad[:5]}"
            # it saw the extensions, skipped them, and played on
            assert {"room_info", "watching", "chat", "round", "round_end", "p_died"} <= v1.skipped, v1.skipped
            assert lives >= 2 and len(set(v1.heads)) >= 5, (lives, v1.heads[:10])
        finally:
            await close_all(ext)
            await v1.ws.close()


harness.main()
