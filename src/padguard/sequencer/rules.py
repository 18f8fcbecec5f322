"""Sequencer rules: from sensed values (never ground truth) to countdown decisions.

Vectorised over the columns of the state array, written once. The live sequencer, the
simulator, the verifier and the risk engine all call :func:`decide`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from padguard.compile import (
    NEVER,
    NO_REASON,
    OPERATOR_REASON,
    CompiledExpr,
    CompiledTerm,
    Plan,
    StepKind,
    Tri,
)
from padguard.sequencer.table import Mode, Trigger, next_table

# Plain ints for the hot path (IntEnum attribute access is slow; the values are the same).
_VIOLATED, _UNKNOWN, _OK = int(Tri.VIOLATED), int(Tri.UNKNOWN), int(Tri.OK)
_COUNTING, _HOLDING, _TERMINAL, _ABORTED = (int(Mode.COUNTING), int(Mode.HOLDING),
                                            int(Mode.TERMINAL), int(Mode.ABORTED))
_AUTO_HOLD, _BUILTIN_HOLD, _OPERATOR_HOLD = (int(Trigger.AUTO_HOLD), int(Trigger.BUILTIN_HOLD),
                                             int(Trigger.OPERATOR_HOLD))
_RESUME, _RECYCLE, _PNR = int(Trigger.RESUME), int(Trigger.RECYCLE), int(Trigger.PNR)
_IGNITION, _WINDOW_CLOSED = int(Trigger.IGNITION), int(Trigger.WINDOW_CLOSED)
_CUTOFF = int(Trigger.CUTOFF)
_SAFING, _FLIGHT, _DONE = int(Mode.SAFING), int(Mode.FLIGHT), int(Trigger.SEQUENCE_DONE)


_VOTE_RESULT = np.array([_UNKNOWN, _VIOLATED, _OK, _OK], dtype=np.int64)


def _steps_in_order(plan: Plan) -> tuple[bool, np.ndarray]:
    """Whether step times never decrease (validated models always), and the step times with a
    NEVER sentinel appended; cached per plan."""
    c = plan.__dict__.get("_rules_sorted")
    if c is None or c[0] is not plan.step_at:
        count = plan.step_at[:plan.n_count]  # the count's steps (safing steps follow them)
        c = (plan.step_at, bool(np.all(np.diff(count) >= 0)),
             np.concatenate([count, [NEVER]]).astype(np.int64))
        plan.__dict__["_rules_sorted"] = c
    return c[1], c[2]


def fresh(plan: Plan, S: np.ndarray, s: int | np.ndarray | None = None) -> np.ndarray:
    """A sample is fresh if it is valid and no older than the sensor's staleness limit.

    ``s`` is one sensor index (result (N,)), an array of them (result (len(s), N)), or None
    for every sensor (result (S, N), rows by sensor index).
    """
    if s is None:
        val = S[plan.SVAL:plan.SVAL + plan.S]
        age = S[plan.T] - S[plan.STIME:plan.STIME + plan.S]
        s = np.arange(plan.S)
    else:
        val = S[plan.SVAL + s]
        age = S[plan.T] - S[plan.STIME + s]
    dom = (plan.transit[plan.s_equip[s]] + 1).astype(np.uint64)
    lim = plan.s_limit[s].astype(np.uint64)
    if np.ndim(s):
        dom, lim = dom[:, None], lim[:, None]
    # 0 <= age <= lim and 0 <= val < dom, as unsigned compares (a negative is huge unsigned).
    return (age.view(np.uint64) <= lim) & (val.view(np.uint64) < dom)


def _vote_table(plan: Plan, t: CompiledTerm) -> tuple[np.ndarray, bool]:
    """Per-member tri-state by code: code v < len(lut) is a fresh value (OK if accepted, else
    VIOLATED); code len(lut) means not fresh (UNKNOWN). Also whether every member's domain
    has exactly len(lut) values (then a fresh value always indexes the table). Cached."""
    c = t.__dict__.get("_vote_table")
    if c is None or c[0] is not t.lut or c[1] is not plan.transit:
        table = np.concatenate([np.where(t.lut, _OK, _VIOLATED), [_UNKNOWN]]).astype(np.int64)
        exact = bool(np.all(plan.transit[plan.s_equip[t.sensors]] + 1 == len(t.lut)))
        c = (t.lut, plan.transit, table, exact)
        t.__dict__["_vote_table"] = c
    return c[2], c[3]


def _member_votes(plan: Plan, S: np.ndarray, fr: np.ndarray, sens: np.ndarray, L: np.ndarray,
                  off: np.ndarray | int, table: np.ndarray, exact: bool) -> np.ndarray:
    """Tri-state vote of each member sensor ``sens`` (rows): OK if fresh and accepted,
    VIOLATED if fresh and not accepted, UNKNOWN if not fresh. ``fr`` holds their freshness."""
    val = S[plan.SVAL + sens]
    if not exact:  # values past a member's table read its last entry
        val = np.minimum(val, L - 1)
    # A fresh value is never negative; a stale one reads the table's UNKNOWN entry at L.
    return table[np.where(fr, val, L) + off]


def _k_of_n(member: np.ndarray, starts: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per term (members in consecutive rows from ``starts``): OK if k members vote OK,
    VIOLATED if k vote VIOLATED, else UNKNOWN."""
    sizes = np.diff(np.append(starts, len(member)))
    votes = member[starts]  # a lone member with k = 1 decides the term by itself
    multi = np.flatnonzero((sizes > 1) | (k[:, 0] != 1))
    if len(multi):
        ok, bad = member == _OK, member == _VIOLATED
        st, sz, km = starts[multi], sizes[multi], k[multi]
        n_in = ok[st].astype(np.int64)  # each term's first member
        n_out = bad[st].astype(np.int64)
        for j in range(1, int(sz.max())):  # then its j-th member, where it has one
            has = sz > j
            rows = st[has] + j
            n_in[has] += ok[rows]
            n_out[has] += bad[rows]
        # OK if n_in >= k, else VIOLATED if n_out >= k, else UNKNOWN; as a table lookup on
        # 2*(n_in >= k) + (n_out >= k) (much faster than nested np.where)
        sel = ((n_in >= km).view(np.uint8) << 1) | (n_out >= km).view(np.uint8)
        votes[multi] = _VOTE_RESULT[sel]
    return votes


