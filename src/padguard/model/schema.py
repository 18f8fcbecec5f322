"""The declarative model: site, procedure and faults, as pydantic models.

Shape checks live here (types, required fields, units). Cross-references (unknown names,
duplicates, unreachable positions, impossible times) are checked in ``validate.py`` so that
every problem in a file is reported at once with its line.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from padguard.model.times import parse_count_time, parse_duration

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


def _dur(v: Any) -> float:
    return parse_duration(v)


def _ct(v: Any) -> float:
    return parse_count_time(v)


# In YAML these are the strings the docs use ("90s", "1h30m", "6:15"; "T-45m", "T+10s"), or a
# bare number of seconds: the published JSON Schema says so (not just "number").
DURATION_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(h|m|s|ms)\s*)+$|^\d+(:\d{1,2}){1,2}(\.\d+)?$"},
              {"type": "number", "minimum": 0}],
    "description": "a duration: '90s', '5m', '1h30m', '6:15' (m:ss), '1:02:00', or seconds",
    "examples": ["90s", "5m", "1h30m", "6:15"]}
COUNT_TIME_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": r"^\s*T\s*[-+]\s*\S+$"}, {"type": "number"}],
    "description": "a count time relative to T-0: 'T-45m', 'T-6m15s', 'T-0', 'T+10s', or seconds",
    "examples": ["T-1h05m", "T-6m15s", "T-0", "T+10s"]}
Duration = Annotated[float, BeforeValidator(_dur), WithJsonSchema(DURATION_SCHEMA)]  # seconds, ms precision
CountTime = Annotated[float, BeforeValidator(_ct), WithJsonSchema(COUNT_TIME_SCHEMA)]  # seconds from T-0


def _name(v: Any) -> str:
    if not isinstance(v, str) or not NAME_RE.match(v):
        raise ValueError(
            f"{v!r} is not a valid name: use lower-case letters, digits and '_', "
            "optionally dotted (e.g. 'cabin.stopper')"
        )
    return v


Name = Annotated[str, BeforeValidator(_name)]


class Strict(BaseModel):
    """Base: unknown fields are errors, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- site

EquipmentKind = Literal[
    "cabin", "tower", "mast", "arm", "shield", "door", "lock", "platform", "other"
]


class Travel(Strict):
    """Motion between two positions; the actual time is anywhere in [min, max]."""

    from_: Name = Field(alias="from")
    to: Name
    min: Duration
    max: Duration
    source: str | None = None


class ActsOn(Strict):
    """Coupling: a lock, latch or door acts on a host and can only move while the host is in
    one of ``when`` (not in transit). A command given otherwise has no effect: the equipment
    stays where it is, and its sensors show it."""

    equipment: Name
    when: list[Name] = Field(min_length=1)
    source: str | None = None


class Equipment(Strict):
    name: Name
    kind: EquipmentKind
    description: str = ""
    positions: list[Name] = Field(min_length=1)
    initial: Name
    travel: list[Travel] = Field(default_factory=list)
    acts_on: ActsOn | None = None
    source: str | None = None


SensorFaultMode = Literal["stuck", "dropout", "reads_wrong"]


class Sensor(Strict):
    """A sensor reports the position of one piece of equipment (or 'in_transit')."""

    name: Name
    observes: Name
    period: Duration = Field(default=1, description="expected sampling period")
    stale_after: float = Field(
        default=3.0, gt=0, description="stale when no sample for period x stale_after"
    )
    faults: list[SensorFaultMode] = Field(default_factory=lambda: ["stuck", "dropout", "reads_wrong"])
    description: str = ""
    source: str | None = None


class Group(Strict):
    """A redundancy group: k-of-n voting over its fresh members."""

    name: Name
    sensors: list[Name] = Field(min_length=1)
    vote: int = Field(ge=1, description="k: how many fresh members must agree")
    source: str | None = None


HazardKind = Literal["in_plume", "unlocked", "unshielded"]


class PlumeRule(Strict):
    """At ignition ``equipment`` must be in one of ``safe`` positions, else ``hazard``."""

    equipment: Name
    safe: list[Name] = Field(min_length=1)
    hazard: HazardKind = "in_plume"
    description: str = ""


class PersonnelZone(Strict):
    """Equipment that must not move while people are in the zone."""

    name: Name
    equipment: list[Name] = Field(min_length=1)
    occupied: bool = True
    description: str = ""


class Site(Strict):
    site: Name
    name: str
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    equipment: list[Equipment] = Field(min_length=1)
    sensors: list[Sensor] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    plume_zone: list[PlumeRule] = Field(default_factory=list)
    personnel_zones: list[PersonnelZone] = Field(default_factory=list)


# --------------------------------------------------------------------------- procedure


class Term(Strict):
    """A leaf predicate: a sensor's (or a voted group's) value is one of ``in``."""

    sensor: Name | None = None
    group: Name | None = None
    is_: Name | None = Field(default=None, alias="is")
    in_: list[Name] | None = Field(default=None, alias="in")

    def values(self) -> list[str]:
        return list(self.in_ or []) + ([self.is_] if self.is_ else [])


class Expr(Strict):
    """A Kleene (three-valued) combination: all = AND, any = OR."""

    all: list[Term | Expr] | None = None
    any: list[Term | Expr] | None = None


class Window(Strict):
    """The count-time span in which a criterion applies."""

    from_: CountTime = Field(alias="from")
    until: CountTime = 0


