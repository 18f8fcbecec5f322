"""The sequencer: every allowed and forbidden edge of the transition table, voting, staleness,
debounce, and the rule that it only ignites when every applicable criterion is OK."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from padguard import semantics
from padguard.compile import OPERATOR_REASON, Tri
from padguard.sequencer import rules
from padguard.sequencer.table import NEXT, TRANSITIONS, Mode, Trigger, table_markdown

OPERATOR = {Trigger.OPERATOR_HOLD, Trigger.RESUME, Trigger.RECYCLE, Trigger.OPERATOR_SCRUB,
            Trigger.OPERATOR_ABORT}
S_ = 1000


def state(plan, mode: Mode, tc_s: int, t_s: int = 100, ok: bool = True, nextb: int = 1,
          reason: int = 0):
    """A one-column state in ``mode`` with the tiny model's criterion OK or violated."""
    S = semantics.initial_state(plan, 1)
    S[plan.T] = t_s * S_
    S[plan.TC] = tc_s * S_
    S[plan.MODE] = mode
    S[plan.NEXTB] = nextb
    S[plan.REASON] = reason if mode == Mode.HOLDING else -1
    S[plan.HOLD_START] = t_s * S_
    arm, la, lb = (plan.sensor_index(n) for n in ("arm_pos", "latch_a", "latch_b"))
    S[plan.SVAL + arm] = 1 if ok else 0  # retracted / extended
    S[plan.SVAL + la] = 1
    S[plan.SVAL + lb] = 1
    S[plan.STIME:plan.STIME + plan.S] = t_s * S_
    S[plan.OKS:plan.OKS + plan.C] = -1
    return S


def provoke(plan, mode: Mode, trig: Trigger):
    """Set up the condition for ``trig`` in ``mode`` and let the sequencer decide once."""
    op = None
    if trig == Trigger.AUTO_HOLD:
        S = state(plan, mode, -30 if mode != Mode.TERMINAL else -5, ok=False)
    elif trig == Trigger.BUILTIN_HOLD:
        S = state(plan, mode, -50, nextb=0)
    elif trig == Trigger.PNR:
        S = state(plan, mode, -10)
    elif trig == Trigger.IGNITION:
        S = state(plan, mode, 0)
    elif trig == Trigger.CUTOFF:
        plan.c_recycle = np.array([0])  # the tiny criterion as a cutoff back to 'retract' (T-100s)
        S = state(plan, mode, -30 if mode != Mode.TERMINAL else -5, ok=False)
    elif trig == Trigger.SEQUENCE_DONE:
        # the tiny count as if it had a safing sequence and steps after T-0, all issued
        S = state(plan, mode, -30 if mode != Mode.TERMINAL else -5)
        S[plan.STEP] = plan.n_count
        S[plan.SSTEP] = len(plan.step_at)
        plan.has_safing = plan.has_flight = True
        try:
            d = rules.decide(plan, S)
        finally:
            plan.has_safing = plan.has_flight = False
        return S, d, False
    elif trig == Trigger.WINDOW_CLOSED:
        S = state(plan, mode, -30, t_s=10_000)
    elif trig == Trigger.RESUME and mode != Mode.TERMINAL:
        S = state(plan, mode, -30)
        op = Trigger.RESUME
    else:
        S = state(plan, mode, -30 if mode != Mode.TERMINAL else -5)
        op = trig if trig in OPERATOR else None
    opa = np.array([op]) if op is not None else None
    d = rules.decide(plan, S, opa, np.array([0]) if op is not None else None)
    return S, d, op is not None


