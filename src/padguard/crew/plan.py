"""Engine ``plan``: re-plan launch dates, pads and undock dates with OR-Tools CP-SAT.

Decision variables, per mission not yet flown: launch day, pad (among the pads that can launch
the vehicle, crew certified for a crewed flight), undock day, and (where the scenario gives a
``min_crew``) how many of its listed crew fly: crew allocation, as when Crew-9 flew two empty
seats in 2024; the first listed fly, the others stay home. Constraints are the rules of
:mod:`padguard.crew.timeline` (pad availability and crew access, pad turnaround, docked life,
handover overlap, crew capacity, lifeboat seats every day), written as CP-SAT constraints over
the same compiled day arrays. A mission keeps at least its planned docked duration.

Objectives, lexicographic (exact, through weights larger than the lower objectives' range):
1. phase A: every rule hard; minimise total slip (days later than planned), then people left
   home, then the extra docked days and pad changes (so undocks and pads are as planned unless
   a rule needs a change);
2. phase B, only if no plan keeps every rule: lifeboat and docked life become soft (a vehicle
   beyond its life still docks but its seats do not count); minimise total slip, then crew-days
   without a lifeboat seat, then people left home, then extra docked days. With ``decrew`` the handover is soft too
   (a vehicle may take its crew home before its relief); broken handovers are minimised after
   crew-days without a seat.

The result is re-checked by ``timeline.report`` (one semantics), and compared with the greedy
re-scheduler (:func:`greedy`), the baseline in ``benchmarks/crew_bench.py``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from padguard.crew import timeline as tl
from padguard.crew.days import NEVER, Days


def _runs(ok: np.ndarray, lo: int, hi: int) -> list[list[int]]:
    """Closed intervals [a, b] of True in ok[lo..hi]."""
    seg = ok[lo:hi + 1]
    x = np.diff(np.concatenate([[0], seg.astype(np.int8), [0]]))
    return [[lo + int(a), lo + int(b) - 1] for a, b in
            zip(np.flatnonzero(x == 1), np.flatnonzero(x == -1), strict=True)]


def candidate_pads(days: Days, m: int) -> list[int]:
    v = days.vehicle[m]
    return [p for p in range(len(days.pad_ids))
            if days.can_launch[p, v] and (days.ncrew[m] == 0 or days.crew_cert[p])]


@dataclass
class PlanResult:
    status: str  # OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN
    phase: str  # "all rules kept" | "lifeboat/docked life soft"
    total_slip: int | None
    uncovered_crew_days: int | None
    objective: float | None
    bound: float | None
    gap: float | None  # relative gap of the weighted objective (0 when proven optimal)
    solve_s: float
    days: Days | None = None  # pads as re-assigned
    launch: np.ndarray | None = None
    undock: np.ndarray | None = None
    report: tl.Report | None = None
    stays_home: dict[str, list[str]] = field(default_factory=dict)  # crew allocation changes

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: getattr(self, k) for k in
                             ("status", "phase", "total_slip", "uncovered_crew_days", "objective",
                              "bound", "gap", "solve_s", "stays_home")}
        if self.report is not None and self.days is not None:
            rep = self.report.to_dict()
            d["missions"] = rep["missions"]
            d["violations"] = rep["violations"]
            d["summary"] = rep["summary"]
            orig = self.days.sc
            d["pad_changes"] = {m.id: {"from": m.pad, "to": self.days.pad_ids[self.days.pad[i]]}
                                for i, m in enumerate(orig.missions) if m.pad != self.days.pad_ids[self.days.pad[i]]}
        return d


def _limits(days: Days, pert: tl.Perturbation | None) -> tuple[np.ndarray, dict[int, int], np.ndarray]:
    M = len(days.mission_ids)
    earliest = days.launch - days.advance
    unusable = np.full(M, NEVER, dtype=np.int64)
    early: dict[int, int] = {}
    if pert:
        for mid, s in pert.slips.items():
            earliest[days.index(mid)] = days.launch[days.index(mid)] + s
        early = {days.index(m): days.day(d) for m, d in pert.early_returns.items()}
        for mid, d in pert.unavailable.items():
            unusable[days.index(mid)] = days.day(d)
    earliest = np.where(days.fixed, days.launch, np.maximum(earliest, 0))
    return earliest, early, unusable


def freeze(days: Days, before: dt.date | None) -> Days:
    """Missions launched before ``before`` are history: the planner does not move them."""
    if before is None:
        return days
    return replace(days, fixed=days.fixed | (days.launch < days.day(before)))


def default_freeze(days: Days, pert: tl.Perturbation | None) -> dt.date | None:
    """Re-plan from the first perturbed day (launches before it have flown)."""
    cands = [a for _, a, _, _ in pert.outages] if pert else []
    cands += [d for d in (pert.early_returns.values() if pert else [])]
    cands += [d for d in (pert.unavailable.values() if pert else [])]
    return min(cands) if cands else None


def solve(days: Days, pert: tl.Perturbation | None = None, time_limit: float = 60.0,
          workers: int = 2, max_slip: int = 500, soft: bool | None = None,
          replan_from: dt.date | None = None, decrew: bool = False) -> PlanResult:
    """Re-plan within the pads' availability (outages of ``pert`` included).

    Launches before ``replan_from`` (default: the first perturbed day) are kept as flown.
    ``decrew``: in the soft phase a relieved vehicle may also leave before its relief (taking
    its crew home, the handover broken, as Crew-11 did in Jan 2026) instead of staying beyond
    its life; broken handovers are minimised after crew-days without a seat.
    """
    days = freeze(days, replan_from or default_freeze(days, pert))
    if pert is not None:
        for pad, a, b, crew_only in pert.outages:
            rep = days.sc.pads[days.pad_index(pad)].repair
            if b is not None and rep is not None and not crew_only and pert.return_to_service:
                b = b + dt.timedelta(days=rep.return_to_service_days)
            days = days.with_outage(pad, a, b, crew_only)
    unplaceable = []
    L = days.avail.shape[1] - 1
    earliest, _, _ = _limits(days, pert)
    for m in np.flatnonzero(~days.fixed):
        lo, hi = int(earliest[m]), min(L, int(days.launch[m]) + max_slip)
        ok = [p for p in candidate_pads(days, m)
              if (days.crew_avail[p] if days.ncrew[m] else days.avail[p])[lo:hi + 1].any()]
        if not ok:
            unplaceable.append(days.mission_ids[m])
    if unplaceable:
        raise ValueError(f"no pad can launch {', '.join(unplaceable)} within {max_slip} days of the "
                         "planned date (check the pads' vehicles, crew certification and outages, or raise --max-slip)")
    t0 = time.perf_counter()
    if soft is None:
        res = _solve(days, pert, time_limit, workers, max_slip, soft=False)
        if res.status == "INFEASIBLE":
            left = max(1.0, time_limit - res.solve_s)
            res = _solve(days, pert, left, workers, max_slip, soft=True, decrew=decrew)
    else:
        res = _solve(days, pert, time_limit, workers, max_slip, soft=soft, decrew=decrew)
    res.solve_s = time.perf_counter() - t0
    return res


def _solve(days: Days, pert: tl.Perturbation | None, time_limit: float, workers: int,
           max_slip: int, soft: bool, decrew: bool = False) -> PlanResult:
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    M, D = len(days.mission_ids), days.n_days
    L = days.avail.shape[1] - 1
    earliest, early, unusable = _limits(days, pert)
    mdl = cp_model.CpModel()
    launch: list[Any] = []
    slips = []
    extra: list[Any] = []
    broken: list[Any] = []
    pad_of: dict[tuple[int, int], Any] = {}
    intervals: dict[int, list[Any]] = {p: [] for p in range(len(days.pad_ids))}
    for m in range(M):
        if days.fixed[m]:
            launch.append(int(days.launch[m]))
            p = int(days.pad[m])
            intervals[p].append(mdl.NewIntervalVar(int(days.launch[m]), max(1, int(days.turnaround[p])),
                                                   int(days.launch[m]) + max(1, int(days.turnaround[p])), f"h{m}"))
            continue
        lo, hi = int(earliest[m]), min(L, int(days.launch[m]) + max_slip)
        lm = mdl.NewIntVar(lo, max(lo, hi), f"l{m}")
        launch.append(lm)
        s = mdl.NewIntVar(0, max_slip + lo, f"s{m}")
        mdl.Add(s >= lm - int(days.launch[m]))
        slips.append(s)
        if lo < days.launch[m]:  # flown earlier than planned only if it helps (lowest tier)
            adv = mdl.NewIntVar(0, int(days.launch[m]) - lo, f"v{m}")
            mdl.Add(adv >= int(days.launch[m]) - lm)
            extra.append(adv)
        cands = candidate_pads(days, m)
        if not cands:
            mdl.AddBoolOr([])  # no pad can launch it: infeasible
            continue
        xs = []
        for p in cands:
            x = mdl.NewBoolVar(f"x{m}_{p}")
            xs.append(x)
            if p != days.pad[m]:
                extra.append(x)  # a pad change costs like a day (lowest tier)
            pad_of[m, p] = x
            ok = days.crew_avail[p] if days.ncrew[m] else days.avail[p]
            runs = _runs(ok, lo, max(lo, hi))
            if not runs:
                mdl.Add(x == 0)
                continue
            mdl.AddLinearExpressionInDomain(lm, cp_model.Domain.FromIntervals(runs)).OnlyEnforceIf(x)
            size = max(1, int(days.turnaround[p]))
            end = mdl.NewIntVar(lo + size, max(lo, hi) + size, f"e{m}_{p}")
            intervals[p].append(mdl.NewOptionalIntervalVar(lm, size, end, x, f"i{m}_{p}"))
        mdl.AddExactlyOne(xs)
    for ivs in intervals.values():
        if len(ivs) > 1:
            mdl.AddNoOverlap(ivs)
    # crew allocation: a flight may carry fewer of its listed crew (down to min_crew); the
    # first listed fly, the rest stay home (people with a crew move always fly)
    kvar: dict[int, Any] = {}
    movable: dict[int, list[int]] = {}
    for m in range(M):
        same = [i for i in range(len(days.arr)) if days.arr[i] == m and days.dep[i] == m]
        movable[m] = same
        if days.fixed[m] or days.min_crew[m] >= days.ncrew[m] or not same:
            continue
        lo_k = max(0, int(days.min_crew[m]) - (int(days.ncrew[m]) - len(same)))
        kvar[m] = mdl.NewIntVar(lo_k, len(same), f"k{m}")
    bumped = [len(movable[m]) - k for m, k in kvar.items()]
    # docking and undocking
    dock = [launch[m] + int(days.dock_after[m]) for m in range(M)]
    big = D + L + max_slip + 2000
    und: list[Any] = []
    for m in range(M):
        if m in early:
            und.append(early[m])
            continue
        if days.undock[m] >= NEVER:
            und.append(NEVER)  # docked past the horizon: within its life through the horizon
            if days.life[m] < NEVER and days.sc.rules.docked_life and not soft:
                mdl.Add(dock[m] + int(days.life[m]) >= D)
            continue
        dur = int(days.undock[m] - days.launch[m] - days.dock_after[m])
        u = mdl.NewIntVar(-big, big, f"u{m}")
        base = dock[m] + dur
        r = int(days.relief[m])
        if r >= 0 and soft and decrew:
            brk = mdl.NewBoolVar(f"h{m}")  # handover broken: leaves early with its crew
            broken.append(brk)
            mdl.Add(u >= base).OnlyEnforceIf(brk.Not())
            mdl.Add(u >= dock[r] + days.overlap).OnlyEnforceIf(brk.Not())
            mdl.Add(u >= dock[m] + 1)
            e = mdl.NewIntVar(-big, big, f"x{m}")
            mdl.Add(e == u - base)
            ea = mdl.NewIntVar(0, 2 * big, f"xa{m}")
            mdl.AddAbsEquality(ea, e)
            extra.append(ea)
            und.append(u)
            continue
        mdl.Add(u >= base)
        e = mdl.NewIntVar(0, big, f"x{m}")
        mdl.Add(e == u - base)
        extra.append(e)
        if r >= 0:
            mdl.Add(u >= dock[r] + days.overlap)
        if days.life[m] < NEVER and days.sc.rules.docked_life and not soft:
            mdl.Add(u <= dock[m] + int(days.life[m]))
        und.append(u)
    # per-day booleans: docked (and within life) for the missions that carry crew or seats
    need = sorted(set(np.flatnonzero((days.ncrew > 0) | (days.seats > 0)).tolist())
                  | set(days.arr.tolist()) | set(days.dep.tolist()))

    def ge(expr: Any, d: int, name: str) -> Any:
        """Bool <=> expr > d (constant-folded when expr is a number)."""
        if isinstance(expr, int | np.integer):
            return int(expr) > d
        b = mdl.NewBoolVar(name)
        mdl.Add(expr >= d + 1).OnlyEnforceIf(b)
        mdl.Add(expr <= d).OnlyEnforceIf(b.Not())
        return b

    def conj(a: Any, b: Any, name: str) -> Any:
        if isinstance(a, bool) and isinstance(b, bool):
            return a and b
        if a is False or b is False:
            return False
        if a is True:
            return b
        if b is True:
            return a
        c = mdl.NewBoolVar(name)
        mdl.AddBoolAnd([a, b]).OnlyEnforceIf(c)
        mdl.AddBoolOr([a.Not(), b.Not()]).OnlyEnforceIf(c.Not())
        return c

    uncovered = []
    # only days on which something can change need their own variables; between changes the
    # state is constant, but every day is cheap enough at a year's horizon: keep it simple.
    for d in range(D):
        arrived = {m: ge(dock[m], d, f"a{m}_{d}").Not() if not isinstance(dock[m], int) else dock[m] <= d
                   for m in need}
        here = {m: ge(und[m], d, f"b{m}_{d}") for m in need}
        docked = {m: conj(arrived[m], here[m], f"k{m}_{d}") for m in need}
        crew_terms = []
        for m in need:
            n_same = len(movable[m])
            if not n_same or docked[m] is False:
                continue
            if m not in kvar:
                crew_terms.append((n_same, docked[m]))
            elif docked[m] is True:
                crew_terms.append((1, kvar[m]))
            else:
                z = mdl.NewIntVar(0, n_same, f"z{m}_{d}")
                mdl.Add(z <= kvar[m])
                mdl.Add(z <= n_same * docked[m])
                mdl.Add(z >= kvar[m] - n_same * (1 - docked[m]))
                crew_terms.append((1, z))
        for i, (a, b) in enumerate(zip(days.arr, days.dep, strict=True)):
            if a != b:
                z = conj(arrived[int(a)], here[int(b)], f"p{i}_{d}")
                if z is not False:
                    crew_terms.append((1, z))
        seat_terms = []
        for m in need:
            if days.seats[m] == 0 or d >= unusable[m] or docked[m] is False:
                continue
            ok = docked[m]
            if days.life[m] < NEVER and soft:
                ok = conj(ok, ge(dock[m] + int(days.life[m]), d, f"l{m}_{d}"), f"c{m}_{d}")
            if ok is not False:
                seat_terms.append((int(days.seats[m]), ok))
        crew_expr = sum(c * (1 if v is True else v) for c, v in crew_terms) if crew_terms else 0
        seat_expr = sum(c * (1 if v is True else v) for c, v in seat_terms) if seat_terms else 0
        if days.sc.rules.crew_capacity and crew_terms:
            mdl.Add(crew_expr <= days.crew_max)
        if days.sc.rules.lifeboat and crew_terms:
            if soft:
                g = mdl.NewIntVar(0, int(days.ncrew.sum()), f"g{d}")
                mdl.Add(g >= crew_expr - seat_expr)
                uncovered.append(g)
            else:
                mdl.Add(crew_expr <= seat_expr)
    total_slip = sum(slips) if slips else 0
    x_range = max(1, (D + max_slip + 2) * M + 1)
    u_range = max(1, int(days.ncrew.sum()) * D + 1)
    b_range = len(broken) + 1
    c_range = int(days.ncrew.sum()) + 1
    bump = sum(bumped) if bumped else 0
    if soft:  # slip, crew-days without a seat, people left home, broken handovers, extras
        mdl.Minimize(total_slip * (u_range * c_range * b_range * x_range)
                     + sum(uncovered) * (c_range * b_range * x_range)
                     + bump * (b_range * x_range) + sum(broken) * x_range + sum(extra))
    else:  # slip, people left home, extras
        mdl.Minimize(total_slip * (c_range * x_range) + bump * x_range + sum(extra))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = int(workers)
    st = solver.Solve(mdl)
    name = solver.StatusName(st)
    phase = ("lifeboat/docked life soft" + (", handover may break (decrew)" if decrew else "")
             if soft else "all rules kept")
    el = time.perf_counter() - t0
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return PlanResult(name, phase, None, None, None, None, None, el)
    val = solver.Value
    L_ = np.array([x if isinstance(x, int) else val(x) for x in launch], dtype=np.int64)
    U_ = np.array([x if isinstance(x, int) else val(x) for x in und], dtype=np.int64)
    pads = days.pad.copy()
    for (m, p), x in pad_of.items():
        if solver.BooleanValue(x):
            pads[m] = p
    d2 = replace(days, pad=pads)
    home: dict[str, list[str]] = {}
    if kvar:
        keep = np.ones(len(days.arr), dtype=bool)
        for m, k in kvar.items():
            left = movable[m][int(val(k)):]
            keep[left] = False
            if left:
                home[days.mission_ids[m]] = [days.person_names[i] for i in left]
        ncrew = days.ncrew.copy()
        np.subtract.at(ncrew, days.arr[~keep], 1)
        d2 = replace(d2, arr=days.arr[keep], dep=days.dep[keep], ncrew=ncrew,
                     person_names=[n for n, k in zip(days.person_names, keep, strict=True) if k])
    rep = tl.report(d2, L_, U_, unusable, (pert.describe() if pert else []) + ["re-planned by CP-SAT"])
    obj, bound = solver.ObjectiveValue(), solver.BestObjectiveBound()
    gap = 0.0 if st == cp_model.OPTIMAL else (abs(obj - bound) / max(1.0, abs(obj)))
    slip = int(np.where(days.fixed, 0, np.maximum(L_ - days.launch, 0)).sum())
    return PlanResult(name, phase, slip, rep.to_dict()["summary"]["crew_days_without_lifeboat_seat"],
                      obj, bound, gap, el, d2, L_, U_, rep, home)


def greedy(days: Days, pert: tl.Perturbation | None = None,
           replan_from: dt.date | None = None) -> PlanResult:
    """The baseline re-scheduler: in planned order, each launch takes the earliest day on any
    pad that can launch it (availability, crew access, turnaround); undocks hold for relief."""
    t0 = time.perf_counter()
    days = freeze(days, replan_from or default_freeze(days, pert))
    if pert is not None:
        days, _, _, _ = tl.apply(days, tl.Perturbation(outages=pert.outages,
                                                       return_to_service=pert.return_to_service))
    earliest, early, unusable = _limits(days, pert)
    earliest = np.maximum(earliest, days.launch)  # the greedy never advances a launch
    if pert:
        for mid, s in pert.slips.items():
            earliest[days.index(mid)] = days.launch[days.index(mid)] + s
    M = len(days.mission_ids)
    pads = days.pad.copy()
    launch = days.launch.copy()
    last = {p: -NEVER for p in range(len(days.pad_ids))}
    for m in np.flatnonzero(days.fixed):
        last[int(days.pad[m])] = max(last[int(days.pad[m])], int(days.launch[m]))
    L = days.next_ok.shape[-1] - 1
    for m in sorted((m for m in range(M) if not days.fixed[m]), key=lambda m: (earliest[m], m)):
        best = None
        for p in candidate_pads(days, m):
            t = max(int(earliest[m]), last[p] + int(days.turnaround[p]))
            t = int(days.next_ok[p, int(days.ncrew[m] > 0), min(max(t, 0), L)])
            if t <= L - 1 and (best is None or t < best[0]):
                best = (t, p)
        if best is None:
            continue
        launch[m], pads[m] = best[0], best[1]
        last[best[1]] = best[0]
    d2 = replace(days, pad=pads)
    und = tl.undocks(d2, launch[None], early)[0]
    rep = tl.report(d2, launch, und, unusable, (pert.describe() if pert else []) + ["greedy re-schedule"])
    s = rep.to_dict()["summary"]
    return PlanResult("GREEDY", "greedy", s["total_slip_days"], s["crew_days_without_lifeboat_seat"],
                      None, None, None, time.perf_counter() - t0, d2, launch, und, rep)
