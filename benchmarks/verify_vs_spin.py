"""padguard verify vs SPIN on the same models: time to verdict from the model files, end to end.

    python benchmarks/verify_vs_spin.py            # Site 31/6, Shuttle 39A and seeded random models
    python benchmarks/verify_vs_spin.py --quick    # the smaller ones only
    python benchmarks/verify_vs_spin.py --eager-travel  # SPIN on the eager graph (travel time chosen at issue)

SPIN gets the lazy-travel export by default (the verifier's default search: the same graph up
to the export's canonical form, see docs/verification.md).

Each stage runs as its own process, one after the other, under ``/usr/bin/time`` (wall time and
peak RSS of that process):

* padguard: one Python process imports padguard, loads and compiles the YAML model (column
  "imp+comp"), then verifies (column "search"); "pg total" is the whole process;
* SPIN, from the same YAML: a Python process imports padguard, compiles the model and writes the
  tight Promela (column "export"), then ``spin -a``, ``gcc -O3 -DSAFETY -DNOBOUNDCHECK -DNOFAIR``
  and ``./pan -m1000000 -wB`` with its hash table sized to the state space (B = ceil(log2 of
  padguard's unreduced count) + 1, at least 18). "SPIN total" is the four stages.

Both tools search the same grid. Printed per model: both verdicts (property by property
agreement is asserted by tests/test_promela.py), padguard's stored states, padguard's unreduced
count (``reduce=False``: no dormant-fault pruning), SPIN's stored states and state-vector bytes,
each stage's seconds, each process's peak RSS, the ratio SPIN total / pg total (> 1: padguard
reaches the verdict sooner) and the search-only ratio pan / pg search. Peak RSS is what each
process really held (the largest of SPIN's stages is shown; gcc is usually it on small models).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HAZARDS = ("plume", "personnel", "invariants", "liveness")
ALL = ("plume", "personnel", "window", "invariants", "liveness")

MODELS = [
    # (site, procedure, K, resolution s, properties, label)
    ("site31", "legacy", 0, 1, ALL, "site31 legacy K=0 @1s"),
    ("site31", "guarded", 0, 1, ALL, "site31 guarded K=0 @1s"),
    ("site31", "legacy", 1, 30, HAZARDS, "site31 legacy K=1 @30s"),
    ("site31", "guarded", 1, 30, HAZARDS, "site31 guarded K=1 @30s"),
    ("site31", "legacy", 1, 10, HAZARDS, "site31 legacy K=1 @10s"),
    ("site31", "guarded", 1, 10, HAZARDS, "site31 guarded K=1 @10s"),
    ("site31", "legacy", 2, 30, HAZARDS, "site31 legacy K=2 @30s"),
    ("site31", "guarded", 2, 30, HAZARDS, "site31 guarded K=2 @30s"),
    # as shipped: cutoff window and recycle, cutoff and abort safing, steps after liftoff
    ("shuttle39a", "crewed", 0, 1, ALL, "shuttle39a K=0 @1s"),
    ("shuttle39a", "crewed", 1, 1, ALL, "shuttle39a K=1 @1s"),
]
QUICK = 4  # --quick: the first four Site 31/6 rows and three random models
RANDOM_SEEDS = (1001, 1002, 1003, 1004, 1005, 1006)
CFLAGS = ("-O3", "-DSAFETY", "-DNOBOUNDCHECK", "-DNOFAIR")

PADGUARD_JOB = r"""
import json, sys, time
t0 = time.perf_counter()
import padguard as pg
from padguard.engines import verify as V
from padguard.model.invariants import compile_invariants
a = json.loads(sys.argv[1])
plan = pg.compile_model(pg.load(a["site"], a["proc"]), a["res_ms"])
invs = compile_invariants(plan)
t1 = time.perf_counter()
r = V.verify(plan, a["k"], properties=tuple(a["props"]), invariants=invs)
t2 = time.perf_counter()
out = {"verdict": r.verdict, "claim": r.claim, "states": r.stats.states, "compile_s": t1 - t0, "search_s": t2 - t1}
if a["unreduced"]:
    out["unreduced"] = V.verify(plan, a["k"], properties=tuple(a["props"]), invariants=invs, reduce=False).stats.states
