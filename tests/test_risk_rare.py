"""Risk estimates against exact answers: closed form and Storm on the mini pad, rare events."""

from __future__ import annotations

import math

import pytest

import padguard as pg
from padguard.engines import risk
from padguard.engines import risk_campaign as rc
from tests.test_risk_models import closed_form, storm_probabilities, write_mini

MODERATE = dict(pj=0.05, pm=0.03, pa=0.2, pb=0.3)


@pytest.fixture(scope="module")
def mini_moderate(tmp_path_factory):
    d = write_mini(tmp_path_factory.mktemp("mini") / "mini", **MODERATE)
    return pg.compile_model(pg.load(d, "guarded"))


@pytest.fixture(scope="module")
def moderate_campaign(mini_moderate):
    return rc.campaign([mini_moderate], 300_000, seed=11, method="crude").to_dict()["procedures"][0]


def test_storm_dtmc_agrees_with_the_closed_form(tmp_path):
    # Two independent exact answers for the same countdown: the derivation and Storm's DTMC.
    for probs in (MODERATE, dict(pj=0.3, pm=0.1, pa=0.6, pb=0.5)):
        st = storm_probabilities(tmp_path, **probs)
        cf = closed_form(**probs)
        for k in cf:
            assert st[k] == pytest.approx(cf[k], rel=1e-9, abs=1e-15), k
        assert sum(st.values()) == pytest.approx(1.0, abs=1e-12)


def test_crude_monte_carlo_matches_storm(tmp_path, moderate_campaign):
    st = storm_probabilities(tmp_path, **MODERATE)
    out = moderate_campaign["outcomes"]
    for k, exact in st.items():
        o = out[k]
        assert o["method"] == "crude"
        assert abs(o["p"] - exact) < 4 * o["se"], (k, o["p"], exact)
        assert o["lo"] < o["p"] < o["hi"]
    assert out["aborted"]["hits"] == 0 and out["personnel_hazard"]["hits"] == 0


def test_hold_time_distribution_matches_the_travel_law(tmp_path):
    # Without faults a late stopper (travel 19..30 s, 12 of 21) holds for (travel - 18) s.
    plan = pg.compile_model(pg.load(write_mini(tmp_path / "m", 0, 0, 0, 0), "guarded"))
    d = rc.campaign([plan], 84_000, seed=2, method="crude").to_dict()["procedures"][0]
    h = d["holds"]
    n = d["trials"]
    p_hold = 12 / 21
    se = math.sqrt(p_hold * (1 - p_hold) / n)
    assert abs(h["p_any_hold"]["p"] - p_hold) < 4 * se
    assert abs(h["expected_holds"] - p_hold) < 4 * se  # exactly one hold when late
    assert h["holds_distribution"].keys() <= {"0", "1"}
    cdf = dict((int(x), f) for x, f in h["hold_time_s"]["cdf_given_hold"])
    assert sorted(cdf) == list(range(1, 13))
    held = h["hold_time_s"]["trials_with_hold_time"]
    for s, f in cdf.items():
        assert abs(f - s / 12) < 4 * math.sqrt((s / 12) * (1 - s / 12) / held) + 1e-12
    assert h["hold_time_s"]["quantiles_given_hold"]["max"] == 12
    assert d["outcomes"]["launched_on_time"]["p"] + d["outcomes"]["launched_after_holds"]["p"] == 1.0


def test_importance_sampling_hits_a_1e9_closed_form(tmp_path):
    probs = dict(pj=1e-3, pm=0.0, pa=1e-3, pb=1e-3)
    exact = closed_form(**probs)["pad_damaged"]
    assert exact == pytest.approx(1e-9)
    assert storm_probabilities(tmp_path, **probs)["pad_damaged"] == pytest.approx(exact, rel=1e-9)
    plan = pg.compile_model(pg.load(write_mini(tmp_path / "m", **probs), "guarded"))
    r = rc.rare_event(plan, risk.trial_law(plan), "pad_damaged", seed=5, target_re=0.02)
    est = r.estimate
    assert est.method == "is" and est.hits >= 100
    assert est.rel_err < 0.1
    assert abs(est.p - exact) < 3 * est.se, (est.p, exact, est.se)
    assert est.lo <= exact <= est.hi
    # the tuned proposal boosts exactly the three faults of the cut set
    assert set(r.proposal) == {"stopper:jammed", "stopper_a:wrong", "stopper_b:wrong"}


