"""The `slow` fault in the verifier (issue 8 follow-up): a cabin that takes its declared maximum
plus the fault's delay is caught by the travel watchdog (a hold, never a launch into the pad),
and without the watchdog the verifier finds the launch with the cabin still travelling, with a
counterexample that ``simulate --replay`` reproduces."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

import padguard as pg
from padguard.cli import app
from padguard.engines import verify as V
from padguard.engines.verify_models import write_model
from padguard.model.invariants import compile_invariants

runner = CliRunner()


def slow_cabin_model(watchdog: bool, delay: float = 50) -> dict:
    """A cabin stowed at T-40s in 2..5 s; its `slow` fault adds ``delay`` to the maximum, so a
    slow cabin arrives at T-35s + delay (after T-0 for the default 50 s). With the watchdog
    (margin 2 s) every sensor of the cabin must read `stowed` from T-33s."""
    proc = {"procedure": "p", "site": "slowpad", "start": "T-60s", "ignition": "T-0",
            "window": {"duration": 120}, "steps": [{"at": "T-40s", "move": "cabin", "to": "stowed"}],
            "criteria": [], "auto": {"resume": True}}
    if watchdog:
        proc["travel_watchdog"] = {"margin": 2, "source": "test"}
    return {
        "site": {"site": "slowpad", "name": "slow cabin",
                 "equipment": [{"name": "cabin", "kind": "other", "positions": ["out", "stowed"],
                                "initial": "out", "travel": [{"from": "out", "to": "stowed", "min": 2, "max": 5}]}],
                 "sensors": [{"name": "cabin_pos", "observes": "cabin", "period": 1, "stale_after": 3}],
                 "groups": [], "plume_zone": [{"equipment": "cabin", "safe": ["stowed"], "hazard": "in_plume"}],
                 "personnel_zones": []},
        "procedure": proc,
        "faults": {"site": "slowpad", "faults": [
            {"component": "cabin", "mode": "slow", "effect": "slow", "delay": delay, "probability": 0.001},
            {"component": "cabin", "mode": "jammed", "effect": "jam", "probability": 0.001},
            {"component": "cabin_pos", "mode": "dropout", "effect": "dropout", "probability": 0.001}]}}


def plan_of(tmp_path: Path, docs: dict) -> tuple[pg.Plan, Path, Path]:
    site, proc = write_model(tmp_path, docs)
    return pg.compile_model(pg.load(site, proc)), site, proc


def test_simulator_slow_cabin_holds_on_the_watchdog(tmp_path: Path):
    plan, _, _ = plan_of(tmp_path, slow_cabin_model(True))
    res = pg.simulate(plan, faults=["cabin:slow@+0s"])
    hold = next(e for e in res.events if e.kind == "hold")
    assert hold.data["criterion"].startswith("watchdog_cabin")
    assert hold.tc == -33_000
    assert res.hazards == [] and res.outcome == "launched_after_holds"


def test_verify_proves_the_plume_with_the_watchdog(tmp_path: Path):
    plan, _, _ = plan_of(tmp_path, slow_cabin_model(True))
    for k in (1, 2):
        for reduce in (True, False):
            res = V.verify(plan, k, properties=("plume", "personnel", "liveness"), reduce=reduce)
            assert res.verdict == "proved", (k, reduce, res.violation)


def test_verify_finds_the_slow_cabin_without_the_watchdog_and_the_simulator_replays_it(tmp_path: Path):
    plan, site, proc = plan_of(tmp_path, slow_cabin_model(False))
    res = V.verify(plan, 1, properties=("plume",))
    assert res.verdict == "violated" and res.violation.detail == "cabin in_plume"
    faults = [plan.faults[f] for st in res.trace for f, _ in st.faults]
    assert faults == ["cabin:slow"]
    # the fault is injected when it first acts: the move command at T-40s (+20 s wall)
    assert [st.t for st in res.trace if st.faults] == [20_000]
    unreduced = V.verify(plan, 1, properties=("plume",), reduce=False)
    assert unreduced.verdict == "violated" and len(unreduced.trace) == len(res.trace)
    # through the CLI: the saved counterexample replays in `simulate --replay`
    out = tmp_path / "cex.json"
    r = runner.invoke(app, ["verify", str(site), str(proc), "-k", "1", "-p", "plume", "--json", "--out", str(out)])
    assert r.exit_code == 1, r.output
    data = json.loads(r.output)
    assert data["counterexample"]["replayed"] == {"same_state": True, "violates": "plume:cabin in_plume"}
    r2 = runner.invoke(app, ["simulate", str(site), str(proc), "--replay", str(out), "--json"])
    assert r2.exit_code == 0, r2.output
    sim = json.loads(r2.output)
    assert sim["outcome"] == "pad_damaged" and "cabin in_plume" in sim["hazards"]


def test_a_short_delay_is_not_a_hazard(tmp_path: Path):
    """A slow cabin that still arrives before T-0 (delay 10 s: at T-25s) launches safely."""
    docs = slow_cabin_model(False, delay=10)
    docs["faults"]["faults"] = [f for f in docs["faults"]["faults"] if f["effect"] == "slow"]
    plan, _, _ = plan_of(tmp_path, docs)
    assert V.verify(plan, 1, properties=("plume",)).verdict == "proved"


def test_slow_striking_during_a_move_acts_on_the_next_move_only(tmp_path: Path):
    """The model (plant.command): the travel time is fixed when the move is commanded, so a
    slow fault that strikes while the cabin travels leaves that move alone; the verifier
    treats it as dormant until the next command (reduced and unreduced search agree)."""
    docs = slow_cabin_model(False)
    plan, _, _ = plan_of(tmp_path, docs)
    sim = pg.simulate(plan, faults=["cabin:slow@+21s"], travel_u=np.full((1, 1), 0.99))
    assert sim.hazards == [] and sim.outcome == "launched_on_time"
    # a second move after the first: slow strikes while the cabin travels out, acts on the way back
    d2 = copy.deepcopy(docs)
    d2["site"]["equipment"][0]["travel"].append({"from": "stowed", "to": "out", "min": 2, "max": 5})
    d2["procedure"]["steps"] = [{"at": "T-50s", "move": "cabin", "to": "stowed"},
                                {"at": "T-45s", "move": "cabin", "to": "out"},
                                {"at": "T-40s", "move": "cabin", "to": "stowed"}]
    plan2, _, _ = plan_of(tmp_path / "two", d2)
    invs = compile_invariants(plan2)
    for k in (1, 2):
        a = V.verify(plan2, k, invariants=invs)
        b = V.verify(plan2, k, invariants=invs, reduce=False)
        assert a.verdict == b.verdict == "violated" and len(a.trace) == len(b.trace)
