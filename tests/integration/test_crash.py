"""Crash safety of the top scores: SIGKILL while scores are being written,
five times over on the same data directory (every score a client saw in
top_scores survives), and a database that becomes unwritable while the
server runs (error logged, games go on, scores kept in memory and written
once it is writable again)."""
import asyncio
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

import harness
from harness import Player, Server, apoll, healthz, http_json, is_tick_frame, test

GAME = ("--tick-rate", "25", "--field", "20x12", "--seed", "7")


def api_scores(port):
    return {r["name"]: r["score"] for r in http_json(port, "/api/scores")["scores"]}


def db_scores(data):
    """The scores table read straight from scores.db (read-only)."""
    con = sqlite3.connect(f"file:{os.path.join(data, 'scores.db')}?mode=ro", uri=True)
    try:
        return dict(con.execute("SELECT name, score FROM scores"))
    finally:
        con.close()


async def scorer(s, room, name, seen):
    """Plays in its own room: steers to digits until it scores, dies,
    records every top_scores row it receives as (time, name, score), and
    again, until the server goes away."""
    try:
        p = await Player.connect(s, room=room, name=name)
    except Exception:  # noqa: BLE001 - the server may be killed meanwhile
        return
    try:
        while True:
            await p.play_until_scored(timeout=30, attempts=20)
            ts = await p.die(15)
            now = time.monotonic()
            for n, sc, _ in ts:
                seen.append((now, n, sc))
    except (AssertionError, asyncio.CancelledError, OSError):
        pass
    finally:
        try:
            await asyncio.wait_for(p.close(), 2)
        except Exception:  # noqa: BLE001
            pass


@test
async def sigkill_while_writing_scores_repeated():
    data = tempfile.mkdtemp(prefix="snakepit-crash-")
    must = {}          # name -> best score seen at least 1 s before a kill
    late = {}          # seen less than 1 s before a kill (not required)
    try:
        for rnd in range(5):
            s = Server(*GAME, data=data)
            try:
                # every score seen before an earlier kill is there
                got = api_scores(s.port)
                for name, sc in must.items():
                    assert got.get(name, 0) >= sc, f"round {rnd}: {name}={sc} lost after SIGKILL; /api/scores {got}"
                seen = []
                names = [f"r{rnd}p{i}" for i in range(3)]
                tasks = [asyncio.create_task(scorer(s, f"crash{i}", n, seen)) for i, n in enumerate(names)]
                # wait for a score of this round, then 1 s more while the
                # other players go on scoring (writes keep happening)
                await apoll(lambda: any(n in names for _, n, _ in seen), 40,
                            what=f"a score in round {rnd}")
                await asyncio.sleep(1.0)
                t_kill = time.monotonic()
                assert s.kill() == -signal.SIGKILL
                for _, n, sc in seen:
                    target = must
                    if any(t > t_kill - 1.0 for t, n2, sc2 in seen if (n2, sc2) == (n, sc)) and \
                            not any(t <= t_kill - 1.0 for t, n2, sc2 in seen if (n2, sc2) == (n, sc)):
                        target = late
                    target[n] = max(target.get(n, 0), sc)
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                if s.alive():
                    s.kill()
        # the last kill too; then the file itself after a clean stop
        with Server(*GAME, data=data) as s:
            got = api_scores(s.port)
            for name, sc in must.items():
                assert got.get(name, 0) >= sc, f"{name}={sc} lost after SIGKILL; /api/scores {got}"
            assert s.stop() == 0
        rows = db_scores(data)
        for name, sc in must.items():
            assert rows.get(name, 0) >= sc, (name, sc, rows)
        assert len([n for n in must if n.startswith("r")]) >= 5, must
        lost = {n: sc for n, sc in late.items() if rows.get(n, 0) < sc}
        print(f"  5 kills; {len(must)} scores seen >= 1 s before a kill, all kept; "
              f"{len(late)} seen in the last second, lost: {lost or 'none'}")
    finally:
        shutil.rmtree(data, ignore_errors=True)


# --- the database becomes unwritable ------------------------------------------------

def died(s, e):
    """When the server died under a test, its own last words are the
    better report."""
    try:
        s.proc.wait(2)
    except subprocess.TimeoutExpired:
        raise e from None
    if s.proc.poll() is not None:
        s._reader.join(2)
        raise AssertionError(f"server died (status {s.proc.returncode}):\n" + "\n".join(s.lines[-15:])) from e
    raise e


def chattr(flag, path):
    return subprocess.run(["chattr", flag, path], capture_output=True, text=True)


def immutable_works(d):
    """True if this filesystem and this user can set the immutable flag,
    and it stops writes through a file descriptor opened before."""
    probe = os.path.join(d, "probe")
    with open(probe, "w") as f:
        f.write("x")
    fd = os.open(probe, os.O_WRONLY | os.O_APPEND)
    try:
        if chattr("+i", probe).returncode != 0:
            return False
        try:
            os.write(fd, b"y")
            return False
        except PermissionError:
            return True
        finally:
            chattr("-i", probe)
    finally:
        os.close(fd)
        os.unlink(probe)


