"""Top scores: earned by eating digits, sent in top_scores (highest first,
one row per name, at most 15), served by /api/scores, kept in SQLite (WAL)
across a restart, a SIGTERM and a SIGKILL; a bad database or data dir at
start is exit status 1 with one error line."""
import asyncio
import os
import re
import shutil
import signal
import sqlite3
import tempfile

import harness
from harness import Player, Server, is_tick_frame, test

GAME = ("--tick-rate", "20", "--field", "20x12")
_tmp = tempfile.mkdtemp(prefix="snakepit-scores-")
_state = {}


def datadir(name):
    d = os.path.join(_tmp, name)
    os.makedirs(d, exist_ok=True)
    return d


async def score_and_die(s, room, name):
    """One player in its own room: scores, then dies. Returns the player
    (closed) and the top_scores that followed its death."""
    p = await Player.connect(s, room=room, name=name)
    try:
        await p.play_until_scored(timeout=40)
        ts = await p.die(15)
        return p, ts
    finally:
        await p.close()


def rows_ok(ts):
    assert isinstance(ts, list) and len(ts) <= 15, ts
    for r in ts:
        assert isinstance(r, list) and len(r) == 3, r
        assert isinstance(r[0], str) and isinstance(r[1], int) and r[1] > 0, r
        assert r[2] in range(1, 7), r
    scores = [r[1] for r in ts]
    assert scores == sorted(scores, reverse=True), f"not highest first: {ts}"
    names = [r[0] for r in ts]
    assert len(names) == len(set(names)), f"a name appears twice: {ts}"
    return [(r[0], r[1]) for r in ts]


def api_scores(port):
    doc = harness.http_json(port, "/api/scores")
    assert isinstance(doc, dict) and isinstance(doc.get("scores"), list), doc
    out = []
    for r in doc["scores"]:
        assert set(r) >= {"name", "score", "color"}, r
        assert r["color"] in range(1, 7), r
        out.append((r["name"], r["score"]))
    return out


def same_top(a, b):
    """Two top-score lists of (name, score) agree: the same scores in the
    same order and the same name for each score, except that names tied at
    the lowest score of a full list may differ (either could be cut)."""
    if [sc for _, sc in a] != [sc for _, sc in b]:
        return False
    low = a[-1][1] if len(a) == 15 else None
    return (sorted(r for r in a if r[1] != low) == sorted(r for r in b if r[1] != low))


async def fresh_top_scores(s):
    p = await Player.connect(s, room="reader", name="reader")
    ts = p.top_scores
    await p.close()
    return ts


@test
async def scores_recorded_ordered_and_served():
    data = datadir("main")
    s = Server(*GAME, data=data)
    _state["server"] = s
    names = [f"s{i:02d}" for i in range(16)] + ["dup", "dup"]
    results = await asyncio.gather(*[score_and_die(s, f"r{i}", n) for i, n in enumerate(names)])

    # a snake that never eats: goes straight into the wall
    z = await Player.connect(s, room="zero", name="zero")
    await z.join()
    await z.die(10)
    await z.close()

    best = {}
    for p, ts in results:
        # the score is the sum of the digits eaten
        assert p.score == sum(p.eaten), (p.name, p.score, p.eaten)
        best[p.name] = max(best.get(p.name, 0), p.score)
        # the top_scores after its own death list it (unless 15 are better)
        mine = [r for r in ts if r[0] == p.name]
        assert mine or len(ts) == 15, (p.name, p.score, ts)
        if mine:
            assert mine[0][1] >= p.score, (p.name, p.score, ts)
        # p_score comes in its own frame, right after the tick's render frame
        for i, (_, f) in enumerate(p.frames):
            if any(c[0] == "p_score" for c in f):
                assert all(c[0] == "p_score" for c in f), f
                assert i > 0 and is_tick_frame(p.frames[i - 1][1]), p.frames[i - 1][1]
    if z.score:
        best["zero"] = z.score

    ts = rows_ok(await fresh_top_scores(s))
    assert len(ts) == min(15, len(best)), (ts, best)
    want = sorted(best.values(), reverse=True)[:15]
    assert [sc for _, sc in ts] == want, (ts, best)
    for name, sc in ts:
        assert best[name] == sc, (name, sc, best[name])
    if not z.score:
        assert "zero" not in dict(ts), "a zero score was recorded"
    assert same_top(api_scores(s.port), ts), (api_scores(s.port), ts)
    _state["top"] = ts


