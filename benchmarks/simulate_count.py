"""Benchmark: one full crewed Site 31/6 count on the digital twin.

Baseline: the same Plan and the same rules stepped on a fixed 1-second tick (what a
straightforward simulator does), against padguard's event-driven jumps. Both must reach the
same outcome; the script prints wall time per count and the ratio.

    python benchmarks/simulate_count.py
"""

from __future__ import annotations

import time

import numpy as np

import padguard as pg
from padguard import semantics
from padguard.sequencer.table import FINAL, Mode


def tick_stepped(plan: pg.Plan, tr_u: np.ndarray, tick_ms: int = 1000) -> str:
    """The baseline: settle at every tick whether or not anything can change."""
    S = semantics.initial_state(plan, 1)
    semantics.settle(plan, S, tr_u=tr_u)
    while Mode(int(S[plan.MODE, 0])) not in FINAL:
        semantics.advance_to(plan, S, S[plan.T] + tick_ms)
        semantics.settle(plan, S, tr_u=tr_u)
    return semantics.OUTCOMES[int(semantics.outcome_codes(plan, S)[0])]


def best_of(fn, n: int) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    plan = pg.compile_model(pg.load("site31", "guarded"))
    # Travel times on whole seconds so the 1 s tick baseline is exact too.
    tr_u = np.zeros((len(plan.step_at), 1))
    ev = pg.simulate(plan, seed=0, travel_u=tr_u)
    base = tick_stepped(plan, tr_u)
    assert ev.outcome == base, (ev.outcome, base)
    t_event = best_of(lambda: pg.simulate(plan, seed=0, travel_u=tr_u), 20)
    t_tick = best_of(lambda: tick_stepped(plan, tr_u), 3)
    print(f"site31/guarded full crewed count (T-1h05m to T-0), outcome {ev.outcome}")
    print(f"  padguard event-driven simulate(): {t_event * 1e3:8.1f} ms/count "
          f"({len(ev.events)} narrated events)")
    print(f"  baseline 1 s tick stepping:       {t_tick * 1e3:8.1f} ms/count")
    print(f"  ratio (baseline / padguard):      {t_tick / t_event:8.1f}x")


if __name__ == "__main__":
    main()
