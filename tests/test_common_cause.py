"""Common-cause faults (issue 11 item 1): one event fails a group's members together."""

from __future__ import annotations

import numpy as np
import pytest

import padguard as pg
from padguard import plant, semantics
from padguard.engines import risk
from padguard.engines import risk_campaign as rc

from .conftest import TINY_FAULTS, TINY_PROC, TINY_SITE
from .test_model_errors import problems_for

CCF = TINY_FAULTS + (
    "  - {component: latch, mode: ccf_wrong, effect: reads_wrong, value: latched, beta: 0.1, beta_of: wrong,\n"
    "     source: assumption}\n"
    "  - {component: arm_jam_cc, members: [arm, arm.latch], mode: ccf_jam, effect: jam, probability: 0.002}\n")


def ccf_plan(tmp_path):
    d = tmp_path / "ccf"
    d.mkdir()
    (d / "site.yaml").write_text(TINY_SITE)
    (d / "guarded.yaml").write_text(TINY_PROC)
    (d / "faults.yaml").write_text(CCF)
    return pg.compile_model(pg.load(d, "guarded"))


def test_a_group_is_a_component_and_beta_sets_its_probability(tmp_path):
    p = ccf_plan(tmp_path)
    f = p.fault_index("latch:ccf_wrong")
    assert p.member_names(f) == ["latch_a", "latch_b"]
    assert p.f_prob[f] == pytest.approx(0.1 * 0.01)  # beta x the members' reads_wrong probability
    g = p.fault_index("arm_jam_cc:ccf_jam")
    assert p.member_names(g) == ["arm", "arm.latch"] and p.f_kind[g] == 0
    assert f in p.component_faults("latch_a")


def test_one_event_fails_both_members_and_counts_once(tmp_path):
    p = ccf_plan(tmp_path)
    S = semantics.initial_state(p, 1)
    plant.inject(p, S, p.fault_index("latch:ccf_wrong"))
    assert int(plant.active_faults(p, S)[0]) == 1
    plant.inject(p, S, p.fault_index("arm.latch:jammed"))
    assert int(plant.active_faults(p, S)[0]) == 2
    plant.sense(p, S)
    a, b = p.sensor_index("latch_a"), p.sensor_index("latch_b")
    assert p.decode_sensor(a, int(S[p.SVAL + a, 0])) == "latched"
    assert p.decode_sensor(b, int(S[p.SVAL + b, 0])) == "latched"
    plant.clear(p, S, p.fault_index("latch:ccf_wrong"))
    assert not S[p.SFAULT + a, 0] and not S[p.SFAULT + b, 0]


def test_a_jammed_latch_with_lying_switches_is_damage_with_one_common_cause(tmp_path):
    p = ccf_plan(tmp_path)
    r = pg.simulate(p, faults=["arm.latch:jammed@+0s", "latch:ccf_wrong@+5s"])
    assert r.outcome == "pad_damaged"
    r = pg.simulate(p, faults=["arm.latch:jammed@+0s", "latch_a:wrong@+5s"])
    assert r.outcome == "scrubbed"  # one lying switch alone is outvoted by its healthy twin


def test_the_common_cause_is_sampled_at_its_own_rate(tmp_path):
    p = ccf_plan(tmp_path)
    law = risk.trial_law(p, probs={"latch:ccf_wrong": 0.2})
    t = risk.draw(p, law, np.random.default_rng(3), 20_000)
    f = p.fault_index("latch:ccf_wrong")
    k = int(t.occ[f].sum())
    assert abs(k - 4000) < 4 * np.sqrt(20_000 * 0.2 * 0.8)
    # and it damages exactly with a bad latch (jammed / misaligned / popped out)
    d = rc.campaign([p], 4096, seed=1, method="crude", law=law).to_dict()["procedures"][0]
    imp = {r["fault"]: r for r in d["importance"]["pad_damaged"]["table"]}
    assert imp["latch:ccf_wrong"]["fv"] > 0.5


def test_bad_common_cause_declarations_name_file_line_and_field(tmp_path):
    bad = TINY_FAULTS + (
        "  - {component: arm, members: [latch_a, latch_b], mode: x, effect: stuck, probability: 0.1}\n"
        "  - {component: cc2, members: [latch_a, arm], mode: y, effect: stuck, probability: 0.1}\n"
        "  - {component: cc3, members: [latch_a, nope], mode: z, effect: stuck, probability: 0.1}\n"
        "  - {component: latch, mode: w, effect: stuck, beta: 0.1}\n"
        "  - {component: latch, mode: v, effect: stuck, beta: 0.1, beta_of: stuck}\n"
        "  - {component: latch, mode: u, effect: jam, probability: 0.1}\n")
    probs = problems_for(tmp_path, faults=bad)
    text = "\n".join(str(p) for p in probs)
    assert "needs a name of its own" in text
    assert "all sensors or all equipment" in text
    assert "unknown component 'nope'" in text
    assert "beta and beta_of go together" in text
    assert "member 'latch_b' has no fault mode 'stuck'" in text
    assert "'jam' is an equipment effect" in text
    assert all(p.file.endswith("faults.yaml") and p.line for p in probs)


def test_site31_ships_a_common_cause_on_the_stopper_switches(site31_guarded):
    p = site31_guarded
    f = p.fault_index("stopper_lock:ccf_reads_engaged")
    assert p.member_names(f) == ["stopper_a", "stopper_b"]
    assert p.f_prob[f] == pytest.approx(0.05 * 1e-4)
    r = pg.simulate(p, faults=["cabin.stopper:not_installed@T-1h", "stopper_lock:ccf_reads_engaged@T-56m"])
    assert r.outcome == "pad_damaged" and "cabin.stopper unlocked" in r.hazards


def test_verify_finds_the_common_cause_case_with_two_faults_not_three(tmp_path):
    from padguard.engines.verify import verify

    p = ccf_plan(tmp_path)
    # drop the independent lying switches: only the common-cause event can make both lie
    keep = [i for i, f in enumerate(p.faults) if f in ("arm.latch:jammed", "latch:ccf_wrong")]
    import numpy as np

    sub = pg.compile_model(p.model)
    for name in ("f_kind", "f_comp", "f_effect", "f_to", "f_prob", "f_delay"):
        setattr(sub, name, getattr(sub, name)[keep])
    sub.f_members = [sub.f_members[i] for i in keep]
    sub.faults = [sub.faults[i] for i in keep]
    assert np.all(sub.f_prob > 0)
    assert verify(sub, max_faults=1).verdict == "proved"
    r = verify(sub, max_faults=2)
    assert r.verdict == "violated" and r.violation.prop == "plume"
