"""Lazy travel choice (issue 8 follow-up): the verifier explores each arrival when it happens
instead of choosing the travel time at issue. The runs are the same, so on seeded random small
models and on the shipped ones the lazy and the eager search give the same verdict, property by
property, and the same shortest counterexample length, and every lazy counterexample replays in
the simulator to the same state and violation. ``PADGUARD_SLOW=1`` runs 300 random seeds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import padguard as pg
from padguard import plant
from padguard.cli import app
from padguard.engines import verify as V
from padguard.engines.verify_models import random_model, write_model
from padguard.model.invariants import compile_invariants

from .conftest import TINY_FAULTS, TINY_LEGACY, TINY_PROC, TINY_SITE

N_SEEDS = 300 if os.environ.get("PADGUARD_SLOW") else 40


def with_slow(docs: dict, seed: int) -> dict:
    """Every third seed also gets a slow fault on its first equipment (one travel time)."""
    if seed % 3 == 0:
        docs["faults"]["faults"].append({"component": "eq0", "mode": "slow", "effect": "slow",
                                         "delay": 1 + seed % 4, "probability": 0.001})
    return docs


def assert_same(plan: pg.Plan, k: int, props: tuple[str, ...], invs: list, **kw) -> tuple[V.VerifyResult, V.VerifyResult]:
    lazy = V.verify(plan, k, invariants=invs, properties=props, **kw)
    eager = V.verify(plan, k, invariants=invs, properties=props, lazy_travel=False, **kw)
    assert lazy.verdict == eager.verdict, (props, lazy.verdict, eager.verdict)
    assert len(lazy.trace) == len(eager.trace), props
    if lazy.verdict == "violated":
        # the same property can be reached by different equally short runs, but the set of
        # violations at the shortest depth is the same
        got = {f"{lazy.violation.prop}:{lazy.violation.detail}", *lazy.also}
        want = {f"{eager.violation.prop}:{eager.violation.detail}", *eager.also}
        assert got == want, props
        sc = json.loads(json.dumps(V.counterexample_scenario(plan, lazy)))
        rp = V.replay(plan, sc, invs, lazy.properties, lazy.trace[-1].state)
        assert rp.same_state and rp.label == f"{lazy.violation.prop}:{lazy.violation.detail}"
    return lazy, eager


@pytest.mark.parametrize("seed", range(N_SEEDS))
def test_lazy_and_eager_agree_on_random_models(seed: int, tmp_path: Path):
    docs = with_slow(random_model(seed), seed)
    site, proc = write_model(tmp_path, docs)
    plan = pg.compile_model(pg.load(site, proc))
    invs = compile_invariants(plan)
    for prop in V.PROPERTIES:
        assert_same(plan, docs["max_faults"], (prop,), invs)


@pytest.mark.parametrize("proc,k,res_s,props", [
    ("legacy", 1, 30, V.PROPERTIES),
    ("guarded", 0, 1, V.PROPERTIES),
    ("guarded", 1, 30, ("plume", "personnel", "invariants", "liveness")),
])
def test_lazy_and_eager_agree_on_site31(proc: str, k: int, res_s: int, props: tuple[str, ...]):
    plan = pg.compile_model(pg.load("site31", proc), res_s * 1000)
    invs = compile_invariants(plan)
    lazy, eager = assert_same(plan, k, props, invs)
    if proc == "guarded" and k == 0:
        # the two tower halves lowered together: 181 x 181 travel times at issue (eager)
        # against one window each (lazy)
        assert lazy.stats.states * 10 < eager.stats.states


@pytest.mark.parametrize("proc", ["guarded", "legacy"])
def test_lazy_and_eager_agree_on_the_tiny_pad(tmp_path: Path, proc: str):
    (tmp_path / "site.yaml").write_text(TINY_SITE)
    (tmp_path / "guarded.yaml").write_text(TINY_PROC)
    (tmp_path / "legacy.yaml").write_text(TINY_LEGACY)
    (tmp_path / "faults.yaml").write_text(TINY_FAULTS)
    plan = pg.compile_model(pg.load(tmp_path / "site.yaml", tmp_path / f"{proc}.yaml"))
    invs = compile_invariants(plan)
    for k in (1, 2):
        for prop in V.PROPERTIES:
            assert_same(plan, k, (prop,), invs)


def test_a_lazy_counterexample_takes_an_inner_travel_time(tmp_path: Path):
    """The hazard needs a travel time other than the minimum: people occupy the arm's zone 3 s
    after it starts a 2..9 s move. An arrival at 2 or 3 s is done before they are there (an
    arrival is settled before the sequencer acts at the same instant), a later one moves the arm
    onto them. The counterexample ends with the arm still travelling; its travel choice must
    keep it travelling in the simulator too (the replayed state is compared, ARRIVE included)."""
    docs = {
        "site": {"site": "inner", "name": "inner travel time",
                 "equipment": [{"name": "arm", "kind": "other", "positions": ["p0", "p1"], "initial": "p0",
                                "travel": [{"from": "p0", "to": "p1", "min": 2, "max": 9}]}],
                 "sensors": [], "groups": [],
                 "plume_zone": [{"equipment": "arm", "safe": ["p1"], "hazard": "in_plume"}],
                 "personnel_zones": [{"name": "deck", "equipment": ["arm"], "occupied": False}]},
        "procedure": {"procedure": "p", "site": "inner", "start": "T-30s", "ignition": "T-0",
                      "window": {"duration": 0},
                      "steps": [{"at": "T-20s", "move": "arm", "to": "p1"},
                                {"at": "T-17s", "occupy": "deck"}],
                      "criteria": [], "auto": {"resume": True}},
        "faults": {"site": "inner", "faults": []}}
    site, proc = write_model(tmp_path, docs)
    plan = pg.compile_model(pg.load(site, proc))
    lazy, _ = assert_same(plan, 0, ("personnel",), [])
    assert lazy.verdict == "violated" and lazy.violation.detail == "deck"
    out = tmp_path / "cex.json"
    r = CliRunner().invoke(app, ["verify", str(site), str(proc), "-k", "0", "-p", "personnel", "--json",
                                 "--out", str(out)])
    assert r.exit_code == 1, r.output
    assert json.loads(r.output)["counterexample"]["replayed"]["same_state"] is True
    u = json.loads(out.read_text())["travel_u"][0][0]
    d = int(plant.travel_time(plan, 0, np.array([0]), 1, np.array([u]))[0])
    assert 4000 <= d <= 9000


def test_no_faults_only_instants_where_no_fault_can_be_added():
    """Instants that are no event exist only to inject a fault: a node that has no room for
    another fault (K reached, or K = 0) gets none, only its events; with room, it gets every
    grid instant before its next event. (The explored graph is the same either way: such
    instants yield no successor without a fault.)"""
    plan = pg.compile_model(pg.load("site31", "guarded"))
    ex0 = V.Explorer(plan, V.Options(max_faults=0))
    ex1 = V.Explorer(plan, V.Options(max_faults=1))
    S = ex1._initial(2)
    from padguard import semantics

    semantics.settle(plan, S[:plan.layout.size])
    plant.inject(plan, S, plan.fault_index("tower.half_a:jammed"), np.array([False, True]))
    t = S[plan.T].copy()
    tn = semantics.next_event(plan, S[:plan.layout.size])
    assert (tn - t > plan.res).all()  # a quiet interval with grid instants inside
    c0, _, _, ev0 = ex0._time_choices(S, t, tn, root=False)
    assert ev0.all()  # K = 0: events only
    c1, w1, _, ev1 = ex1._time_choices(S, t, tn, root=False)
    # column 0 (no fault yet) gets every grid instant before tn; column 1 (K reached) none
    assert (~ev1[c1 == 0]).sum() == (tn[0] - t[0] - 1) // plan.res
    assert ev1[c1 == 1].all()
