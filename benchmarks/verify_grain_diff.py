"""Does a coarse grid miss violations in practice? Seeded random small models, every property on
its own, verified on the model's default grid (the gcd of its times) and on a finer one.

    python benchmarks/verify_grain_diff.py --seeds 0 200 --fine-ms 100

Prints every seed and property where the verdicts differ (a violation the coarse grid missed:
the coarse verdict is a search, docs/verification.md says why it is not a proof), and a summary.
A difference the other way round would be a bug (a violation found on the coarse grid is a run
of the model, so a finer grid that contains it must find one too) and fails the run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import padguard as pg
from padguard.engines import verify as V
from padguard.engines.verify_models import random_model, write_model
from padguard.model.invariants import compile_invariants


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs=2, default=[0, 100], metavar=("FIRST", "END"))
    ap.add_argument("--fine-ms", type=int, default=100)
    ap.add_argument("--max-states", type=int, default=3_000_000)
    a = ap.parse_args()
    t0 = time.perf_counter()
    missed, wrong, skipped, n = [], [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(*a.seeds):
            docs = random_model(seed)
            site, proc = write_model(Path(tmp) / str(seed), docs)
            model = pg.load(site, proc)
            coarse = pg.compile_model(model)
            g = V.grain(coarse)
            if g % a.fine_ms:
                skipped += 1
                continue
            coarse = pg.compile_model(model, g)
            fine = pg.compile_model(model, a.fine_ms)
            k = docs["max_faults"]
            for prop in V.PROPERTIES:
                rc = V.verify(coarse, k, properties=(prop,), invariants=compile_invariants(coarse))
                rf = V.verify(fine, k, properties=(prop,), invariants=compile_invariants(fine),
                              max_states=a.max_states)
                if rf.verdict == "bounded":
                    continue
                n += 1
                if rc.verdict == "proved" and rf.verdict == "violated":
                    missed.append((seed, prop, rf.violation.detail if rf.violation else ""))
                    print(f"seed {seed} {prop}: no violation at {g} ms, violated at {a.fine_ms} ms "
                          f"({rf.violation.detail if rf.violation else ''})", flush=True)
                elif rc.verdict == "violated" and rf.verdict == "proved":
                    wrong.append((seed, prop))
                    print(f"seed {seed} {prop}: VIOLATED at {g} ms but not at {a.fine_ms} ms (bug)", flush=True)
    print(f"{n} (model, property) pairs compared, seeds {a.seeds[0]}..{a.seeds[1] - 1} ({skipped} models skipped: "
          f"grain not a multiple of {a.fine_ms} ms); coarse grid missed {len(missed)}; contradictions {len(wrong)}; "
          f"{time.perf_counter() - t0:.0f} s")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
