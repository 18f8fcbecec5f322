"""Benchmark: Site 31/6 guarded trials per second, one command, against the event-driven SimPy model.

What it measures (the model's own trial law, seed 1, crude sampling):

1. the event loop alone: one 65,536-trial chunk run through the semantics in this process
   with the fault-free graph off (best of ``--repeat`` runs, CPU time), with the profile
   figures that bound it: columns per batch, state rows and dtype, column-events (settles) and
   sequencer passes per countdown;
2. the fault-free graph (``padguard.engines.risk_graph``): its build time and size, and the
   same chunk with it (the chunk's fault-free trials walk the graph, checked equal to the event
   loop trial by trial; its faulty trials run the event loop);
3. a whole campaign (draw, run, statistics) in 1 process and on ``--workers`` local
   processes, graph on (the default) and off, with the projection to 1e7 trials (``--full``
   runs the 1e7 campaign itself, graph builds included);
4. the event-driven SimPy baseline of ``benchmarks/risk_vs_simpy.py`` on the first
   ``--simpy-trials`` of the same draw, checked outcome by outcome, and the ratios.

    PYTHONPATH=src python3 benchmarks/risk_throughput.py [--trials 1048576] [--workers 2]
                                                         [--simpy-trials 1000] [--full]

The machine is shared: the load average is printed before and after; read ratios, not rates.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np

import padguard as pg
from padguard import semantics
from padguard.engines import risk, risk_graph
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

    # 1. the event loop alone, one chunk (graph off)
    trials = risk.draw(plan, law, np.random.default_rng(1), rc.CHUNK)
    with _graph("0"):
        best = min(_timed(lambda: risk.run_results(plan, trials)) for _ in range(a.repeat))
        res = risk.run_results(plan, trials)
        settles, passes = _count_events(plan, trials)
    eng = trials.n / best
    print(f"1. event loop (graph off), one process, {trials.n:,} trials (one chunk): {best:.3f} s CPU = "
          f"{eng:,.0f} trials/s = {1e6 / eng:.2f} us per countdown")
    print(f"   1e7 trials on {a.workers} free cores at this CPU rate (projection): "
          f"{GOAL_TRIALS / (a.workers * eng):.0f} s (goal {GOAL_S:.0f} s)")
    print(f"   batch {risk.BATCH} columns; state {plan.layout.size} rows x int64 = "
          f"{plan.layout.size * 8 * risk.BATCH / 2**20:.1f} MiB per batch; {settles:.1f} settles and "
          f"{passes:.1f} sequencer passes per countdown = {best / trials.n / settles * 1e9:.0f} ns per column-settle")

    # 2. the fault-free graph
    t_build = _timed(lambda: risk_graph.build(plan))
    g = risk_graph.build(plan)
    plan.__dict__["_risk_graphs"] = {(): g}
    ff = np.flatnonzero(~trials.occ.any(axis=0))
    walked = risk_graph.walk(g, trials.tr_u(plan)[:, ff])
    ref = np.stack([getattr(res, f)[ff] for f in risk.RESULT_FIELDS], axis=1)
    assert np.array_equal(walked, ref), "graph walk and event loop disagree"
    t_walk = min(_timed(lambda: risk_graph.walk(g, trials.tr_u(plan)[:, ff])) for _ in range(a.repeat))
    with _graph(None):
        best_g = min(_timed(lambda: risk.run_results(plan, trials)) for _ in range(a.repeat))
    print(f"2. fault-free graph: built in {t_build:.2f} s CPU ({g.nodes:,} states, {len(g.edge_off):,} with a "
          f"travel choice, {g.edges:,} edges, {len(g.results)} distinct results, at most {g.depth} settles on a path)")
    print(f"   walk: {len(ff):,} fault-free trials ({len(ff) / trials.n:.1%} of the chunk), all equal to the "
          f"event loop, in {t_walk * 1e3:.1f} ms = {t_walk / len(ff) * 1e9:.0f} ns a trial")
    print(f"   the chunk with the graph: {best_g:.3f} s CPU = {trials.n / best_g:,.0f} trials/s "
          f"({best / best_g:.1f}x the event loop alone)")

    # 3. whole campaigns
    kw = dict(seed=1, method="crude")
    rates = {}
    for mode in ("1", "0"):
        with _graph(None if mode == "1" else "0"):  # on: the engine's own policy
            plan.__dict__.pop("_risk_graphs", None)
            risk_graph._CACHE.clear()
            label = "graph on " if mode == "1" else "graph off"
            t1 = _wall(lambda: rc.campaign([plan], a.trials // 4, **kw)) * 4
            print(f"3. {label}: campaign, 1 process: {a.trials // 4:,} trials in {t1 / 4:.2f} s = "
                  f"{a.trials / t1:,.0f} trials/s" + (" (graph build included)" if mode == "1" else ""))
            with rc.executor_for(a.workers) as ex:
                list(ex.map(abs, range(a.workers)))  # workers started before timing
                tw = _wall(lambda: rc.campaign([plan], a.trials, executor=ex, **kw))
                rates[mode] = rate = a.trials / tw
                print(f"   {label}: campaign, {a.workers} local processes: {a.trials:,} trials in {tw:.2f} s = "
                      f"{rate:,.0f} trials/s; 1e7 projected {GOAL_TRIALS / rate:.1f} s (goal {GOAL_S:.0f} s: "
                      f"{'met' if GOAL_TRIALS / rate <= GOAL_S else f'{GOAL_TRIALS / rate / GOAL_S:.1f}x short'})")
                if a.full and mode == "1":
                    tf = _wall(lambda: rc.campaign([plan], GOAL_TRIALS, executor=ex, **kw))
                    print(f"   graph on : campaign, {a.workers} local processes: {GOAL_TRIALS:,} trials in "
                          f"{tf:.1f} s (actual, graph builds in the workers included)")
    print(f"   campaign ratio on {a.workers} processes, graph on / off: {rates['1'] / rates['0']:.1f}x")

    # 4. the event-driven SimPy baseline on the same trials
    k = min(a.simpy_trials, trials.n)
    t0 = time.process_time()  # CPU time, like the engine's figure (wall time follows the load)
    sp = simpy_trials(SimpyCount(plan), plan, trials, range(k))
    t_sp = time.process_time() - t0
    same = sum(risk.OUTCOMES[c] == o for c, o in zip(res.outcome[:k], sp, strict=True))
    assert same == k, f"SimPy and padguard disagree on {k - same} of {k} trials"
    sp_rate = k / t_sp
    print(f"4. SimPy event-driven baseline, one process: {k:,} trials (all {same} outcomes equal) in "
          f"{t_sp:.2f} s CPU = {sp_rate:,.0f} trials/s")
    print(f"   ratio, one process each, CPU time, every trial simulated (padguard event loop / SimPy): "
          f"{eng / sp_rate:.0f}x")
    print(f"   ratio with the fault-free graph (padguard chunk with graph / SimPy; build not included): "
          f"{trials.n / best_g / sp_rate:.0f}x")
    print(_load(), "(after)")


@contextlib.contextmanager
def _graph(mode: str | None):
    """PADGUARD_RISK_GRAPH=mode inside the block, or unset for None (the engine's own policy:
    a graph per fault set with enough trials); inherited by worker processes started there."""
    old = os.environ.get("PADGUARD_RISK_GRAPH")
    if mode is None:
        os.environ.pop("PADGUARD_RISK_GRAPH", None)
    else:
        os.environ["PADGUARD_RISK_GRAPH"] = mode
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PADGUARD_RISK_GRAPH", None)
        else:
            os.environ["PADGUARD_RISK_GRAPH"] = old


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
