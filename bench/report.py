#!/usr/bin/env python3
"""Turns the raw runs of bench/run.sh into results: medians, ratios to the
floor, the sweeps, the workers comparison (1 vs 2 event loops), the bots
benchmark, and the targets: those of issue 11 ("One big room on every
core"), and the earlier ones of issues 4 and 6 that it does not replace.

  report.py verdict RAW W N GAP_LIMIT LOSS_TOL [--workers K]
                                                 prints pass or fail for one figure
  report.py report RAW OUT_BASE [options]        writes OUT_BASE.json and OUT_BASE.md

RAW has one JSON object per line: {"kind":"run"|"floor"|"sweep"|"bots"|"note", ...}.
A run has "set": "std" (the standard workloads, the server's default options)
or "workers" (the comparison, with --workers K), and "workers": the event
loops the server had (from /api/stats). A sweep has "set" and "workers" the
same way, its largest N on time and first N late (0: none), the N it may not
pass ("capped_at"), its resolution, "stopped" ("time" when BENCH_SWEEP_BY
ended it) and its "path" ([N, verdict] in the order measured).
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
    "machine_cpus", "machine_cpu_pct", "machine_other_cpu_pct", "machine_us_per_msg",
]
BOTS_FIELDS = [
    "window_s", "ticks", "ticking_share", "tick_us_per_tick", "searches", "searches_per_tick",
    "search_us_per_search", "search_us_per_tick", "late", "late_per_search", "server_cpu_pct",
    "server_cpu_us_per_tick", "human_gap_p50_ms", "human_gap_p99_ms", "human_gap_max_ms",
    "human_key_p99_ms", "human_deaths", "human_machine_cpu_pct",
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


def runs_of(rows, w, n, workers=None):
    """The standard runs of W at N; with WORKERS, every run (standard or not)
    whose server had that many event loops."""
    return [r for r in rows if r.get("kind") == "run" and r["workload"] == w and r["n"] == n
            and (r.get("set", "std") == "std" if workers is None else r.get("workers") == workers)]


def figure(rows, w, n, workers=None):
    """The median of every field over the runs of workload W at N."""
    runs = runs_of(rows, w, n, workers)
    results = [r["result"] for r in runs if r.get("result")]
    fig = {"workload": w, "n": n, "runs": len(runs), "runs_with_result": len(results),
           "server_status": [r.get("server") for r in runs],
           "workers": workers if workers is not None else median([r.get("workers") for r in runs])}
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
    print("pass" if passes(figure(rows, a.w, a.n, a.workers), a.gap_limit, a.loss_tol) else "fail")


def ratio(a, b):
    return a / b if a is not None and b else None


GEN_FULL_PCT = 85      # the generator's one core (its bench_saturated)
MACHINE_FULL_PCT = 90  # per core, for the machine and for the server's loops


def full_cores(fig, k, ncpu):
    """Which cores were full during FIG (K: the server's loops), as short
    names: "generator", "machine", "server"; empty when none was."""
    srv, gen, mach = fig["server_cpu_pct"], fig["bench_cpu_pct"], fig["machine_cpu_pct"]
    full = []
    if gen is not None and gen >= GEN_FULL_PCT:
        full.append("generator")
    if mach is not None and mach >= MACHINE_FULL_PCT * ncpu:
        full.append("machine")
    if srv is not None and k and srv >= MACHINE_FULL_PCT * k:
        full.append("server")
    return full


def limits(fig, k, ncpu):
    """What held a figure back, in words: the saturated resource, or none."""
    if not fig or not fig["runs_with_result"]:
        return "no result"
    srv, gen, mach = fig["server_cpu_pct"], fig["bench_cpu_pct"], fig["machine_cpu_pct"]
    other = fig["machine_other_cpu_pct"]
    full = full_cores(fig, k, ncpu)
    said = []
    if "generator" in full:
        said.append(f"the load generator was saturated ({gen:.0f} % of its one core)")
    if "machine" in full:
        said.append(f"the machine was saturated ({mach:.0f} % of {100 * ncpu} %: server {fmt(srv, '{:.0f}')} %, "
                    f"generator {fmt(gen, '{:.0f}')} %, kernel work and other processes {fmt(other, '{:.0f}')} %)")
    if "server" in full:
        said.append(f"the server used all of its {k} loop core{'s' if k > 1 else ''} ({srv:.0f} %)")
    if not said:
        said.append(f"no CPU was saturated (server {fmt(srv, '{:.0f}')} %, generator {fmt(gen, '{:.0f}')} %, "
                    f"machine {fmt(mach, '{:.0f}')} % of {100 * ncpu} %): the ticks were late before any core "
                    f"was full (the server's loops, the generator and the kernel's loopback work take turns "
                    f"on {ncpu} cores)")
        if other is not None and other >= 50:
            said.append(f"the machine was not quiet: {other:.0f} % of a core went to neither the server nor "
                        f"the generator (the kernel's loopback work and other processes)")
    return "; ".join(said)


def ceilings(f1, f2, ncpu):
    """Delivered msgs/s the CPU allows with 1 and with 2 workers at the
    measured costs per message (server + generator; the kernel's
    unattributed work and other processes not counted, so these are upper
    bounds): 1 worker is held to one core, and both share NCPU cores with
    the generator."""
    def cost(f):
        s, g = f and f["server_cpu_us_per_msg"], f and f["bench_cpu_us_per_msg"]
        return (s, g) if s and g else (None, None)
    s1, g1 = cost(f1)
    s2, g2 = cost(f2)
    if s1 is None or s2 is None:
        return None
    c1 = min(1e6 / s1, ncpu * 1e6 / (s1 + g1))
    c2 = min(2e6 / s2, ncpu * 1e6 / (s2 + g2))
    return {"one_worker_msgs_per_s": c1, "two_workers_msgs_per_s": c2, "ratio": c2 / c1,
            "one_worker_limit": "one core" if 1e6 / s1 <= ncpu * 1e6 / (s1 + g1) else f"{ncpu} cores",
            "server_us_1": s1, "server_us_2": s2, "generator_us_1": g1, "generator_us_2": g2}


def workers_section(rows, a, ncpu):
    """The comparison of issue 6: W1 and W2 with 1 and with 2 event loops."""
    out = {"fixed_n": [], "sweeps": {}, "same_punctuality": {}, "notes": []}
    wn = [int(x) for x in a.workers_n.split()] if a.workers_n else []
    for w in ("w1", "w2"):
        ns = sorted({r["n"] for r in rows if r.get("kind") == "run" and r["workload"] == w
                     and r.get("workers") == 1} & {r["n"] for r in rows if r.get("kind") == "run"
                                                   and r["workload"] == w and r.get("workers") == 2})
        for n in ns:
            f1, f2 = figure(rows, w, n, 1), figure(rows, w, n, 2)
            for f in (f1, f2):
                f["meets_punctuality"] = passes(f, a.gap_limit, a.loss_tol)
            nr = [f["msgs_per_s"] - f["render_frames_per_s"]
                  if f["msgs_per_s"] is not None and f["render_frames_per_s"] is not None else None for f in (f1, f2)]
            out["fixed_n"].append({"workload": w, "n": n, "interleaved": n in wn, "one": f1, "two": f2,
                                   "delivered_ratio": ratio(f2["msgs_per_s"], f1["msgs_per_s"]),
                                   "render_ratio": ratio(f2["render_frames_per_s"], f1["render_frames_per_s"]),
                                   "non_render_ratio": ratio(nr[1], nr[0])})
    for r in rows:  # a sweep run with --workers K wins over a standard one that had K loops
        if r.get("kind") == "sweep" and r.get("workers") in (1, 2):
            have = out["sweeps"].setdefault(r["workload"], {}).get(r["workers"])
            if not have or have.get("set") != "workers" or r.get("set") == "workers":
                out["sweeps"][r["workload"]][r["workers"]] = r
    out["notes"] = [r for r in rows if r.get("kind") == "note"]
    for w, sw in out["sweeps"].items():
        if 1 not in sw or 2 not in sw:
            continue
        if any(not s["largest_n"] and not s["first_fail_n"] for s in sw.values()):
            out["notes"].append({"what": "sweep_without_figure", "workload": w})
            continue
        res = {}
        for k in (1, 2):
            s = sw[k]
            on = figure(rows, w, s["largest_n"], k) if s["largest_n"] else None
            fail = figure(rows, w, s["first_fail_n"], k) if s["first_fail_n"] else None
            res[k] = {"largest_n": s["largest_n"], "first_fail_n": s["first_fail_n"], "capped_at": s["capped_at"],
                      "resolution": s.get("resolution"), "stopped": s.get("stopped") or None,
                      "on_time": on, "first_fail": fail,
                      "limit": limits(fail, k, ncpu) if fail else sweep_open(s, "not found: the sweep")}
        m1 = res[1]["on_time"] and res[1]["on_time"]["msgs_per_s"]
        m2 = res[2]["on_time"] and res[2]["on_time"]["msgs_per_s"]
        r1 = res[1]["on_time"] and res[1]["on_time"]["render_frames_per_s"]
        r2 = res[2]["on_time"] and res[2]["on_time"]["render_frames_per_s"]
        out["same_punctuality"][w] = {
            "one": res[1], "two": res[2], "delivered_ratio": ratio(m2, m1), "render_ratio": ratio(r2, r1),
            "ceilings": ceilings(res[1]["first_fail"] or res[1]["on_time"],
                                 res[2]["first_fail"] or res[2]["on_time"], ncpu)}
    return out


def bots_section(rows):
    out = {}
    for nb in sorted({r["bots"] for r in rows if r.get("kind") == "bots"}, reverse=True):
        runs = [r for r in rows if r.get("kind") == "bots" and r["bots"] == nb]
        ok = [r for r in runs if r.get("server") == "ok"]
        fig = {"bots": nb, "runs": len(runs), "runs_with_result": len(ok),
               "field": runs[0].get("field"), "rejoin_ms": runs[0].get("rejoin_ms"), "workers": median([r.get("workers") for r in ok])}
        for k in BOTS_FIELDS:
            fig[k] = median([r.get(k) for r in ok])
        out[nb] = fig
    with_b = [f for nb, f in out.items() if nb > 0]
    if with_b and 0 in out:
        b, z = with_b[0], out[0]
        added = (b["tick_us_per_tick"] - z["tick_us_per_tick"]
                 if b["tick_us_per_tick"] is not None and z["tick_us_per_tick"] is not None else None)
        out["comparison"] = {
            "bots": b["bots"], "loop_us_added_per_tick": added,
            "search_us_per_tick": b["search_us_per_tick"],
            "added_over_search": ratio(added, b["search_us_per_tick"]),
            "tick_us_if_search_on_loop": (z["tick_us_per_tick"] + b["search_us_per_tick"]
                                          if z["tick_us_per_tick"] is not None
                                          and b["search_us_per_tick"] is not None else None)}
    return out


def pair(f1, f2, key, spec="{:.1f}"):
    return f"{fmt(f1[key], spec)} / {fmt(f2[key], spec)}"


def workers_md(wk, a, ncpu):
    L = ["## Workers: 1 vs 2 event loops", ""]
    L.append("W1 and W2 with `--workers 1` and with `--workers 2`, in this same run, alternating run by run "
             "(one run of each per round, the order swapped every round) so that the machine's noise hits "
             "both. A 2-worker run may be a standard run above: the server's default is one loop per usable "
             "CPU, and every run records the loops it had (`/api/stats`). W1 is one room: its game runs on "
             "one loop, and each loop writes its frames to the members it accepted (issue 11). Cells read "
             "\"1 worker / 2 workers\"; on time: p99 gap at most "
             f"{a.gap_limit:g} ms, nothing lost, no connection lost.")
    if a.pinned:
        L.append("")
        L.append("**BENCH_PIN=1: the server was pinned to one CPU, so its 2 loops shared one core.**")
    L.append("")
    L.append("| workload | N | delivered msg/s | render frames/s | 2 ÷ 1 msgs (renders) | gap p99 ms | lost "
             "| on time | server µs/msg | server CPU % | generator CPU % | machine busy % |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: |")
    yn = lambda f: "yes" if f["meets_punctuality"] else "no"
    for e in wk["fixed_n"]:
        f1, f2 = e["one"], e["two"]
        sat = " (saturated)" if f1["bench_saturated_runs"] or f2["bench_saturated_runs"] else ""
        L.append(f"| {e['workload'].upper()} | {e['n']}{'' if e['interleaved'] else ' (sweeps)'} "
                 f"| {pair(f1, f2, 'msgs_per_s', '{:.0f}')} | {pair(f1, f2, 'render_frames_per_s', '{:.0f}')} "
                 f"| {fmt(e['delivered_ratio'], '{:.2f}')} ({fmt(e['render_ratio'], '{:.2f}')}) "
                 f"| {pair(f1, f2, 'gap_p99_ms')} | {pair(f1, f2, 'loss_ratio', '{:.2%}')} "
                 f"| {yn(f1)} / {yn(f2)} | {pair(f1, f2, 'server_cpu_us_per_msg', '{:.2f}')} "
                 f"| {pair(f1, f2, 'server_cpu_pct', '{:.0f}')} | {pair(f1, f2, 'bench_cpu_pct', '{:.0f}')}{sat} "
                 f"| {pair(f1, f2, 'machine_cpu_pct', '{:.0f}')} |")
    L.append("")
    L.append(f"Server CPU % is of one core (2 loops may use up to 200); machine busy % is the whole machine's "
             f"CPU over the window, of {100 * ncpu} % ({ncpu} cores), other processes included. "
             "\"(sweeps)\": N that both sweeps of the workload measured (side by side when they reached it in "
             "the same round), not one of the N compared here by design. Delivered msg/s counts every "
             "frame; the render frames (one per member per tick while its game runs) are the like-for-like "
             "part, the rest (joins, deaths, scores, top scores) follows the games and the server's event "
             "traffic.")
    odd = [e for e in wk["fixed_n"] if e["non_render_ratio"] and abs(e["non_render_ratio"] - 1) > 0.1
           and e["render_ratio"] and abs(e["render_ratio"] - 1) <= 0.05]
    if odd:
        L.append("")
        L.append("At the same load 2 workers sent a different number of non-render frames: "
                 + "; ".join(f"{e['workload'].upper()} N={e['n']} {e['non_render_ratio']:.2f} ×" for e in odd)
                 + " the non-render frames of 1 worker, for the same render frames. There, delivered msg/s "
                 "differ without any difference in the work of keeping time.")
    for w in ("w1", "w2"):
        L.append("")
        L.append(f"### At the same punctuality ({w.upper()})")
        L.append("")
        L.extend(punctuality_md(wk, w, ncpu))
    L.append("")
    return L


def punctuality_md(wk, w, ncpu):
    """The largest N each worker count keeps on time in W, and the ratio."""
    L = []
    sp = wk["same_punctuality"].get(w)
    if sp:
        L.append(f"The largest N each worker count keeps on time, from a {w.upper()} sweep with each (run in "
                 "lockstep, the order of the worker counts swapped run by run; a 2-worker one may be the "
                 "standard sweep), and what held it at the first N that was late.")
        L.append("")
        L.append("| workers | largest N on time | delivered msg/s there | render frames/s there "
                 "| server CPU % there | first N late | what held it there |")
        L.append("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for k, name in ((1, "one"), (2, "two")):
            e = sp[name]
            on = e["on_time"] or {}
            L.append(f"| {k} | {e['largest_n'] or 'none'} | {fmt(on.get('msgs_per_s'), '{:.0f}')} "
                     f"| {fmt(on.get('render_frames_per_s'), '{:.0f}')} "
                     f"| {fmt(on.get('server_cpu_pct'), '{:.0f}')} "
                     f"| {e['first_fail_n'] or 'none up to ' + str(max(e['capped_at'], e['largest_n']))} "
                     f"| {e['limit']} |")
        L.append("")
        r = sp["delivered_ratio"]
        res = [x for x in (sp["one"].get("resolution"), sp["two"].get("resolution")) if x]
        n1, n2 = sp["one"]["largest_n"], sp["two"]["largest_n"]
        resolved = f"the sweeps resolve N to {' and '.join(str(x) for x in sorted(set(res))) or '?'} connections"
        nr = n_ratio(wk["sweeps"][w][1], wk["sweeps"][w][2], 1.5)
        if w == "w1":
            L.append(f"**2 workers keep {nr['ratio'].replace(' x', ' ×')} the connections of 1 worker on time** "
                     f"({nr['ns']}; issue 11 expects at least 1.5 ×; {resolved})"
                     + (f", delivering {r:.2f} × its messages per second ({fmt(sp['render_ratio'], '{:.2f}')} × "
                        "the render frames)." if r is not None else "."))
        else:
            L.append(f"**2 workers deliver {fmt(r, '{:.2f}')} × the messages per second of 1 worker at the same "
                     f"punctuality** ({fmt(sp['render_ratio'], '{:.2f}')} × the render frames; N = {n2} against "
                     f"{n1}: {fmt(ratio(n2, n1), '{:.2f}')} × the connections; issue 6 expects at least 1.6 ×; "
                     f"{resolved})."
                     + (" Both kept the same N on time: at the same load the difference in messages per second "
                        "is the games' randomness (joins, deaths, scores), not the server." if n1 == n2 else ""))
        if nr["open"]:
            L.append("So the ratio of N is only a bound, or not known: " + "; ".join(nr["open"]) + ".")
        c = sp["ceilings"]
        if c:
            L.append("")
            L.append(f"What the CPU allows at the costs measured where punctuality broke: 1 worker at most "
                     f"~{c['one_worker_msgs_per_s']:.0f} msg/s (held by {c['one_worker_limit']}: "
                     f"{c['server_us_1']:.2f} µs of server CPU per message), 2 workers at most "
                     f"~{c['two_workers_msgs_per_s']:.0f} msg/s ({ncpu} cores shared by the server at "
                     f"{c['server_us_2']:.2f} µs and the load generator at {c['generator_us_2']:.2f} µs per "
                     f"message): a ratio of at most {c['ratio']:.2f} × on this machine while the generator "
                     f"shares it (upper bounds: the kernel's unattributed loopback work is not counted).")
        return L
    if any(n.get("what") == "sweep_without_figure" and n.get("workload") == w for n in wk["notes"]):
        L.append(f"The {w.upper()} sweep per worker count measured nothing: it ran out of time "
                 "(BENCH_SWEEP_BY) before its first figure.")
    else:
        L.append(f"No {w.upper()} sweep with each worker count in this run (BENCH_WORKERS_SWEEP=0, or "
                 "neither `sweep` nor `workers` in BENCH_ONLY).")
    fixed = [e for e in wk["fixed_n"] if e["workload"] == w and e["interleaved"]]
    both = [e for e in fixed if e["one"]["meets_punctuality"] and e["two"]["meets_punctuality"]]
    only2 = [e for e in fixed if e["two"]["meets_punctuality"] and not e["one"]["meets_punctuality"]]
    if only2:
        e = only2[-1]
        base = both[-1]["one"]["msgs_per_s"] if both else None
        L.append(f"At N = {e['n']} only 2 workers are on time"
                 + (f": at the same punctuality 2 workers deliver at least {ratio(e['two']['msgs_per_s'], base):.2f} "
                    "× the messages per second of 1 worker (against 1 worker's largest N on time here)."
                    if ratio(e['two']['msgs_per_s'], base) is not None else "."))
    elif fixed and len(both) == len(fixed):
        L.append(f"Both worker counts are on time at every N compared (up to N = {fixed[-1]['n']}): below what "
                 "one worker keeps on time the load sets the rate, so both deliver the same (ratio ≈ 1); "
                 "the ratio at the same punctuality needs the sweeps.")
    for e in fixed:
        if not e["two"]["meets_punctuality"]:
            L.append(f"At N = {e['n']} 2 workers were late: {limits(e['two'], 2, ncpu)}.")
            break
    return L

def bots_md(bots, a):
    L = ["## Bots: tick time on the loop thread, search on the thread pool", ""]
    figs = [f for k, f in bots.items() if k != "comparison"]
    field = figs[0]["field"] if figs else "?"
    rejoin = figs[0].get("rejoin_ms") if figs else None
    L.append(f"One room on a {field} field at {a.tick_rate:g} ticks/s with one human player (snakepit-bench, "
             f"joining again {fmt(rejoin and rejoin / 1000, '{:g}')} s after each death; bots play only "
             "while a human snake lives, and the room stops while none does), with and without bots. From `/api/stats` over the window: ticks and "
             "the loop thread's CPU time in them (CLOCK_THREAD_CPUTIME_ID), bot searches and their time on "
             "the thread pool, answers that came too late for the next tick (the bot kept its direction).")
    L.append("")
    L.append("| bots | ticks (share of the window's) | loop-thread CPU µs per tick | searches per tick "
             "| µs per search (pool) | search µs per tick (pool) | late answers | human gap p99 ms | server CPU % |")
    L.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for f in figs:
        L.append(f"| {f['bots']} | {fmt(f['ticks'], '{:.0f}')} ({fmt(f['ticking_share'], '{:.0%}')}) "
                 f"| {fmt(f['tick_us_per_tick'])} | {fmt(f['searches_per_tick'], '{:.2f}')} "
                 f"| {fmt(f['search_us_per_search'])} | {fmt(f['search_us_per_tick'])} "
                 f"| {fmt(f['late'], '{:.0f}')} | {fmt(f['human_gap_p99_ms'])} | {fmt(f['server_cpu_pct'], '{:.0f}')} |")
    c = bots.get("comparison")
    if c:
        L.append("")
        L.append(f"{c['bots']} bots add {fmt(c['loop_us_added_per_tick'])} µs of loop-thread CPU per tick (the "
                 f"field snapshots handed to the searches, {c['bots']} more snakes to move, draw and send); their "
                 f"searches took {fmt(c['search_us_per_tick'])} µs per tick on the thread pool "
                 f"({fmt(ratio(c['search_us_per_tick'], c['loop_us_added_per_tick']), '{:.1f}')} × the loop's "
                 f"extra). Had the searches run on the loop, a tick would cost at least "
                 f"{fmt(c['tick_us_if_search_on_loop'])} µs. Search µs are wall time on the pool threads.")
    L.append("")
    return L


def sweep_span(s):
    """What sweep S says of the largest N on time, as (low, high): low the
    largest N found on time (0: none), high the most it may be (None: not
    bounded, the sweep was capped or stopped while on time). A settled sweep
    (its first late N within its resolution of the last one on time) gives
    low == high: the figure is its largest N on time."""
    lo, hi, res = s["largest_n"], s["first_fail_n"], s.get("resolution") or 0
    if not hi:
        return lo, None
    if lo and hi - lo <= res:
        return lo, lo
    return lo, hi


def sweep_open(s, name):
    """Why sweep S does not settle its largest N, in words (None: it does)."""
    lo, hi = s["largest_n"], s["first_fail_n"]
    if not lo and not hi:
        return f"{name} measured nothing (it ran out of time, BENCH_SWEEP_BY)"
    if not hi:
        if s.get("stopped"):
            return f"{name} was still on time at N = {lo} when it stopped for time (BENCH_SWEEP_BY)"
        if lo > s["capped_at"]:
            return (f"{name} was on time at N = {lo}, past the first N its 2-loop partner was late at "
                    f"(N = {s['capped_at']}), where it stops")
        return f"{name} was on time up to its cap (N = {s['capped_at']})"
    if not lo:
        return f"{name} kept no N on time (late from N = {hi} down)"
    lo_, hi_ = sweep_span(s)
    if lo_ != hi_:
        return f"{name} stopped for time (BENCH_SWEEP_BY) between N = {lo} on time and N = {hi} late"
    return None


def n_ratio(s1, s2, limit):
    """The largest N on time with 2 loops over that with 1 (sweeps S2 and
    S1), against LIMIT: its value (None if 1 loop kept none), the bounds the
    sweeps allow, and met (None: not decided)."""
    l1, h1 = sweep_span(s1)
    l2, h2 = sweep_span(s2)
    low = l2 / h1 if h1 else 0.0
    high = h2 / l1 if h2 is not None and l1 else float("inf")
    met = True if low >= limit else False if high < limit else None
    value = l2 / l1 if l1 else None
    if low == high:
        shown = f"{value:.2f} x"
    elif high == float("inf"):
        shown = f">= {low:.2f} x" if low else "not bounded"
    elif low:
        shown = f"{low:.2f} to {high:.2f} x"
    else:
        shown = f"<= {high:.2f} x"
    why = [w for w in (sweep_open(s1, "the 1-loop sweep"), sweep_open(s2, "the 2-loop sweep")) if w]
    ns = f"N = {l2 or 'none'} with 2 loops, {l1 or 'none'} with 1"
    return {"value": value, "low": low, "high": None if high == float("inf") else high, "met": met,
            "ratio": shown, "ns": ns, "shown": f"{shown} ({ns})", "open": why}


def cpu_of(fig, label, k, ncpu):
    """The CPU a target's figure had: server, generator and machine %."""
    if not fig or not fig.get("runs_with_result"):
        return {"at": label, "server_cpu_pct": None, "bench_cpu_pct": None, "machine_cpu_pct": None,
                "full": None}
    return {"at": label, "server_cpu_pct": fig["server_cpu_pct"], "bench_cpu_pct": fig["bench_cpu_pct"],
            "machine_cpu_pct": fig["machine_cpu_pct"], "full": full_cores(fig, k, ncpu)}


def loops_of(fig):
    k = fig.get("workers") if fig else None
    return f"{k:g} loop{'s' if k != 1 else ''}" if k else "loops unknown"


def have(fig):
    return bool(fig and fig.get("runs_with_result"))


def measured_ns(rows, w, workers=None):
    ns = sorted({r["n"] for r in rows if r.get("kind") == "run" and r["workload"] == w and r.get("result")
                 and (workers is None or r.get("workers") == workers)})
    return ", ".join(str(n) for n in ns) or "none"


def sweeps_cpu(rows, w, sw, ncpu):
    """The CPU at each worker count's first N late (else its largest on
    time), from the sweeps SW of W by worker count: where a core would show
    full if one held it."""
    out = []
    for k in (1, 2):
        s = sw.get(k)
        n = s and (s["first_fail_n"] or s["largest_n"])
        if n:
            f = sweep_figure(rows, s, n)
            out.append(cpu_of(f, f"{w.upper()} N={n}, {k} loop{'s' if k > 1 else ''} "
                              f"({'first late' if s['first_fail_n'] else 'largest on time'})", k, ncpu))
    return out


def target_row(figure_, goal, limit, value, met, shown, why, cpu):
    """One target: its figure, met (None: not decided, WHY says why) and the
    CPU where it was measured (a list of cpu_of)."""
    return {"figure": figure_, "target": goal, "limit": limit, "value": value,
            "met": None if met is None else bool(met), "shown": shown, "why": why, "cpu": cpu}


def at_most_row(figure_, goal, limit, f, label, ncpu, v, shown, missing):
    """A target that value V of figure F must be at most LIMIT; MISSING says
    why V is None."""
    cpu = [cpu_of(f, label, f["workers"], ncpu)] if have(f) else []
    if v is None:
        return target_row(figure_, goal, limit, None, None, "–", "not measured: " + missing, cpu)
    return target_row(figure_, goal, limit, v, v <= limit, shown, None, cpu)


def targets_issue11(rows, figs, fl, wk, a, ncpu):
    """The targets of issue 11, each with its figure, met (None: not
    decided, with why) and the CPU of the server, the generator and the
    machine where it was measured."""
    out = []
    tick_ms = 1000.0 / a.tick_rate

    def target(*args):
        out.append(target_row(*args))

    # 1. One big room at N=3000 on 2 loops: on time, nothing lost.
    f = figure(rows, "w1", 3000, 2)
    if have(f):
        lost = (f["connect_failures"] or 0) + (f["unexpected_closes"] or 0)
        bad = [s for s in f["server_status"] if s != "ok"]
        shown = (f"{fmt(f['gap_p99_ms'])} ms, lost {fmt(f['loss_ratio'], '{:.3%}')}"
                 + (f", {lost:g} connections failed or dropped" if lost else "")
                 + (f", server {', '.join(bad)}" if bad else ""))
        target("W1 N=3000, 2 loops: p99 time between broadcasts", f"<= {a.gap_limit:g} ms, nothing lost",
               a.gap_limit, f["gap_p99_ms"], passes(f, a.gap_limit, a.loss_tol), shown, None,
               [cpu_of(f, "W1 N=3000, 2 loops", 2, ncpu)])
    else:
        target("W1 N=3000, 2 loops: p99 time between broadcasts", f"<= {a.gap_limit:g} ms, nothing lost",
               a.gap_limit, None, None, "–",
               f"not measured: no W1 run at N=3000 with 2 loops (W1 with 2 loops ran at N = "
               f"{measured_ns(rows, 'w1', 2)})", [])

    # 2. The largest N on time in one big room: 2 loops against 1.
    sw = wk["sweeps"].get("w1", {})
    name, goal = f"W1 largest N with p99 <= {a.gap_limit:g} ms, 2 loops vs 1", ">= 1.5 x"
    if 1 in sw and 2 in sw:
        r = n_ratio(sw[1], sw[2], 1.5)
        why = None if r["met"] is not None else "not decided: " + "; ".join(r["open"])
        target(name, goal, 1.5, r["value"], r["met"], r["shown"], why, sweeps_cpu(rows, "w1", sw, ncpu))
    else:
        miss = " and ".join(f"{k} loop{'s' if k > 1 else ''}" for k in (1, 2) if k not in sw)
        target(name, goal, 1.5, None, None, "–", f"not measured: no W1 sweep with {miss} in this run", [])

    # 3. The input path: server CPU per delivered message in rooms of 10.
    f = figs.get("w2", {}).get(2000)
    no_w2 = f"no standard W2 run at N=2000 (W2 ran at N = {measured_ns(rows, 'w2')})"
    r = f and f["ratio_to_floor"]
    out.append(at_most_row(
        "W2 N=2000: server CPU per delivered message", "<= 1.0 x floor", 1.0, f, f"W2 N=2000, {loops_of(f)}", ncpu,
        r, None if r is None else f"{r:.2f} x floor ({f['server_cpu_us_per_msg']:.2f} µs against "
        f"{f['floor_us_per_write']:.2f} µs per write at N={f['floor_n']})",
        ("no floor in this run" if not fl else "no server CPU figure") if have(f) else no_w2))

    # 4. and 5. Memory: under load, and idle.
    f = figs.get("w1", {}).get(2000)
    v = f and f["server_rss_per_conn_bytes"]
    out.append(at_most_row(
        "RSS per connection, W1 N=2000 under load", "<= 6 KiB", 6144, f, f"W1 N=2000, {loops_of(f)}", ncpu,
        v, None if v is None else f"{v:.0f} B ({v / 1024:.1f} KiB)",
        "no RSS figure (the generator had no --server-pid)" if have(f) else
        f"no standard W1 run at N=2000 (W1 ran at N = {measured_ns(rows, 'w1')})"))
    w3 = figs.get("w3", {})
    n = max(w3) if w3 else None
    f = w3.get(n) if n else None
    v = f and f["server_rss_per_conn_bytes"]
    out.append(at_most_row(
        "RSS per idle registered connection (W3)", "<= 4 KiB", 4096, f, f"W3 N={n}, {loops_of(f)}", ncpu,
        v, None if v is None else f"{v:.0f} B ({v / 1024:.1f} KiB) at N = {n}",
        "no RSS figure" if have(f) else "no W3 run in this run"))

    # 6. Key to effect in rooms of 10.
    f = figs.get("w2", {}).get(2000)
    v = f and f["key_p99_ms"]
    out.append(at_most_row(
        "key-to-effect p99, W2 N=2000", f"<= one tick + 5 ms ({tick_ms + 5:g} ms)", tick_ms + 5, f,
        f"W2 N=2000, {loops_of(f)}", ncpu, v, None if v is None else f"{v:.1f} ms",
        "no key observed" if have(f) else no_w2))
    return out


def targets_earlier(rows, figs, sweeps, wk, bots, a, ncpu):
    """The targets of issues 4 and 6 that issue 11 does not replace."""
    out = []

    def target(*args):
        out.append(target_row(*args))

    f = figs.get("w1", {}).get(2000)
    r = f and f["ratio_to_floor"]
    out.append(at_most_row("W1 N=2000: server CPU per delivered message (issue 4)", "<= 1.1 x floor", 1.1, f,
                           f"W1 N=2000, {loops_of(f)}", ncpu, r, fmt(r, "{:.2f} x floor"),
                           "no floor in this run" if have(f) else "no standard W1 run at N=2000"))

    f = figs.get("w2", {}).get(3000)
    name, goal = "W2 N=3000: p99 gap, nothing lost (issue 4)", f"<= {a.gap_limit:g} ms"
    if have(f):
        target(name, goal, a.gap_limit, f["gap_p99_ms"], passes(f, a.gap_limit, a.loss_tol),
               f"{fmt(f['gap_p99_ms'])} ms, lost {fmt(f['loss_ratio'], '{:.3%}')}", None,
               [cpu_of(f, f"W2 N=3000, {loops_of(f)}", f["workers"], ncpu)])
    else:
        target(name, goal, a.gap_limit, None, None, "–", "not measured: no standard W2 run at N=3000", [])

    for w, s, label in (("w1", wk["sweeps"].get("w1", {}).get(2), "with 2 loops"),
                        ("w2", sweeps.get("w2"), "with the default loops")):
        name, goal = f"{w.upper()} sweep {label}: largest N on time (issue 4)", ">= 3500"
        if not s:
            target(name, goal, 3500, None, None, "–", f"not measured: no {w.upper()} sweep {label}", [])
            continue
        lo, hi = s["largest_n"], s["first_fail_n"]
        met = True if lo >= 3500 else False if hi and hi <= 3500 else None
        k = s.get("workers")
        n = hi or lo
        target(name, goal, 3500, lo, met,
               "–" if not lo and not hi else f"N = {lo or 'none'}" + ("" if hi else " (not bounded above)"),
               None if met is not None else "not decided: " + (sweep_open(s, "the sweep") or "?"),
               [cpu_of(figure(rows, w, n, k) if s.get("set") == "workers" else figure(rows, w, n),
                       f"{w.upper()} N={n} ({'first late' if hi else 'largest on time'})", k, ncpu)] if n else [])

    sp = wk["same_punctuality"].get("w2")
    name, goal = "W2, 2 workers vs 1: delivered msg/s at the same punctuality (issue 6)", ">= 1.6 x"
    if sp and sp["delivered_ratio"] is not None:
        r = sp["delivered_ratio"]
        target(name, goal, 1.6, r, r >= 1.6,
               f"{r:.2f} x (N = {sp['two']['largest_n']} with 2, {sp['one']['largest_n']} with 1)", None,
               sweeps_cpu(rows, "w2", wk["sweeps"]["w2"], ncpu))
    else:
        target(name, goal, 1.6, None, None, "–",
               "not measured: no W2 sweep with each worker count kept an N on time in this run", [])

    bc = bots.get("comparison")
    if bc:
        r = bc["added_over_search"]
        target(f"Bots: loop-thread CPU added by {bc['bots']} bots per tick (issue 6)",
               "<= half their search time", 0.5, r, None if r is None else r <= 0.5,
               f"{fmt(bc['loop_us_added_per_tick'])} µs vs {fmt(bc['search_us_per_tick'])} µs per tick",
               None if r is not None else "not measured: no tick time", [])
    return out


def targets_md(targets, ncpu):
    L = [f"| figure | target | measured | met | CPU measured at | server CPU % | generator CPU % "
         f"| machine CPU % (of {100 * ncpu}) | a core full? |",
         "| --- | --- | ---: | :---: | --- | ---: | ---: | ---: | --- |"]
    for t in targets:
        met = ("yes" if t["met"] else "**no**") if t["met"] is not None else t["why"]
        cpu = t["cpu"]
        col = lambda k: " / ".join(fmt(c[k], "{:.0f}") for c in cpu) or "–"
        full = " / ".join("–" if c["full"] is None else ", ".join(c["full"]) or "no" for c in cpu) or "–"
        L.append(f"| {t['figure']} | {t['target']} | {t['shown']} | {met} "
                 f"| {' / '.join(c['at'] for c in cpu) or '–'} | {col('server_cpu_pct')} | {col('bench_cpu_pct')} "
                 f"| {col('machine_cpu_pct')} | {full} |")
    return L


def sweep_figure(rows, s, n):
    """The figure a sweep's verdict at N was made from."""
    if s.get("set") == "workers":
        return figure(rows, s["workload"], n, s.get("workers"))
    return figure(rows, s["workload"], n)


def sweeps_md(rows, all_sweeps, a, ncpu):
    L = ["", "## Sweeps", ""]
    L.append(f"Largest N whose p99 gap is at most {a.gap_limit:g} ms with nothing lost (loss under "
             f"{a.loss_tol:.1%}), no failed or dropped connection: from the first N by steps up while on time "
             "(down while late), then bisected to the sweep's resolution. Sweeps of one workload ran in "
             "lockstep, one run of each in turn, the order swapped run by run; a sweep with 1 loop goes no "
             "higher than the first N late with 2. No sweep starts a figure that would end more "
             f"than {a.sweep_by or '?'} s into the run (BENCH_SWEEP_BY).")
    L.append("")
    L.append("| workload | loops | largest N on time | first N late | resolution | ended |")
    L.append("| --- | --- | ---: | ---: | ---: | --- |")
    for s in all_sweeps:
        k = s.get("workers")
        loops = f"--workers {k}" if s.get("set") == "workers" else f"default ({fmt(k, '{:g}', '?')})"
        if not sweep_open(s, "it"):
            ended = "settled"
        elif not s["largest_n"] and s["first_fail_n"]:
            ended = "none on time"
        elif not s["first_fail_n"] and not s.get("stopped"):
            ended = "capped"
        else:
            ended = "stopped for time"
        L.append(f"| {s['workload'].upper()} | {loops} | {s['largest_n'] or 'none'} "
                 f"| {s['first_fail_n'] or 'none up to ' + str(max(s['capped_at'], s['largest_n']))} "
                 f"| {s.get('resolution') or '–'} "
                 f"| {ended} |")
    L.append("")
    L.append("Every figure of the sweeps, in the order measured (one that an earlier part of the run measured "
             "already is not measured again):")
    L.append("")
    L.append("| workload | loops | N | on time | gap p99 ms | lost | msg/s | server µs/msg | server CPU % "
             "| generator CPU % | machine CPU % | a core full? |")
    L.append("| --- | --- | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for s in all_sweeps:
        k = s.get("workers")
        loops = f"--workers {k}" if s.get("set") == "workers" else f"default ({fmt(k, '{:g}', '?')})"
        for n, verdict in s.get("path") or []:
            f = sweep_figure(rows, s, n)
            full = (", ".join(full_cores(f, k, ncpu)) or "no") if have(f) else "–"
            L.append(f"| {s['workload'].upper()} | {loops} | {n} | {'yes' if verdict == 'pass' else 'no'} "
                     f"| {fmt(f['gap_p99_ms'])} | {fmt(f['loss_ratio'], '{:.2%}')} | {fmt(f['msgs_per_s'], '{:.0f}')} "
                     f"| {fmt(f['server_cpu_us_per_msg'], '{:.2f}')} | {fmt(f['server_cpu_pct'], '{:.0f}')} "
                     f"| {fmt(f['bench_cpu_pct'], '{:.0f}')} | {fmt(f['machine_cpu_pct'], '{:.0f}')} | {full} |")
    return L


def cmd_report(a):
    rows = load(a.raw)
    fl = floors(rows)
    figs = {}
    for w in ("w1", "w2", "w3"):
        for n in sorted({r["n"] for r in rows if r.get("kind") == "run" and r["workload"] == w
                         and r.get("set", "std") == "std"}):
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
    sweeps = {r["workload"]: r for r in rows if r.get("kind") == "sweep" and r.get("set", "std") == "std"}
    all_sweeps = [r for r in rows if r.get("kind") == "sweep"]
    ncpu = os.cpu_count() or 1
    wk = workers_section(rows, a, ncpu)
    bots = bots_section(rows)
    targets = targets_issue11(rows, figs, fl, wk, a, ncpu)
    earlier = targets_earlier(rows, figs, sweeps, wk, bots, a, ncpu)

    out = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": a.mode,
        "machine": machine(),
        "commit": commit(a.root),
        "server": os.path.relpath(a.server, a.root) if a.server.startswith(a.root) else a.server,
        "settings": {"runs_per_figure": a.runs, "warmup_s": a.warmup, "duration_s": a.duration,
                     "workers_n": a.workers_n, "pinned": bool(a.pinned),
                     "tick_rate": a.tick_rate, "gap_limit_ms": a.gap_limit, "loss_tolerance": a.loss_tol,
                     "nofile_limit": a.nofile, "elapsed_s": a.elapsed},
        "floor": {str(n): v for n, v in fl.items()},
        "workloads": {w: {str(n): f for n, f in d.items()} for w, d in figs.items()},
        "sweep": sweeps,
        "sweeps": all_sweeps,
        "workers_comparison": wk,
        "bots": {str(k): v for k, v in bots.items()},
        "targets": targets,
        "earlier_targets": earlier,
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
    L.append("## Targets (issue 11: one big room on every core)")
    L.append("")
    L.extend(targets_md(targets, ncpu))
    L.append("")
    L.append(f"CPU: the server's and the generator's of one core (100 % = one core; the server's loops may use "
             f"up to {100 * ncpu}), the whole machine's of its {ncpu} cores, other processes and the kernel's "
             f"unattributed loopback work included; medians over the figure's runs. A core is full when the "
             f"generator is at {GEN_FULL_PCT} % or more of its one core, the machine at {MACHINE_FULL_PCT} % or "
             f"more of each core, or the server at {MACHINE_FULL_PCT} % or more of each of its loops' cores. "
             "\"not measured\" and \"not decided\" say what this run lacks to decide.")
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
             "| key p50 / p99 ms | server µs/msg | × floor | server CPU % | generator CPU % | machine CPU % "
             "| RSS per connection |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for w in ("w1", "w2"):
        for n, f in figs.get(w, {}).items():
            sat = " (saturated)" if f["bench_saturated_runs"] else ""
            L.append(
                f"| {w.upper()} | {n} | {fmt(f['msgs_per_s'], '{:.0f}')} | {fmt(f['delivery_ratio'], '{:.1%}')} "
                f"| {fmt(f['loss_ratio'], '{:.2%}')} "
                f"| {fmt(f['gap_p50_ms'])} / {fmt(f['gap_p99_ms'])} / {fmt(f['gap_max_ms'])} "
                f"| {fmt(f['key_p50_ms'])} / {fmt(f['key_p99_ms'])} "
                f"| {fmt(f['server_cpu_us_per_msg'], '{:.2f}')} | {fmt(f['ratio_to_floor'], '{:.2f}')} "
                f"| {fmt(f['server_cpu_pct'], '{:.0f}')} | {fmt(f['bench_cpu_pct'], '{:.0f}')}{sat} "
                f"| {fmt(f['machine_cpu_pct'], '{:.0f}')} | {fmt(f['server_rss_per_conn_bytes'], '{:.0f} B')} |")
    loops = sorted({f["workers"] for w in ("w1", "w2") for f in figs.get(w, {}).values() if f["workers"]})
    if loops:
        L.append("")
        L.append(f"The server ran with its default options: {' or '.join(f'{k:g}' for k in loops)} event "
                 f"loop(s) (`--workers` defaults to the usable CPUs).")
    bad = [(w, n, f) for w in ("w1", "w2", "w3") for n, f in figs.get(w, {}).items()
           if (f["connect_failures"] or f["unexpected_closes"] or any(s != "ok" for s in f["server_status"]))]
    L.append("")
    L.append("Render frames: the tick's broadcast, owed to every member of a room whose game runs; "
             "a room whose snakes are all dead stops until the next join, so W1 can stay below 100 %. "
             "Lost: render frames missing from the ticks spanned (estimated from the gaps). "
             "× floor: server CPU per delivered message over the floor at the same N. "
             f"Machine CPU: the whole machine's, of {100 * ncpu} %. RSS per connection: the server's RSS "
             "growth since before the first connection, per open connection. "
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
        w3n = max(figs["w3"])
        if a.w3_n and w3n < a.w3_n:
            L.append("")
            L.append(f"N = {w3n}, not {a.w3_n}: this run allowed {a.nofile} open files per process.")
    if all_sweeps:
        L.extend(sweeps_md(rows, all_sweeps, a, ncpu))
    L.append("")
    if wk["fixed_n"] or wk["same_punctuality"]:
        L.extend(workers_md(wk, a, ncpu))
    if bots:
        L.extend(bots_md(bots, a))
    L.append("## Earlier targets (issues 4 and 6)")
    L.append("")
    L.append("The targets of issues 4 and 6 that issue 11 does not replace (it replaces W2's CPU per message "
             "<= 1.1 x floor by 1.0 x, W1 at N=3000 by the same on 2 loops, W3's RSS <= 8 KiB by 4 KiB, and "
             "repeats the key-to-effect p99).")
    L.append("")
    L.extend(targets_md(earlier, ncpu))
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
    v.add_argument("--workers", type=int, default=None)
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
    r.add_argument("--workers-n", default="")
    r.add_argument("--pinned", type=int, default=0)
    r.add_argument("--w3-n", type=int, default=0)
    r.add_argument("--sweep-by", type=int, default=0)
    a = p.parse_args()
    (cmd_verdict if a.cmd == "verdict" else cmd_report)(a)


if __name__ == "__main__":
    sys.exit(main())
