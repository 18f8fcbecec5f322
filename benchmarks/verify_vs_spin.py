"""padguard verify vs SPIN (pan compiled with gcc -O2 -DSAFETY) on the same models, in one run.

    python benchmarks/verify_vs_spin.py            # the Site 31/6 models below
    python benchmarks/verify_vs_spin.py --quick    # smaller models only

For each model both tools explore the whole state space (every model here is proved, so
neither stops early). SPIN gets the Promela that ``padguard export promela`` writes: the same
transition system, without padguard's reductions. Printed per model and tool: states stored,
seconds of search (SPIN: pan's own elapsed time, compilation excluded), states per second,
bytes per stored state, and the ratios padguard / SPIN. Because the two tools store different
numbers of states for the same model (SPIN has no dormant-fault pruning), the time to the
verdict is printed too: it is the figure a user feels.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time

import padguard as pg
from padguard.engines import verify as V
from padguard.engines.promela import export, run_spin, spin_available

HAZARDS = ("plume", "personnel", "invariants", "liveness")

MODELS = [
    # (site, procedure, K, resolution s, properties, label)
    ("site31", "legacy", 0, 1, V.PROPERTIES, "legacy K=0 @1s (both tower halves: 181x181 travel times)"),
    ("site31", "guarded", 0, 1, V.PROPERTIES, "guarded K=0 @1s"),
    ("site31", "guarded", 1, 10, HAZARDS, "guarded K=1 @10s"),
    ("site31", "guarded", 1, 5, HAZARDS, "guarded K=1 @5s"),
    ("site31", "guarded", 2, 30, HAZARDS, "guarded K=2 @30s"),
    ("site31", "guarded", 2, 10, HAZARDS, "guarded K=2 @10s"),
]


def spin_bytes_per_state(out: str, states: int) -> float:
    """pan's 'equivalent memory usage for states (stored*(State-vector + overhead))' per state."""
    m = re.search(r"([0-9.]+)\s+equivalent memory usage for states", out)
    return float(m.group(1)) * 2**20 / states if m and states else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the smaller models")
    args = ap.parse_args()
    if not spin_available():
        print("SPIN baseline unavailable: install Debian's spin and gcc (apt-get install spin gcc)")
        return 2
    models = MODELS[:3] + MODELS[4:5] if args.quick else MODELS
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {__import__('numpy').__version__}; {__import__('subprocess').run(['spin', '-V'], capture_output=True, text=True).stdout.strip()}")
    head = (f"{'model':<58} {'tool':<8} {'verdict':<8} {'states':>10} {'time s':>8} {'states/s':>10} "
            f"{'B/state':>8}")
    print(head)
    print("-" * len(head))
    rows = []
    for site, proc, k, res_s, props, label in models:
        plan = pg.compile_model(pg.load(site, proc), int(res_s * 1000))
        t0 = time.perf_counter()
        ours = V.verify(plan, max_faults=k, properties=props)
        wall = time.perf_counter() - t0
        spin = run_spin(export(plan, k, props), hash_bits=24)
        sb = spin_bytes_per_state(spin.output, spin.states)
        ob = ours.stats.bytes_per_state
        print(f"{label:<58} {'padguard':<8} {ours.verdict:<8} {ours.stats.states:>10,} {wall:>8.2f} "
              f"{ours.stats.states / wall:>10,.0f} {ob:>8.0f}")
        print(f"{'':<58} {'SPIN':<8} {spin.verdict:<8} {spin.states:>10,} {spin.seconds:>8.2f} "
              f"{spin.rate:>10,.0f} {sb:>8.0f}")
        rate_ratio = (ours.stats.states / wall) / spin.rate if spin.rate else float("nan")
        time_ratio = spin.seconds / wall if wall else float("nan")
        print(f"{'':<58} ratio    states/s x{rate_ratio:.2f}, bytes/state x{ob / sb:.2f}, "
              f"time to verdict: padguard {'faster' if time_ratio >= 1 else 'slower'} x{max(time_ratio, 1 / time_ratio):.2f}"
              f"{'' if ours.verdict == spin.verdict else '   VERDICTS DIFFER'}")
        rows.append((label, rate_ratio, ob / sb, time_ratio, ours.verdict == spin.verdict))
    print()
    agree = all(r[4] for r in rows)
    print(f"verdicts agree on all {len(rows)} models: {agree}")
    gm = lambda xs: float(__import__("numpy").exp(__import__("numpy").mean(__import__("numpy").log(xs))))  # noqa: E731
    print(f"geometric mean, padguard / SPIN: states/s x{gm([r[1] for r in rows]):.2f}, bytes/state "
          f"x{gm([r[2] for r in rows]):.2f}, time to verdict (SPIN / padguard) x{gm([r[3] for r in rows]):.2f}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
