"""padguard crew: the model, every rule, what-if on the real MS-28 outage, the planner, the risk tie."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from padguard.crew import plan as pl
from padguard.crew import risk as cr
from padguard.crew import timeline as tl
from padguard.crew.days import compile_days
from padguard.crew.model import load_scenario
from padguard.model.errors import ModelError

D0 = dt.date(2030, 1, 1)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def base() -> dict:
    """A small valid scenario: two crew pads, one cargo pad, a Soyuz-like and a Dragon-like rotation."""
    return {
        "scenario": "tiny", "name": "tiny", "start": D0, "end": day(200),
        "station": {"name": "s", "crew_normal": 7, "crew_max": 11, "source": "test"},
        "rules": {"handover_overlap_days": 3, "source": "test"},
        "vehicles": [
            {"id": "capsule", "name": "c", "seats": 3, "emergency_seats": 3, "docked_life_days": 100,
             "returns_crew": True, "source": "test"},
            {"id": "freighter", "name": "f", "seats": 0, "emergency_seats": 0, "dock_after_days": 2,
             "source": "test"},
        ],
        "pads": [
            {"id": "east", "name": "e", "vehicles": ["capsule", "freighter"], "crew_certified": True,
             "turnaround_days": 10, "source": "test",
             "repair": {"min_days": 30, "mode_days": 30, "max_days": 30, "return_to_service_days": 5,
                        "source": "test"}},
            {"id": "cargo", "name": "k", "vehicles": ["freighter"], "source": "test"},
        ],
        "missions": [
            {"id": "a", "vehicle": "capsule", "pad": "east", "launch": day(10), "undock": day(90),
             "crew": ["p1", "p2", "p3"], "relieved_by": "b", "source": "test"},
            {"id": "f1", "vehicle": "freighter", "pad": "east", "launch": day(40), "source": "test"},
            {"id": "b", "vehicle": "capsule", "pad": "east", "launch": day(80), "undock": day(170),
             "crew": ["q1", "q2", "q3"], "source": "test"},
        ],
    }


def _tiny():
    from padguard.crew.model import Scenario

    return compile_days(Scenario.model_validate(base()))


def load(doc: dict, tmp_path: Path, name: str = "s.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return compile_days(load_scenario(p))


def rules_of(rep: tl.Report) -> set[str]:
    return {v["rule"] for v in rep.violations}


_TINY = _tiny()


# ------------------------------------------------------------------------------------------ model


def test_base_scenario_is_clean(tmp_path):
    rep = tl.check(load(base(), tmp_path))
    assert rep.ok, rep.violations
    assert rep.crew.max() == 6 and (rep.crew <= rep.seats).all()


def test_model_errors_name_file_line_and_field(tmp_path):
    doc = base()
    doc["missions"][1]["vehicle"] = "shuttle"
    doc["pads"][0]["vehicles"].append("ghost")
    del doc["vehicles"][0]["source"]
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(ModelError) as ei:
        load_scenario(p)
    probs = ei.value.problems
    assert any(x.field == "vehicles[0].source" and x.line for x in probs), probs
    text = p.read_text().splitlines()
    # shape errors stop before cross-references; fix the source and see the cross-reference ones
    doc["vehicles"][0]["source"] = "test"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(ModelError) as ei:
        load_scenario(p)
    probs = {x.field: x for x in ei.value.problems}
    text = p.read_text().splitlines()
    assert "shuttle" in probs["missions[1].vehicle"].message
    assert "shuttle" in text[probs["missions[1].vehicle"].line - 1]
    assert "ghost" in text[probs["pads[0].vehicles[2]"].line - 1]
    assert str(p) in str(ei.value)


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["missions"][0].update(undock=day(5)), "missions[0].undock"),
    (lambda d: d["missions"][0].update(relieved_by="zz"), "missions[0].relieved_by"),
    (lambda d: d["missions"][0]["crew"].append("p4"), "missions[0].crew"),
    (lambda d: d["missions"][2]["crew"].__setitem__(0, "p1"), "missions[2].crew[0]"),
    (lambda d: d["missions"].append(copy.deepcopy(d["missions"][1])), "missions[3].id"),
    (lambda d: d.update(end=day(-1)), "end"),
    (lambda d: d["pads"][0]["repair"].update(min_days=50), "pads[0].repair"),
    (lambda d: d["missions"][0].update(source=""), "missions[0].source"),
])
def test_each_model_error_is_reported(tmp_path, mutate, field):
    doc = base()
    mutate(doc)
    with pytest.raises(ModelError) as ei:
        load(doc, tmp_path)
    assert field in {p.field for p in ei.value.problems}, ei.value.problems


# ------------------------------------------------------------------------------------------ rules


def _crew_move(d):
    d["missions"][0]["undock"] = day(50)
    d["missions"][0]["relieved_by"] = None
    d["missions"][2]["crew"] = ["q1", "q2"]  # b keeps a seat for p1
    d["crew_moves"] = [{"person": "p1", "returns_on": "b", "source": "test"}]


RULE_CASES = {
    "lifeboat": _crew_move,
    "docked_life": lambda d: d["missions"][0].update(undock=day(150)),
    "handover": lambda d: d["missions"][0].update(undock=day(81)),
    "crew_capacity": lambda d: d["station"].update(crew_normal=3, crew_max=5),
    "pad_unavailable": lambda d: d["pads"][0].update(outages=[{"from": day(35), "to": day(45),
                                                               "cause": "x", "source": "test"}]),
    "pad_vehicle": lambda d: d["missions"][2].update(pad="cargo"),
    "pad_crew": lambda d: d["pads"][0].update(outages=[{"from": day(70), "crew_only": True,
                                                        "cause": "arm removed", "source": "test"}]),
    "pad_turnaround": lambda d: d["missions"][1].update(launch=day(15)),
}


def test_every_rule_has_a_case():
    assert set(RULE_CASES) == set(tl.RULES)


@pytest.mark.parametrize("rule", sorted(RULE_CASES))
def test_each_rule_is_violated_and_reported(tmp_path, rule):
    doc = base()
    RULE_CASES[rule](doc)
    rep = tl.check(load(doc, tmp_path))
    assert rule in rules_of(rep), rep.violations
    v = next(v for v in rep.violations if v["rule"] == rule)
    assert v["cause"] and v["from"] <= v["to"]


def test_lifeboat_violation_says_why_and_counts_days(tmp_path):
    doc = base()
    _crew_move(doc)
    rep = tl.check(load(doc, tmp_path))
    v = next(v for v in rep.violations if v["rule"] == "lifeboat")
    # a undocks day 50 taking p2, p3; p1 waits for b (docks day 80) with no seat: days 50..79
    assert (v["from"], v["to"], v["days"]) == (day(50).isoformat(), day(79).isoformat(), 30)
    assert "p1's return vehicle b is not docked" in v["cause"]


def test_pad_crew_certification_rule(tmp_path):
    doc = base()
    doc["pads"][0]["crew_certified"] = False
    rep = tl.check(load(doc, tmp_path))
    assert [v["mission"] for v in rep.violations if v["rule"] == "pad_crew"] == ["a", "b"]


def test_unavailable_vehicle_and_early_return_what_ifs(tmp_path):
    days = load(base(), tmp_path)
    rep = tl.what_if(days, tl.Perturbation(unavailable={"a": day(60)}))
    v = next(v for v in rep.violations if v["rule"] == "lifeboat")
    assert v["from"] == day(60).isoformat() and "unavailable" in v["cause"]
    rep = tl.what_if(days, tl.Perturbation(early_returns={"a": day(70)}))
    assert rules_of(rep) == {"handover"}


def test_slip_propagates_to_relief_hold_and_docked_life(tmp_path):
    days = load(base(), tmp_path)
    rep = tl.what_if(days, tl.Perturbation(slips={"b": 40}))
    assert rep.slips() == {"b": 40}
    # a is held until b docks + 3 d overlap = day 123 > its life (day 10 + 100 = 110)
    assert int(rep.undock[days.index("a")]) == 123
    assert rules_of(rep) == {"docked_life", "lifeboat"}


def test_outage_moves_later_launches_and_keeps_order(tmp_path):
    days = load(base(), tmp_path)
    rep = tl.what_if(days, tl.Perturbation(outages=[tl.parse_outage(f"east:{day(10)}+50d")]))
    # back on day 60 + 5 d return to service: f1 day 65, b day 80 unaffected
    assert rep.slips() == {"f1": 25}
    assert rep.ok


def test_parse_errors():
    for bad in ("east", "east:2030-01-01+", "east:2030-13-01+3d"):
        with pytest.raises(ValueError):
            tl.parse_outage(bad)
    assert tl.parse_outage("east:2030-01-01+3d:crew") == ("east", day(1), day(3), True)
    with pytest.raises(ValueError):
        tl.parse_slip("b+3")


@settings(max_examples=40, deadline=None)
@given(outages=st.lists(st.tuples(st.sampled_from(["east", "cargo"]), st.integers(0, 150),
                                  st.integers(1, 80)), max_size=3),
       slips=st.dictionaries(st.sampled_from(["a", "f1", "b"]), st.integers(0, 60), max_size=3))
def test_what_if_never_places_a_launch_against_a_pad_rule(outages, slips):
    """Whatever the outages and slips, the re-scheduler keeps pads, crew access and turnaround."""
    days = _TINY
    pert = tl.Perturbation(outages=[(p, day(a), day(a + n), False) for p, a, n in outages], slips=slips)
    rep = tl.what_if(days, pert)
    assert not {"pad_unavailable", "pad_vehicle", "pad_crew", "pad_turnaround"} & rules_of(rep)
    launch = rep.launch
    for mid, s in slips.items():
        assert launch[days.index(mid)] >= days.launch[days.index(mid)] + s
    out = tl.evaluate(rep.days, launch[None], rep.undock[None])
    anys, slip = cr.plain_loop(rep.days, launch[None], rep.undock[None])
    assert out.any_uncovered.tolist() == anys and out.slip_days.tolist() == slip
    assert bool(out.any_uncovered[0]) == ("lifeboat" in rules_of(rep))


# --------------------------------------------------------------------------- the shipped scenario


@pytest.fixture(scope="module")
def iss():
    return compile_days(load_scenario("iss-2025-2026"))


def test_shipped_scenario_every_entity_has_a_source(iss):
    sc = iss.sc
    things = [sc.station, sc.rules, *sc.pads, *sc.vehicles, *sc.missions]
    things += [o for p in sc.pads for o in p.outages] + [p.repair for p in sc.pads if p.repair]
    assert all(t.source.strip() for t in things)
    for m in sc.missions:
        assert "assumption" in m.source or "CAF" in m.source or "PF" in m.source, m.id


def test_shipped_scenario_as_planned_keeps_every_rule(iss):
    rep = tl.check(iss)
    assert rep.ok, rep.violations
    assert rep.crew.max() == 11  # the handover peaks of the facts file


def test_ms28_what_if_reproduces_progress_ms33_slip_and_coverage(iss):
    """The actual Site 31/6 outage: damaged at MS-28's launch (27 Nov 2025), repaired 3 Mar 2026."""
    outage = tl.parse_outage("site31:2025-11-27+96d")
    rep = tl.what_if(iss, tl.Perturbation(outages=[outage]))
    m = iss.index("progress-ms-33")
    got = iss.date(int(rep.launch[m]))
    actual = iss.sc.missions[m].actual_launch
    assert iss.sc.missions[m].launch.month == 12 and got.year == 2026 and got.month == 3
    assert abs((got - actual).days) <= 3, (got, actual)
    assert set(rep.slips()) == {"progress-ms-33"}  # MS-28 flew; MS-29 in summer unaffected
    assert rep.ok  # lifeboat coverage held: every day everyone aboard had a seat
    assert (rep.crew <= rep.seats).all()
    # Crew-11's medical early return (14 Jan 2026): the 3 left aboard stay covered by MS-28;
    # only the handover overlap with Crew-12 is broken
    rep = tl.what_if(iss, tl.Perturbation(outages=[outage], early_returns={"crew-11": dt.date(2026, 1, 14)}))
    assert rules_of(rep) == {"handover"}
    jan20 = iss.day(dt.date(2026, 1, 20))
    assert rep.crew[jan20] == 3 and rep.seats[jan20] == 3


