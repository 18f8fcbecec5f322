"""The pad side of a dry run: the Plan's plant rules on a clock, with no I/O.

:class:`PadTwin` is what ``padguard pad-sim`` serves over OPC UA. It owns the PLANT rows of a
state array (positions, travel, faults, sensor readings, personnel, hazards) and advances them
only through :mod:`padguard.plant` (arrivals, sense, command, personnel, ignition_hazards,
inject, clear). Equipment commands are run through :func:`padguard.plant.command` by way of a
pad-only step table with one move step per (equipment, position) pair and one evacuate and
occupy step per zone, so a command from the link means exactly what a procedure step means
in the simulator.

Sensors sample on their period (multiples of it from pad start) and also report a change at
once (report by exception); a sensor that has dropped out does neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from padguard import plant, semantics
from padguard.compile import NEVER, Plan, StepKind, compile_model
from padguard.model.loader import Model
from padguard.model.schema import Procedure, Step
from padguard.scenario import ScenarioError, Scheduled, parse_fault


def pad_plan(model: Model) -> Plan:
    """Compile ``model``'s site and faults with a pad-only step table (every possible command)."""
    site = model.site
    steps = [Step(at=0, move=e.name, to=p) for e in site.equipment for p in e.positions]
    for z in site.personnel_zones:
        steps += [Step(at=0, evacuate=z.name), Step(at=0, occupy=z.name)]
    proc = Procedure(procedure="pad", site=site.site, start=0, ignition=0, steps=steps)
    return compile_model(Model(site, proc, model.faults, dict(model.files)))


@dataclass
class PadCommand:
    """One command the pad received, for the dry run's record."""

    t: int
    target: str
    value: str
    result: str


