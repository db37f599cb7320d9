"""GET /metrics: the Prometheus text format (0.0.4) that `promtool check
metrics` accepts, with every series of README "Operations" (per-worker
series labelled worker="N"), values that follow what happened (ticks,
players, refusals, close codes, limits), cluster series in cluster mode,
and Debian's Prometheus server scraping it and answering a query."""
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import harness
from harness import Player, Server, test

GAME = ("--tick-rate", "20", "--field", "30x20")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')


def scrape(port):
    status, headers, body = harness.http_get(port, "/metrics")
    assert status == 200, (status, body[:200])
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8", headers
    return body.decode()


def parse(text):
    """{name: [(labels dict, value)]} and {name: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        samples.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return samples, types


def total(samples, name, **want):
    rows = samples.get(name)
    assert rows is not None, f"no {name}"
    return sum(v for labels, v in rows if all(labels.get(k) == str(x) for k, x in want.items()))


def promtool(text):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode()
    return p.returncode, out


def workers(server):
    line = next(l for l in server.lines if "event=listening" in l)
    return int(re.search(r"\bworkers=(\d+)", line).group(1))


PER_WORKER = {
    "snakepit_connections_open": "gauge",
    "snakepit_connections_accepted_total": "counter",
    "snakepit_connections_refused_total": "counter",
    "snakepit_http_requests_total": "counter",
    "snakepit_websocket_closes_total": "counter",
    "snakepit_websocket_messages_received_total": "counter",
    "snakepit_websocket_messages_sent_total": "counter",
    "snakepit_received_bytes_total": "counter",
    "snakepit_sent_bytes_total": "counter",
    "snakepit_limits_hit_total": "counter",
    "snakepit_slow_readers_cut_total": "counter",
    "snakepit_rooms": "gauge",
    "snakepit_snakes": "gauge",
    "snakepit_players": "gauge",
    "snakepit_deaths_total": "counter",
    "snakepit_ticks_total": "counter",
    "snakepit_ticks_late_total": "counter",
    "snakepit_tick_duration_seconds": "histogram",
    "snakepit_bot_searches_total": "counter",
    "snakepit_bot_search_seconds_total": "counter",
    "snakepit_bot_answers_late_total": "counter",
}


@test
async def a_scrape_during_a_game_is_valid_and_complete():
    with Server(*GAME, "--bots", "1") as s:
        p = await Player.connect(s, room="m1", name="ann")
        await p.join()
        p.autopilot = "survive"
        # Ticks went by: the bot's searches too.
        await harness.apoll(lambda: total(parse(scrape(s.port))[0], "snakepit_ticks_total") >= 10,
                            10, what="ticks")
        text = scrape(s.port)
        code, out = promtool(text)
        print("promtool check metrics:", repr(out.strip()) or "(nothing)", "exit", code)
        assert code == 0 and out.strip() == "", out
        samples, types = parse(text)
        assert samples["snakepit_build_info"] == [({"version": "0.1.0"}, 1.0)], samples["snakepit_build_info"]
        for name, kind in PER_WORKER.items():
            assert types.get(name) == kind, (name, types.get(name))
            series = name + "_count" if kind == "histogram" else name
            got = {labels.get("worker") for labels, _ in samples[series]}
            assert got == {str(i) for i in range(workers(s))}, (name, got)
        assert total(samples, "snakepit_rooms") == 1
        assert total(samples, "snakepit_players") == 1
        assert total(samples, "snakepit_snakes") in (1, 2)  # ann and bot-1, unless ann died
        assert total(samples, "snakepit_connections_open", state="websocket") == 1
        assert total(samples, "snakepit_bot_searches_total") > 0
        # The histogram: cumulative buckets, +Inf = _count = ticks.
        for w in range(workers(s)):
            buckets = [(float(l["le"]), v) for l, v in samples["snakepit_tick_duration_seconds_bucket"]
                       if l["worker"] == str(w)]
            assert buckets == sorted(buckets), buckets
            assert [v for _, v in buckets] == sorted(v for _, v in buckets), buckets
            assert buckets[-1][0] == float("inf")
            count = total(samples, "snakepit_tick_duration_seconds_count", worker=w)
            assert buckets[-1][1] == count == total(samples, "snakepit_ticks_total", worker=w), (w, buckets)
        assert total(samples, "snakepit_tick_duration_seconds_sum") > 0
        assert total(samples, "snakepit_score_writes_total", store="sqlite") >= 0
        # A single node has no cluster series.
        assert "snakepit_redis_up" not in samples
        await p.close()
        # The connection is gone, the room with it.
        await harness.apoll(lambda: total(parse(scrape(s.port))[0], "snakepit_rooms") == 0,
                            5, what="the room closed")
        samples, _ = parse(scrape(s.port))
        assert total(samples, "snakepit_players") == 0 and total(samples, "snakepit_snakes") == 0
        assert total(samples, "snakepit_websocket_closes_total", code=1000) == 1, \
            samples["snakepit_websocket_closes_total"]
        assert total(samples, "snakepit_deaths_total") >= 1


@test
async def counters_follow_refusals_limits_and_traffic():
    with Server(*GAME, "--max-conns-per-ip", "2", "--max-message", "100") as s:
        before, _ = parse(scrape(s.port))
        a = await Player.connect(s, room="m2", name="bea")
        await a.send(["chat", "x"])
        ws = harness.RawWS(s.port, "/connect?room=m2")
        # A third connection from 127.0.0.1: refused by --max-conns-per-ip.
        third = harness.tcp_connect(s.port)
        data, how = harness.read_to_eof(third)
        third.close()
        assert data.startswith(b"HTTP/1.1 503"), data
        # Too big a message: 1009.
        ws.send_text("x" * 200)
        assert ws.recv_close() == 1009
        ws.close()

        # The scrape is a connection of its own: it may meet the closed
        # one still counted (503) until the server has read the close.
        def closed_and_counted():
            status, _, body = harness.http_get(s.port, "/metrics")
            if status != 200:
                return None
            now, _ = parse(body.decode())
            return now if total(now, "snakepit_websocket_closes_total", code=1009) > \
                total(before, "snakepit_websocket_closes_total", code=1009) else None
        after = await harness.apoll(closed_and_counted, 5, what="the 1009 close counted")
        d = lambda name, **kw: total(after, name, **kw) - total(before, name, **kw)
        assert d("snakepit_connections_refused_total", reason="max_conns_per_ip") == 1
        assert d("snakepit_connections_refused_total", reason="max_conns") == 0
        assert d("snakepit_limits_hit_total", limit="max_conns_per_ip") == 1
        assert d("snakepit_limits_hit_total", limit="max_message") == 1
        assert d("snakepit_websocket_closes_total", code=1009) == 1
        assert d("snakepit_connections_accepted_total") >= 3  # a, ws, and this scrape
        assert d("snakepit_websocket_messages_received_total") >= 2  # new_player, chat
        assert d("snakepit_websocket_messages_sent_total") >= 3  # the greeting's frames
        assert d("snakepit_received_bytes_total") > 200
        assert d("snakepit_sent_bytes_total") > 500
        assert d("snakepit_http_requests_total") >= 3  # 2 upgrades and the first scrape
        await a.close()


@test
def cluster_mode_adds_the_cluster_series():
    """Redis not reachable (nothing listens on the port): the node runs,
    /metrics says Redis is down and no lease is held."""
    with Server("--redis", f"redis://127.0.0.1:{harness.free_port()}", "--redis-timeout", "0.2",
                "--lease-time", "1") as s:
        text = scrape(s.port)
        code, out = promtool(text)
        assert code == 0 and out.strip() == "", out
        samples, types = parse(text)
        assert samples["snakepit_redis_up"] == [({}, 0.0)], samples.get("snakepit_redis_up")
        assert types["snakepit_redis_up"] == "gauge"
        assert samples["snakepit_leases_held"] == [({}, 0.0)]
        assert types["snakepit_lease_losses_total"] == "counter"
        assert types["snakepit_redis_outages_total"] == "counter"
        assert total(samples, "snakepit_score_writes_total", store="redis") == 0


def prom_query(port, q):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=2) as r:
        return json.loads(r.read())


@test
async def prometheus_scrapes_the_server_and_answers_a_query():
    """Debian's Prometheus server, configured by the test, scrapes /metrics
    every second; a series of the game comes back through its HTTP API."""
    if harness.SANITIZED or os.environ.get("SNAKEPIT_WORKERS") == "1":
        # Once per `make test` (the plain build with 2 loops): the server's
        # side is the same scrape as above, checked with promtool each time.
        print("(run by the plain build with 2 workers)")
        return
    tmp = tempfile.mkdtemp(prefix="snakepit-prom-")
    prom = None
    try:
        with Server(*GAME) as s:
            p = await Player.connect(s, room="prom", name="cy")
            await p.join()
            p.autopilot = "survive"
            conf = os.path.join(tmp, "prometheus.yml")
            with open(conf, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                        "scrape_configs:\n  - job_name: snakepit\n    static_configs:\n"
                        f"      - targets: ['127.0.0.1:{s.port}']\n")
            web = harness.free_port()
            prom = subprocess.Popen([PROMETHEUS, f"--config.file={conf}",
                                     f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
                                     f"--web.listen-address=127.0.0.1:{web}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

            def ticks_seen():
                try:
                    doc = prom_query(web, 'sum(snakepit_ticks_total{job="snakepit"})')
                except OSError:
                    return None
                res = doc.get("data", {}).get("result", [])
                return float(res[0]["value"][1]) if res and float(res[0]["value"][1]) > 0 else None

            t0 = time.monotonic()
            ticks = await harness.apoll(ticks_seen, 30, interval=0.2, what="Prometheus answering")
            print(f"measured: Prometheus answered sum(snakepit_ticks_total) = {ticks:g} "
                  f"{time.monotonic() - t0:.1f} s after it started")
            doc = prom_query(web, 'snakepit_build_info')
            assert doc["data"]["result"][0]["metric"]["version"] == "0.1.0", doc
            doc = prom_query(web, 'up{job="snakepit"}')
            assert doc["data"]["result"][0]["value"][1] == "1", doc
            await p.close()
    finally:
        if prom:
            prom.terminate()
            try:
                prom.wait(10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
        shutil.rmtree(tmp, ignore_errors=True)


harness.main()