def test_long_outage_breaks_lifeboat_coverage_via_ms28_life(iss):
    rep = tl.what_if(iss, tl.Perturbation(outages=[tl.parse_outage("site31:2025-11-27+365d")]))
    assert rules_of(rep) == {"docked_life", "lifeboat"}
    v = next(v for v in rep.violations if v["rule"] == "lifeboat")
    assert "soyuz-ms-28 is beyond its docked life" in v["cause"] and v["missing_seats"] == 3


# ------------------------------------------------------------------------------------------ plan


def _brute_min_slip(days, window: int) -> int:
    """Exhaustive: every launch day within ``window`` of planned, every candidate pad."""
    free = [m for m in range(len(days.mission_ids)) if not days.fixed[m]]
    best = None
    choices = [[(days.launch[m] + s, p) for s in range(window) for p in pl.candidate_pads(days, m)]
               for m in free]
    for combo in itertools.product(*choices):
        launch = days.launch.copy()
        pads = days.pad.copy()
        for m, (t, p) in zip(free, combo, strict=True):
            launch[m], pads[m] = t, p
        from dataclasses import replace

        d2 = replace(days, pad=pads)
        und = tl.undocks(d2, launch[None])[0]
        if tl.report(d2, launch, und).ok:
            slip = int((launch - days.launch)[free].sum())
            best = slip if best is None else min(best, slip)
    return best


