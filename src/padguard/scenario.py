"""Scenario specs shared by the simulator and the pad twin: faults and operator actions at a time.

``--fault cabin.stopper:not_installed@T-40m`` and ``--action recycle:stopper@+25m`` are parsed here
into :class:`Scheduled` items; saved counterexamples and risk trials are :class:`Scenario` files.
Neither engine owns them, so the twin (links) and the simulator (engines) both import this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from padguard.compile import Plan
from padguard.model.times import format_count_time, parse_count_time, parse_duration
from padguard.sequencer.table import Trigger

OPS = {"hold": Trigger.OPERATOR_HOLD, "resume": Trigger.RESUME, "recycle": Trigger.RECYCLE,
       "scrub": Trigger.OPERATOR_SCRUB, "abort": Trigger.OPERATOR_ABORT}


class ScenarioError(ValueError):
    """A --fault or --action that does not fit the model; the message says what was expected."""


class Scenario(BaseModel):
    """A saved, replayable countdown scenario (``padguard simulate --replay FILE``).

    Counterexamples from the verifier and sampled risk trials are saved in this form.
    """

    model_config = ConfigDict(extra="allow")

    faults: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    seed: int | None = 0
    travel_u: list[float] | list[list[float]] | None = None  # per step, or per step and issue
    #: the time grain (ms) travel_u was drawn on: a replay compiles the plan at this grain, so a
    #: counterexample found at any resolution takes exactly the travel times it was found with
    resolution_ms: int | None = Field(default=None, gt=0)

    def replay_inputs(self, plan: Plan) -> tuple[Plan, np.ndarray | None]:
        """The plan at the scenario's resolution and its travel_u as a (steps, issues) array.

        Raises ScenarioError when travel_u does not fit the procedure.
        """
        from padguard.compile import compile_model

        if self.resolution_ms is not None and self.resolution_ms != plan.res:
            plan = compile_model(plan.model, self.resolution_ms)
        if self.travel_u is None:
            return plan, None
        if len(self.travel_u) != len(plan.step_at):
            raise ScenarioError(f"travel_u has {len(self.travel_u)} values, the procedure has "
                                f"{len(plan.step_at)} steps")
        try:
            tu = np.array(self.travel_u, dtype=float)
        except ValueError:
            raise ScenarioError("travel_u rows (one per step) must all have the same length") from None
        return plan, tu.reshape(len(plan.step_at), -1)

    @classmethod
    def read(cls, path: str) -> Scenario:
        """Load and validate a scenario JSON file; errors name the file and the field."""
        import json

        try:
            data = json.loads(open(path, encoding="utf-8").read())
        except (OSError, ValueError) as exc:
            raise ScenarioError(f"cannot read scenario file {path}: {exc}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            e = exc.errors()[0]
            loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
            raise ScenarioError(f"{path}: [{loc}] {e['msg']}") from None


@dataclass(frozen=True)
class When:
    """A scheduled moment: on the count clock (``count``) or the wall clock (``wall``), ms."""

    count: int | None = None
    wall: int | None = None

    @staticmethod
    def parse(text: str | None) -> When:
        if text is None or text == "":
            return When(wall=0)
        t = text.strip()
        try:
            if t[0] in "Tt":
                return When(count=int(round(parse_count_time(t) * 1000)))
            return When(wall=int(round(parse_duration(t.lstrip("+")) * 1000)))
        except ValueError as exc:
            raise ScenarioError(f"bad time '{text}': {exc}; use T-40m (count clock) or +25m (since count start)") from None

    def __str__(self) -> str:
        if self.count is not None:
            return format_count_time(self.count / 1000)
        return f"+{(self.wall or 0) // 1000}s"


@dataclass
class Scheduled:
    when: When
    kind: str  # "fault" | "clear" | operator command name
    target: str = ""
    value: str | None = None
    done: bool = False


def parse_fault(plan: Plan, spec: str) -> Scheduled:
    """``component:mode[=value][@time]``, e.g. ``cabin.stopper:not_installed@T-40m``."""
    m = re.fullmatch(r"\s*([\w.]+):(\w+)(?:=([\w.]+))?\s*(?:@\s*(.*?))?\s*", spec)
    if not m:
        raise ScenarioError(f"bad fault '{spec}': expected COMPONENT:MODE[@TIME], e.g. cabin.stopper:not_installed@T-40m")
    name = f"{m.group(1)}:{m.group(2)}"
    when = When.parse(m.group(4))  # (a bad time is named first: it is what the user typed last)
    if name not in plan.faults:
        import difflib

        comp = [f for f in plan.faults if f.startswith(m.group(1) + ":")]
        close = difflib.get_close_matches(name, plan.faults, n=1, cutoff=0.7)
        hint = f"modes of {m.group(1)}: {', '.join(comp)}" if comp else f"known faults: {', '.join(plan.faults)}"
        raise ScenarioError(f"unknown fault '{name}'" + (f"; did you mean '{close[0]}'?" if close else "")
                            + f" ({hint})")
    return Scheduled(when, "fault", name, m.group(3))


def parse_action(plan: Plan, spec: str) -> Scheduled:
    """``clear:COMPONENT@time``, ``recycle:POINT@time``, ``hold|resume|scrub|abort@time``."""
    m = re.fullmatch(r"\s*(\w+)(?::([\w.]+))?\s*(?:@\s*(.*?))?\s*", spec)
    if not m or m.group(1) not in (*OPS, "clear"):
        raise ScenarioError(f"bad action '{spec}': expected clear:COMPONENT@TIME, recycle:POINT@TIME, "
                            "or hold/resume/scrub/abort@TIME")
    kind, target = m.group(1), m.group(2) or ""
    if kind == "clear" and not plan.component_faults(target):
        raise ScenarioError(f"clear: '{target}' has no fault modes")
    if kind == "recycle":
        if not target and plan.auto_recycle_to >= 0:
            target = plan.recycle_points[plan.auto_recycle_to]
        if target not in plan.recycle_points:
            raise ScenarioError(f"recycle: unknown recycle point '{target}' (known: {', '.join(plan.recycle_points) or 'none'})")
    return Scheduled(When.parse(m.group(3)), kind, target)


def check_time(plan: Plan, spec: str, sc: Scheduled) -> Scheduled:
    """Reject a time at which nothing can happen, naming it: a count time before the count starts
    or after ignition, a wall time after the latest end of the count (the window's close)."""
    w = sc.when
    if w.count is not None:
        if w.count < plan.start:
            raise ScenarioError(f"'{spec}': {format_count_time(w.count / 1000)} is before the count starts "
                                f"({format_count_time(plan.start / 1000)})")
        # steps after T-0 keep the count clock running after liftoff, up to the last of them
        end = max(plan.ign, int(plan.step_at[plan.n_count - 1])) if plan.has_flight else plan.ign
        if w.count > end:
            raise ScenarioError(f"'{spec}': {format_count_time(w.count / 1000)} is after "
                                + (f"ignition ({format_count_time(plan.ign / 1000)})" if end == plan.ign else
                                   f"the last step after liftoff ({format_count_time(end / 1000)})")
                                + ": the count has ended by then")
    elif w.wall is not None and w.wall > latest_end(plan):
        end = latest_end(plan)
        raise ScenarioError(f"'{spec}': +{w.wall / 60_000:g}m is after the count's latest end (+{end / 60_000:g}m"
                            + (", when the launch window closes)" if end == plan.window_close else
                               ": the window's close, then the steps after liftoff or a safing sequence "
                               "and the moves they command)"))
    return sc


def latest_end(plan: Plan) -> int:
    """The latest wall time (ms) at which anything of the count can still happen: the window's
    close, plus what may run after it (steps after liftoff, a safing sequence, and the travel of
    the moves they command)."""
    tail = 0
    if plan.has_flight:
        tail = int(plan.step_at[plan.n_count - 1]) - int(plan.ign)
    if len(plan.step_at) > plan.n_count:  # safing sequences, on their own clocks
        tail = max(tail, int(plan.step_at[plan.n_count:].max()))
    if tail and plan.E:
        tail += int(plan.tmax.max())
    return int(plan.window_close) + max(tail, 0)
