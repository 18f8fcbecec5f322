"""Importance sampling is honest: its 95 % intervals cover an exact answer >= 93 % of the time.

The mini pad's pad-damage probability has a closed form (tests/test_risk_models.py) with two
cut sets of very different weight ({jammed, a, b} and the 10x rarer {misaligned, a, b}), so
a proposal that neglects one cut set shows up as bias and under-coverage. Many seeds, small
chunks (fast); ``PADGUARD_SLOW=1`` runs 200 seeds. The Site 31/6 version of this check (exact
stratification over 512 strata as the reference) is benchmarks/is_coverage.py, recorded in
docs/risk.md.
"""

from __future__ import annotations

import math
import os

import padguard as pg
from padguard.engines import risk
from padguard.engines import risk_campaign as rc
from padguard.engines.risk_strata import stratified
from tests.test_risk_models import closed_form, write_mini

PROBS = dict(pj=1e-3, pm=1e-4, pa=1e-3, pb=2e-3)


def test_importance_sampling_intervals_cover_the_closed_form(tmp_path, monkeypatch):
    exact = closed_form(**PROBS)["pad_damaged"]
    plan = pg.compile_model(pg.load(write_mini(tmp_path / "m", **PROBS), "guarded"))
    law = risk.trial_law(plan)
    monkeypatch.setattr(rc, "IS_CHUNK", 1024)  # small pilots and rounds: many seeds, fast
    seeds = 200 if os.environ.get("PADGUARD_SLOW") else 30
    covered, zs, rel, res = 0, [], [], []
    for seed in range(seeds):
        e = rc.rare_event(plan, law, "pad_damaged", seed=seed, budget=4096, target_re=0.05).estimate
        covered += e.lo <= exact <= e.hi
        zs.append((e.p - exact) / e.se)
        rel.append(e.p / exact - 1)
        res.append(e.rel_err)
    assert covered >= math.ceil(0.93 * seeds), (covered, seeds)
    # relative bias of the mean estimate within the error it reports (per seed / sqrt(seeds))
    mean_bias = sum(rel) / seeds
    assert abs(mean_bias) <= 2 * (sum(res) / seeds) / math.sqrt(seeds), (mean_bias, sum(res) / seeds)
    assert abs(sum(zs) / seeds) < 0.5


def test_exact_stratification_reproduces_the_closed_form(tmp_path):
    # The reference method of benchmarks/is_coverage.py, checked where the answer is known:
    # every stratum of the four faults decides the outcome, so the estimate is exact.
    exact = closed_form(**PROBS)["pad_damaged"]
    plan = pg.compile_model(pg.load(write_mini(tmp_path / "m", **PROBS), "guarded"))
    r = stratified(plan, risk.trial_law(plan), ["stopper:jammed", "stopper:misaligned",
                                                "stopper_a:wrong", "stopper_b:wrong"],
                   "pad_damaged", seed=1, per_stratum=64)
    assert r.strata == 16 and r.se == 0.0
    assert math.isclose(r.p, exact, rel_tol=1e-12)
