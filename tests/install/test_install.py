"""Install and service: every option documented (man page, README, example
configuration), the man page rendered without warnings, `make install` with
PREFIX and DESTDIR, the systemd units checked by systemd-analyze, the Debian
package built and its files and dependencies checked, and the packaged
service started the way its unit starts it.

systemd is not PID 1 here (nor on most CI machines), so a unit cannot be
started for real. The last tests come as close as a plain process can: the
package is unpacked into a throwaway root, and the unit's own ExecStart line
runs as an unprivileged user without new privileges or capabilities, with
the unit's LimitNOFILE and UMask, under strace; every system call it makes
must be one the unit's SystemCallFilter allows. What only systemd does
(DynamicUser, ProtectSystem and the other namespaces, the seccomp filter
itself, enabling at boot) is not exercised here; systemd-analyze verifies
the units and scores their exposure.

Run once (not per build): it builds the package from build/snakepit."""
import asyncio
import os
import pwd
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from harness import Player, free_port, test  # noqa: E402

BIN = os.path.join(ROOT, "build", "snakepit")
MAN = os.path.join(ROOT, "docs", "snakepit.1")
UNITS = ("snakepit.service", "snakepit@.service")


def sh(cmd, **kw):
    """Runs cmd (a list) and returns the CompletedProcess, output as text."""
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def options():
    """(name, takes a value, file option) of every option, from --help (which
    the option table writes)."""
    out = sh([BIN, "--help"]).stdout
    found = re.findall(r"^  --([a-z-]+)( [A-Z]+)?", out, re.M)
    assert len(found) >= 20, out
    cli_only = {"config", "help", "version"}
    return [(n, bool(arg), n not in cli_only) for n, arg in found]


# ---- documentation ---------------------------------------------------------

@test
def man_page_has_every_option():
    text = open(MAN).read()
    missing = [n for n, _, _ in options()
               if not re.search(r"^\.BI? \\-\\-" + re.escape(n.replace("-", "\\-")) + r"(\s|$)",
                                text, re.M)]
    assert not missing, f"no entry in docs/snakepit.1 for {missing}"
    for section in ("SIGNALS", "FILES", "EXIT STATUS", "ENVIRONMENT", "CONFIGURATION FILE"):
        assert re.search(r"^\.SH " + section + "$", text, re.M), section
    for word in ("SIGINT", "SIGTERM", "SIGHUP", "PORT"):
        assert word in text, word


@test
def readme_options_table_has_every_option():
    text = open(os.path.join(ROOT, "README.md")).read()
    rows = [n for cell in re.findall(r"^\| (`--[^|]*)\|", text, re.M)
            for n in re.findall(r"`--([a-z-]+)", cell)]
    missing = [n for n, _, _ in options() if n not in rows]
    assert not missing, f"README options table lacks {missing}"


@test
def example_configuration_names_every_file_option():
    text = open(os.path.join(ROOT, "deploy", "snakepit.conf")).read()
    missing = [n for n, _, in_file in options()
               if in_file and not re.search(r"^#? ?" + re.escape(n) + r" = ", text, re.M)]
    assert not missing, f"deploy/snakepit.conf lacks {missing}"


@test
def man_page_renders_without_warnings():
    r = sh(["groff", "-ww", "-z", "-man", MAN])
    assert r.returncode == 0 and not r.stderr, r.stderr
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    r = sh(["man", "--warnings", "-l", MAN], env=env)
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert "snakepit - real-time multiplayer snake game server" in r.stdout, r.stdout[:300]
    assert "--max-conns-per-ip" in r.stdout


# ---- make install ----------------------------------------------------------

def make(*args, **kw):
    r = sh(["make", "-s", "--no-print-directory", "-C", ROOT] + list(args), **kw)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def deploy_shared():
    """Every file of deploy/ that goes to share/snakepit (not the units)."""
    d = os.path.join(ROOT, "deploy")
    return sorted(f for f in tree(d) if not f.startswith("systemd/"))


