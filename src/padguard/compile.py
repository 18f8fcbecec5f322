"""Compile a validated model into a Plan: the one executable form every engine runs.

A Plan is plain numpy tables plus a fixed state layout. State is a 2-D ``int64`` array of
shape ``(D, N)``: one row per field, one column per countdown (N = 1 for the simulator and the
live sequencer, millions for the risk engine, a frontier for the verifier). The rules that
advance it are written once, in :mod:`padguard.plant` (what equipment and sensors do) and
:mod:`padguard.sequencer.rules` (what the sequencer decides), composed in
:mod:`padguard.semantics`.

All times are integer milliseconds. Count times are relative to T-0; wall times to count start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from padguard.model.derived import implicit_criteria
from padguard.model.loader import Model
from padguard.model.schema import Expr, Term
from padguard.model.validate import IN_TRANSIT, fault_members

MS = 1000


def ms(seconds: float) -> int:
    """Seconds (from the model) to integer milliseconds (inside the Plan)."""
    return int(round(seconds * MS))

NEVER = np.iinfo(np.int64).max // 4  # "no such time" in next-event computations
OPERATOR_REASON = -2  # REASON value for an operator hold
NO_REASON = -1


class Tri(IntEnum):
    """Three-valued criterion state; Kleene AND is min, OR is max. Unknown is not OK."""

    VIOLATED = 0
    UNKNOWN = 1
    OK = 2


class Effect(IntEnum):
    NONE = 0
    JAM = 1  # equipment ignores commands; frozen in transit if moving
    WRONG_POSITION = 2  # equipment ends its next travel in the fault's position
    SPONTANEOUS = 3  # equipment is suddenly in the fault's position
    STUCK = 4  # sensor keeps reporting its last value, freshly
    DROPOUT = 5  # sensor stops reporting (becomes stale)
    READS_WRONG = 6  # sensor reports a wrong value, freshly
    SLOW = 7  # equipment travels for its declared maximum plus the fault's delay


class StepKind(IntEnum):
    MILESTONE = 0
    MOVE = 1
    EVACUATE = 2
    OCCUPY = 3


@dataclass
class Layout:
    """Named rows of the state array. Per-item fields occupy consecutive rows."""

    rows: dict[str, tuple[int, int]] = field(default_factory=dict)
    size: int = 0

    def add(self, name: str, count: int = 1) -> int:
        start = self.size
        self.rows[name] = (start, count)
        self.size += count
        return start

    def names(self) -> list[str]:
        out = []
        for name, (_, n) in self.rows.items():
            out.extend([name] if n == 1 else [f"{name}[{i}]" for i in range(n)])
        return out


@dataclass
class CompiledTerm:
    sensors: np.ndarray  # sensor indices (1 for a sensor term, n for a group)
    k: int  # votes needed (1 for a sensor term)
    lut: np.ndarray  # (domain+1,) bool: value code -> in the accepted set; last = in_transit
    text: str


@dataclass
class CompiledExpr:
    op: str  # "all" | "any"
    items: list[CompiledTerm | CompiledExpr]


@dataclass
class Plan:
    """Everything the engines need, as arrays and names. Built by :func:`compile_model`."""

    model: Model
    layout: Layout
    res: int  # time resolution (ms) of travel-time choices
    # count
    start: int
    ign: int
    pnr: int
    window_close: int  # wall ms after count start past which ignition is not allowed
    #                    (nominal T-0 including planned built-in holds, plus the window)
    # equipment
    equipment: list[str]
    positions: list[list[str]]
    initial: np.ndarray
    transit: np.ndarray  # per equipment: the in-transit code (= number of positions)
    tmin: np.ndarray  # (E, P+1, P) ms, -1 where no travel; row P = "from in transit"
    tmax: np.ndarray
    # sensors
    sensors: list[str]
    s_equip: np.ndarray
    s_limit: np.ndarray  # staleness limit, ms
    s_period: np.ndarray
    # criteria
    criteria: list[str]
    c_expr: list[CompiledExpr]
    c_from: np.ndarray
    c_until: np.ndarray
    c_deb: np.ndarray
    # steps
    steps: list[str]
    step_at: np.ndarray
    step_kind: np.ndarray
    step_target: np.ndarray
    step_to: np.ndarray
    # holds and recycle points
    holds: list[str]
    h_at: np.ndarray  # with a trailing NEVER sentinel
    h_dur: np.ndarray
    recycle_points: list[str]
    r_at: np.ndarray
    r_step: np.ndarray
    r_hold: np.ndarray
    auto_resume: bool
    auto_recycle_after: int  # ms, -1 = never
    auto_recycle_to: int
    auto_max_recycles: int
    # plume and personnel
    plume: list[str]  # rule labels, e.g. "cabin in_plume"
    rule_equip: np.ndarray
    rule_safe: np.ndarray  # (R, Pmax+1) bool
    rule_hazard: list[str]
    zones: list[str]
    zone_equip: np.ndarray  # (Z, E) bool
    zone_init: np.ndarray
    # faults
    faults: list[str]  # "component:mode"
    f_kind: np.ndarray  # 0 equipment, 1 sensor
    f_comp: np.ndarray  # the (first) component each fault fails
    f_effect: np.ndarray  # Effect codes
    f_to: np.ndarray  # position / value code, -1 if none
    f_prob: np.ndarray
    # every component each fault fails: one, or a common-cause group's members (same kind)
    f_members: list[np.ndarray] = field(default_factory=list)
    # the criteria as declared (the procedure's, then those implied by step preconditions and
    # the travel watchdog, see padguard.model.derived), index-aligned with ``criteria``
    criteria_defs: list = field(default_factory=list)
    # cutoff criteria: recycle point index a violation recycles to (-1: an ordinary criterion)
    c_recycle: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    f_delay: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # slow: ms
    # coupling: host equipment of each item (-1 none) and the host positions it can move in
    host: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    host_ok: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))  # (E, Pmax+1)
    # The step tables hold the count's steps (the first ``n_count``, by count time; those after
    # T-0 run in FLIGHT), then the abort's safing steps (step_at = ms after the abort), then
    # the cutoff's safing steps (from ``cut0``; step_at = ms after the cutoff).
    n_count: int = 0
    has_safing: bool = False  # an abort enters SAFING and runs the safing steps
    cut0: int = 0  # first step of the cutoff's safing sequence (= len(step_at) if none)
    has_flight: bool = False  # steps at or after T-0: ignition enters FLIGHT and runs them
    engine_start: int = 0  # count ms of main-engine start (= ign when not declared)
    # row offsets (filled by compile_model)
    T: int = 0
    TC: int = 0
    MODE: int = 0
    STEP: int = 0
    REASON: int = 0
    HOLD_START: int = 0
    HOLD_UNTIL: int = 0
    NHOLDS: int = 0
    HOLDTIME: int = 0
    NREC: int = 0
    NEXTB: int = 0
    HAZ: int = 0
    PHAZ: int = 0
    IGN_T: int = 0
    POS: int = 0
    DEST: int = 0
    ARRIVE: int = 0
    EFAULT: int = 0
    SVAL: int = 0
    STIME: int = 0
    SFAULT: int = 0
    SWRONG: int = 0
    OCC: int = 0
    OKS: int = 0
    CST: int = 0
    SEQ_T: int = 0
    SSTEP: int = 0

    # ---- lookups used by engines and front ends
    @property
    def E(self) -> int:
        return len(self.equipment)

    @property
    def S(self) -> int:
        return len(self.sensors)

    @property
    def C(self) -> int:
        return len(self.criteria)

    def equipment_index(self, name: str) -> int:
        return self.equipment.index(name)

    def sensor_index(self, name: str) -> int:
        return self.sensors.index(name)

    def fault_index(self, name: str) -> int:
        """Index of "component:mode" in :attr:`faults`; raises KeyError with the known ones."""
        if name in self.faults:
            return self.faults.index(name)
        raise KeyError(f"unknown fault '{name}'; known: {', '.join(self.faults)}")

    def sensor_domain(self, s: int) -> list[str]:
        return self.positions[int(self.s_equip[s])] + [IN_TRANSIT]

    def decode_sensor(self, s: int, code: int) -> str:
        dom = self.sensor_domain(s)
        if code == -1:
            return "no data"
        if 0 <= code < len(dom):
            return dom[code]
        return f"malformed({code})"

    def encode_sensor(self, s: int, value: str) -> int:
        """Value name -> code; anything outside the domain becomes -2 (malformed)."""
        dom = self.sensor_domain(s)
        return dom.index(value) if value in dom else -2

    def decode_position(self, e: int, code: int) -> str:
        ps = self.positions[e]
        return ps[code] if 0 <= code < len(ps) else IN_TRANSIT

    def component_faults(self, component: str) -> list[int]:
        """Faults of ``component``: its own modes, and common-cause events it is a member of."""
        out = []
        for i, f in enumerate(self.faults):
            name = f.split(":")[0]
            if name == component:
                out.append(i)
            elif len(self.members(i)) > 1 and component in self.member_names(i):
                out.append(i)
        return out

    def members(self, fault: int) -> np.ndarray:
        """Component indices (equipment or sensors, per f_kind) that fault ``fault`` fails."""
        if self.f_members:
            return self.f_members[fault]
        return np.array([self.f_comp[fault]], dtype=np.int64)

    def member_names(self, fault: int) -> list[str]:
        names = self.sensors if self.f_kind[fault] else self.equipment
        return [names[int(c)] for c in self.members(fault)]

    def is_common_cause(self, fault: int) -> bool:
        return len(self.members(fault)) > 1

    def hold_reason_text(self, reason: int) -> str:
        if reason == OPERATOR_REASON:
            return "operator"
        if 0 <= reason < self.C:
            return f"criterion {self.criteria[reason]}"
        if self.C <= reason < self.C + len(self.holds):
            return f"built-in hold {self.holds[reason - self.C]}"
        return "none"


def _compile_term(t: Term, site_sensors: dict, groups: dict, sensor_idx: dict,
                  positions_of: dict) -> CompiledTerm:
    if t.sensor is not None:
        members = [t.sensor]
        k = 1
        label = t.sensor
    else:
        g = groups[t.group]
        members = list(g.sensors)
        k = g.vote
        label = f"{t.group} ({k}-of-{len(members)})"
    eq = site_sensors[members[0]].observes
    dom = positions_of[eq] + [IN_TRANSIT]
    lut = np.array([v in t.values() for v in dom], dtype=bool)
    vals = t.values()
    text = f"{label} {'is ' + vals[0] if len(vals) == 1 else 'in ' + '/'.join(vals)}"
    return CompiledTerm(np.array([sensor_idx[m] for m in members], dtype=np.int64), k, lut, text)


def _compile_expr(e: Expr, *ctx) -> CompiledExpr:
    op = "all" if e.all is not None else "any"
    items = []
    for it in (e.all if e.all is not None else e.any) or []:
        items.append(_compile_expr(it, *ctx) if isinstance(it, Expr) else _compile_term(it, *ctx))
    return CompiledExpr(op, items)


def compile_model(model: Model, resolution_ms: int = MS) -> Plan:
    """Turn a validated model into a :class:`Plan`."""
    site, proc, faults = model.site, model.procedure, model.faults
    equipment = [e.name for e in site.equipment]
    positions = [list(e.positions) for e in site.equipment]
    positions_of = {e.name: list(e.positions) for e in site.equipment}
    E = len(equipment)
    pmax = max(len(p) for p in positions)
    tmin = np.full((E, pmax + 1, pmax), -1, dtype=np.int64)
    tmax = np.full((E, pmax + 1, pmax), -1, dtype=np.int64)
    for i, e in enumerate(site.equipment):
        for t in e.travel:
            a, b = e.positions.index(t.from_), e.positions.index(t.to)
            tmin[i, a, b], tmax[i, a, b] = ms(t.min), ms(t.max)
        # From in transit (or from a fault position with no declared travel): the worst
        # declared range into the target, so a re-command never looks faster than reality.
        for b in range(len(e.positions)):
            into = [(tmin[i, a, b], tmax[i, a, b]) for a in range(len(e.positions)) if tmin[i, a, b] >= 0]
            if into:
                lo = min(x for x, _ in into)
                hi = max(y for _, y in into)
                tmin[i, len(e.positions), b], tmax[i, len(e.positions), b] = lo, hi
                for a in range(len(e.positions)):
                    if tmin[i, a, b] < 0 and a != b:
                        tmin[i, a, b], tmax[i, a, b] = lo, hi
    sensors = [s.name for s in site.sensors]
    sensor_idx = {n: i for i, n in enumerate(sensors)}
    s_equip = np.array([equipment.index(s.observes) for s in site.sensors], dtype=np.int64)
    s_period = np.array([ms(s.period) for s in site.sensors], dtype=np.int64)
    s_limit = np.array([ms(s.period * s.stale_after) for s in site.sensors], dtype=np.int64)
    site_sensors = {s.name: s for s in site.sensors}
    groups = {g.name: g for g in site.groups}
    ctx = (site_sensors, groups, sensor_idx, positions_of)
    crits = list(proc.criteria) + implicit_criteria(model)
    c_expr = [_compile_expr(Expr(all=c.all, any=c.any), *ctx) for c in crits]
    steps = []
    kinds, targets, tos = [], [], []
    zones = [z.name for z in site.personnel_zones]
    safing = list(proc.abort.safing) if proc.abort is not None else []
    cut_safing = list(proc.cutoff.safing) if proc.cutoff is not None else []
    for k, st in enumerate(list(proc.steps) + safing + cut_safing):
        pre = ("" if k < len(proc.steps) else "safing: " if k < len(proc.steps) + len(safing)
               else "cutoff safing: ")
        if st.move is not None:
            steps.append(f"{pre}move {st.move} to {st.to}")
            kinds.append(StepKind.MOVE)
            ei = equipment.index(st.move)
            targets.append(ei)
            tos.append(positions[ei].index(st.to))
        elif st.evacuate is not None:
            steps.append(f"{pre}evacuate {st.evacuate}")
            kinds.append(StepKind.EVACUATE)
            targets.append(zones.index(st.evacuate))
            tos.append(0)
        elif st.occupy is not None:
            steps.append(f"{pre}occupy {st.occupy}")
            kinds.append(StepKind.OCCUPY)
            targets.append(zones.index(st.occupy))
            tos.append(1)
        else:
            steps.append(pre + (st.milestone or ""))
            kinds.append(StepKind.MILESTONE)
            targets.append(-1)
            tos.append(-1)
    step_at = np.array([ms(s.at) for s in proc.steps] + [ms(s.after) for s in safing + cut_safing],
                       dtype=np.int64)
    n_count = len(proc.steps)
    holds = sorted(proc.holds, key=lambda h: h.at)
    h_at = np.array([ms(h.at) for h in holds] + [NEVER], dtype=np.int64)
    h_dur = np.array([ms(h.duration) for h in holds] + [0], dtype=np.int64)
    rps = proc.recycle_points
    r_at = np.array([ms(r.at) for r in rps], dtype=np.int64)
    r_step = np.array([int(np.searchsorted(step_at[:n_count], ms(r.at), side="left")) for r in rps],
                      dtype=np.int64)
    r_hold = np.array([int(np.searchsorted(h_at[:-1], ms(r.at), side="left")) for r in rps], dtype=np.int64)
    rules = site.plume_zone
    rule_equip = np.array([equipment.index(r.equipment) for r in rules], dtype=np.int64)
    rule_safe = np.zeros((len(rules), pmax + 1), dtype=bool)
    for i, r in enumerate(rules):
        for v in r.safe:
            rule_safe[i, positions_of[r.equipment].index(v)] = True
    zone_equip = np.zeros((len(zones), E), dtype=bool)
    for i, z in enumerate(site.personnel_zones):
        for e in z.equipment:
            zone_equip[i, equipment.index(e)] = True
    f_names, f_kind, f_comp, f_eff, f_to, f_prob = [], [], [], [], [], []
    eff_code = {"jam": Effect.JAM, "wrong_position": Effect.WRONG_POSITION,
                "spontaneous": Effect.SPONTANEOUS, "stuck": Effect.STUCK,
                "dropout": Effect.DROPOUT, "reads_wrong": Effect.READS_WRONG, "slow": Effect.SLOW}
    f_members: list[np.ndarray] = []
    f_delay: list[int] = []
    prob_of = {(f.component, f.mode): f.probability for f in faults.faults}
    for f in faults.faults:
        f_names.append(f"{f.component}:{f.mode}")
        f_eff.append(eff_code[f.effect])
        members = fault_members(model, f)
        if f.probability is not None:
            f_prob.append(f.probability)
        else:  # beta factor over the members' independent probability of mode beta_of
            f_prob.append(float(f.beta) * max(float(prob_of[(m, f.beta_of)] or 0.0) for m in members))
        if members[0] in sensor_idx:
            idx = [sensor_idx[m] for m in members]
            f_kind.append(1)
            dom = positions[s_equip[idx[0]]] + [IN_TRANSIT]
            f_to.append(dom.index(f.value) if f.value else -1)
        else:
            idx = [equipment.index(m) for m in members]
            f_kind.append(0)
            f_to.append(positions[idx[0]].index(f.to) if f.to else -1)
        f_comp.append(idx[0])
        f_members.append(np.array(idx, dtype=np.int64))
        f_delay.append(ms(f.delay) if f.delay is not None else 0)

    host = [-1] * E
    host_ok = np.ones((E, pmax + 1), dtype=bool)
    for i, e in enumerate(site.equipment):
        if e.acts_on is not None:
            h = equipment.index(e.acts_on.equipment)
            host[i] = h
            host_ok[i] = False
            for v in e.acts_on.when:
                host_ok[i, positions[h].index(v)] = True  # never "in transit" (last column)

    L = Layout()
    offsets = {}
    for name, n in (("T", 1), ("TC", 1), ("MODE", 1), ("STEP", 1), ("REASON", 1),
                    ("HOLD_START", 1), ("HOLD_UNTIL", 1), ("NHOLDS", 1), ("HOLDTIME", 1),
                    ("NREC", 1), ("NEXTB", 1), ("HAZ", 1), ("PHAZ", 1), ("IGN_T", 1),
                    ("POS", E), ("DEST", E), ("ARRIVE", E), ("EFAULT", E),
                    ("SVAL", len(sensors)), ("STIME", len(sensors)), ("SFAULT", len(sensors)),
                    ("SWRONG", len(sensors)), ("OCC", len(zones)), ("OKS", len(crits)),
                    ("CST", len(crits)), ("SEQ_T", 1), ("SSTEP", 1)):
        offsets[name] = L.add(name, n)

    ar = lambda xs: np.array(xs, dtype=np.int64)  # noqa: E731
    auto = proc.auto
    plan = Plan(
        model=model, layout=L, res=resolution_ms,
        start=ms(proc.start), ign=ms(proc.ignition),
        pnr=ms(proc.point_of_no_return if proc.point_of_no_return is not None else
               proc.engine_start if proc.engine_start is not None else proc.ignition),
        window_close=ms(proc.ignition - proc.start + sum(h.duration for h in holds) + proc.window.duration),
        equipment=equipment, positions=positions,
        initial=ar([e.positions.index(e.initial) for e in site.equipment]),
        transit=ar([len(p) for p in positions]), tmin=tmin, tmax=tmax,
        sensors=sensors, s_equip=s_equip, s_limit=s_limit, s_period=s_period,
        criteria=[c.name for c in crits], c_expr=c_expr,
        c_from=ar([ms(c.applies.from_) for c in crits]),
        c_until=ar([ms(c.applies.until) for c in crits]),
        c_deb=ar([ms(c.debounce if c.debounce is not None else proc.debounce) for c in crits]),
        steps=steps, step_at=step_at, step_kind=ar(kinds), step_target=ar(targets), step_to=ar(tos),
        holds=[h.name for h in holds], h_at=h_at, h_dur=h_dur,
        recycle_points=[r.name for r in rps], r_at=r_at, r_step=r_step, r_hold=r_hold,
        auto_resume=auto.resume,
        auto_recycle_after=ms(auto.recycle_after) if auto.recycle_after is not None else -1,
        auto_recycle_to=[r.name for r in rps].index(auto.recycle_to) if auto.recycle_to else -1,
        auto_max_recycles=auto.max_recycles,
        plume=[f"{r.equipment} {r.hazard}" for r in rules], rule_equip=rule_equip,
        rule_safe=rule_safe, rule_hazard=[r.hazard for r in rules],
        zones=zones, zone_equip=zone_equip,
        zone_init=ar([1 if z.occupied else 0 for z in site.personnel_zones]),
        faults=f_names, f_kind=ar(f_kind), f_comp=ar(f_comp), f_effect=ar(f_eff), f_to=ar(f_to),
        f_prob=np.array(f_prob, dtype=np.float64), f_members=f_members, f_delay=ar(f_delay),
        host=ar(host), host_ok=host_ok, criteria_defs=crits,
        c_recycle=ar([[r.name for r in rps].index(c.recycle_to) if getattr(c, "recycle_to", None) else -1
                      for c in crits]),
        n_count=n_count, has_safing=bool(safing), cut0=n_count + len(safing),
        has_flight=any(st.at >= proc.ignition for st in proc.steps),
        engine_start=ms(proc.engine_start if proc.engine_start is not None else proc.ignition),
    )
    for name, off in offsets.items():
        setattr(plan, name, off)
    return plan
