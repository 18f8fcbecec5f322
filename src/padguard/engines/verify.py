"""The verifier: every behaviour of a compiled Plan, explored breadth-first, vectorised.

It runs the one semantics (:func:`padguard.semantics.settle`, ``next_event``, ``advance_to``
and :func:`padguard.plant.inject`) on a frontier of states held as the columns of one
``(D, N)`` array, and answers *proved* or *violated* with a shortest counterexample.

The transition system (see ``docs/verification.md`` for why it is sound):

* a **node** is a settled state at an instant ``t`` (after :func:`semantics.settle`);
* from a node, time moves to ``x``: either ``t' = next_event`` (the next instant at which
  anything can change) or, to inject faults between events, ``t + k * resolution < t'`` for
  every ``k >= 1`` (a fault's instant moves its deadlines, e.g. when a dropout goes stale, so
  every instant of the grain is tried; the former ``events`` abstraction, which tried only
  ``k = 1``, missed runs and was removed);
* at ``x`` any set of not-yet-active fault modes (at most ``K`` active in all, one per
  component) is injected before the instant is settled, with every value a reads_wrong
  sensor without a declared value can report;
* every move issued while settling ``x`` may take each travel time its range allows at the
  Plan's resolution (:func:`padguard.plant.travel_choices`). By default (*lazy travel*) the time
  is not chosen at issue: the move is in transit over its window of candidate arrival instants
  (ARRIVE holds the latest, a verifier-only row LO the earliest), and at each candidate instant
  the search branches "arrives now" (ARRIVE set to the instant before it is settled, so
  :func:`padguard.plant.arrivals` finishes the move) or "not yet". The runs are those of the
  eager choice at issue (``Options(lazy_travel=False)``); the graph is smaller.

"Shortest" means fewest nodes (settled instants) from count start. Visited states are
deduplicated by a 128-bit fingerprint of a canonical form (fields that cannot influence the
future are normalised first); each stored state keeps 16 bytes of fingerprint plus 16 bytes
of parent pointer and choice, from which a counterexample is rebuilt by re-execution.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from padguard import plant, semantics
from padguard.compile import NEVER, Effect, Plan, StepKind
from padguard.sequencer.table import Mode

PROPERTIES = ("plume", "personnel", "window", "invariants", "liveness")

#: fingerprint multipliers (odd 64-bit constants) and offsets, fixed for reproducibility
_RNG = np.random.default_rng(0x9ADC0DE)


class VerifyError(ValueError):
    """The model uses something the verifier cannot explore; the message says what."""


@dataclass
class Violation:
    """A property violated in one explored state."""

    prop: str  # one of PROPERTIES
    detail: str  # e.g. "cabin.stopper unlocked" or the invariant's name
    state_id: int


@dataclass
class Stats:
    states: int = 0  # distinct states stored
    transitions: int = 0  # successor states computed (before deduplication)
    terminal: int = 0  # stored states with no successor (final countdowns)
    depth: int = 0  # BFS levels completed
    seconds: float = 0.0
    stored_bytes: int = 0  # fingerprints + parent pointers + choices
    peak_frontier_bytes: int = 0

    @property
    def rate(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    @property
    def bytes_per_state(self) -> float:
        return self.stored_bytes / self.states if self.states else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"states": self.states, "transitions": self.transitions, "terminal": self.terminal,
                "depth": self.depth, "seconds": round(self.seconds, 3),
                "states_per_s": round(self.rate), "stored_bytes": self.stored_bytes,
                "bytes_per_state": round(self.bytes_per_state, 1),
                "peak_frontier_bytes": self.peak_frontier_bytes}


@dataclass
class VerifyResult:
    """Outcome of one verification run."""

    verdict: str  # "proved" | "violated" | "bounded" (memory/state bound) | "interrupted"
    stats: Stats
    max_faults: int
    resolution_ms: int
    timing: str
    properties: tuple[str, ...]
    violation: Violation | None = None
    trace: list[TraceStep] = field(default_factory=list)
    reason: str = ""
    also: list[str] = field(default_factory=list)  # other violations at the same (shortest) depth

    @property
    def exact(self) -> bool:
        """True when the exploration covered every timing the model allows (see :func:`is_exact`)."""
        return is_exact(self.resolution_ms)

    @property
    def claim(self) -> str:
        """The verdict as it may be stated: a search that found nothing is not a proof."""
        if self.verdict == "proved" and not self.exact:
            return "no_violation_found"
        return self.verdict

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verdict": self.claim, "exact": self.exact, "max_faults": self.max_faults,
                               "resolution_s": self.resolution_ms / 1000, "timing": self.timing,
                               "properties": list(self.properties), "stats": self.stats.to_dict()}
        if self.reason:
            out["reason"] = self.reason
        if self.violation is not None:
            out["violation"] = {"property": self.violation.prop, "detail": self.violation.detail,
                                "steps": len(self.trace), "also_at_this_depth": self.also}
        return out


@dataclass
class TraceStep:
    """One node of a counterexample: when it settled and what the verifier chose to get there."""

    t: int  # wall ms of the settled instant
    wait: int  # 0: the next event; k > 0: k resolution steps after the previous instant
    faults: list[tuple[int, int | None]]  # (fault index, reads_wrong value code or None)
    travel_u: dict[int, float]  # step index -> u used for the moves issued at this instant
    issued: list[int]  # steps issued at this instant
    state: np.ndarray | None = None  # (D, 1) settled state (not canonical)


# --------------------------------------------------------------------------- exactness

#: the Plan's timing constants (ms); a new timing feature adds its field here. Count times
#: (T-...) are negative; in the durations a negative value marks "none".
COUNT_TIME_FIELDS = ("start", "ign", "pnr", "step_at", "c_from", "c_until", "h_at", "r_at")
DURATION_FIELDS = ("window_close", "auto_recycle_after", "tmin", "tmax", "s_limit", "c_deb", "h_dur", "f_delay")
TIME_FIELDS = COUNT_TIME_FIELDS + DURATION_FIELDS


def grain(plan: Plan) -> int:
    """The coarsest resolution (ms) on which every timing constant of the plan lies: the gcd
    of all of them. The default search resolution of ``padguard verify``."""
    vals: list[int] = []
    for name in TIME_FIELDS:
        v = np.asarray(getattr(plan, name), dtype=np.int64).ravel()
        v = np.abs(v) if name in COUNT_TIME_FIELDS else v
        vals.extend(int(x) for x in v[(v > 0) & (v < NEVER)])
    g = 0
    for x in vals:
        g = math.gcd(g, x)
    return g or 1000


def is_exact(resolution_ms: int) -> bool:
    """Is an exploration at this resolution exact (every timing the model allows)?

    The semantics runs on a millisecond clock, so at 1 ms every fault instant and every travel
    time is explored and the verdict is exact. Coarser grains are searches: the semantics
    settles simultaneous events as one instant and fires strict deadlines (a sensor stale
    *after* its limit, a criterion window closing *after* its end) 1 ms late, so rounding a run
    onto a coarser grid can merge or reorder events (see docs/verification.md); no
    digitization theorem covers that, and none is claimed.
    """
    return resolution_ms == 1


QUICK_MS = 30_000  # the grid of the quick first pass (``padguard verify`` without --shortest)
QUICK_MAX_STATES = 2_000_000  # the quick pass gives up (and the main search runs) past this
QUICK_MAX_MEMORY = 2 * 2**30


def quick_resolution(res_ms: int) -> int | None:
    """The grid of a quick first pass before a search at ``res_ms``, or None if ``res_ms`` is
    already that coarse.

    A violation found on any grid is a run of the model (every instant of every grid is a
    millisecond of the model's clock), so it is a true verdict whatever grid found it; a coarse
    grid finds most violations in seconds, where the requested grid may need hours or more
    memory than the machine has (Site 31/6 guarded, K = 2: 4.7 s at 30 s; the 1 s search
    stopped at 16.9 GiB, halfway). What the quick pass gives up is *shortest*: its
    counterexample is the shortest on its own grid, not necessarily on the requested one. When it
    finds nothing, nothing is concluded from it and the requested search runs as before.
    """
    return QUICK_MS if res_ms < QUICK_MS else None


# --------------------------------------------------------------------------- fingerprints


class Fingerprinter:
    """128-bit fingerprints of state columns: two independent random linear forms mod 2**64,
    each passed through the splitmix64 finaliser.

    For two distinct columns the first halves collide with probability about 2**-64 (the
    multipliers are random and odd), both halves together about 2**-128.
    """

    def __init__(self, rows: np.ndarray):
        self.rows = rows
        n = len(rows)
        self.a1 = (_RNG.integers(1, 2**62, size=n, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
        self.a2 = (_RNG.integers(1, 2**62, size=n, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)

    def __call__(self, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = S.shape[1]
        h1 = np.zeros(n, dtype=np.uint64)
        h2 = np.full(n, 0x9E3779B97F4A7C15, dtype=np.uint64)
        tmp = np.empty(n, dtype=np.uint64)
        U = S.view(np.uint64)
        with np.errstate(over="ignore"):
            for i, r in enumerate(self.rows):
                np.multiply(U[r], self.a1[i], out=tmp)
                h1 += tmp
                np.multiply(U[r], self.a2[i], out=tmp)
                h2 += tmp
            h1 = _mix(h1)
            h2 = _mix(h2)
        h1[h1 == 0] = 1
        return h1, h2


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class VisitedSet:
    """A set of 128-bit fingerprints as a few sorted runs (16 bytes per state, no overhead).

    New fingerprints are looked up in every run with a binary search and appended as a new
    sorted run; runs are merged geometrically, so each fingerprint is merged O(log n) times.
    """

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(a) for a, _ in self.runs)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes + b.nbytes for a, b in self.runs)

    def add_new(self, h1: np.ndarray, h2: np.ndarray, presorted: bool = False) -> np.ndarray:
        """Insert the fingerprints (unique among themselves); return the mask of new ones."""
        new = np.ones(len(h1), dtype=bool)
        for a, b in self.runs:
            if not len(a):
                continue
            i = np.searchsorted(a, h1)
            ic = np.minimum(i, len(a) - 1)
            eq1 = a[ic] == h1
            same = eq1 & (b[ic] == h2)
            new &= ~same
            # equal first halves but different second halves (about 2**-64 per pair):
            # scan the run of equal first halves
            for k in np.flatnonzero(eq1 & ~same):
                j = int(i[k]) + 1
                while j < len(a) and a[j] == h1[k]:
                    if b[j] == h2[k]:
                        new[k] = False
                        break
                    j += 1
        if new.any():
            if presorted:
                self.runs.append((h1[new], h2[new]))
            else:
                o = np.argsort(h1[new], kind="stable")
                self.runs.append((h1[new][o], h2[new][o]))
            self._merge()
        return new

    def _merge(self) -> None:
        while len(self.runs) >= 2 and len(self.runs[-1][0]) * 2 >= len(self.runs[-2][0]):
            (a1, a2), (b1, b2) = self.runs[-2], self.runs.pop()
            pos = np.searchsorted(a1, b1) + np.arange(len(b1))
            out1 = np.empty(len(a1) + len(b1), dtype=np.uint64)
            out2 = np.empty_like(out1)
            mask = np.ones(len(out1), dtype=bool)
            mask[pos] = False
            out1[pos], out2[pos] = b1, b2
            out1[mask], out2[mask] = a1, a2
            self.runs[-1] = (out1, out2)


class Store:
    """Parent pointer and choice of every stored state, in growable arrays (16 bytes/state)."""

    FIELDS = (("parent", np.int32), ("wait", np.int32), ("subset", np.int16), ("var", np.int16),
              ("travel", np.int32))

    def __init__(self) -> None:
        self.n = 0
        self.cap = 1024
        self.a = {k: np.empty(self.cap, dtype=t) for k, t in self.FIELDS}

    @property
    def nbytes(self) -> int:
        return self.n * sum(np.dtype(t).itemsize for _, t in self.FIELDS)

    def append(self, **cols: np.ndarray) -> np.ndarray:
        m = len(next(iter(cols.values())))
        if self.n + m > self.cap:
            while self.n + m > self.cap:
                self.cap *= 2
            for k, t in self.FIELDS:
                arr = np.empty(self.cap, dtype=t)
                arr[:self.n] = self.a[k][:self.n]
                self.a[k] = arr
        for k, _ in self.FIELDS:
            self.a[k][self.n:self.n + m] = cols[k]
        ids = np.arange(self.n, self.n + m)
        self.n += m
        return ids

    def get(self, i: int) -> dict[str, int]:
        return {k: int(self.a[k][i]) for k, _ in self.FIELDS}


# --------------------------------------------------------------------------- the explorer


@dataclass
class Options:
    max_faults: int = 1
    timing: str = "exhaustive"  # fault instants: every resolution step (the only sound choice)
    properties: tuple[str, ...] = PROPERTIES
    max_states: int | None = None
    max_memory: int | None = None  # bytes (stored states + frontier)
    chunk: int = 16384  # frontier columns expanded at once
    reduce: bool = True  # prune dormant faults and faults on unread sensors (sound; off for testing)
    lazy_travel: bool = True  # choose each arrival when it happens, not the travel time at issue (same runs)
    progress: Callable[[Stats, int], None] | None = None  # (stats, frontier size)


class Explorer:
    """Breadth-first exploration of a Plan under up to ``max_faults`` faults."""

    def __init__(self, plan: Plan, options: Options | None = None,
                 invariants: list[Any] | None = None):
        self.plan = p = plan
        self.opt = options or Options()
        self.invariants = invariants or []
        if self.opt.timing != "exhaustive":
            raise VerifyError(f"unknown timing '{self.opt.timing}': only 'exhaustive' (every resolution step) "
                              "is sound; the 'events' abstraction missed runs and was removed")
        bad = [f"{p.equipment[e]}" for e in range(p.E) if (p.tmin[e][p.tmin[e] >= 0] == 0).any()]
        if bad:
            raise VerifyError(f"travel with a zero minimum time ({', '.join(bad)}): the verifier needs "
                              "every travel to take at least one resolution step")
        if int(np.max(np.abs(p.step_at), initial=0)) > 2**30 or p.window_close > 2**30:
            raise VerifyError("count longer than 12 days: times no longer fit the verifier's frontier")
        self.F = len(p.faults)
        self.move_steps = [j for j in range(len(p.step_at)) if p.step_kind[j] == StepKind.MOVE]
        # lazy travel: a move is "in transit" over its window [LO, ARRIVE] of candidate arrival
        # instants; LO is a verifier-only row per equipment, after the Plan's rows
        self.moved_eq = sorted({int(p.step_target[j]) for j in self.move_steps})
        self.lazy = bool(self.opt.lazy_travel) and len(self.moved_eq) <= 31
        self.LO = p.layout.size
        self.D = p.layout.size + (p.E if self.lazy else 0)
        self._build_fault_tables()
        self.id_rows = self._identity_rows()
        ids = set(self.id_rows.tolist())
        big = {int(r) for r in range(p.OKS, p.OKS + p.C)} | {int(r) for r in range(p.STIME, p.STIME + p.S)}
        self._big_in_id = np.array([i for i, r in enumerate(self.id_rows) if int(r) in big], dtype=np.int64)
        # rows left out of the frontier: constant (from a canonical count-start state) or derived
        T0 = self._initial(1)
        self.canonicalise(T0)
        self._template = T0
        self._derived_sval = [(s_, int(p.s_equip[s_])) for s_ in range(p.S) if p.SVAL + s_ not in ids]
        self._derived_stime = [s_ for s_ in range(p.S) if p.STIME + s_ not in ids]
        self.fp = Fingerprinter(self.id_rows)
        self.visited = VisitedSet()
        self.store = Store()
        self.stats = Stats()
        self._frontier_bytes = 0
        self._ut: dict[tuple[int, int], np.ndarray] = {}

    def _initial(self, n: int) -> np.ndarray:
        """The count-start state with the verifier's extra rows (LO of each equipment: 0)."""
        S = semantics.initial_state(self.plan, n)
        if self.D > S.shape[0]:
            S = np.concatenate([S, np.zeros((self.D - S.shape[0], n), dtype=np.int64)])
        return S

    def _identity_rows(self) -> np.ndarray:
        """Rows that identify a settled state; the others are constant or follow from these.

        Left out: rows of equipment that is never commanded and has no fault modes (constant),
        fault rows of fault-free components (zero), the reported value of a fault-free sensor
        (its equipment's position) and the sample time of a sensor that cannot drop out (now),
        the criteria's effective states (recomputed at every instant), hold count and time
        (statistics).
        """
        p = self.plan
        # every member of a common-cause fault is a faulty component (issue 11)
        f_of = lambda kind, c: [f for f in range(self.F) if p.f_kind[f] == kind and c in p.members(f)  # noqa: E731
                                and self.f_static[f]]
        skip = {p.NHOLDS, p.HOLDTIME} | set(range(p.CST, p.CST + p.C))
        moved = {int(p.step_target[j]) for j in range(len(p.step_at)) if p.step_kind[j] == StepKind.MOVE}
        for e in range(p.E):
            if not f_of(0, e):
                skip.add(p.EFAULT + e)
                if e not in moved:
                    skip |= {p.POS + e, p.DEST + e, p.ARRIVE + e}
        for s_ in range(p.S):
            fs = f_of(1, s_)
            effs = {int(p.f_effect[f]) for f in fs}
            if not fs:
                skip |= {p.SFAULT + s_, p.SVAL + s_}
            if Effect.READS_WRONG not in effs:
                skip.add(p.SWRONG + s_)
            if Effect.DROPOUT not in effs:
                skip.add(p.STIME + s_)
        rows = [r for r in range(p.layout.size) if r not in skip]
        if self.lazy:
            rows += [self.LO + e for e in self.moved_eq]
        return np.array(rows, dtype=np.int64)

    # ---- fault tables -----------------------------------------------------------------
    def _build_fault_tables(self) -> None:
        p = self.plan
        F = self.F
        used = np.zeros(p.S, dtype=bool)  # sensors some criterion reads
        for e in p.c_expr:
            for t in _terms(e):
                used[t.sensors] = True
        # every component a fault marks: its own, or each member of a common-cause group
        self.f_mem = [[int(c) for c in p.members(f)] for f in range(F)]
        self.f_rows = [[(p.SFAULT if p.f_kind[f] else p.EFAULT) + c for c in self.f_mem[f]] for f in range(F)]
        # A fault on sensors no criterion reads can never change a decision: not explored (a
        # common-cause fault is explored when any member is read).
        self.f_static = np.array([not (self.opt.reduce and p.f_kind[f] == 1
                                       and not any(used[c] for c in self.f_mem[f]))
                                  for f in range(F)], dtype=bool)
        self.f_values: list[list[int | None]] = []
        for f in range(F):
            if p.f_kind[f] == 1 and p.f_effect[f] == Effect.READS_WRONG and p.f_to[f] < 0:
                dom = int(p.transit[p.s_equip[p.f_comp[f]]]) + 1
                self.f_values.append(list(range(dom)))
            else:
                self.f_values.append([None])
        # injection order within one instant: sensor faults first (a stuck switch keeps the
        # reading from before a simultaneous spontaneous move), then equipment faults
        order = sorted(range(F), key=lambda f: (0 if p.f_kind[f] else 1, f))
        self.inject_order = order
        K = self.K = min(self.opt.max_faults, F)
        # at most one fault mode per component: a common-cause fault occupies every member
        comps = [{(int(p.f_kind[f]), c) for c in self.f_mem[f]} for f in range(F)]
        subsets: list[tuple[int, ...]] = []
        cand = [f for f in order if self.f_static[f]]
        for k in range(1, K + 1):
            for sub in itertools.combinations(cand, k):
                if len(set().union(*(comps[f] for f in sub))) == sum(len(comps[f]) for f in sub):
                    subsets.append(tuple(sub))
        self.subsets = subsets
        ns = len(subsets)
        self.sub_members = np.zeros((ns + 1, F), dtype=bool)  # last row: the empty subset
        self.sub_size = np.zeros(ns + 1, dtype=np.int64)
        self.sub_nvar = np.ones(ns + 1, dtype=np.int64)
        # time-sensitive effects act at once and their instant matters; the others are
        # invisible until the equipment moves or arrives, or the sensor's truth changes
        ts = (Effect.SPONTANEOUS, Effect.DROPOUT, Effect.READS_WRONG)
        self.f_ts = np.array([int(p.f_effect[f]) in ts for f in range(F)], dtype=bool)
        for i, sub in enumerate(subsets):
            self.sub_members[i, list(sub)] = True
            self.sub_size[i] = len(sub)
            self.sub_nvar[i] = int(np.prod([len(self.f_values[f]) for f in sub]))
        self.sub_has_ts = (self.sub_members & self.f_ts[None, :]).any(axis=1)
        # two groups of subsets: only unobservable members (tried with the next event, when
        # each member would act) and with a time-sensitive member (also between events);
        # matrices are members plus a one-hot of the subset's size (for the fault budget)
        self.single_sub = np.full(F, -1, dtype=np.int64)  # subset index of {f}, -1 if not explored
        for i, sub in enumerate(subsets):
            if len(sub) == 1:
                self.single_sub[sub[0]] = i
        self._groups = []
        for pure in (True, False):
            idx = np.array([i for i in range(ns) if self.sub_has_ts[i] != pure], dtype=np.int64)
            M = np.zeros((len(idx), F + K), dtype=np.float32)
            for r, i in enumerate(idx):
                M[r, :F] = self.sub_members[i]
                M[r, F + self.sub_size[i] - 1] = 1
            self._groups.append((idx, M, pure))
        if ns > 32000:
            raise VerifyError(f"{ns} fault combinations for K={self.opt.max_faults}: lower --max-faults")

    def sub_values(self, s: int, var: int) -> list[tuple[int, int | None]]:
        """Subset ``s`` with value variant ``var`` -> [(fault, value or None)] in inject order."""
        if s < 0:
            return []
        out = []
        for f in self.subsets[s]:
            vals = self.f_values[f]
            out.append((f, vals[var % len(vals)]))
            var //= len(vals)
        return out

    # ---- canonical form -----------------------------------------------------------------
    def canonicalise(self, S: np.ndarray) -> None:
        """Normalise fields whose exact value can no longer influence the future (in place):
        :func:`semantics.canonicalise` with the statistics cleared, and for lazy travel the
        travel window's first candidate still ahead."""
        p = self.plan
        semantics.canonicalise(p, S[:p.layout.size], statistics=True)
        if p.E and self.lazy and S.shape[0] >= self.D:
            T = S[p.T]
            arr = S[p.ARRIVE:p.ARRIVE + p.E]
            # the window's first candidate still ahead (candidates: LO + k*res and ARRIVE)
            lo = S[self.LO:self.LO + p.E]
            k0 = np.where(lo > T[None, :], 0, (T[None, :] - lo) // p.res + 1)
            lo[:] = np.where(arr < 0, 0, np.minimum(lo + k0 * p.res, arr))

    # ---- properties -----------------------------------------------------------------------
    def check(self, S: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Per column: index of the first violated property (-1 none), with its labels."""
        p = self.plan
        n = S.shape[1]
        labels: list[str] = []
        bad = np.full(n, -1, dtype=np.int64)

        def mark(mask: np.ndarray, label: str) -> None:
            labels.append(label)
            bad[(bad < 0) & mask] = len(labels) - 1

        props = self.opt.properties
        if "plume" in props:
            launched = S[p.MODE] == Mode.LAUNCHED
            for r in range(len(p.plume)):
                mark(launched & ((S[p.HAZ] >> r) & 1 == 1), f"plume:{p.plume[r]}")
        if "personnel" in props:
            for z in range(len(p.zones)):
                mark((S[p.PHAZ] >> z) & 1 == 1, f"personnel:{p.zones[z]}")
        if "window" in props:
            mark((S[p.IGN_T] >= 0) & (S[p.IGN_T] > p.window_close), "window:ignition after the window")
        if "invariants" in props:
            for inv in self.invariants:
                mark(~inv.evaluate(p, S), f"invariants:{inv.name}")
        return bad, labels

    # ---- successor generation -------------------------------------------------------------
    def expand(self, F: np.ndarray, tn: np.ndarray | None = None, root: bool = False) -> Iterator[Block]:
        """All successors of the settled states ``F`` (or of the unsettled initial state).

        ``tn`` is ``next_event(F)`` (computed when not given). Yields blocks of successor
        states (not yet canonical) with, per successor, the column of its parent in ``F``,
        the wait choice, the fault subset and value variant, and the travel combination;
        blocks are computed lazily, so memory stays bounded however many travel times a
        chunk's moves have.
        """
        if self.lazy:
            yield from self._expand_lazy(F, tn, root)
            return
        p = self.plan
        n = F.shape[1]
        t = F[p.T]
        if root:
            tn = t.copy()
        elif tn is None:
            tn = semantics.next_event(p, F)
        zeros = np.zeros(n, dtype=np.int64)
        base = _Req(np.arange(n), zeros, np.full(n, -1, dtype=np.int64), zeros)
        blocks, info = self._run(F, t, tn, base, root, want_info=True)
        yield from blocks
        if not self.subsets:
            return
        # fault requests: a column may have thousands of grid instants before its next event,
        # each with every fault set, so columns are taken in groups of bounded request count
        # and the requests settled in batches (memory stays bounded whatever the grid)
        waits = np.zeros(n, dtype=np.int64) if root else np.maximum((tn - t - 1) // self.plan.res, 0)
        est = (1 + waits) * len(self.subsets)
        group = np.cumsum(est) // REQUEST_GROUP
        for gi in np.unique(group):
            cols = np.flatnonzero(group == gi)
            sub_info = {k: v[:, cols] for k, v in info.items()}
            req = self._fault_requests(F[:, cols], t[cols], tn[cols], sub_info, root)
            req.col = cols[req.col]
            for a in range(0, len(req.col), REQUESTS):
                sl = slice(a, a + REQUESTS)
                yield from self._run(F, t, tn, _Req(req.col[sl], req.wait[sl], req.sub[sl], req.var[sl]), root)[0]

    # ---- lazy travel -------------------------------------------------------------------------
    def _expand_lazy(self, F: np.ndarray, tn: np.ndarray | None, root: bool) -> Iterator[Block]:
        """:meth:`expand` with lazy travel: the successors are every *time choice* (an instant
        and the set of travelling equipment that arrives then, :meth:`_time_choices`), without
        a fault where the choice is an event, and with every allowed fault set.

        Columns are taken in groups of bounded time-choice count (with several pieces of
        equipment in transit a node has up to 2^n arriving sets at each candidate instant),
        and only the few rows the fault pre-filter needs are kept of the fault-free successors."""
        p = self.plan
        t = F[p.T]
        if root:
            tn = t.copy()
        elif tn is None:
            tn = semantics.next_event(p, F)
        n = F.shape[1]
        if root:
            group = np.zeros(n, dtype=np.int64)
        else:
            est = 1 + np.maximum((tn - t - 1) // p.res, 0)
            npend = np.zeros(n, dtype=np.int64)
            for e in self.moved_eq:
                moving = F[p.ARRIVE + e] >= 0
                est += np.where(moving, (tn - t) // p.res + 1, 0)
                npend += moving
            est *= np.left_shift(1, np.minimum(npend, 20))
            group = np.cumsum(est) // TIME_CHOICES
        for g in np.unique(group):
            cols = np.flatnonzero(group == g)
            yield from self._expand_lazy_group(F, t, tn, root, cols)

    def _expand_lazy_group(self, F: np.ndarray, t: np.ndarray, tn: np.ndarray, root: bool,
                           cols: np.ndarray) -> Iterator[Block]:
        tc_col, tc_wait, tc_arr, tc_event = self._time_choices(F[:, cols], t[cols], tn[cols], root)
        tc_col = cols[tc_col]
        ev = np.flatnonzero(tc_event)
        nb = len(ev)
        base = _Req(tc_col[ev], tc_wait[ev], np.full(nb, -1, dtype=np.int64), np.zeros(nb, dtype=np.int64),
                    tc_arr[ev])
        infos: list[dict[str, np.ndarray]] = []
        for a in range(0, nb, REQUESTS):
            blocks, info = self._run(F, t, tn, base.take(slice(a, a + REQUESTS)), root, want_info=True)
            yield from blocks
            if self.subsets:  # copies of the few rows needed (not views that keep each batch alive)
                infos.append({"cmd": info["cmd"].copy(), "arrived": info["arrived"].copy(),
                              "pos_after": info["pos_after"].astype(np.int16)})
        if not self.subsets:
            return
        info = {k: np.concatenate([i[k] for i in infos], axis=1) for k in infos[0]} if infos else {}
        del infos
        info_of = np.full(len(tc_col), -1, dtype=np.int64)
        info_of[ev] = np.arange(nb)
        per_row = max(REQUEST_GROUP // max(len(self.subsets), 1), 1)
        for a in range(0, len(tc_col), per_row):
            sl = slice(a, a + per_row)
            req = self._fault_requests_lazy(F, tc_col[sl], tc_wait[sl], tc_arr[sl], tc_event[sl], info_of[sl], info)
            for b in range(0, len(req), REQUESTS):
                yield from self._run(F, t, tn, req.take(slice(b, b + REQUESTS)), root)[0]

    def _time_choices(self, F: np.ndarray, t: np.ndarray, tn: np.ndarray, root: bool
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every (column, instant, arriving set) the search may move to from the nodes ``F``.

        Instants: the next event ``tn``; every grid instant ``t + k*res < tn`` (for faults);
        every candidate arrival instant before ``tn`` of a travelling equipment (``LO + k*res``
        up to its latest arrival, the ARRIVE row). Arriving sets: any subset of the equipment
        for which the instant is a candidate, always including the equipment whose latest
        arrival it is. A choice is an *event* when it is ``tn`` or something arrives; the
        others (grid instants where nothing arrives) are only taken with a fault.
        Returns (column, wait code as in :class:`_Req`, arriving bitmask, event).
        """
        p = self.plan
        res = p.res
        n = F.shape[1]
        cols = np.arange(n)
        if root:
            z = np.zeros(n, dtype=np.int64)
            return cols, z, z.copy(), np.ones(n, dtype=bool)
        # Instants that are no event are taken only with a fault: none where no fault can be
        # added (K reached, or no fault set at all), so they are not even enumerated there.
        room = (self.opt.max_faults - _count_active(p, F) >= 1) if self.subsets else np.zeros(n, dtype=bool)
        # instants where something may arrive, and tn: the arriving sets are enumerated there
        pc, px = [cols], [tn]
        for e in self.moved_eq:
            hi, lo = F[p.ARRIVE + e], F[self.LO + e]
            k0 = np.where(lo > t, 0, (t - lo) // res + 1)
            first = lo + k0 * res
            cnt = np.where((hi >= 0) & (first < tn), (tn - 1 - first) // res + 1, 0)
            if not cnt.any():
                continue
            r2 = np.repeat(cols, cnt)
            k2 = np.arange(len(r2)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            pc.append(r2)
            px.append(first[r2] + k2 * res)
        c, x = np.concatenate(pc), np.concatenate(px)
        if len(pc) > 1:
            o = np.lexsort((x, c))
            c, x = c[o], x[o]
            d = np.ones(len(c), dtype=bool)
            d[1:] = (c[1:] != c[:-1]) | (x[1:] != x[:-1])
            c, x = c[d], x[d]
        nm = len(self.moved_eq)
        free = np.zeros((nm, len(c)), dtype=bool)
        need = np.zeros(len(c), dtype=np.int64)
        for i, e in enumerate(self.moved_eq):
            hi, lo = F[p.ARRIVE + e, c], F[self.LO + e, c]
            moving = hi >= 0
            elig = moving & (x >= lo) & (x <= hi) & (((x - lo) % res == 0) | (x == hi))
            must = moving & (x == hi)
            free[i] = elig & ~must
            need |= np.where(must, 1 << i, 0)
        nfree = free.sum(axis=0)
        cnt = np.left_shift(1, nfree)
        rep = np.repeat(np.arange(len(c)), cnt)
        m = np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        arr = need[rep].copy()
        bit = np.zeros(len(rep), dtype=np.int64)
        for i in range(nm):
            fi = free[i][rep]
            arr |= np.where(fi & (((m >> bit) & 1) == 1), 1 << i, 0)
            bit += fi
        C, X = c[rep], x[rep]
        T, TN = t[C], tn[C]
        event = (X == TN) | (arr != 0)
        ongrid = ((X - T) % res == 0) & (X < TN)
        # an off-grid instant where nothing arrives is no choice; nor is a grid one without room
        keep = event | (ongrid & room[C])
        C, X, arr, event, ongrid, T, TN = C[keep], X[keep], arr[keep], event[keep], ongrid[keep], T[keep], TN[keep]
        wait = np.where(X == TN, 0, np.where(ongrid, (X - T) // res, -(X - T)))
        # the other grid instants before tn: nothing arrives there (no candidate), faults only
        kmax = np.where(room, np.maximum((tn - t - 1) // res, 0), 0)
        off = np.cumsum(kmax) - kmax
        gmask = np.ones(int(kmax.sum()), dtype=bool)
        g = ongrid & (X > T) & room[C]  # (a column without room enumerates no grid instants)
        gmask[off[C[g]] + (X[g] - T[g]) // res - 1] = False  # instants already enumerated above
        gr = np.repeat(cols, kmax)
        gk = np.arange(len(gr)) - off[gr] + 1
        gr, gk = gr[gmask], gk[gmask]
        z = np.zeros(len(gr), dtype=np.int64)
        return (np.concatenate([C, gr]), np.concatenate([wait, gk]), np.concatenate([arr, z]),
                np.concatenate([event, np.zeros(len(gr), dtype=bool)]))

    def _fault_requests_lazy(self, F: np.ndarray, col: np.ndarray, wait: np.ndarray, arr: np.ndarray,
                             event: np.ndarray, info_of: np.ndarray, info: dict[str, np.ndarray]) -> _Req:
        """:meth:`_fault_requests` over time choices: at an event every allowed fault set (the
        dormant-looking ones pre-filtered on the fault-free successor of the same choice), at
        a grid instant where nothing arrives only sets with a time-sensitive member."""
        p = self.plan
        n = len(col)
        if n == 0:
            return _Req(*(np.zeros(0, dtype=np.int64) for _ in range(4)))
        # per parent column: what the state alone decides (busy components, the budget, the
        # relevance that does not depend on the instant's successor)
        ucol, inv = np.unique(col, return_inverse=True)
        Fu = np.take(F, ucol, axis=1)
        blocked_u = np.zeros((self.F, len(ucol)), dtype=bool)
        state_rel_u = np.zeros((self.F, len(ucol)), dtype=bool)
        for f in range(self.F):
            blocked_u[f] = np.logical_or.reduce([Fu[row] != 0 for row in self.f_rows[f]])
            eff = int(p.f_effect[f])
            if p.f_kind[f] == 0 and eff in (Effect.JAM, Effect.SPONTANEOUS):
                for c in self.f_mem[f]:
                    moving = Fu[p.ARRIVE + c] >= 0
                    state_rel_u[f] |= moving if eff == Effect.JAM else moving | (Fu[p.POS + c] != p.f_to[f])
        cap = (self.opt.max_faults - _count_active(p, Fu))[inv]
        blocked = blocked_u[:, inv]
        gi = np.where(info_of >= 0, info_of, 0)
        rel = np.ones((self.F, n), dtype=bool)
        for f in range(self.F):
            eff = int(p.f_effect[f])
            if p.f_kind[f] == 0 and eff in (Effect.JAM, Effect.SLOW, Effect.WRONG_POSITION, Effect.SPONTANEOUS):
                r_ = state_rel_u[f][inv]
                for c in self.f_mem[f]:
                    if eff in (Effect.JAM, Effect.SLOW):
                        r_ = r_ | (info["cmd"][c][gi] & event)
                    elif eff == Effect.WRONG_POSITION:
                        r_ = r_ | (info["arrived"][c][gi] & event)
                rel[f] = r_
            elif p.f_kind[f] == 1 and eff == Effect.STUCK:
                r_ = np.zeros(n, dtype=bool)
                for c in self.f_mem[f]:
                    r_ |= info["pos_after"][p.s_equip[c]][gi] != Fu[p.SVAL + c][inv]
                rel[f] = r_
        if not self.opt.reduce:
            rel[:] = True
        anytime = event | (not self.opt.reduce)  # where sets without a time-sensitive member go
        rows, subs = [], []
        one = np.flatnonzero(cap == 1)
        if len(one):
            ok = (~blocked[:, one] & rel[:, one] & (self.single_sub[:, None] >= 0)
                  & (self.f_ts[:, None] | anytime[None, one]))
            fi, ci = np.nonzero(ok)
            rows.append(one[ci])
            subs.append(self.single_sub[fi])
        more = np.flatnonzero(cap >= 2)
        if len(more):
            too_many = np.stack([cap[more] < k for k in range(1, self.K + 1)])
            for idx, M, pure in self._groups:
                if not len(idx):
                    continue
                sel = more[anytime[more]] if pure else more
                if not len(sel):
                    continue
                tm = too_many[:, np.searchsorted(more, sel)]
                bad = (blocked | (~rel if pure else (~rel & self.f_ts[:, None])))[:, sel]
                W = np.concatenate([bad, tm]).astype(np.float32)
                si, ci = np.nonzero((M @ W) == 0)
                rows.append(sel[ci])
                subs.append(idx[si])
        if not rows:
            return _Req(*(np.zeros(0, dtype=np.int64) for _ in range(4)))
        sub, var, (row,) = _variants(np.concatenate(subs).astype(np.int64), self.sub_nvar,
                                     np.concatenate(rows))
        return _Req(col[row], wait[row], sub, var, arr[row])

    def _started(self, A: np.ndarray, Q: np.ndarray, issued: np.ndarray, ignored: np.ndarray
                 ) -> list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
        """Moves that started at this instant: (step, equipment, columns, from, slow).

        ``A`` is the state at the instant after its arrivals (before the sequencer acted),
        ``Q`` the settled state. A command to where the equipment already goes changes nothing
        and is not a start."""
        p = self.plan
        out = []
        for j in self.move_steps:
            isj, igj = issued[j], ignored[j]
            if not isj.any():
                continue
            e, to = int(p.step_target[j]), int(p.step_to[j])
            pred, slow = self._predicted_arrival(A, e, to, np.full(A.shape[1], 0.5))
            was = (A[p.ARRIVE + e] >= 0) & (A[p.DEST + e] == to)
            started = (isj & ~igj & ~was & (Q[p.POS + e] == p.transit[e]) & (Q[p.DEST + e] == to)
                       & (Q[p.ARRIVE + e] == pred))
            odd = isj & ~igj & ~started & ~was & (Q[p.ARRIVE + e] >= 0) & (Q[p.DEST + e] == to)
            if odd.any():
                raise VerifyError(f"step '{p.steps[j]}': two moves of {p.equipment[e]} at one instant "
                                  "are not supported by the verifier")
            cols = np.flatnonzero(started)
            if len(cols):
                out.append((j, e, cols, np.minimum(A[p.POS + e, cols], p.transit[e]), slow[cols]))
        return out

    def _open_windows(self, F: np.ndarray, t: np.ndarray, tn: np.ndarray, r: _Req, root: bool,
                      P: np.ndarray, issued: np.ndarray, ignored: np.ndarray) -> None:
        """Lazy travel: every move started now is in transit over its window of arrival
        instants, [now + min, now + max] (a slow move: its one arrival, max + delay); the
        ARRIVE row holds the latest arrival (which ``next_event`` wakes at), LO the earliest."""
        p = self.plan
        cand = np.zeros(P.shape[1], dtype=bool)
        for j in self.move_steps:
            e = int(p.step_target[j])
            cand |= issued[j] & ~ignored[j] & (P[p.POS + e] == p.transit[e])
        if not cand.any():
            return
        ci = np.flatnonzero(cand)
        A = self._prepare(F, t, tn, r.take(ci), root)
        plant.arrivals(p, A)
        Pc = np.take(P, ci, axis=1)
        for j, e, cols, frm, slow in self._started(A, Pc, issued[:, ci], ignored[:, ci]):
            to = int(p.step_to[j])
            T = A[p.T, cols]
            lo = np.where(slow, Pc[p.ARRIVE + e, cols], T + p.tmin[e, frm, to])
            hi = np.where(slow, Pc[p.ARRIVE + e, cols], T + p.tmax[e, frm, to])
            P[self.LO + e, ci[cols]] = lo
            P[p.ARRIVE + e, ci[cols]] = hi

    def _fault_requests(self, F: np.ndarray, t: np.ndarray, tn: np.ndarray, info: dict[str, np.ndarray],
                        root: bool) -> _Req:
        """Which fault subsets to inject where, after cheap relevance pre-filters.

        A fault whose injection is not observable at the instant (jam, wrong end position,
        stuck) only matters at the instant it changes something: a move of its equipment is
        issued or under way, its equipment arrives, its sensor's truth changes. Those are
        read from the fault-free successor of the same node (``info``); a subset with a
        time-sensitive member (spontaneous, dropout, reads_wrong) is always tried, and then
        :meth:`_not_dormant` decides exactly after settling.
        """
        p = self.plan
        n = F.shape[1]
        rel = np.ones((self.F, n), dtype=bool)
        blocked = np.zeros((self.F, n), dtype=bool)
        for f in range(self.F):
            # a common-cause fault needs every member free, and is relevant when it is
            # relevant for any member
            blocked[f] = np.logical_or.reduce([F[row] != 0 for row in self.f_rows[f]])
            eff = int(p.f_effect[f])
            if p.f_kind[f] == 0 and eff in (Effect.JAM, Effect.SLOW, Effect.WRONG_POSITION, Effect.SPONTANEOUS):
                rel[f] = False
                for c in self.f_mem[f]:
                    moving = F[p.ARRIVE + c] >= 0
                    if eff == Effect.JAM:
                        rel[f] |= moving | info["cmd"][c]
                    elif eff == Effect.SLOW:  # acts only on a move commanded after it strikes
                        rel[f] |= info["cmd"][c]
                    elif eff == Effect.WRONG_POSITION:
                        rel[f] |= info["arrived"][c]
                    else:
                        rel[f] |= moving | (F[p.POS + c] != p.f_to[f])
            elif p.f_kind[f] == 1 and eff == Effect.STUCK:
                rel[f] = False
                for c in self.f_mem[f]:
                    rel[f] |= info["pos_after"][p.s_equip[c]] != F[p.SVAL + c]
        if not self.opt.reduce:
            rel[:] = True
        cap = self.opt.max_faults - _count_active(p, F)
        cols, waits, subs = [], [], []
        kmax = None
        if not root:
            kmax = np.maximum((tn - t - 1) // p.res, 0)

        def add(si: np.ndarray, ci: np.ndarray, between: np.ndarray) -> None:
            """Requests (subset si, column ci) with the next event, and between events where
            ``between`` (per request) allows it."""
            cols.append(ci)
            waits.append(np.zeros(len(ci), dtype=np.int64))
            subs.append(si)
            if kmax is not None:
                km = np.where(between, kmax[ci], 0)
                sel = km > 0
                ci, si, km = ci[sel], si[sel], km[sel]
                rep = np.repeat(np.arange(len(ci)), km)
                kk = np.arange(len(rep)) - np.repeat(np.cumsum(km) - km, km) + 1
                cols.append(ci[rep])
                waits.append(kk)
                subs.append(si[rep])

        # budget for one more fault: single faults, read straight off the masks
        one = np.flatnonzero(cap == 1)
        if len(one):
            ok = ~blocked[:, one] & rel[:, one] & (self.single_sub[:, None] >= 0)
            fi, ci = np.nonzero(ok)
            add(self.single_sub[fi], one[ci], self.f_ts[fi] | (not self.opt.reduce))
        # budget for more: one matrix product per group counts, per (subset, column), the
        # members that are blocked (component busy) or not relevant, plus 1 if the subset
        # exceeds the budget
        more = np.flatnonzero(cap >= 2)
        if len(more):
            too_many = np.stack([cap[more] < k for k in range(1, self.K + 1)])
            for idx, M, pure in self._groups:
                if not len(idx):
                    continue
                bad = (blocked | (~rel if pure else (~rel & self.f_ts[:, None])))[:, more]
                W = np.concatenate([bad, too_many]).astype(np.float32)
                si, ci = np.nonzero((M @ W) == 0)
                add(idx[si], more[ci], np.full(len(si), (not pure) or (not self.opt.reduce)))
        if not cols:
            return _Req(*(np.zeros(0, dtype=np.int64) for _ in range(4)))
        sub, var, (col, wait) = _variants(np.concatenate(subs).astype(np.int64), self.sub_nvar,
                                          np.concatenate(cols), np.concatenate(waits))
        return _Req(col, wait, sub, var)

    def _prepare(self, F: np.ndarray, t: np.ndarray, tn: np.ndarray, r: _Req, root: bool) -> np.ndarray:
        """Parent columns moved to their chosen instant with their faults injected (unsettled)."""
        p = self.plan
        P = np.take(F, r.col, axis=1)
        if not root:
            x = np.where(r.wait == 0, tn[r.col], np.where(r.wait > 0, t[r.col] + r.wait * p.res, t[r.col] - r.wait))
            semantics.advance_to(p, P, x)
            if self.lazy and r.arr.any():  # the chosen arrivals happen now (settled by plant.arrivals)
                for i, e in enumerate(self.moved_eq):
                    m = (r.arr >> i) & 1 == 1
                    if m.any():
                        P[p.ARRIVE + e] = np.where(m, P[p.T], P[p.ARRIVE + e])
        has = r.sub >= 0
        if has.any():
            mem = self.sub_members[r.sub]
            mem[~has] = False
            for f in self.inject_order:
                m = mem[:, f]
                if not m.any():
                    continue
                vals = self.f_values[f]
                if len(vals) == 1:
                    plant.inject(p, P, f, m, vals[0])
                else:
                    vi = self._value_index(r.sub, r.var, f)
                    for j, v in enumerate(vals):
                        mj = m & (vi == j)
                        if mj.any():
                            plant.inject(p, P, f, mj, v)
        return P

    def _run(self, F: np.ndarray, t: np.ndarray, tn: np.ndarray, r: _Req, root: bool,
             want_info: bool = False) -> tuple[Iterable[Block], dict[str, np.ndarray]]:
        """Settle the requests ``r``; expand the travel choices of the moves they start."""
        p = self.plan
        P = self._prepare(F, t, tn, r, root)
        hap = semantics.settle(p, P)
        info: dict[str, np.ndarray] = {}
        if want_info:
            cmd = np.zeros((p.E, P.shape[1]), dtype=bool)
            for j in self.move_steps:
                cmd[p.step_target[j]] |= hap.issued[j]
            info = {"cmd": cmd, "arrived": hap.arrived, "pos_after": P[p.POS:p.POS + p.E]}
        issued, ignored = hap.issued, hap.ignored
        if self.opt.reduce and (r.sub >= 0).any():
            keep = self._not_dormant(F, P, hap, r)
            if not keep.all():
                idx = np.flatnonzero(keep)
                P = np.take(P, idx, axis=1)
                r = r.take(idx)
                issued, ignored = issued[:, idx], ignored[:, idx]
        if self.lazy:
            self._open_windows(F, t, tn, r, root, P, issued, ignored)
            return [Block(P, r, r.arr.copy(), issued)], info
        R = P.shape[1]
        # ---- travel: which moves started now, from where, with how many distinct times
        cand = np.zeros(R, dtype=bool)
        for j in self.move_steps:
            e = int(p.step_target[j])
            cand |= issued[j] & ~ignored[j] & (P[p.POS + e] == p.transit[e])
        if not cand.any():
            return [Block(P, r, np.zeros(R, dtype=np.int64), issued)], info
        ci = np.flatnonzero(cand)
        rc = _Req(r.col[ci], r.wait[ci], r.sub[ci], r.var[ci])
        P0 = self._prepare(F, t, tn, rc, root)
        A = P0.copy()
        plant.arrivals(p, A)
        Pc = np.take(P, ci, axis=1)
        radix: list[tuple[int, np.ndarray, np.ndarray]] = []
        ncomb = np.ones(len(ci), dtype=np.int64)
        for j in self.move_steps:
            isj, igj = issued[j, ci], ignored[j, ci]
            if not isj.any():
                continue
            e, to = int(p.step_target[j]), int(p.step_to[j])
            frm = A[p.POS + e]
            pred, slow = self._predicted_arrival(A, e, to, np.full(len(ci), 0.5))
            started = (isj & ~igj & (Pc[p.POS + e] == p.transit[e]) & (Pc[p.DEST + e] == to)
                       & (Pc[p.ARRIVE + e] == pred))
            odd = (isj & ~igj & ~started & (Pc[p.ARRIVE + e] >= 0) & (Pc[p.DEST + e] == to)
                   & ~((A[p.ARRIVE + e] >= 0) & (A[p.DEST + e] == to)))
            if odd.any():
                raise VerifyError(f"step '{p.steps[j]}': two moves of {p.equipment[e]} at one instant "
                                  "are not supported by the verifier")
            started &= ~slow  # a slow move has one travel time: the maximum plus the delay
            if not started.any():
                continue
            nopt = np.ones(len(ci), dtype=np.int64)
            for fv in np.unique(frm[started]):
                nopt[started & (frm == fv)] = len(self._utable(j, int(fv)))
            radix.append((j, nopt, frm))
            ncomb *= nopt
        multi = ncomb > 1
        if not multi.any():
            return [Block(P, r, np.zeros(R, dtype=np.int64), issued)], info
        blocks = []
        single = np.ones(R, dtype=bool)
        single[ci[multi]] = False
        if single.any():
            si = np.flatnonzero(single)
            blocks.append(Block(np.take(P, si, axis=1), _Req(r.col[si], r.wait[si], r.sub[si], r.var[si]),
                                np.zeros(len(si), dtype=np.int64), issued[:, si]))
        mi = np.flatnonzero(multi)
        return itertools.chain(blocks, self._travel_batches(P0, issued, r, ci, mi, ncomb, radix)), info

    def _travel_batches(self, P0: np.ndarray, issued: np.ndarray, r: _Req, ci: np.ndarray, mi: np.ndarray,
                        ncomb: np.ndarray, radix: list[tuple[int, np.ndarray, np.ndarray]]) -> Iterator[Block]:
        """Settle every travel-time combination of the requests ``ci[mi]``, in batches of at
        most BATCH successors (two tower halves at once are 181 x 181 combinations each)."""
        p = self.plan
        pieces: list[tuple[int, int, int]] = []  # (request in ci-space, first combination, count)
        for k in mi:
            for a in range(0, int(ncomb[k]), BATCH):
                pieces.append((int(k), a, min(BATCH, int(ncomb[k]) - a)))
        batch: list[tuple[int, int, int]] = []
        size = 0
        for i, piece in enumerate(pieces):
            batch.append(piece)
            size += piece[2]
            if size < BATCH and i + 1 < len(pieces):
                continue
            ks = np.array([b[0] for b in batch], dtype=np.int64)
            cnt = np.array([b[2] for b in batch], dtype=np.int64)
            rep = np.repeat(ks, cnt)
            comb = np.concatenate([np.arange(b[1], b[1] + b[2], dtype=np.int64) for b in batch])
            batch, size = [], 0
            tr_u = np.full((len(p.step_at), len(rep)), 0.5)
            rem = comb.copy()
            for j, nopt, frm in radix:
                nr = nopt[rep]
                digit = rem % nr
                rem //= nr
                fr = frm[rep]
                moved = nr > 1
                for fv in np.unique(fr[moved]):
                    sel = moved & (fr == fv)
                    tr_u[j, sel] = self._utable(j, int(fv))[digit[sel]]
            P2 = np.take(P0, rep, axis=1)
            hap2 = semantics.settle(p, P2, tr_u=tr_u)
            gi = ci[rep]
            if (hap2.issued != issued[:, gi]).any():
                raise VerifyError("a travel time changed what was issued at the same instant "
                                  "(zero-time arrivals are not supported)")
            yield Block(P2, _Req(r.col[gi], r.wait[gi], r.sub[gi], r.var[gi]), comb, hap2.issued)

    def _predicted_arrival(self, A: np.ndarray, e: int, to: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where a move of ``e`` to ``to`` issued now (state ``A``, arrivals done) would set its
        ARRIVE row with travel choice ``u``, as :func:`plant.command` computes it, and which
        columns have ``e`` slow (then the arrival is the declared maximum plus the delay)."""
        p = self.plan
        T = A[p.T]
        frm = A[p.POS + e]
        pred = T + plant.travel_time(p, e, frm, to, u)
        slow = plant.fault_effect(p, A[p.EFAULT + e]) == Effect.SLOW
        if slow.any():
            fr = np.minimum(frm, p.transit[e])
            delay = np.concatenate([[0], p.f_delay])[A[p.EFAULT + e]]
            pred = np.where(slow, T + p.tmax[e, fr, to] + delay, pred)
        return pred, slow

    def _utable(self, j: int, frm: int) -> np.ndarray:
        key = (j, frm)
        us = self._ut.get(key)
        if us is None:
            p = self.plan
            us = self._ut[key] = plant.travel_choices(p, int(p.step_target[j]), frm, int(p.step_to[j]))
        return us

    def _value_index(self, sub: np.ndarray, var: np.ndarray, f: int) -> np.ndarray:
        """Which of fault ``f``'s values each request injects (mixed radix over its subset)."""
        out = np.zeros(len(sub), dtype=np.int64)
        has = sub >= 0
        for s in np.unique(sub[has]):
            if not self.sub_members[s, f]:
                continue
            m = sub == s
            v = var[m].copy()
            for g in self.subsets[s]:
                d = len(self.f_values[g])
                if g == f:
                    out[m] = v % d
                    break
                v //= d
        return out

    def _not_dormant(self, F: np.ndarray, Q: np.ndarray, hap: semantics.Happenings, r: _Req) -> np.ndarray:
        """False where an injected fault has no effect yet and would act the same if injected later.

        Such a fault is *dormant*: a jam of idle equipment that is not commanded now, a wrong
        end position of equipment that does not arrive now, a spontaneous move to where the
        equipment already rests, a stuck sensor reading what is true anyway. The path that
        injects it at the instant it first acts is explored instead (same budget, same or
        fewer steps), so dropping these requests loses no behaviour and no shorter trace.
        """
        p = self.plan
        n = Q.shape[1]
        keep = np.ones(n, dtype=bool)
        has = r.sub >= 0
        mem = self.sub_members[r.sub]
        mem[~has] = False
        for f in range(self.F):
            m = mem[:, f]
            if not m.any() or self.f_ts[f] and p.f_effect[f] != Effect.SPONTANEOUS:
                continue
            eff = int(p.f_effect[f])
            # a common-cause fault is dormant only when it is dormant for every member
            dormant = np.ones(n, dtype=bool)
            for c in self.f_mem[f]:
                if p.f_kind[f] == 0:
                    idle = F[p.ARRIVE + c, r.col] < 0
                    steps = [j for j in self.move_steps if p.step_target[j] == c]
                    if eff == Effect.JAM:
                        ign = hap.ignored[steps].any(axis=0) if steps else np.zeros(n, dtype=bool)
                        dormant &= idle & ~ign
                    elif eff == Effect.WRONG_POSITION:
                        dormant &= ~hap.arrived[c]
                    elif eff == Effect.SLOW:
                        # acts on the next move commanded (not on one under way): dormant unless
                        # a move of the equipment is issued now and not refused
                        went = ((hap.issued[steps] & ~hap.ignored[steps]).any(axis=0) if steps
                                else np.zeros(n, dtype=bool))
                        dormant &= ~went
                    else:  # spontaneous
                        dormant &= idle & (F[p.POS + c, r.col] == p.f_to[f])
                else:  # stuck
                    dormant &= Q[p.SVAL + c] == Q[p.POS + int(p.s_equip[c])]
            keep &= ~(m & dormant)
        return keep

    # ---- the search ------------------------------------------------------------------------
    def run(self) -> VerifyResult:
        """Explore breadth-first until a violation, exhaustion, a bound, or Ctrl-C.

        When a level holds violations, the level is finished and the counterexample is chosen
        among them (all equally short): fewest faults, then the fault modes listed first in
        the faults file, then the property order of :data:`PROPERTIES`.
        """
        p = self.plan
        t0 = time.perf_counter()
        verdict, reason = "proved", ""
        found: list[tuple[tuple, Violation]] = []
        try:
            S0 = self._initial(1)
            frontier = self._level(self.expand(S0, root=True), np.array([-1], dtype=np.int64), found)
            self.stats.depth = 1
            # the chunk size adapts to the branching and carries over to the next level (a
            # fresh full-size first chunk of a level with thousands of successors per state
            # would pass any memory bound before it is checked)
            size = [min(self.opt.chunk, 1024)]
            while not found and frontier:
                nxt: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
                total = sum(c.shape[1] for c, _, _ in frontier)
                cur_bytes = sum(c.nbytes + i.nbytes + x.nbytes for c, i, x in frontier)
                for Fc, ids, tns in _chunks(frontier, size):
                    Fs = self._unpack(Fc)
                    before = self.stats.transitions
                    nxt.extend(self._level(self.expand(Fs, tns), ids, found))
                    # keep about REQUESTS successors per chunk (memory and cache friendly)
                    branching = max((self.stats.transitions - before) / max(Fs.shape[1], 1), 1.0)
                    size[0] = int(min(self.opt.chunk, max(64, REQUESTS / branching)))
                    self.stats.seconds = time.perf_counter() - t0
                    self._frontier_bytes = cur_bytes + sum(c.nbytes + i.nbytes + x.nbytes for c, i, x in nxt)
                    self.stats.peak_frontier_bytes = max(self.stats.peak_frontier_bytes,
                                                         self._frontier_bytes)
                    self.stats.stored_bytes = self.visited.nbytes + self.store.nbytes
                    if self.opt.progress:
                        self.opt.progress(self.stats, total)
                    bound = self._bound()
                    if bound:
                        raise _Bound(bound)
                frontier = [] if found else nxt
                if frontier:
                    self.stats.depth += 1
        except _Bound as b:
            verdict, reason = "bounded", str(b)
        except KeyboardInterrupt:
            verdict, reason = "interrupted", "stopped by Ctrl-C"
        self.stats.seconds = time.perf_counter() - t0
        self.stats.stored_bytes = self.visited.nbytes + self.store.nbytes
        res = VerifyResult(verdict, self.stats, self.opt.max_faults, p.res, self.opt.timing,
                           tuple(self.opt.properties), reason=reason)
        if found and verdict == "proved":
            found.sort(key=lambda kv: kv[0])
            violation = found[0][1]
            res.verdict = "violated"
            res.violation = violation
            res.trace = self.trace(violation.state_id)
            res.stats.depth = len(res.trace)
            res.also = sorted({f"{v.prop}:{v.detail}" for _, v in found} - {f"{violation.prop}:{violation.detail}"})
        return res

    def _bound(self) -> str:
        o = self.opt
        if o.max_states is not None and self.stats.states >= o.max_states:
            return f"state bound reached ({self.stats.states:,} states)"
        used = max(self.stats.stored_bytes + self._frontier_bytes, _rss())
        if o.max_memory is not None and used > o.max_memory:
            return f"memory bound reached ({used / 2**20:,.0f} MiB of {o.max_memory / 2**20:,.0f} MiB)"
        return ""

    def _level(self, blocks: list[Block], parent_ids: np.ndarray, found: list[tuple[tuple, Violation]]
               ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Check, deduplicate and store successor blocks; return the live ones as frontier.

        Violations are appended to ``found`` with their sort key (see :meth:`run`).
        """
        p = self.plan
        out = []
        for b in blocks:
            S = b.S
            self.stats.transitions += S.shape[1]
            if self.stats.depth and self.opt.max_memory is not None and _rss() > self.opt.max_memory:
                # one chunk can be large (checked once count start is expanded, so a bound
                # always reports what was reached)
                raise _Bound(f"memory bound reached ({_rss() / 2**20:,.0f} MiB resident of "
                             f"{self.opt.max_memory / 2**20:,.0f} MiB)")
            bad, labels = self.check(S)
            self.canonicalise(S)
            h1, h2 = self.fp(S)
            o = np.lexsort((h2, h1))
            d = np.ones(len(o), dtype=bool)
            d[1:] = (h1[o][1:] != h1[o][:-1]) | (h2[o][1:] != h2[o][:-1])
            uniq = o[d]  # sorted by fingerprint: binary searches walk the runs in order
            new = self.visited.add_new(h1[uniq], h2[uniq], presorted=True)
            keep = np.sort(uniq[new])
            if not len(keep):
                continue
            ids = self.store.append(parent=parent_ids[b.req.col[keep]], wait=b.req.wait[keep],
                                    subset=b.req.sub[keep], var=b.req.var[keep], travel=b.travel[keep])
            self.stats.states = self.store.n
            # work on the kept columns' few rows needed here; one gather of the identity rows
            # of the live ones makes the frontier
            nxt_all = semantics.next_event(p, S)
            nxt = nxt_all[keep]
            mode = S[p.MODE, keep]
            bad = bad[keep]
            final = (mode == Mode.LAUNCHED) | (mode == Mode.SCRUBBED) | (mode == Mode.ABORTED) | (nxt >= NEVER)
            self.stats.terminal += int(final.sum())
            nfault = None
            if "liveness" in self.opt.properties:
                nfault = _count_active(p, S)[keep]
                dead = final & (nfault == 0) & (mode != Mode.LAUNCHED) & (bad < 0)
                if dead.any():
                    labels.append("liveness:a fault-free count does not reach launch")
                    bad[dead] = len(labels) - 1
            if (bad >= 0).any():
                codes = np.concatenate([S[p.EFAULT:p.EFAULT + p.E], S[p.SFAULT:p.SFAULT + p.S]])[:, keep]
                for i in np.flatnonzero(bad >= 0)[:1000]:
                    prop, _, detail = labels[int(bad[i])].partition(":")
                    fl = tuple(sorted(int(c) - 1 for c in codes[:, i] if c))
                    key = (len(fl), fl, PROPERTIES.index(prop), int(bad[i]), int(ids[i]))
                    found.append((key, Violation(prop, detail, int(ids[i]))))
            if found:
                continue
            live = np.flatnonzero(~final)
            if len(live):
                out.append((self._pack(S, keep[live]), ids[live], nxt[live]))
        return out

    def _pack(self, S: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Frontier compression: columns ``cols``, identity rows only, as int32 (times fit;
        -NEVER marks a settled criterion or a stale sensor). :meth:`_unpack` rebuilds the rest."""
        P = np.empty((len(self.id_rows), len(cols)), dtype=np.int32)
        for i, r in enumerate(self.id_rows):
            P[i] = S[r].take(cols)
        big = self.id_rows[self._big_in_id]
        P[self._big_in_id] = np.clip(S[big][:, cols], _I32.min, _I32.max)
        return P

    def _unpack(self, P: np.ndarray) -> np.ndarray:
        p = self.plan
        S = np.empty((self.D, P.shape[1]), dtype=np.int64)
        S[:] = self._template
        S[self.id_rows] = P
        big = S[self.id_rows[self._big_in_id]]
        big[big == _I32.min] = -NEVER
        big[big == _I32.max] = NEVER
        S[self.id_rows[self._big_in_id]] = big
        for s_, e in self._derived_sval:
            S[p.SVAL + s_] = S[p.POS + e]
        for s_ in self._derived_stime:
            S[p.STIME + s_] = S[p.T]
        return S

    # ---- counterexamples -------------------------------------------------------------------
    def path(self, sid: int) -> list[dict[str, int]]:
        out = []
        while sid >= 0:
            rec = self.store.get(sid)
            out.append(rec)
            sid = rec["parent"]
        return out[::-1]

    def trace(self, sid: int) -> list[TraceStep]:
        """Re-execute the choices leading to state ``sid`` and describe each node."""
        p = self.plan
        S = self._initial(1)
        steps: list[TraceStep] = []
        lazy_starts: list[list[tuple[int, int, int, bool]]] = []  # per node: (step, equipment, from)
        for i, rec in enumerate(self.path(sid)):
            root = i == 0
            hit = None
            for b in self.expand(S, root=root):
                m = ((b.req.wait == rec["wait"]) & (b.req.sub == rec["subset"])
                     & (b.req.var == rec["var"]) & (b.travel == rec["travel"]))
                if m.any():
                    k = int(np.flatnonzero(m)[0])
                    hit = (b, k)
                    break
            if hit is None:
                raise RuntimeError("internal error: a stored choice could not be re-executed")
            b, k = hit
            S_next = b.S[:, k:k + 1].copy()
            if self.lazy:
                lazy_starts.append(self._starts_of(S, rec, root))
            steps.append(TraceStep(t=int(S_next[p.T, 0]), wait=rec["wait"],
                                   faults=self.sub_values(rec["subset"], rec["var"]),
                                   travel_u={} if self.lazy else self._travel_u_of(S, rec, root),
                                   issued=[int(j) for j in np.flatnonzero(b.issued[:, k])],
                                   state=S_next.copy()))
            self.canonicalise(S_next)
            S = S_next
        if self.lazy:
            self._lazy_travel_u(steps, [r["travel"] for r in self.path(sid)], lazy_starts)
        return steps

    def _reexecute(self, S: np.ndarray, rec: dict[str, int], root: bool, lazy: bool
                   ) -> tuple[np.ndarray, np.ndarray, semantics.Happenings]:
        """Re-run the step from node ``S`` recorded by ``rec`` (for a counterexample): returns the
        prepared state after its due arrivals, the settled state and what settling issued. Under
        lazy travel the record's travel field is the arrival choice, else the travel choice."""
        p = self.plan
        arr = (np.array([rec["travel"]]),) if lazy else ()
        r = _Req(np.array([0]), np.array([rec["wait"]]), np.array([rec["subset"]]), np.array([rec["var"]]),
                 *arr)
        t = S[p.T]
        tn = t.copy() if root else semantics.next_event(p, S)
        P0 = self._prepare(S, t, tn, r, root)
        Q = P0.copy()
        hap = semantics.settle(p, Q)
        A = P0.copy()
        plant.arrivals(p, A)
        return A, Q, hap

    def _starts_of(self, S: np.ndarray, rec: dict[str, int], root: bool) -> list[tuple[int, int, int, bool]]:
        """Lazy travel: the moves started at the node re-executed from ``S`` by ``rec``."""
        A, Q, hap = self._reexecute(S, rec, root, lazy=True)
        return [(j, e, int(frm[0]), bool(slow[0])) for j, e, _c, frm, slow
                in self._started(A, Q, hap.issued, hap.ignored)]

    def _lazy_travel_u(self, steps: list[TraceStep], arrs: list[int],
                       starts: list[list[tuple[int, int, int, bool]]]) -> None:
        """Translate the arrival instants chosen along a counterexample back into the travel
        choices the simulator takes at issue (``travel_u`` of the issuing node): a move that
        arrived at ``x`` took ``x - issue``; one that never arrived on the trace (interrupted by
        a jam, a spontaneous move or a new command, or still travelling at its end) takes its
        declared maximum, which lies after the interruption or the end."""
        p = self.plan
        open_: dict[int, tuple[int, int, int, int]] = {}  # equipment -> (node, step, from, issue time)

        def close(e: int, arrival: int | None) -> None:
            i, j, frm, s0 = open_.pop(e)
            to = int(p.step_to[j])
            us = self._utable(j, frm)
            times = plant.travel_time(p, e, np.full(len(us), frm), to, us)
            d = int(times[-1]) if arrival is None else arrival - s0
            hit = np.flatnonzero(times == d)
            if not len(hit):
                raise RuntimeError(f"internal error: arrival of {p.equipment[e]} after {d} ms is not a travel choice")
            steps[i].travel_u[j] = float(us[hit[0]])

        for i, st in enumerate(steps):
            S = st.state
            assert S is not None
            for b, e in enumerate(self.moved_eq):
                if e in open_ and (arrs[i] >> b) & 1:
                    close(e, st.t)
            for e in list(open_):
                if S[p.ARRIVE + e, 0] < 0 or any(e == e2 for _, e2, _, _ in starts[i]):
                    close(e, None)  # jammed, moved spontaneously, or commanded anew
            for j, e, frm, slow in starts[i]:
                if not slow:  # a slow move has one travel time (the simulator ignores u)
                    open_[e] = (i, j, frm, st.t)
        for e in list(open_):
            close(e, None)

    def _travel_u_of(self, S: np.ndarray, rec: dict[str, int], root: bool) -> dict[int, float]:
        """The u of every move started at this node (decoded like :meth:`_run`)."""
        p = self.plan
        A, Q, hap = self._reexecute(S, rec, root, lazy=False)
        rem = rec["travel"]
        out: dict[int, float] = {}
        for j in self.move_steps:
            if not hap.issued[j, 0] or hap.ignored[j, 0]:
                continue
            e, to = int(p.step_target[j]), int(p.step_to[j])
            frm = int(A[p.POS + e, 0])
            pred, slow = self._predicted_arrival(A, e, to, np.array([0.5]))
            if (Q[p.POS + e, 0] == p.transit[e] and Q[p.DEST + e, 0] == to and Q[p.ARRIVE + e, 0] == pred[0]
                    and not slow[0]):
                us = self._utable(j, frm)
                out[j] = float(us[rem % len(us)])
                rem //= len(us)
        return out


@dataclass
class _Req:
    """Successor requests: parent column, wait (0 = next event, k > 0: k grid steps after the
    node, -d: d ms after it), fault subset, value variant, and (lazy travel) the bitmask over
    ``Explorer.moved_eq`` of the equipment that arrives at the instant."""

    col: np.ndarray
    wait: np.ndarray
    sub: np.ndarray
    var: np.ndarray
    arr: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.arr is None:
            self.arr = np.zeros(len(self.col), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.col)

    def take(self, idx: Any) -> _Req:
        return _Req(self.col[idx], self.wait[idx], self.sub[idx], self.var[idx], self.arr[idx])


@dataclass
class Block:
    """Settled successors with their requests, travel combination and issued steps."""

    S: np.ndarray
    req: _Req
    travel: np.ndarray
    issued: np.ndarray


_I32 = np.iinfo(np.int32)
REQUESTS = 65536  # successors computed per chunk (adaptive chunking aims at this)
REQUEST_GROUP = 4 * 2**20  # at most about this many fault requests generated at once (32 B each)
BATCH = 262144  # at most this many travel-time combinations settled at once
TIME_CHOICES = 262144  # lazy travel: about this many time choices generated at once (an upper estimate)


def _chunks(frontier: list[tuple[np.ndarray, np.ndarray, np.ndarray]], size: list[int]):
    """Regroup frontier pieces into chunks of about ``size[0]`` columns (small pieces joined;
    the caller may change ``size[0]`` between chunks)."""
    buf: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    n = 0
    for Fc, ids, tns in frontier:
        a = 0
        while a < Fc.shape[1]:
            take = max(size[0] - n, 1)
            piece = (Fc[:, a:a + take], ids[a:a + take], tns[a:a + take])
            a += take
            buf.append(piece)
            n += piece[0].shape[1]
            if n >= size[0]:
                yield _join(buf)
                buf, n = [], 0
    if buf:
        yield _join(buf)


def _join(buf: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if len(buf) == 1:
        return buf[0]
    return (np.concatenate([b[0] for b in buf], axis=1), np.concatenate([b[1] for b in buf]),
            np.concatenate([b[2] for b in buf]))


def _variants(sub: np.ndarray, sub_nvar: np.ndarray, *cols: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Repeat each fault request once per value its fault can report (a reads_wrong sensor
    without a declared value has several): returns the requests' faults, each copy's value
    index and the other columns repeated alike."""
    nvar = sub_nvar[sub]
    var = np.zeros(len(sub), dtype=np.int64)
    if (nvar > 1).any():
        rep = np.repeat(np.arange(len(sub)), nvar)
        var = np.arange(len(rep)) - np.repeat(np.cumsum(nvar) - nvar, nvar)
        sub, cols = sub[rep], tuple(c[rep] for c in cols)
    return sub, var, cols


class _Bound(Exception):
    pass


def _terms(e: Any) -> list[Any]:
    out = []
    for i in e.items:
        out.extend(_terms(i) if hasattr(i, "items") and hasattr(i, "op") else [i])
    return out


def _rss() -> int:
    """The process's resident memory in bytes (Linux; 0 elsewhere): what --max-memory bounds,
    besides the stored states and frontier (which leave out numpy temporaries and slack)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0


def _count_active(p: Plan, S: np.ndarray) -> np.ndarray:
    # a common-cause event marks every member but is one fault (issue 11)
    return plant.active_faults(p, S)


def verify(plan: Plan, max_faults: int = 1, timing: str = "exhaustive",
           properties: tuple[str, ...] = PROPERTIES, invariants: list[Any] | None = None,
           **kw: Any) -> VerifyResult:
    """Verify ``plan`` (the notebook entry point); see :class:`Options` for the bounds."""
    opt = Options(max_faults=max_faults, timing=timing, properties=properties, **kw)
    return Explorer(plan, opt, invariants).run()


# --------------------------------------------------------------------------- scenarios


def _fmt_wall(ms_: int) -> str:
    return f"+{ms_ // 1000}s" if ms_ % 1000 == 0 else f"+{ms_}ms"


def counterexample_scenario(plan: Plan, res: VerifyResult, site: str = "", procedure: str = "") -> dict[str, Any]:
    """The counterexample as a scenario ``padguard simulate --replay FILE`` reproduces.

    Faults are scheduled on the wall clock (``@+1234ms``: the count clock is ambiguous after a
    hold or recycle), in the order they were injected; ``travel_u`` gives, per step, the u of
    each successive issue of that step.
    """
    if res.violation is None:
        raise ValueError("no counterexample: the result is not a violation")
    faults = []
    per_step: list[list[float]] = [[] for _ in range(len(plan.step_at))]
    for st in res.trace:
        for f, v in st.faults:
            val = ""
            if v is not None:
                val = "=" + plan.decode_sensor(int(plan.f_comp[f]), int(v))
            faults.append(f"{plan.faults[f]}{val}@{_fmt_wall(st.t)}")
        for j in st.issued:
            per_step[j].append(st.travel_u.get(j, 0.5))
    k = max([len(r) for r in per_step] + [1])
    travel = [(r or [0.5]) + [(r or [0.5])[-1]] * (k - len(r or [0.5])) for r in per_step]
    last = res.trace[-1].state
    assert last is not None
    expect = {"property": res.violation.prop, "detail": res.violation.detail,
              "at_s": res.trace[-1].t / 1000,
              "hazards": [plan.plume[r] for r in range(len(plan.plume)) if int(last[plan.HAZ, 0]) >> r & 1],
              "personnel_hazards": [plan.zones[z] for z in range(len(plan.zones))
                                    if int(last[plan.PHAZ, 0]) >> z & 1],
              "ignition_t_s": int(last[plan.IGN_T, 0]) / 1000 if last[plan.IGN_T, 0] >= 0 else None,
              "window_close_s": plan.window_close / 1000}
    return {"site": site or plan.model.site.site, "procedure": procedure or plan.model.procedure.procedure,
            "faults": faults, "actions": [], "seed": 0, "travel_u": travel, "resolution_ms": plan.res,
            "verify": {"max_faults": res.max_faults, "resolution_s": res.resolution_ms / 1000,
                       "timing": res.timing, "steps": len(res.trace)},
            "expect": expect}


@dataclass
class Replay:
    """A counterexample re-run in the simulator, stopped at the instant of the violation."""

    label: str  # the property the simulator's state violates there ("" if none)
    same_state: bool  # the simulator reached the verifier's state (canonical form)
    sim: Any  # the Simulator, for narration


def replay(plan: Plan, scenario: dict[str, Any], invariants: list[Any] | None = None,
           properties: tuple[str, ...] = PROPERTIES, state: np.ndarray | None = None) -> Replay:
    """Run ``scenario`` in the simulator up to the violation and check the same property fails.

    The scenario is read as ``padguard simulate --replay`` reads it: validated from its JSON
    form, on a plan compiled afresh from the model (at the resolution the scenario records), not
    on the verifier's own plan.
    """
    from padguard.compile import compile_model
    from padguard.engines.simulate import Scenario, Simulator

    sc = Scenario.model_validate(json.loads(json.dumps(scenario)))
    sim_plan, tu = sc.replay_inputs(compile_model(plan.model))
    sim = Simulator(sim_plan, seed=sc.seed, faults=sc.faults, actions=sc.actions, travel_u=tu)
    at = int(round(scenario["expect"]["at_s"] * 1000))
    sim.run(until_wall=at)
    ex = Explorer(plan, Options(max_faults=0, properties=properties), invariants)
    S = sim.S.copy()
    bad, labels = ex.check(S)
    label = labels[int(bad[0])] if bad[0] >= 0 else ""
    if not label and "liveness" in properties and sim.mode != Mode.LAUNCHED:
        nxt = semantics.next_event(plan, S)[0]
        if sim.mode in (Mode.SCRUBBED, Mode.ABORTED) or nxt >= NEVER:
            label = "liveness:a fault-free count does not reach launch"
    same = False
    if state is not None:
        a, b = S.copy(), state.copy()
        ex.canonicalise(a)
        ex.canonicalise(b)
        rows = ex.id_rows[ex.id_rows < plan.layout.size]  # the Plan's rows (not the verifier's own)
        same = bool((a[rows] == b[rows]).all())
    return Replay(label, same, sim)
