"""The crew-access model: pads, vehicles, station, manifest and rules (YAML -> pydantic).

Same style as the pad models: unknown fields are errors, every entity carries a ``source``
(a fact from ``crew-access-facts.md``/``pad-facts.md`` or a string starting with
``assumption``), and every problem is reported with its file, line and field. Nothing runs on
an invalid scenario: :func:`load_scenario` raises :class:`ModelError` instead.
"""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from padguard.model.errors import ModelError, Problem
from padguard.model.loader import parse_as
from padguard.model.yamlsrc import Located, load_yaml

ID_RE = re.compile(r"^[a-z][a-z0-9_\-]*$")


def _id(v: Any) -> str:
    if not isinstance(v, str) or not ID_RE.match(v):
        raise ValueError(f"{v!r} is not a valid id: use lower-case letters, digits, '_' and '-' "
                         "(e.g. 'soyuz-ms-28')")
    return v


def _source(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("every number needs a source: cite the facts file or write 'assumption: ...'")
    return v


Id = Annotated[str, BeforeValidator(_id)]
Source = Annotated[str, BeforeValidator(_source)]


class Strict(BaseModel):
    """Base: unknown fields are errors, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Outage(Strict):
    """A window in which a pad cannot launch (``crew_only``: it can still launch cargo)."""

    from_: dt.date = Field(alias="from")
    to: dt.date | None = None  # exclusive end; None = open (beyond the horizon)
    cause: str
    crew_only: bool = False
    source: Source


class Repair(Strict):
    """Repair time after a pad is damaged (days, triangular) and return-to-service work."""

    min_days: int = Field(ge=1)
    mode_days: int = Field(ge=1)
    max_days: int = Field(ge=1)
    return_to_service_days: int = Field(default=0, ge=0)
    source: Source


class Pad(Strict):
    id: Id
    name: str
    vehicles: list[Id] = Field(default_factory=list)
    crew_certified: bool = False
    turnaround_days: int = Field(default=1, ge=0)
    outages: list[Outage] = Field(default_factory=list)
    repair: Repair | None = None
    pad_model: str | None = None  # shipped pad site (e.g. site31) whose risk engine gives damage
    source: Source


class Vehicle(Strict):
    id: Id
    name: str
    seats: int = Field(ge=0)  # seats in rotation
    emergency_seats: int = Field(ge=0)  # seats usable as a lifeboat
    docked_life_days: int | None = Field(default=None, ge=1)
    returns_crew: bool = False
    dock_after_days: int = Field(default=0, ge=0)
    source: Source


class Station(Strict):
    name: str
    crew_normal: int = Field(ge=1)
    crew_max: int = Field(ge=1)
    source: Source


class Mission(Strict):
    id: Id
    vehicle: Id
    pad: Id
    launch: dt.date
    undock: dt.date | None = None  # None: stays beyond the horizon
    crew: list[str] = Field(default_factory=list)
    relieved_by: Id | None = None  # the mission whose crew takes over (handover overlap)
    docked_life_days: int | None = Field(default=None, ge=1)  # per-mission extension
    can_advance_days: int = Field(default=0, ge=0)  # the planner may fly it this much earlier
    min_crew: int | None = Field(default=None, ge=0)  # the planner may fly fewer (crew listed by priority)
    actual_launch: dt.date | None = None  # what happened (for checking a what-if)
    source: Source


class CrewMove(Strict):
    """A person who returns on a different vehicle from the one they arrived on."""

    person: str
    returns_on: Id
    source: Source


class Rules(Strict):
    lifeboat: bool = True
    docked_life: bool = True
    handover_overlap_days: int = Field(ge=0)
    crew_capacity: bool = True
    pads: bool = True
    source: Source


class Scenario(Strict):
    scenario: Id
    name: str
    start: dt.date
    end: dt.date
    station: Station
    rules: Rules
    pads: list[Pad] = Field(min_length=1)
    vehicles: list[Vehicle] = Field(min_length=1)
    missions: list[Mission] = Field(min_length=1)
    crew_moves: list[CrewMove] = Field(default_factory=list)
    notes: str = ""


class _NoVehicle:
    returns_crew = True  # unknown vehicles are reported elsewhere


_NOVEH = _NoVehicle()


def _dupes(items: list[Any], key: str, loc: Located, section: str) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for i, it in enumerate(items):
        v = getattr(it, key)
        if v in seen:
            out.append(loc.problem((section, i, key), f"duplicate {key} '{v}'"))
        seen.add(v)
    return out


def validate(sc: Scenario, loc: Located) -> list[Problem]:
    """Cross-reference checks: unknown ids, impossible dates, inconsistent numbers."""
    p: list[Problem] = []
    if sc.end <= sc.start:
        p.append(loc.problem(("end",), f"end {sc.end} must be after start {sc.start}"))
    if sc.station.crew_max < sc.station.crew_normal:
        p.append(loc.problem(("station", "crew_max"), "crew_max must be at least crew_normal"))
    for sec, items in (("pads", sc.pads), ("vehicles", sc.vehicles), ("missions", sc.missions)):
        p += _dupes(items, "id", loc, sec)
    vids = {v.id for v in sc.vehicles}
    pids = {q.id for q in sc.pads}
    mids = {m.id for m in sc.missions}
    veh = {v.id: v for v in sc.vehicles}
    mveh = {m.id: m.vehicle for m in sc.missions}
    for i, q in enumerate(sc.pads):
        for j, v in enumerate(q.vehicles):
            if v not in vids:
                p.append(loc.problem(("pads", i, "vehicles", j), f"unknown vehicle '{v}' (known: {', '.join(sorted(vids))})"))
        for j, o in enumerate(q.outages):
            if o.to is not None and o.to <= o.from_:
                p.append(loc.problem(("pads", i, "outages", j, "to"), f"outage ends ({o.to}) before it starts ({o.from_})"))
        if q.repair and not q.repair.min_days <= q.repair.mode_days <= q.repair.max_days:
            p.append(loc.problem(("pads", i, "repair"), "expected min_days <= mode_days <= max_days"))
    for i, v in enumerate(sc.vehicles):
        if v.emergency_seats < v.seats:
            p.append(loc.problem(("vehicles", i, "emergency_seats"), "emergency_seats must be at least seats"))
        if v.seats and not v.returns_crew:
            p.append(loc.problem(("vehicles", i, "returns_crew"), "a vehicle with seats must be able to return crew"))
    people: dict[str, str] = {}
    for i, m in enumerate(sc.missions):
        if m.vehicle not in vids:
            p.append(loc.problem(("missions", i, "vehicle"), f"unknown vehicle '{m.vehicle}' (known: {', '.join(sorted(vids))})"))
        if m.pad not in pids:
            p.append(loc.problem(("missions", i, "pad"), f"unknown pad '{m.pad}' (known: {', '.join(sorted(pids))})"))
        if m.undock is not None and m.undock <= m.launch:
            p.append(loc.problem(("missions", i, "undock"), f"undock {m.undock} must be after launch {m.launch}"))
        if m.relieved_by is not None and (m.relieved_by not in mids or m.relieved_by == m.id):
            p.append(loc.problem(("missions", i, "relieved_by"), f"unknown relief mission '{m.relieved_by}'"))
        v = veh.get(m.vehicle)
        if v is not None and len(m.crew) > v.seats:
            p.append(loc.problem(("missions", i, "crew"), f"{len(m.crew)} crew but {v.id} has {v.seats} seats"))
        if m.min_crew is not None and m.min_crew > len(m.crew):
            p.append(loc.problem(("missions", i, "min_crew"), f"min_crew {m.min_crew} > the {len(m.crew)} crew listed"))
        for j, who in enumerate(m.crew):
            if who in people:
                p.append(loc.problem(("missions", i, "crew", j), f"{who} already flies on {people[who]}"))
            people[who] = m.id
    for i, c in enumerate(sc.crew_moves):
        if c.person not in people:
            p.append(loc.problem(("crew_moves", i, "person"), f"'{c.person}' is not on any mission's crew"))
        if c.returns_on not in mids:
            p.append(loc.problem(("crew_moves", i, "returns_on"), f"unknown mission '{c.returns_on}'"))
        elif not veh.get(mveh.get(c.returns_on, ""), _NOVEH).returns_crew:
            p.append(loc.problem(("crew_moves", i, "returns_on"), f"'{c.returns_on}' cannot return crew"))
    return p


def scenarios_dir() -> Path:
    return Path(str(resources.files("padguard.crew") / "scenarios"))


def resolve(path: str | Path) -> Path:
    """A shipped scenario name (``iss-2025-2026``) or a path."""
    p = Path(path)
    if p.exists() or p.suffix in (".yaml", ".yml"):
        return p
    cand = scenarios_dir() / f"{path}.yaml"
    if cand.exists():
        return cand
    names = ", ".join(sorted(q.stem for q in scenarios_dir().glob("*.yaml")))
    raise ModelError([Problem(str(path), None, "", f"no such scenario file or shipped scenario (shipped: {names})")])


def load_scenario(path: str | Path, text: str | None = None) -> Scenario:
    """Load and validate a crew scenario; raises ModelError with every problem."""
    loc = load_yaml(resolve(path) if text is None else path, text)
    sc = parse_as(Scenario, loc)
    problems = validate(sc, loc)
    if problems:
        raise ModelError(problems)
    return sc


def check_located(loc: Located) -> list[Problem]:
    """Every problem of one crew scenario file (for ``padguard check``)."""
    try:
        sc = parse_as(Scenario, loc)
    except ModelError as exc:
        return exc.problems
    return validate(sc, loc)
