"""Symbolic-time verification (issue 8): zones over the times the future depends on give exact
verdicts on the model's millisecond clock without enumerating milliseconds.

Checked here: the DBM operations against brute-force enumeration of integer points; the zone
search against the explicit 1 ms search (the definition of exact) on seeded random models,
property by property, with every zone counterexample replayed in the simulator; the shipped
models; the command line; and that the run-time cross-checks catch a symbolic split that has
lost a deadline. ``PADGUARD_SLOW=1`` runs more random models.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import padguard as pg
from padguard.cli import app
from padguard.engines import verify as V
from padguard.engines import verify_zones as Z
from padguard.engines.verify_models import random_model, write_model
from padguard.model.invariants import compile_invariants

N_SEEDS = 150 if os.environ.get("PADGUARD_SLOW") else 12
runner = CliRunner()


# ---------------------------------------------------------------- DBMs


def _points(cons: list[tuple[int, int, int]], n: int, span: range) -> set[tuple[int, ...]]:
    """Integer points (x_0 = 0) of a conjunction of x_i - x_j <= c, by enumeration."""
    out = set()
    for xs in itertools.product(span, repeat=n - 1):
        x = (0, *xs)
        if all(x[i] - x[j] <= c for i, j, c in cons):
            out.add(x)
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(-4, 4)), max_size=6),
       st.booleans())
def test_dbm_operations_match_the_integer_points_they_describe(cons, upper):
    n, span = 4, range(-5, 6)
    cons = [(i, j, c) for i, j, c in cons if i != j]
    box = [(i, 0, 5) for i in range(1, n)] + [(0, i, 5) for i in range(1, n)]
    D = np.full((n, n), Z.INF, dtype=np.int64)
    np.fill_diagonal(D, 0)
    for i, j, c in box:
        D[i, j] = min(D[i, j], c)
    for i, j, c in cons:
        D[i, j] = min(D[i, j], c)
    pts = _points(box + cons, n, span)
    assert Z.dbm_close(D) == bool(pts)
    if not pts:
        return
    # canonical bounds are tight and every canonical DBM yields a point inside it
    for i in range(n):
        for j in range(n):
            assert D[i, j] == max(x[i] - x[j] for x in pts)
    assert tuple(Z.dbm_point(D, upper)) in pts
    # constrain = intersect; reset = assignment; free = projection
    D2 = Z.dbm_constrain(D, 1, 2, 0)
    pts2 = {x for x in pts if x[1] - x[2] <= 0}
    assert (D2 is None) == (not pts2)
    if D2 is not None:
        assert tuple(Z.dbm_point(D2)) in pts2
    D3 = D.copy()
    Z.dbm_reset(D3, 3, 1, 2)
    pts3 = {(x[0], x[1], x[2], x[1] + 2) for x in pts}
    for i in range(n):
        for j in range(n):
            assert D3[i, j] == max(x[i] - x[j] for x in pts3)
    D4 = D.copy()
    Z.dbm_free(D4, 2)
    assert (D4[[0, 1, 3]][:, [0, 1, 3]] == D[[0, 1, 3]][:, [0, 1, 3]]).all()
    assert D4[2, 0] >= Z.INF and D4[0, 2] >= Z.INF


# ---------------------------------------------------------------- against the 1 ms search


def _check_against_exact(plan: pg.Plan, invs: list, prop: str) -> str:
    """Zone verdict vs the explicit 1 ms search, one property; returns the verdict."""
    z = Z.ZoneExplorer(plan, Z.ZoneOptions(properties=(prop,)), invs)
    zr = z.run()
    xr = V.verify(plan, 0, invariants=invs, properties=(prop,), max_states=200_000)
    if xr.verdict == "bounded":
        return "bounded"
    assert zr.verdict == xr.verdict, (prop, zr.verdict, zr.violation, xr.verdict, xr.violation)
    if zr.violation is not None:
        assert zr.violation.prop == xr.violation.prop
        # fewest settled instants: the symbolic and the explicit search agree
        assert len(zr.trace) == len(xr.trace), (len(zr.trace), len(xr.trace))
        sc = V.counterexample_scenario(plan, zr)
        rp = V.replay(plan, sc, invs, (prop,), zr.trace[-1].state)
        assert rp.same_state and rp.label == f"{zr.violation.prop}:{zr.violation.detail}", rp.label
    return zr.verdict


@pytest.mark.parametrize("regimes", [False, True])
def test_zones_agree_with_the_1ms_search_on_random_models(tmp_path: Path, regimes: bool):
    seen: dict[str, int] = {}
    for seed in range(N_SEEDS):
        site, proc = write_model(tmp_path / f"m{seed}", random_model(seed, regimes=regimes))
        plan = pg.compile_model(pg.load(str(site), str(proc)), 1)
        invs = compile_invariants(plan)
        for prop in V.PROPERTIES:
            v = _check_against_exact(plan, invs, prop)
            seen[v] = seen.get(v, 0) + 1
    # the sample must exercise both verdicts, or it proves little
    assert seen.get("proved", 0) > 10 and seen.get("violated", 0) >= 2, seen


def _edge_model(tmp_path: Path, crit_from: str, inv: str) -> pg.Plan:
    """eq0 moves at T-10s taking 2 to 4 s; a criterion wants it in place from ``crit_from``;
    no launch window (a hold scrubs)."""
    docs = {
        "site": {"site": "edge", "name": "edge pad", "personnel_zones": [], "groups": [],
                 "equipment": [{"name": "eq0", "kind": "other", "positions": ["p0", "p1"], "initial": "p0",
                                "travel": [{"from": "p0", "to": "p1", "min": 2, "max": 4}]}],
                 "sensors": [{"name": "s0", "observes": "eq0", "period": 1, "stale_after": 2}],
                 "plume_zone": [{"equipment": "eq0", "safe": ["p1"], "hazard": "in_plume"}]},
        "procedure": {"procedure": "rand", "site": "edge", "start": "T-20s", "ignition": "T-0",
                      "window": {"duration": 0}, "debounce": 0, "auto": {"resume": True},
                      "steps": [{"at": "T-10s", "move": "eq0", "to": "p1"}],
                      "criteria": [{"name": "c0", "applies": {"from": crit_from, "until": "T-0"},
                                    "all": [{"sensor": "s0", "is": "p1"}]}],
                      "invariants": [{"name": "inv", "expr": inv}]},
        "faults": {"site": "edge", "faults": []},
    }
    site, proc = write_model(tmp_path, docs)
    return pg.compile_model(pg.load(str(site), str(proc)), 1)


@pytest.mark.parametrize("crit_from,inv,verdict", [
    # launches only if eq0 takes exactly its minimum (arrives at T-8s, as the criterion opens)
    ("T-8s", "mode != launched", "violated"),
    # eq0 always arrives by T-6s (its maximum): the count never holds, so never scrubs
    ("T-6s", "mode != scrubbed", "proved"),
])
def test_both_ends_of_a_travel_range_are_exact_to_the_millisecond(tmp_path: Path, crit_from, inv, verdict):
    plan = _edge_model(tmp_path, crit_from, inv)
    invs = compile_invariants(plan)
    assert _check_against_exact(plan, invs, "invariants") == verdict
    if verdict == "violated":
        r = Z.ZoneExplorer(plan, Z.ZoneOptions(properties=("invariants",)), invs).run()
        moves = [s for s in r.trace if s.issued]
        assert [s.t for s in r.trace if s.t == 12_000], "eq0 must arrive at T-8s exactly"
        assert moves and moves[0].t == 10_000


@pytest.mark.parametrize("regimes,k", [(False, 1), (True, 1), (True, 2)])
def test_with_faults_no_grid_finds_what_zones_prove(tmp_path: Path, regimes: bool, k: int):
    """K = 1 and 2 on seeded random models: every run of a grid is a millisecond run, so a
    violation a grid search finds must be found by the symbolic search, never 'proved'; every
    symbolic counterexample is concretised and replays in the simulator; and it is never longer
    than the grid's (the symbolic search has every timing the grid has). At K = 2, regime seed
    3 needs a switch sticking at the instant its equipment moves spontaneously (a fault set
    whose invisible member acts only through the other): a dormant-fault rule that demanded
    each member act alone proved it, wrongly."""
    seen: dict[str, int] = {}
    for seed in range(N_SEEDS if k == 1 else 6):
        site, proc = write_model(tmp_path / f"k{seed}", random_model(seed, regimes=regimes))
        plan = pg.compile_model(pg.load(str(site), str(proc)), 1)
        grid = pg.compile_model(plan.model, V.grain(plan))
        invs = compile_invariants(plan)
        for prop in V.PROPERTIES:
            ex = Z.ZoneExplorer(plan, Z.ZoneOptions(properties=(prop,)), invs, max_faults=k)
            zr = ex.run()
            seen[zr.verdict] = seen.get(zr.verdict, 0) + 1
            seen["approx"] = seen.get("approx", 0) + ex.approximate
            xr = V.verify(grid, k, invariants=invs, properties=(prop,))
            if xr.verdict == "violated":
                assert zr.verdict == "violated", (seed, prop, xr.violation)
                assert len(zr.trace) <= len(xr.trace)
            if zr.violation is not None:
                sc = V.counterexample_scenario(plan, zr)
                rp = V.replay(plan, sc, invs, (prop,), zr.trace[-1].state)
                assert rp.same_state and rp.label == f"{zr.violation.prop}:{zr.violation.detail}", (seed, prop)
    assert seen.get("proved", 0) > 10 and seen.get("violated", 0) > 3 and seen["approx"] > 0, seen


def test_site31_with_one_fault_is_proved_exactly_and_legacy_is_not(tmp_path: Path):
    plan = pg.compile_model(pg.load("site31", "guarded"), 1)
    r = Z.ZoneExplorer(plan, Z.ZoneOptions(), max_faults=1).run()
    assert r.verdict == "proved" and r.exact and r.max_faults == 1
    legacy = pg.compile_model(pg.load("site31", "legacy"), 1)
    r = Z.ZoneExplorer(legacy, Z.ZoneOptions(), max_faults=1).run()
    assert r.verdict == "violated" and r.violation.detail == "cabin.stopper unlocked"
    assert [legacy.faults[f] for s in r.trace for f, _ in s.faults] == ["cabin.stopper:not_installed"]
    sc = V.counterexample_scenario(legacy, r)
    rp = V.replay(legacy, sc, [], V.PROPERTIES, r.trace[-1].state)
    assert rp.same_state and rp.label == "plume:cabin.stopper unlocked"


def test_concretisation_solves_sums_of_instants():
    """A path whose conditions are not differences (the count epoch ran during a hold) is
    solved exactly by CP-SAT; an infeasible one is reported as None."""
    # N1 >= N0 + 1, N2 >= N1 + 1, N2 - N1 + N0 <= 5 (a sum of three), N0 = 0
    cons = [({0: 1, 1: -1}, -1), ({1: 1, 2: -1}, -1), ({2: 1, 1: -1, 0: 1}, 5), ({0: 1}, 0), ({0: -1}, 0)]
    x = Z._solve(cons, 3)
    assert x is not None and x[0] == 0 and x[1] >= 1 and x[2] >= x[1] + 1 and x[2] - x[1] + x[0] <= 5
    assert Z._solve([*cons, ({2: -1, 1: 1}, -6)], 3) is None  # N2 - N1 >= 6 contradicts the sum


@pytest.mark.parametrize("site,proc", [("site31", "guarded"), ("site31", "legacy"),
                                       ("shuttle39a", "crewed"), ("falcon9", "crewed")])
def test_shipped_models_are_proved_exact_without_faults(site: str, proc: str):
    plan = pg.compile_model(pg.load(site, proc), 1)
    r = Z.ZoneExplorer(plan, Z.ZoneOptions(), compile_invariants(plan)).run()
    assert r.verdict == "proved" and r.exact and r.timing == "zones"
    assert r.stats.states < 1000  # the 1 ms explicit search does not finish on Site 31/6


def test_a_slow_tower_scrubs_exactly_and_replays(slow_tower_1ms: pg.Plan):
    r = Z.ZoneExplorer(slow_tower_1ms, Z.ZoneOptions(properties=("liveness",))).run()
    assert r.verdict == "violated" and r.violation.prop == "liveness"
    sc = V.counterexample_scenario(slow_tower_1ms, r)
    rp = V.replay(slow_tower_1ms, sc, [], ("liveness",), r.trace[-1].state)
    assert rp.same_state and rp.label.startswith("liveness")
    # the hold began when the towers' criterion opened (T-38m) with half A still moving
    assert r.trace[-1].t == 1_620_001


@pytest.fixture(scope="module")
def slow_tower_1ms(slow_tower: tuple[Path, Path]) -> pg.Plan:
    return pg.compile_model(pg.load(*map(str, slow_tower)), 1)


def test_a_lost_deadline_is_caught_not_proved(monkeypatch):
    """Drop the latest-arrival deadlines from the symbolic split: the run-time cross-check
    against semantics.next_event must stop the search instead of letting it prove."""
    orig = Z.ZoneExplorer._deadlines

    def lossy(self, nd):
        return [(a, b, c) for a, b, c in orig(self, nd) if not (self.vA <= b < self.vO)]

    monkeypatch.setattr(Z.ZoneExplorer, "_deadlines", lossy)
    plan = pg.compile_model(pg.load("site31", "guarded"), 1)
    with pytest.raises(AssertionError, match="next_event|settled differently"):
        Z.ZoneExplorer(plan, Z.ZoneOptions()).run()


def test_outside_the_fragment_is_refused_with_a_reason():
    plan = pg.compile_model(pg.load("site31", "guarded"), 1)
    with pytest.raises(Z.ZoneUnsupported, match="1 ms"):
        Z.ZoneExplorer(pg.compile_model(pg.load("site31", "guarded"), 1000))
    from padguard.model.invariants import compile_expr

    inv = compile_expr(plan, "count < T-5m or tower.half_a == lowered", "x")
    with pytest.raises(Z.ZoneUnsupported, match="count"):
        Z.ZoneExplorer(plan, invariants=[inv])


# ---------------------------------------------------------------- command line


def test_cli_proves_site31_exactly_by_default_at_k0():
    r = runner.invoke(app, ["verify", "site31", "guarded", "-k", "0", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["verdict"] == "proved" and data["exact"] is True and data["engine"] == "zones"
    r = runner.invoke(app, ["verify", "site31", "guarded", "-k", "0"])
    assert "PROVED (exact)" in r.output and "symbolic time" in r.output
    r = runner.invoke(app, ["verify", "site31", "guarded", "-k", "0", "--explicit", "--json"])
    data = json.loads(r.output)
    assert r.exit_code == 3 and data["engine"] == "grid" and data["verdict"] == "no_violation_found"


def test_cli_says_why_it_falls_back_to_the_grid():
    r = runner.invoke(app, ["verify", "site31", "guarded", "-k", "0", "-p", "invariants",
                            "-i", "count < T-5m or tower.half_a == lowered", "--json"])
    data = json.loads(r.output)
    assert data["engine"] == "grid" and "count" in data["symbolic_not_applicable"]
    assert data["exact"] is False


def test_cli_zone_counterexample_replays(slow_tower: tuple[Path, Path], tmp_path: Path):
    site, proc = slow_tower
    out = tmp_path / "cx.json"
    r = runner.invoke(app, ["verify", str(site), str(proc), "-k", "0", "--shortest",
                            "-p", "liveness", "--json", "--out", str(out)])
    assert r.exit_code == 1, r.output
    data = json.loads(r.output)
    assert data["engine"] == "zones" and data["exact"] is True and data["verdict"] == "violated"
    assert data["counterexample"]["replayed"]["same_state"] is True
    assert json.loads(out.read_text())["resolution_ms"] == 1


def test_a_path_with_no_concrete_timing_is_never_reported(monkeypatch):
    """If a violating symbolic path had no concrete solution (possible only where the hold's
    stopwatch was over-approximated), the symbolic search stops with the reason and the
    command falls back to the grid search: no violation is reported from a zone alone."""
    monkeypatch.setattr(Z, "_solve", lambda cons, m: None)
    plan = pg.compile_model(pg.load("site31", "legacy"), 1)
    with pytest.raises(Z.ZoneUnsupported, match="no concrete run"):
        Z.ZoneExplorer(plan, Z.ZoneOptions(properties=("plume",)), max_faults=1).run()
    r = runner.invoke(app, ["verify", "site31", "legacy", "-k", "1", "-p", "plume", "--shortest", "--json",
                            "--out", os.devnull])
    data = json.loads(r.output)
    assert r.exit_code == 1 and data["engine"] == "grid" and "no concrete run" in data["symbolic_not_applicable"]
    assert data["counterexample"]["replayed"]["same_state"] is True