def test_plan_matches_exhaustive_search_on_small_scenarios(tmp_path):
    doc = base()
    doc["missions"][1]["launch"] = day(12)  # f1 too close to a on pad east
    doc["pads"][0]["outages"] = [{"from": day(20), "to": day(26), "cause": "x", "source": "test"}]
    days = pl.freeze(load(doc, tmp_path), day(11))  # a has flown; f1 and b are re-planned
    assert not tl.check(days).ok
    res = pl.solve(days, time_limit=20)
    assert res.status == "OPTIMAL" and res.report.ok
    # f1 could also go to the cargo pad (0 slip) -- the solver moves it there
    assert res.total_slip == _brute_min_slip(days, 15) == 0
    assert res.to_dict()["pad_changes"] == {"f1": {"from": "east", "to": "cargo"}}
    doc["pads"][1]["vehicles"] = []  # now f1 must wait for turnaround and the outage
    days = pl.freeze(load(doc, tmp_path, "s2.yaml"), day(11))
    res = pl.solve(days, time_limit=20)
    assert res.status == "OPTIMAL" and res.report.ok
    assert res.total_slip == _brute_min_slip(days, 15) == 14  # day 26 (after the outage)


def test_plan_reorders_launches_to_keep_lifeboats_where_greedy_fails(iss):
    pert = tl.Perturbation(outages=[tl.parse_outage("site31:2025-11-27+215d")])
    g = pl.greedy(iss, pert)
    res = pl.solve(iss, pert, time_limit=30)
    assert g.uncovered_crew_days > 0 and "lifeboat" in g.report.by_rule()
    assert res.status == "OPTIMAL" and res.phase == "all rules kept" and res.report.ok
    assert res.total_slip <= g.total_slip
    ms29 = iss.index("soyuz-ms-29")
    ms33 = iss.index("progress-ms-33")
    assert res.launch[ms29] < res.launch[ms33]  # the crew flight goes first


