"""The verifier: Site 31/6 verdicts, counterexamples that replay in the simulator, invariants,
bounds, and the soundness of its reductions on random small models."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import padguard as pg
from padguard import plant
from padguard.cli import app
from padguard.engines import verify as V
from padguard.engines.verify_models import random_model, write_model
from padguard.model.errors import ModelError
from padguard.model.invariants import compile_invariants
from padguard.sequencer.table import Mode

ALL = V.PROPERTIES
HAZARDS = ("plume", "personnel", "invariants", "liveness")  # all but the launch window


def plan_at(site: str, proc: str, res_s: float) -> pg.Plan:
    return pg.compile_model(pg.load(site, proc), int(res_s * 1000))


def assert_replays(plan: pg.Plan, res: V.VerifyResult, invariants: list | None = None) -> dict:
    """The counterexample, saved as a scenario, drives the simulator into the same state and
    the same violated property at the same instant."""
    assert res.verdict == "violated" and res.violation is not None
    sc = V.counterexample_scenario(plan, res)
    sc = json.loads(json.dumps(sc))  # exactly what is written to disk
    rp = V.replay(plan, sc, invariants, res.properties, res.trace[-1].state)
    assert rp.label == f"{res.violation.prop}:{res.violation.detail}"
    assert rp.same_state
    return sc


# ---------------------------------------------------------------- Site 31/6


@pytest.fixture(scope="module")
def legacy_k1() -> tuple[pg.Plan, V.VerifyResult]:
    plan = plan_at("site31", "legacy", 30)
    return plan, V.verify(plan, max_faults=1)


def test_legacy_ignites_with_the_stopper_not_engaged(legacy_k1):
    plan, res = legacy_k1
    assert res.verdict == "violated"
    assert (res.violation.prop, res.violation.detail) == ("plume", "cabin.stopper unlocked")
    faults = [plan.faults[f] for st_ in res.trace for f, _ in st_.faults]
    assert len(faults) == 1 and faults[0].startswith("cabin.stopper:")
    # the sequencer never saw it: the count ran to ignition
    assert int(res.trace[-1].state[plan.MODE, 0]) == Mode.LAUNCHED


def test_legacy_counterexample_replays_in_the_simulator(legacy_k1):
    plan, res = legacy_k1
    sc = assert_replays(plan, res)
    tu = np.array(sc["travel_u"], dtype=float).reshape(len(plan.step_at), -1)
    out = pg.simulate(plan, faults=sc["faults"], seed=sc["seed"], travel_u=tu)
    assert out.outcome == "pad_damaged"
    assert out.hazards == sc["expect"]["hazards"] == ["cabin.stopper unlocked"]


def test_counterexample_is_exactly_as_short_as_possible(legacy_k1):
    """Shortest = fewest settled instants. The same breadth-first search, asked for the fastest
    fault-free count to ignition (invariant ``mode != launched``, K = 0), visits one instant per
    event; the MS-28 fault rides on the stopper's engage command and removes exactly one instant,
    the stopper's arrival. So the counterexample is exactly one instant shorter, and its instants
    are the fault-free ones minus that arrival."""
    from padguard.model.invariants import compile_expr

    plan, res = legacy_k1
    inv = compile_expr(plan, "mode != launched", "no_launch")
    free = V.verify(plan, max_faults=0, properties=("invariants",), invariants=[inv])
    assert free.verdict == "violated" and int(free.trace[-1].state[plan.MODE, 0]) == Mode.LAUNCHED
    assert len(res.trace) == len(free.trace) - 1
    t_free = [int(s.state[plan.T, 0]) for s in free.trace]
    t_cex = [int(s.state[plan.T, 0]) for s in res.trace]
    (missing,) = set(t_free) - set(t_cex)
    assert set(t_cex) < set(t_free)
    e = plan.equipment.index("cabin.stopper")
    i = t_free.index(missing)
    before, after = (int(free.trace[j].state[plan.POS + e, 0]) for j in (i - 1, i))
    assert plan.decode_position(e, after) == "engaged" != plan.decode_position(e, before)


def test_guarded_k0_proved_with_liveness():
    plan = plan_at("site31", "guarded", 1)
    res = V.verify(plan, max_faults=0)
    assert res.verdict == "proved"
    assert res.stats.states > 1000 and res.stats.depth > 20 and res.stats.terminal > 0
    assert res.stats.bytes_per_state <= 32


def test_guarded_k1_proved_on_every_property_including_the_window():
    # Regression: an automatic recycle late in a hold used to restart a count that could only
    # ignite after the window closed. The sequencer now recycles only when the restarted count
    # can still end inside the window, and scrubs a count that cannot.
    plan = plan_at("site31", "guarded", 30)
    res = V.verify(plan, max_faults=1)
    assert res.verdict == "proved", res.violation


def test_falcon9_proved_at_k1():
    assert V.verify(plan_at("falcon9", "crewed", 10), max_faults=1).verdict == "proved"


# ---------------------------------------------------------------- tiny model: properties


def test_tiny_legacy_has_a_one_fault_hazard(tiny_dir: Path):
    plan = pg.compile_model(pg.load(tiny_dir, "legacy"))
    assert V.verify(plan, max_faults=0).verdict == "proved"
    res = V.verify(plan, max_faults=1)
    assert res.violation.prop == "plume"
    assert_replays(plan, res)


def test_tiny_guarded_needs_two_lying_switches(tiny: pg.Plan):
    """2-of-2 latch switches: one fault is held; the latch jamming plus both switches reading
    'latched' would need three, so K=2 is proved and K=3 is violated."""
    assert V.verify(tiny, max_faults=2, properties=("plume",)).verdict == "proved"
    res = V.verify(tiny, max_faults=3, properties=("plume",))
    assert res.violation.prop == "plume"
    injected = {tiny.faults[f] for st_ in res.trace for f, _ in st_.faults}
    assert {"latch_a:wrong", "latch_b:wrong"} <= injected
    assert_replays(tiny, res)


def write_tiny(tiny_dir: Path, extra: str) -> pg.Plan:
    text = (tiny_dir / "guarded.yaml").read_text() + extra
    (tiny_dir / "inv.yaml").write_text(text.replace("procedure: guarded", "procedure: inv"))
    return pg.compile_model(pg.load(tiny_dir, "inv"))


def test_user_invariants(tiny_dir: Path):
    plan = write_tiny(tiny_dir, """invariants:
  - {name: locked_at_launch, expr: "mode != launched or (arm == retracted and arm.latch == latched)"}
  - {name: deck_clear_when_moving, expr: "arm != in_transit or deck == clear"}