# What the sequencer must do, written out by hand from the founders' brief and docs/architecture.md,
# NOT read from TRANSITIONS (the table the sequencer itself uses): a wrong edge in that table must
# make this test fail. None = forbidden: the state does not change by this trigger.
C, H, TM, L, SC, A = Mode.COUNTING, Mode.HOLDING, Mode.TERMINAL, Mode.LAUNCHED, Mode.SCRUBBED, Mode.ABORTED
SF, FL = Mode.SAFING, Mode.FLIGHT
T = Trigger
EXPECTED: dict[Mode, dict[Trigger, Mode | None]] = {
    C: {T.AUTO_HOLD: H, T.BUILTIN_HOLD: H, T.OPERATOR_HOLD: H, T.RESUME: None, T.RECYCLE: None,
        T.PNR: TM, T.IGNITION: L, T.WINDOW_CLOSED: SC, T.OPERATOR_SCRUB: SC, T.OPERATOR_ABORT: A,
        T.CUTOFF: C,  # a cutoff criterion not OK: stop and recycle to its point (Shuttle T-31 s..T-6.6 s)
        T.SEQUENCE_DONE: None},
    H: {T.AUTO_HOLD: None, T.BUILTIN_HOLD: None, T.OPERATOR_HOLD: None, T.RESUME: C, T.RECYCLE: C,
        T.PNR: None, T.IGNITION: None, T.WINDOW_CLOSED: SC, T.OPERATOR_SCRUB: SC, T.OPERATOR_ABORT: A,
        T.CUTOFF: None, T.SEQUENCE_DONE: None},
    # past the point of no return: no hold, no scrub, no recycle; a violation or a hold is an abort
    TM: {T.AUTO_HOLD: A, T.BUILTIN_HOLD: None, T.OPERATOR_HOLD: A, T.RESUME: None, T.RECYCLE: None,
         T.PNR: None, T.IGNITION: L, T.WINDOW_CLOSED: None, T.OPERATOR_SCRUB: None, T.OPERATOR_ABORT: A,
         T.CUTOFF: C,  # inside its cutoff window a violation recycles, it does not abort
         T.SEQUENCE_DONE: None},
    L: dict.fromkeys(Trigger),
    SC: dict.fromkeys(Trigger),
    A: dict.fromkeys(Trigger),
    # the safing sequence after an abort and the steps after liftoff: nothing stops them, no
    # operator command applies; each ends when its last command is issued and equipment rests
    SF: {**dict.fromkeys(Trigger), T.SEQUENCE_DONE: A},
    FL: {**dict.fromkeys(Trigger), T.SEQUENCE_DONE: L},
}


def test_expected_table_is_complete_and_matches_the_shipped_table():
    assert set(EXPECTED) == set(Mode) and all(set(row) == set(Trigger) for row in EXPECTED.values())
    shipped = {(m, t): to for (m, t), (to, _) in TRANSITIONS.items()}
    written = {(m, t): to for m, row in EXPECTED.items() for t, to in row.items() if to is not None}
    assert shipped == written


@pytest.mark.parametrize("mode,trig", list(itertools.product(Mode, Trigger)),
                         ids=lambda x: x.name)
def test_every_edge(tiny, mode, trig):
    S, d, by_operator = provoke(tiny, mode, trig)
    want = EXPECTED[mode][trig]
    new = Mode(int(S[tiny.MODE, 0]))
    if want is not None:
        assert int(d.trigger[0]) == trig, f"{mode.name} --{trig.name}--> should fire"
        assert new == want, f"{mode.name} --{trig.name}--> ended {new.name}, expected {want.name}"
        assert not d.refused[0]
    else:
        assert int(d.trigger[0]) != trig, f"forbidden edge {mode.name} --{trig.name}--> fired"
        if new != mode:  # only via some other edge the hand-written table allows, to its target
            other = Trigger(int(d.trigger[0]))
            assert EXPECTED[mode][other] == new, f"{mode.name} moved to {new.name} by {other.name}"
        if by_operator:
            assert d.refused[0], f"operator {trig.name} in {mode.name} must be refused with a reason"
        if mode in (L, SC, A):
            assert new == mode  # final states are final


def test_table_is_consistent():
    assert NEXT.shape == (len(Mode), len(Trigger))
    for (m, t), (to, why) in TRANSITIONS.items():
        assert NEXT[m, t] == to and why
    for m in (Mode.LAUNCHED, Mode.SCRUBBED, Mode.ABORTED):
        assert all(NEXT[m, t] == -1 for t in Trigger)
    # Nothing leaves TERMINAL except ignition, abort, or a cutoff criterion's recycle back into
    # the count: no hold, no scrub past the PNR.
    assert {TRANSITIONS[k][0] for k in TRANSITIONS if k[0] == Mode.TERMINAL} == \
        {Mode.LAUNCHED, Mode.ABORTED, Mode.COUNTING}
    assert [k[1] for k in TRANSITIONS if k[0] == Mode.TERMINAL and TRANSITIONS[k][0] == Mode.COUNTING] == \
        [Trigger.CUTOFF]
    assert "| TERMINAL | AUTO_HOLD | ABORTED |" in table_markdown()