def test_crude_sampling_cannot_see_it_and_says_so(tmp_path):
    plan = pg.compile_model(pg.load(write_mini(tmp_path / "m", 1e-3, 0.0, 1e-3, 1e-3), "guarded"))
    d = rc.campaign([plan], 20_000, seed=1, method="crude").to_dict()["procedures"][0]
    o = d["outcomes"]["pad_damaged"]
    assert o["hits"] == 0 and o["p"] == 0 and o["hi"] > 1e-4 and "upper bound" in o["note"]


def test_auto_switches_to_importance_sampling_for_rare_damage(tmp_path):
    plan = pg.compile_model(pg.load(write_mini(tmp_path / "m", 1e-3, 0.0, 1e-3, 1e-3), "guarded"))
    d = rc.campaign([plan], 20_000, seed=1, method="auto", target_re=0.05).to_dict()["procedures"][0]
    o = d["outcomes"]["pad_damaged"]
    assert o["method"] == "is" and o["crude"]["hits"] == 0
    assert abs(o["p"] - 1e-9) < 3 * o["se"] and o["rel_err"] <= 0.05
    assert "pad_damaged" in d["examples"]  # a replayable damage trial from the biased draws


def test_importance_measures_match_closed_form(tmp_path, moderate_campaign):
    pj, pm, pa, pb = MODERATE.values()
    imp = {r["fault"]: r for r in moderate_campaign["importance"]["scrubbed"]["table"]}
    # P(scrub | jam) = 1 - pa pb; P(scrub | no jam) = pm (1 - pa pb)
    b = (1 - pa * pb) - pm * (1 - pa * pb)
    assert imp["stopper:jammed"]["birnbaum"] == pytest.approx(b, abs=0.02)
    assert imp["stopper:jammed"]["p_given_fault"] == pytest.approx(1 - pa * pb, abs=0.02)
    p_scrub = closed_form(**MODERATE)["scrubbed"]
    assert imp["stopper:jammed"]["fv"] == pytest.approx(pj * (1 - pa * pb) / p_scrub, abs=0.03)
    # a lying switch protects against a scrub: negative Birnbaum
    assert imp["stopper_a:wrong"]["birnbaum"] < 0
    # Importance for rare damage, from importance sampling: both switches are in every cut set.
    plan = pg.compile_model(pg.load(write_mini(tmp_path / "m", 1e-3, 1e-3, 1e-3, 1e-3), "guarded"))
    r = rc.rare_event(plan, risk.trial_law(plan), "pad_damaged", seed=3)
    law = risk.trial_law(plan)
    tab = {t["fault"]: t for t in rc._importance_table(plan, law, r.stats, risk.EVENTS.index("pad_damaged"),
                                                        r.estimate.p, weighted=True)}
    assert tab["stopper_a:wrong"]["fv"] == pytest.approx(1.0)
    assert tab["stopper_b:wrong"]["fv"] == pytest.approx(1.0)
    bad = 1 - (1 - 1e-3) ** 2
    assert tab["stopper_a:wrong"]["birnbaum"] == pytest.approx(bad * 1e-3, rel=0.1)
    assert tab["stopper:jammed"]["fv"] == pytest.approx(1e-3 / bad, rel=0.1)


def test_an_impossible_event_keeps_its_crude_bound(site31_guarded):
    # Nothing at Site 31/6 moves equipment through an occupied zone: no fault can cause it.
    d = rc.campaign([site31_guarded], 2000, seed=1, method="is",
                    rare_events=("personnel_hazard",)).to_dict()["procedures"][0]
    o = d["outcomes"]["personnel_hazard"]
    assert o["method"] == "crude" and o["hits"] == 0 and o["hi"] < 2e-3
    assert "never occurred" in o["note"]
    assert d["rare_events"]["personnel_hazard"]["hits"] == 0
