"""Engines ``check`` and ``what-if``: dated manifest -> day-by-day crew, lifeboat seats, rules.

Everything is vectorised over *histories* (rows): ``check`` and ``what-if`` use one row, the
risk engine 1e5. One function places launches (:func:`propagate`), one computes the daily
arrays (:func:`daily`), one evaluates the rules (:func:`evaluate`), so check, what-if, plan's
baseline and risk share one semantics:

* a person is aboard from the docking of the mission they arrive on until the undocking of the
  mission they return on;
* a vehicle's emergency seats count as lifeboat seats while it is docked, within its docked
  life, and not declared unavailable;
* **lifeboat**: on every day, crew aboard <= lifeboat seats (seats are reassigned across docked
  vehicles, as with Rubio's seat liner in 2023);
* **docked life**: no vehicle stays docked beyond its life;
* **handover**: a relieved mission undocks at least ``handover_overlap_days`` after its relief docks;
* **crew capacity**: crew aboard <= the station's maximum;
* **pads**: a launch uses a pad that is available on that day, can launch the vehicle, is crew
  certified (and its crew access is up) for a crewed flight, and respects the pad's turnaround.

What-if propagation (the greedy re-scheduler): launches keep their order; each goes on its
planned day or the first later day its pad can launch it (outages, turnaround); a mission keeps
its planned docked duration; a relieved vehicle is held until its relief has docked plus the
handover overlap (even beyond its life, which is then reported).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from padguard.crew.days import NEVER, Days

RULES = ("lifeboat", "docked_life", "handover", "crew_capacity", "pad_unavailable",
         "pad_vehicle", "pad_crew", "pad_turnaround")


@dataclass
class Perturbation:
    """What-if inputs (all optional): pad outages, slips, early returns, lost lifeboats."""

    outages: list[tuple[str, dt.date, dt.date | None, bool]] = field(default_factory=list)
    return_to_service: bool = True  # add the pad's repair.return_to_service_days to outages
    slips: dict[str, int] = field(default_factory=dict)  # mission -> days
    early_returns: dict[str, dt.date] = field(default_factory=dict)  # mission -> undock date
    unavailable: dict[str, dt.date] = field(default_factory=dict)  # mission -> no lifeboat from

    def describe(self) -> list[str]:
        out = [f"pad {p} out from {a}, repaired {b or 'never'}{' (crew access only)' if c else ''}"
               for p, a, b, c in self.outages]
        out += [f"{m} slips {s} d" for m, s in self.slips.items()]
        out += [f"{m} returns early on {d}" for m, d in self.early_returns.items()]
        out += [f"{m} unavailable as a lifeboat from {d}" for m, d in self.unavailable.items()]
        return out


_DATE = r"(\d{4}-\d{2}-\d{2})"


def parse_outage(text: str) -> tuple[str, dt.date, dt.date | None, bool]:
    """``site31:2025-11-27+120d``, ``site31:2025-11-27..2026-03-03``, optional ``:crew`` suffix.

    The pad is out *after* the given day (a launch on that day, the one that damaged it, has
    flown) and back on the end day (start + N days, or the ``..`` date). Returns (pad, first day
    out, day back, crew_only); the day back is None for ``+open``.
    """
    m = re.fullmatch(r"([a-z][a-z0-9_\-]*):" + _DATE + r"(?:\+(\d+)d|\.\." + _DATE + r"|\+open)?(:crew)?",
                     text.strip())
    if not m:
        raise ValueError(f"--outage {text!r}: expected PAD:YYYY-MM-DD+NNd or PAD:YYYY-MM-DD..YYYY-MM-DD "
                         "(add ':crew' for crew access only), e.g. site31:2025-11-27+120d")
    start = dt.date.fromisoformat(m.group(2))
    if m.group(3):
        end: dt.date | None = start + dt.timedelta(days=int(m.group(3)))
    elif m.group(4):
        end = dt.date.fromisoformat(m.group(4))
    else:
        end = None
    if end is not None and end <= start:
        raise ValueError(f"--outage {text!r}: the outage must end after it starts")
    return m.group(1), start + dt.timedelta(days=1), end, bool(m.group(5))


def parse_slip(text: str) -> tuple[str, int]:
    m = re.fullmatch(r"([a-z][a-z0-9_\-]*)\+(\d+)d", text.strip())
    if not m:
        raise ValueError(f"--slip {text!r}: expected MISSION+NNd, e.g. crew-12+30d")
    return m.group(1), int(m.group(2))


def parse_dated(text: str, flag: str) -> tuple[str, dt.date]:
    m = re.fullmatch(r"([a-z][a-z0-9_\-]*):" + _DATE, text.strip())
    if not m:
        raise ValueError(f"{flag} {text!r}: expected MISSION:YYYY-MM-DD, e.g. crew-11:2026-01-14")
    return m.group(1), dt.date.fromisoformat(m.group(2))


# ------------------------------------------------------------------------------------------
# placing launches


def propagate(days: Days, n: int = 1, slip: np.ndarray | None = None,
              damage: tuple[int, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Launch days [n, M] after slips, outages and turnaround (the greedy re-scheduler).

    ``damage = (pad, hit[n, M], down[n, M])``: when mission m launches from ``pad`` and
    ``hit[:, m]``, the pad is out for ``down[:, m]`` days from that launch (risk engine).
    """
    M = len(days.mission_ids)
    base = np.broadcast_to(days.launch, (n, M)).astype(np.int64)
    want = base + (0 if slip is None else np.broadcast_to(slip, (n, M)))
    launch = want.copy()
    order = [int(i) for i in np.argsort(want[0], kind="stable") if not days.fixed[i]]
    P = len(days.pad_ids)
    last = np.full((n, P), -NEVER, dtype=np.int64)
    for i in np.flatnonzero(days.fixed):  # history counts for turnaround
        last[:, days.pad[i]] = np.maximum(last[:, days.pad[i]], base[:, i])
    down_until = np.zeros((n, P), dtype=np.int64)
    L = days.next_ok.shape[-1] - 1
    for m in order:
        p = int(days.pad[m])
        t = np.maximum(want[:, m], last[:, p] + days.turnaround[p])
        t = np.maximum(t, down_until[:, p])
        t = days.next_ok[p, int(days.crewed[m]), np.clip(t, 0, L)]
        launch[:, m] = t
        last[:, p] = t
        if damage is not None and damage[0] == p:
            hit = damage[1][:, m]
            down_until[hit, p] = t[hit] + damage[2][hit, m]
    return launch