def test_plan_falls_back_to_fewest_crew_days_without_a_seat(tmp_path):
    doc = base()
    doc["pads"][0]["outages"] = [{"from": day(60), "to": day(190), "cause": "repair", "source": "test"}]
    days = load(doc, tmp_path)  # b cannot launch before day 190: a outlives its life (day 110)
    free = pl.solve(days, time_limit=20)  # with a not yet flown, slipping a keeps every rule
    assert free.phase == "all rules kept" and free.report.ok and free.total_slip == 180 + 120
    res = pl.solve(days, time_limit=20, replan_from=day(30))  # a has flown
    assert res.status == "OPTIMAL" and res.phase == "lifeboat/docked life soft"
    # least slip: f1 -> cargo pad (0), b -> day 190 (110); a is held for the handover to day
    # 193, without a counted seat from day 110: 83 days x 3 crew
    assert res.total_slip == 110
    assert res.uncovered_crew_days == 83 * 3
    assert rules_of(res.report) == {"docked_life", "lifeboat"}


def test_plan_may_decrew_instead_of_leaving_crew_without_a_seat(iss):
    pert = tl.Perturbation(outages=[tl.parse_outage("site31:2025-11-27+365d")])
    res = pl.solve(iss, pert, time_limit=30, decrew=True)
    assert res.status == "OPTIMAL" and "decrew" in res.phase
    assert res.uncovered_crew_days == 0 and rules_of(res.report) == {"handover"}
    ms28 = iss.index("soyuz-ms-28")
    assert res.undock[ms28] == iss.undock[ms28]  # MS-28 comes home as planned, within its life
    assert pl.solve(iss, pert, time_limit=30).uncovered_crew_days == 174  # hold: 58 d x 3


