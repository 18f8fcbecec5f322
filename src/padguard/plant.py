"""Plant rules: what equipment, locks and sensors do under commands and faults.

Written once, vectorised over the columns of the state array. The sequencer never reads the
rows these rules own for ground truth (POS, DEST, ARRIVE, EFAULT); it sees only SVAL/STIME.
"""

from __future__ import annotations

import numpy as np

from padguard.compile import Effect, Plan, StepKind


def _tables(plan: Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables derived from the plan, built once per plan (hot path of every engine).

    Returns (fault code -> Effect, fault code -> target, sensor -> POS row). The cache is
    keyed on the plan's own arrays, so a plan whose fault arrays are replaced is rebuilt.
    """
    c = plan.__dict__.get("_plant_tables")
    if c is None or c[0] is not plan.f_effect or c[1] is not plan.f_to:
        eff = np.concatenate([[Effect.NONE], plan.f_effect]).astype(np.int64)
        to = np.concatenate([[-1], plan.f_to]).astype(np.int64)
        c = (plan.f_effect, plan.f_to, eff, to, (plan.POS + plan.s_equip).astype(np.intp))
        plan.__dict__["_plant_tables"] = c
    return c[2], c[3], c[4]


def fault_effect(plan: Plan, codes: np.ndarray) -> np.ndarray:
    """Map EFAULT/SFAULT codes (0 = healthy, else fault index + 1) to Effect codes."""
    return _tables(plan)[0][codes]


def fault_target(plan: Plan, codes: np.ndarray) -> np.ndarray:
    return _tables(plan)[1][codes]


def arrivals(plan: Plan, S: np.ndarray) -> np.ndarray:
    """Finish travel that is due. Returns (E, N) bool: which equipment arrived now."""
    T = S[plan.T]
    A = S[plan.ARRIVE:plan.ARRIVE + plan.E]
    out = np.zeros(A.shape, dtype=bool)
    if not A.size:
        return out
    # Only equipment travelling in some column (ARRIVE >= 0 somewhere) can arrive.
    for e in np.flatnonzero(A.max(axis=1) >= 0):
        arr = S[plan.ARRIVE + e]
        due = (arr >= 0) & (arr <= T)
        if not due.any():
            continue
        out[e] = due
        code = S[plan.EFAULT + e]
        wrong = fault_effect(plan, code) == Effect.WRONG_POSITION
        S[plan.POS + e] = np.where(due, np.where(wrong, fault_target(plan, code), S[plan.DEST + e]),
                                   S[plan.POS + e])
        S[plan.ARRIVE + e] = np.where(due, -1, arr)
    return out


def sense(plan: Plan, S: np.ndarray) -> None:
    """Sensors sample the truth, as their faults allow, at the current time."""
    nS = plan.S
    if not nS:
        return
    T = S[plan.T]
    eff_table, _, truth_rows = _tables(plan)
    truth = S[truth_rows]  # (nS, N): each sensor's observed equipment position
    codes = S[plan.SFAULT:plan.SFAULT + nS]
    if not codes.any():  # no sensor faulty anywhere: every sensor samples the truth now
        S[plan.SVAL:plan.SVAL + nS] = truth
        S[plan.STIME:plan.STIME + nS] = T
        return
    eff = eff_table[codes]
    val = S[plan.SVAL:plan.SVAL + nS]
    S[plan.SVAL:plan.SVAL + nS] = np.where(eff == Effect.NONE, truth,
                                           np.where(eff == Effect.READS_WRONG,
                                                    S[plan.SWRONG:plan.SWRONG + nS], val))
    stime = S[plan.STIME:plan.STIME + nS]
    S[plan.STIME:plan.STIME + nS] = np.where(eff == Effect.DROPOUT, stime, T)


def travel_time(plan: Plan, e: int, frm: np.ndarray, to: int, u: np.ndarray) -> np.ndarray:
    """Travel time (ms) from ``frm`` to ``to``: min + a whole number of resolution steps, or max.

    ``u`` in [0, 1) picks the point in the declared [min, max] range: sampled by the simulator
    and the risk engine, enumerated by the verifier (see :func:`travel_choices`). Both ends are
    always reachable: when the range is not a multiple of the resolution, the last choice is the
    declared maximum itself (a coarse resolution must not drop the slowest travel).
    """
    # Every code from the equipment's own in-transit code up reads its own "from in transit"
    # row (row len(positions) of its table; rows past it are padding for longer items).
    frm = np.minimum(frm, plan.transit[e])
    lo = plan.tmin[e, frm, to]
    hi = plan.tmax[e, frm, to]
    span = -((lo - hi) // plan.res)  # ceil((hi - lo) / res): choices lo, lo + res, ..., hi
    return np.minimum(lo + np.floor(u * (span + 1)).astype(np.int64) * plan.res, hi)


def travel_choices(plan: Plan, e: int, frm: int, to: int) -> np.ndarray:
    """The u values that hit each distinct travel time once (for exhaustive exploration)."""
    frm = min(frm, int(plan.transit[e]))
    span = -int((plan.tmin[e, frm, to] - plan.tmax[e, frm, to]) // plan.res)
    return (np.arange(span + 1) + 0.5) / (span + 1)


def command(plan: Plan, S: np.ndarray, issued: np.ndarray, tr_u: np.ndarray | None) -> np.ndarray:
    """Carry out the steps the sequencer issued now. Returns (nsteps, N) bool: ignored moves."""
    T = S[plan.T]
    ignored = np.zeros_like(issued)
    for j in np.flatnonzero(issued.any(axis=1)):
        m = issued[j]
        kind = plan.step_kind[j]
        tgt = int(plan.step_target[j])
        if kind == StepKind.MOVE:
            to = int(plan.step_to[j])
            pos, dest, arr = S[plan.POS + tgt], S[plan.DEST + tgt], S[plan.ARRIVE + tgt]
            eff = fault_effect(plan, S[plan.EFAULT + tgt])
            jam = eff == Effect.JAM
            if len(plan.host) and plan.host[tgt] >= 0:
                # a lock acts on its host: it cannot move unless the host is in place
                h = int(plan.host[tgt])
                jam = jam | ~plan.host_ok[tgt][np.minimum(S[plan.POS + h], plan.host_ok.shape[1] - 1)] \
                    | (S[plan.ARRIVE + h] >= 0)
            already = ((pos == to) & (arr < 0)) | ((dest == to) & (arr >= 0))
            go = m & ~jam & ~already
            ignored[j] = m & jam & ~already
            if go.any():
                u = tr_u[j] if tr_u is not None else np.full(S.shape[1], 0.5)
                dt = travel_time(plan, tgt, pos, to, u)
                slow = eff == Effect.SLOW
                if slow.any():  # the declared maximum plus the fault's delay
                    frm = np.minimum(pos, plan.transit[tgt])
                    delay = np.concatenate([[0], plan.f_delay])[S[plan.EFAULT + tgt]]
                    dt = np.where(slow, plan.tmax[tgt, frm, to] + delay, dt)
                S[plan.DEST + tgt] = np.where(go, to, dest)
                S[plan.ARRIVE + tgt] = np.where(go, T + dt, arr)
                S[plan.POS + tgt] = np.where(go, plan.transit[tgt], pos)
        elif kind in (StepKind.EVACUATE, StepKind.OCCUPY):
            S[plan.OCC + tgt] = np.where(m, 1 if kind == StepKind.OCCUPY else 0, S[plan.OCC + tgt])
    return ignored


def personnel(plan: Plan, S: np.ndarray) -> None:
    """Flag equipment moving while people are in its hazard zone (sticky bitmask PHAZ)."""
    if not plan.zones:
        return
    if not (S[plan.OCC:plan.OCC + len(plan.zones)] > 0).any():
        return  # nobody anywhere: nothing to flag
    moving = S[plan.ARRIVE:plan.ARRIVE + plan.E] >= 0  # (E, N)
    if not moving.any():
        return
    for z in range(len(plan.zones)):
        occ = S[plan.OCC + z] > 0
        hit = occ & moving[plan.zone_equip[z]].any(axis=0)
        S[plan.PHAZ] |= np.where(hit, 1 << z, 0)


def ignition_hazards(plan: Plan, S: np.ndarray, ignited: np.ndarray) -> None:
    """At ignition, record which plume-zone rules the true state violates (HAZ bitmask)."""
    if not ignited.any():
        return
    haz = np.zeros(S.shape[1], dtype=np.int64)
    for r in range(len(plan.plume)):
        e = int(plan.rule_equip[r])
        pos = S[plan.POS + e]
        safe = plan.rule_safe[r][np.minimum(pos, plan.rule_safe.shape[1] - 1)] & (pos < plan.transit[e])
        haz |= np.where(~safe, 1 << r, 0)
    S[plan.HAZ] = np.where(ignited, haz, S[plan.HAZ])


def inject(plan: Plan, S: np.ndarray, fault: int, mask: np.ndarray | None = None,
           value: int | None = None) -> None:
    """Make fault ``fault`` active now in the columns selected by ``mask``.

    A common-cause fault fails every member of its group at this same instant, each as the
    fault's effect says; the fault code (``fault + 1``) marks each member, so the fault is one
    event (see :func:`active_faults`). For a sensor that reads wrong, ``value`` is the code it
    reports; by default the fault's declared value, else the first value that differs from the
    truth.
    """
    N = S.shape[1]
    m = np.ones(N, dtype=bool) if mask is None else mask
    eff = int(plan.f_effect[fault])
    code = fault + 1
    for comp in (int(c) for c in plan.members(fault)):
        if plan.f_kind[fault] == 0:
            S[plan.EFAULT + comp] = np.where(m, code, S[plan.EFAULT + comp])
            if eff == Effect.JAM:
                moving = m & (S[plan.ARRIVE + comp] >= 0)
                S[plan.ARRIVE + comp] = np.where(moving, -1, S[plan.ARRIVE + comp])
                S[plan.POS + comp] = np.where(moving, plan.transit[comp], S[plan.POS + comp])
            elif eff == Effect.SPONTANEOUS:
                S[plan.POS + comp] = np.where(m, plan.f_to[fault], S[plan.POS + comp])
                S[plan.ARRIVE + comp] = np.where(m, -1, S[plan.ARRIVE + comp])
                S[plan.DEST + comp] = np.where(m, plan.f_to[fault], S[plan.DEST + comp])
        else:
            # A healthy sensor has sampled continuously up to this instant: its last good sample
            # (the value a stuck sensor freezes at, the last one before a dropout) is taken now.
            healthy = m & (S[plan.SFAULT + comp] == 0)
            e = int(plan.s_equip[comp])
            S[plan.SVAL + comp] = np.where(healthy, S[plan.POS + e], S[plan.SVAL + comp])
            S[plan.STIME + comp] = np.where(healthy, S[plan.T], S[plan.STIME + comp])
            S[plan.SFAULT + comp] = np.where(m, code, S[plan.SFAULT + comp])
            if eff == Effect.READS_WRONG:
                v = int(plan.f_to[fault]) if value is None else value
                if v < 0:
                    dom = int(plan.transit[e]) + 1
                    wrong = (S[plan.POS + e] + 1) % dom
                else:
                    wrong = np.full(N, v)
                S[plan.SWRONG + comp] = np.where(m, wrong, S[plan.SWRONG + comp])


def clear(plan: Plan, S: np.ndarray, fault: int, mask: np.ndarray | None = None) -> None:
    """Repair a fault: the components behave normally again (they do not move by themselves)."""
    N = S.shape[1]
    m = np.ones(N, dtype=bool) if mask is None else mask
    base = plan.EFAULT if plan.f_kind[fault] == 0 else plan.SFAULT
    for comp in plan.members(fault):
        row = base + int(comp)
        S[row] = np.where(m & (S[row] == fault + 1), 0, S[row])


def active_faults(plan: Plan, S: np.ndarray) -> np.ndarray:
    """How many distinct fault events are active per column: a common-cause fault marking
    several members counts once (the fault budget of ``verify`` counts these)."""
    rows = []
    if plan.E:
        rows.append(S[plan.EFAULT:plan.EFAULT + plan.E])
    if plan.S:
        rows.append(S[plan.SFAULT:plan.SFAULT + plan.S])
    if not rows:
        return np.zeros(S.shape[1], dtype=np.int64)
    codes = np.concatenate(rows)
    n = (codes != 0).sum(axis=0)
    for f in range(len(plan.faults)):
        if plan.is_common_cause(f):  # each extra member of an active common-cause event is not another fault
            n -= ((codes == f + 1).sum(axis=0) - 1).clip(min=0)
    return n
