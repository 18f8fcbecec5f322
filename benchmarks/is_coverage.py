"""Coverage of the importance-sampling intervals for Site 31/6 guarded pad damage.

Reference: exact stratification over the 9 stopper and stopper-switch fault modes (512 strata,
exact stratum probabilities, plain Monte Carlo inside each; :mod:`padguard.engines.risk_strata`).
Then ``rare_event`` with ``--seeds`` seeds: how many 95 % intervals cover the reference, the mean
relative bias, and the mean z-score (estimate - reference) / reported se.

    PYTHONPATH=src python3 benchmarks/is_coverage.py --seeds 30 --budget 200000

Slow (minutes): run by hand, record the output in docs/risk.md (the CI test is the small
mini-pad version in tests/test_risk_coverage.py).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import padguard as pg
from padguard.engines import risk
from padguard.engines import risk_campaign as rc
from padguard.engines.risk_strata import stratified

GROUP = ["cabin.stopper:not_installed", "cabin.stopper:misaligned", "cabin.stopper:pops_out"] + [
    f"{s}:{m}" for s in ("stopper_a", "stopper_b") for m in ("stuck", "dropout", "reads_wrong")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--site", default="site31", help="site name or folder (default: the shipped one)")
    ap.add_argument("--procedure", default="guarded")
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--budget", type=int, default=200_000)
    ap.add_argument("--target-re", type=float, default=0.05)
    ap.add_argument("--ref-per-stratum", type=int, default=1024)
    ap.add_argument("--ref-second-stage", type=int, default=1_000_000)
    ap.add_argument("--ref", type=float, nargs=2, metavar=("P", "SE"), help="reuse a reference")
    a = ap.parse_args()
    plan = pg.compile_model(pg.load(a.site, a.procedure))
    law = risk.trial_law(plan)
    t0 = time.perf_counter()
    if a.ref:
        ref_p, ref_se = a.ref
    else:
        ref = stratified(plan, law, GROUP, "pad_damaged", seed=2026, per_stratum=a.ref_per_stratum,
                         second_stage=a.ref_second_stage)
        ref_p, ref_se = ref.p, ref.se
        print(json.dumps({"reference": ref_p, "se": ref_se, "trials": ref.trials,
                          "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
    cover, zs, rel = 0, [], []
    for seed in range(a.seeds):
        r = rc.rare_event(plan, law, "pad_damaged", seed=seed, budget=a.budget, target_re=a.target_re)
        e = r.estimate
        ok = e.lo <= ref_p <= e.hi
        cover += ok
        zs.append((e.p - ref_p) / e.se if e.se > 0 else math.inf)
        rel.append(e.p / ref_p - 1)
        print(json.dumps({"seed": seed, "p": e.p, "se": e.se, "rel_err": e.rel_err, "covers": ok,
                          "z": zs[-1], "trials": e.trials}), flush=True)
    n = a.seeds
    print(json.dumps({"reference": ref_p, "reference_se": ref_se, "seeds": n, "covered": cover,
                      "coverage": cover / n, "mean_rel_bias": sum(rel) / n,
                      "mean_z": sum(zs) / n, "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
