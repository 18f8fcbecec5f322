"""Engine ``risk``: crew access risk from the pad's own damage probability.

For one pad of the scenario (e.g. ``site31``), the per-launch pad-damage probability and its
95 % interval come from ``padguard risk`` on that pad's model and procedure
(:func:`padguard.engines.risk_campaign.campaign`, the pad side's public risk function; the
only arrow from ``crew/`` into the pad side). Each sampled *history* then draws, for every launch
from that pad, whether it damages the pad and, if so, a repair time from the scenario's repair
distribution (triangular) plus return-to-service days. The outages go through the manifest with
the same greedy re-scheduler and rules as ``what-if``, vectorised over histories with numpy.

Rare damage (a guarded procedure's 1e-11) is handled by importance sampling: damage is drawn with
a raised probability ``q`` and every history carries its likelihood ratio, so the same histories
give unbiased estimates for the point probability, both ends of its interval, and a second
procedure (``--vs``: common random numbers, a paired comparison). Chunks of histories are seeded
from ``SeedSequence(seed).spawn(n_chunks)``, so results do not depend on the executor (this
process, local processes or Dask, as for ``padguard risk``).
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from padguard.crew import timeline as tl
from padguard.crew.days import Days

Z95 = 1.959963984540054  # two-sided 95 % normal quantile

CHUNK = 16_384
Q_MIN = 0.05  # lowest sampling probability of damage per launch (importance sampling)


@dataclass(frozen=True)
class PadDamage:
    """Per-launch pad-damage probability of one pad procedure, from the pad's risk engine."""

    procedure: str
    p: float
    lo: float
    hi: float
    method: str = "given"
    trials: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"procedure": self.procedure, "p": self.p, "lo": self.lo, "hi": self.hi,
                "method": self.method, "trials": self.trials}


def pad_damage(site: str, procedures: list[str], trials: int = 200_000, seed: int = 0,
               executor: Executor | None = None, label: str = "local",
               method: str = "auto") -> list[PadDamage]:
    """``padguard risk`` on the pad's own model: pad_damaged per countdown, with its interval.

    ``method`` as for ``padguard risk``: "auto" uses importance sampling for a rare event."""
    from padguard.compile import compile_model
    from padguard.engines.risk_campaign import campaign
    from padguard.model.loader import load

    plans = [compile_model(load(site, pr)) for pr in procedures]
    res = campaign(plans, trials, seed=seed, method=method, executor=executor,
                   executor_label=label).to_dict()
    out = []
    for pr, data in zip(procedures, res["procedures"], strict=True):
        o = data["outcomes"]["pad_damaged"]
        out.append(PadDamage(pr, float(o["p"]), float(o["lo"]), float(o["hi"]), str(o["method"]),
                             int(o["trials"])))
    return out


@dataclass(frozen=True)
class CrewChunk:
    """One chunk of sampled histories (picklable: runs on any executor)."""

    days: Days
    pad: int
    probs: tuple[float, ...]  # damage probabilities to weight for (p, lo, hi per procedure)
    q: float  # sampling probability
    repair: tuple[int, int, int, int]  # min, mode, max, return-to-service days
    n: int
    seed: np.random.SeedSequence


