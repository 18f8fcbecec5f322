"""The digital twin: one countdown on a virtual clock, deterministic under a seed, narrated.

It runs the Plan through :mod:`padguard.semantics` with N = 1, jumping from event to event.
Faults and operator actions are scheduled by count time ("T-40m": when the count clock first
reaches it) or by wall time since count start ("+25m").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from padguard import plant, semantics
from padguard.compile import NEVER, Plan, StepKind
from padguard.model.times import format_count_time, parse_count_time, parse_duration
from padguard.sequencer.explain import describe_readings, explain_criterion
from padguard.sequencer.table import Mode, Trigger
from padguard.view import OneCountdown

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
    m = re.fullmatch(r"\s*([\w.]+):(\w+)(?:=([\w.]+))?\s*(?:@\s*(\S+))?\s*", spec)
    if not m:
        raise ScenarioError(f"bad fault '{spec}': expected COMPONENT:MODE[@TIME], e.g. cabin.stopper:not_installed@T-40m")
    name = f"{m.group(1)}:{m.group(2)}"
    if name not in plan.faults:
        comp = [f for f in plan.faults if f.startswith(m.group(1) + ":")]
        hint = f"modes of {m.group(1)}: {', '.join(comp)}" if comp else f"known faults: {', '.join(plan.faults)}"
        raise ScenarioError(f"unknown fault '{name}' ({hint})")
    return Scheduled(When.parse(m.group(4)), "fault", name, m.group(3))


def parse_action(plan: Plan, spec: str) -> Scheduled:
    """``clear:COMPONENT@time``, ``recycle:POINT@time``, ``hold|resume|scrub|abort@time``."""
    m = re.fullmatch(r"\s*(\w+)(?::([\w.]+))?\s*(?:@\s*(\S+))?\s*", spec)
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


@dataclass
class Event:
    t: int  # wall ms since count start
    tc: int  # count clock ms
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"t_s": self.t / 1000, "count": format_count_time(self.tc / 1000), "kind": self.kind,
                "text": self.text, **({"data": self.data} if self.data else {})}


@dataclass
class SimResult:
    """The outcome of one simulated countdown, as plain data."""

    outcome: str
    events: list[Event]
    hazards: list[str]
    personnel_hazards: list[str]
    holds: int
    hold_time_s: float
    recycles: int
    ignition_t_s: float | None
    seed: int | None
    state: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "hazards": self.hazards,
                "personnel_hazards": self.personnel_hazards, "holds": self.holds,
                "hold_time_s": self.hold_time_s, "recycles": self.recycles,
                "ignition_t_s": self.ignition_t_s, "seed": self.seed,
                "events": [e.to_dict() for e in self.events]}


class Simulator(OneCountdown):
    """A steppable digital twin of one countdown (N = 1)."""

    def __init__(self, plan: Plan, seed: int | None = 0, faults: list[str] | None = None,
                 actions: list[str] | None = None, travel_u: np.ndarray | None = None,
                 max_events: int = 100_000):
        self.plan = plan
        self.seed = seed
        rng = np.random.default_rng(seed)
        nsteps = len(plan.step_at)
        # travel_u: (nsteps, 1), or (nsteps, k) to give the i-th issue of a step column i
        # (the last column repeats), e.g. a verifier counterexample that recycles
        self.tr_u = travel_u if travel_u is not None else rng.random((nsteps, 1))
        self._issues = np.zeros(nsteps, dtype=np.int64)
        self.schedule = [parse_fault(plan, f) for f in faults or []] + \
                        [parse_action(plan, a) for a in actions or []]
        self.S = semantics.initial_state(plan, 1)
        self.events: list[Event] = []
        self.max_events = max_events
        self._cst = self.S[plan.CST:plan.CST + plan.C, 0].copy()
        self._started = False

    # ---- helpers
    def _ev(self, kind: str, text: str, **data: Any) -> None:
        self.events.append(Event(self.t, self.tc, kind, text, data))

    def _due(self, s: Scheduled) -> bool:
        if s.done:
            return False
        if s.when.wall is not None:
            return self.t >= s.when.wall
        running = self.mode in (Mode.COUNTING, Mode.TERMINAL)
        return running and self.tc >= (s.when.count or 0)

    def _next_sched(self) -> int:
        best = NEVER
        running = self.mode in (Mode.COUNTING, Mode.TERMINAL)
        for s in self.schedule:
            if s.done:
                continue
            if s.when.wall is not None:
                best = min(best, max(s.when.wall, self.t))
            elif running:
                best = min(best, self.t + max((s.when.count or 0) - self.tc, 0))
        return best

    # ---- stepping
    def inject(self, fault: str, value: str | None = None) -> None:
        """Inject ``component:mode`` now."""
        p = self.plan
        i = p.fault_index(fault)
        code = None
        if value is not None and p.f_kind[i] == 1:
            code = p.encode_sensor(int(p.f_comp[i]), value)
        plant.inject(p, self.S, i, None, code)
        self._ev("fault", f"FAULT {fault} injected: {p.model.faults.faults[i].description or p.f_effect[i]}",
                 fault=fault)

    def clear(self, component: str) -> None:
        """Repair every active fault of ``component`` now."""
        for i in self.plan.component_faults(component):
            plant.clear(self.plan, self.S, i)
        self._ev("clear", f"fault cleared on {component} (pad crew repair)", component=component)

    def step(self, op: str | None = None, arg: str | None = None) -> None:
        """Settle the current instant, optionally with one operator command."""
        p = self.plan
        before = self.S.copy()
        opa = oparg = None
        if op is not None:
            opa = np.array([OPS[op]])
            oparg = np.array([p.recycle_points.index(arg) if arg else max(p.auto_recycle_to, 0)])
            self._ev("operator", f"operator: {op}{' ' + arg if arg else ''}", command=op, arg=arg)
        tr_u = self.tr_u
        if tr_u.shape[1] > 1:
            col = np.minimum(self._issues, tr_u.shape[1] - 1)
            tr_u = tr_u[np.arange(tr_u.shape[0]), col][:, None]
        hap = semantics.settle(p, self.S, opa, oparg, tr_u)
        self._issues += hap.issued[:, 0]
        self._narrate(before, hap, op)

    def run(self, until_wall: int | None = None, stop_on_hold: bool = False) -> SimResult:
        """Run until a final state (or ``until_wall`` ms, or the first hold)."""
        p = self.plan
        if not self._started:
            self._started = True
            self._ev("start", f"count starts at {format_count_time(p.start / 1000)}; "
                              f"ignition {format_count_time(p.ign / 1000)}; window closes "
                              f"{(p.window_close - (p.ign - p.start)) // 1000}s after nominal T-0")
            self._apply_schedule()
            self.step()
        n = 0
        while self.mode not in (Mode.LAUNCHED, Mode.SCRUBBED, Mode.ABORTED):
            if stop_on_hold and self.mode == Mode.HOLDING:
                break
            nxt = min(int(semantics.next_event(p, self.S)[0]), self._next_sched())
            if until_wall is not None and nxt > until_wall:
                semantics.advance_to(p, self.S, np.array([until_wall]))
                break
            if nxt >= NEVER:
                break
            semantics.advance_to(p, self.S, np.array([nxt]))
            ops = self._apply_schedule()
            if ops:
                for op, arg in ops:
                    self.step(op, arg)
            else:
                self.step()
            n += 1
            if n > self.max_events:
                self._ev("error", "event limit reached; the model may loop")
                break
        return self.result()

    def _apply_schedule(self) -> list[tuple[str, str | None]]:
        ops = []
        for s in self.schedule:
            if self._due(s):
                s.done = True
                if s.kind == "fault":
                    self.inject(s.target, s.value)
                elif s.kind == "clear":
                    self.clear(s.target)
                else:
                    ops.append((s.kind, s.target or None))
        return ops

    def operator(self, command: str, arg: str | None = None) -> None:
        """Send an operator command now (hold, resume, recycle [point], scrub, abort)."""
        if command not in OPS:
            raise ScenarioError(f"unknown operator command '{command}' (known: {', '.join(OPS)})")
        self.step(command, arg)

    def advance(self, ms: int) -> None:
        """Let ``ms`` of wall time pass, processing every event on the way."""
        self.run(until_wall=self.t + ms)

    # ---- narration
    def _narrate(self, before: np.ndarray, hap: semantics.Happenings, op: str | None) -> None:
        p, S = self.plan, self.S
        for e in np.flatnonzero(hap.arrived[:, 0]):
            pos = p.decode_position(int(e), int(S[p.POS + e, 0]))
            self._ev("arrive", f"{p.equipment[e]} reached {pos}", equipment=p.equipment[e], position=pos)
        if hap.refused[0]:
            self._ev("refused", f"operator {op} refused in {Mode(int(before[p.MODE, 0])).name}"
                     + self._blocking_text(), command=op)
        for trig in hap.triggers:
            tr = int(trig[0])
            if tr >= 0:
                self._transition(Trigger(tr))
        for j in np.flatnonzero(hap.issued[:, 0]):
            kind = p.step_kind[j]
            if kind == StepKind.MILESTONE:
                self._ev("milestone", p.steps[j])
            elif hap.ignored[j, 0]:
                self._ev("command", f"command: {p.steps[j]} -- IGNORED, equipment does not respond",
                         step=p.steps[j], ignored=True)
            else:
                self._ev("command", f"command: {p.steps[j]}", step=p.steps[j])
        cst = S[p.CST:p.CST + p.C, 0]
        for c in np.flatnonzero(cst != self._cst):
            applies = p.c_from[c] <= self.tc <= p.c_until[c]
            if applies:
                ex = explain_criterion(p, S, int(c))
                self._ev("criterion", f"criterion {p.criteria[c]}: {ex['state']}", criterion=p.criteria[c],
                         state=ex["state"])
        self._cst = cst.copy()
        ph = int(S[p.PHAZ, 0]) & ~int(before[p.PHAZ, 0])
        for z in range(len(p.zones)):
            if ph >> z & 1:
                self._ev("personnel_hazard", f"PERSONNEL HAZARD: equipment moving in occupied zone {p.zones[z]}",
                         zone=p.zones[z])

    def _blocking_text(self) -> str:
        p, S = self.plan, self.S
        out = []
        for c in range(p.C):
            if p.c_from[c] <= self.tc <= p.c_until[c] and S[p.CST + c, 0] != 2:
                out.append(p.criteria[c])
        return f" (not OK: {', '.join(out)})" if out else ""

    def _transition(self, tr: Trigger) -> None:
        p, S = self.plan, self.S
        reason = int(S[p.REASON, 0])
        if tr in (Trigger.AUTO_HOLD,) and 0 <= reason < p.C:
            ex = explain_criterion(p, S, reason)
            verb = "AUTOMATIC HOLD" if self.mode == Mode.HOLDING else "ABORT"
            self._ev("hold" if verb == "AUTOMATIC HOLD" else "abort",
                     f"{verb}: criterion {ex['criterion']} is {ex['state']} -- seen: {describe_readings(ex)}. "
                     f"Clears when {ex['clears_when']}.", **ex)
        elif tr == Trigger.BUILTIN_HOLD:
            self._ev("hold", f"built-in hold: {p.hold_reason_text(reason)} "
                             f"({(int(S[p.HOLD_UNTIL, 0]) - self.t) // 1000}s)", builtin=True)
        elif tr == Trigger.OPERATOR_HOLD:
            self._ev("hold" if self.mode == Mode.HOLDING else "abort",
                     "operator hold" if self.mode == Mode.HOLDING else
                     "operator hold past the point of no return: ABORT")
        elif tr == Trigger.RESUME:
            self._ev("resume", f"count resumes at {format_count_time(self.tc / 1000)}")
        elif tr == Trigger.RECYCLE:
            self._ev("recycle", f"RECYCLE: count clock reset to {format_count_time(self.tc / 1000)}")
        elif tr == Trigger.PNR:
            self._ev("pnr", "point of no return passed: from here a violation aborts")
        elif tr == Trigger.IGNITION:
            haz = self.hazards()
            self._ev("ignition", "IGNITION" + (f" -- with {', '.join(haz)}" if haz else ", pad clear"),
                     hazards=haz)
        elif tr == Trigger.WINDOW_CLOSED:
            self._ev("scrub", f"SCRUB: launch window closed during the hold ({p.hold_reason_text(reason)})")
        elif tr == Trigger.OPERATOR_SCRUB:
            self._ev("scrub", "SCRUB by operator")
        elif tr == Trigger.OPERATOR_ABORT:
            self._ev("abort", "ABORT by operator")

    def hazards(self) -> list[str]:
        h = int(self.S[self.plan.HAZ, 0])
        return [self.plan.plume[r] for r in range(len(self.plan.plume)) if h >> r & 1]

    def result(self) -> SimResult:
        p, S = self.plan, self.S
        outcome = semantics.OUTCOMES[int(semantics.outcome_codes(p, S)[0])]
        ph = int(S[p.PHAZ, 0])
        res = SimResult(
            outcome=outcome, events=list(self.events), hazards=self.hazards(),
            personnel_hazards=[p.zones[z] for z in range(len(p.zones)) if ph >> z & 1],
            holds=int(S[p.NHOLDS, 0]), hold_time_s=int(S[p.HOLDTIME, 0]) / 1000,
            recycles=int(S[p.NREC, 0]),
            ignition_t_s=(int(S[p.IGN_T, 0]) / 1000 if S[p.IGN_T, 0] >= 0 else None),
            seed=self.seed, state=S.copy())
        return res


def simulate(plan: Plan, faults: list[str] | None = None, actions: list[str] | None = None,
             seed: int | None = 0, travel_u: np.ndarray | None = None) -> SimResult:
    """Run one countdown to its end and return the result (the notebook entry point)."""
    sim = Simulator(plan, seed=seed, faults=faults, actions=actions, travel_u=travel_u)
    res = sim.run()
    sim._ev("outcome", f"OUTCOME: {res.outcome.replace('_', ' ').upper()}"
            + (f" -- {', '.join(res.hazards)}" if res.hazards else ""), outcome=res.outcome)
    res.events = list(sim.events)
    return res