def eval_term(plan: Plan, S: np.ndarray, t: CompiledTerm, fr: np.ndarray | None = None) -> np.ndarray:
    """k-of-n vote over fresh members: OK if k say yes, VIOLATED if k say no, else UNKNOWN.

    ``fr`` optionally holds :func:`fresh` of every sensor (rows by sensor index).
    """
    table, exact = _vote_table(plan, t)
    f = fr[t.sensors] if fr is not None else fresh(plan, S, t.sensors)
    member = _member_votes(plan, S, f, t.sensors, np.int64(len(t.lut)), 0, table, exact)
    return _k_of_n(member, np.zeros(1, dtype=np.int64), np.array([[t.k]]))[0]


def eval_expr(plan: Plan, S: np.ndarray, e: CompiledExpr, fr: np.ndarray | None = None,
              tv: Iterator[np.ndarray] | None = None) -> np.ndarray:
    """Kleene AND (min) / OR (max) over the items of an expression.

    ``tv`` optionally yields every term's vote, already computed, in depth-first order of the
    terms (see :func:`evaluate`).
    """
    vals = [eval_expr(plan, S, i, fr, tv) if isinstance(i, CompiledExpr)
            else (next(tv) if tv is not None else eval_term(plan, S, i, fr))
            for i in e.items]
    acc = vals[0]
    comb = np.minimum if e.op == "all" else np.maximum
    for v in vals[1:]:
        acc = comb(acc, v)
    return acc


