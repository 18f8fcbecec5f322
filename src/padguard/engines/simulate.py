"""The digital twin: one countdown on a virtual clock, deterministic under a seed, narrated.

It runs the Plan through :mod:`padguard.semantics` with N = 1, jumping from event to event.
Faults and operator actions are scheduled by count time ("T-40m": when the count clock first
reaches it) or by wall time since count start ("+25m").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from padguard import plant, semantics
from padguard.compile import NEVER, Plan, StepKind
from padguard.model.times import format_count_time
from padguard.scenario import (
    OPS,
    Scenario,
    ScenarioError,
    Scheduled,
    When,
    check_time,
    parse_action,
    parse_fault,
)
from padguard.sequencer import rules
from padguard.sequencer.explain import describe_readings, explain_criterion
from padguard.sequencer.table import Mode, Trigger
from padguard.view import OneCountdown

__all__ = ["OPS", "Event", "Scenario", "ScenarioError", "Scheduled", "SimResult", "Simulator", "When",
           "parse_action", "parse_fault", "simulate"]


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
    abort_t_s: float | None = None  # wall seconds of the abort (its safing sequence starts then)

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "hazards": self.hazards,
                "personnel_hazards": self.personnel_hazards, "holds": self.holds,
                "hold_time_s": self.hold_time_s, "recycles": self.recycles,
                "ignition_t_s": self.ignition_t_s, "abort_t_s": self.abort_t_s, "seed": self.seed,
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
        self.schedule = [check_time(plan, f, parse_fault(plan, f)) for f in faults or []] + \
                        [check_time(plan, a, parse_action(plan, a)) for a in actions or []]
        self.S = semantics.initial_state(plan, 1)
        self.events: list[Event] = []
        self.max_events = max_events
        self._cst = self.S[plan.CST:plan.CST + plan.C, 0].copy()
        self._applying = np.zeros(plan.C, dtype=bool)  # criteria in their window (narrated on entry)
        self._started = False

    # ---- helpers
    def _ev(self, kind: str, text: str, **data: Any) -> None:
        self.events.append(Event(self.t, self.tc, kind, text, data))

    def _due(self, s: Scheduled) -> bool:
        if s.done:
            return False
        if s.when.wall is not None:
            return self.t >= s.when.wall
        running = self.mode in (Mode.COUNTING, Mode.TERMINAL, Mode.FLIGHT)
        return running and self.tc >= (s.when.count or 0)

    def _next_sched(self) -> int:
        best = NEVER
        running = self.mode in (Mode.COUNTING, Mode.TERMINAL, Mode.FLIGHT)
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
        self._oparg = int(oparg[0]) if oparg is not None else None
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
            held = int(p.h_dur[:-1].sum()) if len(p.h_dur) > 1 else 0
            nominal = p.ign - p.start + held  # wall ms of nominal T-0, built-in holds included
            self._ev("start", f"count starts at {format_count_time(p.start / 1000)}; "
                              f"ignition {format_count_time(p.ign / 1000)}; nominal T-0 at "
                              f"+{nominal // 1000}s (built-in holds {held // 1000}s included); window "
                              f"closes {(p.window_close - nominal) // 1000}s after it, at "
                              f"+{p.window_close // 1000}s")
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
            why = self._blocking_text()
            if op == "recycle" and self._oparg is not None:
                why = rules.recycle_refusal(p, int(S[p.T, 0]), int(before[p.TC, 0]), self._oparg) or why
            self._ev("refused", f"operator {op} refused in {Mode(int(before[p.MODE, 0])).name}"
                     + why, command=op)
        done = [int(trig[0]) for trig in hap.triggers if int(trig[0]) == Trigger.SEQUENCE_DONE]
        for trig in hap.triggers:
            tr = int(trig[0])
            if tr >= 0 and tr != Trigger.SEQUENCE_DONE:
                self._transition(Trigger(tr))
        for j in np.flatnonzero(hap.issued[:, 0]):
            kind = p.step_kind[j]
            if kind == StepKind.MILESTONE:
                self._ev("milestone", p.steps[j], **({"safing": True} if j >= p.n_count else {}))
            elif hap.ignored[j, 0]:
                self._ev("command", f"command: {p.steps[j]} -- IGNORED, equipment does not respond",
                         step=p.steps[j], ignored=True, **({"safing": True} if j >= p.n_count else {}))
            else:
                self._ev("command", f"command: {p.steps[j]}", step=p.steps[j],
                         **({"safing": True} if j >= p.n_count else {}))
        for tr in done:  # after the sequence's last commands
            self._transition(Trigger(tr))
        cst = S[p.CST:p.CST + p.C, 0]
        now = (p.c_from <= self.tc) & (self.tc <= p.c_until)
        for c in np.flatnonzero(now & ~self._applying):  # a criterion starts to apply: say what it sees
            ex = explain_criterion(p, S, int(c))
            self._ev("criterion", f"criterion {p.criteria[c]} applies until "
                     f"{format_count_time(int(p.c_until[c]) / 1000)}: {ex['state']} -- {describe_readings(ex)}",
                     criterion=p.criteria[c], state=ex["state"])
        entered = now & ~self._applying
        self._applying = now
        for c in np.flatnonzero((cst != self._cst) & ~entered):
            applies = bool(now[c])
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
        safing = " Safing sequence starts." if self.mode == Mode.SAFING else ""
        if tr in (Trigger.AUTO_HOLD,) and 0 <= reason < p.C:
            ex = explain_criterion(p, S, reason)
            verb = "AUTOMATIC HOLD" if self.mode == Mode.HOLDING else "ABORT"
            self._ev("hold" if verb == "AUTOMATIC HOLD" else "abort",
                     f"{verb}: criterion {ex['criterion']} is {ex['state']} -- seen: {describe_readings(ex)}. "
                     f"Clears when {ex['clears_when']}.{safing}", **ex)
        elif tr == Trigger.BUILTIN_HOLD:
            self._ev("hold", f"built-in hold: {p.hold_reason_text(reason)} "
                             f"({(int(S[p.HOLD_UNTIL, 0]) - self.t) // 1000}s)", builtin=True)
        elif tr == Trigger.OPERATOR_HOLD:
            self._ev("hold" if self.mode == Mode.HOLDING else "abort",
                     "operator hold" if self.mode == Mode.HOLDING else
                     "operator hold past the point of no return: ABORT" + ("." + safing if safing else ""))
        elif tr == Trigger.RESUME:
            self._ev("resume", f"count resumes at {format_count_time(self.tc / 1000)}")
        elif tr == Trigger.RECYCLE:
            self._ev("recycle", f"RECYCLE: count clock reset to {format_count_time(self.tc / 1000)}")
        elif tr == Trigger.CUTOFF:
            # the cutoff criterion that is not OK (the count has already recycled past its window)
            reason = next((c for c in range(p.C) if p.c_recycle[c] >= 0 and S[p.CST + c, 0] != 2), 0)
            ex = explain_criterion(p, S, reason)
            self._ev("cutoff", f"CUTOFF: criterion {ex['criterion']} is {ex['state']} -- seen: "
                             f"{describe_readings(ex)}. Count recycled to {format_count_time(self.tc / 1000)}."
                             "", cutoff=True, **ex)
        elif tr == Trigger.PNR:
            self._ev("pnr", "point of no return passed: from here a violation aborts")
        elif tr == Trigger.IGNITION:
            haz = self.hazards()
            self._ev("ignition", "IGNITION" + (f" -- with {', '.join(haz)}" if haz else ", pad clear")
                     + ("; liftoff: the steps after T-0 run, nothing stops them" if self.mode == Mode.FLIGHT else ""),
                     hazards=haz)
        elif tr == Trigger.SEQUENCE_DONE:
            if self.mode == Mode.ABORTED:
                self._ev("safed", "SAFED: safing sequence complete, equipment at rest")
            else:
                self._ev("sequence_done", "steps after liftoff complete, equipment at rest")
        elif tr == Trigger.WINDOW_CLOSED:
            self._ev("scrub", f"SCRUB: launch window closed during the hold ({p.hold_reason_text(reason)})")
        elif tr == Trigger.OPERATOR_SCRUB:
            self._ev("scrub", "SCRUB by operator")
        elif tr == Trigger.OPERATOR_ABORT:
            self._ev("abort", "ABORT by operator" + ("." + safing if safing else ""))

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
            seed=self.seed, state=S.copy(),
            abort_t_s=next((e.t / 1000 for e in self.events if e.kind == "abort"), None))
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
