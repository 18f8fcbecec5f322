"""Symbolic-time verification: exact verdicts on the model's millisecond clock without
enumerating milliseconds, for fault-free countdowns (K = 0) that never hold.

A *symbolic state* is a discrete state of the Plan (every row that is not a time) with a
**zone**: a difference-bound matrix (DBM) over the times the future can still depend on:

* ``N``, the instant the state was settled; ``E``, the count epoch (count clock = ``N - E``);
* ``A_e``, when equipment ``e``'s current move was issued (it arrives at some instant in
  ``[A_e + min, A_e + max]``, as lazy travel in :mod:`padguard.engines.verify`);
* ``O_c``, when criterion ``c`` last became OK (its debounce ends at ``O_c + debounce``);
* ``SEQ``, when the running safing sequence started (its steps are due at ``SEQ + at``).

From a symbolic state, time moves to the next instant at which something can happen: a
deadline (a count step or mark, the point of no return, a debounce end, a safing step, the
latest arrival of a move) or an arrival inside its window. The successors are split by *which*
of these happen at that instant (each deadline due or strictly later, each arrival now or
not), so that every integer point of a successor's zone is the same event for the sequencer.
Each successor is then settled by the **one semantics** (:func:`padguard.semantics.settle`)
on one representative integer point, and the times ``settle`` wrote (a move issued now, a
criterion OK now, a sequence started now) become resets of their variables to ``N``.

Why this is exact (for the fragment below): every guard the sequencer and the plant evaluate
between two settled instants is a difference ``x - y <= c`` of these variables with an integer
``c`` (the strict ones, a window enforced through its ``until``, are ``<= c - 1`` on the ms
clock), the split makes each of them constant over a successor's zone, and the zones' integer
points are exactly the millisecond timings they describe (a DBM with integer bounds is totally
unimodular). So the union of the zones reached is the set of millisecond runs, and a property
that holds in every symbolic state holds in every run.

The fragment: no faults (K = 0), no hold (the count clock would stop and restart, a stopwatch
that a DBM cannot represent exactly), no recycle, no invariant over ``count`` or ``time``. A
model or path outside it raises :class:`ZoneUnsupported`, and ``padguard verify`` says so;
nothing is approximated. Each symbolic step is checked against the one semantics at run time:
the settled discrete state must not depend on the travel draw, and :func:`semantics.next_event`
on the representative must equal the earliest symbolic deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from padguard import semantics
from padguard.compile import NEVER, Plan, StepKind
from padguard.engines.verify import PROPERTIES, Stats, TraceStep, VerifyResult, Violation, _rss
from padguard.sequencer import rules
from padguard.sequencer.table import Mode

INF = 1 << 50  # "no bound" in a DBM (sums of two stay far below int64 overflow)
U_MAX = 1.0 - 1e-12  # a travel draw that takes the declared maximum (plant.travel_time)
_FINAL = (int(Mode.LAUNCHED), int(Mode.SCRUBBED), int(Mode.ABORTED))


class ZoneUnsupported(ValueError):
    """The model (or a path of it) is outside what the symbolic search covers exactly."""


# --------------------------------------------------------------------------- DBMs


def dbm_close(D: np.ndarray) -> bool:
    """Floyd-Warshall in place; False when the zone is empty."""
    n = D.shape[0]
    for k in range(n):
        np.minimum(D, D[:, k:k + 1] + D[k:k + 1, :], out=D)
    np.minimum(D, INF, out=D)
    return bool((np.diagonal(D) >= 0).all())


def dbm_constrain(D: np.ndarray, i: int, j: int, c: int) -> np.ndarray | None:
    """A copy of canonical ``D`` with ``x_i - x_j <= c`` added (canonical), or None if empty."""
    if c >= D[i, j]:
        return D
    if D[j, i] + c < 0:
        return None
    out = np.minimum(D, D[:, i:i + 1] + c + D[j:j + 1, :])
    np.minimum(out, INF, out=out)
    return out


def dbm_reset(D: np.ndarray, v: int, to: int, c: int = 0) -> None:
    """``x_v := x_to + c`` in place (canonical stays canonical)."""
    D[v, :] = np.minimum(D[to, :] + c, INF)
    D[:, v] = np.minimum(D[:, to] - c, INF)
    D[v, v] = 0
    D[v, to], D[to, v] = c, -c


def dbm_free(D: np.ndarray, v: int) -> None:
    """Forget ``x_v`` (projection; canonical stays canonical)."""
    D[v, :] = INF
    D[:, v] = INF
    D[v, v] = 0


def dbm_point(D: np.ndarray, upper: bool = False) -> np.ndarray:
    """An integer point of the canonical, non-empty zone ``D`` (variable 0 is the origin, 0):
    each variable in turn at its least value given the ones before (``upper``: its greatest)."""
    n = D.shape[0]
    x = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        lo = max(int(x[j] - D[j, i]) for j in range(i))
        hi = min(int(x[j] + D[i, j]) for j in range(i))
        if upper and hi < INF // 2:
            x[i] = hi
            continue
        x[i] = lo if lo > -INF // 2 else (hi if hi < INF // 2 else 0)
        if x[i] > hi:  # cannot happen on a canonical DBM
            raise AssertionError("DBM point extraction failed")
    return x


# --------------------------------------------------------------------------- the search


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
    src: np.ndarray | None = None  # (n, 2): variable = N at path index src[v,0] (-1: origin) + src[v,1]
    due: tuple[int, ...] = ()  # which of the parent's deadlines were due at this instant
    arr: frozenset[int] = frozenset()  # which moves arrived at this instant


@dataclass
class ZoneOptions:
    properties: tuple[str, ...] = PROPERTIES
    max_states: int | None = None
    max_memory: int | None = None
    progress: Callable[[Stats, int], None] | None = None


@dataclass
class ZoneExplorer:
    """Breadth-first search of the symbolic (zone) graph of a fault-free countdown."""

    plan: Plan
    opt: ZoneOptions = field(default_factory=ZoneOptions)
    invariants: list[Any] = field(default_factory=list)
    max_faults: int = 0

    def __post_init__(self) -> None:
        p = self.plan
        if self.max_faults:
            raise ZoneUnsupported("faults (K > 0) are not in the symbolic search yet")
        if p.res != 1:
            raise ZoneUnsupported("the symbolic search runs on the model's 1 ms clock: compile at resolution 1 ms")
        for inv in self.invariants:
            words = set(inv.text.replace("(", " ").replace(")", " ").split())
            if words & {"count", "time"}:
                raise ZoneUnsupported(f"invariant '{inv.name}' reads the count or the wall clock, which a zone "
                                      "holds as a range; not supported yet")
        self.E, self.C = p.E, p.C
        # variable indices: 0 origin, 1 N, 2 P (the previous instant), 3 E, 4 H (hold start),
        # 5 U (hold until), then A_e, O_c, SEQ
        self.vN, self.vP, self.vE, self.vH, self.vU = 1, 2, 3, 4, 5
        self.vA = 6
        self.vO = self.vA + self.E
        self.vS = self.vO + self.C
        self.n = self.vS + 1
        self.steps_sorted = rules._steps_in_order(p)[1]
        self.marks = semantics._count_marks(p)
        self.ntot = len(p.step_at)

    def _running(self, mode: int) -> bool:
        """Does the count clock run in this mode (semantics.advance_to)?"""
        return mode in (int(Mode.COUNTING), int(Mode.TERMINAL)) or (
            self.plan.has_flight and mode == int(Mode.FLIGHT))

    # ---- deadlines of a settled symbolic state (the terms of semantics.next_event)
    def _deadlines(self, nd: _Node) -> list[tuple[int, int]]:
        p, S = self.plan, nd.rep
        mode = int(S[p.MODE])
        if mode in _FINAL:
            return []
        tc = int(S[p.TC])
        running = mode in (int(Mode.COUNTING), int(Mode.TERMINAL))
        out: list[tuple[int, int]] = []

        def at_count(target: int) -> None:
            if target < NEVER and target > tc:
                out.append((self.vE, int(target)))

        st = int(S[p.STEP])
        if p.n_count and st < p.n_count and (running or (p.has_flight and mode == int(Mode.FLIGHT))):
            at_count(int(self.steps_sorted[st]))
        if p.has_safing or p.cut0 < self.ntot:
            sst = int(S[p.SSTEP])
            safing = mode == int(Mode.SAFING)
            cutting = sst >= p.cut0 and not safing and mode not in _FINAL
            if ((safing and sst < p.cut0) or cutting) and sst < self.ntot:
                if S[p.SEQ_T] < 0:
                    raise ZoneUnsupported("a safing sequence without a start time")
                out.append((self.vS, int(p.step_at[sst])))
        if running:
            at_count(int(self.marks[np.searchsorted(self.marks, tc, side="right")]))
        if mode == int(Mode.COUNTING):
            at_count(int(p.pnr))
            if len(p.holds):
                at_count(int(p.h_at[S[p.NEXTB]]))
        if mode == int(Mode.HOLDING):  # the count clock is frozen at tc (a discrete value here)
            if S[p.HOLD_UNTIL] >= 0:
                out.append((self.vU, 0))
            # the window closes for this count: an absolute instant (origin + const)
            out.append((0, int(p.window_close - (p.ign - tc) + 1)))
            if p.auto_recycle_after >= 0 and S[p.NREC] < p.auto_max_recycles:
                out.append((self.vH, int(p.auto_recycle_after)))
                # not a deadline of next_event but a guard rules.decide reads at a recycle
                # (the restarted count must fit the window): split on it too
                rt = int(p.r_at[max(p.auto_recycle_to, 0)])
                out.append((0, int(p.window_close - (p.ign - rt) + 1)))
        for e in range(self.E):
            if S[p.ARRIVE + e] >= 0:
                out.append((self.vA + e, int(nd.hi[e])))
        for c in range(self.C):
            if S[p.OKS + c] >= 0:
                out.append((self.vO + c, int(p.c_deb[c])))
        # as next_event: only deadlines after the settled instant (x_v + c > N); one that is
        # later at some points of the zone and not at others would make the zone mixed
        D, vN = nd.D, self.vN
        fut = []
        for v, c in sorted(set(out)):
            if D[vN, v] <= c - 1:
                fut.append((v, c))
            elif D[v, vN] > -c:
                raise ZoneUnsupported("a deadline is past at some timings and ahead at others")
        return fut

    # ---- successor zones: which deadlines are due and which moves arrive at the next instant
    def _choices(self, nd: _Node) -> list[tuple[np.ndarray, frozenset[int], tuple[int, ...]]]:
        dl = self._deadlines(nd)
        if not dl:
            return []
        D = nd.D.copy()
        vN, vP = self.vN, self.vP
        dbm_reset(D, vP, vN)  # P := N, then let N run
        D[vN, :] = INF
        D[vN, vN] = 0
        Dz = dbm_constrain(D, vP, vN, -1)  # strictly later
        for v, c in dl:  # no deadline is passed
            if Dz is None:
                break
            Dz = dbm_constrain(Dz, vN, v, c)
        if Dz is None:
            return []
        moving = [e for e in range(self.E) if nd.rep[self.plan.ARRIVE + e] >= 0]
        out: list[tuple[np.ndarray, frozenset[int], tuple[int, ...]]] = []

        def walk(k: int, Dk: np.ndarray, due: tuple[int, ...]) -> None:
            if k < len(dl):
                v, c = dl[k]
                d1 = dbm_constrain(Dk, v, vN, -c)  # due: N - v >= c (and <= c already)
                if d1 is not None:
                    walk(k + 1, d1, (*due, k))
                d0 = dbm_constrain(Dk, vN, v, c - 1)  # strictly later
                if d0 is not None:
                    walk(k + 1, d0, due)
                return
            forced = {dl[i][0] - self.vA for i in due if self.vA <= dl[i][0] < self.vO}
            arrive(0, Dk, frozenset(forced), due)

        def arrive(i: int, Dk: np.ndarray, arr: frozenset[int], due: tuple[int, ...]) -> None:
            if i == len(moving):
                if due or arr:
                    out.append((Dk, arr, due))
                return
            e = moving[i]
            if e in arr:
                arrive(i + 1, Dk, arr, due)
                return
            arrive(i + 1, Dk, arr, due)  # not now
            d1 = dbm_constrain(Dk, self.vA + e, vN, -int(nd.lo[e]))  # N >= A_e + min
            if d1 is not None:
                arrive(i + 1, d1, arr | {e}, due)

        walk(0, Dz, ())
        return out

    # ---- settle a batch of successors on representative points, read the resets back
    def _settle(self, parent: _Node, pts: list[tuple[np.ndarray, frozenset[int], tuple[int, ...]]],
                upper: bool = False) -> list[tuple[np.ndarray, np.ndarray, frozenset[int], np.ndarray]]:
        p = self.plan
        n = len(pts)
        S = np.repeat(parent.rep[:, None], n, axis=1)
        X = np.stack([dbm_point(c[0], upper) for c in pts], axis=1)  # (vars, n)
        S[p.T] = X[self.vN]
        if self._running(int(parent.rep[p.MODE])):
            S[p.TC] = X[self.vN] - X[self.vE]
        if parent.rep[p.MODE] == int(Mode.HOLDING):
            S[p.HOLD_START] = X[self.vH]
            if parent.rep[p.HOLD_UNTIL] >= 0:
                S[p.HOLD_UNTIL] = X[self.vU]
        for e in range(self.E):
            if parent.rep[p.ARRIVE + e] >= 0:
                arr = np.array([e in c[1] for c in pts])
                S[p.ARRIVE + e] = np.where(arr, X[self.vN], X[self.vA + e] + parent.hi[e])
        for c in range(self.C):
            if parent.rep[p.OKS + c] >= 0:
                S[p.OKS + c] = X[self.vO + c]
        if parent.rep[p.SEQ_T] >= 0:
            S[p.SEQ_T] = X[self.vS]
        pre = S.copy()
        out = []
        posts = []
        for u in (0.0, U_MAX):
            Su = pre.copy()
            semantics.settle(p, Su, tr_u=np.full((self.ntot, n), u))
            semantics.canonicalise(p, Su)
            posts.append(Su)
        for j in range(n):
            out.append((pre[:, j], X[:, j], pts[j][1], np.stack([posts[0][:, j], posts[1][:, j]])))
        return out

    def _child(self, parent: _Node, Dk: np.ndarray, pre: np.ndarray, x: np.ndarray,
               post: np.ndarray) -> tuple[_Node, bool]:
        """The successor node, and whether the instant ignited."""
        p = self.plan
        smin, smax = post[0], post[1]
        t = int(x[self.vN])
        arr_rows = slice(p.ARRIVE, p.ARRIVE + self.E)
        diff = np.flatnonzero(smin != smax)
        if len(diff) and not ((diff >= p.ARRIVE) & (diff < p.ARRIVE + self.E)).all():
            raise ZoneUnsupported("a decision at one instant depends on a travel time drawn at that instant")
        mode = int(smax[p.MODE])
        pmode = int(pre[p.MODE])
        ignited = bool(smax[p.IGN_T] >= 0 and pre[p.IGN_T] < 0)
        running = self._running(mode)
        D = Dk.copy()
        src = parent.src.copy()
        k = parent.depth + 1

        def reset(v: int, c: int) -> None:
            dbm_reset(D, v, self.vN, c)
            src[v] = (k, c)

        def free(v: int) -> None:
            dbm_free(D, v)
            src[v] = (-2, 0)

        if running:
            if not self._running(pmode) or smax[p.TC] != pre[p.TC]:
                # the count (re)starts from a discrete count time: a resume, a recycle
                reset(self.vE, -int(smax[p.TC]))
        elif mode not in _FINAL and self._running(pmode):
            # the count clock stops (a hold, safing): exact only if it stops at one count time
            if D[self.vN, self.vE] + D[self.vE, self.vN] != 0:
                raise ZoneUnsupported("the count clock stops at a count time that varies with the timing "
                                      "(a stopwatch a zone cannot hold exactly)")
            free(self.vE)
        if mode == int(Mode.HOLDING):
            if pmode != int(Mode.HOLDING):
                reset(self.vH, int(smax[p.HOLD_START]) - t)
            if smax[p.HOLD_UNTIL] < 0:
                free(self.vU)
            elif smax[p.HOLD_UNTIL] != pre[p.HOLD_UNTIL] or pmode != int(Mode.HOLDING):
                reset(self.vU, int(smax[p.HOLD_UNTIL]) - t)
        else:
            free(self.vH)
            free(self.vU)
        lo, hi = parent.lo.copy(), parent.hi.copy()
        for e in range(self.E):
            a = int(smax[p.ARRIVE + e])
            v = self.vA + e
            if a < 0:
                free(v)
                lo[e] = hi[e] = 0
            elif a != pre[p.ARRIVE + e] or smax[p.DEST + e] != pre[p.DEST + e] or pre[p.ARRIVE + e] == t:
                reset(v, 0)
                lo[e], hi[e] = int(smin[p.ARRIVE + e]) - t, a - t
        for c in range(self.C):
            o = int(smax[p.OKS + c])
            v = self.vO + c
            if o < 0:
                free(v)
            elif o == pre[p.OKS + c] and pre[p.OKS + c] >= 0:
                pass
            elif o == t:
                reset(v, 0)
            else:
                raise ZoneUnsupported(f"criterion row {c}: unexpected OK-since time")
        s = int(smax[p.SEQ_T])
        if s < 0:
            free(self.vS)
        elif s == t and pre[p.SEQ_T] != t:
            reset(self.vS, 0)
        elif s != pre[p.SEQ_T]:
            raise ZoneUnsupported("unexpected safing sequence start")
        free(self.vP)
        if mode in _FINAL:  # only the final instant matters (the window property reads it)
            for v in range(2, self.n):
                free(v)
        key = smax.copy()
        key[p.T] = key[p.TC] = 0
        key[arr_rows] = np.where(key[arr_rows] >= 0, 0, -1)
        oks = key[p.OKS:p.OKS + self.C]
        oks[oks >= 0] = 0
        key[p.STIME:p.STIME + p.S] = 0
        key[p.SEQ_T] = 0 if key[p.SEQ_T] >= 0 else -1
        key[p.IGN_T] = 0 if key[p.IGN_T] >= 0 else -1
        key[p.HOLDTIME] = key[p.HOLD_START] = 0
        key[p.HOLD_UNTIL] = 0 if key[p.HOLD_UNTIL] >= 0 else -1
        if not running and mode not in _FINAL:  # a stopped count clock: a discrete value
            key[p.TC] = smax[p.TC]
        kb = key.tobytes() + lo.tobytes() + hi.tobytes()
        src[self.vN] = (k, 0)
        return _Node(kb, smax.copy(), D, lo, hi, k, -1, src=src), ignited

    def _check(self, nd: _Node, ignited: bool) -> str:
        p, S = self.plan, nd.rep
        props = self.opt.properties
        if "plume" in props and S[p.MODE] == int(Mode.LAUNCHED):
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
        if "liveness" in props and int(S[p.MODE]) in _FINAL and int(S[p.MODE]) != int(Mode.LAUNCHED):
            return "liveness:a fault-free count does not reach launch"
        return ""

    def _cross_check(self, nd: _Node) -> None:
        """The earliest symbolic deadline at the representative is semantics.next_event's."""
        p = self.plan
        dl = self._deadlines(nd)
        x = dbm_point(nd.D)
        t = int(nd.rep[p.T])
        if dl:
            vals = [int(x[v]) + c for v, c in dl]
            # the representative's own point: rebuild the times next_event reads
            S = nd.rep[:, None].copy()
            S[p.T, 0] = x[self.vN]
            if self._running(int(S[p.MODE, 0])):
                S[p.TC, 0] = x[self.vN] - x[self.vE]
            if S[p.MODE, 0] == int(Mode.HOLDING):
                S[p.HOLD_START, 0] = x[self.vH]
                if S[p.HOLD_UNTIL, 0] >= 0:
                    S[p.HOLD_UNTIL, 0] = x[self.vU]
            for e in range(self.E):
                if S[p.ARRIVE + e, 0] >= 0:
                    S[p.ARRIVE + e, 0] = x[self.vA + e] + nd.hi[e]
            for c in range(self.C):
                if S[p.OKS + c, 0] >= 0:
                    S[p.OKS + c, 0] = x[self.vO + c]
            if S[p.SEQ_T, 0] >= 0:
                S[p.SEQ_T, 0] = x[self.vS]
            want = int(semantics.next_event(p, S)[0])
            got = min((v for v in vals if v > int(x[self.vN])), default=NEVER)
            if want != got:
                raise AssertionError(f"symbolic deadlines disagree with next_event at t={t}: {got} != {want}")

    def _root(self) -> _Node:
        p = self.plan
        S0 = semantics.initial_state(p, 1)
        D = np.full((self.n, self.n), INF, dtype=np.int64)
        np.fill_diagonal(D, 0)
        D[self.vN, 0] = D[0, self.vN] = 0
        D[self.vE, 0], D[0, self.vE] = -int(p.start), int(p.start)
        dbm_close(D)
        z = np.zeros(self.E, dtype=np.int64)
        src = np.full((self.n, 2), (-2, 0), dtype=np.int64)
        src[0] = (-1, 0)
        src[self.vN] = (0, 0)
        src[self.vE] = (-1, -int(p.start))
        fake = _Node(b"", S0[:, 0].copy(), D, z, z.copy(), -1, -1, src=src)
        (pre, x, _, post), = self._settle(fake, [(D, frozenset(), ())])
        nd, ign = self._child(fake, D, pre, x, post)
        nd.depth = 0
        nd.label = self._check(nd, ign)
        return nd

    def run(self) -> VerifyResult:
        t0 = time.perf_counter()
        st = Stats()
        nodes: list[_Node] = []
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

        root = self._root()
        frontier = [add(root)]
        first_bad = 0 if root.label else None
        try:
            while frontier and first_bad is None:
                nxt: list[int] = []
                for i in frontier:
                    nd = nodes[i]
                    self._cross_check(nd)
                    ch = self._choices(nd)
                    st.transitions += len(ch)
                    if not ch:
                        if int(nd.rep[self.plan.MODE]) not in _FINAL and "liveness" in self.opt.properties:
                            nd.label = "liveness:a fault-free count does not reach launch"
                            first_bad = i
                            break
                        st.terminal += 1
                        continue
                    lows, highs = self._settle(nd, ch), self._settle(nd, ch, upper=True)
                    for (Dk, arr, due), (pre, x, _arr, post), hi_pt in zip(ch, lows, highs, strict=True):
                        child, ign = self._child(nd, Dk, pre, x, post)
                        other, ign2 = self._child(nd, Dk, hi_pt[0], hi_pt[1], hi_pt[3])
                        if (other.key != child.key or ign2 != ign or not (other.src == child.src).all()
                                or not (other.D == child.D).all()):
                            raise AssertionError("two timings of one zone settled differently: a guard "
                                                 "of the semantics is missing from the symbolic split")
                        child.parent, child.due, child.arr = i, due, arr
                        child.label = self._check(child, ign)
                        k = add(child)
                        if k is None:
                            continue
                        if child.label and first_bad is None:
                            first_bad = k
                        nxt.append(k)
                    if first_bad is not None:
                        break
                frontier = nxt
                st.depth += 1
                st.states = len(nodes)
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
        if first_bad is not None:
            verdict = "violated"
            nd = nodes[first_bad]
            prop, _, detail = nd.label.partition(":")
            violation = Violation(prop, detail, first_bad)
            self.nodes = nodes
            trace = self.concretise(first_bad)
        st.states = len(nodes)
        st.seconds = time.perf_counter() - t0
        st.stored_bytes = sum(nd.D.nbytes + nd.rep.nbytes for nd in nodes)
        self.nodes = nodes
        return VerifyResult(verdict=verdict, stats=st, max_faults=0, resolution_ms=1, timing="zones",
                            properties=tuple(self.opt.properties), violation=violation, reason=reason,
                            trace=trace)

    def concretise(self, i: int) -> list[TraceStep]:
        """A concrete millisecond run along the symbolic path to node ``i``, as trace steps.

        Every variable of every zone on the path is some earlier instant plus a constant
        (``src``), so the path's constraints (each instant later than the one before, each
        deadline due or not, each arrival inside its window) are differences of the path's
        instants: one DBM over them, whose integer point gives every instant. The run is then
        re-executed by the one semantics with the travel times those instants imply.
        """
        p = self.plan
        path = self.path(i)
        m = len(path)
        D = np.full((m + 1, m + 1), INF, dtype=np.int64)
        np.fill_diagonal(D, 0)
        D[1, 0] = D[0, 1] = 0  # N_0 = 0

        def ix(ref: np.ndarray) -> tuple[int, int]:
            j, off = int(ref[0]), int(ref[1])
            if j < -1:
                raise AssertionError("a deadline on a forgotten variable")
            return (0 if j == -1 else j + 1), off

        def add(a: int, b: int, c: int) -> None:  # x_a - x_b <= c
            D[a, b] = min(D[a, b], c)

        for k in range(1, m):
            par, ch = path[k - 1], path[k]
            add(k, k + 1, -1)
            for idx, (v, c) in enumerate(self._deadlines(par)):
                j, off = ix(par.src[v])
                add(k + 1, j, c + off - (0 if idx in ch.due else 1))
                if idx in ch.due:
                    add(j, k + 1, -(c + off))
            for e in ch.arr:
                j, off = ix(par.src[self.vA + e])
                add(j, k + 1, -(int(par.lo[e]) + off))
        if path[-1].label.startswith("window"):
            add(0, m, -(int(p.window_close) + 1))
        if not dbm_close(D):
            raise AssertionError("the symbolic counterexample has no concrete timing")
        x = dbm_point(D)
        times = [int(x[k + 1]) for k in range(m)]
        # travel time of each move: from its issue to the instant it arrived on the path (or max)
        steps_of = [np.flatnonzero((p.step_target == e) & (p.step_kind == int(StepKind.MOVE))) for e in range(self.E)]
        out: list[TraceStep] = []
        S = semantics.initial_state(p, 1)
        for k, nd in enumerate(path):
            u = np.full((self.ntot, 1), 0.5)
            tu: dict[int, float] = {}
            for e in range(self.E):
                if int(nd.src[self.vA + e, 0]) != k:
                    continue  # no move of e issued at this instant
                arr_k = next((q for q in range(k + 1, m) if e in path[q].arr), None)
                d = (times[arr_k] - times[k]) if arr_k is not None else int(nd.hi[e])
                lo, hi = int(nd.lo[e]), int(nd.hi[e])
                ue = (d - lo + 0.5) / (hi - lo + 1)
                for j in steps_of[e]:
                    u[j, 0] = ue
                    tu[int(j)] = ue
            if k:
                semantics.advance_to(p, S, np.array([times[k]]))
            h = semantics.settle(p, S, tr_u=u)
            issued = [int(j) for j in np.flatnonzero(h.issued[:, 0])]
            out.append(TraceStep(t=times[k], wait=0, faults=[], issued=issued,
                                 travel_u={j: tu[j] for j in issued if j in tu}, state=S.copy()))
        return out

    def path(self, i: int) -> list[_Node]:
        """The symbolic states from the root to node ``i``."""
        out = []
        while i >= 0:
            out.append(self.nodes[i])
            i = self.nodes[i].parent
        return out[::-1]
