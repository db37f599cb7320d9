"""The game over a real WebSocket client (python3-websockets): handshake and
world, names, join and newborn snakes, turning, rooms, max players, the loop
stopping after GAME OVER, spectators, garbage input, --seed."""
import asyncio
import json
import time

import harness
from harness import GAME_OVER_TEXT, KEY_OF, Player, Server, is_tick_frame, test

FAST = ("--tick-rate", "50", "--field", "20x12")      # snakes die within ~15 ticks
SLOW = ("--tick-rate", "10", "--field", "40x30")      # time to steer
_servers = {}


def srv(args):
    if args not in _servers:
        _servers[args] = Server(*args)
    return _servers[args]


async def close_all(*players):
    for p in players:
        try:
            await p.close()
        except Exception:
            pass


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


@test
async def handshake_world_and_top_scores():
    p = await Player.connect(srv(FAST), room="hs")
    try:
        await p.send(["new_player", "bob"])
        hs, before = await p.until("handshake")
        assert not before, before
        assert hs[1] == "bob" and is_int(hs[2]) and hs[2] > 0 and len(hs) == 3, hs
        world, before = await p.until("world")
        assert not before, before
        rows = world[1]
        assert len(rows) == 12, len(rows)
        for row in rows:
            assert len(row) == 20, len(row)
            for cell in row:
                assert isinstance(cell, list) and len(cell) == 2, cell
                assert isinstance(cell[0], str) and len(cell[0]) == 1 and is_int(cell[1]), cell
        assert all(cell == [" ", 0] for row in rows for cell in row), "a fresh room's field is not empty"
        ts, before = await p.until("top_scores")
        assert not before, before
        assert isinstance(ts[1], list), ts
    finally:
        await close_all(p)


@test
async def world_size_follows_field_option():
    with Server("--field", "33x17") as s:
        p = await Player.connect(s, name="w")
        assert (p.w, p.h) == (33, 17), (p.w, p.h)
        assert all(len(r) == 33 for r in p.grid)
        await p.close()


@test
async def ids_positive_and_unique():
    ps = await asyncio.gather(*[Player.connect(srv(FAST), room="ids", name=f"p{i}") for i in range(6)])
    try:
        ids = [p.id for p in ps]
        assert all(is_int(i) and i > 0 for i in ids), ids
        assert len(set(ids)) == len(ids), ids
    finally:
        await close_all(*ps)


NAMES = [
    ("bob", "bob"),
    ("  bob  ", "bob"),
    ("\tbob\n", "bob"),
    ("a\x01b\x1fc", "abc"),
    ("a\x7fb", "ab"),
    ("a\x00b", "ab"),
    ("x" * 20, "x" * 15),
    ("y" * 3000, "y" * 15),
    ("", "anonymous"),
    ("   ", "anonymous"),
    ("\x01\x02\x03", "anonymous"),
    ("\u00e9" * 20, "\u00e9" * 15),
    ("\U0001F40D" * 16, "\U0001F40D" * 15),
    ("h\u00e9llo w\u00f6rld \u65e5\u672c\u8a9e\U0001F40D", "h\u00e9llo w\u00f6rld \u65e5\u672c\u8a9e"),
    ('q"uo\\te', 'q"uo\\te'),
    ('\\"\\', '\\"\\'),
    ("<b>&amp;</b>", "<b>&amp;</b>"),
    ("/", "/"),
]


@test
async def names_sanitized():
    async def one(raw):
        p = await Player.connect(srv(FAST), room="names")
        try:
            await p.send(["new_player", raw])
            hs, _ = await p.until("handshake", 3)
            return hs[1]
        except AssertionError:
            return "<no handshake>"
        finally:
            await p.close()
    got = await asyncio.gather(*[one(raw) for raw, _ in NAMES])
    bad = [f"{raw!r}: got {g!r}, want {want!r}" for (raw, want), g in zip(NAMES, got) if g != want]
    assert not bad, "\n".join(bad)


