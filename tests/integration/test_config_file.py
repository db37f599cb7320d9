"""--config FILE and SIGHUP: the file sets options, a flag wins over it, a
bad line names the file and the line (exit 2); SIGHUP reads the file again,
applies what may change at run time, logs one `restart_needed` line for each
change that may not, and a `reload` line listing both."""
import os
import shutil
import subprocess
import tempfile

import harness
from harness import BIN, Server, test


class Dir:
    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="snakepit-conf-")

    def write(self, name, text):
        p = os.path.join(self.path, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def fields(line):
    return dict(f.split("=", 1) for f in line.split() if "=" in f)


def listening(server):
    return fields(next(l for l in server.lines if "event=listening" in l))


def run(args, timeout=5.0):
    env = dict(os.environ)
    env.pop("PORT", None)
    p = subprocess.run([BIN] + args, capture_output=True, timeout=timeout, env=env)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


@test
def file_sets_options_and_a_flag_wins():
    with Dir() as d:
        conf = d.write("a.conf", "# snakepit\n\ntick-rate = 20\nfield = 30x20\n"
                                 "bots = 2   # a comment after a value\nround-seconds = 60\n"
                                 "max-players = 4\n")
        with Server("--config", conf, "--field", "40x30") as s:
            f = listening(s)
            assert f["tick_rate"] == "20" and f["bots"] == "2", f
            assert f["round_seconds"] == "60" and f["max_players"] == "4", f
            assert f["field"] == "40x30", f  # the flag, not the file
            assert harness.healthz(s.port)


@test
def bad_lines_name_the_file_and_the_line():
    with Dir() as d:
        cases = [("port = 8080\nbogus = 1\n", ":2: unknown option 'bogus'"),
                 ("\n\nmax-players = 0\n", ":3: invalid value for max-players: '0' (1..1000)"),
                 ("tick-rate\n", ":1: expected 'name = value'"),
                 ("help = 1\n", ":1: 'help' is for the command line only")]
        for i, (text, want) in enumerate(cases):
            conf = d.write(f"bad{i}.conf", text)
            code, out, err = run(["--config", conf, "--port", "0", "--data", d.path])
            lines = [l for l in err.splitlines() if l.strip()]
            assert code == 2, (text, code, err)
            assert len(lines) == 1 and lines[0].startswith(f"snakepit: {conf}{want}"), (text, lines)
        code, out, err = run(["--config", os.path.join(d.path, "missing.conf")])
        assert code == 2 and "cannot read configuration file" in err and "missing.conf" in err, err


@test
def sighup_applies_the_log_level_and_names_what_needs_a_restart():
    with Dir() as d:
        conf = d.write("r.conf", "log-level = info\ntick-rate = 10\n")
        with Server("--config", conf) as s:
            harness.http_get(s.port, "/healthz")
            assert not s.log_has("event=conn_closed", 0.3), "debug line at info"
            # The port comes from the flag (--port 0): the file cannot move it.
            d.write("r.conf", "log-level = debug\ntick-rate = 20\nmax-conns-per-ip = 5\n"
                              "port = 1\n")
            after = s.reload(r"event=reload ")
            reload = [l for l in after if "event=reload " in l]
            assert len(reload) == 1, after
            assert "applied=max-conns-per-ip,log-level not_applied=tick-rate" in reload[0], reload
            restart = [fields(l) for l in after if "event=restart_needed" in l]
            assert [r["option"] for r in restart] == ["tick-rate"], after
            assert restart[0]["running"] == '"10"' and restart[0]["asked"] == '"20"', restart
            assert all("level=warn" in l for l in after if "restart_needed" in l)
            assert not [l for l in after if "option=port" in l], after
            # debug is in force now
            harness.http_get(s.port, "/healthz")
            assert s.log_has("level=debug event=conn_closed"), s.lines[-5:]
            # the game still runs with the settings it started with
            assert harness.healthz(s.port)


@test
async def sighup_lowers_the_limits_for_open_and_new_connections():
    """--max-message and --max-conns-per-ip from the file, lowered by a
    reload: an open WebSocket is held to the new size at once, a new one
    too, and a third connection from the address is refused; --bots, which
    needs a restart, is named as such and the game keeps its bots."""
    import asyncio
    with Dir() as d:
        conf = d.write("l.conf", "max-message = 4096\nmax-conns-per-ip = 10\nbots = 0\n")
        with Server("--config", conf) as s:
            old = harness.RawWS(s.port, "/connect?room=lim")
            old.send_text("x" * 1000)  # fine before the reload
            old.send_text('["new_player", "ann"]')
            assert old.recv_json()[0][0] == "handshake"
            d.write("l.conf", "max-message = 100\nmax-conns-per-ip = 2\nbots = 3\n")
            after = s.reload(r"event=reload ")
            line = next(l for l in after if "event=reload " in l)
            assert "applied=max-message,max-conns-per-ip not_applied=bots" in line, line
            restart = [fields(l) for l in after if "event=restart_needed" in l]
            assert [(r["option"], r["running"], r["asked"]) for r in restart] == \
                [("bots", '"0"', '"3"')], restart
            # The workers apply it from their mailboxes: a new connection
            # sees it once they have (a deadline, not a sleep).
            def refused_third():
                socks = [harness.tcp_connect(s.port), harness.tcp_connect(s.port)]
                try:
                    data, _ = harness.read_to_eof(socks[1], 1.0)
                    return data.startswith(b"HTTP/1.1 503")
                finally:
                    for so in socks:
                        so.close()
            harness.poll(refused_third, 5, what="the per-address limit of 2")
            # The open WebSocket: 200 bytes is over the new limit.
            old.send_text("y" * 200)
            assert old.recv_close() == 1009
            old.close()

            # A new connection is within the limit of 2 once the server has
            # counted the closes before it (it does so as it reads them;
            # till then: 503).
            def accepted():
                try:
                    return harness.RawWS(s.port, "/connect?room=lim")
                except AssertionError as e:
                    if "503" not in str(e):
                        raise
                    return None
            new = harness.poll(accepted, 5, what="a connection within the limit")
            new.send_text("z" * 101)
            assert new.recv_close() == 1009
            new.close()
            ok = harness.poll(accepted, 5, what="a connection within the limit")
            ok.send_text('["new_player", "bob"]')
            assert ok.recv_json()[0][0] == "handshake"
            ok.close()


@test
def sighup_switches_the_log_to_json():
    """The new format applies before the reload is logged: the reload line
    and the warnings are already JSON."""
    import json
    with Dir() as d:
        conf = d.write("j.conf", "bots = 0\n")
        with Server("--config", conf) as s:
            d.write("j.conf", "bots = 1\nlog-format = json\n")
            after = s.reload(r'"event":"reload"')
            objs = [json.loads(l) for l in after if l.startswith("{")]
            assert [o["event"] for o in objs] == ["restart_needed", "reload"], after
            assert objs[0]["option"] == "bots" and objs[0]["asked"] == "1", objs
            assert objs[1]["applied"] == "log-format" and objs[1]["not_applied"] == "bots", objs
            harness.http_get(s.port, "/healthz")
            assert s.alive()


@test
def sighup_with_a_broken_file_keeps_running_as_before():
    with Dir() as d:
        conf = d.write("b.conf", "bots = 1\n")
        with Server("--config", conf) as s:
            d.write("b.conf", "bots = 1\nlog-level = loud\n")
            after = s.reload(r"event=reload_failed")
            line = next(l for l in after if "reload_failed" in l)
            assert "b.conf:2: invalid value for log-level: 'loud'" in line, line
            assert "level=error" in line
            assert harness.healthz(s.port)
            # Fixed again: the next SIGHUP reads it.
            d.write("b.conf", "bots = 1\n")
            after = s.reload(r"event=reload ")
            assert any("applied=none not_applied=none" in l for l in after), after


@test
def sighup_without_a_file_only_reopens_the_log():
    with Server() as s:
        after = s.reload(r"event=reload config=none")
        assert s.alive() and harness.healthz(s.port), after


@test
def example_configuration_starts():
    """deploy/snakepit.conf is what `make install` puts in /etc: it must be
    a valid file that leaves the server at its defaults."""
    conf = os.path.join(harness.ROOT, "deploy", "snakepit.conf")
    with Server("--config", conf) as s:
        f = listening(s)
        assert f["tick_rate"] == "10" and f["field"] == "50x25", f
        assert harness.healthz(s.port)


harness.main()