""")
    invs = compile_invariants(plan)
    assert V.verify(plan, max_faults=1, invariants=invs).verdict == "proved"
    # an invariant that cannot hold once the count moves the arm
    bad = invs + [pg_expr(plan, "arm == extended", "arm_never_moves")]
    res = V.verify(plan, max_faults=0, invariants=bad, properties=("invariants",))
    assert (res.violation.prop, res.violation.detail) == ("invariants", "arm_never_moves")
    assert_replays(plan, res, bad)


def pg_expr(plan: pg.Plan, text: str, name: str):
    from padguard.model.invariants import compile_expr

    return compile_expr(plan, text, name)


def test_bad_invariant_is_reported_with_file_and_line(tiny_dir: Path):
    with pytest.raises(ModelError) as exc:
        write_tiny(tiny_dir, 'invariants:\n  - {name: x, expr: "mode != launched or arm == retractd"}\n')
    p = exc.value.problems[0]
    assert p.file.endswith("inv.yaml") and p.line == len((tiny_dir / "guarded.yaml").read_text().splitlines()) + 2
    assert "retracted" in p.message  # the suggestion


# ---------------------------------------------------------------- bounds and Ctrl-C


def test_memory_bound_stops_with_partial_statistics():
    plan = plan_at("site31", "guarded", 1)
    res = V.verify(plan, max_faults=1, max_memory=20 * 2**20)
    assert res.verdict == "bounded" and "memory" in res.reason
    assert res.stats.states > 0 and res.stats.depth > 0


def test_ctrl_c_returns_what_was_reached():
    plan = plan_at("site31", "guarded", 1)
    calls = []

    def progress(stats: V.Stats, frontier: int) -> None:
        calls.append(stats.states)
        if len(calls) == 3:
            raise KeyboardInterrupt

    res = V.verify(plan, max_faults=1, progress=progress)
    assert res.verdict == "interrupted"
    assert res.stats.states >= calls[-1] > 0


# ---------------------------------------------------------------- soundness on random models


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6))
def test_reductions_keep_verdicts(seed: int, tmp_path_factory):
    """Dormant-fault pruning changes neither the verdict nor the counterexample length.
    Every counterexample replays in the simulator."""
    docs = random_model(seed)
    site, proc = write_model(tmp_path_factory.mktemp("m"), docs)
    plan = pg.compile_model(pg.load(site, proc))
    invs = compile_invariants(plan)
    K = docs["max_faults"]
    for props in (ALL, ("plume",), ("personnel",), ("window",)):
        a = V.verify(plan, K, invariants=invs, properties=props)
        b = V.verify(plan, K, invariants=invs, properties=props, reduce=False)
        assert a.verdict == b.verdict
        assert len(a.trace) == len(b.trace)
        if a.verdict == "violated":
            assert_replays(plan, a, invs)


def stale_after_pnr_model() -> dict:
    """Issue 8, defect 1: a dropout that goes stale just after the point of no return aborts.

    The sensor goes stale 10 s (+1 ms) after its onset; only an onset in [T-12 s, T-10 s) makes
    it stale after the point of no return (T-2 s) and before ignition. No event falls there, so
    a verifier that injects faults only at and just after events misses the abort."""
    return {
        "site": {"site": "rnd", "name": "stale after the point of no return",
                 "equipment": [{"name": "eq0", "kind": "other", "positions": ["p0", "p1"], "initial": "p1",
                                "travel": [{"from": "p1", "to": "p0", "min": 1, "max": 2}]}],
                 "sensors": [{"name": "s0", "observes": "eq0", "period": 1, "stale_after": 10}], "groups": [],
                 "plume_zone": [{"equipment": "eq0", "safe": ["p1"], "hazard": "in_plume"}],
                 "personnel_zones": []},
        "procedure": {"procedure": "rand", "site": "rnd", "start": "T-60s", "ignition": "T-0",
                      "window": {"duration": 0}, "point_of_no_return": "T-2s",
                      "steps": [{"at": "T-20s", "milestone": "m"}],
                      "criteria": [{"name": "c0", "applies": {"from": "T-50s", "until": "T-0"},
                                    "all": [{"sensor": "s0", "is": "p1"}]}],
                      "auto": {"resume": True},
                      "invariants": [{"name": "not_aborted", "expr": "mode != aborted"}]},
        "faults": {"site": "rnd", "faults": [{"component": "s0", "mode": "dropout", "effect": "dropout",
                                              "probability": 0.001}]}}


def test_a_dropout_between_events_is_found(tmp_path: Path):
    """Regression (issue 8, defect 1): the default search finds the abort, the counterexample
    puts the onset in [T-12 s, T-10 s), and the simulator reproduces it."""
    site, proc = write_model(tmp_path, stale_after_pnr_model())
    plan = pg.compile_model(pg.load(site, proc))
    invs = compile_invariants(plan)
    res = V.verify(plan, 1, invariants=invs)
    assert res.verdict == "violated"
    assert (res.violation.prop, res.violation.detail) == ("invariants", "not_aborted")
    onset = [st_.t for st_ in res.trace if st_.faults]
    assert len(onset) == 1 and 48_000 <= onset[0] < 50_000  # count start T-60 s: [T-12 s, T-10 s)
    assert_replays(plan, res, invs)
    with pytest.raises(V.VerifyError, match="events"):
        V.verify(plan, 1, invariants=invs, timing="events")


# ---------------------------------------------------------------- resolution (issue 8, defects 2 and 3)


@pytest.mark.parametrize("res_s", [30, 10, 5, 1])
def test_every_resolution_explores_the_slowest_travel(slow_tower, res_s: int):
    """Regression (defect 2): a coarse grid used to stop at min + k*res and drop the maximum."""
    plan = pg.compile_model(pg.load(*map(str, slow_tower)), res_s * 1000)
    res = V.verify(plan, 0)
    assert res.verdict == "violated" and res.violation.prop == "liveness"
    assert_replays(plan, res)


@pytest.mark.parametrize("res_ms", [1, 700, 1000, 7000, 30000])
def test_travel_choices_include_both_ends(res_ms: int):
    plan = pg.compile_model(pg.load("site31", "guarded"), res_ms)
    for e in range(plan.E):
        for a in range(plan.tmin.shape[1]):
            for b in range(plan.tmin.shape[2]):
                lo, hi = int(plan.tmin[e, a, b]), int(plan.tmax[e, a, b])
                last = a == plan.tmin.shape[1] - 1  # the row of "from in transit"
                if lo < 0 or not (a < plan.transit[e] or last):
                    continue
                frm = np.array([plan.transit[e] if last else a])
                us = plant.travel_choices(plan, e, int(frm[0]), b)
                times = [int(plant.travel_time(plan, e, frm, b, np.array([u]))[0]) for u in us]
                assert times[0] == lo and times[-1] == hi
                assert times == sorted(set(times)) and all(lo <= t <= hi for t in times)
                assert all(y - x <= res_ms for x, y in zip(times, times[1:], strict=False))


def test_a_coarse_resolution_is_a_search_not_a_proof():
    """Regression (defect 2): no violation at a coarse grid is reported as a search."""
    r = runner.invoke(app, ["verify", "site31", "guarded", "-k", "0", "--resolution", "30s"])
    assert r.exit_code == 3, r.output
    assert "no violation found at resolution 30 s (not a proof)" in " ".join(r.output.split())
    assert "PROVED" not in r.output
    r = runner.invoke(app, ["verify", "site31", "guarded", "-k", "0", "--resolution", "30s", "--json"])
    data = json.loads(r.output)
    assert data["exact"] is False and data["verdict"] == "no_violation_found"


def test_exact_resolution_proves(tmp_path: Path):
    """--resolution exact (the model's 1 ms clock) is a proof, and says why."""
    site, proc = write_model(tmp_path, stale_after_pnr_model())
    r = runner.invoke(app, ["verify", str(site), str(proc), "-k", "0", "--resolution", "exact", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["exact"] is True and data["verdict"] == "proved" and data["resolution_s"] == 0.001
    r = runner.invoke(app, ["verify", str(site), str(proc), "-k", "0", "--resolution", "exact"])
    assert r.exit_code == 0 and "PROVED" in r.output and "exact" in r.output


def test_counterexample_at_a_coarse_resolution_replays_in_the_simulator(slow_tower, tmp_path: Path):
    """Regression (defect 3): a counterexample found on a 30 s grid replays in
    ``simulate --replay`` to the same outcome (the simulator used to redraw the travel times on
    its own 1 s grid, so the slow tower arrived in time and the count launched)."""
    out = tmp_path / "cex.json"
    site, proc = map(str, slow_tower)
    r = runner.invoke(app, ["verify", site, proc, "-k", "0", "--resolution", "30s", "--json", "--out", str(out)])
    assert r.exit_code == 1, r.output
    data = json.loads(r.output)
    assert data["violation"]["property"] == "liveness"
    assert data["counterexample"]["replayed"]["same_state"] is True
    assert json.loads(out.read_text())["resolution_ms"] == 30000
    r2 = runner.invoke(app, ["simulate", site, proc, "--replay", str(out), "--json"])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.output)["outcome"] == "scrubbed"


# ---------------------------------------------------------------- command line

runner = CliRunner()


def test_the_quick_pass_answers_a_violation_at_once():
    """Without --shortest a 30 s pass runs first; its violation is a real run, reported with
    its own grid and replayed. Site 31/6 guarded at K = 2 is violated by design (stopper not
    installed and both stopper switches reading engaged by a common cause), which the 1 s
    search alone could not reach in 16.9 GiB."""
    r = runner.invoke(app, ["verify", "site31", "guarded", "-k", "2", "-p", "plume", "--json",
                            "--out", os.devnull])
    assert r.exit_code == 1, r.output
    data = json.loads(r.output)
    assert data["quick_pass"]["reported"] is True and data["quick_pass"]["resolution_s"] == 30
    assert data["resolution_s"] == 30 and data["exact"] is False and data["verdict"] == "violated"
    assert data["violation"]["detail"] == "cabin.stopper unlocked"
    faults = " ".join(f["fault"] if isinstance(f, dict) else str(f) for f in data["counterexample"]["faults"])
    assert "cabin.stopper:not_installed" in faults
    assert data["counterexample"]["replayed"]["same_state"] is True


def test_shortest_skips_the_quick_pass(slow_tower):
    """--shortest searches the requested grid only; without it the 30 s pass answers first."""
    site, proc = map(str, slow_tower)
    r = runner.invoke(app, ["verify", site, proc, "-k", "0", "--resolution", "10s", "--shortest", "--json",
                            "--out", os.devnull])
    assert r.exit_code == 1, r.output
    data = json.loads(r.output)
    assert "quick_pass" not in data and data["resolution_s"] == 10
    r = runner.invoke(app, ["verify", site, proc, "-k", "0", "--resolution", "10s", "--json", "--out", os.devnull])
    data = json.loads(r.output)
    assert r.exit_code == 1 and data["quick_pass"]["reported"] is True and data["resolution_s"] == 30


def test_a_quick_pass_that_finds_nothing_concludes_nothing():
    """A quiet quick pass is reported, and the requested search gives the verdict."""
    r = runner.invoke(app, ["verify", "site31", "guarded", "-k", "0", "--resolution", "10s", "--json"])
    assert r.exit_code == 3, r.output
    data = json.loads(r.output)
    assert data["quick_pass"] == {**data["quick_pass"], "reported": False, "resolution_s": 30,
                                  "verdict": "no_violation_found"}
    assert data["resolution_s"] == 10 and data["verdict"] == "no_violation_found"
    r = runner.invoke(app, ["verify", "site31", "guarded", "-k", "0", "--resolution", "10s"])
    assert "quick pass on a 30 s grid: no violation" in " ".join(r.output.split())


def test_cli_verify_violated_then_replay(tmp_path: Path):
    out = tmp_path / "cex.json"
    r = runner.invoke(app, ["verify", "site31", "legacy", "-k", "1", "--resolution", "30s", "--json",
                            "--out", str(out)])
    assert r.exit_code == 1, r.output
    data = json.loads(r.output)
    assert data["verdict"] == "violated" and data["violation"]["property"] == "plume"
    assert data["counterexample"]["replayed"] == {"same_state": True, "violates": "plume:cabin.stopper unlocked"}
    r2 = runner.invoke(app, ["simulate", "site31", "legacy", "--replay", str(out), "--json"])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.output)["outcome"] == "pad_damaged"


def test_cli_verify_search_and_timeline(tmp_path: Path):
    r = runner.invoke(app, ["verify", "site31", "guarded", "-k", "0", "--resolution", "30s"])
    assert r.exit_code == 3, r.output
    assert "not a proof" in r.output and "states" in r.output
    r = runner.invoke(app, ["verify", "site31", "legacy", "-k", "1", "--resolution", "30s",
                            "--out", str(tmp_path / "c.json")])
    assert r.exit_code == 1
    for text in ("VIOLATED", "FAULT cabin.stopper", "IGNITION", "sensors said", "replayed in the simulator"):
        assert text in r.output


@pytest.mark.parametrize("args", [
    ["verify", "site31", "guarded", "--property", "nonsense"],
    ["verify", "site31", "guarded", "--resolution", "0s"],
    ["verify", "site31", "guarded", "--resolution", "soon"],
    ["verify", "site31", "guarded", "--timing", "sometimes"],
    ["verify", "nowhere", "guarded"],
    ["verify", "site31", "guarded", "-i", "cabin == nowhere"],
])
def test_cli_bad_input_exits_2_without_traceback(args):
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output


# ---------------------------------------------------------------- grids (issue 8)


def test_default_grid_is_the_gcd_of_the_timing_constants(tmp_path: Path):
    assert V.grain(plan_at("site31", "guarded", 1)) == 1000
    docs = stale_after_pnr_model()
    docs["site"]["sensors"][0]["stale_after"] = 1.5  # a 1.5 s limit puts the grid at 500 ms
    site, proc = write_model(tmp_path, docs)
    assert V.grain(pg.compile_model(pg.load(site, proc))) == 500
    assert V.is_exact(1) and not V.is_exact(500)


@pytest.mark.parametrize("seed", [3, 5, 8, 11, 26])
def test_a_finer_grid_contains_the_coarser_one(seed: int, tmp_path: Path):
    """Every run on the default grid is on a grid that divides it (fault instants, and travel
    times including both ends), so a violation found coarse is found fine, and the fine search
    explores at least as many states. (`benchmarks/verify_grain_diff.py` compares the verdicts the
    other way round on more models.)"""
    docs = random_model(seed)
    site, proc = write_model(tmp_path, docs)
    model = pg.load(site, proc)
    g = V.grain(pg.compile_model(model))
    coarse, fine = pg.compile_model(model, g), pg.compile_model(model, g // 2)
    invs_c, invs_f = compile_invariants(coarse), compile_invariants(fine)
    for prop in V.PROPERTIES:
        a = V.verify(coarse, docs["max_faults"], properties=(prop,), invariants=invs_c)
        b = V.verify(fine, docs["max_faults"], properties=(prop,), invariants=invs_f)
        if a.verdict == "violated":
            assert b.verdict == "violated", (seed, prop)
        elif b.verdict == "proved":  # both exhausted: the fine graph holds the coarse one
            assert b.stats.states >= a.stats.states, (seed, prop)
