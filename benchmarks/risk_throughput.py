"""Benchmark: Site 31/6 guarded trials per second, one command, against the event-driven SimPy model.

What it measures (the model's own trial law, seed 1, crude sampling):

1. the engine alone: one 65,536-trial chunk run through the semantics in this process (best of
   ``--repeat`` runs, CPU time), with the profile figures that bound it: columns per batch,
   state rows and dtype, column-events (settles) and sequencer passes per countdown;
2. a whole campaign (draw, run, statistics) in 1 process and on ``--workers`` local
   processes, with the projection to 1e7 trials (``--full`` runs the 1e7 campaign itself);
3. the event-driven SimPy baseline of ``benchmarks/risk_vs_simpy.py`` on the first
   ``--simpy-trials`` of the same draw, checked outcome by outcome, and the ratio.

    PYTHONPATH=src python3 benchmarks/risk_throughput.py [--trials 1048576] [--workers 2]
                                                         [--simpy-trials 1000] [--full]

The machine is shared: the load average is printed before and after; read ratios, not rates.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import padguard as pg
from padguard import semantics
from padguard.engines import risk
from padguard.engines import risk_campaign as rc

sys.path.insert(0, str(Path(__file__).parent))
from risk_vs_simpy import SimpyCount, simpy_trials  # noqa: E402

GOAL_TRIALS, GOAL_S = 10_000_000, 10.0


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _count_events(plan: pg.Plan, trials: risk.Trials) -> tuple[float, float]:
    """Column-settles and sequencer column-passes per countdown (instrumented run)."""
    from padguard.sequencer import rules

    counts = {"settle": 0, "decide": 0}
    settle, decide = semantics.settle, rules.decide

    def s(plan_, S, *a, **k):
        counts["settle"] += S.shape[1]
        return settle(plan_, S, *a, **k)

    def d(plan_, S, *a, **k):
        counts["decide"] += S.shape[1]
        return decide(plan_, S, *a, **k)

    semantics.settle, rules.decide = s, d
    try:
        risk.run_results(plan, trials)
    finally:
        semantics.settle, rules.decide = settle, decide
    return counts["settle"] / trials.n, counts["decide"] / trials.n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=16 * rc.CHUNK, help="campaign trials (projected to 1e7)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--simpy-trials", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="also run the 1e7-trial campaign on --workers")
    a = ap.parse_args()
    print(_load(), "(before)")
    plan = pg.compile_model(pg.load("site31", "guarded"))
    law = risk.trial_law(plan)

    # 1. the engine alone, one chunk
    trials = risk.draw(plan, law, np.random.default_rng(1), rc.CHUNK)
    best = min(_timed(lambda: risk.run_results(plan, trials)) for _ in range(a.repeat))
    res = risk.run_results(plan, trials)
    eng = trials.n / best
    settles, passes = _count_events(plan, trials)
    print(f"1. engine, one process, {trials.n:,} trials (one chunk): {best:.3f} s CPU = {eng:,.0f} trials/s "
          f"= {1e6 / eng:.2f} us per countdown")
    print(f"   1e7 trials on {a.workers} free cores at this CPU rate (projection): "
          f"{GOAL_TRIALS / (a.workers * eng):.0f} s (goal {GOAL_S:.0f} s)")
    print(f"   batch {risk.BATCH} columns; state {plan.layout.size} rows x int64 = "
          f"{plan.layout.size * 8 * risk.BATCH / 2**20:.1f} MiB per batch; {settles:.1f} settles and "
          f"{passes:.1f} sequencer passes per countdown = {best / trials.n / settles * 1e9:.0f} ns per column-settle")

    # 2. whole campaigns
    kw = dict(seed=1, method="crude")
    t1 = _wall(lambda: rc.campaign([plan], a.trials // 4, **kw)) * 4
    print(f"2. campaign, 1 process: {a.trials // 4:,} trials in {t1 / 4:.2f} s = {a.trials / t1:,.0f} trials/s; "
          f"1e7 projected {GOAL_TRIALS / (a.trials / t1):.0f} s")
    with rc.executor_for(a.workers) as ex:
        list(ex.map(abs, range(a.workers)))  # workers started before timing
        tw = _wall(lambda: rc.campaign([plan], a.trials, executor=ex, **kw))
        rate = a.trials / tw
        print(f"   campaign, {a.workers} local processes: {a.trials:,} trials in {tw:.2f} s = {rate:,.0f} trials/s; "
              f"1e7 projected {GOAL_TRIALS / rate:.0f} s (goal {GOAL_S:.0f} s: "
              f"{'met' if GOAL_TRIALS / rate <= GOAL_S else f'{GOAL_TRIALS / rate / GOAL_S:.1f}x short'})")
        if a.full:
            tf = _wall(lambda: rc.campaign([plan], GOAL_TRIALS, executor=ex, **kw))
            print(f"   campaign, {a.workers} local processes: {GOAL_TRIALS:,} trials in {tf:.1f} s (actual)")

    # 3. the event-driven SimPy baseline on the same trials
    k = min(a.simpy_trials, trials.n)
    t0 = time.process_time()  # CPU time, like the engine's figure (wall time follows the load)
    sp = simpy_trials(SimpyCount(plan), plan, trials, range(k))
    t_sp = time.process_time() - t0
    same = sum(risk.OUTCOMES[c] == o for c, o in zip(res.outcome[:k], sp, strict=True))
    assert same == k, f"SimPy and padguard disagree on {k - same} of {k} trials"
    sp_rate = k / t_sp
    print(f"3. SimPy event-driven baseline, one process: {k:,} trials (all {same} outcomes equal) in "
          f"{t_sp:.2f} s CPU = {sp_rate:,.0f} trials/s")
    print(f"   ratio, one process each, CPU time (padguard engine / SimPy): {eng / sp_rate:.0f}x")
    print(_load(), "(after)")


def _timed(f) -> float:
    t0 = time.process_time()
    f()
    return time.process_time() - t0


def _wall(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