async def score_once(s, room, name):
    p = await Player.connect(s, room=room, name=name)
    try:
        await p.play_until_scored(timeout=40, attempts=20)
        ts = await p.die(15)
        assert [name, p.score] in [r[:2] for r in ts], (name, p.score, ts)
        return p.score
    finally:
        await p.close()


@test
async def database_unwritable_then_writable_again():
    data = tempfile.mkdtemp(prefix="snakepit-ro-")
    if os.geteuid() != 0 or shutil.which("chattr") is None or not immutable_works(data):
        shutil.rmtree(data, ignore_errors=True)
        print("  SKIPPED: cannot make a file immutable here (needs root, chattr and a filesystem "
              "with the i attribute); chmod cannot stop writes to an already open file")
        return
    wal = os.path.join(data, "scores.db-wal")
    try:
        await unwritable_then_writable(data, wal)
    finally:
        chattr("-i", wal)
        shutil.rmtree(data, ignore_errors=True)


async def unwritable_then_writable(data, wal):
    s = Server(*GAME, data=data)
    try:
        before = await score_once(s, "ro1", "before")
        await apoll(lambda: db_scores(data).get("before") == before, 5, what="the first score on disk")
        assert os.path.exists(wal)
        # SQLite writes every transaction to the WAL: make it immutable
        assert chattr("+i", wal).returncode == 0
        assert "i" in subprocess.run(["lsattr", wal], capture_output=True, text=True).stdout.split()[0]
        n_fail = sum("scores_write_failed" in l for l in s.lines)
        during = await score_once(s, "ro2", "during")
        assert s.log_has(r'level=error event=scores_write_failed pending=1 error="cannot write scores: [^"]+"', 5), \
            "\n".join(s.lines[-10:])
        assert n_fail == 0, "a write failed before the database was made unwritable"
        # the game goes on: the score is served from memory, rooms tick,
        # another score is kept too, retries keep failing
        assert api_scores(s.port).get("during") == during
        during2 = await score_once(s, "ro3", "during2")
        assert api_scores(s.port).get("during2") == during2
        p = await Player.connect(s, room="ro4", name="ticker")
        await p.join()
        n = len(p.frames)
        await apoll(lambda: sum(1 for _, f in p.frames[n:] if is_tick_frame(f)) >= 10, 3,
                    what="10 ticks while the database is unwritable")
        await p.close()
        assert s.log_has(r"event=scores_write_failed pending=2 ", 5)
        assert healthz(s.port)
        assert s.alive()
        # writable again: written within ~2 s (retry every second)
        t0 = time.monotonic()
        assert chattr("-i", wal).returncode == 0
        assert s.log_has(r"level=info event=scores_writable written=2", 3), "\n".join(s.lines[-10:])
        assert time.monotonic() - t0 <= 2.5
        assert s.stop() == 0
    except Exception as e:  # noqa: BLE001
        died(s, e)
    finally:
        chattr("-i", wal)
        if s.alive():
            s.kill()
    rows = db_scores(data)
    assert rows.get("before") == before and rows.get("during") == during and \
        rows.get("during2") == during2, rows
    with Server(*GAME, data=data) as s2:
        got = api_scores(s2.port)
        assert got.get("during") == during and got.get("during2") == during2, got


@test
async def database_unwritable_at_shutdown_loses_nothing_silently():
    """Unwritable at SIGTERM: the server still exits (within its shutdown
    time) and says which scores it could not write."""
    data = tempfile.mkdtemp(prefix="snakepit-ro2-")
    if os.geteuid() != 0 or shutil.which("chattr") is None or not immutable_works(data):
        shutil.rmtree(data, ignore_errors=True)
        print("  SKIPPED: cannot make a file immutable here")
        return
    wal = os.path.join(data, "scores.db-wal")
    s = Server(*GAME, data=data)
    try:
        await apoll(lambda: os.path.exists(wal), 5, what="the WAL file")
        assert chattr("+i", wal).returncode == 0
        await score_once(s, "ro", "doomed")
        assert s.log_has(r"event=scores_write_failed pending=1 ", 5)
        t0 = time.monotonic()
        code = s.stop(timeout=5)
        assert time.monotonic() - t0 < 3, "shutdown took too long"
        assert code in (0, 1), code
        assert any(re.search(r"level=error event=scores_lost count=1", l) for l in s.lines), s.lines[-10:]
    except Exception as e:  # noqa: BLE001
        died(s, e)
    finally:
        chattr("-i", wal)
        if s.alive():
            s.kill()
        shutil.rmtree(data, ignore_errors=True)


harness.main()