def undocks(days: Days, launch: np.ndarray, early: dict[int, int] | None = None) -> np.ndarray:
    """Undock days [n, M]: planned duration kept, relieved vehicles held for the handover."""
    und = np.broadcast_to(days.undock, launch.shape).astype(np.int64).copy()
    shift = launch - days.launch
    open_ = days.undock >= NEVER
    und = np.where(open_ | days.fixed, und, und + shift)
    dock = launch + days.dock_after
    for m in np.flatnonzero(days.relief >= 0):
        r = days.relief[m]
        und[:, m] = np.where(open_[m], und[:, m], np.maximum(und[:, m], dock[:, r] + days.overlap))
    for m, d in (early or {}).items():
        und[:, m] = np.minimum(und[:, m], d)
    return und


# ------------------------------------------------------------------------------------------
# daily arrays and rules


def _segments(delta: np.ndarray, a: np.ndarray, b: np.ndarray, w: int | np.ndarray) -> None:
    D = delta.shape[1] - 1
    a = np.clip(a, 0, D)
    b = np.clip(b, 0, D)
    ok = a < b
    rows = np.flatnonzero(ok)
    wv = w if np.isscalar(w) else np.asarray(w)[ok]
    delta[rows, a[ok]] += wv
    delta[rows, b[ok]] -= wv


