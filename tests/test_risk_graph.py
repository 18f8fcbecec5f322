"""The fault-free trial graph: walking it gives, trial by trial, what the semantics gives.

The graph (:mod:`padguard.engines.risk_graph`) tabulates a Plan's fault-free countdowns by
running the semantics once per state and travel combination; the risk engine then walks it
for every fault-free trial. These tests compare each walked trial with the same trial run
through the event loop, on the shipped models and on seeded random models whose fault-free
counts hold, recycle, scrub and abort, and check that whole campaigns report the same
numbers with and without the graph and whatever the chunk grouping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import padguard as pg
from padguard.engines import risk, risk_graph
from padguard.engines import risk_campaign as rc
from padguard.engines.verify_models import random_model, write_model


def _engine(plan: pg.Plan, trials: risk.Trials) -> np.ndarray:
    """Per-trial results through the event loop only (the path without the graph)."""
    out = risk.TrialResults(*(np.empty(trials.n, dtype=np.int64) for _ in risk.RESULT_FIELDS))
    risk._run(plan, trials, risk.MAX_EVENTS,
              risk._keeper(plan, [out], np.zeros(trials.n, dtype=np.int64), np.arange(trials.n)))
    return np.stack([getattr(out, f) for f in risk.RESULT_FIELDS], axis=1)


def _fault_free(plan: pg.Plan, n: int, seed: int) -> risk.Trials:
    """``n`` fault-free trials; a few take the extreme and boundary travel draws."""
    law = risk.trial_law(plan, probs={f: 0.0 for f in plan.faults})
    t = risk.draw(plan, law, np.random.default_rng(seed), n)
    t.u[:, 0] = 0.0
    t.u[:, 1] = np.nextafter(1.0, 0.0)  # the longest travel everywhere
    t.u[:, 2] = 0.5
    t.u[:, 3:50] = np.floor(t.u[:, 3:50] * 7) / 7  # draws exactly on some boundaries k/n
    return t


def _compare(plan: pg.Plan, n: int = 2000, seed: int = 0, faults: tuple[int, ...] = ()) -> set[int]:
    g = risk_graph.build(plan, faults)
    trials = _fault_free(plan, n, seed)
    trials.occ[list(faults)] = True  # these faults act from count start (onset 0)
    walked = risk_graph.walk(g, trials.tr_u(plan))
    ref = _engine(plan, trials)
    bad = np.flatnonzero((walked != ref).any(axis=1))
    assert not len(bad), f"trial {bad[0]}: walked {walked[bad[0]]} != engine {ref[bad[0]]}"
    return set(ref[:, 0].tolist())


@pytest.mark.parametrize("site,proc", [("site31", "guarded"), ("site31", "legacy"),
                                       ("shuttle39a", "crewed"), ("falcon9", "crewed")])
def test_walk_equals_the_engine_on_the_shipped_models(site: str, proc: str) -> None:
    _compare(pg.compile_model(pg.load(site, proc)), n=3000)


def test_walk_equals_the_engine_on_random_models(tmp_path: Path) -> None:
    """40 seeded random models: fault-free counts, and counts with a latent fault from the
    start, that launch, hold, recycle, scrub and abort."""
    outcomes: set[int] = set()
    tabulated = 0
    for seed in range(40):
        docs = random_model(seed)
        site, proc = write_model(tmp_path / str(seed), docs)
        plan = pg.compile_model(pg.load(site, proc))
        latent = tuple(int(i) for i in np.flatnonzero(~risk.trial_law(plan).timed))
        try:
            outcomes |= _compare(plan, n=600, seed=seed)
            for f in latent[:2]:  # a latent fault (a jam, a wrong end position) from the start
                outcomes |= _compare(plan, n=300, seed=seed, faults=(f,))
            tabulated += 1
        except risk_graph.GraphUnsupported:
            continue
    assert tabulated >= 35
    # the comparison covers more than nominal launches (else it could not catch much)
    assert len(outcomes) >= 3, outcomes


def test_campaign_numbers_are_the_same_with_and_without_the_graph(site31_guarded, monkeypatch) -> None:
    """Same seed, same estimates, every reported number equal: the graph for fault-free
    trials and one event loop for the faulty ones of several chunks, against the event loop
    chunk by chunk."""
    plan = site31_guarded
    law = risk.trial_law(plan, probs={f: 0.004 for f in plan.faults})  # faulty and fault-free trials
    monkeypatch.setenv("PADGUARD_RISK_GRAPH", "1")
    fast = rc.campaign([plan], 24_000, seed=5, method="crude", law=law, chunk=3000).numbers()
    assert plan.__dict__["_risk_graphs"].get(()) is not None  # the fault-free graph was used
    monkeypatch.setattr(rc, "GROUP", 1)
    monkeypatch.setenv("PADGUARD_RISK_GRAPH", "0")
    plan.__dict__.pop("_risk_graphs", None)
    slow = rc.campaign([plan], 24_000, seed=5, method="crude", law=law, chunk=3000).numbers()
    assert fast == slow
    outcomes = fast["procedures"][0]["outcomes"]
    assert sum(1 for o in outcomes.values() if o["p"] > 0) >= 3


def test_a_graph_too_large_falls_back_to_the_engine(site31_guarded, monkeypatch) -> None:
    plan = pg.compile_model(pg.load("site31", "guarded"))
    with pytest.raises(risk_graph.GraphUnsupported, match="fault-free states"):
        risk_graph.build(plan, max_nodes=100)
    monkeypatch.setattr(risk_graph, "MAX_NODES", 100)
    monkeypatch.setattr(risk_graph, "_CACHE", {})
    monkeypatch.setenv("PADGUARD_RISK_GRAPH", "1")
    assert risk_graph.graph_for(plan) is None
    trials = _fault_free(plan, 500, 3)
    res = risk.run_results(plan, trials)
    assert np.array_equal(np.stack([getattr(res, f) for f in risk.RESULT_FIELDS], axis=1), _engine(plan, trials))


def test_the_graph_is_built_only_when_worth_it(monkeypatch) -> None:
    plan = pg.compile_model(pg.load("falcon9", "crewed"))
    monkeypatch.delenv("PADGUARD_RISK_GRAPH", raising=False)
    monkeypatch.setattr(risk_graph, "_CACHE", {})
    assert risk_graph.graph_for(plan, trials=100) is None  # a small run: not worth a build
    assert risk_graph.graph_for(plan, trials=risk_graph.GRAPH_MIN_TRIALS) is not None
    same = pg.compile_model(pg.load("falcon9", "crewed"))  # a fresh copy (as a worker gets it)
    assert risk_graph.graph_for(same, trials=1) is not None  # found by content


def test_a_zero_minimum_travel_is_not_tabulated(tmp_path: Path, monkeypatch) -> None:
    """A move that can arrive in the instant it is issued has no readable travel range: the
    graph refuses it and the engine runs those trials itself, with the same results."""
    docs = random_model(3)
    for eq in docs["site"]["equipment"]:
        for t in eq["travel"]:
            t["min"] = 0
    site, proc = write_model(tmp_path / "zero", docs)
    plan = pg.compile_model(pg.load(site, proc))
    with pytest.raises(risk_graph.GraphUnsupported, match="zero minimum travel"):
        risk_graph.build(plan)
    monkeypatch.setenv("PADGUARD_RISK_GRAPH", "1")
    monkeypatch.setattr(risk_graph, "_CACHE", {})
    trials = _fault_free(plan, 300, 1)
    res = risk.run_results(plan, trials)
    assert risk_graph.graph_for(plan) is None
    assert np.array_equal(np.stack([getattr(res, f) for f in risk.RESULT_FIELDS], axis=1), _engine(plan, trials))


def test_trials_starting_with_latent_faults_walk_their_own_graph(site31_guarded, monkeypatch) -> None:
    """Faults active from count start (a stopper not installed, a jammed tower) leave a trial a
    function of its travel draws: each such fault set gets its own graph, walked trial by trial
    equal to the event loop; a campaign given the MS-28 fault gives the same numbers with and
    without the graphs."""
    plan = site31_guarded
    latent = [i for i, f in enumerate(plan.faults) if not risk.trial_law(plan).timed[i]]
    assert "cabin.stopper:not_installed" in [plan.faults[i] for i in latent]
    for fs in ([plan.fault_index("cabin.stopper:not_installed")], latent[:2], latent[1:4]):
        g = risk_graph.build(plan, tuple(fs))
        probs = {f: (1.0 if i in fs else 0.0) for i, f in enumerate(plan.faults)}
        trials = risk.draw(plan, risk.trial_law(plan, probs=probs), np.random.default_rng(2), 1500)
        walked = risk_graph.walk(g, trials.tr_u(plan))
        ref = _engine(plan, trials)
        assert np.array_equal(walked, ref), [plan.faults[i] for i in fs]
    law = risk.trial_law(plan, given=["cabin.stopper:not_installed"])
    monkeypatch.setenv("PADGUARD_RISK_GRAPH", "1")
    plan.__dict__.pop("_risk_graphs", None)
    fast = rc.campaign([plan], 12_000, seed=9, method="crude", law=law, chunk=3000).numbers()
    assert plan.__dict__["_risk_graphs"].get((plan.fault_index("cabin.stopper:not_installed"),)) is not None
    monkeypatch.setenv("PADGUARD_RISK_GRAPH", "0")
    plan.__dict__.pop("_risk_graphs", None)
    slow = rc.campaign([plan], 12_000, seed=9, method="crude", law=law, chunk=3000).numbers()
    assert fast == slow
    outcomes = fast["procedures"][0]["outcomes"]
    assert outcomes["scrubbed"]["p"] > 0.9  # the watchdog holds, recycles and scrubs
