"""Benchmark: padguard crew on a year with 30 flights (check, plan, risk), each with its baseline.

* ``check``: YAML load + compile + check of the whole year, end to end (target < 1 s).
* ``plan``: CP-SAT re-plan after a 120-day outage of the Soyuz pad, to proven optimality or a
  stated gap within 60 s, against the greedy re-scheduler (``padguard.crew.plan.greedy``) on the
  same input: objective values (total slip, crew-days without a lifeboat seat) and times.
* ``risk``: 1e5 sampled outage histories through the vectorised engine, against a plain Python
  loop (placement loop over launches, then a loop over days per history) on the *same draws*
  for a subset; the results must agree exactly on that subset; throughput ratio printed.

    python benchmarks/crew_bench.py [--histories 100000] [--loop-histories 1000] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from padguard.crew import plan as pl
from padguard.crew import risk as cr
from padguard.crew import timeline as tl
from padguard.crew.days import NEVER, compile_days
from padguard.crew.model import load_scenario

START = dt.date(2027, 1, 1)


def d(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def year_with_30_flights() -> dict:
    """A synthetic but ISS-shaped year: 4 Soyuz + 4 Dragon rotations, 22 cargo flights."""
    src = "benchmark: synthetic year (assumption)"
    doc = yaml.safe_load((Path(__file__).resolve().parents[1] / "src/padguard/crew/scenarios/iss-2025-2026.yaml").read_text())
    doc.update(scenario="bench-year", name="A year with 30 flights (synthetic)", start=START, end=d(365))
    doc["pads"] = [p for p in doc["pads"] if p["id"] in ("site31", "lc39a", "slc40")]
    for p in doc["pads"]:
        p.pop("outages", None)
        if p["id"] == "lc39a":
            p["vehicles"] = ["crew_dragon", "cargo_dragon"]
    ms = []
    # crewed rotations of about six months, each relieved by the next of its kind; the first of
    # each kind launched before the year (history), the last stays beyond it
    for kind, veh, pad, off, n in (("soyuz", "soyuz_ms", "site31", -90, 3), ("dragon", "crew_dragon", "slc40", -45, 3)):
        for k in range(n):
            m = {"id": f"{kind}-{k}", "vehicle": veh, "pad": pad, "launch": d(off + 180 * k),
                 "crew": [f"{kind[0]}{k}{c}" for c in "abcd"[: 3 if kind == "soyuz" else 4]], "source": src}
            if k + 1 < n:
                m.update(undock=d(off + 180 * (k + 1) + 7), relieved_by=f"{kind}-{k + 1}")
            ms.append(m)
    for k in range(8):  # Progress from the same pad as Soyuz
        ms.append({"id": f"progress-{k}", "vehicle": "progress_ms", "pad": "site31",
                   "launch": d(20 + 45 * k), "undock": d(20 + 45 * k + 170), "source": src})
    for k in range(10):  # cargo Dragons alternating between the two Florida pads
        ms.append({"id": f"cargo-dragon-{k}", "vehicle": "cargo_dragon", "pad": "lc39a" if k % 2 else "slc40",
                   "launch": d(10 + 35 * k), "undock": d(40 + 35 * k), "can_advance_days": 10, "source": src})
    for k in range(8):
        ms.append({"id": f"cargo-x-{k}", "vehicle": "cargo_dragon", "pad": "lc39a",
                   "launch": d(25 + 42 * k), "undock": d(55 + 42 * k), "source": src})
    doc["missions"] = ms
    return doc


def plain_year(days, hit, down, pad):
    """Baseline for risk: placement and evaluation as plain Python loops, one history at a time."""
    M = len(days.mission_ids)
    order = [int(i) for i in np.argsort(days.launch, kind="stable") if not days.fixed[i]]
    base = days.launch.tolist()
    turn = days.turnaround.tolist()
    pads = days.pad.tolist()
    crewed = days.crewed.tolist()
    avail, cavail = days.avail.tolist(), days.crew_avail.tolist()
    dock_after = days.dock_after.tolist()
    und0 = days.undock.tolist()
    relief = days.relief.tolist()
    fixed = days.fixed.tolist()
    out_any, out_slip = [], []
    for h in range(hit.shape[0]):
        hh, dd = hit[h].tolist(), down[h].tolist()
        last = {}
        for m in range(M):
            if fixed[m]:
                last[pads[m]] = max(last.get(pads[m], -NEVER), base[m])
        downu = {}
        L = list(base)
        for m in order:
            p = pads[m]
            ok = cavail[p] if crewed[m] else avail[p]
            t = min(max(base[m], last.get(p, -NEVER) + turn[p], downu.get(p, 0)), len(ok))
            while t < len(ok) and not ok[max(t, 0)]:
                t += 1
            L[m] = t
            last[p] = t
            if p == pad and hh[m]:
                downu[p] = t + dd[m]
        U = [und0[m] if (und0[m] >= NEVER or fixed[m]) else und0[m] + L[m] - base[m] for m in range(M)]
        for m in range(M):
            r = relief[m]
            if r >= 0 and und0[m] < NEVER:
                U[m] = max(U[m], L[r] + dock_after[r] + days.overlap)
        anys, slips = cr.plain_loop(days, np.array([L]), np.array([U]))
        out_any.append(anys[0])
        out_slip.append(slips[0])
    return out_any, out_slip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--histories", type=int, default=100_000)
    ap.add_argument("--loop-histories", type=int, default=1000)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    print(f"load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} cores (shared machine)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "year.yaml"
        path.write_text(yaml.safe_dump(year_with_30_flights(), sort_keys=False))
        t0 = time.perf_counter()
        days = compile_days(load_scenario(path))
        rep = tl.check(days)
        t_check = time.perf_counter() - t0
        n_fly = int((~days.fixed & (days.launch < days.n_days)).sum())
        reps = 20
        t0 = time.perf_counter()
        for _ in range(reps):
            tl.check(days)
        t_check_only = (time.perf_counter() - t0) / reps
    print(f"\n[check] {n_fly} flights in {days.n_days} days, {len(days.person_names)} people; "
          f"{len(rep.violations)} violations")
    print(f"  load + compile + check: {t_check * 1000:.0f} ms (target < 1000 ms); check alone {t_check_only * 1000:.1f} ms")

    for length in (60, 120):
        pert = tl.Perturbation(outages=[tl.parse_outage(f"site31:{d(20)}+{length}d")])
        g = pl.greedy(days, pert)
        res = pl.solve(days, pert, time_limit=a.time_limit, workers=a.workers)
        print(f"\n[plan] outage site31 after {d(20)} for {length} d (+19 d return to service); "
              f"re-planning {n_fly} flights")
        print(f"  greedy re-scheduler : slip {g.total_slip} d, crew-days without seat {g.uncovered_crew_days}, "
              f"violations {g.report.by_rule() or 'none'}, {g.solve_s * 1000:.1f} ms")
        gap = "proven optimal" if res.status == "OPTIMAL" else f"gap {100 * (res.gap or 0):.2f} %"
        print(f"  CP-SAT ({a.workers} workers): {res.status} ({gap}), {res.phase}: slip {res.total_slip} d, "
              f"crew-days without seat {res.uncovered_crew_days}, "
              f"violations {(res.report.by_rule() or 'none') if res.report else '-'}, {res.solve_s:.2f} s")
        if res.total_slip is not None and g.total_slip is not None:
            print(f"  ratio greedy/CP-SAT: slip {g.total_slip / max(res.total_slip, 1):.2f}, "
                  f"crew-days without seat {g.uncovered_crew_days} vs {res.uncovered_crew_days}, "
                  f"rule violations {sum(g.report.by_rule().values())} vs {sum(res.report.by_rule().values())}; "
                  f"time {res.solve_s / max(g.solve_s, 1e-9):.0f}x")

    pad = days.pad_index("site31")
    dm = [cr.PadDamage("legacy", 3.6e-3, 3.5e-3, 3.7e-3)]  # padguard risk site31 legacy, see docs
    t0 = time.perf_counter()
    out = cr.crew_risk(days, "site31", dm, histories=a.histories, seed=1)
    t_vec = time.perf_counter() - t0
    pr = out["procedures"][0]
    print(f"\n[risk] {a.histories:,} histories, pad site31 damage p = {dm[0].p} per launch, "
          f"{out['planned_launches_from_pad']} launches from it")
    print(f"  vectorised: {t_vec:.2f} s ({a.histories / t_vec:,.0f} histories/s); "
          f"P(day without seat) = {pr['p_day_without_lifeboat_seat']['p']:.4f} "
          f"± {1.96 * pr['p_day_without_lifeboat_seat']['se']:.4f}, E[slip] = {pr['expected_slip_days']['p']:.2f} d")
    rng = np.random.default_rng(5)
    n = a.loop_histories
    M = len(days.mission_ids)
    on_pad = (days.pad == pad) & ~days.fixed
    hit = (rng.random((n, M)) < 0.3) & on_pad
    down = np.rint(rng.triangular(96, 120, 730, size=(n, M))).astype(np.int64) + 19
    t0 = time.perf_counter()
    launch = tl.propagate(days, n, None, damage=(pad, hit, down))
    o = tl.evaluate(days, launch, tl.undocks(days, launch))
    t_v = time.perf_counter() - t0
    t0 = time.perf_counter()
    anys, slips = plain_year(days, hit, down, pad)
    t_loop = time.perf_counter() - t0
    same = anys == o.any_uncovered.tolist() and slips == o.slip_days.tolist()
    print(f"  same {n} draws (q = 0.3): vectorised {t_v * 1000:.0f} ms, plain Python loop {t_loop:.2f} s; "
          f"results identical: {same}")
    print(f"  ratio (histories/s, vectorised / plain loop): {(n / t_v) / (n / t_loop):.0f}x; "
          f"plain loop for {a.histories:,} histories would take ~{t_loop / n * a.histories:.0f} s")
    if not same:
        raise SystemExit("vectorised and plain-loop results differ")


if __name__ == "__main__":
    main()
