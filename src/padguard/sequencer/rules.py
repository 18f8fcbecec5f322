"""Sequencer rules: from sensed values (never ground truth) to countdown decisions.

Vectorised over the columns of the state array, written once. The live sequencer, the
simulator, the verifier and the risk engine all call :func:`decide`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from padguard.compile import NO_REASON, OPERATOR_REASON, CompiledExpr, CompiledTerm, Plan, Tri
from padguard.sequencer.table import NEXT, Mode, Trigger


def fresh(plan: Plan, S: np.ndarray, s: int) -> np.ndarray:
    """A sample is fresh if it is valid and no older than the sensor's staleness limit."""
    val = S[plan.SVAL + s]
    age = S[plan.T] - S[plan.STIME + s]
    dom = plan.transit[plan.s_equip[s]] + 1
    return (age <= plan.s_limit[s]) & (age >= 0) & (val >= 0) & (val < dom)


def eval_term(plan: Plan, S: np.ndarray, t: CompiledTerm) -> np.ndarray:
    """k-of-n vote over fresh members: OK if k say yes, VIOLATED if k say no, else UNKNOWN."""
    n_in = np.zeros(S.shape[1], dtype=np.int64)
    n_out = np.zeros(S.shape[1], dtype=np.int64)
    for s in t.sensors:
        f = fresh(plan, S, int(s))
        val = np.clip(S[plan.SVAL + s], 0, len(t.lut) - 1)
        yes = t.lut[val]
        n_in += f & yes
        n_out += f & ~yes
    return np.where(n_in >= t.k, Tri.OK, np.where(n_out >= t.k, Tri.VIOLATED, Tri.UNKNOWN))


def eval_expr(plan: Plan, S: np.ndarray, e: CompiledExpr) -> np.ndarray:
    vals = [eval_expr(plan, S, i) if isinstance(i, CompiledExpr) else eval_term(plan, S, i)
            for i in e.items]
    stack = np.stack(vals)
    return stack.min(axis=0) if e.op == "all" else stack.max(axis=0)


def evaluate(plan: Plan, S: np.ndarray) -> np.ndarray:
    """Raw tri-state of every criterion, (C, N)."""
    if not plan.C:
        return np.zeros((0, S.shape[1]), dtype=np.int64)
    return np.stack([eval_expr(plan, S, e) for e in plan.c_expr])


@dataclass
class Decision:
    """What the sequencer decided at one instant, per column."""

    trigger: np.ndarray  # (N,) Trigger code applied, -1 none
    refused: np.ndarray  # (N,) operator command refused (forbidden edge or criteria not OK)
    issued: np.ndarray  # (nsteps, N) steps issued now
    ignited: np.ndarray  # (N,) ignition commanded now
    blocking: np.ndarray  # (C, N) applicable and not OK