def test_plan_allocates_crew_when_a_full_flight_would_break_a_rule(tmp_path):
    doc = base()
    doc["station"].update(crew_normal=3, crew_max=5)  # the 3-day handover overlap needs 6
    days = load(doc, tmp_path)
    # (within 30 days of slip: no flight can hide its handover beyond the horizon)
    res = pl.solve(days, time_limit=10, max_slip=30)
    assert res.status == "INFEASIBLE"  # capacity is hard in both phases: no plan without allocation
    doc["missions"][2]["min_crew"] = 2
    days = load(doc, tmp_path, "s2.yaml")
    res = pl.solve(days, time_limit=10, max_slip=30)
    assert res.status == "OPTIMAL" and res.phase == "all rules kept" and res.report.ok
    assert res.total_slip == 0 and res.stays_home == {"b": ["q3"]}
    assert res.report.crew.max() == 5


def test_plan_says_which_flight_no_pad_can_launch(tmp_path):
    doc = base()
    doc["pads"][0]["outages"] = [{"from": day(60), "cause": "destroyed", "source": "test"}]
    days = load(doc, tmp_path)
    with pytest.raises(ValueError, match="no pad can launch b within"):
        pl.solve(days, time_limit=5, replan_from=day(30))


# ------------------------------------------------------------------------------------------ risk


def _risk_doc() -> dict:
    doc = base()
    doc["pads"][0]["pad_model"] = "site31"
    return doc


