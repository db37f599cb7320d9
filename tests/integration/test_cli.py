"""Command line: --help, --version, invalid values (one line, exit 2), $PORT,
--data creation, the smallest field, --log-level."""
import asyncio
import os
import resource
import shutil
import socket
import subprocess
import tempfile

import harness
from harness import BIN, Player, Server, free_port, test

OPTIONS = ["--host", "--port", "--data", "--static", "--tick-rate", "--max-players", "--field",
           "--seed", "--max-message", "--max-queue", "--sndbuf", "--log-level", "--help", "--version"]


def run(args, timeout=5.0, env=None, cwd=None):
    """Runs the binary to completion; returns (status, stdout, stderr). A
    binary still running after timeout (it accepted the arguments and is
    serving) is killed and reported."""
    full_env = dict(os.environ)
    full_env.pop("PORT", None)
    full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    if env:
        full_env.update(env)
    p = subprocess.Popen([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env,
                         cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"{args}: still running after {timeout}s (accepted?); stderr={err.decode()[-500:]}")
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


@test
def help_lists_every_option():
    code, out, err = run(["--help"])
    assert code == 0, (code, err)
    missing = [o for o in OPTIONS if o not in out]
    assert not missing, f"--help (stdout) does not mention {missing}:\n{out}"


@test
def version_exits_0():
    code, out, err = run(["--version"])
    assert code == 0, (code, err)
    assert out.strip(), "nothing on stdout"
    assert any(ch.isdigit() for ch in out), out


INVALID = [
    (["--port", "70000"], "port"),
    (["--port", "65536"], "port"),
    (["--port", "-1"], "port"),
    (["--port", "abc"], "port"),
    (["--port", "80x"], "port"),
    (["--port"], "port"),                      # missing value
    (["--tick-rate", "0"], "tick-rate"),
    (["--tick-rate", "-2"], "tick-rate"),
    (["--tick-rate", "abc"], "tick-rate"),
    (["--tick-rate", "nan"], "tick-rate"),
    (["--tick-rate", ""], "tick-rate"),
    (["--field", "3x3"], "field"),
    (["--field", "10x11"], "field"),
    (["--field", "11x10"], "field"),
    (["--field", "20"], "field"),
    (["--field", "20x"], "field"),
    (["--field", "x12"], "field"),
    (["--field", "20x12junk"], "field"),
    (["--field", "-20x12"], "field"),
    (["--max-players", "0"], "max-players"),
    (["--max-players", "-3"], "max-players"),
    (["--max-players", "abc"], "max-players"),
    (["--max-message", "abc"], "max-message"),
    (["--max-message", "-5"], "max-message"),
    (["--max-queue", "abc"], "max-queue"),
    (["--max-queue", "-1"], "max-queue"),
    (["--sndbuf", "-1"], "sndbuf"),
    (["--sndbuf", "16777217"], "sndbuf"),
    (["--seed", "abc"], "seed"),
    (["--log-level", "loud"], "log-level"),
    (["--log-level", ""], "log-level"),
    (["--host", "999.1.1.1"], "host"),
    (["--bogus"], "bogus"),
    (["--bogus", "1"], "bogus"),
]


@test
def invalid_values_exit_2_with_one_line():
    tmp = tempfile.mkdtemp(prefix="snakepit-cli-")
    problems = []
    try:
        for args, name in INVALID:
            try:
                code, out, err = run(["--host", "127.0.0.1", "--port", "0", "--data", tmp] + args, timeout=3)
            except AssertionError as e:
                problems.append(str(e))
                continue
            lines = [l for l in err.splitlines() if l.strip()]
            if code != 2:
                problems.append(f"{args}: exit {code} (want 2); stderr={err[-300:]!r}")
            elif len(lines) != 1:
                problems.append(f"{args}: {len(lines)} lines on stderr (want 1): {err[-500:]!r}")
            elif name not in lines[0]:
                problems.append(f"{args}: stderr line does not name {name!r}: {lines[0]!r}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert not problems, "\n".join(problems)


@test
def valid_values_accepted():
    # decimals for the tick rate, the smallest field, every log level
    for args in (["--tick-rate", "2.5"], ["--tick-rate", "0.5"], ["--field", "11x11"],
                 ["--max-players", "1"], ["--max-message", "100"], ["--max-queue", "65536"],
                 ["--seed", "12345"], ["--log-level", "debug"], ["--log-level", "info"]):
        with Server(*args) as s:
            assert harness.healthz(s.port), args


@test
def log_level_warn_hides_info():
    for level in ("warn", "error"):
        port = free_port()
        with Server("--log-level", level, port=port, wait=False) as s:
            harness.poll(lambda: harness.healthz(port), 10, what=f"server with --log-level {level}")
            info = [l for l in s.lines if "level=info" in l or "level=debug" in l]
            assert not info, f"--log-level {level} still logs: {info[:3]}"


def listening_on(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@test
def env_port_is_honoured():
    port = free_port()
    with Server(port=None, env={"PORT": str(port)}) as s:
        assert s.port == port, (s.port, port)
        assert harness.healthz(port)


@test
def port_flag_wins_over_env():
    env_port, flag_port = free_port(), free_port()
    while flag_port == env_port:
        flag_port = free_port()
    with Server(port=flag_port, env={"PORT": str(env_port)}) as s:
        assert s.port == flag_port, (s.port, flag_port)
        assert harness.healthz(flag_port)
        assert not listening_on(env_port)


@test
def data_dir_created_if_missing():
    tmp = tempfile.mkdtemp(prefix="snakepit-cli-")
    try:
        data = os.path.join(tmp, "fresh")
        assert not os.path.exists(data)
        with Server(data=data) as s:
            assert os.path.isdir(data), os.listdir(tmp)
            assert harness.healthz(s.port)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
async def smallest_field_11x11_plays():
    """A newborn snake fits the 11x11 field; GAME OVER text (19 chars) does
    not fit and must be clipped without harm."""
    with Server("--field", "11x11", "--tick-rate", "50") as s:
        p = await Player.connect(s, name="tiny")
        assert (p.w, p.h) == (11, 11), (p.w, p.h)
        await p.join()
        await p.wait_born()
        mine = [(x, y) for y in range(11) for x in range(11)
                if p.grid[y][x][1] == p.color and p.grid[y][x][0] in "*@%"]
        assert len(mine) == 3, mine
        await p.die(5)
        # the loop stops: no more frames
        for _ in range(20):
            if await p.quiet(0.3):
                break
        else:
            raise AssertionError("frames still arriving after GAME OVER")
        await p.close()
        assert await asyncio.to_thread(harness.healthz, s.port)


def listening_fields(server):
    """The key=value fields of the server's `event=listening` line."""
    line = next(l for l in server.lines if "event=listening" in l)
    return dict(f.split("=", 1) for f in line.split() if "=" in f)


@test
def missing_value_is_reported_not_taken_from_the_next_option():
    """`--port --bots 3` used to report "invalid value for --port: '--bots'"
    (or, for a path, to run with a data directory called --port)."""
    tmp = tempfile.mkdtemp(prefix="snakepit-cli-")
    problems = []
    try:
        for args, opt in ((["--port", "--bots", "3"], "--port"),
                          (["--data", "--port", "0"], "--data"),
                          (["--tick-rate", "--field", "20x20"], "--tick-rate"),
                          (["--host", "--port=0"], "--host")):
            code, out, err = run(["--data", tmp] + args if opt != "--data" else args, timeout=3,
                                 cwd=tmp)
            lines = [l for l in err.splitlines() if l.strip()]
            if code != 2 or len(lines) != 1 or opt not in lines[0] or "needs a value" not in lines[0]:
                problems.append(f"{args}: exit {code}, stderr {err[-300:]!r}")
        assert not os.path.exists(os.path.join(tmp, "--port")), "ran with --data --port"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert not problems, "\n".join(problems)


@test
def host_name_is_resolved_and_the_address_logged():
    expected = socket.getaddrinfo("localhost", None, socket.AF_INET)[0][4][0]
    with Server("--host", "localhost") as s:
        f = listening_fields(s)
        assert f["host"] == expected, (f, expected)
        assert s.log_has(r"event=host_resolved name=localhost .*host=" + expected), s.lines
        assert harness.healthz(s.port)


@test
def bad_host_names_are_refused():
    for bad in ("no such host", "bad_name!", "-leading.dash", "a..b", "x" * 300):
        code, out, err = run(["--host", bad, "--port", "0"], timeout=3)
        lines = [l for l in err.splitlines() if l.strip()]
        assert code == 2 and len(lines) == 1 and "host" in lines[0], (bad, code, err)


def fd_reserve(workers):
    """Descriptors kept for everything but connections (README, "Limits")."""
    return 64 + 4 * workers


def workers_of(server):
    return int(listening_fields(server)["workers"])


@test
def plain_start_sizes_max_conns_to_the_descriptor_limit():
    """The default --max-conns used to warn `fd_limit` on every start where
    the hard limit is below 50064 (as here)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with Server() as s:
        assert not [l for l in s.lines if "fd_limit" in l], s.lines
        f = listening_fields(s)
        want = min(50000, hard - fd_reserve(workers_of(s))) if hard != resource.RLIM_INFINITY else 50000
        assert int(f["max_conns"]) == want, (f, hard)


def nofile(soft, hard):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def soft_nofile(pid):
    with open(f"/proc/{pid}/limits") as f:
        for l in f:
            if l.startswith("Max open files"):
                return int(l.split()[3])
    raise AssertionError("no Max open files in /proc/PID/limits")


@test
def low_descriptor_limit_raises_soft_to_hard_without_a_warning():
    with Server(preexec_fn=nofile(256, 1024)) as s:
        f = listening_fields(s)
        assert int(f["max_conns"]) == 1024 - fd_reserve(workers_of(s)), f
        assert soft_nofile(s.proc.pid) == 1024
        assert not [l for l in s.lines if "fd_limit" in l], s.lines
    with Server("--max-conns", "500", preexec_fn=nofile(256, 1024)) as s:
        assert int(listening_fields(s)["max_conns"]) == 500
        assert soft_nofile(s.proc.pid) >= 500 + fd_reserve(workers_of(s))
        assert not [l for l in s.lines if "fd_limit" in l], s.lines


@test
def asking_for_more_conns_than_descriptors_warns_once():
    with Server("--max-conns", "5000", preexec_fn=nofile(256, 1024)) as s:
        got = 1024 - fd_reserve(workers_of(s))
        warn = [l for l in s.lines if "fd_limit" in l]
        assert len(warn) == 1 and "level=warn" in warn[0], s.lines
        assert "max_conns_asked=5000" in warn[0] and f"max_conns={got}" in warn[0], warn
        assert int(listening_fields(s)["max_conns"]) == got


@test
def listening_line_shows_bots_and_round_length():
    with Server("--bots", "2", "--round-seconds", "30") as s:
        f = listening_fields(s)
        assert f.get("bots") == "2" and f.get("round_seconds") == "30", f
    with Server() as s:
        f = listening_fields(s)
        assert f.get("bots") == "0" and f.get("round_seconds") == "0", f


harness.main()