@test
async def only_first_new_player_counts():
    p = await Player.connect(srv(SLOW), room="first", name="first")
    try:
        await p.send(["new_player", "second"])
        await p.send(["join"])
        pj, before = await p.until("p_joined")
        assert pj[1:3] == [p.id, "first"], pj
        assert not [c for c in before if c[0] in ("handshake", "world")], before
    finally:
        await close_all(p)


@test
async def join_resets_then_newborn_snake():
    p = await Player.connect(srv(SLOW), room="newborn", name="nina")
    try:
        await p.send(["join"])
        _, before = await p.until("reset_world")
        pj, before = await p.until("p_joined")
        assert pj[1] == p.id and pj[2] == "nina" and pj[3] in range(1, 7) and pj[4] == 0, pj
        color = pj[3]
        # the birth: one tick frame with tail, body, head and a digit
        while True:
            cmds = await p.next_frame(2)
            mine = [c for c in cmds if c[0] == "render" and c[4] == color and c[3] in "*@%"]
            if mine:
                break
        assert is_tick_frame(cmds), cmds
        chars = sorted(c[3] for c in mine)
        assert chars == ["%", "*", "@"], mine
        pos = {c[3]: (c[1], c[2]) for c in mine}
        tail, body, head = pos["*"], pos["@"], pos["%"]
        d1 = (body[0] - tail[0], body[1] - tail[1])
        d2 = (head[0] - body[0], head[1] - body[1])
        assert d1 == d2 and d1 in KEY_OF, (tail, body, head)
        for x, y in (tail, body, head):
            assert 0 <= x < 40 and 0 <= y < 30
        # the tail (where it starts) is well away from every border
        assert min(tail[0], 39 - tail[0], tail[1], 29 - tail[1]) >= 4, tail
        digits = [c for c in cmds if c[0] == "render" and c[3] in "123456789"]
        assert digits and all(c[4] in range(1, 7) for c in digits), f"no birthday digit: {cmds}"
        assert p.head == head and p.dir == d2
        # a second join while alive is ignored
        await p.send(["join"])
        t_end = time.monotonic() + 0.35
        while time.monotonic() < t_end:
            cmds = await p.next_frame(1)
            assert not [c for c in cmds if c[0] in ("p_joined", "reset_world", "error")], cmds
        # the snake moved one cell per tick, in its direction
        hs = p.heads
        assert len(hs) >= 3, hs
        for a, b in zip(hs, hs[1:]):
            assert (b[0] - a[0], b[1] - a[1]) == d2, hs
    finally:
        await close_all(p)


async def moved(p, n, timeout=2.0):
    """Direction of the move that put the head at p.heads[n]."""
    end = time.monotonic() + timeout
    while len(p.heads) <= n:
        assert p.alive, "snake died"
        await p.next_frame(max(0.01, end - time.monotonic()))
    a, b = p.heads[n - 1], p.heads[n]
    return (b[0] - a[0], b[1] - a[1])


