#!/usr/bin/env python3
"""Turns the raw runs of bench/run.sh into results: medians, ratios to the
floor, the sweep and the targets of issue 4; the workers comparison (1 vs 2
event loops) and the bots benchmark of issue 6.

  report.py verdict RAW W N GAP_LIMIT LOSS_TOL [--workers K]
                                                 prints pass or fail for one figure
  report.py report RAW OUT_BASE [options]        writes OUT_BASE.json and OUT_BASE.md

RAW has one JSON object per line: {"kind":"run"|"floor"|"sweep"|"bots"|"note", ...}.
A run has "set": "std" (the standard workloads, the server's default options)
or "workers" (the comparison, with --workers K), and "workers": the event
loops the server had (from /api/stats).
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


def limits(fig, k, ncpu):
    """What held a figure back, in words: the saturated resource, or none."""
    if not fig or not fig["runs_with_result"]:
        return "no result"
    srv, gen, mach = fig["server_cpu_pct"], fig["bench_cpu_pct"], fig["machine_cpu_pct"]
    other = fig["machine_other_cpu_pct"]
    said = []
    if gen is not None and gen >= 85:
        said.append(f"the load generator was saturated ({gen:.0f} % of its one core)")
    if mach is not None and mach >= 90 * ncpu:
        said.append(f"the machine was saturated ({mach:.0f} % of {100 * ncpu} %: server {fmt(srv, '{:.0f}')} %, "
                    f"generator {fmt(gen, '{:.0f}')} %, kernel work and other processes {fmt(other, '{:.0f}')} %)")
    if srv is not None and k and srv >= 90 * k:
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
    for r in rows:
        if r.get("kind") == "sweep" and r.get("workers") in (1, 2):
            out["sweeps"].setdefault(r["workload"], {})[r["workers"]] = r
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
                      "limit": limits(fail, k, ncpu) if fail else
                      "not found: the sweep stopped for time" if s.get("stopped") else
                      f"on time up to the sweep's cap (N = {s['capped_at']})"}
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
             "CPU, and every run records the loops it had (`/api/stats`). W1 is one room, and a room lives "
             "on one loop: it cannot use a second loop and is there as a control. Cells read "
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
             "\"(sweeps)\": N reached by both sweeps below, not interleaved. Delivered msg/s counts every "
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
    sp = wk["same_punctuality"].get("w2")
    L.append("")
    L.append("### At the same punctuality (W2)")
    L.append("")
    if sp:
        L.append("The largest N each worker count keeps on time, from a W2 sweep with each (the 2-worker one may "
                 "be the standard sweep), and what held it at the first N that was late.")
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
                     f"| {e['first_fail_n'] or 'none up to ' + str(e['capped_at'])} | {e['limit']} |")
        L.append("")
        r = sp["delivered_ratio"]
        res = [x for x in (sp["one"].get("resolution"), sp["two"].get("resolution")) if x]
        n1, n2 = sp["one"]["largest_n"], sp["two"]["largest_n"]
        L.append(f"**2 workers deliver {fmt(r, '{:.2f}')} × the messages per second of 1 worker at the same "
                 f"punctuality** ({fmt(sp['render_ratio'], '{:.2f}')} × the render frames; N = {n2} against "
                 f"{n1}: {fmt(ratio(n2, n1), '{:.2f}')} × the connections; "
                 f"issue 6 expects at least 1.6 ×; the sweeps resolve N to "
                 f"{' and '.join(str(x) for x in sorted(set(res))) or '?'} connections)."
                 + (" Both kept the same N on time: at the same load the difference in messages per second "
                    "is the games' randomness (joins, deaths, scores), not the server."
                    if sp["one"]["largest_n"] == sp["two"]["largest_n"] else "")
                 + (" The 1-worker sweep stopped for time (BENCH_WORKERS_SWEEP_BY) before it was settled: its "
                    "largest N may be higher, so this ratio is an upper bound."
                    if sp["one"]["stopped"] and (not sp["one"]["first_fail_n"]
                                                 or sp["one"]["first_fail_n"] - sp["one"]["largest_n"]
                                                 > (sp["one"]["resolution"] or 0)) else ""))
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
    else:
        if any(n.get("what") == "sweep_without_figure" for n in wk["notes"]):
            L.append("The W2 sweep per worker count measured nothing: it ran out of time "
                     "(BENCH_WORKERS_SWEEP_BY) before its first figure.")
        else:
            L.append("No W2 sweep per worker count in this run (BENCH_WORKERS_SWEEP=0, or `sweep`/`workers` "
                     "not in BENCH_ONLY).")
        w2 = [e for e in wk["fixed_n"] if e["workload"] == "w2" and e["interleaved"]]
        both = [e for e in w2 if e["one"]["meets_punctuality"] and e["two"]["meets_punctuality"]]
        only2 = [e for e in w2 if e["two"]["meets_punctuality"] and not e["one"]["meets_punctuality"]]
        if only2:
            e = only2[-1]
            base = both[-1]["one"]["msgs_per_s"] if both else None
            L.append(f"At N = {e['n']} only 2 workers are on time: at the same punctuality 2 workers deliver "
                     f"at least {fmt(ratio(e['two']['msgs_per_s'], base), '{:.2f}')} × the messages per second "
                     f"of 1 worker (against 1 worker's largest N on time here).")
        elif w2 and len(both) == len(w2):
            L.append(f"Both worker counts are on time at every N compared (up to N = {w2[-1]['n']}): below what "
                     "one worker keeps on time the load sets the rate, so both deliver the same (ratio ≈ 1); "
                     "the ratio at the same punctuality needs the sweeps.")
        for e in w2:
            if not e["two"]["meets_punctuality"]:
                L.append(f"At N = {e['n']} 2 workers were late: {limits(e['two'], 2, ncpu)}.")
                break
    L.append("")
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
    ncpu = os.cpu_count() or 1
    wk = workers_section(rows, a, ncpu)
    bots = bots_section(rows)
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
    sp = wk["same_punctuality"].get("w2")
    if sp:
        r = sp["delivered_ratio"]
        target("W2, 2 workers vs 1: delivered msg/s at the same punctuality >= 1.6 x", r, 1.6,
               r is not None and r >= 1.6,
               fmt(r, "{:.2f} x") + f" (N = {sp['two']['largest_n']} with 2, {sp['one']['largest_n']} with 1)")
    bc = bots.get("comparison")
    if bc:
        r = bc["added_over_search"]
        target(f"Bots: loop-thread CPU added by {bc['bots']} bots per tick <= half their search time "
               "(the search does not show in the loop's time)",
               r, 0.5, r is not None and r <= 0.5,
               f"{fmt(bc['loop_us_added_per_tick'])} µs vs {fmt(bc['search_us_per_tick'])} µs per tick")

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
        "workers_comparison": wk,
        "bots": {str(k): v for k, v in bots.items()},
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
    if wk["fixed_n"] or wk["same_punctuality"]:
        L.extend(workers_md(wk, a, ncpu))
    if bots:
        L.extend(bots_md(bots, a))
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
    a = p.parse_args()
    (cmd_verdict if a.cmd == "verdict" else cmd_report)(a)


if __name__ == "__main__":
    sys.exit(main())