def _terms(plan: Plan) -> dict:
    """Every term of every criterion, depth first, laid out for one vectorised vote (cached per
    plan): members (term, sensor) in term order, their offsets into one concatenated table."""
    c = plan.__dict__.get("_rules_terms")
    if c is not None and c["c_expr"] is plan.c_expr and c["transit"] is plan.transit:
        return c
    terms: list[CompiledTerm] = []

    def walk(e: CompiledExpr) -> None:
        for i in e.items:
            if isinstance(i, CompiledExpr):
                walk(i)
            else:
                terms.append(i)

    for e in plan.c_expr:
        walk(e)
    tables, m_sensor, m_L, m_off, starts, ks = [], [], [], [], [], []
    off = 0
    exact = True
    for t in terms:
        table, ex = _vote_table(plan, t)
        exact &= ex
        starts.append(len(m_sensor))
        ks.append(t.k)
        for s in t.sensors:
            m_sensor.append(int(s))
            m_L.append(len(t.lut))
            m_off.append(off)
        tables.append(table)
        off += len(table)
    ar = lambda xs: np.array(xs, dtype=np.int64)  # noqa: E731
    c = {"c_expr": plan.c_expr, "transit": plan.transit,
         "sensor": ar(m_sensor), "L": ar(m_L)[:, None], "off": ar(m_off)[:, None],
         "starts": ar(starts), "k": ar(ks)[:, None], "exact": exact,
         "table": np.concatenate(tables).astype(np.int64) if tables else ar([])}
    plan.__dict__["_rules_terms"] = c
    return c


TABLE_MAX = 4096  # largest generated per-criterion table (entries); larger criteria vote term by term
TABLE_MIN_COLUMNS = 32  # below this many columns (the simulator, the live sequencer) the vote is faster


def _expr_sensors(e: CompiledExpr) -> list[int] | None:
    """The sensors an expression reads, in first-use order; None if it has an item that is not
    a sensor vote (a CompiledTerm), whose value could depend on more than fresh sensor values."""
    out: list[int] = []
    for i in e.items:
        if isinstance(i, CompiledExpr):
            sub = _expr_sensors(i)
        elif type(i) is CompiledTerm:
            sub = [int(s) for s in i.sensors]
        else:
            return None
        if sub is None:
            return None
        out += [s for s in sub if s not in out]
    return out


def _criterion_tables(plan: Plan) -> dict | None:
    """Each criterion's raw tri-state as a table over the codes of its sensors (cached per plan).

    A criterion reads each of its sensors only as "not fresh" or "fresh with value v", v in the
    sensor's domain: code 0 or v + 1 (:func:`eval_term` reads nothing but SVAL, STIME and T).
    The table is generated by running :func:`eval_expr` (the term-by-term rule) on a state
    holding every combination of codes, so it is that rule, tabulated, not a second copy of it.
    None when a criterion's table would exceed TABLE_MAX or it has an item other than sensor
    votes (a term that read other state rows could not be tabulated this way).
    """
    c = plan.__dict__.get("_rules_ctables", ())
    if c and c[0] is plan.c_expr and c[1] is plan.transit and c[2] is plan.s_limit:
        return c[3]
    out: dict | None = {"sensor": [], "mult": [], "table": []}
    for e in plan.c_expr:
        sens = _expr_sensors(e)
        if sens is None:
            out = None
            break
        ncode = (plan.transit[plan.s_equip[sens]] + 2).astype(np.int64) if sens else np.zeros(0, np.int64)
        size = int(np.prod(ncode))
        if size > TABLE_MAX:
            out = None
            break
        codes = np.indices(ncode).reshape(len(sens), size) if sens else np.zeros((0, 1), np.int64)
        S = np.zeros((plan.layout.size, size), dtype=np.int64)
        S[plan.T] = 1 << 40
        for r, s in enumerate(sens):
            fresh_now = codes[r] > 0
            S[plan.SVAL + s] = np.where(fresh_now, codes[r] - 1, 0)
            S[plan.STIME + s] = np.where(fresh_now, S[plan.T], S[plan.T] - plan.s_limit[s] - 1)
        table = eval_expr(plan, S, e)
        mult = np.concatenate([np.cumprod(ncode[::-1])[::-1][1:], [1]]).astype(np.int64) if sens else ncode
        out["sensor"].append(np.array(sens, dtype=np.intp))
        out["mult"].append(mult)
        out["table"].append(table.astype(np.int64))
    plan.__dict__["_rules_ctables"] = (plan.c_expr, plan.transit, plan.s_limit, out)
    return out