def daily(days: Days, launch: np.ndarray, undock: np.ndarray,
          unusable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Crew aboard and lifeboat seats per day, each [n, n_days] (int32)."""
    n, D = launch.shape[0], days.n_days
    dock = launch + days.dock_after
    crew = np.zeros((n, D + 1), dtype=np.int32)
    for a, b in zip(days.arr, days.dep, strict=True):
        _segments(crew, dock[:, a], undock[:, b], 1)
    seats = np.zeros((n, D + 1), dtype=np.int32)
    for m in np.flatnonzero(days.seats > 0):
        end = np.minimum(undock[:, m], dock[:, m] + days.life[m])
        if unusable is not None:
            end = np.minimum(end, unusable[:, m])
        _segments(seats, dock[:, m], end, int(days.seats[m]))
    return np.cumsum(crew, axis=1)[:, :D], np.cumsum(seats, axis=1)[:, :D]


@dataclass
class Outcome:
    """Per-history summary (arrays of length n)."""

    uncovered_days: np.ndarray  # days with someone aboard without a lifeboat seat
    uncovered_crew_days: np.ndarray  # person-days without a seat
    slip_days: np.ndarray  # total launch slip
    life_days: np.ndarray  # vehicle-days docked beyond life (within the horizon)

    @property
    def any_uncovered(self) -> np.ndarray:
        return self.uncovered_days > 0


def evaluate(days: Days, launch: np.ndarray, undock: np.ndarray,
             unusable: np.ndarray | None = None) -> Outcome:
    """The risk engine's reduction of one batch of histories."""
    crew, seats = daily(days, launch, undock, unusable)
    gap = np.maximum(crew - seats, 0)
    dock = launch + days.dock_after
    beyond = np.clip(np.minimum(undock, days.n_days), 0, None) - np.clip(dock + days.life, 0, None)
    life = np.where(days.life < NEVER, np.maximum(beyond, 0), 0).sum(axis=1)
    slip = np.where(days.fixed, 0, np.maximum(launch - days.launch, 0)).sum(axis=1)
    return Outcome((gap > 0).sum(axis=1), gap.sum(axis=1), slip, life)


# ------------------------------------------------------------------------------------------
# the detailed report (one history)


@dataclass
class Report:
    """A checked schedule: daily arrays, events and every violation with its cause."""

    days: Days
    launch: np.ndarray  # [M]
    undock: np.ndarray  # [M]
    unusable: np.ndarray  # [M]
    crew: np.ndarray  # [n_days]
    seats: np.ndarray  # [n_days]
    violations: list[dict[str, Any]]
    perturbation: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def by_rule(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in self.violations:
            out[v["rule"]] = out.get(v["rule"], 0) + 1
        return out

    def slips(self) -> dict[str, int]:
        d = self.days
        return {d.mission_ids[m]: int(self.launch[m] - d.launch[m]) for m in range(len(d.mission_ids))
                if not d.fixed[m] and self.launch[m] != d.launch[m]}

    def to_dict(self) -> dict[str, Any]:
        d = self.days
        ds = [d.date(i).isoformat() for i in range(d.n_days)]

        def iso(x: int) -> str | None:
            return None if x >= NEVER // 2 else d.date(int(x)).isoformat()

        missions = []
        for m, mid in enumerate(d.mission_ids):
            missions.append({
                "mission": mid, "vehicle": d.vehicle_ids[d.vehicle[m]], "pad": d.pad_ids[d.pad[m]],
                "planned_launch": iso(d.launch[m]), "launch": iso(self.launch[m]),
                "slip_days": 0 if d.fixed[m] else int(self.launch[m] - d.launch[m]),
                "dock": iso(self.launch[m] + d.dock_after[m]), "undock": iso(self.undock[m]),
                "crew": int(d.ncrew[m]), "lifeboat_seats": int(d.seats[m]),
                "life_days": None if d.life[m] >= NEVER else int(d.life[m]),
            })
        gap = np.maximum(self.crew - self.seats, 0)
        return {
            "scenario": d.sc.scenario, "start": ds[0], "end": d.sc.end.isoformat(),
            "perturbation": self.perturbation, "ok": self.ok,
            "summary": {"violations": len(self.violations), "by_rule": self.by_rule(),
                        "days_without_lifeboat_seat": int((gap > 0).sum()),
                        "crew_days_without_lifeboat_seat": int(gap.sum()),
                        "total_slip_days": int(sum(max(0, s) for s in self.slips().values())),
                        "slips": self.slips()},
            "missions": missions,
            "violations": self.violations,
            "daily": {"date": ds, "crew": self.crew.tolist(), "seats": self.seats.tolist(),
                      "by_vehicle": self.seats_by_vehicle(), "life_margin": self.life_margin()},
        }

    def seats_by_vehicle(self) -> dict[str, list[int]]:
        d = self.days
        out = {}
        dock = self.launch + d.dock_after
        day = np.arange(d.n_days)
        for m in np.flatnonzero(d.seats > 0):
            end = min(self.undock[m], dock[m] + d.life[m], self.unusable[m])
            s = np.where((day >= dock[m]) & (day < end), d.seats[m], 0)
            if s.any():
                out[d.mission_ids[m]] = s.tolist()
        return out

    def life_margin(self) -> dict[str, list[int | None]]:
        """Docked-life days left per docked vehicle with a life limit (None when not docked;
        negative when beyond its life)."""
        d = self.days
        dock = self.launch + d.dock_after
        day = np.arange(d.n_days)
        out: dict[str, list[int | None]] = {}
        for m in np.flatnonzero(d.life < NEVER):
            here = (day >= dock[m]) & (day < self.undock[m])
            if here.any():
                left = dock[m] + d.life[m] - day
                out[d.mission_ids[m]] = [int(x) if h else None for x, h in zip(left, here, strict=True)]
        return out

    def events(self) -> list[tuple[int, str]]:
        """Dated lines for the text timeline (day, text), in order."""
        d = self.days
        ev: list[tuple[int, str]] = []
        for m, mid in enumerate(d.mission_ids):
            L = int(self.launch[m])
            dock = L + int(d.dock_after[m])
            crew = f", {d.ncrew[m]} crew" if d.ncrew[m] else ""
            slip = "" if d.fixed[m] or L == d.launch[m] else f" (slipped {L - d.launch[m]} d)"
            if 0 <= L < d.n_days:
                ev.append((L, f"launch {mid} from {d.pad_ids[d.pad[m]]}{crew}{slip}"))
            if 0 <= dock < d.n_days:
                ev.append((dock, f"dock {mid}"))
            if 0 <= self.undock[m] < d.n_days:
                ev.append((int(self.undock[m]), f"undock {mid}"))
            if d.life[m] < NEVER and 0 <= dock + d.life[m] < d.n_days and dock + d.life[m] < self.undock[m]:
                ev.append((int(dock + d.life[m]), f"{mid} reaches its docked life ({d.life[m]} d)"))
            if 0 <= self.unusable[m] < d.n_days:
                ev.append((int(self.unusable[m]), f"{mid} no longer usable as a lifeboat"))
        for p in d.sc.pads:
            for o in p.outages:
                a = d.day(o.from_)
                if 0 <= a < d.n_days:
                    ev.append((a, f"pad {p.id} {'crew access ' if o.crew_only else ''}out: {o.cause}"))
                if o.to is not None and 0 <= d.day(o.to) < d.n_days:
                    ev.append((d.day(o.to), f"pad {p.id} back in service"))
        return sorted(ev, key=lambda e: e[0])

    def lifeboats_on(self, day: int) -> list[tuple[str, int, int | None]]:
        """(mission, seats, docked-life days left) for lifeboats counted on ``day``."""
        d = self.days
        out = []
        dock = self.launch + d.dock_after
        for m in np.flatnonzero(d.seats > 0):
            end = min(self.undock[m], dock[m] + d.life[m], self.unusable[m])
            if dock[m] <= day < end:
                left = None if d.life[m] >= NEVER else int(dock[m] + d.life[m] - day)
                out.append((d.mission_ids[m], int(d.seats[m]), left))
        return out


def _ranges(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True as (first, last+1)."""
    x = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(x == 1).tolist(), np.flatnonzero(x == -1).tolist(), strict=True))


def report(days: Days, launch: np.ndarray, undock: np.ndarray, unusable: np.ndarray | None = None,
           perturbation: list[str] | None = None) -> Report:
    """Check one dated schedule against every rule; each violation says when and why."""
    M = len(days.mission_ids)
    unusable = np.full(M, NEVER, dtype=np.int64) if unusable is None else unusable
    crew, seats = daily(days, launch[None], undock[None], unusable[None])
    crew, seats = crew[0], seats[0]
    r = Report(days, launch, undock, unusable, crew, seats, [], perturbation or [])
    v = r.violations
    rules = days.sc.rules
    dock = launch + days.dock_after
    iso = days.date
    ids = days.mission_ids

    def add(rule: str, a: int, b: int, cause: str, **kw: Any) -> None:
        v.append({"rule": rule, "from": iso(a).isoformat(), "to": iso(b - 1).isoformat(),
                  "days": int(b - a), "cause": cause, **kw})

    if rules.lifeboat:
        for a, b in _ranges(crew > seats):
            day = a
            why = []
            for m in np.flatnonzero(days.seats > 0):
                if dock[m] <= day < undock[m]:
                    if day >= dock[m] + days.life[m]:
                        why.append(f"{ids[m]} is beyond its docked life ({days.life[m]} d)")
                    elif day >= unusable[m]:
                        why.append(f"{ids[m]} is unavailable as a lifeboat")
            for p, (ai, bi) in enumerate(zip(days.arr, days.dep, strict=True)):
                if dock[ai] <= day < undock[bi] and not (dock[bi] <= day < undock[bi]):
                    why.append(f"{days.person_names[p]}'s return vehicle {ids[bi]} is not docked")
            gap = int((crew[a:b] - seats[a:b]).max())
            add("lifeboat", a, b, f"{crew[a]} aboard, {seats[a]} lifeboat seats"
                + (": " + "; ".join(why) if why else ""), missing_seats=gap,
                crew_days=int((crew[a:b] - seats[a:b]).sum()))
    if rules.crew_capacity:
        for a, b in _ranges(crew > days.crew_max):
            add("crew_capacity", a, b, f"{int(crew[a:b].max())} aboard; the station's maximum is {days.crew_max}")
    if rules.docked_life:
        for m in np.flatnonzero(days.life < NEVER):
            lim = dock[m] + days.life[m]
            if undock[m] > lim and lim < days.n_days:
                a, b = max(0, int(lim)), int(min(undock[m], days.n_days))
                if a < b:
                    add("docked_life", a, b, f"{ids[m]} docked {int(min(undock[m], NEVER) - dock[m]) if undock[m] < NEVER else 'beyond the horizon,'}"
                        f"{' d' if undock[m] < NEVER else ''} > its life of {days.life[m]} d", mission=ids[m])
    for m in np.flatnonzero(days.relief >= 0):
        rr = days.relief[m]
        need = dock[rr] + days.overlap
        if undock[m] < need and 0 <= undock[m] < days.n_days:
            a = max(0, int(undock[m]))
            add("handover", a, a + 1, f"{ids[m]} undocks {iso(int(undock[m]))}, before its relief {ids[rr]} "
                f"has been docked {days.overlap} d (relief docks {iso(int(dock[rr]))})", mission=ids[m])
    if rules.pads:
        per_pad: dict[int, list[int]] = {}
        for m in range(M):
            if days.fixed[m]:
                continue
            p, t = int(days.pad[m]), int(launch[m])
            per_pad.setdefault(p, []).append(m)
            pad = days.pad_ids[p]
            if not days.can_launch[p, days.vehicle[m]]:
                add("pad_vehicle", t, t + 1, f"{ids[m]}: pad {pad} cannot launch {days.vehicle_ids[days.vehicle[m]]}", mission=ids[m])
            if days.ncrew[m] and not days.crew_cert[p]:
                add("pad_crew", t, t + 1, f"{ids[m]}: pad {pad} is not crew certified", mission=ids[m])
            tt = min(max(t, 0), days.avail.shape[1] - 1)
            if not days.avail[p, tt]:
                add("pad_unavailable", t, t + 1, f"{ids[m]}: pad {pad} is out on {iso(t)}", mission=ids[m])
            elif days.ncrew[m] and days.crew_cert[p] and not days.crew_avail[p, tt]:
                add("pad_crew", t, t + 1, f"{ids[m]}: pad {pad}'s crew access is out on {iso(t)}", mission=ids[m])
        for p, ms in per_pad.items():
            hist = [int(launch[m]) for m in np.flatnonzero(days.fixed & (days.pad == p))]
            ts = sorted([(int(launch[m]), m) for m in ms])
            prev = max(hist) if hist else None
            prev_id = None
            for t, m in ts:
                if prev is not None and t - prev < days.turnaround[p]:
                    add("pad_turnaround", t, t + 1, f"{ids[m]} launches {t - prev} d after {prev_id or 'the previous launch'} "
                        f"from {days.pad_ids[p]}; turnaround is {days.turnaround[p]} d", mission=ids[m])
                prev, prev_id = t, ids[m]
    v.sort(key=lambda x: (x["from"], x["rule"]))
    return r


def check(days: Days) -> Report:
    """The scenario as dated (no propagation)."""
    return report(days, days.launch.copy(), days.undock.copy())


def apply(days: Days, pert: Perturbation) -> tuple[Days, np.ndarray, np.ndarray, np.ndarray]:
    """Apply a perturbation with the greedy re-scheduler: (days', launch, undock, unusable)."""
    for pad, a, b, crew_only in pert.outages:
        rep = days.sc.pads[days.pad_index(pad)].repair
        if b is not None and rep is not None and not crew_only and pert.return_to_service:
            b = b + dt.timedelta(days=rep.return_to_service_days)
        days = days.with_outage(pad, a, b, crew_only)
    M = len(days.mission_ids)
    slip = np.zeros(M, dtype=np.int64)
    for mid, s in pert.slips.items():
        slip[days.index(mid)] += s
    launch = propagate(days, 1, slip)
    early = {days.index(m): days.day(d) for m, d in pert.early_returns.items()}
    undock = undocks(days, launch, early)
    unusable = np.full((1, M), NEVER, dtype=np.int64)
    for mid, d in pert.unavailable.items():
        unusable[0, days.index(mid)] = days.day(d)
    return days, launch[0], undock[0], unusable[0]


def what_if(days: Days, pert: Perturbation) -> Report:
    """What slips and which rules break when the perturbation happens."""
    d2, launch, undock, unusable = apply(days, pert)
    return report(d2, launch, undock, unusable, pert.describe())
