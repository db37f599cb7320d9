"""Logs: --log-format json (one JSON object a line with the fields of the
logfmt line, values from peers kept inside their field), --log-file with
SIGHUP reopening it after a rotation, and a log file that cannot be opened
(one line, exit 1)."""
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

import harness
from harness import BIN, Player, RawWS, Server, test


def json_lines(server):
    out = []
    for l in list(server.lines):
        if not l.startswith("{"):
            continue  # a sanitizer's report, not ours
        out.append(json.loads(l))
    return out


@test
async def json_lines_carry_every_field():
    with Server("--log-format", "json", "--bots", "1", "--tick-rate", "20") as s:
        p = await Player.connect(s, name="jay")
        await p.join()
        await p.wait_born()
        await p.close()
        assert s.log_has(r'"event":"new_player"')
        lines = [l for l in s.lines if l.strip()]
        assert lines and all(l.startswith("{") and l.endswith("}") for l in lines), lines[:5]
        objs = json_lines(s)
        assert len(objs) == len(lines)
        for o in objs:
            assert list(o)[:3] == ["ts", "level", "event"], o
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["ts"]), o
            assert o["level"] in ("debug", "info", "warn", "error"), o
        lis = next(o for o in objs if o["event"] == "listening")
        assert lis["port"] == s.port and lis["host"] == "127.0.0.1", lis
        assert lis["bots"] == 1 and lis["tick_rate"] == 20 and lis["field"] == "50x25", lis
        assert isinstance(lis["version"], str) and isinstance(lis["workers"], int), lis
        player = next(o for o in objs if o["event"] == "new_player")
        assert player["name"] == "jay" and player["room"] == "default", player
        assert isinstance(player["conn"], int) and ":" in player["peer"], player


@test
def json_keeps_hostile_values_in_their_field():
    """An Origin header is logged as it came (quoted); in JSON it must stay
    one string value: no forged field, no second line."""
    origin = 'http://evil" level=error event=pwned \\" {"x":1}'
    with Server("--log-format", "json", "--allowed-origins", "http://good") as s:
        try:
            RawWS(s.port, extra=f"Origin: {origin}\r\n")
            raise AssertionError("upgrade with a foreign Origin accepted")
        except AssertionError as e:
            assert "403" in str(e), e
        assert s.log_has(r'"event":"origin_refused"')
        refused = [o for o in json_lines(s) if o["event"] == "origin_refused"]
        assert len(refused) == 1, refused
        assert refused[0]["origin"] == origin and refused[0]["level"] == "info", refused
        assert not [o for o in json_lines(s) if o["event"] == "pwned"]


@test
def logfmt_stays_the_default():
    with Server() as s:
        lis = next(l for l in s.lines if "event=listening" in l)
        assert re.match(r"ts=\S+Z level=info event=listening host=127\.0\.0\.1 port=\d+ ", lis), lis


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


@test
def log_file_is_reopened_on_sighup():
    tmp = tempfile.mkdtemp(prefix="snakepit-logs-")
    try:
        log = os.path.join(tmp, "snakepit.log")
        with Server("--log-file", log, wait=False) as s:
            m = harness.poll(lambda: re.search(r"event=listening .*port=(\d+)", read(log)), 10,
                             what="listening line in the log file")
            s.port = int(m.group(1))
            assert harness.healthz(s.port)
            assert not [l for l in s.lines if "event=" in l], s.lines  # nothing on stderr
            os.rename(log, log + ".1")  # what logrotate does
            s.proc.send_signal(signal.SIGHUP)
            harness.poll(lambda: "event=reload config=none" in read(log), 5,
                         what="reload line in the new file")
            assert "event=listening" not in read(log)
            assert "event=listening" in read(log + ".1")
            assert "event=reload" not in read(log + ".1")
            assert oct(os.stat(log).st_mode & 0o777) == "0o640"
            assert s.stop() == 0
            assert "event=stopped" in read(log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def unopenable_log_file_exits_1_with_one_line():
    env = dict(os.environ)
    env.pop("PORT", None)
    tmp = tempfile.mkdtemp(prefix="snakepit-logs-")
    try:
        p = subprocess.run([BIN, "--port", "0", "--host", "127.0.0.1", "--data", tmp,
                            "--log-file", "/nonexistent/dir/x.log"],
                           capture_output=True, timeout=5, env=env)
        lines = [l for l in p.stderr.decode().splitlines() if l.strip()]
        assert p.returncode == 1, (p.returncode, lines)
        assert len(lines) == 1 and "/nonexistent/dir/x.log" in lines[0], lines
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


harness.main()
