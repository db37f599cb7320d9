#!/usr/bin/env python3
"""Checks of run.sh and report.py without load: how the sweeps move, run in
lockstep and stop for time, and how the report decides the targets of
issue 11. run.sh runs against stand-ins (bench/fake/: a server that answers
/api/stats, a generator whose figures are on time exactly up to a given N,
a floor), so a whole run takes seconds and its outcome is known in advance.

  /usr/bin/python3 bench/test_bench.py      (also run by `make -C bench check`)
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402

# On time up to these N (workload:workers): 2 loops keep 3500 in W1, 1 loop 2250.
ON_TIME = "w1:1=2250,w1:2=3600,w2:1=2700,w2:2=3200"


def run_bench(out_dir, name, only, sweep_by, key_p99=50, extra=None, runs=2):
    """run.sh against the stand-ins; returns its JSON result."""
    fake = os.path.join(HERE, "fake")
    env = dict(os.environ, BENCH_BIN_DIR=fake, BENCH_SERVER=os.path.join(fake, "snakepit"), BENCH_RUNS=str(runs),
               BENCH_WARMUP="0", BENCH_DURATION="1", BENCH_W3_N="1000", BENCH_ONLY=only,
               BENCH_SWEEP_BY=str(sweep_by), BENCH_OUT_DIR=out_dir, BENCH_OUT_NAME=name,
               FAKE_ON_TIME=ON_TIME, FAKE_KEY_P99=str(key_p99), BENCH_QUICK="0")
    for k in ("BENCH_W1_N", "BENCH_W2_N", "BENCH_WORKERS_N", "BENCH_SWEEP_START", "BENCH_PIN", "BENCH_CONNECT_RATE"):
        env.pop(k, None)
    env.update(extra or {})
    p = subprocess.run([os.path.join(HERE, "run.sh")], env=env, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError(f"run.sh exited {p.returncode}:\n{p.stderr[-3000:]}")
    with open(os.path.join(out_dir, name + ".json")) as f:
        return json.load(f)


def sweep(out, w, set_, workers):
    return next(s for s in out["sweeps"] if s["workload"] == w and s["set"] == set_ and s["workers"] == workers)


def target(out, start):
    return next(t for t in out["targets"] + out["earlier_targets"] if t["figure"].startswith(start))


class FullRun(unittest.TestCase):
    """Every workload but the bots, with 2 runs per figure."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = run_bench(cls.tmp.name, "full", "floor w1 w2 w3 sweep workers", 100000, key_p99=56)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_sweeps_find_the_largest_n_on_time(self):
        # From 3000 by 500, then bisected to 125 (W1) and 250 (W2).
        s1, s2 = sweep(self.out, "w1", "workers", 1), sweep(self.out, "w1", "workers", 2)
        self.assertEqual((s1["largest_n"], s1["first_fail_n"]), (2250, 2375))
        self.assertEqual((s2["largest_n"], s2["first_fail_n"]), (3500, 3625))
        self.assertEqual([n for n, _ in s1["path"]], [3000, 2500, 2000, 2250, 2375])
        std = sweep(self.out, "w2", "std", 2)
        self.assertEqual((std["largest_n"], std["first_fail_n"]), (3000, 3250))
        one = sweep(self.out, "w2", "workers", 1)
        self.assertEqual((one["largest_n"], one["first_fail_n"]), (2500, 2750))
        # Without a W1 sweep of the standard runs: the 2-loop one stands for it.
        self.assertFalse([s for s in self.out["sweeps"] if s["workload"] == "w1" and s["set"] == "std"])

    def test_sweeps_alternate_worker_counts_run_by_run(self):
        seq = [(r["workers"], r["n"], r["run"]) for r in self.out["raw"] if r["kind"] == "run"
               and r["workload"] == "w1" and r["set"] == "workers" and r["n"] not in (2000, 3000)]
        self.assertEqual(seq, [(2, 3500, 1), (1, 2500, 1), (1, 2500, 2), (2, 3500, 2),
                               (2, 4000, 1), (1, 2250, 1), (1, 2250, 2), (2, 4000, 2),
                               (2, 3750, 1), (1, 2375, 1), (1, 2375, 2), (2, 3750, 2),
                               (2, 3625, 1), (2, 3625, 2)])

    def test_figures_measured_before_are_not_measured_again(self):
        runs = [r for r in self.out["raw"] if r["kind"] == "run" and r["workload"] == "w1" and r["n"] == 3000]
        self.assertEqual(sorted((r["set"], r["workers"]) for r in runs),
                         [("std", 2), ("std", 2), ("workers", 1), ("workers", 1)])

    def test_issue11_targets(self):
        t = target(self.out, "W1 N=3000, 2 loops")
        self.assertIs(t["met"], True)
        self.assertEqual(t["cpu"][0]["server_cpu_pct"], 60.0)
        t = target(self.out, "W1 largest N")
        self.assertIs(t["met"], True)
        self.assertAlmostEqual(t["value"], 3500 / 2250)
        self.assertEqual([c["at"] for c in t["cpu"]],
                         ["W1 N=2375, 1 loop (first late)", "W1 N=3625, 2 loops (first late)"])
        self.assertAlmostEqual(target(self.out, "W2 N=2000: server CPU")["value"], 4.0 / 4.2)
        self.assertIs(target(self.out, "RSS per connection, W1")["met"], True)
        self.assertIs(target(self.out, "RSS per idle")["met"], True)
        t = target(self.out, "key-to-effect")
        self.assertIs(t["met"], False)  # 56 ms against 55
        self.assertEqual(len(self.out["targets"]), 6)
        for t in self.out["targets"]:
            self.assertEqual(t["cpu"][0]["machine_cpu_pct"], 120.0, t["figure"])

    def test_markdown_has_both_target_tables(self):
        with open(os.path.join(self.tmp.name, "full.md")) as f:
            md = f.read()
        self.assertIn("## Targets (issue 11", md)
        self.assertIn("## Earlier targets (issues 4 and 6)", md)
        self.assertIn("| key-to-effect p99, W2 N=2000 | <= one tick + 5 ms (55 ms) | 56.0 ms | **no** |", md)
        self.assertNotIn("not 1000", md)  # W3 ran at the N asked


