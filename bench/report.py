#!/usr/bin/env python3
"""Turns the raw runs of bench/run.sh into results: medians, ratios to the
floor, the sweep and the targets of issue 4.

  report.py verdict RAW W N GAP_LIMIT LOSS_TOL   prints pass or fail for one figure
  report.py report RAW OUT_BASE [options]        writes OUT_BASE.json and OUT_BASE.md

RAW has one JSON object per line: {"kind":"run"|"floor"|"sweep", ...}.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

RUN_FIELDS = [
    "connected", "connect_failures", "unexpected_closes", "protocol_errors",
    "msgs_per_s", "bytes_per_s", "render_frames_per_s", "expected_msgs_per_s",
    "delivery_ratio", "frames_lost_est", "loss_ratio", "tick_rate_observed",
    "gap_p50_ms", "gap_p99_ms", "gap_max_ms", "key_p50_ms", "key_p99_ms", "key_count",
    "server_cpu_s", "server_cpu_pct", "server_cpu_us_per_msg", "server_rss_kib",
    "server_rss_before_kib", "server_rss_per_conn_bytes",
    "bench_cpu_pct", "bench_cpu_us_per_msg",
]
FLOOR_FIELDS = ["cpu_us_per_write", "cpu_pct", "writes", "late_ticks", "failed_writes"]


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def runs_of(rows, w, n):
    return [r for r in rows if r.get("kind") == "run" and r["workload"] == w and r["n"] == n]


def figure(rows, w, n):
    """The median of every field over the runs of workload W at N."""
    runs = runs_of(rows, w, n)
    results = [r["result"] for r in runs if r.get("result")]
    fig = {"workload": w, "n": n, "runs": len(runs), "runs_with_result": len(results),
           "server_status": [r.get("server") for r in runs]}
    for k in RUN_FIELDS:
        fig[k] = median([res.get(k) for res in results])
    fig["bench_saturated_runs"] = sum(1 for res in results if res.get("bench_saturated"))
    return fig


def passes(fig, gap_limit, loss_tol):
    """The sweep's criterion: p99 gap within the limit and nothing lost."""
    if not fig["runs_with_result"] or fig["gap_p99_ms"] is None:
        return False
    if any(s != "ok" for s in fig["server_status"]):
        return False
    lost_conns = (fig["connect_failures"] or 0) + (fig["unexpected_closes"] or 0)
    return (fig["gap_p99_ms"] <= gap_limit and (fig["loss_ratio"] or 0) <= loss_tol
            and lost_conns == 0)


def floors(rows):
    out = {}
    for n in sorted({r["n"] for r in rows if r.get("kind") == "floor"}):
        results = [r["result"] for r in rows if r.get("kind") == "floor" and r["n"] == n and r.get("result")]
        out[n] = {k: median([res.get(k) for res in results]) for k in FLOOR_FIELDS}
        out[n]["runs"] = len(results)
    return out


def floor_for(fl, n):
    """The floor at N, or at the nearest N measured."""
    if not fl:
        return None, None
    m = min(fl, key=lambda k: (abs(k - n), k))
    return fl[m]["cpu_us_per_write"], m


def machine():
    model = "?"
    mem = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = round(int(line.split()[1]) / 1048576, 1)
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        load = "?"
    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_gib": mem,
            "kernel": platform.release(), "load_average_at_report": load}


def commit(root):
    def git(*args):
        return subprocess.run(["git", "--no-optional-locks", "-C", root, *args],
                              capture_output=True, text=True, timeout=10)
    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return "none (no commit yet)"
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
        return head.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def fmt(v, spec="{:.1f}", none="–"):
    return none if v is None else spec.format(v)


def cmd_verdict(a):
    rows = load(a.raw)
    print("pass" if passes(figure(rows, a.w, a.n), a.gap_limit, a.loss_tol) else "fail")