@test
async def turning_changes_direction_and_reversal_is_ignored():
    p = await Player.connect(srv(SLOW), room="turn", name="turner")
    try:
        await p.join()
        await p.wait_born()
        used = set()
        for _ in range(7):
            if len(used) == 4:
                break
            cur = p.dir
            perp = [d for d in KEY_OF if d != cur and d != (-cur[0], -cur[1])]
            # a side with room, then a key not used yet, then more room
            perp.sort(key=lambda d: (p.run_ahead(p.head, d, 4) < 4, KEY_OF[d] in used,
                                     -p.run_ahead(p.head, d, 12)))
            d = perp[0]
            assert p.run_ahead(p.head, d, 3) >= 3, "no room to turn"
            n = len(p.heads)
            await p.send(str(KEY_OF[d]))
            used.add(KEY_OF[d])
            m = await moved(p, n)
            if m != d:                       # the key may land just after a tick
                assert m == cur, (m, cur, d)
                n += 1
                m = await moved(p, n)
            assert m == d, f"sent {KEY_OF[d]}: moved {m}, want {d}"
            assert await moved(p, n + 1) == d
        assert used == {37, 38, 39, 40}, used
        # the last part goes straight for 4 ticks: first face a way with
        # room for it (a slow run, under TSan, must not meet a wall)
        if p.run_ahead(p.head, p.dir, 6) < 6:
            cur = p.dir
            perp = [d for d in KEY_OF if d != cur and d != (-cur[0], -cur[1])]
            d = max(perp, key=lambda d: p.run_ahead(p.head, d, 12))
            n = len(p.heads)
            await p.send(str(KEY_OF[d]))
            if await moved(p, n) != d:
                assert await moved(p, n + 1) == d
        # reversal: ignored, the snake goes on and lives
        cur = p.dir
        assert p.run_ahead(p.head, cur, 6) >= 5, "no room to go on"
        n = len(p.heads)
        await p.send(str(KEY_OF[(-cur[0], -cur[1])]))
        assert await moved(p, n) == cur
        assert await moved(p, n + 1) == cur
        assert p.alive
        # keys that are not arrows are ignored
        n = len(p.heads)
        for k in ("36", "41", "0", "-37", "137"):
            await p.send(k)
        assert await moved(p, n) == cur
        assert await moved(p, n + 1) == cur
        assert p.alive
    finally:
        await close_all(p)


@test
async def two_clients_one_room_and_spectators():
    s = srv(SLOW)
    a = await Player.connect(s, room="pair", name="alice")
    b = await Player.connect(s, room="pair", name="bob")
    c = None
    try:
        await a.join()
        # b is a spectator: it sees the join and the renders
        await b.until("reset_world")
        pj, _ = await b.until("p_joined")
        assert pj[1:] == [a.id, "alice", a.color, 0], pj
        await b.until("render", pred=lambda c: c[4] == a.color and c[3] == "%")
        a.autopilot = "survive"
        # b joins: a sees it, colours differ
        await b.join()
        pj, _ = await a.until("p_joined", pred=lambda c: c[1] == b.id)
        assert pj[2] == "bob" and pj[3] == b.color != a.color, (pj, a.color)
        b.autopilot = "survive"
        await a.until("render", pred=lambda c: c[4] == b.color and c[3] == "%")
        await b.until("render", pred=lambda c: c[4] == a.color and c[3] == "%")
        # a late newcomer: p_joined once per live snake, and the world as it is
        c = await Player.connect(s, room="pair")
        await c.send(["new_player", "carol"])
        await c.until("handshake")
        while not is_tick_frame(await c.next_frame(2)):
            pass
        joined = [cmd[1] for cmd in c.pending if cmd[0] == "p_joined"]
        assert a.alive and b.alive, "a snake died too early"
        assert sorted(joined) == sorted([a.id, b.id]), joined
        heads = {col for row in c.grid for ch, col in row if ch == "%"}
        assert heads == {a.color, b.color}, (heads, a.color, b.color)
        # from now on c sees the same field as a
        await c.until("render", pred=lambda cmd: cmd[4] == a.color and cmd[3] == "%")
        await a.until("render", pred=lambda cmd: cmd[4] == a.color and cmd[3] == "%")
    finally:
        await close_all(a, b, *([c] if c else []))