@dataclass
class PadTwin:
    """The digital twin's plant on its own clock (ms since pad start), N = 1."""

    plan: Plan
    seed: int | None = 0
    travel_u: float | None = None  # fixed point in [0, 1) of each travel range; None = sampled
    S: np.ndarray = field(init=False)
    schedule: list[Scheduled] = field(default_factory=list)
    commands: list[PadCommand] = field(default_factory=list)
    log: list[tuple[int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.S = semantics.initial_state(self.plan, 1)
        self.rng = np.random.default_rng(self.seed)
        self._step_of = {}
        for j in range(len(self.plan.steps)):
            kind = int(self.plan.step_kind[j])
            self._step_of[(kind, int(self.plan.step_target[j]), int(self.plan.step_to[j]))] = j
        self._published = np.full(self.plan.S, -3, dtype=np.int64)
        self._periodic_at = -1  # instant whose periodic samples were already published
        self.ignited_at: int | None = None

    # ---- clock
    @property
    def t(self) -> int:
        return int(self.S[self.plan.T, 0])

    def next_instant(self) -> int:
        """The next pad time at which something happens (a sample, an arrival, a scheduled fault)."""
        p, t = self.plan, self.t
        cands = [NEVER]
        if p.S:
            per = p.s_period
            cands.append(int(((t // per + 1) * per).min()))
        arr = self.S[p.ARRIVE:p.ARRIVE + p.E, 0]
        if (arr > t).any():
            cands.append(int(arr[arr > t].min()))
        for s in self.schedule:
            if not s.done and s.when.wall is not None:
                cands.append(max(s.when.wall, t + 1))
        return min(cands)

    def advance(self, t: int) -> list[tuple[int, str]]:
        """Move the pad clock to ``t`` (no instant skipped) and settle that instant.

        Returns the samples to publish now: ``(sensor index, value name)``.
        """
        if t < self.t:
            raise ValueError(f"pad clock cannot go back ({t} < {self.t})")
        self.S[self.plan.T] = t
        for s in self.schedule:
            if not s.done and s.when.wall is not None and s.when.wall <= t:
                s.done = True
                if s.kind == "fault":
                    self.inject(s.target, s.value)
                else:
                    self.clear(s.target)
        return self.settle()

    def settle(self) -> list[tuple[int, str]]:
        """Plant rules at the current instant; the samples due (periodic or changed)."""
        p, S = self.plan, self.S
        plant.arrivals(p, S)
        plant.sense(p, S)
        plant.personnel(p, S)
        t = self.t
        vals = S[p.SVAL:p.SVAL + p.S, 0]
        fresh = S[p.STIME:p.STIME + p.S, 0] == t
        periodic = (t % p.s_period == 0) & (t != self._periodic_at)
        self._periodic_at = t if periodic.any() else self._periodic_at
        due = fresh & (periodic | (vals != self._published))
        out = []
        for s in np.flatnonzero(due):
            self._published[s] = vals[s]
            out.append((int(s), p.decode_sensor(int(s), int(vals[s]))))
        return out

    # ---- commands from the link
    def move(self, equipment: str, position: str) -> str:
        """Command equipment to a position (plant.command); 'accepted' even if it will not move."""
        p = self.plan
        if equipment not in p.equipment:
            raise ValueError(f"unknown equipment '{equipment}'")
        e = p.equipment.index(equipment)
        if position not in p.positions[e]:
            raise ValueError(f"'{position}' is not a position of {equipment} ({', '.join(p.positions[e])})")
        j = self._step_of[(int(StepKind.MOVE), e, p.positions[e].index(position))]
        return self._issue(j, equipment, position)

    def set_occupied(self, zone: str, occupied: bool) -> str:
        p = self.plan
        if zone not in p.zones:
            raise ValueError(f"unknown zone '{zone}'")
        kind = StepKind.OCCUPY if occupied else StepKind.EVACUATE
        j = self._step_of[(int(kind), p.zones.index(zone), 1 if occupied else 0)]
        return self._issue(j, zone, "occupied" if occupied else "evacuated")

    def _issue(self, j: int, target: str, value: str) -> str:
        p, S = self.plan, self.S
        issued = np.zeros((len(p.steps), 1), dtype=bool)
        issued[j, 0] = True
        u = np.full((len(p.steps), 1), self.travel_u if self.travel_u is not None else self.rng.random())
        ignored = plant.command(p, S, issued, u)
        plant.personnel(p, S)
        res = "accepted" + (" (equipment does not respond)" if ignored[j, 0] else "")
        self.commands.append(PadCommand(self.t, target, value, res))
        return "accepted"

    def ignite(self) -> list[str]:
        """Ignition at the current instant: the plume-zone hazards of the true state."""
        plant.ignition_hazards(self.plan, self.S, np.array([True]))
        self.ignited_at = self.t
        self.commands.append(PadCommand(self.t, "ignition", "ignite", "accepted"))
        return self.hazards()

    # ---- faults
    def inject(self, fault: str, value: str | None = None) -> None:
        p = self.plan
        i = p.fault_index(fault)
        code = p.encode_sensor(int(p.f_comp[i]), value) if value is not None and p.f_kind[i] == 1 else None
        plant.inject(p, self.S, i, None, code)
        self.log.append((self.t, f"fault {fault} injected"))

    def clear(self, component: str) -> None:
        idx = self.plan.component_faults(component)
        if not idx:
            raise ValueError(f"'{component}' has no fault modes")
        for i in idx:
            plant.clear(self.plan, self.S, i)
        self.log.append((self.t, f"fault cleared on {component}"))

    def schedule_fault(self, spec: str) -> None:
        """``component:mode[=value]@+TIME`` (pad time since start; the pad has no count clock)."""
        sc = parse_fault(self.plan, spec)
        if sc.when.wall is None:
            raise ScenarioError(f"'{spec}': the pad has no count clock; schedule with +TIME since pad start")
        self.schedule.append(sc)

    # ---- ground truth, for the dry run's verdict
    def hazards(self) -> list[str]:
        h = int(self.S[self.plan.HAZ, 0])
        return [self.plan.plume[r] for r in range(len(self.plan.plume)) if h >> r & 1]

    def personnel_hazards(self) -> list[str]:
        h = int(self.S[self.plan.PHAZ, 0])
        return [self.plan.zones[z] for z in range(len(self.plan.zones)) if h >> z & 1]

    def status(self) -> dict:
        p, S = self.plan, self.S
        active = [p.faults[int(c) - 1] for c in np.concatenate([S[p.EFAULT:p.EFAULT + p.E, 0],
                                                                  S[p.SFAULT:p.SFAULT + p.S, 0]]) if c > 0]
        return {"t_ms": self.t, "positions": {e: p.decode_position(i, int(S[p.POS + i, 0]))
                                              for i, e in enumerate(p.equipment)},
                "faults": active, "ignited_at_ms": self.ignited_at, "hazards": self.hazards(),
                "personnel_hazards": self.personnel_hazards(), "commands": len(self.commands)}


class VirtualLink:
    """A dry run without sockets: the live Sequencer against a PadTwin on a virtual clock.

    Samples reach the sequencer at the instant they are taken and commands reach the pad at the
    instant they are issued; everything is kept as the input and event records a runtime would
    archive, so a virtual run can be replayed and compared like a live one.
    """

    def __init__(self, seq, twin: PadTwin):
        from padguard.records import Rec

        self._Rec = Rec
        self.seq = seq
        self.twin = twin
        self.records: list = []
        self.events: list = []
        self.batch = 0
        self._feed(0, twin.advance(0), "start")

    def _feed(self, t: int, samples: list[tuple[int, str]], kind: str = "tick", extra: list | None = None) -> list:
        R, plan = self._Rec, self.seq.plan
        recs = [R("sample", t, plan.sensors[s], v, plan.encode_sensor(s, v)) for s, v in samples]
        recs += extra or []
        if not recs:
            recs = [R(kind, t, kind)]
        self.batch += 1
        for r in recs:
            r.t, r.batch = t, self.batch
        ev = self.seq.apply(recs)
        for r in recs:
            r.tc = self.seq.tc
        self.records += recs + [e.to_rec() for e in ev]
        self.events += ev
        for e in ev:
            if e.kind == "command":
                d = e.data
                if d["action"] == "move":
                    self.twin.move(d["target"], d["value"])
                else:
                    self.twin.set_occupied(d["target"], d["action"] == "occupy")
            elif e.kind == "ignition":
                self.twin.ignite()
        return ev

    def _settle_now(self) -> None:
        t = self.twin.t
        for _ in range(100):  # report by exception until the pad is quiet at this instant
            more = self.twin.settle()
            if not more:
                return
            self._feed(t, more)

    def run(self, until: int | None = None, max_batches: int = 1_000_000) -> None:
        """Advance to ``until`` (virtual ms), or until the count ends."""
        n = 0
        while not self.seq.final and n < max_batches:
            t = min(self.twin.next_instant(), self.seq.next_deadline())
            if until is not None and t > until:
                self.twin.advance(until)
                break
            if t >= NEVER:
                break
            self._feed(t, self.twin.advance(t))
            self._settle_now()
            n += 1

    def operator(self, command: str, arg: str | None = None) -> list:
        R = self._Rec
        ev = self._feed(self.twin.t, [], extra=[R("operator", self.twin.t, command, arg or "")])
        self._settle_now()
        return ev

    def safety(self, cause: str, detail: str) -> list:
        R = self._Rec
        return self._feed(self.twin.t, [], extra=[R("safety", self.twin.t, cause, detail)])

    def inject(self, fault: str) -> None:
        self.twin.inject(fault)
        self._settle_now()

    def clear(self, component: str) -> None:
        self.twin.clear(component)
        self._settle_now()