def test_risk_damage_becomes_the_same_outage_as_the_what_if(tmp_path):
    days = load(_risk_doc(), tmp_path)
    res = cr.crew_risk(days, "east", [cr.PadDamage("x", 1.0, 1.0, 1.0)], histories=64, q=1.0)
    # every launch from east damages it for 30 + 5 d: a (day 10) -> f1 day 45 (planned 40)
    # -> out again until day 80 = b's planned day
    rep = tl.what_if(days, tl.Perturbation(outages=[tl.parse_outage(f"east:{day(10)}+30d"),
                                                     tl.parse_outage(f"east:{day(45)}+30d")]))
    assert rep.slips() == {"f1": 5}
    assert res["procedures"][0]["expected_slip_days"]["p"] == pytest.approx(5)
    res = cr.crew_risk(days, "east", [cr.PadDamage("x", 1.0, 1.0, 1.0)], histories=64, q=1.0,
                       repair=(60, 60, 60, 5))
    rep = tl.what_if(days, tl.Perturbation(outages=[tl.parse_outage(f"east:{day(10)}+60d"),
                                                     tl.parse_outage(f"east:{day(75)}+60d")]))
    assert rep.slips() == {"f1": 35, "b": 60} and rules_of(rep) == {"docked_life", "lifeboat"}
    assert res["procedures"][0]["expected_slip_days"]["p"] == pytest.approx(95)
    assert res["procedures"][0]["p_day_without_lifeboat_seat"]["p"] == 1.0
    assert res["procedures"][0]["p_day_without_lifeboat_seat"]["p"] == (0.0 if rep.ok else 1.0)


def test_risk_zero_probability_means_no_outage(tmp_path):
    days = load(_risk_doc(), tmp_path)
    res = cr.crew_risk(days, "east", [cr.PadDamage("x", 0.0, 0.0, 0.0)], histories=2000)
    pr = res["procedures"][0]
    assert pr["p_day_without_lifeboat_seat"]["p"] == 0 and pr["expected_slip_days"]["p"] == 0


def test_importance_sampling_agrees_with_plain_sampling(iss):
    d = [cr.PadDamage("p", 0.05, 0.04, 0.06)]
    plain = cr.crew_risk(iss, "site31", d, histories=40_000, seed=3, q=0.05)["procedures"][0]
    boosted = cr.crew_risk(iss, "site31", d, histories=40_000, seed=4, q=0.3)["procedures"][0]
    a, b = plain["p_day_without_lifeboat_seat"], boosted["p_day_without_lifeboat_seat"]
    assert a["p"] > 0.05
    assert abs(a["p"] - b["p"]) < 4 * (a["se"] ** 2 + b["se"] ** 2) ** 0.5
    assert plain["p_day_without_lifeboat_seat_at_interval"][0] < a["p"] < plain["p_day_without_lifeboat_seat_at_interval"][1]


def test_vectorised_evaluation_equals_the_plain_loop(iss):
    rng = np.random.default_rng(0)
    launch, undock, _, _ = cr.sample(iss, iss.pad_index("site31"), 0.3, (96, 120, 730, 19), 200, rng)
    out = tl.evaluate(iss, launch, undock)
    anys, slips = cr.plain_loop(iss, launch, undock)
    assert out.any_uncovered.tolist() == anys and out.slip_days.tolist() == slips
    assert any(anys) and not all(anys)


def test_risk_is_the_same_on_local_processes_and_dask(iss):
    from padguard.engines.risk_campaign import executor_for

    d = [cr.PadDamage("p", 0.01, 0.005, 0.02)]
    a = cr.crew_risk(iss, "site31", d, histories=3000, seed=7, chunk=1000)
    with executor_for(2) as ex:
        b = cr.crew_risk(iss, "site31", d, histories=3000, seed=7, chunk=1000, executor=ex)
    assert a["procedures"] == b["procedures"]
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with executor_for(cluster=cluster.scheduler_address) as ex:
            c = cr.crew_risk(iss, "site31", d, histories=3000, seed=7, chunk=1000, executor=ex)
    assert a["procedures"] == c["procedures"]


def test_pad_damage_comes_from_the_pad_risk_engine():
    """The crew engine's per-launch probability is exactly ``padguard risk``'s pad_damaged."""
    from padguard.compile import compile_model
    from padguard.engines.risk_campaign import campaign
    from padguard.model.loader import load as load_pad

    got = cr.pad_damage("site31", ["legacy"], trials=20_000, seed=11, method="crude")[0]
    ref = campaign([compile_model(load_pad("site31", "legacy"))], 20_000, seed=11, method="crude").to_dict()
    o = ref["procedures"][0]["outcomes"]["pad_damaged"]
    assert (got.p, got.lo, got.hi) == (o["p"], o["lo"], o["hi"]) and got.p > 0