@test
def make_install_honours_prefix_and_destdir():
    tmp = tempfile.mkdtemp(prefix="snakepit-inst-")
    try:
        make("install", f"DESTDIR={tmp}", "PREFIX=/opt/sp")
        want = sorted(["opt/sp/bin/snakepit", "opt/sp/share/man/man1/snakepit.1",
                       "opt/sp/lib/systemd/system/snakepit.service",
                       "opt/sp/lib/systemd/system/snakepit@.service",
                       "opt/sp/etc/snakepit/snakepit.conf"]
                     + ["opt/sp/share/snakepit/" + f for f in deploy_shared()])
        assert tree(tmp) == want, tree(tmp)
        assert os.stat(os.path.join(tmp, "opt/sp/bin/snakepit")).st_mode & 0o777 == 0o755
        unit = open(os.path.join(tmp, "opt/sp/lib/systemd/system/snakepit.service")).read()
        assert "ExecStart=/opt/sp/bin/snakepit --config /opt/sp/etc/snakepit/snakepit.conf " in unit
        assert "@" not in unit.replace("snakepit@", "").replace("@system-service", "") \
            .replace("~@privileged", ""), "a placeholder is left"
        # A configuration the administrator edited survives a second install.
        conf = os.path.join(tmp, "opt/sp/etc/snakepit/snakepit.conf")
        with open(conf, "a") as f:
            f.write("bots = 2\n")
        make("install", f"DESTDIR={tmp}", "PREFIX=/opt/sp")
        assert open(conf).read().endswith("bots = 2\n")
        make("uninstall", f"DESTDIR={tmp}", "PREFIX=/opt/sp")
        assert tree(tmp) == ["opt/sp/etc/snakepit/snakepit.conf"], tree(tmp)
        # PREFIX=/usr puts the configuration in /etc.
        shutil.rmtree(tmp)
        make("install", f"DESTDIR={tmp}", "PREFIX=/usr")
        unit = open(os.path.join(tmp, "usr/lib/systemd/system/snakepit.service")).read()
        assert "ExecStart=/usr/bin/snakepit --config /etc/snakepit/snakepit.conf " in unit
        assert os.path.exists(os.path.join(tmp, "etc/snakepit/snakepit.conf"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verify(unit_path, manpath):
    """systemd-analyze verify: exit 0 and not a word (unknown keys and bad
    values are only warnings). It also runs `man` for Documentation=man:,
    which must find the page installed with the unit (manpath)."""
    r = sh(["systemd-analyze", "verify", unit_path], env=dict(os.environ, MANPATH=manpath))
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), (unit_path, r.stdout + r.stderr)


@test
def units_pass_systemd_analyze():
    # Installed for real under a temporary PREFIX, so that the ExecStart
    # binary exists where the unit says (verify checks it).
    tmp = tempfile.mkdtemp(prefix="snakepit-units-")
    try:
        make("install", f"PREFIX={tmp}")
        units = os.path.join(tmp, "lib/systemd/system")
        manpath = os.path.join(tmp, "share", "man")
        verify(os.path.join(units, "snakepit.service"), manpath)
        inst = os.path.join(tmp, "snakepit@8081.service")  # an instance of the template
        shutil.copy(os.path.join(units, "snakepit@.service"), inst)
        verify(inst, manpath)
        for u in (os.path.join(units, "snakepit.service"), inst):
            r = sh(["systemd-analyze", "security", "--offline=yes", "--threshold=20", u])
            m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", r.stdout)
            assert r.returncode == 0 and m and float(m.group(1)) <= 2.0, r.stdout[-2000:]
        # verify must be able to fail: a unit with a mistake is reported.
        bad = os.path.join(tmp, "bad.service")
        with open(bad, "w") as f:
            f.write(open(os.path.join(units, "snakepit.service")).read()
                    .replace("ProtectSystem=strict", "ProtectSystem=sometimes"))
        r = sh(["systemd-analyze", "verify", bad])
        assert "bad.service:" in r.stderr and "sometimes" in r.stderr, r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- the Debian package ----------------------------------------------------

_deb = []


def deb():
    """Builds the package once; returns its path."""
    if not _deb:
        r = make("deb")
        path = os.path.join(ROOT, r.stdout.strip().splitlines()[-1])
        assert re.search(r"/snakepit_\d+\.\d+\.\d+-1_[a-z0-9]+\.deb$", path), path
        _deb.append(path)
    return _deb[0]


@test
def deb_has_the_files_and_the_dependencies():
    path = deb()
    listing = sh(["dpkg-deb", "-c", path]).stdout
    files = sorted(l.split()[-1][2:] for l in listing.splitlines() if not l.startswith("d"))
    want = sorted(["etc/snakepit/snakepit.conf", "lib/systemd/system/snakepit.service",
                   "lib/systemd/system/snakepit@.service", "usr/bin/snakepit",
                   "usr/share/doc/snakepit/copyright", "usr/share/man/man1/snakepit.1.gz"]
                  + ["usr/share/snakepit/" + f for f in deploy_shared()])
    assert files == want, files
    assert re.search(r"^-rwxr-xr-x root/root .* \./usr/bin/snakepit$", listing, re.M), listing
    assert all(" root/root " in l for l in listing.splitlines()), listing
    depends = sh(["dpkg-deb", "-f", path, "Depends"]).stdout
    for lib in ("libuv1", "libhttp-parser2.9", "libwslay1", "libssl3", "libjansson4",
                "libsqlite3-0", "libc6"):
        assert re.search(r"(^|, )" + re.escape(lib) + r" \(>= [^)]+\)", depends), (lib, depends)
    tmp = tempfile.mkdtemp(prefix="snakepit-deb-")
    try:
        sh(["dpkg-deb", "-e", path, tmp])
        assert open(os.path.join(tmp, "conffiles")).read() == "/etc/snakepit/snakepit.conf\n"
        for s in ("postinst", "prerm", "postrm"):
            p = os.path.join(tmp, s)
            assert os.access(p, os.X_OK), s
            r = sh(["sh", "-n", p])
            assert r.returncode == 0, (s, r.stderr)
        postinst = open(os.path.join(tmp, "postinst")).read()
        assert "deb-systemd-helper enable snakepit.service" in postinst
        assert "deb-systemd-invoke \"$action\" snakepit.service" in postinst
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # The binary in the package is the one built, stripped, and it runs.
    tmp = tempfile.mkdtemp(prefix="snakepit-deb-")
    try:
        sh(["dpkg-deb", "-x", path, tmp])
        r = sh([os.path.join(tmp, "usr/bin/snakepit"), "--version"])
        assert r.returncode == 0 and r.stdout.startswith("snakepit "), r
        man = sh(["man", "--warnings", "-l", os.path.join(tmp, "usr/share/man/man1/snakepit.1.gz")],
                 env=dict(os.environ, MANWIDTH="80"))
        assert man.returncode == 0 and not man.stderr and "SIGHUP" in man.stdout, man.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def apt_can_install_the_package():
    """apt resolves the package's dependencies on this Debian (a simulation:
    nothing is installed; the test needs root or a readable apt cache)."""
    r = sh(["apt-get", "install", "--simulate", "--reinstall", "--no-install-recommends", deb()])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^Inst snakepit ", r.stdout, re.M) and re.search(r"^Conf snakepit ", r.stdout, re.M), \
        r.stdout


def unit_service(path):
    """The [Service] settings of a unit file: key -> list of values."""
    out, section = {}, None
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            k, _, v = line.partition("=")
            out.setdefault(k, []).append(v)
    return out


def allowed_syscalls(filters):
    """What SystemCallFilter= lines allow, from systemd-analyze's own sets."""
    text = sh(["systemd-analyze", "syscall-filter"]).stdout
    sets, cur = {}, None
    for line in text.splitlines():
        if line.startswith("@"):
            cur = sets.setdefault(line.strip(), [])
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.append(line.strip())

    def expand(name, seen=()):
        if not name.startswith("@"):
            return {name}
        out = set()
        for m in sets[name]:
            if m not in seen:
                out |= expand(m, seen + (name,))
        return out

    allow = set()
    for f in filters:
        deny = f.startswith("~")
        names = set()
        for n in f.lstrip("~").split():
            names |= expand(n)
        allow = allow - names if deny else allow | names
    return allow


class Unpacked:
    """The package unpacked in a throwaway root, with a state directory
    owned by an unprivileged user, as systemd would make it. As root, the
    server runs as nobody; otherwise as the (unprivileged) user running the
    test."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="snakepit-root-")
        os.chmod(self.root, 0o755)
        sh(["dpkg-deb", "-x", deb(), self.root])
        self.state = os.path.join(self.root, "var", "lib")
        os.makedirs(self.state)
        self.user = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())

    def command(self, unit, instance=None):
        """The unit's ExecStart, with its paths moved into the root and the
        specifiers (%S, %i) filled in; creates the StateDirectory."""
        svc = unit_service(os.path.join(self.root, "lib/systemd/system", unit))
        words = []
        for w in shlex.split(svc["ExecStart"][0]):
            w = w.replace("%S", self.state).replace("%i", instance or "")
            if w.startswith(("/usr/", "/etc/")):
                w = self.root + w
            words.append(w)
        state = os.path.join(self.state, svc["StateDirectory"][0].replace("%i", instance or ""))
        os.makedirs(state, mode=int(svc["StateDirectoryMode"][0], 8))
        os.chown(state, self.user.pw_uid, self.user.pw_gid)
        return svc, words, state

    def run_as_unit(self, svc, words, strace_out=None):
        """Starts the command as the unit would, as far as a plain process
        can: user nobody, no new privileges, no capabilities, the unit's
        LimitNOFILE (as far as this process's hard limit goes) and UMask."""
        nofile = int(svc["LimitNOFILE"][0])
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nofile = min(nofile, hard) if hard != resource.RLIM_INFINITY else nofile
        umask = int(svc["UMask"][0], 8)

        def child():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            os.umask(umask)

        drop = ["setpriv", "--no-new-privs"]
        if os.geteuid() == 0:
            drop += [f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}",
                     "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
        pre = ["strace", "-f", "-qq", "-o", strace_out, "-e", "trace=all"] if strace_out else []
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        p = subprocess.Popen(pre + drop + words, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=env, preexec_fn=child, cwd="/")
        return p, nofile

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


class Lines:
    """Reads a process's stderr lines in a thread."""

    def __init__(self, proc):
        import threading
        self.lines = []
        self.t = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.t.start()

    def _read(self, proc):
        for raw in proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def wait_for(self, pattern, timeout=20):
        return harness.poll(lambda: next((re.search(pattern, l) for l in list(self.lines)
                                          if re.search(pattern, l)), None),
                            timeout, what=pattern)


class Addr:
    def __init__(self, port):
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/connect"


@test
def packaged_service_starts_as_its_unit_would():
    u = Unpacked()
    p = None
    try:
        svc, words, state = u.command("snakepit.service")
        # The unit listens on 0.0.0.0:8080; a test must use loopback and a
        # free port: the two flags are added after the unit's own words.
        port = free_port()
        trace = os.path.join(u.root, "strace.out")
        p, nofile = u.run_as_unit(svc, words + ["--host", "127.0.0.1", "--port", str(port)],
                                  strace_out=trace)
        out = Lines(p)
        m = out.wait_for(r"event=listening .*port=(\d+).* workers=(\d+).*max_conns=(\d+)")
        assert int(m.group(1)) == port
        workers = int(m.group(2))
        # The unit's LimitNOFILE is meant to give the default 50000 connections.
        assert int(m.group(3)) == min(50000, nofile - (64 + 4 * workers)), (m.group(0), nofile)
        assert not [l for l in out.lines if "fd_limit" in l], out.lines
        assert harness.healthz(port)

        async def play():
            pl = await Player.connect(Addr(port), name="unit")
            await pl.join()
            await pl.wait_born()
            await pl.die(10)
            await pl.close()
        asyncio.run(asyncio.wait_for(play(), 30))
        # ExecReload
        # p is strace; the server is its child (setpriv became the server).
        server_pid = int(sh(["pgrep", "-P", str(p.pid)]).stdout.split()[0])
        reload = svc["ExecReload"][0].replace("$MAINPID", str(server_pid))
        assert sh(shlex.split(reload)).returncode == 0
        out.wait_for(r"event=reload config=\S+snakepit\.conf\" applied=none not_applied=none")
        # Files the server made are its own (UMask=0077).
        db = os.path.join(state, "scores.db")
        harness.poll(lambda: os.path.exists(db), 5, what="scores.db")
        st = os.stat(db)
        assert st.st_uid == u.user.pw_uid and st.st_mode & 0o077 == 0, oct(st.st_mode)
        # SIGTERM, as systemctl stop sends it: exit 0 within TimeoutStopSec.
        os.kill(server_pid, signal.SIGTERM)
        code = p.wait(10)
        assert code == 0, (code, out.lines[-10:])
        out.t.join(2)
        assert any("event=stopped" in l for l in out.lines)
        # Every system call the server made is one SystemCallFilter allows.
        allow = allowed_syscalls(svc["SystemCallFilter"])
        assert "setrlimit" in allow and "epoll_wait" in allow and "setuid" not in allow
        used = syscalls_after_exec(trace, words[0])
        refused = sorted(used - allow)
        print(f"  {len(used)} distinct system calls, all allowed: {sorted(used)}", flush=True)
        assert used and not refused, f"calls outside SystemCallFilter: {refused}"
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        u.close()


def syscalls_after_exec(trace, binary):
    """The system calls in an strace -f log from the execve of binary on:
    before it, setpriv drops privileges with calls the unit never needs (the
    server's threads only exist after it)."""
    used, started = set(), False
    for line in open(trace):
        m = re.match(r"\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", line)
        if not m:
            continue
        if not started:
            started = m.group(1) == "execve" and f'"{binary}"' in line
            continue
        used.add(m.group(1))
    return used


@test
def packaged_template_serves_its_port():
    u = Unpacked()
    p = None
    try:
        port = free_port()
        svc, words, state = u.command("snakepit@.service", instance=str(port))
        assert "--port" in words and str(port) in words, words
        assert state.endswith(f"snakepit-{port}")
        p, _ = u.run_as_unit(svc, words + ["--host", "127.0.0.1"])
        out = Lines(p)
        m = out.wait_for(r"event=listening .*port=(\d+)")
        assert int(m.group(1)) == port
        assert harness.healthz(port)
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
        assert os.path.exists(os.path.join(state, "scores.db"))
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        u.close()


harness.main(timeout=120)