@test
async def rooms_are_isolated():
    s = srv(SLOW)
    x = await Player.connect(s, room="iso1", name="xavier")
    y = await Player.connect(s, room="iso2", name="yvonne")
    try:
        await x.join()
        await x.wait_born()
        x.autopilot = "survive"
        # y's room has no game: y receives nothing at all
        assert await y.quiet(0.5), f"iso2 got {y.frames[-1:]}"
        await y.join()
        await y.wait_born()
        y.autopilot = "survive"
        t_end = time.monotonic() + 0.4
        while time.monotonic() < t_end:
            await x.next_frame(1)
            await y.next_frame(1)
        xs = [c for _, f in x.frames for c in f]
        ys = [c for _, f in y.frames for c in f]
        assert not [c for c in xs if c[0] == "p_joined" and c[1] == y.id], "iso1 saw iso2's join"
        assert not [c for c in ys if c[0] == "p_joined" and c[1] == x.id], "iso2 saw iso1's join"
        assert sum(1 for c in xs if c[0] == "reset_world") == 1, "iso1 saw iso2's reset_world"
        # each field holds exactly one live snake head
        for p in (x, y):
            heads = [(cx, cy) for cy, row in enumerate(p.grid) for cx, (ch, col) in enumerate(row) if ch == "%"]
            assert heads == [p.head], (heads, p.head)
    finally:
        await close_all(x, y)


@test
async def third_join_refused_with_max_players_2():
    with Server("--max-players", "2", "--tick-rate", "5", "--field", "30x20") as s:
        a, b, c = [await Player.connect(s, room="mp", name=n) for n in ("a", "b", "c")]
        try:
            await a.send(["join"])
            await b.send(["join"])
            for p in (a, b):
                await p.until("p_joined", pred=lambda cmd, p=p: cmd[1] == p.id)
            await c.send(["join"])
            err, before = await c.until("error")
            assert err == ["error", "Maximum players reached"], err
            assert not [cmd for cmd in before if cmd[0] == "p_joined" and cmd[1] == c.id], before
            # nobody else gets the error or c's p_joined
            for p in (a, b):
                t_end = time.monotonic() + 0.3
                while time.monotonic() < t_end:
                    try:
                        await p.next_frame(0.1)
                    except asyncio.TimeoutError:
                        pass
                assert not [cmd for cmd in p.pending if cmd[0] == "error"
                            or (cmd[0] == "p_joined" and cmd[1] == c.id)], p.pending
            # when a snake is gone, c may join
            await a.close()
            await c.until("p_gameover", pred=lambda cmd: cmd[1] == a.id)
            pj = await c.join()
            assert pj[1] == c.id
        finally:
            await close_all(a, b, c)


@test
async def eleventh_join_refused_by_default():
    with Server("--tick-rate", "1") as s:
        ps = await asyncio.gather(*[Player.connect(s, room="full", name=f"n{i}") for i in range(11)])
        try:
            for p in ps[:10]:
                await p.send(["join"])
            for p in ps[:10]:
                await p.until("p_joined", timeout=5, pred=lambda cmd, p=p: cmd[1] == p.id)
            await ps[10].send(["join"])
            err, before = await ps[10].until("error", timeout=3)
            assert err == ["error", "Maximum players reached"], err
            # colours: the first six snakes got six different colours
            order = [c for _, f in ps[10].frames for c in f if c[0] == "p_joined"]
            assert len(order) == 10, order
            cols = [c[3] for c in order]
            assert all(col in range(1, 7) for col in cols), cols
            assert len(set(cols[:6])) == 6, cols
        finally:
            await close_all(*ps)


@test
async def join_before_new_player_is_ignored():
    s = srv(SLOW)
    p = await Player.connect(s, room="early")
    try:
        await p.send(["join"])
        await p.send("38")
        assert await p.quiet(0.3), p.frames
        await p.register("late")
        assert all(ch == " " for row in p.grid for ch, _ in row), "a snake was created"
        assert await p.quiet(0.4), f"frames without a game: {p.frames[-2:]}"
        rooms = {r["name"]: r for r in harness.http_json(s.port, "/api/rooms")["rooms"]}
        assert rooms["early"]["snakes"] == 0, rooms["early"]
    finally:
        await close_all(p)


