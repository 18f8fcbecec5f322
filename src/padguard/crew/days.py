"""The compiled, day-by-day form of a crew scenario: numpy arrays indexed by mission and day.

Day 0 is the scenario's ``start``; launches before it are history (fixed). Pad availability is
a boolean array over an extended horizon (``EXTRA`` days past ``end``) so that a launch can slip
beyond the horizon and still be placed; ``next_ok`` answers "first day >= d this pad can launch"
in one fancy-indexing step, which is what makes the risk engine vectorise over histories.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from padguard.crew.model import Outage, Scenario

EXTRA = 1500  # days past the horizon a launch may slip to
NEVER = 10**6  # "does not undock within any horizon"


@dataclass(frozen=True)
class Days:
    """A scenario compiled to arrays (read-only; engines take copies)."""

    sc: Scenario
    start: dt.date
    n_days: int  # days in the horizon [start, end)
    mission_ids: list[str]
    launch: np.ndarray  # planned launch day (int, may be < 0 for history)
    dock_after: np.ndarray
    undock: np.ndarray  # planned undock day (NEVER when open)
    vehicle: np.ndarray  # vehicle index
    pad: np.ndarray  # pad index
    ncrew: np.ndarray
    seats: np.ndarray  # lifeboat (emergency) seats, 0 when the vehicle cannot return crew
    life: np.ndarray  # docked-life limit in days (NEVER when none)
    relief: np.ndarray  # index of the relieving mission, -1 if none
    advance: np.ndarray  # days the planner may fly it earlier
    min_crew: np.ndarray  # fewest crew the planner may fly (= ncrew unless the scenario allows)
    fixed: np.ndarray  # launched before the horizon: dates are history
    person_names: list[str]
    arr: np.ndarray  # mission each person arrives on
    dep: np.ndarray  # mission each person returns on
    pad_ids: list[str]
    vehicle_ids: list[str]
    can_launch: np.ndarray  # [pad, vehicle] bool
    crew_cert: np.ndarray  # [pad] bool
    turnaround: np.ndarray  # [pad] days
    avail: np.ndarray  # [pad, n_days+EXTRA] bool: can launch anything
    crew_avail: np.ndarray  # [pad, n_days+EXTRA] bool: can launch crew
    next_ok: np.ndarray = field(repr=False)  # [pad, 2, n_days+EXTRA+1] first ok day >= d
    overlap: int = 0
    crew_max: int = 0
    crew_normal: int = 0

    def day(self, d: dt.date) -> int:
        return (d - self.start).days

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=int(day))

    @property
    def crewed(self) -> np.ndarray:
        return self.ncrew > 0

    def index(self, mission: str) -> int:
        try:
            return self.mission_ids.index(mission)
        except ValueError:
            raise KeyError(f"unknown mission '{mission}' (known: {', '.join(self.mission_ids)})") from None

    def pad_index(self, pad: str) -> int:
        try:
            return self.pad_ids.index(pad)
        except ValueError:
            raise KeyError(f"unknown pad '{pad}' (known: {', '.join(self.pad_ids)})") from None

    def with_outage(self, pad: str, start: dt.date, end: dt.date | None, crew_only: bool = False,
                    cause: str = "what-if") -> Days:
        """A copy with one more pad outage (used by what-if and plan)."""
        sc = self.sc.model_copy(deep=True)
        p = sc.pads[self.pad_index(pad)]
        p.outages.append(Outage.model_validate({"from": start, "to": end, "cause": cause,
                                                "crew_only": crew_only, "source": "what-if"}))
        return compile_days(sc)


def _next_ok(ok: np.ndarray) -> np.ndarray:
    """For each day, the first day >= it with ok True (len(ok) when none)."""
    n = ok.shape[-1]
    idx = np.where(ok, np.arange(n), n)
    out = np.minimum.accumulate(idx[..., ::-1], axis=-1)[..., ::-1]
    return np.concatenate([out, np.full(ok.shape[:-1] + (1,), n)], axis=-1)


def compile_days(sc: Scenario) -> Days:
    """Compile a validated scenario into arrays."""
    start = sc.start
    n = (sc.end - start).days
    L = n + EXTRA
    vids = [v.id for v in sc.vehicles]
    pids = [p.id for p in sc.pads]
    veh = {v.id: v for v in sc.vehicles}
    ms = sc.missions
    mids = [m.id for m in ms]

    def d(x: dt.date | None) -> int:
        return NEVER if x is None else (x - start).days

    launch = np.array([d(m.launch) for m in ms], dtype=np.int64)
    dock_after = np.array([veh[m.vehicle].dock_after_days for m in ms], dtype=np.int64)
    undock = np.array([d(m.undock) for m in ms], dtype=np.int64)
    life = np.array([m.docked_life_days or veh[m.vehicle].docked_life_days or NEVER for m in ms],
                    dtype=np.int64)
    seats = np.array([veh[m.vehicle].emergency_seats if veh[m.vehicle].returns_crew else 0 for m in ms],
                     dtype=np.int64)
    ncrew = np.array([len(m.crew) for m in ms], dtype=np.int64)
    relief = np.array([mids.index(m.relieved_by) if m.relieved_by else -1 for m in ms], dtype=np.int64)
    names: list[str] = []
    arr: list[int] = []
    moves = {c.person: mids.index(c.returns_on) for c in sc.crew_moves}
    for i, m in enumerate(ms):
        for who in m.crew:
            names.append(who)
            arr.append(i)
    dep = [moves.get(w, a) for w, a in zip(names, arr, strict=True)]
    can = np.zeros((len(pids), len(vids)), dtype=bool)
    avail = np.ones((len(pids), L), dtype=bool)
    crew_avail = np.zeros((len(pids), L), dtype=bool)
    for i, p in enumerate(sc.pads):
        for v in p.vehicles:
            can[i, vids.index(v)] = True
        for o in p.outages:
            a = max(0, d(o.from_))
            b = L if o.to is None else min(L, max(0, d(o.to)))
            if a < b:
                if not o.crew_only:
                    avail[i, a:b] = False
        crew_avail[i] = avail[i] & p.crew_certified
        for o in p.outages:
            a = max(0, d(o.from_))
            b = L if o.to is None else min(L, max(0, d(o.to)))
            if a < b and o.crew_only:
                crew_avail[i, a:b] = False
    nxt = np.stack([_next_ok(avail), _next_ok(crew_avail)], axis=1)
    return Days(
        sc=sc, start=start, n_days=n, mission_ids=mids, launch=launch, dock_after=dock_after,
        undock=undock, vehicle=np.array([vids.index(m.vehicle) for m in ms], dtype=np.int64),
        pad=np.array([pids.index(m.pad) for m in ms], dtype=np.int64), ncrew=ncrew, seats=seats,
        life=life, relief=relief, advance=np.array([m.can_advance_days for m in ms], dtype=np.int64),
        min_crew=np.array([len(m.crew) if m.min_crew is None else m.min_crew for m in ms], dtype=np.int64),
        fixed=launch < 0, person_names=names, arr=np.array(arr, dtype=np.int64),
        dep=np.array(dep, dtype=np.int64), pad_ids=pids, vehicle_ids=vids, can_launch=can,
        crew_cert=np.array([p.crew_certified for p in sc.pads]),
        turnaround=np.array([p.turnaround_days for p in sc.pads], dtype=np.int64),
        avail=avail, crew_avail=crew_avail, next_ok=nxt, overlap=sc.rules.handover_overlap_days,
        crew_max=sc.station.crew_max, crew_normal=sc.station.crew_normal,
    )


__all__ = ["Days", "compile_days", "NEVER", "EXTRA"]
