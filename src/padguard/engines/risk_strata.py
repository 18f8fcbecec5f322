"""Exact stratification over a few fault modes: a reference for rare-event estimators.

For fault modes ``G`` (say the stopper's and its switches' modes), every subset ``s`` of
``G`` is a stratum whose probability ``P(s) = prod p_i^x_i (1 - p_i)^(1 - x_i)`` is exact. Inside a
stratum the modes of ``G`` are fixed (present or absent) and everything else (other faults,
onsets, travel) is drawn from the nominal law by plain Monte Carlo, where the event is no longer
rare. So ``P(E) = sum_s P(s) P(E | s)`` is estimated with a small, honest standard error even
when ``P(E)`` is 1e-11: the reference the importance-sampling coverage checks compare against.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from padguard.compile import Plan
from padguard.engines.risk import EVENTS, TrialLaw, draw, event_matrix, run_results


@dataclass
class StratifiedEstimate:
    """sum_s P(s) P(E | s) with its standard error (from the within-stratum variances)."""

    p: float
    se: float
    strata: int
    trials: int
    hit_strata: int  # strata in which the event was seen

    @property
    def rel_err(self) -> float:
        return self.se / self.p if self.p > 0 else math.nan


def _stratum_laws(law: TrialLaw, group: list[int]) -> tuple[list[np.ndarray], np.ndarray]:
    subsets = list(itertools.product((0, 1), repeat=len(group)))
    laws, ps = [], []
    p = law.probs
    for bits in subsets:
        q = p.copy()
        w = 1.0
        for i, b in zip(group, bits, strict=True):
            q[i] = float(b)
            w *= p[i] if b else 1.0 - p[i]
        laws.append(q)
        ps.append(w)
    return laws, np.array(ps)


def stratified(plan: Plan, law: TrialLaw, group: list[str], event: str, seed: int,
               per_stratum: int = 2048, second_stage: int = 0) -> StratifiedEstimate:
    """Estimate P(event) by exact stratification over the fault modes named in ``group``.

    Stage 1 runs ``per_stratum`` trials in every stratum (``2**len(group)`` of them); stage 2
    spreads ``second_stage`` more trials over the strata in proportion to ``P(s) sd_s`` (Neyman),
    among the strata where stage 1 saw the event.
    """
    gi = [plan.fault_index(g) for g in group]
    e = EVENTS.index(event)
    laws, ps = _stratum_laws(law, gi)
    K = len(laws)
    hits = np.zeros(K)
    n = np.zeros(K)
    root = np.random.SeedSequence(seed)
    seeds = root.spawn(2 * K)

    def run(k: int, m: int, ss: np.random.SeedSequence) -> None:
        if m <= 0 or ps[k] == 0.0:
            return
        t = draw(plan, law.with_probs(laws[k]), np.random.default_rng(ss), m)
        res = run_results(plan, t)
        hits[k] += event_matrix(plan, res)[e].sum()
        n[k] += m

    for k in range(K):
        run(k, per_stratum, seeds[k])
    if second_stage:
        f = np.where(n > 0, hits / np.maximum(n, 1), 0.0)
        # Neyman over the strata where stage 1 saw the event (a stratum with no hit in stage 1
        # is taken as contributing nothing: the reference's stated assumption)
        sd = np.sqrt(f * (1 - f))
        share = ps * sd
        if share.sum() <= 0:
            share = ps * (hits > 0)
        extra = np.floor(second_stage * share / share.sum()).astype(int)
        for k in range(K):
            run(k, int(extra[k]), seeds[K + k])
    f = np.where(n > 0, hits / np.maximum(n, 1), 0.0)
    p = float((ps * f).sum())
    var = float((ps ** 2 * f * (1 - f) / np.maximum(n - 1, 1)).sum())
    return StratifiedEstimate(p, math.sqrt(var), K, int(n.sum()), int((hits > 0).sum()))