def game_over_row(p):
    for y in {p.h // 2, (p.h - 1) // 2}:
        row = p.text_row(y)
        x0 = row.find(GAME_OVER_TEXT)
        if x0 >= 0:
            return y, x0
    return None


@test
async def loop_stops_after_game_over_and_restarts_on_join():
    p = await Player.connect(srv(FAST), room="stop", name="stopper")
    try:
        await p.join()
        t0 = time.monotonic()
        await p.until("p_gameover", timeout=5, pred=lambda c: c[1] == p.id)
        life = time.monotonic() - t0
        ticks = sum(1 for t, f in p.frames if t >= t0 and is_tick_frame(f))
        assert ticks >= 0.5 * life / 0.02, f"only {ticks} tick frames in {life:.2f}s at 50 Hz"
        gi = p.frame_index(lambda f: ["p_gameover", p.id] in f)
        while game_over_row(p) is None:
            await p.next_frame(1)
        y, x0 = game_over_row(p)
        assert x0 in ((p.w - len(GAME_OVER_TEXT)) // 2, (p.w - len(GAME_OVER_TEXT) + 1) // 2), x0
        cols = {p.grid[y][x0 + i][1] for i, ch in enumerate(GAME_OVER_TEXT) if ch != " "}
        assert len(cols) == 1 and cols.pop() in range(1, 7), cols
        k = p.frame_index(lambda f: any(c[0] == "render" and c[3] == "G" for c in f))
        # the dead snake's renders come after p_gameover, in colour 0
        later = [c for _, f in p.frames[gi + 1:k + 1] for c in f if c[0] == "render"]
        assert [c for c in later if c[3] == "x" and c[4] == 0], later
        assert [c for c in later if c[3] == "+" and c[4] == 0], later
        gameover_frame = p.frames[gi][1]
        assert not [c for c in gameover_frame if c[0] == "render"], gameover_frame
        # and then nothing at all: 15 tick intervals of silence
        assert await p.quiet(0.3) and len(p.frames) == k + 1, \
            f"frame after GAME OVER: {[f[:4] for _, f in p.frames[k + 1:]]}"
        # a new join restarts the loop with a clean field
        await p.send(["join"])
        _, before = await p.until("reset_world")
        await p.until("p_joined", pred=lambda c: c[1] == p.id)
        await p.wait_born()
        assert game_over_row(p) is None
    finally:
        await close_all(p)


@test
async def disconnect_kills_the_snake():
    s = srv(SLOW)
    a = await Player.connect(s, room="leave", name="leaver")
    b = await Player.connect(s, room="leave", name="watcher")
    try:
        await a.join()
        await a.wait_born()
        await a.close()
        await b.until("p_gameover", pred=lambda c: c[1] == a.id)
        while game_over_row(b) is None:
            await b.next_frame(1)
        k = b.frame_index(lambda f: any(c[0] == "render" and c[3] == "G" for c in f))
        # the death happened between ticks: at most the tick in progress follows
        await b.quiet(0.5)
        after = [f for _, f in b.frames[k + 1:]]
        assert len(after) <= 1 and all(is_tick_frame(f) for f in after), f"ticks go on: {after}"
    finally:
        await close_all(a, b)


@test
async def connection_without_new_player_receives_nothing():
    s = srv(FAST)
    n = await Player.connect(s, room="silent")
    p = await Player.connect(s, room="silent", name="player")
    try:
        await p.join()
        await p.until("p_gameover", timeout=5, pred=lambda c: c[1] == p.id)
        assert len(p.frames) >= 5, p.frames
        await n.quiet(0.2)
        assert not n.frames, f"got {n.frames}"
    finally:
        await close_all(n, p)


GARBAGE_ANY_TIME = [
    "not json", "{", "[", "]", "", " ", "nul", '["join"', '"unterminated', '{"a":1}', "null", "true",
    "false", "0", "-1", "36", "41", "37.0", "37.5", "1e999", "-1e999", "1e308",
    "99999999999999999999999", "-99999999999999999999999", str(2 ** 63), str(2 ** 64), str(-2 ** 63),
    '"37"', "[37]", "[38,39]", "[]", "[[]]", "[null]", "[1]", '["JOIN"]', '["join", 1, 2, 3]',
    '["render", 1, 2, "x", 3]', '["handshake", "x", 1]', '["\\ud800"]', '"\\u0000"', '["\\u0000"]',
    "[" * 2000 + "]" * 2000, "[" * 4000, '{"a":' * 800, "37 38", "\ufeff37", '["join"]x',
    "\u00e9\u00e9", "\x00", "\x01\x02",
]
GARBAGE_AFTER_NEW_PLAYER = [
    '["new_player"]', '["new_player", 5]', '["new_player", null]', '["new_player", ["x"]]',
    '["new_player", {"a": 1}]', '["new_player", "other"]', '["new_player", "a", "b"]',
]


async def resend_until(p, msg, name, pred=None, timeout=8.0):
    """Sends msg every 0.5 s until a command called name (matching pred)
    arrives: the server may drop messages of a client that floods it (a
    per-connection rate limit), so one copy may be lost after a burst."""
    end = time.monotonic() + timeout
    while True:
        await p.send(msg)
        try:
            return await p.until(name, 0.5, pred)
        except AssertionError:
            if time.monotonic() > end:
                raise AssertionError(f"no {name} after sending {msg} for {timeout}s") from None


@test
async def garbage_does_not_crash():
    s = srv(FAST)
    p = await Player.connect(s, room="junk")
    try:
        for g in GARBAGE_ANY_TIME:
            await p.send(g)
        assert await p.quiet(0.3), f"reply to garbage before new_player: {p.frames}"
        hs, _ = await resend_until(p, ["new_player", "junk"], "handshake")
        assert hs[1] == "junk"
        for g in GARBAGE_ANY_TIME + GARBAGE_AFTER_NEW_PLAYER:
            await p.send(g)
        await resend_until(p, ["join"], "p_joined", pred=lambda c: c[1] == p.id)
        for g in GARBAGE_ANY_TIME + GARBAGE_AFTER_NEW_PLAYER:
            await p.send(g)
        await p.until("p_gameover", timeout=5, pred=lambda c: c[1] == p.id)
        seen = [c for _, f in p.frames for c in f]
        assert [c[0] for c in seen].count("handshake") == 1, "new_player counted twice"
        assert not [c for c in seen if c[0] == "error"], [c for c in seen if c[0] == "error"]
        assert await asyncio.to_thread(harness.healthz, s.port)
        # the same connection plays on
        await resend_until(p, ["join"], "p_joined", pred=lambda c: c[1] == p.id)
        await p.wait_born()
    finally:
        await close_all(p)


async def record(args, n_ticks=20):
    """Fresh server: one client joins and idles; returns its frames after
    the handshake (as JSON text) until n_ticks tick frames or the end."""
    with Server(*args) as s:
        p = await Player.connect(s, name="det")
        await p.join()
        while sum(1 for _, f in p.frames if is_tick_frame(f)) < n_ticks:
            if await p.quiet(0.3):
                break
        await p.close()
        # The game's frames; not the handshake, nor the extensions that
        # follow the wall clock (`watching`) or the process (`boot`).
        out = []
        for _, f in p.frames:
            f = [c for c in f if c[0] not in ("handshake", "watching")]
            for c in f:
                if c[0] == "room_info":
                    c[1].pop("boot")
            if f:
                out.append(json.dumps(f))
        return out


@test
async def seed_gives_reproducible_games():
    base = ("--tick-rate", "50", "--field", "24x14")
    one = await record(base + ("--seed", "1234"))
    two = await record(base + ("--seed", "1234"))
    assert len(one) >= 10, one
    assert one == two, "\n".join(f"{a}\n{b}\n" for a, b in zip(one, two) if a != b)[:2000]
    other = await record(base + ("--seed", "4321"))
    assert other != one, "--seed has no effect"


@test
def servers_exit_cleanly():
    for args, s in list(_servers.items()):
        del _servers[args]
        assert harness.healthz(s.port)
        s.__exit__(None, None, None)


harness.main()