def sample(days: Days, pad: int, q: float, repair: tuple[int, int, int, int], n: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw n histories: (launch, undock, hit, used) arrays [n, M]."""
    M = len(days.mission_ids)
    on_pad = (days.pad == pad) & ~days.fixed
    hit = (rng.random((n, M)) < q) & on_pad
    lo, mode, hi, rts = repair
    down = np.rint(rng.triangular(lo, mode, hi, size=(n, M)) if hi > lo else np.full((n, M), lo)
                   ).astype(np.int64) + rts
    launch = tl.propagate(days, n, None, damage=(pad, hit, down))
    undock = tl.undocks(days, launch)
    used = on_pad & (launch < days.n_days)  # draws that happened within the horizon
    return launch, undock, hit & used, used


def log_weights(k: np.ndarray, used: np.ndarray, p: float, q: float) -> np.ndarray:
    """Log likelihood ratio of a history under damage probability p vs the sampling q."""
    if p == q:
        return np.zeros(k.shape)
    a = math.log(p / q) if p > 0 else -np.inf
    b = math.log1p(-p) - math.log1p(-q) if p < 1 else -np.inf
    with np.errstate(invalid="ignore"):
        out = np.where(k > 0, k * a, 0.0) + np.where(used - k > 0, (used - k) * b, 0.0)
    return out


def run_chunk(t: CrewChunk) -> np.ndarray:
    """Sums per weight: [sum w*I, sum (w*I)^2, sum w*slip, sum (w*slip)^2, sum w*gap, sum w, hits]."""
    rng = np.random.default_rng(t.seed)
    launch, undock, hit, used = sample(t.days, t.pad, t.q, t.repair, t.n, rng)
    out = tl.evaluate(t.days, launch, undock)
    ind = out.any_uncovered.astype(float)
    slip = out.slip_days.astype(float)
    gap = out.uncovered_crew_days.astype(float)
    k, u = hit.sum(axis=1), used.sum(axis=1)
    rows = []
    for p in t.probs:
        w = np.exp(log_weights(k, u, p, t.q))
        rows.append([(w * ind).sum(), ((w * ind) ** 2).sum(), (w * slip).sum(), ((w * slip) ** 2).sum(),
                     (w * gap).sum(), w.sum(), ind.sum()])
    # paired difference (first two procedures' point values) of the indicator
    if len(t.probs) >= 6:
        wa = np.exp(log_weights(k, u, t.probs[0], t.q))
        wb = np.exp(log_weights(k, u, t.probs[3], t.q))
        dd = (wb - wa) * ind
        ds = (wb - wa) * slip
        rows.append([dd.sum(), (dd ** 2).sum(), ds.sum(), (ds ** 2).sum(), 0.0, 0.0, 0.0])
    return np.array(rows)


def _est(s1: float, s2: float, n: int) -> dict[str, float]:
    m = s1 / n
    var = max(s2 / n - m * m, 0.0) * n / max(n - 1, 1)
    se = math.sqrt(var / n)
    return {"p": m, "lo": max(0.0, m - Z95 * se), "hi": m + Z95 * se, "se": se,
            "rel_err": se / m if m > 0 else None}


def crew_risk(days: Days, pad: str, damages: list[PadDamage], histories: int = 100_000,
              seed: int = 0, executor: Executor | None = None, chunk: int = CHUNK,
              q: float | None = None, repair: tuple[int, int, int, int] | None = None) -> dict[str, Any]:
    """P(at least one day without a lifeboat seat for someone aboard) and expected slip days,
    for each pad procedure, over the scenario's horizon."""
    pi = days.pad_index(pad)
    spec = days.sc.pads[pi].repair
    if spec is None:
        raise ValueError(f"pad '{pad}' has no repair distribution in the scenario (add 'repair:')")
    repair = repair or (spec.min_days, spec.mode_days, spec.max_days, spec.return_to_service_days)
    probs = tuple(x for d in damages for x in (d.p, d.lo, d.hi))
    if q is None:
        q = min(0.5, max(Q_MIN, max(probs)))
    n_chunks = max(1, math.ceil(histories / chunk))
    seeds = np.random.SeedSequence(seed).spawn(n_chunks)
    sizes = [min(chunk, histories - i * chunk) for i in range(n_chunks)]
    tasks = [CrewChunk(days, pi, probs, q, repair, s, sd) for s, sd in zip(sizes, seeds, strict=True)]
    t0 = time.perf_counter()
    if executor is None:
        parts = [run_chunk(t) for t in tasks]
    else:
        parts = [f.result() for f in [executor.submit(run_chunk, t) for t in tasks]]
    total = np.sum(parts, axis=0)
    el = time.perf_counter() - t0
    n = histories
    launches = int(((days.pad == pi) & ~days.fixed & (days.launch < days.n_days)).sum())
    out: dict[str, Any] = {
        "scenario": days.sc.scenario, "pad": pad, "histories": n, "seed": seed,
        "sampling_q": q, "planned_launches_from_pad": launches,
        "repair_days": {"min": repair[0], "mode": repair[1], "max": repair[2],
                        "return_to_service": repair[3], "source": spec.source},
        "procedures": [],
        "timing": {"elapsed_s": el, "histories_per_s": n / el if el > 0 else None},
    }
    for i, d in enumerate(damages):
        rows = total[3 * i:3 * i + 3]
        pt, lo, hi = rows
        out["procedures"].append({
            "pad_damage_per_launch": d.to_dict(),
            "p_day_without_lifeboat_seat": _est(pt[0], pt[1], n),
            "p_day_without_lifeboat_seat_at_interval": [lo[0] / n, hi[0] / n],
            "expected_slip_days": _est(pt[2], pt[3], n),
            "expected_slip_days_at_interval": [lo[2] / n, hi[2] / n],
            "expected_crew_days_without_seat": pt[4] / n,
            "mean_weight": pt[5] / n,
            "sampled_histories_without_seat": int(pt[6]),
        })
    if len(damages) >= 2:
        dd = total[6]
        out["paired"] = {"a": damages[0].procedure, "b": damages[1].procedure,
                         "p_difference_b_minus_a": _est(dd[0], dd[1], n),
                         "slip_difference_b_minus_a": _est(dd[2], dd[3], n)}
    return out


def plain_loop(days: Days, launch: np.ndarray, undock: np.ndarray) -> tuple[list[bool], list[int]]:
    """The baseline: the same per-history evaluation as plain Python loops over days.

    (Any day without a seat, total slip) per history; used by the benchmark and a test that
    checks it agrees with the vectorised engine.
    """
    D = days.n_days
    anys, slips = [], []
    dock_after = days.dock_after.tolist()
    life = days.life.tolist()
    seats = days.seats.tolist()
    arr, dep = days.arr.tolist(), days.dep.tolist()
    base = days.launch.tolist()
    fixed = days.fixed.tolist()
    for h in range(launch.shape[0]):
        L = launch[h].tolist()
        U = undock[h].tolist()
        dock = [L[m] + dock_after[m] for m in range(len(L))]
        bad = False
        for d in range(D):
            crew = sum(1 for a, b in zip(arr, dep, strict=True) if dock[a] <= d < U[b])
            s = sum(seats[m] for m in range(len(L))
                    if seats[m] and dock[m] <= d < min(U[m], dock[m] + life[m]))
            if crew > s:
                bad = True
                break
        anys.append(bad)
        slips.append(sum(max(0, L[m] - base[m]) for m in range(len(L)) if not fixed[m]))
    return anys, slips