print("RESULT " + json.dumps(out))
"""


EXPORT_JOB = r"""
import json, sys
import padguard as pg
from padguard.engines.promela import export
from padguard.model.invariants import compile_invariants
a = json.loads(sys.argv[1])
plan = pg.compile_model(pg.load(a["site"], a["proc"]), a["res_ms"])
text = export(plan, a["k"], tuple(a["props"]), compile_invariants(plan), lazy_travel=a["lazy"])
open(a["out"], "w").write(text)
"""


def timed(cmd: list[str], cwd: str | None = None, timeout: float = 3600) -> tuple[str, float, float]:
    """Run ``cmd`` under /usr/bin/time: (stdout+stderr, wall s, peak RSS MiB)."""
    fmt = "@@TIME %e %M"
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", fmt, *cmd], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
    wall = time.perf_counter() - t0
    rss = 0.0
    for line in p.stderr.splitlines():
        if line.startswith("@@TIME"):
            _, w, m = line.split()
            wall, rss = float(w), int(m) / 1024
    if p.returncode not in (0, 1, 3) and "pan" not in cmd[0]:
        raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr[-2000:]}")
    return p.stdout + p.stderr, wall, rss


def run_padguard(site: str, proc: str, k: int, res_ms: int, props: tuple[str, ...], unreduced: bool) -> dict:
    arg = json.dumps({"site": site, "proc": proc, "k": k, "res_ms": res_ms, "props": list(props),
                      "unreduced": unreduced})
    out, wall, rss = timed([sys.executable, "-c", PADGUARD_JOB, arg])
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    d = json.loads(line[7:])
    d["rss"] = rss
    d["wall"] = wall if not unreduced else d["compile_s"] + d["search_s"]
    return d


def run_spin(site: str, proc: str, k: int, res_ms: int, props: tuple[str, ...], states_hint: int,
             lazy: bool = True) -> dict:
    from padguard.engines.promela import parse_pan

    bits = max(18, math.ceil(math.log2(max(states_hint, 2))) + 1)
    with tempfile.TemporaryDirectory(prefix="padguard-bench-") as wd:
        arg = json.dumps({"site": site, "proc": proc, "k": k, "res_ms": res_ms, "props": list(props),
                          "out": str(Path(wd, "model.pml")), "lazy": lazy})
        _, t_e, m_e = timed([sys.executable, "-c", EXPORT_JOB, arg])
        _, t_a, m_a = timed(["spin", "-a", "model.pml"], cwd=wd)
        _, t_c, m_c = timed(["gcc", *CFLAGS, "-o", "pan", "pan.c"], cwd=wd)
        out, t_p, m_p = timed(["./pan", "-m1000000", f"-w{bits}"], cwd=wd)
    r = parse_pan(out, t_p)
    return {"verdict": r.verdict, "states": r.states, "export": t_e, "spin_a": t_a, "gcc": t_c, "pan": t_p,
            "rss": max(m_e, m_a, m_c, m_p), "rss_pan": m_p, "rss_gcc": m_c, "rss_export": m_e, "bits": bits,
            "vector": r.vector_bytes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the smaller models")
    ap.add_argument("--eager-travel", action="store_true",
                    help="export the eager graph to SPIN (travel time chosen at issue) instead of the lazy one")
    args = ap.parse_args()
    from padguard.engines.promela import spin_available
    from padguard.engines.verify_models import random_model, write_model

    if not spin_available():
        print("SPIN baseline unavailable: install Debian's spin and gcc (apt-get install spin gcc)")
        return 2
    spin_v = subprocess.run(["spin", "-V"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; Python {platform.python_version()}, "
          f"numpy {np.__version__}; {spin_v}; pan: gcc {' '.join(CFLAGS)}; SPIN's graph: "
          f"{'eager' if args.eager_travel else 'lazy'} travel")
    jobs = []
    for site, proc, k, res_s, props, label in (MODELS[:QUICK] if args.quick else MODELS):
        jobs.append((site, proc, k, int(res_s * 1000), props, label))
    tmp = tempfile.TemporaryDirectory(prefix="padguard-bench-models-")
    for seed in RANDOM_SEEDS[:3] if args.quick else RANDOM_SEEDS:
        docs = random_model(seed)
        s, p = write_model(Path(tmp.name) / str(seed), docs)
        jobs.append((str(s), str(p), docs["max_faults"], 1000, ALL, f"random seed {seed} K={docs['max_faults']} @1s"))
    head = (f"{'model':<26} {'verdicts pg/SPIN':<18} {'pg states':>10} {'unreduced':>10} {'SPIN states':>11} "
            f"{'vec B':>5} {'pg imp+comp':>11} {'pg search':>9} {'pg total':>8} {'pg RSS':>6} "
            f"{'export':>6} {'spin -a':>7} {'gcc':>6} {'pan':>7} {'SPIN total':>10} {'pan RSS':>7} {'max RSS':>7} "
            f"{'ratio':>6} {'search':>6}")
    print("verdicts: 'proved' = no violation on this grid (a search: only the 1 ms grid is a proof); "
          "times in s, RSS in MiB")
    print(head)
    print("-" * len(head))
    ratios, sratios, agree = [], [], True
    for site, proc, k, res_ms, props, label in jobs:
        ours = run_padguard(site, proc, k, res_ms, props, unreduced=False)
        unred = run_padguard(site, proc, k, res_ms, props, unreduced=True)["unreduced"]
        sp = run_spin(site, proc, k, res_ms, props, unred, lazy=not args.eager_travel)
        pg_total = ours["wall"]
        sp_total = sp["export"] + sp["spin_a"] + sp["gcc"] + sp["pan"]
        ratio = sp_total / pg_total
        sratio = sp["pan"] / max(ours["search_s"], 1e-3)
        ratios.append(ratio)
        sratios.append(sratio)
        same = ours["verdict"] == sp["verdict"]
        agree &= same
        print(f"{label:<26} {ours['verdict'][:8] + '/' + sp['verdict'][:8]:<18} {ours['states']:>10,} {unred:>10,} "
              f"{sp['states']:>11,} {sp['vector']:>5} {ours['compile_s']:>11.2f} {ours['search_s']:>9.2f} "
              f"{pg_total:>8.2f} {ours['rss']:>6.0f} {sp['export']:>6.2f} {sp['spin_a']:>7.2f} {sp['gcc']:>6.2f} "
              f"{sp['pan']:>7.2f} {sp_total:>10.2f} {sp['rss_pan']:>7.0f} {sp['rss']:>7.0f} {ratio:>6.2f} "
              f"{sratio:>6.3g}" + ("" if same else "  VERDICTS DIFFER"), flush=True)
    gm = float(np.exp(np.mean(np.log(ratios))))
    gs = float(np.exp(np.mean(np.log(sratios))))
    print()
    print(f"verdicts agree on all {len(jobs)} models: {agree}")
    print(f"time to verdict from the YAML, SPIN / padguard (geometric mean over {len(jobs)} models): x{gm:.2f} "
          f"({'padguard faster' if gm >= 1 else 'SPIN faster'}); worst row x{min(ratios):.2f}")
    print(f"search alone, pan / padguard search (geometric mean): x{gs:.3g}; worst row x{min(sratios):.3g} "
          "(< 1: pan faster; the graphs differ, see the state columns; on a violated model pan's depth-first "
          "search stops at its first counterexample, padguard's breadth-first one at a shortest)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