def decide(plan: Plan, S: np.ndarray, op: np.ndarray | None = None,
           oparg: np.ndarray | None = None) -> Decision:
    """One sequencer evaluation at the current time, updating the sequencer rows of ``S``.

    ``op`` carries operator commands as Trigger codes (OPERATOR_HOLD, RESUME, RECYCLE,
    OPERATOR_SCRUB, OPERATOR_ABORT), -1 for none; ``oparg`` the recycle point for RECYCLE.
    """
    N = S.shape[1]
    T, TC, mode = S[plan.T], S[plan.TC], S[plan.MODE]
    C = plan.C
    # ---- criteria, debounced: OK only after it has been OK continuously for its debounce
    raw = evaluate(plan, S)
    if C:
        oks = S[plan.OKS:plan.OKS + C]
        rawok = raw == Tri.OK
        oks[:] = np.where(rawok, np.where(oks == -1, T, oks), -1)
        eff = np.where(rawok & (T - oks < plan.c_deb[:, None]), Tri.UNKNOWN, raw)
        S[plan.CST:plan.CST + C] = eff
        applies = (plan.c_from[:, None] <= TC) & (TC <= plan.c_until[:, None])
        blocking = applies & (eff != Tri.OK)
        anyblock = blocking.any(axis=0)
        first = np.argmax(blocking, axis=0)
    else:
        blocking = np.zeros((0, N), dtype=bool)
        anyblock = np.zeros(N, dtype=bool)
        first = np.zeros(N, dtype=np.int64)

    running = (mode == Mode.COUNTING) | (mode == Mode.TERMINAL)
    holding = mode == Mode.HOLDING
    reason = S[plan.REASON]
    hold_expired = S[plan.HOLD_UNTIL] <= T
    resumable = holding & ~anyblock & hold_expired
    nextb = S[plan.NEXTB]
    at_builtin = (mode == Mode.COUNTING) & (TC >= plan.h_at[nextb])

    trig = np.full(N, -1, dtype=np.int64)
    refused = np.zeros(N, dtype=bool)
    if op is not None:
        opm = op >= 0
        ok_edge = opm & (NEXT[mode, np.maximum(op, 0)] >= 0)
        # Never resume into a violated, unknown or still-running built-in hold.
        bad_resume = (op == Trigger.RESUME) & ~resumable
        bad_recycle = (op == Trigger.RECYCLE) & ((oparg is None) | (len(plan.r_at) == 0))
        accept = ok_edge & ~bad_resume & ~bad_recycle
        refused = opm & ~accept
        trig = np.where(accept, op, trig)
    rec_to = (np.full(N, plan.auto_recycle_to) if oparg is None else
              np.where(trig == Trigger.RECYCLE, oparg, plan.auto_recycle_to))

    free = trig < 0
    window = holding & (T + (plan.ign - TC) > plan.window_close)
    trig = np.where(free & window, Trigger.WINDOW_CLOSED, trig)
    free = trig < 0
    run_trig = np.where(anyblock, Trigger.AUTO_HOLD,
                        np.where(at_builtin, Trigger.BUILTIN_HOLD,
                                 np.where(TC >= plan.ign, Trigger.IGNITION,
                                          np.where((mode == Mode.COUNTING) & (TC >= plan.pnr),
                                                   Trigger.PNR, -1))))
    trig = np.where(free & running, run_trig, trig)
    free = trig < 0
    if plan.auto_recycle_after >= 0:
        recycle_due = (holding & (reason != OPERATOR_REASON)
                       & (T - S[plan.HOLD_START] >= plan.auto_recycle_after)
                       & (S[plan.NREC] < plan.auto_max_recycles) & hold_expired)
        trig = np.where(free & recycle_due, Trigger.RECYCLE, trig)
        free = trig < 0
    if plan.auto_resume:
        trig = np.where(free & resumable & (reason != OPERATOR_REASON), Trigger.RESUME, trig)

    # ---- apply through the transition table
    has = trig >= 0
    new = np.where(has, NEXT[mode, np.maximum(trig, 0)], -1)
    did = has & (new >= 0)
    new_mode = np.where(did, new, mode)
    enter_hold = did & (new_mode == Mode.HOLDING)
    leave_hold = did & holding & (new_mode != Mode.HOLDING)
    # Hold time and hold count measure UNPLANNED holding: a built-in hold's clock of
    # unplanned time starts only when its planned duration runs out.
    builtin = did & (trig == Trigger.BUILTIN_HOLD)
    hb = np.minimum(nextb, len(plan.h_dur) - 1)
    S[plan.HOLDTIME] += np.where(leave_hold, np.maximum(T - S[plan.HOLD_START], 0), 0)
    S[plan.HOLD_START] = np.where(enter_hold, np.where(builtin, T + plan.h_dur[hb], T),
                                  S[plan.HOLD_START])
    S[plan.NHOLDS] += enter_hold & ~builtin
    S[plan.HOLD_UNTIL] = np.where(builtin, T + plan.h_dur[hb],
                                  np.where(leave_hold, -1, S[plan.HOLD_UNTIL]))
    S[plan.NEXTB] = np.where(builtin, nextb + 1, nextb)
    new_reason = np.where(trig == Trigger.OPERATOR_HOLD, OPERATOR_REASON,
                          np.where(trig == Trigger.BUILTIN_HOLD, C + nextb, first))
    S[plan.REASON] = np.where(enter_hold | (did & (new_mode == Mode.ABORTED) & (trig == Trigger.AUTO_HOLD)),
                              new_reason,
                              np.where(did & ((trig == Trigger.RESUME) | (trig == Trigger.RECYCLE)),
                                       NO_REASON, reason))
    # A built-in hold that ran out while a criterion is not OK becomes a hold for that criterion.
    still = holding & ~did & hold_expired & anyblock & (reason >= C)
    S[plan.REASON] = np.where(still, first, S[plan.REASON])
    S[plan.NHOLDS] += still
    rec = did & (trig == Trigger.RECYCLE)
    if rec.any():
        ri = np.clip(rec_to, 0, max(len(plan.r_at) - 1, 0))
        S[plan.TC] = np.where(rec, plan.r_at[ri], TC)
        S[plan.STEP] = np.where(rec, plan.r_step[ri], S[plan.STEP])
        S[plan.NEXTB] = np.where(rec, plan.r_hold[ri], S[plan.NEXTB])
        S[plan.NREC] += rec
    ignited = did & (trig == Trigger.IGNITION)
    S[plan.IGN_T] = np.where(ignited, T, S[plan.IGN_T])
    S[plan.MODE] = new_mode

    # ---- issue due steps while the clock runs
    nsteps = len(plan.step_at)
    issued = np.zeros((nsteps, N), dtype=bool)
    run_now = (new_mode == Mode.COUNTING) | (new_mode == Mode.TERMINAL)
    if nsteps and run_now.any():
        tc = S[plan.TC]
        step = S[plan.STEP]
        for j in range(nsteps):
            due = run_now & (step == j) & (tc >= plan.step_at[j])
            if due.any():
                issued[j] = due
                step = step + due
        S[plan.STEP] = step
    return Decision(np.where(did, trig, -1), refused, issued, ignited, blocking)