def evaluate(plan: Plan, S: np.ndarray) -> np.ndarray:
    """Raw tri-state of every criterion, (C, N).

    Each criterion is one lookup in its generated table (:func:`_criterion_tables`) on the
    codes of its sensors; a plan whose criteria read too many sensors for a table, or a state
    of fewer than TABLE_MIN_COLUMNS columns, votes every term at once (:func:`eval_term`,
    vectorised) and combines them with :func:`eval_expr`. Both are the same rule.
    """
    if not plan.C:
        return np.zeros((0, S.shape[1]), dtype=np.int64)
    fr = fresh(plan, S) if plan.S else None
    ct = _criterion_tables(plan) if fr is not None and S.shape[1] >= TABLE_MIN_COLUMNS else None
    if ct is not None:
        # sensor code: 0 if not fresh, else its value + 1 (a fresh value is inside its domain)
        code = np.where(fr, S[plan.SVAL:plan.SVAL + plan.S] + 1, 0)
        out = np.empty((plan.C, S.shape[1]), dtype=np.int64)
        for c, (sens, mult, table) in enumerate(zip(ct["sensor"], ct["mult"], ct["table"], strict=True)):
            # index into this criterion's table: sum of code x place value (the last place is 1,
            # so a one-sensor criterion indexes by its code row directly)
            if len(sens) == 1:
                idx = code[sens[0]]
            elif len(sens):
                idx = code[sens[0]] * mult[0]
                for s, m in zip(sens[1:-1], mult[1:-1], strict=True):
                    idx += code[s] * m
                idx += code[sens[-1]]
            else:  # reads no sensor: a constant
                idx = np.zeros(S.shape[1], dtype=np.intp)
            np.take(table, idx, out=out[c])
        return out
    tt = _terms(plan)
    if fr is None or not len(tt["sensor"]):
        return np.stack([eval_expr(plan, S, e, fr) for e in plan.c_expr])
    sens = tt["sensor"]
    member = _member_votes(plan, S, fr[sens], sens, tt["L"], tt["off"], tt["table"], tt["exact"])
    tv = iter(_k_of_n(member, tt["starts"], tt["k"]))  # rows in depth-first term order
    return np.stack([eval_expr(plan, S, e, fr, tv) for e in plan.c_expr])