class Criterion(Strict):
    """A launch commit criterion: must be OK (not violated, not unknown) while it applies."""

    name: Name
    description: str = ""
    applies: Window
    debounce: Duration | None = None
    all: list[Term | Expr] | None = None
    any: list[Term | Expr] | None = None
    clear_hint: str = ""
    recycle_to: Name | None = Field(
        default=None,
        description="cutoff: a violation while it applies stops the count and recycles it to this "
                    "recycle point (not an abort, even past the point of no return); a built-in "
                    "hold at the point then holds it")
    source: str | None = None


class Step(Strict):
    """One T-minus step: a command to equipment, a personnel movement, or a milestone.

    ``requires`` are preconditions (terms, all of which must read OK when the step is due):
    the count holds at the step, naming them, until they do; the step is not issued before.
    """

    at: CountTime
    move: Name | None = None
    to: Name | None = None
    evacuate: Name | None = None
    occupy: Name | None = None
    milestone: str | None = None
    requires: list[Term | Expr] | None = None
    source: str | None = None


class SafingStep(Strict):
    """One command of an abort's safing sequence, issued ``after`` the abort (its own clock:
    the count clock stops at the abort). Moves run through the same plant rules as count steps."""

    after: Duration
    move: Name | None = None
    to: Name | None = None
    evacuate: Name | None = None
    occupy: Name | None = None
    milestone: str | None = None
    source: str | None = None


class AbortSequence(Strict):
    """What the sequencer does when it aborts: the safing sequence, as data.

    ``plume_clear`` is how long after an abort the engines' plume is still present (shutdown
    transient); a safing move into a position its plume rule does not list as safe must come
    no earlier (the validator checks it).
    """

    plume_clear: Duration = 0
    safing: list[SafingStep] = Field(min_length=1)
    source: str | None = None


class CutoffSequence(Strict):
    """What the sequencer does when a cutoff criterion recycles the count: a safing sequence
    that puts the pad back in the recycle point's configuration (e.g. arms back out), issued
    ``after`` the cutoff while the recycled count holds or runs."""

    safing: list[SafingStep] = Field(min_length=1)
    source: str | None = None


class TravelWatchdog(Strict):
    """Every move must be confirmed by the sensors of its equipment within the equipment's
    maximum travel time into the target plus ``margin``; otherwise the count holds naming it."""

    margin: Duration = 0
    source: str | None = None


class BuiltinHold(Strict):
    name: str
    at: CountTime
    duration: Duration
    source: str | None = None


class RecyclePoint(Strict):
    name: Name
    at: CountTime
    source: str | None = None


class LaunchWindow(Strict):
    """The window opens at nominal T-0 and lasts ``duration``; ignition after it scrubs."""

    duration: Duration = 0
    source: str | None = None


class AutoPolicy(Strict):
    """What the sequencer does unattended (risk, verify, dry runs)."""

    resume: bool = True
    recycle_after: Duration | None = None
    recycle_to: Name | None = None
    max_recycles: int = Field(default=0, ge=0)


class Invariant(Strict):
    """A user invariant (checked by the verifier): an expression over true state."""

    name: Name
    expr: str
    description: str = ""


class Procedure(Strict):
    procedure: Name
    site: Name
    description: str = ""
    start: CountTime
    ignition: CountTime = 0
    point_of_no_return: CountTime | None = None
    engine_start: CountTime | None = Field(
        default=None,
        description="main-engine start before liftoff (T-0): the engines run on the pad from here; "
                    "the point of no return defaults to it and may not lie after it")
    window: LaunchWindow = Field(default_factory=LaunchWindow)
    debounce: Duration = 0
    steps: list[Step] = Field(default_factory=list)
    holds: list[BuiltinHold] = Field(default_factory=list)
    recycle_points: list[RecyclePoint] = Field(default_factory=list)
    criteria: list[Criterion] = Field(default_factory=list)
    auto: AutoPolicy = Field(default_factory=AutoPolicy)
    travel_watchdog: TravelWatchdog | None = None
    abort: AbortSequence | None = None
    cutoff: CutoffSequence | None = None
    invariants: list[Invariant] = Field(default_factory=list)
    sources: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- faults

EquipmentEffect = Literal["jam", "wrong_position", "spontaneous", "slow"]


class FaultMode(Strict):
    """A way one component (or a common-cause group of components) can fail, per demand.

    ``component`` names a piece of equipment, a sensor, or a **common-cause group**: a sensor
    group of the site (its sensors are the members) or a new name with explicit ``members``.
    One common-cause event fails every member the same way at the same instant: it is one
    fault (one fault in ``verify``'s budget, one draw at its own probability in ``risk``).
    Its probability is given directly, or as ``beta`` times the members' independent
    probability of the mode ``beta_of`` (the beta-factor model of IEC 61508-6 Annex D).
    """

    component: Name
    mode: Name
    effect: Literal["jam", "wrong_position", "spontaneous", "slow", "stuck", "dropout", "reads_wrong"]
    to: Name | None = None
    delay: Duration | None = Field(
        default=None, description="slow: every travel takes the declared maximum plus this")
    value: Name | None = None
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    members: list[Name] | None = Field(
        default=None, min_length=2,
        description="common-cause group: the sensors or equipment failed together (a sensor "
                    "group named as component supplies its sensors)")
    beta: float | None = Field(
        default=None, gt=0.0, le=1.0,
        description="beta factor: probability = beta x the members' probability of beta_of")
    beta_of: Name | None = Field(default=None, description="the members' independent mode that beta scales")
    description: str = ""
    source: str | None = None

    @field_validator("probability", "beta", mode="before")
    @classmethod
    def _prob(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("expected a probability between 0 and 1")
        return v


class Faults(Strict):
    site: Name
    faults: list[FaultMode] = Field(default_factory=list)
    sources: dict[str, str] = Field(default_factory=dict)


Expr.model_rebuild()
Criterion.model_rebuild()
