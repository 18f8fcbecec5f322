"""Symbolic-time verification: verdicts for every millisecond timing the model allows,
without enumerating milliseconds (``padguard verify``'s default search).

A *symbolic state* is a discrete state of the Plan (every row that is not a time) with a
**zone**: a difference-bound matrix (DBM) over the times the future can still depend on:

* ``N``, the instant the state was settled; ``E``, the count epoch (count clock = ``N - E``);
* ``H`` and ``U``, when a hold started and when a built-in hold ends;
* ``A_e``, when equipment ``e``'s current move was issued (it arrives at some instant in
  ``[A_e + min, A_e + max]``, as lazy travel in :mod:`padguard.engines.verify`);
* ``O_c``, when criterion ``c`` last became OK (its debounce ends at ``O_c + debounce``);
* ``SEQ``, when the running safing sequence started (its steps are due at ``SEQ + at``);
* per dropped-out sensor, its onset (it goes stale ``limit + 1`` ms later).

From a symbolic state, time moves to the next instant at which something can happen. The
successors are split by *which* deadlines (the terms of :func:`semantics.next_event`) are due
there (each due or strictly later), which moves arrive (each inside its window or not yet), which
fault sets strike (each member where it acts), and by the guards ``rules.decide`` reads that are
not deadlines, so that every integer point of a successor's zone is the same event for the
sequencer. Each successor is settled by the **one semantics** (:func:`semantics.settle`,
:func:`plant.inject`) on a representative integer point, and the times ``settle`` wrote become
resets of their variables to ``N + c``.

Exactness: every guard evaluated between two settled instants is a difference ``x - y <= c`` of
these variables with an integer ``c`` (a strict one is ``<= c - 1`` on the ms clock); the split
makes each constant over a successor's zone; and a DBM with integer bounds describes exactly its
integer points (the constraint matrix is totally unimodular). While the count clock runs, or
stops at a count time that is the same over the zone, the zones reached are exactly the
millisecond runs. When a fault or an arrival stops the count at a count time that varies over the
zone (a stopwatch), ``E`` runs with ``N`` during the hold: the DBM hull of the exact set, a sound
over-approximation (as UPPAAL treats stopwatches). "Proved" is a proof either way; a violation is
never reported from a zone alone: its path is solved for concrete instants (:meth:`concretise`),
re-executed by the semantics and replayed, and a path with no concrete solution raises
:class:`ZoneUnsupported` (``padguard verify`` then falls back to the grid search, saying why).

Each step is checked at run time against the one semantics: the earliest symbolic deadline must
be :func:`semantics.next_event`'s, and each successor is settled at two points of its zone (the
least and the greatest), which must agree; a mismatch is an internal error, never a verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from padguard import plant, semantics
from padguard.compile import NEVER, Effect, Plan, StepKind
from padguard.engines.verify import (
    PROPERTIES,
    Explorer,
    Options,
    Stats,
    TraceStep,
    VerifyResult,
    Violation,
    _rss,
)
from padguard.sequencer import rules
from padguard.sequencer.table import Mode

INF = 1 << 50  # "no bound" in a DBM (sums of two stay far below int64 overflow)
U_MAX = 1.0 - 1e-12  # a travel draw that takes the declared maximum (plant.travel_time)
_FINAL = (int(Mode.LAUNCHED), int(Mode.SCRUBBED), int(Mode.ABORTED))
# plain ints for the hot path (IntEnum attribute access is slow)
_COUNTING, _TERMINAL, _HOLDING = int(Mode.COUNTING), int(Mode.TERMINAL), int(Mode.HOLDING)
_SAFING, _FLIGHT, _LAUNCHED = int(Mode.SAFING), int(Mode.FLIGHT), int(Mode.LAUNCHED)
_JAM, _SLOW, _WRONG, _SPONT = int(Effect.JAM), int(Effect.SLOW), int(Effect.WRONG_POSITION), int(Effect.SPONTANEOUS)
_STUCK, _DROPOUT = int(Effect.STUCK), int(Effect.DROPOUT)


class ZoneUnsupported(ValueError):
    """The model (or a path of it) is outside what the symbolic search covers exactly."""


# --------------------------------------------------------------------------- DBMs


def _norm(D: np.ndarray) -> np.ndarray:
    """Every bound past INF / 2 is "no bound" (INF plus or minus a constant stays no bound)."""
    D[D >= INF // 2] = INF
    return D


def dbm_close(D: np.ndarray) -> bool:
    """Floyd-Warshall in place; False when the zone is empty."""
    n = D.shape[0]
    _norm(D)
    for k in range(n):
        np.minimum(D, D[:, k:k + 1] + D[k:k + 1, :], out=D)
        _norm(D)
    return bool((np.diagonal(D) >= 0).all())


def dbm_constrain(D: np.ndarray, i: int, j: int, c: int) -> np.ndarray | None:
    """A copy of canonical ``D`` with ``x_i - x_j <= c`` added (canonical), or None if empty."""
    if c >= D[i, j]:
        return D
    if D[j, i] + c < 0:
        return None
    out = np.minimum(D, D[:, i:i + 1] + c + D[j:j + 1, :])
    return _norm(out)


def dbm_reset(D: np.ndarray, v: int, to: int, c: int = 0) -> None:
    """``x_v := x_to + c`` in place (canonical stays canonical)."""
    D[v, :] = np.where(D[to, :] >= INF, INF, D[to, :] + c)
    D[:, v] = np.where(D[:, to] >= INF, INF, D[:, to] - c)
    D[v, v] = 0
    D[v, to], D[to, v] = c, -c


def dbm_free(D: np.ndarray, v: int) -> None:
    """Forget ``x_v`` (projection; canonical stays canonical)."""
    D[v, :] = INF
    D[:, v] = INF
    D[v, v] = 0


def dbm_point(D: np.ndarray, upper: bool = False) -> np.ndarray:
    """An integer point of the canonical, non-empty zone ``D`` (variable 0 is the origin, 0):
    every variable at its least value (``upper``: its greatest), which a canonical DBM always
    admits; variables bounded only relative to others are then placed one by one."""
    n = D.shape[0]
    bound = D[:, 0] if upper else -D[0, :]
    ok = (D[:, 0] < INF) if upper else (D[0, :] < INF)
    x = np.where(ok, bound, 0).astype(np.int64)
    x[0] = 0
    if _fits(D, x):
        return x
    if ok.all():
        raise AssertionError("DBM not canonical")
    for i in range(1, n):  # place each in turn given the ones before
        lo = int((x[:i] - D[:i, i]).max())
        hi = int((x[:i] + D[i, :i]).min())
        lo_ok, hi_ok = lo > -INF // 2, hi < INF // 2
        x[i] = (hi if hi_ok else lo if lo_ok else 0) if upper else (lo if lo_ok else hi if hi_ok else 0)
    if not _fits(D, x):  # cannot happen on a canonical, non-empty DBM
        raise AssertionError("DBM point extraction failed")
    return x


_I32 = np.iinfo(np.int32).max


def _pack(D: np.ndarray) -> np.ndarray:
    """A stored zone in half the memory (int32; INF as the int32 maximum; order kept, so
    inclusion is still an elementwise comparison). Bounds are ms within a count: far inside."""
    fin = D < INF
    if fin.any() and np.abs(D[fin]).max() >= _I32:
        return D
    return np.where(fin, D, _I32).astype(np.int32)


def _unpack(D: np.ndarray) -> np.ndarray:
    if D.dtype == np.int64:
        return D
    out = D.astype(np.int64)
    out[D == _I32] = INF
    return out


def _fits(D: np.ndarray, x: np.ndarray) -> bool:
    return bool((x[:, None] - x[None, :] <= D).all())


# --------------------------------------------------------------------------- the search

Deadline = tuple[int, int, int]  # (a, b, c): due when x_a - x_b reaches c (invariant: <= c)
Choice = tuple[np.ndarray, frozenset[int], tuple[int, ...], list[tuple[int, int | None]]]


@dataclass
class _Node:
    key: bytes
    rep: np.ndarray  # the settled concrete state at the representative point (column)
    D: np.ndarray
    lo: np.ndarray  # per equipment: earliest arrival offset of its current move (ms)
    hi: np.ndarray  # latest
    depth: int
    parent: int
    label: str = ""
    due: tuple[int, ...] = ()  # which of the parent's deadlines were due at this instant
    arr: frozenset[int] = frozenset()  # which moves arrived at this instant
    faults: tuple[tuple[int, int | None], ...] = ()  # faults injected at this instant
    atoms: tuple[tuple[int, int, int, bool], ...] = ()  # guards split on: x_a - x_b >= c true or not
    resets: tuple[tuple[int, int], ...] = ()  # variables set to N + c when this instant settled
    e_moved: bool = False  # the count epoch moved with N into this instant (the count was stopped)
    approx: bool = False  # the zone may hold timings no run has (see the module docstring)
    nact: int = 0  # faults active (a common-cause event counts once)


@dataclass
class ZoneOptions:
    properties: tuple[str, ...] = PROPERTIES
    max_states: int | None = None
    max_memory: int | None = None
    progress: Callable[[Stats, int], None] | None = None


@dataclass
class ZoneExplorer:
    """Breadth-first search of the symbolic (zone) graph of a countdown under up to K faults."""

    plan: Plan
    opt: ZoneOptions = field(default_factory=ZoneOptions)
    invariants: list[Any] = field(default_factory=list)
    max_faults: int = 0

    def __post_init__(self) -> None:
        p = self.plan
        if p.res != 1:
            raise ZoneUnsupported("the symbolic search runs on the model's 1 ms clock: compile at resolution 1 ms")
        for inv in self.invariants:
            words = set(inv.text.replace("(", " ").replace(")", " ").split())
            if words & {"count", "time"}:
                raise ZoneUnsupported(f"invariant '{inv.name}' reads the count or the wall clock, which a zone "
                                      "holds as a range; not supported yet")
        self.K = self.max_faults
        self.subsets: list[list[tuple[int, int | None]]] = []  # every fault set, values expanded
        if self.K:
            ex = Explorer(p, Options(max_faults=self.K, properties=tuple(self.opt.properties)), self.invariants)
            for si in range(len(ex.subsets)):
                for var in range(int(ex.sub_nvar[si])):
                    self.subsets.append(ex.sub_values(si, var))
            self.f_rows = ex.f_rows
            self.f_mem = ex.f_mem
        self.E, self.C = p.E, p.C
        # variables: 0 origin, 1 N (this instant), 2 P (the previous one), 3 E (count epoch:
        # count clock = N - E), 4 H (hold start), 5 U (hold until), then per equipment A_e
        # (move issued), per criterion O_c (OK since), SEQ (safing start), per sensor its
        # dropout onset
        self.vN, self.vP, self.vE, self.vH, self.vU = 1, 2, 3, 4, 5
        self.vA = 6
        self.vO = self.vA + self.E
        self.vS = self.vO + self.C
        self.vT = self.vS + 1
        self.n = self.vT + p.S
        self.steps_sorted = rules._steps_in_order(p)[1]
        self.marks = semantics._count_marks(p)

        self.ntot = len(p.step_at)
        # per equipment, the steps that move it (what a successor commanded; the travel draw)
        self.move_steps = [np.flatnonzero((p.step_target == e) & (p.step_kind == int(StepKind.MOVE)))
                           for e in range(self.E)]
        self.nodes: list[_Node] = []

    # ---- small helpers
    def _running(self, mode: int) -> bool:
        """Does the count clock run in this mode (semantics.advance_to)?"""
        return mode in (_COUNTING, _TERMINAL) or (
            self.plan.has_flight and mode == _FLIGHT)

    def _stopped(self, mode: int) -> bool:
        """Is the count clock stopped (a hold, safing) while the count is not over?"""
        return not self._running(mode) and mode not in _FINAL

    def _dropped(self, S: np.ndarray) -> list[int]:
        """Sensors that have dropped out and are not yet stale (their onset is a variable)."""
        p = self.plan
        if not p.S or not S[p.SFAULT:p.SFAULT + p.S].any():
            return []
        eff = plant.fault_effect(p, S[p.SFAULT:p.SFAULT + p.S])
        return [int(i) for i in np.flatnonzero((eff == _DROPOUT) & (S[p.STIME:p.STIME + p.S] >= 0))]

    def _fault_sets(self, nd: _Node, info: tuple[np.ndarray, np.ndarray, np.ndarray] | None
                    ) -> list[list[tuple[int, int | None]]]:
        """The fault sets that may strike at the next instant: within the budget, on healthy
        components. ``info`` is what the instant does without a fault (equipment commanded,
        equipment arrived, positions after; None: nothing happens there).

        The explicit search's dormant-fault rule, the same runs: a fault invisible when it
        strikes (a jam, a slow or wrong-position fault, a stuck switch) changes nothing until it
        first acts (a command or an arrival of its equipment, a change of the switch's truth),
        so a set of such faults alone strikes only where each acts, and never between events.
        A set with a fault that acts at once (a dropout, a wrong reading, a spontaneous move,
        each where it changes something) may strike at any instant, and its invisible members
        with it: a switch that sticks as its stopper pops out keeps the old reading, which no
        later instant can reproduce."""
        if not self.K:
            return []
        p, S = self.plan, nd.rep
        room = self.K - nd.nact
        if room <= 0:
            return []
        if info is None:
            cmd = arrived = np.zeros(self.E, dtype=bool)
            pos_after = S[p.POS:p.POS + self.E]
        else:
            cmd, arrived, pos_after = info
        acts = np.ones(len(p.faults), dtype=bool)
        at_once = np.zeros(len(p.faults), dtype=bool)
        for f in range(len(p.faults)):
            eff, mem = int(p.f_effect[f]), self.f_mem[f]
            if p.f_kind[f] == 0:
                moving = any(S[p.ARRIVE + c] >= 0 for c in mem)
                if eff == _JAM:
                    acts[f] = info is not None and (moving or any(cmd[c] for c in mem))
                elif eff == _SLOW:
                    acts[f] = any(cmd[c] for c in mem)
                elif eff == _WRONG:
                    acts[f] = any(arrived[c] for c in mem)
                elif eff == _SPONT:
                    at_once[f] = True
                    acts[f] = moving or any(S[p.POS + c] != p.f_to[f] for c in mem)
            elif eff == _STUCK:
                acts[f] = info is not None and any(pos_after[p.s_equip[c]] != S[p.SVAL + c] for c in mem)
            else:  # dropout, wrong reading
                at_once[f] = True
        out = []
        for fs in self.subsets:
            if len(fs) > room:
                continue
            if any(at_once[f] for f, _ in fs):
                if not all(acts[f] for f, _ in fs if at_once[f]):
                    continue
            elif not all(acts[f] for f, _ in fs):
                continue
            if any(S[r] != 0 for f, _ in fs for r in self.f_rows[f]):
                continue
            out.append(fs)
        return out

    def _deadlines(self, nd: _Node) -> list[Deadline]:
        p, S = self.plan, nd.rep
        mode = int(S[p.MODE])
        if mode in _FINAL:
            return []
        vN, vE = self.vN, self.vE
        tc = int(S[p.TC])
        running = mode in (_COUNTING, _TERMINAL)
        out: list[Deadline] = []

        def at_count(target: int) -> None:  # the count clock N - E reaches target
            if target < NEVER:
                out.append((vN, vE, int(target)))

        st = int(S[p.STEP])
        if p.n_count and st < p.n_count and (running or (p.has_flight and mode == _FLIGHT)):
            at_count(int(self.steps_sorted[st]))
        if p.has_safing or p.cut0 < self.ntot:
            sst = int(S[p.SSTEP])
            safing = mode == _SAFING
            cutting = sst >= p.cut0 and not safing
            if ((safing and sst < p.cut0) or cutting) and sst < self.ntot:
                if S[p.SEQ_T] < 0:
                    raise ZoneUnsupported("a safing sequence without a start time")
                out.append((vN, self.vS, int(p.step_at[sst])))
        if running:
            at_count(int(self.marks[np.searchsorted(self.marks, tc, side="right")]))
        if mode == _COUNTING:
            at_count(int(p.pnr))
            if len(p.holds):
                at_count(int(p.h_at[S[p.NEXTB]]))
        if mode == _HOLDING:
            if S[p.HOLD_UNTIL] >= 0:
                out.append((vN, self.vU, 0))
            # the window closes for this count when N - count clock (= E, which runs with N
            # while the count is stopped) passes window_close - ign
            out.append((vE, 0, int(p.window_close - p.ign + 1)))
            if p.auto_recycle_after >= 0 and S[p.NREC] < p.auto_max_recycles:
                out.append((vN, self.vH, int(p.auto_recycle_after)))
        for e in range(self.E):
            if S[p.ARRIVE + e] >= 0:
                out.append((vN, self.vA + e, int(nd.hi[e])))
        for c in range(self.C):
            if S[p.OKS + c] >= 0:
                out.append((vN, self.vO + c, int(p.c_deb[c])))
        for sn in self._dropped(S):
            out.append((vN, self.vT + sn, int(p.s_limit[sn]) + 1))
        # as next_event: only deadlines after the settled instant; one that is ahead at some
        # points of the zone and not at others would make the zone mixed
        D = nd.D
        fut = []
        for a, b, c in sorted(set(out)):
            if D[a, b] <= c - 1:
                fut.append((a, b, c))
            elif D[b, a] > -c:
                raise ZoneUnsupported("a deadline is past at some timings and ahead at others")
        return fut

    def _atoms(self, nd: _Node) -> list[Deadline]:
        """Guards rules.decide reads that are not deadlines (no instant happens there): the next
        instant's zone is split on each, ``x_a - x_b >= c`` or not. The recycle points (a
        recycle only goes back: the count clock is compared with them), and for each the last
        instant at which a count restarted there still ends inside the window (a recycle,
        automatic or a cutoff's, past it is refused or scrubs)."""
        p = self.plan
        if int(nd.rep[p.MODE]) in _FINAL:
            return []
        out = [(self.vN, self.vE, int(r)) for r in p.r_at]
        out += [(self.vN, 0, int(p.window_close - (p.ign - int(r)) + 1)) for r in p.r_at]
        return out

    # ---- successor zones: which deadlines are due and which moves arrive at the next instant
    def _choices(self, nd: _Node) -> tuple[list[tuple[np.ndarray, frozenset[int], tuple[int, ...], tuple]], bool, bool]:
        """Successor zones (each with its arrivals and due deadlines), whether the count epoch
        moves with the clock, and whether that delay may over-approximate (see the docstring)."""
        dl = self._deadlines(nd)
        if not dl:
            return [], False, False
        D = nd.D.copy()
        vN, vP, vE = self.vN, self.vP, self.vE
        e_moves = self._stopped(int(nd.rep[self.plan.MODE]))
        approx = e_moves and D[vN, vE] + D[vE, vN] != 0
        dbm_reset(D, vP, vN)  # P := N, then let time pass: N runs (and E, while the count is stopped)
        movers = [vN, vE] if e_moves else [vN]
        rest = [v for v in range(self.n) if v not in movers]
        for m in movers:
            D[m, rest] = INF
        Dz = dbm_constrain(D, vP, vN, -1)  # strictly later
        for a, b, c in dl:  # no deadline is passed
            if Dz is None:
                break
            Dz = dbm_constrain(Dz, a, b, c)
        if Dz is None:
            return [], e_moves, approx
        moving = [e for e in range(self.E) if nd.rep[self.plan.ARRIVE + e] >= 0]
        out: list[tuple[np.ndarray, frozenset[int], tuple[int, ...], tuple]] = []
        atoms = self._atoms(nd)

        def walk(k: int, Dk: np.ndarray, due: tuple[int, ...]) -> None:
            if k < len(dl):
                a, b, c = dl[k]
                d1 = dbm_constrain(Dk, b, a, -c)  # due: x_a - x_b = c
                if d1 is not None:
                    walk(k + 1, d1, (*due, k))
                d0 = dbm_constrain(Dk, a, b, c - 1)  # strictly later
                if d0 is not None:
                    walk(k + 1, d0, due)
                return
            split(0, Dk, due, ())

        def split(k: int, Dk: np.ndarray, due: tuple[int, ...], tv: tuple[tuple[int, int, int, bool], ...]) -> None:
            if k < len(atoms):
                a, b, c = atoms[k]
                d1 = dbm_constrain(Dk, b, a, -c)  # x_a - x_b >= c
                d0 = dbm_constrain(Dk, a, b, c - 1)
                if d1 is not None:
                    split(k + 1, d1, due, (*tv, (a, b, c, True)) if d0 is not None else tv)
                if d0 is not None:
                    split(k + 1, d0, due, (*tv, (a, b, c, False)) if d1 is not None else tv)
                return
            forced = {dl[i][1] - self.vA for i in due if dl[i][0] == vN and self.vA <= dl[i][1] < self.vO}
            arrive(0, Dk, frozenset(forced), due, tv)

        def arrive(i: int, Dk: np.ndarray, arr: frozenset[int], due: tuple[int, ...],
                   tv: tuple[tuple[int, int, int, bool], ...]) -> None:
            if i == len(moving):
                out.append((Dk, arr, due, tv))  # with nothing due or arriving, only a fault makes it an instant
                return
            e = moving[i]
            if e in arr:
                arrive(i + 1, Dk, arr, due, tv)
                return
            arrive(i + 1, Dk, arr, due, tv)  # not now
            d1 = dbm_constrain(Dk, self.vA + e, vN, -int(nd.lo[e]))  # N >= A_e + min
            if d1 is not None:
                arrive(i + 1, d1, arr | {e}, due, tv)

        walk(0, Dz, ())
        return out, e_moves, approx

    # ---- settle a batch of successors on representative points
    def _concrete(self, parent: _Node, X: np.ndarray, arrs: list[frozenset[int]]) -> np.ndarray:
        """Parent's state at the points ``X`` (variables x columns): the Plan's time rows set
        from the variables (and each chosen arrival due now), ready to settle."""
        p = self.plan
        n = X.shape[1]
        R = parent.rep
        S = np.repeat(R[:, None], n, axis=1)
        S[p.T] = X[self.vN]
        if int(R[p.MODE]) not in _FINAL:
            S[p.TC] = X[self.vN] - X[self.vE]
        if R[p.MODE] == _HOLDING:
            S[p.HOLD_START] = X[self.vH]
            if R[p.HOLD_UNTIL] >= 0:
                S[p.HOLD_UNTIL] = X[self.vU]
        for e in range(self.E):
            if R[p.ARRIVE + e] >= 0:
                arr = np.array([e in a for a in arrs])
                S[p.ARRIVE + e] = np.where(arr, X[self.vN], X[self.vA + e] + parent.hi[e])
        for c in range(self.C):
            if R[p.OKS + c] >= 0:
                S[p.OKS + c] = X[self.vO + c]
        if R[p.SEQ_T] >= 0:
            S[p.SEQ_T] = X[self.vS]
        for sn in self._dropped(R):
            S[p.STIME + sn] = X[self.vT + sn]
        return S

    def _settle(self, parent: _Node, items: list[Choice], both: bool = True) -> tuple[list, list, list]:
        """Per successor: (state before settling, point, settled states with the least and the
        greatest travel draw) at the least point of its zone, the same at the greatest
        (``both``; else an empty list), and what the instant did there (equipment commanded,
        equipment arrived, positions after: the relevance of faults), all settled in one call
        of the one semantics."""
        p = self.plan
        n = len(items)
        pts = [dbm_point(c[0]) for c in items]
        if both:
            pts += [dbm_point(c[0], upper=True) for c in items]
        X = np.stack(pts, axis=1)  # (vars, n or 2n)
        m = X.shape[1]
        S = self._concrete(parent, X, [c[1] for c in items] * (m // n))
        for j, c in enumerate(items * (m // n)):
            if c[3]:
                mask = np.zeros(m, dtype=bool)
                mask[j] = True
                for f, v in c[3]:  # in injection order (sensor faults first)
                    plant.inject(p, S, f, mask, v)
        pre = S.copy()
        S2 = np.concatenate([pre, pre], axis=1)  # least and greatest travel draw
        u = np.concatenate([np.zeros((self.ntot, m)), np.full((self.ntot, m), U_MAX)], axis=1)
        h = semantics.settle(p, S2, tr_u=u)
        semantics.canonicalise(p, S2)
        cmd = np.zeros((self.E, m), dtype=bool)
        for e in range(self.E):
            if len(self.move_steps[e]):
                cmd[e] = h.issued[self.move_steps[e], :m].any(axis=0)
        info = [(cmd[:, j], h.arrived[:, j], S2[p.POS:p.POS + self.E, j]) for j in range(n)]
        out = [(pre[:, j], X[:, j], np.stack([S2[:, j], S2[:, m + j]])) for j in range(m)]
        return out[:n], out[n:], info

    def _child(self, parent: _Node, Dk: np.ndarray, pre: np.ndarray, x: np.ndarray,
               post: np.ndarray) -> tuple[_Node, bool]:
        """The successor node (its times read back as resets), and whether it ignited."""
        p = self.plan
        smin, smax = post[0], post[1]
        t = int(x[self.vN])
        diff = np.flatnonzero(smin != smax)
        if len(diff) and not ((diff >= p.ARRIVE) & (diff < p.ARRIVE + self.E)).all():
            raise ZoneUnsupported("a decision at one instant depends on a travel time drawn at that instant")
        mode = int(smax[p.MODE])
        pmode = int(pre[p.MODE])
        ignited = bool(smax[p.IGN_T] >= 0 and pre[p.IGN_T] < 0)
        D = Dk.copy()
        resets: list[tuple[int, int]] = []
        frees: list[int] = []

        def reset(v: int, c: int) -> None:
            dbm_reset(D, v, self.vN, c)
            resets.append((v, c))

        if mode not in _FINAL and smax[p.TC] != pre[p.TC]:
            reset(self.vE, -int(smax[p.TC]))  # the count clock jumped: a recycle
        if mode == _HOLDING:
            if pmode != _HOLDING:
                reset(self.vH, int(smax[p.HOLD_START]) - t)
            if smax[p.HOLD_UNTIL] < 0:
                frees.append(self.vU)
            elif smax[p.HOLD_UNTIL] != pre[p.HOLD_UNTIL] or pmode != _HOLDING:
                reset(self.vU, int(smax[p.HOLD_UNTIL]) - t)
        else:
            frees.append(self.vH)
            frees.append(self.vU)
        lo, hi = parent.lo.copy(), parent.hi.copy()
        for e in range(self.E):
            a = int(smax[p.ARRIVE + e])
            v = self.vA + e
            if a < 0:
                frees.append(v)
                lo[e] = hi[e] = 0
            elif a != pre[p.ARRIVE + e] or smax[p.DEST + e] != pre[p.DEST + e] or pre[p.ARRIVE + e] == t:
                reset(v, 0)
                lo[e], hi[e] = int(smin[p.ARRIVE + e]) - t, a - t
        for c in range(self.C):
            o = int(smax[p.OKS + c])
            v = self.vO + c
            if o < 0:
                frees.append(v)
            elif o == pre[p.OKS + c] and pre[p.OKS + c] >= 0:
                pass
            elif o == t:
                reset(v, 0)
            else:
                raise ZoneUnsupported(f"criterion row {c}: unexpected OK-since time")
        eff = plant.fault_effect(p, smax[p.SFAULT:p.SFAULT + p.S])
        for sn in range(p.S):
            v, st_ = self.vT + sn, int(smax[p.STIME + sn])
            if eff[sn] != _DROPOUT or st_ < 0:
                frees.append(v)
            elif parent.rep[p.SFAULT + sn] == 0:  # dropped out at this instant
                if st_ != t:
                    raise ZoneUnsupported("a dropout whose last sample is not its onset")
                reset(v, 0)
            elif st_ != pre[p.STIME + sn]:
                raise ZoneUnsupported("a dropped-out sensor sampled again")
        s = int(smax[p.SEQ_T])
        if s < 0:
            frees.append(self.vS)
        elif s == t and pre[p.SEQ_T] != t:
            reset(self.vS, 0)
        elif s != pre[p.SEQ_T]:
            raise ZoneUnsupported("unexpected safing sequence start")
        frees.append(self.vP)
        if frees:  # forget them all at once (a projection: canonical stays canonical)
            D[frees, :] = INF
            D[:, frees] = INF
            D[frees, frees] = 0
        if mode in _FINAL:  # only the final instant matters (the window property reads it)
            D[2:, :] = INF
            D[:, 2:] = INF
            np.fill_diagonal(D, 0)
        key = smax.copy()
        key[p.T] = key[p.TC] = 0
        arows = key[p.ARRIVE:p.ARRIVE + self.E]
        arows[:] = np.where(arows >= 0, 0, -1)
        oks = key[p.OKS:p.OKS + self.C]
        oks[oks >= 0] = 0
        stime = key[p.STIME:p.STIME + p.S]
        stime[:] = np.where(stime == -NEVER, -1, 0)
        key[p.SEQ_T] = 0 if key[p.SEQ_T] >= 0 else -1
        key[p.IGN_T] = 0 if key[p.IGN_T] >= 0 else -1
        key[p.HOLD_UNTIL] = 0 if key[p.HOLD_UNTIL] >= 0 else -1
        key[p.HOLDTIME] = key[p.HOLD_START] = 0
        kb = key.tobytes() + lo.tobytes() + hi.tobytes()
        return _Node(kb, smax.copy(), D, lo, hi, parent.depth + 1, -1, resets=tuple(resets)), ignited

    def _check(self, nd: _Node, ignited: bool) -> str:
        p, S = self.plan, nd.rep
        props = self.opt.properties
        if "plume" in props and S[p.MODE] == _LAUNCHED:
            for r in range(len(p.plume)):
                if (S[p.HAZ] >> r) & 1:
                    return f"plume:{p.plume[r]}"
        if "personnel" in props:
            for z in range(len(p.zones)):
                if (S[p.PHAZ] >> z) & 1:
                    return f"personnel:{p.zones[z]}"
        if "window" in props and ignited:
            if dbm_constrain(nd.D, 0, self.vN, -(int(p.window_close) + 1)) is not None:
                return "window:ignition after the window"
        if "invariants" in props:
            for inv in self.invariants:
                if not bool(inv.evaluate(p, S[:, None])[0]):
                    return f"invariants:{inv.name}"
        if ("liveness" in props and int(S[p.MODE]) in _FINAL and int(S[p.MODE]) != _LAUNCHED
                and not nd.nact):
            return "liveness:a fault-free count does not reach launch"
        return ""

    def _cross_check(self, nd: _Node) -> None:
        """The earliest symbolic deadline at a point of the zone is semantics.next_event's."""
        p = self.plan
        dl = self._deadlines(nd)
        x = dbm_point(nd.D)
        S = self._concrete(nd, x[:, None], [frozenset()])
        S[p.ARRIVE:p.ARRIVE + self.E] = nd.rep[p.ARRIVE:p.ARRIVE + self.E, None]
        for e in range(self.E):
            if nd.rep[p.ARRIVE + e] >= 0:
                S[p.ARRIVE + e, 0] = x[self.vA + e] + nd.hi[e]
        want = int(semantics.next_event(p, S)[0])
        now = int(x[self.vN])
        # a deadline on x_a - x_b: N reaches it after the gap c - (x_a - x_b) (a runs with N)
        got = min((now + c - int(x[a] - x[b]) for a, b, c in dl), default=NEVER)
        if want != got:
            raise AssertionError(f"symbolic deadlines disagree with next_event at t={now}: {got} != {want}")

    def _root(self) -> list[_Node]:
        p = self.plan
        S0 = semantics.initial_state(p, 1)
        D = np.full((self.n, self.n), INF, dtype=np.int64)
        np.fill_diagonal(D, 0)
        D[self.vN, 0] = D[0, self.vN] = 0
        D[self.vE, 0], D[0, self.vE] = -int(p.start), int(p.start)
        dbm_close(D)
        z = np.zeros(self.E, dtype=np.int64)
        fake = _Node(b"", S0[:, 0].copy(), D, z, z.copy(), -1, -1)
        first: list[Choice] = [(D, frozenset(), (), [])]
        settled, _, info = self._settle(fake, first, both=False)
        items = first + [(D, frozenset(), (), fs) for fs in self._fault_sets(fake, info[0])]
        if len(items) > 1:
            settled += self._settle(fake, items[1:], both=False)[0]
        out = []
        for it, (pre, x, post) in zip(items, settled, strict=True):
            nd, ign = self._child(fake, D, pre, x, post)
            nd.faults, nd.nact = tuple(it[3]), len(it[3])
            nd.label = self._check(nd, ign)
            nd.D = _pack(nd.D)
            out.append(nd)
        return out

    def run(self) -> VerifyResult:
        """Search every symbolic state; the verdict holds for every millisecond timing."""
        t0 = time.perf_counter()
        st = Stats()
        nodes: list[_Node] = []
        self.nodes = nodes
        seen: dict[bytes, list[int]] = {}
        verdict, reason = "proved", ""
        violation: Violation | None = None
        trace: list[TraceStep] = []

        def add(nd: _Node) -> int | None:
            ids = seen.setdefault(nd.key, [])
            for i in ids:
                if (nd.D >= nodes[i].D).all():
                    return None  # included in a zone already reached
            nodes.append(nd)
            ids.append(len(nodes) - 1)
            return len(nodes) - 1

        frontier: list[int] = []
        bad: list[int] = []
        for nd in self._root():
            k = add(nd)
            if k is not None:
                frontier.append(k)
                if nd.label:
                    bad.append(k)
        try:
            while frontier and not bad:
                nxt: list[int] = []
                for i in frontier:
                    nd = nodes[i]
                    nd.D = _unpack(nd.D)  # stored packed; expanded once
                    self._cross_check(nd)
                    leaves, e_moves, approx = self._choices(nd)
                    # first the instants without a new fault, then the faults that act at each
                    items: list[Choice] = [(Dk, arr, due, []) for Dk, arr, due, _ in leaves if due or arr]
                    tvs: list[tuple] = [tv for _, arr, due, tv in leaves if due or arr]
                    lows, highs, infos = self._settle(nd, items) if items else ([], [], [])
                    event_info = iter(infos)
                    faulty: list[Choice] = []
                    ftv: list[tuple] = []
                    for Dk, arr, due, tv in leaves:
                        info = next(event_info) if due or arr else None
                        for fs in self._fault_sets(nd, info):
                            faulty.append((Dk, arr, due, fs))
                            ftv.append(tv)
                    if faulty:
                        fl, fh, _ = self._settle(nd, faulty)
                        items, tvs, lows, highs = items + faulty, tvs + ftv, lows + fl, highs + fh
                    st.transitions += len(items)
                    if not items:
                        if int(nd.rep[self.plan.MODE]) not in _FINAL:
                            if nd.nact:
                                raise ZoneUnsupported("a faulty count with no next event")
                            if "liveness" in self.opt.properties:
                                nd.label = "liveness:a fault-free count does not reach launch"
                                bad.append(i)
                        st.terminal += 1
                        nd.D = _pack(nd.D)
                        continue
                    for (Dk, arr, due, fs), (pre, x, post), hi_pt, tv in zip(items, lows, highs, tvs, strict=True):
                        child, ign = self._child(nd, Dk, pre, x, post)
                        other, ign2 = self._child(nd, Dk, *hi_pt)
                        if (other.key != child.key or ign2 != ign or other.resets != child.resets
                                or not (other.D == child.D).all()):
                            names = self.plan.layout.names()
                            rows = [names[r] for r in np.flatnonzero(other.rep != child.rep) if r < len(names)]
                            raise AssertionError(
                                "two timings of one zone settled differently: a guard of the semantics is "
                                f"missing from the symbolic split (at t={int(x[self.vN])} and "
                                f"{int(hi_pt[1][self.vN])} ms, mode {Mode(int(nd.rep[self.plan.MODE])).name}, "
                                f"rows {rows}, resets {child.resets} vs {other.resets})")
                        child.parent, child.due, child.arr, child.faults, child.atoms = i, due, arr, tuple(fs), tv
                        child.nact = nd.nact + len(fs)  # a fault is one event (a common cause too)
                        child.e_moved, child.approx = e_moves, nd.approx or approx
                        child.label = self._check(child, ign)
                        child.D = _pack(child.D)
                        k = add(child)
                        if k is None:
                            continue
                        if child.label:
                            bad.append(k)
                        nxt.append(k)
                    nd.D = _pack(nd.D)
                frontier = nxt
                st.depth += 1
                st.states = len(nodes)
                st.stored_bytes = len(nodes) * (4 * self.n * self.n + 8 * self.plan.layout.size)
                if self.opt.progress:
                    self.opt.progress(st, len(frontier))
                if self.opt.max_states and len(nodes) > self.opt.max_states:
                    verdict, reason = "bounded", f"stopped at --max-states {self.opt.max_states}"
                    break
                if self.opt.max_memory and _rss() > self.opt.max_memory:
                    verdict, reason = "bounded", "stopped at the memory bound"
                    break
        except KeyboardInterrupt:
            verdict, reason = "interrupted", "stopped by Ctrl-C"
        st.states = len(nodes)
        if bad:
            first_bad = min(bad, key=lambda b: self._rank(b))
            verdict = "violated"
            prop, _, detail = nodes[first_bad].label.partition(":")
            violation = Violation(prop, detail, first_bad)
            trace = self.concretise(first_bad)
        st.seconds = time.perf_counter() - t0
        st.stored_bytes = sum(nd.D.nbytes + nd.rep.nbytes for nd in nodes)
        self.approximate = any(nd.approx for nd in nodes)
        return VerifyResult(verdict=verdict, stats=st, max_faults=self.K, resolution_ms=1, timing="zones",
                            properties=tuple(self.opt.properties), violation=violation, reason=reason,
                            trace=trace)

    def _rank(self, i: int) -> tuple[int, tuple[int, ...], int]:
        """Among equally short violations: fewest faults, then the fault modes listed first,
        then the property order (as the explicit search picks)."""
        prop = self.nodes[i].label.partition(":")[0]
        fs = sorted(f for nd in self.path(i) for f, _ in nd.faults)
        return len(fs), tuple(fs), PROPERTIES.index(prop)

    def concretise(self, i: int) -> list[TraceStep]:
        """A concrete millisecond run along the symbolic path to node ``i``, as trace steps.

        Walking the path, every variable is a sum of the path's instants plus a constant: set
        to one instant by a reset, and the count epoch advanced by each delay while the count
        was stopped. The path's conditions (each instant later than the one before, each
        deadline due or not, each arrival inside its window) are linear in the instants: a DBM
        when each is a difference of two, else an integer program (CP-SAT). Its solution gives
        every instant; the run is then re-executed by the one semantics with the travel times
        those instants imply. A path with no solution was an over-approximation (raises
        :class:`ZoneUnsupported`).
        """
        p = self.plan
        path = self.path(i)
        m = len(path)
        Form = tuple[dict[int, int], int]  # {instant index: coefficient}, constant
        cons: list[tuple[dict[int, int], int]] = []  # sum(coeff * N_k) <= bound

        def le(a: Form, b: Form, c: int) -> None:  # a - b <= c
            terms = dict(a[0])
            for k2, v in b[0].items():
                terms[k2] = terms.get(k2, 0) - v
            cons.append(({k2: v for k2, v in terms.items() if v}, c - a[1] + b[1]))

        forms: dict[int, Form] = {0: ({}, 0), self.vN: ({0: 1}, 0), self.vE: ({}, -int(p.start))}
        le(forms[self.vN], forms[0], 0)
        le(forms[0], forms[self.vN], 0)

        def apply_resets(nd: _Node, k: int) -> None:
            for v, c in nd.resets:
                forms[v] = ({k: 1}, c)

        apply_resets(path[0], 0)
        for k in range(1, m):
            par, ch = path[k - 1], path[k]
            now: Form = ({k: 1}, 0)
            le(({k - 1: 1}, 0), now, -1)
            if ch.e_moved:  # the count epoch ran with the clock over (N_{k-1}, N_k]
                f = dict(forms[self.vE][0])
                f[k] = f.get(k, 0) + 1
                f[k - 1] = f.get(k - 1, 0) - 1
                forms[self.vE] = (f, forms[self.vE][1])
            forms[self.vN] = now
            for idx, (a, b, c) in enumerate(self._deadlines(par)):
                le(forms[a], forms[b], c - (0 if idx in ch.due else 1))
                if idx in ch.due:
                    le(forms[b], forms[a], -c)
            for e in ch.arr:
                le(forms[self.vA + e], now, -int(par.lo[e]))
            for a, b, c, truth in ch.atoms:
                if truth:
                    le(forms[b], forms[a], -c)
                else:
                    le(forms[a], forms[b], c - 1)
            apply_resets(ch, k)
        if path[-1].label.startswith("window"):
            le(forms[0], forms[self.vN], -(int(p.window_close) + 1))
        times = _solve(cons, m)
        if times is None:
            raise ZoneUnsupported("a violation of the over-approximated zone graph (the count stopped at a "
                                  "count time that varies with the timing) has no concrete run")
        out: list[TraceStep] = []
        S = semantics.initial_state(p, 1)
        for k, nd in enumerate(path):
            u = np.full((self.ntot, 1), 0.5)
            tu: dict[int, float] = {}
            for e in range(self.E):
                if (self.vA + e, 0) not in nd.resets:
                    continue  # no move of e issued at this instant
                # the instant this move arrived; none if it was commanded anew (or jammed, or
                # moved spontaneously) first: then it takes its maximum, past that instant
                arr_k = None
                for q in range(k + 1, m):
                    if e in path[q].arr:
                        arr_k = q
                        break
                    if (self.vA + e, 0) in path[q].resets or path[q].rep[p.ARRIVE + e] < 0:
                        break
                d = (times[arr_k] - times[k]) if arr_k is not None else int(nd.hi[e])
                lo, hi = int(nd.lo[e]), int(nd.hi[e])
                ue = (d - lo + 0.5) / (hi - lo + 1)
                for j in self.move_steps[e]:
                    u[j, 0] = ue
                    tu[int(j)] = ue
            if k:
                semantics.advance_to(p, S, np.array([times[k]]))
            for f, v in nd.faults:
                plant.inject(p, S, f, None, v)
            h = semantics.settle(p, S, tr_u=u)
            # every arrival is one the path chose (a jam striking as it arrives may stop one)
            if k and not set(np.flatnonzero(h.arrived[:, 0]).tolist()) <= set(nd.arr):
                raise AssertionError(f"the concrete run does not follow the symbolic path at {times[k]} ms")
            issued = [int(j) for j in np.flatnonzero(h.issued[:, 0])]
            out.append(TraceStep(t=times[k], wait=0, faults=list(nd.faults), issued=issued,
                                 travel_u={j: tu[j] for j in issued if j in tu}, state=S.copy()))
        return out

    def path(self, i: int) -> list[_Node]:
        """The symbolic states from the root to node ``i``."""
        out = []
        while i >= 0:
            out.append(self.nodes[i])
            i = self.nodes[i].parent
        return out[::-1]


def _solve(cons: list[tuple[dict[int, int], int]], m: int) -> list[int] | None:
    """Integer instants N_0..N_{m-1} with every ``sum(coeff * N_k) <= bound`` (None if none):
    the earliest by a DBM when each constraint is a difference of at most two instants, else
    by CP-SAT minimising their sum (deterministic, one worker)."""
    simple = all(len(t) <= 2 and sorted(t.values()) in ([-1, 1], [1], [-1]) for t, _ in cons)
    if simple:
        D = np.full((m + 1, m + 1), INF, dtype=np.int64)
        np.fill_diagonal(D, 0)
        for t, c in cons:  # x_a - x_b <= c, the origin (index 0) standing in for a missing side
            a = next((k + 1 for k, v in t.items() if v == 1), 0)
            b = next((k + 1 for k, v in t.items() if v == -1), 0)
            D[a, b] = min(D[a, b], c)
        if not dbm_close(D):
            return None
        x = dbm_point(D)
        return [int(x[k + 1]) for k in range(m)]
    try:
        from ortools.sat.python import cp_model
    except ImportError:  # pragma: no cover - the 'crew' extra brings OR-Tools
        raise ZoneUnsupported("concretising this counterexample needs OR-Tools (pip install padguard[crew])") from None
    model = cp_model.CpModel()
    xs = [model.NewIntVar(0, 1 << 40, f"N{k}") for k in range(m)]
    for t, c in cons:
        model.Add(sum(v * xs[k] for k, v in t.items()) <= c)
    model.Minimize(sum(xs))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 60
    res = solver.Solve(model)
    if res not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return [int(solver.Value(x)) for x in xs]