def cmd_report(a):
    rows = load(a.raw)
    fl = floors(rows)
    figs = {}
    for w in ("w1", "w2", "w3"):
        for n in sorted({r["n"] for r in rows if r.get("kind") == "run" and r["workload"] == w}):
            fig = figure(rows, w, n)
            fu, fn = floor_for(fl, n)
            fig["floor_us_per_write"] = fu
            fig["floor_n"] = fn
            us = fig["server_cpu_us_per_msg"]
            fig["ratio_to_floor"] = us / fu if us is not None and fu else None
            gen = fig["bench_cpu_us_per_msg"]
            fig["generator_ratio_to_floor"] = gen / fu if gen is not None and fu else None
            fig["meets_punctuality"] = passes(fig, a.gap_limit, a.loss_tol) if w != "w3" else None
            figs.setdefault(w, {})[n] = fig
    sweeps = {r["workload"]: r for r in rows if r.get("kind") == "sweep"}
    tick_ms = 1000.0 / a.tick_rate

    def get(w, n, k):
        return figs.get(w, {}).get(n, {}).get(k)

    targets = []

    def target(name, value, limit, ok, shown):
        targets.append({"target": name, "value": value, "limit": limit,
                        "met": None if value is None else bool(ok), "shown": shown})

    for w in ("w1", "w2"):
        r = get(w, 2000, "ratio_to_floor")
        target(f"{w.upper()} N=2000: server CPU per delivered message <= 1.1 x floor", r, 1.1,
               r is not None and r <= 1.1, fmt(r, "{:.2f} x floor"))
    for w in ("w1", "w2"):
        g, ok = get(w, 3000, "gap_p99_ms"), get(w, 3000, "meets_punctuality")
        target(f"{w.upper()} N=3000: p99 gap <= {a.gap_limit:g} ms, nothing lost", g, a.gap_limit,
               bool(ok), fmt(g, "{:.1f} ms") + ("" if g is None else
                                               f", lost {fmt(get(w, 3000, 'loss_ratio'), '{:.3%}')}"))
    for w in ("w1", "w2"):
        s = sweeps.get(w)
        v = s["largest_n"] if s else None
        target(f"{w.upper()} sweep: largest N on time >= 3500", v, 3500, v is not None and v >= 3500,
               "–" if v is None else f"N = {v}" + (" (search capped)" if s and v >= s["capped_at"] else ""))
    k = get("w2", 2000, "key_p99_ms")
    target(f"W2 N=2000: key-to-effect p99 <= {tick_ms + 5:g} ms", k, tick_ms + 5,
           k is not None and k <= tick_ms + 5, fmt(k, "{:.1f} ms"))
    w3n = max(figs.get("w3", {}) or [0])
    rc = get("w3", w3n, "server_rss_per_conn_bytes")
    target(f"W3 idle (N={w3n}): RSS per connection <= 8 KiB", rc, 8192, rc is not None and rc <= 8192,
           fmt(rc, "{:.0f} B"))

    out = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": a.mode,
        "machine": machine(),
        "commit": commit(a.root),
        "server": os.path.relpath(a.server, a.root) if a.server.startswith(a.root) else a.server,
        "settings": {"runs_per_figure": a.runs, "warmup_s": a.warmup, "duration_s": a.duration,
                     "tick_rate": a.tick_rate, "gap_limit_ms": a.gap_limit, "loss_tolerance": a.loss_tol,
                     "nofile_limit": a.nofile, "elapsed_s": a.elapsed},
        "floor": {str(n): v for n, v in fl.items()},
        "workloads": {w: {str(n): f for n, f in d.items()} for w, d in figs.items()},
        "sweep": sweeps,
        "targets": targets,
        "raw": rows,
    }
    with open(a.out + ".json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")

    m = out["machine"]
    L = []
    L.append(f"# Snakepit benchmark results ({a.mode})")
    L.append("")
    if a.mode != "full":
        L.append("**Quick smoke run: shorter windows, smaller N, one run per figure. "
                 "Not the standard workloads; do not quote these figures.**")
        L.append("")
    L.append(f"- date: {out['date']}")
    L.append(f"- machine: {m['nproc']} cores, {m['cpu_model']}, {m['mem_gib']} GiB, Linux {m['kernel']}; "
             f"load average {m['load_average_at_report']} when the report was written")
    L.append(f"- commit: {out['commit']}; server `{out['server']}`")
    L.append(f"- settings: tick {a.tick_rate:g} Hz; every figure the median of {a.runs} run(s), each on a fresh "
             f"server; {a.warmup:g} s warm-up, {a.duration:g} s measured; took {a.elapsed} s")
    L.append("- reproduce: `make -C bench run` (quick smoke run: `make -C bench quick`)")
    L.append("")
    L.append("## Floor")
    L.append("")
    L.append("One ~300-byte WebSocket frame written to each of N loopback TCP connections per tick, "
             "no server logic: the writer's CPU per write.")
    L.append("")
    L.append("| N | CPU µs per write | writer CPU % of a core |")
    L.append("| ---: | ---: | ---: |")
    for n, v in fl.items():
        L.append(f"| {n} | {fmt(v['cpu_us_per_write'], '{:.2f}')} | {fmt(v['cpu_pct'], '{:.0f}')} |")
    L.append("")
    L.append("## W1 spectators (one room, 10 players) and W2 rooms (rooms of 10, all playing)")
    L.append("")
    L.append("| workload | N | delivered msg/s | render frames of expected | lost | gap p50 / p99 / max ms "
             "| key p50 / p99 ms | server µs/msg | × floor | server CPU % | generator CPU % |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for w in ("w1", "w2"):
        for n, f in figs.get(w, {}).items():
            sat = " (saturated)" if f["bench_saturated_runs"] else ""
            L.append(
                f"| {w.upper()} | {n} | {fmt(f['msgs_per_s'], '{:.0f}')} | {fmt(f['delivery_ratio'], '{:.1%}')} "
                f"| {fmt(f['loss_ratio'], '{:.2%}')} "
                f"| {fmt(f['gap_p50_ms'])} / {fmt(f['gap_p99_ms'])} / {fmt(f['gap_max_ms'])} "
                f"| {fmt(f['key_p50_ms'])} / {fmt(f['key_p99_ms'])} "
                f"| {fmt(f['server_cpu_us_per_msg'], '{:.2f}')} | {fmt(f['ratio_to_floor'], '{:.2f}')} "
                f"| {fmt(f['server_cpu_pct'], '{:.0f}')} | {fmt(f['bench_cpu_pct'], '{:.0f}')}{sat} |")
    bad = [(w, n, f) for w in ("w1", "w2", "w3") for n, f in figs.get(w, {}).items()
           if (f["connect_failures"] or f["unexpected_closes"] or any(s != "ok" for s in f["server_status"]))]
    L.append("")
    L.append("Render frames: the tick's broadcast, owed to every member of a room whose game runs; "
             "a room whose snakes are all dead stops until the next join, so W1 can stay below 100 %. "
             "Lost: render frames missing from the ticks spanned (estimated from the gaps). "
             "× floor: server CPU per delivered message over the floor at the same N. "
             "Generator CPU above 85 % of a core is marked saturated: the figure may then show the "
             "generator's limit, not the server's.")
    if bad:
        L.append("")
        for w, n, f in bad:
            L.append(f"- {w.upper()} N={n}: {fmt(f['connect_failures'], '{:.0f}')} connect failures, "
                     f"{fmt(f['unexpected_closes'], '{:.0f}')} connections closed by the server, "
                     f"server status {', '.join(f['server_status'])}")
    if figs.get("w3"):
        L.append("")
        L.append("## W3 idle (registered, no game running)")
        L.append("")
        L.append("| N | rooms | server RSS KiB | RSS before connecting KiB | RSS per connection |")
        L.append("| ---: | ---: | ---: | ---: | ---: |")
        for n, f in figs["w3"].items():
            L.append(f"| {n} | {(n + 9) // 10} | {fmt(f['server_rss_kib'], '{:.0f}')} "
                     f"| {fmt(f['server_rss_before_kib'], '{:.0f}')} "
                     f"| {fmt(f['server_rss_per_conn_bytes'], '{:.0f}')} B |")
        if w3n < 20000:
            L.append("")
            L.append(f"N = {w3n}, not 20000: this run allowed {a.nofile} open files per process.")
    if sweeps:
        L.append("")
        L.append("## Sweep")
        L.append("")
        L.append(f"Largest N whose p99 gap is at most {a.gap_limit:g} ms with nothing lost "
                 f"(loss under {a.loss_tol:.1%}), no failed or dropped connection.")
        L.append("")
        L.append("| workload | largest N | first N that failed |")
        L.append("| --- | ---: | ---: |")
        for w, s in sorted(sweeps.items()):
            L.append(f"| {w.upper()} | {s['largest_n'] or 'none'} | {s['first_fail_n'] or 'none up to ' + str(s['capped_at'])} |")
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| target | figure | met |")
    L.append("| --- | ---: | :---: |")
    for t in targets:
        met = "not measured" if t["met"] is None else ("yes" if t["met"] else "**no**")
        L.append(f"| {t['target']} | {t['shown']} | {met} |")
    L.append("")
    with open(a.out + ".md", "w") as f:
        f.write("\n".join(L))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verdict")
    v.add_argument("raw")
    v.add_argument("w")
    v.add_argument("n", type=int)
    v.add_argument("gap_limit", type=float)
    v.add_argument("loss_tol", type=float)
    r = sub.add_parser("report")
    r.add_argument("raw")
    r.add_argument("out")
    r.add_argument("--mode", default="full")
    r.add_argument("--runs", type=int, default=3)
    r.add_argument("--warmup", type=float, default=5)
    r.add_argument("--duration", type=float, default=20)
    r.add_argument("--tick-rate", type=float, default=20)
    r.add_argument("--gap-limit", type=float, default=62.5)
    r.add_argument("--loss-tol", type=float, default=0.001)
    r.add_argument("--nofile", type=int, default=0)
    r.add_argument("--elapsed", type=int, default=0)
    r.add_argument("--root", default=".")
    r.add_argument("--server", default="build/snakepit")
    a = p.parse_args()
    (cmd_verdict if a.cmd == "verdict" else cmd_report)(a)


if __name__ == "__main__":
    sys.exit(main())