def test_legacy_procedure_costs_more_crew_access_than_guarded(iss):
    d = [cr.PadDamage("guarded", 1e-11, 8e-12, 1.2e-11), cr.PadDamage("legacy", 3.6e-3, 3.5e-3, 3.7e-3)]
    res = cr.crew_risk(iss, "site31", d, histories=20_000, seed=1)
    g, leg = (p["p_day_without_lifeboat_seat"]["p"] for p in res["procedures"])
    assert 0 < g < 1e-8 < 1e-3 < leg
    assert res["paired"]["p_difference_b_minus_a"]["lo"] > 0


# ------------------------------------------------------------------------------------------ CLI


def test_cli_check_what_if_plan(tmp_path):
    from padguard.cli import app

    r = CliRunner().invoke(app, ["crew", "check", "iss-2025-2026"])
    assert r.exit_code == 0, r.output
    assert "every rule holds" in r.output
    r = CliRunner().invoke(app, ["crew", "what-if", "iss-2025-2026", "--outage", "site31:2025-11-27+365d",
                                 "--json"])
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["summary"]["by_rule"] == {"docked_life": 1, "lifeboat": 1}
    margin = data["daily"]["life_margin"]["soyuz-ms-28"]
    assert margin[data["daily"]["date"].index("2026-08-04")] == 0 and min(m for m in margin if m is not None) < 0
    png = tmp_path / "g.png"
    r = CliRunner().invoke(app, ["crew", "what-if", "iss-2025-2026", "--outage", "site31:2025-11-27+96d",
                                 "--plot", str(png)])
    assert r.exit_code == 0 and png.stat().st_size > 10_000
    r = CliRunner().invoke(app, ["crew", "plan", "iss-2025-2026", "--outage", "site31:2025-11-27+215d",
                                 "--time-limit", "30"])
    assert r.exit_code == 0, r.output
    assert "proven optimal" in r.output and "greedy re-scheduler" in r.output
    r = CliRunner().invoke(app, ["crew", "what-if", "iss-2025-2026", "--outage", "nowhere:2025-11-27+5d"])
    assert r.exit_code == 2 and "unknown pad" in r.output


def test_cli_rejects_bad_scenario_with_file_line(tmp_path):
    from padguard.cli import app

    doc = base()
    doc["missions"][0]["pad"] = "moon"
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = CliRunner().invoke(app, ["crew", "check", str(p)])
    assert r.exit_code == 2
    assert f"{p}:" in r.output and "missions[0].pad" in r.output and "moon" in r.output


def test_padguard_check_validates_crew_scenarios(tmp_path):
    from padguard.cli import app

    r = CliRunner().invoke(app, ["check", str(Path(load_scenario.__code__.co_filename).parent
                                             / "scenarios" / "iss-2025-2026.yaml")])
    assert r.exit_code == 0, r.output
    doc = base()
    doc["missions"][0]["vehicle"] = "shuttle"
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = CliRunner().invoke(app, ["check", str(p)])
    assert r.exit_code == 2 and "missions[0].vehicle" in r.output and "shuttle" in r.output


def test_cli_risk_json(tmp_path):
    from padguard.cli import app

    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(_risk_doc(), sort_keys=False))
    r = CliRunner().invoke(app, ["crew", "risk", str(p), "--pad", "east:legacy", "-n", "5000",
                                 "--pad-trials", "3000", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    pr = data["procedures"][0]
    assert pr["pad_damage_per_launch"]["procedure"] == "legacy" and pr["pad_damage_per_launch"]["p"] > 0
    assert pr["expected_slip_days"]["p"] > 0