def test_resume_refused_while_builtin_hold_runs(tiny):
    S = state(tiny, Mode.HOLDING, -50, reason=tiny.C)
    S[tiny.HOLD_UNTIL] = S[tiny.T] + 5 * S_
    d = rules.decide(tiny, S, np.array([Trigger.RESUME]), None)
    assert d.refused[0] and S[tiny.MODE, 0] == Mode.HOLDING


def test_operator_hold_needs_operator_resume(tiny):
    S = state(tiny, Mode.HOLDING, -30, reason=OPERATOR_REASON)
    d = rules.decide(tiny, S, None, None)
    assert S[tiny.MODE, 0] == Mode.HOLDING and d.trigger[0] == -1
    d = rules.decide(tiny, S, np.array([Trigger.RESUME]), None)
    assert S[tiny.MODE, 0] == Mode.COUNTING


def test_recycle_resets_clock_steps_and_builtin_holds(tiny):
    S = state(tiny, Mode.HOLDING, -30, nextb=1)
    S[tiny.STEP] = 3
    d = rules.decide(tiny, S, np.array([Trigger.RECYCLE]), np.array([0]))
    assert S[tiny.TC, 0] == -100 * S_
    assert d.issued[1, 0] and not d.issued[0, 0]  # the move-arm step at T-100s is re-issued
    assert S[tiny.STEP, 0] == 2
    assert S[tiny.NEXTB, 0] == 0 and S[tiny.NREC, 0] == 1


# ---------------------------------------------------------------- voting and staleness


def term_state(tiny, values, ages_s):
    S = semantics.initial_state(tiny, len(values))
    S[tiny.T] = 100 * S_
    la, lb = tiny.sensor_index("latch_a"), tiny.sensor_index("latch_b")
    for col, ((va, vb), (aa, ab)) in enumerate(zip(values, ages_s, strict=True)):
        S[tiny.SVAL + la, col], S[tiny.SVAL + lb, col] = va, vb
        S[tiny.STIME + la, col] = (100 - aa) * S_
        S[tiny.STIME + lb, col] = (100 - ab) * S_
    return S


def latch_term(tiny):
    return tiny.c_expr[0].items[1]  # {group: latch, is: latched}, 2-of-2


OPEN, LATCHED, MIS, TRANSIT = 0, 1, 2, 3


def test_voting_2oo2(tiny):
    cases = [  # (values, ages) -> expected
        (((LATCHED, LATCHED), (0, 0)), Tri.OK),
        (((OPEN, OPEN), (0, 0)), Tri.VIOLATED),
        (((LATCHED, OPEN), (0, 0)), Tri.UNKNOWN),  # disagreement
        (((LATCHED, LATCHED), (0, 4)), Tri.UNKNOWN),  # quorum lost: one stale
        (((LATCHED, LATCHED), (0, 3)), Tri.OK),  # exactly at the limit is still fresh
        (((MIS, TRANSIT), (0, 0)), Tri.VIOLATED),
        (((LATCHED, -1), (0, 0)), Tri.UNKNOWN),  # never sampled
        (((LATCHED, 17), (0, 0)), Tri.UNKNOWN),  # malformed code
    ]
    S = term_state(tiny, [c[0][0] for c in cases], [c[0][1] for c in cases])
    got = rules.eval_term(tiny, S, latch_term(tiny))
    assert [Tri(int(x)) for x in got] == [c[1] for c in cases]


def test_stale_sample_from_the_future_is_not_fresh(tiny):
    S = term_state(tiny, [(LATCHED, LATCHED)], [(0, -5)])  # clock jumped backwards
    assert rules.eval_term(tiny, S, latch_term(tiny))[0] == Tri.UNKNOWN


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-2, 5), st.integers(0, 6)), min_size=1, max_size=5),
       st.integers(1, 5))
def test_k_of_n_vote_property(members, k):
    """Reference definition of k-of-n over fresh members, checked against the vectorised vote."""
    from padguard.compile import CompiledTerm

    from .conftest import TINY_FAULTS, TINY_PROC  # noqa: F401  (fixtures not usable with given)

    k = min(k, len(members))
    lut = np.array([False, True, False, False])  # 'latched' accepted
    plan = _plan_with_n_latch_sensors(len(members))
    S = semantics.initial_state(plan, 1)
    S[plan.T] = 100 * S_
    for i, (val, age) in enumerate(members):
        S[plan.SVAL + i] = val
        S[plan.STIME + i] = (100 - age) * S_
    term = CompiledTerm(np.arange(len(members)), k, lut, "t")
    got = Tri(int(rules.eval_term(plan, S, term)[0]))
    fresh = [(v, a) for v, a in members if 0 <= v <= 3 and a <= 3]
    yes = sum(1 for v, _ in fresh if v == 1)
    no = len(fresh) - yes
    want = Tri.OK if yes >= k else Tri.VIOLATED if no >= k else Tri.UNKNOWN
    assert got == want


