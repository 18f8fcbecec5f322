"""The risk engine: one semantics with the simulator, the trial law, reproducibility, scale-out."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import padguard as pg
from padguard import semantics
from padguard.engines import risk
from padguard.engines import risk_campaign as rc
from padguard.engines.simulate import Simulator
from tests.test_risk_models import write_mini


def _agree(plan: pg.Plan, n: int, seed: int, boost: float,
           bias: dict[str, float] | None = None) -> tuple[np.ndarray, risk.Trials]:
    """Draw n trials with every fault made likely (and ``bias`` faults likelier still), run
    them vectorised and one by one in the simulator; assert identical final states trial by
    trial. Returns the outcome codes and the trials."""
    law = risk.trial_law(plan)
    q = np.clip(np.maximum(law.probs * 100, boost), 0, 0.5)
    for name, v in (bias or {}).items():
        q[plan.fault_index(name)] = v
    trials = risk.draw(plan, law, np.random.default_rng(seed), n, proposal=q)
    S = risk.run(plan, trials)
    for k in range(n):
        sc = risk.trial_scenario(plan, trials, k)
        sim = Simulator(plan, faults=sc["faults"], travel_u=sc["travel_u"])
        sim.run()
        assert np.array_equal(sim.S[:, 0], S[:, k]), (k, sc["faults"])
    return semantics.outcome_codes(plan, S), trials


def test_vectorised_runs_equal_the_simulator_trial_by_trial(site31_guarded):
    codes, trials = _agree(site31_guarded, 700, seed=1, boost=0.03)
    # Guarded pad damage needs a bad stopper and two lying switches: bias 300 more toward it.
    lie = {"cabin.stopper:not_installed": 0.5, "stopper_a:reads_wrong": 0.8, "stopper_b:reads_wrong": 0.8}
    codes2, _ = _agree(site31_guarded, 300, seed=2, boost=0.02, bias=lie)
    # The draws really exercise the model: every fault mode, every outcome the pad can reach.
    assert trials.occ.sum(axis=1).min() >= 10
    assert (trials.onset[risk.trial_law(site31_guarded).timed] > 0).any()
    seen = {risk.OUTCOMES[c] for c in np.concatenate([codes, codes2])}
    assert {"launched_on_time", "launched_after_holds", "scrubbed", "aborted", "pad_damaged"} <= seen


def test_legacy_and_tiny_pads_agree_with_the_simulator(site31_legacy, tiny):
    codes, _ = _agree(site31_legacy, 250, seed=2, boost=0.03)
    assert "pad_damaged" in {risk.OUTCOMES[c] for c in codes}
    codes, _ = _agree(tiny, 250, seed=3, boost=0.05)
    assert len(set(codes)) >= 3


def test_trial_law_occurrences_onsets_and_weights(site31_guarded):
    plan = site31_guarded
    law = risk.trial_law(plan, probs={"cabin.stopper:not_installed": 0.2, "stopper_a:dropout": 0.1})
    n = 100_000
    tr = risk.draw(plan, law, np.random.default_rng(0), n)
    freq = tr.occ.mean(axis=1)
    sd = np.sqrt(law.probs * (1 - law.probs) / n)
    assert np.all(np.abs(freq - law.probs) <= 5 * sd + 1e-12)
    i = plan.fault_index("stopper_a:dropout")
    on = tr.onset[i, tr.occ[i]]
    assert law.timed[i] and on.min() >= 0 and on.max() < law.horizon_s * 1000
    assert np.all(on % 1000 == 0) and abs(on.mean() / 1000 - (law.horizon_s - 1) / 2) < 20
    j = plan.fault_index("cabin.stopper:not_installed")
    assert not law.timed[j] and not tr.onset[j].any()  # latent from count start
    assert law.horizon_s == (plan.ign - plan.start) // 1000
    # travel draws are uniform and shared by move, not by step position
    assert tr.u.shape == (len(risk.move_keys(plan)), n) and 0 <= tr.u.min() and tr.u.max() < 1
    # importance weights are the likelihood ratio of the drawn occurrences
    q = np.full(len(law.probs), 0.3)
    tb = risk.draw(plan, law, np.random.default_rng(1), 50, proposal=q)
    p = law.probs
    manual = np.prod(np.where(tb.occ, (p / q)[:, None], ((1 - p) / (1 - q))[:, None]), axis=0)
    assert np.allclose(tb.weights, manual, rtol=1e-12)
    with pytest.raises(KeyError, match="known"):
        risk.trial_law(plan, given=["cabin:exploded"])


def test_given_fault_is_certain(site31_legacy):
    law = risk.trial_law(site31_legacy, given=["cabin.stopper:not_installed"])
    assert law.probs[site31_legacy.fault_index("cabin.stopper:not_installed")] == 1.0
    tr = risk.draw(site31_legacy, law, np.random.default_rng(0), 100)
    assert tr.occ[site31_legacy.fault_index("cabin.stopper:not_installed")].all()


def test_ms28_fault_under_each_procedure(site31_guarded, site31_legacy):
    """What each procedure turns the MS-28 fault into, on the same sampled countdowns."""
    law = risk.trial_law(site31_guarded, given=["cabin.stopper:not_installed"])
    res = rc.campaign([site31_guarded, site31_legacy], 8000, seed=4, method="crude", law=law).to_dict()
    g, leg = (p["outcomes"] for p in res["procedures"])
    assert leg["pad_damaged"]["p"] > 0.97
    assert g["pad_damaged"]["hits"] == 0
    assert g["scrubbed"]["p"] > 0.97
    pair = res["paired"]["table"]
    assert pair["scrubbed"]["pad_damaged"] == leg["pad_damaged"]["hits"] - sum(
        pair.get(o, {}).get("pad_damaged", 0) for o in pair if o != "scrubbed")


def test_paired_table_margins_are_the_two_campaigns(site31_guarded, site31_legacy):
    res = rc.campaign([site31_guarded, site31_legacy], 20_000, seed=9, method="crude").to_dict()
    g, leg = (p["outcomes"] for p in res["procedures"])
    table = res["paired"]["table"]
    for o in risk.OUTCOMES:
        rows = sum(table.get(o, {}).values())
        cols = sum(row.get(o, 0) for row in table.values())
        assert rows == (g[o]["hits"] if o in g else 0)
        assert cols == (leg[o]["hits"] if o in leg else 0)
    # Same trials: a legacy damage is never a guarded damage (the guarded count holds first).
    assert table.get("pad_damaged", {}).get("pad_damaged", 0) == 0
    # and running a procedure alone gives exactly its paired numbers
    alone = rc.campaign([site31_legacy], 20_000, seed=9, method="crude").to_dict()
    assert alone["procedures"][0]["outcomes"] == res["procedures"][1]["outcomes"]


def test_same_seed_same_numbers_on_every_executor(tmp_path):
    """In-process, local processes and a Dask cluster give bit-identical campaigns."""
    distributed = pytest.importorskip("distributed")
    plan = pg.compile_model(pg.load(write_mini(tmp_path / "m", 2e-3, 1e-3, 5e-3, 5e-3), "guarded"))
    kw = dict(seed=123, method="auto", chunk=4096, is_budget=2 * rc.IS_CHUNK)
    n = 3 * 4096 + 77  # an uneven last chunk
    base = rc.campaign([plan], n, **kw).numbers()
    assert base["procedures"][0]["outcomes"]["pad_damaged"]["method"] == "is"
    with ProcessPoolExecutor(2) as ex:
        assert rc.campaign([plan], n, executor=ex, **kw).numbers() == base
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with rc.executor_for(cluster=cluster.scheduler_address) as ex:
            assert rc.campaign([plan], n, executor=ex, **kw).numbers() == base
    other = rc.campaign([plan], n, **{**kw, "seed": 124}).numbers()
    assert other != base


def test_chunking_does_not_depend_on_workers_but_seed_does(site31_guarded):
    a = rc.campaign([site31_guarded], 5000, seed=1, method="crude", chunk=1000).numbers()
    b = rc.campaign([site31_guarded], 5000, seed=1, method="crude", chunk=1000).numbers()
    assert a == b
    assert a["seed"] == 1
    fresh = rc.campaign([site31_guarded], 1000, method="crude")
    assert isinstance(fresh.to_dict()["seed"], int)  # a fresh seed is recorded for repeats


def test_bad_campaign_arguments(site31_guarded, tiny):
    with pytest.raises(ValueError, match="method"):
        rc.campaign([site31_guarded], 10, method="magic")
    with pytest.raises(ValueError, match="at least 1"):
        rc.campaign([site31_guarded], 0)
    with pytest.raises(ValueError, match="rare event"):
        rc.campaign([site31_guarded], 10, rare_events=("launched_on_time",))
    with pytest.raises(ValueError, match="same fault modes"):
        rc.campaign([site31_guarded, tiny], 10)


def test_binomial_intervals_match_textbook_values():
    from padguard.engines import risk_stats as rs

    lo, hi = rs.wilson(5, 100)
    assert lo == pytest.approx(0.02154, abs=1e-4) and hi == pytest.approx(0.11175, abs=1e-4)
    assert rs.wilson(0, 100)[0] == 0.0 and rs.wilson(100, 100)[1] == 1.0
    lo, hi = rs.clopper_pearson(0, 100)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 100), rel=1e-9)
    lo, hi = rs.clopper_pearson(5, 100)
    assert lo == pytest.approx(0.01643, abs=1e-4) and hi == pytest.approx(0.11284, abs=1e-4)
    est = rs.weighted_estimate(wsum=2.0, w2sum=4.0, hits=1, n=10)  # one hit of weight 2 in 10
    assert est.p == pytest.approx(0.2) and est.se == pytest.approx(0.2)


def test_real_dask_worker_processes_give_the_same_bits(tmp_path):
    """Real worker processes (Dask's nanny starts them with OPENBLAS_NUM_THREADS=1 and
    MALLOC_TRIM_THRESHOLD_=65536) agree bit for bit with this process, importance weights too."""
    distributed = pytest.importorskip("distributed")
    plan = pg.compile_model(pg.load(write_mini(tmp_path / "m", 2e-3, 1e-3, 5e-3, 5e-3), "guarded"))
    kw = dict(seed=77, method="is", chunk=4096, is_budget=2 * rc.IS_CHUNK)
    base = rc.campaign([plan], 4096 + 5, **kw).numbers()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            env = client.run(lambda: __import__("os").environ.get("OPENBLAS_NUM_THREADS"))
            assert set(env.values()) == {"1"}  # really the worker environment of the issue
        with rc.executor_for(cluster=cluster.scheduler_address) as ex:
            assert rc.campaign([plan], 4096 + 5, executor=ex, **kw).numbers() == base