@test
async def scores_survive_restart_in_wal_mode():
    s = _state.pop("server")
    ts = _state["top"]
    assert s.stop() == 0
    db = os.path.join(s.data, "scores.db")
    assert os.path.isfile(db), os.listdir(s.data)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        con.close()
    assert mode.lower() == "wal", mode
    with Server(*GAME, data=s.data) as s2:
        got = rows_ok(await fresh_top_scores(s2))
        assert same_top(got, ts), (got, ts)
        assert same_top(api_scores(s2.port), ts), (api_scores(s2.port), ts)


@test
async def score_survives_sigkill_one_second_later():
    data = datadir("kill")
    s = Server(*GAME, data=data)
    try:
        p, ts = await score_and_die(s, "k", "killme")
        assert ["killme", p.score] == ts[0][:2], ts
        await asyncio.sleep(1.0)       # the requirement: SIGKILL one second after it was seen
        assert s.kill() == -signal.SIGKILL
    finally:
        if s.alive():
            s.kill()
    with Server(*GAME, data=data) as s2:
        got = rows_ok(await fresh_top_scores(s2))
        assert got == [("killme", p.score)], got


@test
async def pending_score_written_before_sigterm_exit():
    data = datadir("term")
    s = Server(*GAME, data=data)
    try:
        p, ts = await score_and_die(s, "t", "quick")
        assert ["quick", p.score] == ts[0][:2], ts
        assert s.stop(signal.SIGTERM) == 0    # at once, no waiting
    finally:
        if s.alive():
            s.kill()
    with Server(*GAME, data=data) as s2:
        got = rows_ok(await fresh_top_scores(s2))
        assert got == [("quick", p.score)], got
        assert api_scores(s2.port) == got


def expect_exit_1(data, what):
    s = Server(data=data, wait=False)
    code = s.wait_exit(10)
    s._check_sanitizers()
    assert code == 1, f"{what}: exit {code} (want 1):\n" + "\n".join(s.lines[-10:])
    errors = [l for l in s.lines if l.strip() and not re.search(r"level=(info|debug|warn)\b", l)]
    assert len(errors) == 1, f"{what}: want one error line, got:\n" + "\n".join(s.lines[-10:])
    assert s.port is None, f"{what}: server listened"
    return errors[0]


@test
def corrupt_database_exit_1():
    data = datadir("corrupt")
    db = os.path.join(data, "scores.db")
    junk = b"this is not an SQLite database, just garbage\n" * 200
    with open(db, "wb") as f:
        f.write(junk)
    line = expect_exit_1(data, "garbage scores.db")
    assert "scores.db" in line or "database" in line.lower() or "sqlite" in line.lower(), line
    with open(db, "rb") as f:
        assert f.read() == junk, "the corrupt database was overwritten"


@test
def truncated_database_exit_1():
    """A real SQLite file whose schema page (page 1, after the 100-byte
    header) is overwritten."""
    data = datadir("truncated")
    db = os.path.join(data, "scores.db")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE filler (x TEXT)")
    con.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 200)
    con.commit()
    con.close()
    with open(db, "r+b") as f:
        f.seek(100)
        f.write(b"\xde\xad\xbe\xef" * 900)
    expect_exit_1(data, "corrupt pages in scores.db")


@test
def unreadable_database_exit_1():
    data = datadir("unreadable")
    os.mkdir(os.path.join(data, "scores.db"))        # a directory where the file should be
    expect_exit_1(data, "scores.db is a directory")


@test
def unwritable_data_dir_exit_1():
    # a data "dir" that is a regular file
    path = os.path.join(datadir("file"), "not-a-dir")
    with open(path, "w") as f:
        f.write("x")
    expect_exit_1(path, "--data is a regular file")
    # a directory nobody can create files in (even root): /proc/<pid>
    expect_exit_1(os.path.realpath("/proc/self"), "--data in /proc")
    if os.geteuid() != 0:
        ro = datadir("readonly")
        os.chmod(ro, 0o555)
        try:
            expect_exit_1(ro, "read-only --data")
        finally:
            os.chmod(ro, 0o755)


@test
def cleanup():
    s = _state.pop("server", None)
    if s and s.alive():
        s.stop()
    shutil.rmtree(_tmp, ignore_errors=True)


harness.main(timeout=90)