_PLANS: dict[int, object] = {}


def _plan_with_n_latch_sensors(n: int):
    if n not in _PLANS:
        import tempfile
        from pathlib import Path

        import padguard as pg

        from .conftest import TINY_SITE

        sensors = "".join(f"  - {{name: s{i}, observes: arm.latch, period: 1s, stale_after: 3}}\n"
                          for i in range(n))
        site = TINY_SITE.split("sensors:")[0] + "sensors:\n" + sensors + "plume_zone:" + TINY_SITE.split("plume_zone:")[1]
        d = Path(tempfile.mkdtemp())
        (d / "site.yaml").write_text(site)
        (d / "p.yaml").write_text("procedure: p\nsite: tiny\nstart: T-10s\n")
        (d / "faults.yaml").write_text(
            "site: tiny\nfaults:\n  - {component: arm.latch, mode: m, effect: wrong_position, to: misaligned, probability: 0.1}\n")
        _PLANS[n] = pg.compile_model(pg.load(d, "p"))
    return _PLANS[n]


# ---------------------------------------------------------------- debounce and ignition


def test_debounce_delays_ok_but_not_violation(tiny_dir):
    import padguard as pg

    proc = (tiny_dir / "guarded.yaml").read_text().replace("debounce: 0s", "debounce: 3s")
    (tiny_dir / "deb.yaml").write_text(proc.replace("procedure: guarded", "procedure: deb"))
    plan = pg.compile_model(pg.load(tiny_dir, "deb"))
    S = state(plan, Mode.COUNTING, -30, ok=False)
    rules.decide(plan, S)
    assert S[plan.MODE, 0] == Mode.HOLDING  # violation acts at once
    arm = plan.sensor_index("arm_pos")
    S[plan.SVAL + arm] = 1
    for dt, want in ((0, Mode.HOLDING), (2_999, Mode.HOLDING), (3_000, Mode.COUNTING)):
        S2 = S.copy()
        S2[plan.OKS] = S[plan.T]  # raw OK since now (as decide would record)
        S2[plan.T] += dt
        S2[plan.STIME:plan.STIME + plan.S] = S2[plan.T]
        rules.decide(plan, S2)
        assert S2[plan.MODE, 0] == want, dt


@settings(max_examples=300, deadline=None)
@given(arm=st.integers(-2, 4), la=st.integers(-2, 4), lb=st.integers(-2, 4),
       age=st.integers(0, 6), mode=st.sampled_from([Mode.COUNTING, Mode.TERMINAL]))
def test_ignites_only_when_every_applicable_criterion_is_ok(arm, la, lb, age, mode):
    plan = _tiny_plan()
    S = state(plan, mode, 0)
    a, x, y = (plan.sensor_index(n) for n in ("arm_pos", "latch_a", "latch_b"))
    S[plan.SVAL + a], S[plan.SVAL + x], S[plan.SVAL + y] = arm, la, lb
    S[plan.STIME + y] -= age * S_
    d = rules.decide(plan, S)
    all_ok = arm == 1 and la == 1 and lb == 1 and age <= 3
    assert bool(d.ignited[0]) == all_ok
    if not all_ok:
        assert S[plan.MODE, 0] in (Mode.HOLDING, Mode.ABORTED)


_TINY: list = []


def _tiny_plan():
    if not _TINY:
        import tempfile
        from pathlib import Path

        import padguard as pg

        from .conftest import TINY_FAULTS, TINY_PROC, TINY_SITE

        d = Path(tempfile.mkdtemp())
        (d / "site.yaml").write_text(TINY_SITE)
        (d / "guarded.yaml").write_text(TINY_PROC)
        (d / "faults.yaml").write_text(TINY_FAULTS)
        _TINY.append(pg.compile_model(pg.load(d, "guarded")))
    return _TINY[0]
