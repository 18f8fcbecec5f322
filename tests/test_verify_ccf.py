"""Common-cause faults in the verifier's reductions (issue 8 follow-up): a common-cause event is
dormant only when it is dormant for every member, it is explored when any member is read, and
it occupies every member (at most one fault mode per component)."""

from __future__ import annotations

from pathlib import Path

import pytest

import padguard as pg
from padguard.engines import verify as V
from padguard.engines.verify_models import write_model


def ccf_model(first_read: bool) -> dict:
    """`eq0` is moved out of its safe position at T-20s (a procedure error) while the criterion
    requires `s1` to read it safe; `s0` watches `eq1`, which never moves. A common-cause stuck
    event on [s0, s1] at the move freezes `s1` at `p1`: the count launches with eq0 in the plume.
    For the first member (s0) the event is dormant at every instant; for s1 it acts at the move."""
    crit = [{"sensor": "s1", "is": "p1"}] + ([{"sensor": "s0", "is": "p0"}] if first_read else [])
    return {
        "site": {"site": "ccfpad", "name": "ccf",
                 "equipment": [{"name": "eq0", "kind": "other", "positions": ["p0", "p1"], "initial": "p1",
                                "travel": [{"from": "p1", "to": "p0", "min": 1, "max": 2}]},
                               {"name": "eq1", "kind": "other", "positions": ["p0", "p1"], "initial": "p0",
                                "travel": [{"from": "p0", "to": "p1", "min": 1, "max": 2}]}],
                 "sensors": [{"name": "s0", "observes": "eq1", "period": 1, "stale_after": 3},
                             {"name": "s1", "observes": "eq0", "period": 1, "stale_after": 3}],
                 "groups": [], "plume_zone": [{"equipment": "eq0", "safe": ["p1"], "hazard": "in_plume"}],
                 "personnel_zones": []},
        "procedure": {"procedure": "p", "site": "ccfpad", "start": "T-60s", "ignition": "T-0",
                      "window": {"duration": 0}, "steps": [{"at": "T-20s", "move": "eq0", "to": "p0"}],
                      "criteria": [{"name": "c", "applies": {"from": "T-50s", "until": "T-0"}, "all": crit}],
                      "auto": {"resume": True}},
        "faults": {"site": "ccfpad", "faults": [
            {"component": "s0", "mode": "dropout", "effect": "dropout", "probability": 0.001},
            {"component": "pair", "members": ["s0", "s1"], "mode": "ccf_stuck", "effect": "stuck",
             "probability": 0.0001}]}}


@pytest.mark.parametrize("first_read", [True, False])
def test_ccf_stuck_is_found_when_only_a_later_member_acts(tmp_path: Path, first_read: bool):
    site, proc = write_model(tmp_path, ccf_model(first_read))
    plan = pg.compile_model(pg.load(site, proc))
    reduced = V.verify(plan, 1, properties=("plume",))
    full = V.verify(plan, 1, properties=("plume",), reduce=False)
    assert full.verdict == reduced.verdict == "violated"
    assert len(full.trace) == len(reduced.trace)
    assert [plan.faults[f] for st in reduced.trace for f, _ in st.faults] == ["pair:ccf_stuck"]
    sc = V.counterexample_scenario(plan, reduced)
    rp = V.replay(plan, sc, None, reduced.properties, reduced.trace[-1].state)
    assert rp.same_state and rp.label == "plume:eq0 in_plume"


def test_ccf_occupies_every_member(tmp_path: Path):
    """A dropped-out s0 cannot also be struck by the common-cause event on [s0, s1] (one mode
    per component, as the Promela export has it): with s0 dropped out first, K = 2 has no
    subset {dropout, ccf} and the event is never injected over it."""
    site, proc = write_model(tmp_path, ccf_model(True))
    plan = pg.compile_model(pg.load(site, proc))
    ex = V.Explorer(plan, V.Options(max_faults=2))
    names = [tuple(plan.faults[f] for f in sub) for sub in ex.subsets]
    assert ("s0:dropout",) in names and ("pair:ccf_stuck",) in names
    assert not any(len(sub) == 2 for sub in names)
    for reduce in (True, False):
        res = V.verify(plan, 2, properties=("plume", "personnel", "window"), reduce=reduce)
        assert res.verdict == "violated"