def recycle_refusal(plan: Plan, T: int, TC: int, point: int) -> str:
    """Why :func:`decide` refuses a recycle to ``point`` now ("" if it does not): the point is
    later than the count clock (a recycle only goes back), or the restarted count could not
    ignite inside the window. For the front ends' narration; the decision itself is in decide."""
    if not len(plan.r_at) or not 0 <= point < len(plan.r_at):
        return " (no such recycle point)"
    at = int(plan.r_at[point])
    if at > TC:
        return (f" (recycle point {plan.recycle_points[point]} is later than the count clock: a "
                "recycle only goes back; resume instead)")
    if T + (plan.ign - at) > plan.window_close:
        return " (the restarted count could not ignite inside the window)"
    return ""


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
    NEXT = next_table(plan.has_safing, plan.has_flight)
    # ---- criteria, debounced: OK only after it has been OK continuously for its debounce
    raw = evaluate(plan, S)
    if C:
        oks = S[plan.OKS:plan.OKS + C]
        rawok = raw == _OK
        # OK since: now if it just became OK, unchanged while OK, -1 when not OK (in place:
        # masked copies are about half the cost of nested np.where here, the hottest rows)
        np.copyto(oks, T, where=rawok & (oks == -1))
        np.copyto(oks, -1, where=~rawok)
        eff = S[plan.CST:plan.CST + C]
        eff[...] = raw
        np.copyto(eff, _UNKNOWN, where=rawok & (T - oks < plan.c_deb[:, None]))
        applies = (plan.c_from[:, None] <= TC) & (TC <= plan.c_until[:, None])
        blocking = applies & (eff != _OK)
        anyblock = blocking.any(axis=0)
    else:
        blocking = np.zeros((0, N), dtype=bool)
        anyblock = np.zeros(N, dtype=bool)

    def first_blocking() -> np.ndarray:
        return np.argmax(blocking, axis=0) if C else np.zeros(N, dtype=np.int64)

    running = (mode == _COUNTING) | (mode == _TERMINAL)
    holding = mode == _HOLDING
    any_holding = bool(holding.any())
    reason = S[plan.REASON]
    hold_expired = S[plan.HOLD_UNTIL] <= T
    resumable = holding & ~anyblock & hold_expired if (any_holding or op is not None) else holding
    nextb = S[plan.NEXTB].copy()  # a copy: the row is rewritten below, its old value still needed
    if len(plan.holds):
        at_builtin = (mode == _COUNTING) & (TC >= plan.h_at[nextb])
    else:  # only the NEVER sentinel: no built-in hold is ever reached
        at_builtin = np.zeros(N, dtype=bool)

    trig = np.full(N, -1, dtype=np.int64)
    refused = np.zeros(N, dtype=bool)
    if op is not None:
        opm = op >= 0
        ok_edge = opm & (NEXT[mode, np.maximum(op, 0)] >= 0)
        # Never resume into a violated, unknown or still-running built-in hold.
        bad_resume = (op == _RESUME) & ~resumable
        bad_recycle = (op == _RECYCLE) & ((oparg is None) | (len(plan.r_at) == 0))
        if oparg is not None and len(plan.r_at):
            # A recycle whose restarted count could not ignite inside the window is refused.
            ri_op = np.clip(oparg, 0, len(plan.r_at) - 1)
            bad_recycle |= (op == _RECYCLE) & (T + (plan.ign - plan.r_at[ri_op]) > plan.window_close)
            # A recycle goes back: a point later than the count clock would move the count
            # forward and skip the steps in between (they were never issued), so it is refused.
            bad_recycle |= (op == _RECYCLE) & (plan.r_at[ri_op] > TC)
        accept = ok_edge & ~bad_resume & ~bad_recycle
        refused = opm & ~accept
        trig = np.where(accept, op, trig)
    rec_to = (np.full(N, plan.auto_recycle_to) if oparg is None else
              np.where(trig == _RECYCLE, oparg, plan.auto_recycle_to))

    free = trig < 0
    # Window: even resuming (or counting on) now, ignition would fall after the window closes.
    # A count can only get there by holding; checking COUNTING too makes "never ignite after the
    # window" hold by construction, whatever a recycle did.
    window = (holding | (mode == _COUNTING)) & (T + (plan.ign - TC) > plan.window_close)
    if window.any():
        trig = np.where(free & window, _WINDOW_CLOSED, trig)
        free = trig < 0
    # A running count changes state only on a blocking criterion, a built-in hold, the point
    # of no return or T-0; skip the trigger selection when no column is at any of them.
    cut_to = None
    if C and len(plan.c_recycle) and (plan.c_recycle >= 0).any():
        # a cutoff criterion that is not OK while the count runs: recycle to its point, hold
        cutb = blocking & (plan.c_recycle >= 0)[:, None]
        cut = running & free & cutb.any(axis=0)
        if cut.any():
            cut_to = plan.c_recycle[np.argmax(cutb, axis=0)]
            trig = np.where(cut, _CUTOFF, trig)
            free = trig < 0
    if (running & free & (anyblock | at_builtin | (TC >= min(plan.ign, plan.pnr)))).any():
        run_trig = np.where(anyblock, _AUTO_HOLD,
                            np.where(at_builtin, _BUILTIN_HOLD,
                                     np.where(TC >= plan.ign, _IGNITION,
                                              np.where((mode == _COUNTING) & (TC >= plan.pnr),
                                                       _PNR, -1))))
        trig = np.where(free & running, run_trig, trig)
        free = trig < 0
    if any_holding and plan.auto_recycle_after >= 0:
        recycle_due = (holding & (reason != OPERATOR_REASON)
                       & (T - S[plan.HOLD_START] >= plan.auto_recycle_after)
                       & (S[plan.NREC] < plan.auto_max_recycles) & hold_expired
                       # only a recycle whose restarted count can still end inside the window
                       & (T + (plan.ign - plan.r_at[max(plan.auto_recycle_to, 0)])
                          <= plan.window_close)
                       # only back: never forward past steps not yet issued
                       & (plan.r_at[max(plan.auto_recycle_to, 0)] <= TC))
        trig = np.where(free & recycle_due, _RECYCLE, trig)
        free = trig < 0
    if any_holding and plan.auto_resume:
        trig = np.where(free & resumable & (reason != OPERATOR_REASON), _RESUME, trig)

    # ---- apply through the transition table
    has = trig >= 0
    if has.any():
        first = first_blocking()
        new = np.where(has, NEXT[mode, np.maximum(trig, 0)], -1)
        did = has & (new >= 0)
        new_mode = np.where(did, new, mode)
        enter_hold = did & (new_mode == _HOLDING)
        leave_hold = did & holding & (new_mode != _HOLDING)
        # Hold time and hold count measure UNPLANNED holding: a built-in hold's clock of
        # unplanned time starts only when its planned duration runs out.
        builtin = did & (trig == _BUILTIN_HOLD)
        hb = np.minimum(nextb, len(plan.h_dur) - 1)
        S[plan.HOLDTIME] += np.where(leave_hold, np.maximum(T - S[plan.HOLD_START], 0), 0)
        S[plan.HOLD_START] = np.where(enter_hold, np.where(builtin, T + plan.h_dur[hb], T),
                                      S[plan.HOLD_START])
        S[plan.NHOLDS] += enter_hold & ~builtin
        S[plan.HOLD_UNTIL] = np.where(builtin, T + plan.h_dur[hb],
                                      np.where(leave_hold, -1, S[plan.HOLD_UNTIL]))
        S[plan.NEXTB] = np.where(builtin, nextb + 1, nextb)
        if cut_to is not None:  # the cutoff criterion itself is the reason
            first = np.where(trig == _CUTOFF, np.argmax(blocking & (plan.c_recycle >= 0)[:, None], axis=0),
                             first)
        new_reason = np.where(trig == _OPERATOR_HOLD, OPERATOR_REASON,
                              np.where(trig == _BUILTIN_HOLD, C + nextb, first))
        aborted = (new_mode == _ABORTED) | (new_mode == _SAFING)
        S[plan.REASON] = np.where(enter_hold | (did & aborted & (trig == _AUTO_HOLD)),
                                  new_reason,
                                  np.where(did & ((trig == _RESUME) | (trig == _RECYCLE)),
                                           NO_REASON, reason))
    else:
        did = has  # all False
        new_mode = mode
    if any_holding:
        # A built-in hold that ran out while a criterion is not OK becomes a hold for that criterion.
        still = holding & ~did & hold_expired & anyblock & (reason >= C)
        if still.any():
            S[plan.REASON] = np.where(still, first_blocking(), S[plan.REASON])
            S[plan.NHOLDS] += still
    if cut_to is not None:
        rec_to = np.where(trig == _CUTOFF, cut_to, rec_to)
    rec = did & ((trig == _RECYCLE) | (trig == _CUTOFF))
    if rec.any():
        ri = np.clip(rec_to, 0, max(len(plan.r_at) - 1, 0))
        S[plan.TC] = np.where(rec, plan.r_at[ri], TC)
        S[plan.STEP] = np.where(rec, plan.r_step[ri], S[plan.STEP])
        S[plan.NEXTB] = np.where(rec, plan.r_hold[ri], S[plan.NEXTB])
        S[plan.NREC] += rec
    ignited = did & (trig == _IGNITION)
    if ignited.any():
        S[plan.IGN_T] = np.where(ignited, T, S[plan.IGN_T])
    S[plan.MODE] = new_mode

    # ---- issue due steps while the clock runs (after liftoff too: nothing stops them)
    ntot = len(plan.step_at)
    nsteps = plan.n_count
    issued = np.zeros((ntot, N), dtype=bool)
    run_now = (new_mode == _COUNTING) | (new_mode == _TERMINAL)
    if plan.has_flight:
        run_now = run_now | (new_mode == _FLIGHT)
    if nsteps and run_now.any():
        tc = S[plan.TC]
        step = S[plan.STEP]
        in_order, at_ext = _steps_in_order(plan)
        if in_order:
            # Steps are issued in order while their time has come: from STEP up to (not
            # including) the first step still in the future.
            if (run_now & (tc >= at_ext[np.minimum(step, nsteps)])).any():
                upto = np.where(run_now, np.maximum(step, np.searchsorted(at_ext[:-1], tc, side="right")),
                                step)
                j = np.arange(nsteps)[:, None]
                if ntot == nsteps:
                    issued = (j >= step) & (j < upto)
                else:
                    issued[:nsteps] = (j >= step) & (j < upto)
                S[plan.STEP] = upto
        else:
            for j in range(nsteps):
                due = run_now & (step == j) & (tc >= plan.step_at[j])
                if due.any():
                    issued[j] = due
                    step = step + due
            S[plan.STEP] = step
    out = np.where(did, trig, -1)
    if plan.has_safing or plan.has_flight or plan.cut0 < ntot:
        _sequences(plan, S, did, new_mode, issued, out, NEXT)
    return Decision(out, refused, issued, ignited, blocking)


