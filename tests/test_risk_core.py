"""Guards on the hot-path shortcuts the risk engine relies on (they must never change results).

* ``settle`` skips a pass (and the closing sensor sample) after a quiet pass; here every instant
  is also settled the long way, with every pass, and the two must agree.
* ``evaluate`` looks each criterion up in a table generated from ``eval_expr`` (or, for a
  criterion too large to tabulate, votes all terms in one vectorised pass); here it must equal
  the term-by-term path (``eval_expr`` over ``eval_term``) on arbitrary sensed values, and a
  whole campaign must give the same numbers, bit for bit, with the tables switched off.
"""

from __future__ import annotations

import numpy as np

from padguard import plant, semantics
from padguard.compile import NEVER
from padguard.engines import risk
from padguard.sequencer import rules

OPS = np.array([2, 3, 4, 8, 9])  # operator hold, resume, recycle, scrub, abort


def settle_every_pass(plan, S, op=None, oparg=None, tr_u=None):
    """The settle rule written out in full: every pass, then a closing sensor sample."""
    N = S.shape[1]
    issued = np.zeros((len(plan.step_at), N), dtype=bool)
    trigs = []
    for p in range(semantics.PASSES):
        plant.arrivals(plan, S)
        plant.sense(plan, S)
        d = rules.decide(plan, S, op if p == 0 else None, oparg if p == 0 else None)
        trigs.append(d.trigger)
        plant.command(plan, S, d.issued, tr_u)
        issued |= d.issued
        plant.ignition_hazards(plan, S, d.ignited)
        plant.personnel(plan, S)
    plant.sense(plan, S)
    return trigs, issued


def _walk(plan, n, seed, with_ops):
    rng = np.random.default_rng(seed)
    law = risk.trial_law(plan)
    q = np.clip(np.maximum(law.probs * 100, 0.05), 0, 0.5)
    tr = risk.draw(plan, law, rng, n, proposal=q)
    tr_u = tr.tr_u(plan)
    S = semantics.initial_state(plan, n)
    pend = np.where(tr.occ, tr.onset, NEVER)

    def inject():
        for i in range(len(plan.faults)):
            due = pend[i] <= S[plan.T]
            if due.any():
                plant.inject(plan, S, i, due)
                pend[i] = np.where(due, NEVER, pend[i])

    inject()
    for _ in range(120):
        op = oparg = None
        if with_ops:
            op = np.where(rng.random(n) < 0.03, rng.choice(OPS, n), -1)
            oparg = rng.integers(0, max(len(plan.r_at), 1), n)
        long = S.copy()
        want_trigs, want_issued = settle_every_pass(plan, long, op, oparg, tr_u)
        hap = semantics.settle(plan, S, op, oparg, tr_u)
        assert np.array_equal(S, long)
        assert all(np.array_equal(a, b) for a, b in zip(hap.triggers, want_trigs, strict=True))
        assert np.array_equal(hap.issued, want_issued)
        nxt = np.minimum(semantics.next_event(plan, S), np.maximum(pend.min(axis=0), S[plan.T]))
        live = (nxt < NEVER) & (S[plan.MODE] < 3)
        if with_ops:  # keep poking finished or stuck columns with operator commands too
            nxt = np.where(nxt >= NEVER, S[plan.T] + 1000, nxt)
        elif not live.any():
            break
        semantics.advance_to(plan, S, np.where(live | with_ops, nxt, S[plan.T]))
        inject()


def test_quiet_pass_shortcut_equals_every_pass(site31_guarded, site31_legacy, tiny):
    for plan, seed in ((site31_guarded, 1), (site31_legacy, 2), (tiny, 3)):
        _walk(plan, 400, seed, with_ops=False)
        _walk(plan, 200, seed + 10, with_ops=True)


def test_vectorised_vote_equals_term_by_term(site31_guarded, tiny):
    rng = np.random.default_rng(0)
    for plan in (site31_guarded, tiny):
        S = semantics.initial_state(plan, 64)
        for _ in range(100):
            S[plan.SVAL:plan.SVAL + plan.S] = rng.integers(-2, 5, (plan.S, 64))
            S[plan.STIME:plan.STIME + plan.S] = rng.integers(-5000, 5000, (plan.S, 64))
            S[plan.T] = rng.integers(0, 4000, 64)
            one_by_one = np.stack([rules.eval_expr(plan, S, e) for e in plan.c_expr])
            assert np.array_equal(rules.evaluate(plan, S), one_by_one)  # tabulated (64 columns)
            assert np.array_equal(rules.evaluate(plan, S[:, :8]), one_by_one[:, :8])  # few: voted
            for s in range(plan.S):
                assert np.array_equal(rules.fresh(plan, S, np.arange(plan.S))[s], rules.fresh(plan, S, s))


def test_campaign_numbers_are_the_same_without_the_criterion_tables(site31_guarded, monkeypatch):
    """Same seed, same estimates: the tabulated criteria (the fast path) against the
    term-by-term vote (the path before the tables), over a whole campaign of fault-heavy and
    nominal trials, every reported number equal."""
    from padguard.engines import risk_campaign as rc

    plan = site31_guarded
    law = risk.trial_law(plan, probs={f: 0.02 for f in plan.faults})  # every fault shows up
    assert rules._criterion_tables(plan) is not None  # the shipped site is tabulated
    fast = rc.campaign([plan], 6000, seed=11, method="crude", law=law, chunk=2000).numbers()
    monkeypatch.setattr(rules, "TABLE_MAX", 0)
    plan.__dict__.pop("_rules_ctables", None)
    assert rules._criterion_tables(plan) is None
    slow = rc.campaign([plan], 6000, seed=11, method="crude", law=law, chunk=2000).numbers()
    plan.__dict__.pop("_rules_ctables", None)
    assert fast == slow
    outcomes = fast["procedures"][0]["outcomes"]
    assert sum(1 for o in outcomes.values() if o["p"] > 0) >= 4  # the campaign reaches varied outcomes


def test_faults_can_strike_after_liftoff_when_steps_follow_it() -> None:
    """Shuttle 39A retracts its tail service masts at T+1s: the trial law's onsets run up to that
    step, so a fault can strike at liftoff (before, onsets stopped short of T-0), and such a
    trial runs in the engine as the simulator runs it."""
    import padguard as pg
    from padguard.engines.simulate import simulate

    plan = pg.compile_model(pg.load("shuttle39a", "crewed"))
    law = risk.trial_law(plan)
    t0 = plan.ign - plan.start + int(plan.h_dur.sum())  # nominal T-0, ms after count start
    assert law.horizon_s * 1000 == t0 + 1000  # through the T+1s retraction
    f = plan.faults.index("tsm:early_release")
    probs = np.zeros(len(plan.faults))
    probs[f] = 1.0
    trials = risk.draw(plan, law.with_probs(probs), np.random.default_rng(0), 40_000)
    at_liftoff = np.flatnonzero(trials.onset[f] == t0)
    assert len(at_liftoff) > 0
    final = risk.run(plan, trials.take(at_liftoff[:3]))
    for j, k in enumerate(at_liftoff[:3]):
        sc = risk.trial_scenario(plan, trials, int(k))
        res = simulate(plan, faults=sc["faults"], travel_u=sc["travel_u"])
        assert res.outcome == risk.OUTCOMES[int(semantics.outcome_codes(plan, final[:, [j]])[0])]
