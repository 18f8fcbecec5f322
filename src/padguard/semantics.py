"""The one semantics: how a Plan's state advances. Every engine runs these functions.

An instant is settled by :func:`settle` (plant reacts, sensors sample, the sequencer decides,
the plant carries out commands), twice so that a decision sees the plant's immediate reaction.
Between instants nothing changes except the clock, so engines jump straight to
:func:`next_event` (discrete-event time, exact to the millisecond).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from padguard import plant
from padguard.compile import NEVER, NO_REASON, Effect, Plan, StepKind
from padguard.sequencer import rules
from padguard.sequencer.table import Mode, Trigger

PASSES = 2

# Plain ints for the hot path (IntEnum attribute access is slow; the values are the same).
_COUNTING, _HOLDING, _TERMINAL = int(Mode.COUNTING), int(Mode.HOLDING), int(Mode.TERMINAL)
_LAUNCHED, _SCRUBBED, _ABORTED = int(Mode.LAUNCHED), int(Mode.SCRUBBED), int(Mode.ABORTED)
_SAFING, _FLIGHT = int(Mode.SAFING), int(Mode.FLIGHT)


def initial_state(plan: Plan, n: int = 1) -> np.ndarray:
    """The state at count start (T = 0 wall, TC = procedure start), for ``n`` countdowns."""
    S = np.zeros((plan.layout.size, n), dtype=np.int64)
    S[plan.TC] = plan.start
    S[plan.MODE] = Mode.COUNTING
    S[plan.REASON] = NO_REASON
    S[plan.HOLD_UNTIL] = -1
    S[plan.IGN_T] = -1
    S[plan.SEQ_T] = -1
    S[plan.SSTEP] = len(plan.step_at)  # no safing sequence running
    S[plan.POS:plan.POS + plan.E] = plan.initial[:, None]
    S[plan.DEST:plan.DEST + plan.E] = plan.initial[:, None]
    S[plan.ARRIVE:plan.ARRIVE + plan.E] = -1
    if plan.zones:
        S[plan.OCC:plan.OCC + len(plan.zones)] = plan.zone_init[:, None]
    plant.sense(plan, S)
    if plan.C:
        # Criteria that already read OK at count start count as settled (no spurious debounce).
        raw = rules.evaluate(plan, S)
        S[plan.OKS:plan.OKS + plan.C] = np.where(raw == 2, -NEVER, -1)
        S[plan.CST:plan.CST + plan.C] = raw
    return S


@dataclass
class Happenings:
    """What happened during one settled instant (for narration and properties)."""

    triggers: list[np.ndarray]  # per pass, (N,) Trigger code or -1
    refused: np.ndarray
    issued: np.ndarray  # (nsteps, N)
    ignored: np.ndarray  # (nsteps, N) move commands ignored by jammed equipment
    arrived: np.ndarray  # (E, N)
    ignited: np.ndarray  # (N,)


def settle(plan: Plan, S: np.ndarray, op: np.ndarray | None = None,
           oparg: np.ndarray | None = None, tr_u: np.ndarray | None = None) -> Happenings:
    """Process everything that happens at the current time ``S[T]``.

    A later pass exists so that a decision sees the plant's immediate reaction. When a pass
    changed nothing that reaction could come from (no transition, no command other than a
    milestone, in any column), the next pass would see the same sensed values and decide the
    same nothing, so it is skipped (its trigger row reads -1, as it would); so is the closing
    sensor sample, which would read what the last pass already read.
    """
    N = S.shape[1]
    nsteps = len(plan.step_at)
    issued = np.zeros((nsteps, N), dtype=bool)
    ignored = np.zeros((nsteps, N), dtype=bool)
    arrived = np.zeros((plan.E, N), dtype=bool)
    ignited = np.zeros(N, dtype=bool)
    trigs = []
    refused = np.zeros(N, dtype=bool)
    acting = plan.step_kind != StepKind.MILESTONE
    quiet = False
    for p in range(PASSES):
        if quiet:
            trigs.append(np.full(N, -1, dtype=np.int64))
            continue
        arrived |= plant.arrivals(plan, S)
        plant.sense(plan, S)
        d = rules.decide(plan, S, op if p == 0 else None, oparg if p == 0 else None)
        trigs.append(d.trigger)
        if p == 0:
            refused = d.refused
        ignored |= plant.command(plan, S, d.issued, tr_u)
        issued |= d.issued
        plant.ignition_hazards(plan, S, d.ignited)
        ignited |= d.ignited
        plant.personnel(plan, S)
        quiet = not (d.trigger >= 0).any() and not d.issued[acting].any()
    if not quiet:  # a quiet last pass moved nothing: its sensors already read the final truth
        plant.sense(plan, S)
    return Happenings(trigs, refused, issued, ignored, arrived, ignited)


def _count_marks(plan: Plan) -> np.ndarray:
    """Sorted count times at which a running count always has an event (T-0, criteria
    windows opening and closing), with a NEVER sentinel; cached per plan."""
    c = plan.__dict__.get("_semantics_marks")
    if c is None or c[0] is not plan.c_from or c[1] is not plan.c_until:
        marks = np.unique(np.concatenate([[plan.ign], plan.c_from, plan.c_until + 1]).astype(np.int64))
        c = (plan.c_from, plan.c_until, np.concatenate([marks, [NEVER]]))
        plan.__dict__["_semantics_marks"] = c
    return c[2]


def next_event(plan: Plan, S: np.ndarray) -> np.ndarray:
    """The earliest future wall time at which anything can change, per column (NEVER if final)."""
    T, TC, mode = S[plan.T], S[plan.TC], S[plan.MODE]
    running = (mode == _COUNTING) | (mode == _TERMINAL)
    holding = mode == _HOLDING
    counting = mode == _COUNTING
    nxt = np.full(S.shape[1], NEVER, dtype=np.int64)

    def at_count(tc_target: np.ndarray | int, when: np.ndarray) -> None:
        # The wall time at which the count clock reaches ``tc_target`` if it runs from now.
        t = T + (tc_target - TC)
        np.minimum(nxt, np.where(when & (t > T), t, NEVER), out=nxt)

    nsteps = plan.n_count
    if nsteps:
        st = S[plan.STEP]
        at = rules._steps_in_order(plan)[1][np.minimum(st, nsteps)]
        at_count(at, ((running | (mode == _FLIGHT)) if plan.has_flight else running) & (st < nsteps))
    ntot = len(plan.step_at)
    if plan.has_safing or plan.cut0 < ntot:  # the next safing step, on its sequence's clock
        sst = S[plan.SSTEP]
        cutting = (sst >= plan.cut0) & (mode != _SAFING) & (mode != _LAUNCHED) & (mode != _ABORTED) \
            & (mode != _SCRUBBED)
        saf = (((mode == _SAFING) & (sst < plan.cut0)) | cutting) & (sst < ntot)
        t_saf = S[plan.SEQ_T] + np.concatenate([plan.step_at, [0]])[np.minimum(sst, ntot)]
        np.minimum(nxt, np.where(saf & (t_saf > T), t_saf, NEVER), out=nxt)
    # T-0 and the criteria windows: the first such mark strictly after the count clock.
    marks = _count_marks(plan)
    mark = marks[np.searchsorted(marks, TC, side="right")]
    at_count(mark, running & (mark < NEVER))
    at_count(plan.pnr, running & counting)
    if len(plan.holds):
        at_count(plan.h_at[S[plan.NEXTB]], counting & (plan.h_at[S[plan.NEXTB]] < NEVER))
    if plan.E and S.shape[1]:
        arr = S[plan.ARRIVE:plan.ARRIVE + plan.E]
        # rows whose every arrival is at or before the earliest clock cannot contribute
        moving = np.flatnonzero(arr.max(axis=1) > T.min())
        if len(moving):
            arr = arr[moving]
            np.minimum(nxt, np.where(arr > T, arr, NEVER).min(axis=0), out=nxt)
    # Healthy, stuck and wrong-reading sensors keep sampling, so only a sensor that has
    # dropped out can go stale between events.
    if plan.S:
        codes = S[plan.SFAULT:plan.SFAULT + plan.S]
        if codes.any():
            dropped = plant.fault_effect(plan, codes) == Effect.DROPOUT
            if dropped.any():
                stale_at = S[plan.STIME:plan.STIME + plan.S] + plan.s_limit[:, None] + 1
                np.minimum(nxt, np.where(dropped & (stale_at > T), stale_at, NEVER).min(axis=0),
                           out=nxt)
    if plan.C:
        oks = S[plan.OKS:plan.OKS + plan.C]
        settle_at = oks + plan.c_deb[:, None]
        np.minimum(nxt, np.where((oks >= 0) & (settle_at > T), settle_at, NEVER).min(axis=0), out=nxt)
    if holding.any():
        hu = S[plan.HOLD_UNTIL]
        np.minimum(nxt, np.where(holding & (hu > T), hu, NEVER), out=nxt)
        scrub_at = plan.window_close - (plan.ign - TC) + 1
        np.minimum(nxt, np.where(holding & (scrub_at > T), scrub_at, NEVER), out=nxt)
        if plan.auto_recycle_after >= 0:
            rd = S[plan.HOLD_START] + plan.auto_recycle_after
            np.minimum(nxt, np.where(holding & (rd > T) & (S[plan.NREC] < plan.auto_max_recycles),
                                     rd, NEVER), out=nxt)
    final = (mode == _LAUNCHED) | (mode == _SCRUBBED) | (mode == _ABORTED)
    return np.where(final, NEVER, nxt)


def advance_to(plan: Plan, S: np.ndarray, t_next: np.ndarray) -> None:
    """Move the clocks to ``t_next`` (no events in between; final columns are left alone)."""
    mode = S[plan.MODE]
    final = (mode == Mode.LAUNCHED) | (mode == Mode.SCRUBBED) | (mode == Mode.ABORTED)
    t_next = np.where(final | (t_next >= NEVER), S[plan.T], t_next)
    dt = t_next - S[plan.T]
    running = (mode == Mode.COUNTING) | (mode == Mode.TERMINAL)
    if plan.has_flight:  # after liftoff the count clock runs on (steps after T-0)
        running |= mode == Mode.FLIGHT
    S[plan.TC] += np.where(running, dt, 0)
    S[plan.T] = t_next


def canonicalise(plan: Plan, S: np.ndarray, statistics: bool = False) -> None:
    """Normalise, in place, fields whose exact value can no longer influence the future.

    Two states equal after this behave the same from now on under every rule of this module
    (the verifier and the risk engine's fault-free graph deduplicate states on it):

    * a criterion that has been OK for its whole debounce is "settled" (as at count start);
    * a dropped-out sensor that is already stale stays stale (faults are never repaired);
    * hold start only matters while holding, destination only while moving.

    With ``statistics`` also the hold count and hold time are cleared: they never influence the
    future, but the risk engine reports them (the verifier does not).
    """
    T = S[plan.T]
    if plan.C:
        oks = S[plan.OKS:plan.OKS + plan.C]
        settled = (oks >= 0) & (T[None, :] - oks >= plan.c_deb[:, None])
        oks[settled] = -NEVER
    if plan.S:
        drop = plant.fault_effect(plan, S[plan.SFAULT:plan.SFAULT + plan.S]) == Effect.DROPOUT
        st = S[plan.STIME:plan.STIME + plan.S]
        stale = drop & (T[None, :] - st > plan.s_limit[:, None])
        st[stale] = -NEVER
    S[plan.HOLD_START] = np.where(S[plan.MODE] == _HOLDING, S[plan.HOLD_START], 0)
    if plan.E:
        arr = S[plan.ARRIVE:plan.ARRIVE + plan.E]
        dest = S[plan.DEST:plan.DEST + plan.E]
        dest[arr < 0] = 0
    if statistics:
        S[plan.NHOLDS] = 0
        S[plan.HOLDTIME] = 0


# ---- outcomes, derived from final state

OUTCOMES = ("launched_on_time", "launched_after_holds", "pad_damaged", "scrubbed", "aborted",
            "unfinished")


def outcome_codes(plan: Plan, S: np.ndarray) -> np.ndarray:
    """Outcome index into :data:`OUTCOMES` for each column."""
    mode = S[plan.MODE]
    launched = mode == Mode.LAUNCHED
    late = (S[plan.NHOLDS] > 0) | (S[plan.NREC] > 0)
    return np.select(
        [launched & (S[plan.HAZ] != 0), launched & ~late, launched, mode == Mode.SCRUBBED,
         mode == Mode.ABORTED],
        [2, 0, 1, 3, 4], default=5)


__all__ = ["Trigger", "advance_to", "canonicalise", "initial_state", "next_event", "outcome_codes", "settle"]