def _sequences(plan: Plan, S: np.ndarray, did: np.ndarray, new_mode: np.ndarray, issued: np.ndarray, out: np.ndarray, NEXT: np.ndarray) -> None:
    """The safing sequences (abort, cutoff) and the end of the steps after liftoff (in place).

    A cutoff starts the cutoff's safing sequence, entering SAFING the abort's: the sequence's
    clock starts (SEQ_T, SSTEP its next step) and its steps are issued in order once their
    ``after`` has elapsed on it (the cutoff's while the recycled count holds or runs). SAFING and FLIGHT end (SEQUENCE_DONE) at an instant
    with no other transition when every step of the sequence has been issued and no equipment
    moves or has just been commanded (its arrival is awaited, so the sequence's moves run to
    their end through the plant rules and the properties see them).
    """
    T = S[plan.T]
    ntot, n0, c0 = len(plan.step_at), plan.n_count, plan.cut0
    if c0 < ntot:
        # a cutoff (re)starts the cutoff's safing sequence, on its own clock; it runs while the
        # recycled count holds or counts, until an abort's safing sequence supersedes it
        cut = did & (out == _CUTOFF)
        if cut.any():
            S[plan.SEQ_T] = np.where(cut, T, S[plan.SEQ_T])
            S[plan.SSTEP] = np.where(cut, c0, S[plan.SSTEP])
        sst = S[plan.SSTEP]
        run = (sst >= c0) & (sst < ntot) & ((new_mode == _COUNTING) | (new_mode == _HOLDING)
                                            | (new_mode == _TERMINAL) | (new_mode == _FLIGHT))
        if run.any():
            due = c0 + np.searchsorted(plan.step_at[c0:], T - S[plan.SEQ_T], side="right")
            upto = np.where(run, np.maximum(sst, due), sst)
            j = np.arange(ntot)[:, None]
            issued |= (j >= sst) & (j < upto)
            S[plan.SSTEP] = upto
    if plan.has_safing:
        saf = new_mode == _SAFING
        if saf.any():
            entered = saf & did  # SAFING has no edge to itself: a transition into it enters it
            S[plan.SEQ_T] = np.where(entered, T, S[plan.SEQ_T])
            S[plan.SSTEP] = np.where(entered, n0, S[plan.SSTEP])
            sst = S[plan.SSTEP]
            due = n0 + np.searchsorted(plan.step_at[n0:c0], T - S[plan.SEQ_T], side="right")
            upto = np.where(saf, np.maximum(sst, due), sst)
            j = np.arange(ntot)[:, None]
            issued |= (j >= sst) & (j < upto)
            S[plan.SSTEP] = upto
    if not (plan.has_safing or plan.has_flight):
        return
    seq = ((new_mode == _SAFING) & (S[plan.SSTEP] >= c0)) | ((new_mode == _FLIGHT) & (S[plan.STEP] >= n0))
    seq &= ~did
    if not seq.any():
        return
    moving = (S[plan.ARRIVE:plan.ARRIVE + plan.E] >= 0).any(axis=0)
    moves = plan.step_kind == StepKind.MOVE
    if moves.any():
        moving |= issued[moves].any(axis=0)
    done = seq & ~moving
    if done.any():
        S[plan.MODE] = np.where(done, NEXT[new_mode, _DONE], S[plan.MODE])
        out[:] = np.where(done, _DONE, out)