class StoppedForTime(unittest.TestCase):
    """BENCH_SWEEP_BY=1: the sweeps start no figure; the report says what
    it cannot decide."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = run_bench(cls.tmp.name, "stopped", "w1 sweep workers", 1,
                            extra={"BENCH_W1_N": "3000", "BENCH_WORKERS_N": "3000"}, runs=1)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_sweeps_stop_after_what_was_measured(self):
        s1, s2 = sweep(self.out, "w1", "workers", 1), sweep(self.out, "w1", "workers", 2)
        self.assertEqual((s1["largest_n"], s1["first_fail_n"], s1["stopped"]), (0, 3000, "time"))
        self.assertEqual((s2["largest_n"], s2["first_fail_n"], s2["stopped"]), (3000, 0, "time"))
        std = sweep(self.out, "w2", "std", 2)
        self.assertEqual((std["largest_n"], std["first_fail_n"], std["path"]), (0, 0, []))

    def test_undecided_and_missing_targets_say_so(self):
        self.assertIs(target(self.out, "W1 N=3000, 2 loops")["met"], True)
        t = target(self.out, "W1 largest N")
        self.assertIsNone(t["met"])
        self.assertIn("not decided", t["why"])
        self.assertIn("stopped for time", t["why"])
        for start in ("W2 N=2000: server CPU", "RSS per connection, W1", "RSS per idle", "key-to-effect"):
            t = target(self.out, start)
            self.assertIsNone(t["met"], start)
            self.assertTrue(t["why"].startswith("not measured"), t["why"])
        self.assertIn("not decided", target(self.out, "W2 sweep with the default loops")["why"])


def span(lo, hi, res=125, stopped="", cap=8000):
    return {"largest_n": lo, "first_fail_n": hi, "resolution": res, "stopped": stopped, "capped_at": cap}


class Ratio(unittest.TestCase):
    """report.n_ratio: 2 loops over 1, decided only where the sweeps allow."""

    def test_settled_sweeps_give_the_ratio(self):
        r = report.n_ratio(span(2000, 2125), span(3000, 3125), 1.5)
        self.assertEqual((r["value"], r["met"]), (1.5, True))
        r = report.n_ratio(span(2000, 2125), span(2875, 3000), 1.5)
        self.assertIs(r["met"], False)

    def test_a_capped_2_loop_sweep_gives_a_lower_bound(self):
        self.assertIs(report.n_ratio(span(2000, 2125), span(8000, 0), 1.5)["met"], True)
        r = report.n_ratio(span(2000, 2125), span(2500, 0, stopped="time"), 1.5)
        self.assertIsNone(r["met"])
        self.assertIn("stopped for time", r["open"][0])

    def test_an_open_1_loop_sweep_gives_an_upper_bound(self):
        self.assertIs(report.n_ratio(span(3000, 0, cap=3000), span(3500, 3625), 1.5)["met"], False)
        self.assertIsNone(report.n_ratio(span(1000, 0, cap=1000), span(3500, 3625), 1.5)["met"])

    def test_no_n_on_time_with_1_loop(self):
        r = report.n_ratio(span(0, 500), span(1000, 1125), 1.5)
        self.assertEqual((r["value"], r["met"]), (None, True))  # 1 loop < 500, 2 loops 1000
        self.assertIsNone(report.n_ratio(span(0, 500), span(625, 750), 1.5)["met"])


if __name__ == "__main__":
    unittest.main(verbosity=1)
