"""Cross-reference checks over a site, a procedure and its faults.

Each check appends a :class:`Problem` naming the file, line and field, so a user sees every
mistake in one pass.
"""

from __future__ import annotations

from collections import Counter

from padguard.model.errors import Problem
from padguard.model.loader import Model
from padguard.model.schema import Expr, Term
from padguard.model.times import format_count_time
from padguard.model.yamlsrc import Located

IN_TRANSIT = "in_transit"
SENSOR_EFFECTS = {"stuck", "dropout", "reads_wrong"}
EQUIPMENT_EFFECTS = {"jam", "wrong_position", "spontaneous", "slow"}


def _dupes(names: list[str]) -> set[str]:
    return {n for n, c in Counter(names).items() if c > 1}


def _similar(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; known: {', '.join(sorted(known)[:12])}" if known else ""


def fault_members(model: Model, f) -> list[str]:
    """The components a fault mode fails: its own component, or a common-cause group's members
    (explicit ``members``, else the sensors of the sensor group it names)."""
    if f.members is not None:
        return list(f.members)
    groups = {g.name: g for g in model.site.groups}
    if f.component in groups:
        return list(groups[f.component].sensors)
    return [f.component]


def validate_model(model: Model, docs: dict[str, Located]) -> list[Problem]:
    """All cross-reference problems in ``model`` (empty list when valid)."""
    out: list[Problem] = []
    site, proc, faults = model.site, model.procedure, model.faults
    sloc = docs.get("site") or Located("site.yaml", {})
    ploc = docs.get("procedure") or Located("procedure.yaml", {})
    floc = docs.get("faults") or Located("faults.yaml", {})

    def sp(path: tuple, msg: str) -> None:
        out.append(sloc.problem(path, msg))

    def pp(path: tuple, msg: str) -> None:
        out.append(ploc.problem(path, msg))

    def fp(path: tuple, msg: str) -> None:
        out.append(floc.problem(path, msg))

    # ---- site
    equip = {e.name: e for e in site.equipment}
    sensors = {s.name: s for s in site.sensors}
    groups = {g.name: g for g in site.groups}
    for i, e in enumerate(site.equipment):
        if e.name in _dupes([x.name for x in site.equipment]) and [x.name for x in site.equipment].index(e.name) != i:
            sp(("equipment", i, "name"), f"duplicate equipment name '{e.name}'")
    first_sensor: dict[str, int] = {}
    for i, s in enumerate(site.sensors):
        first_sensor.setdefault(s.name, i)
    for i, s in enumerate(site.sensors):
        if first_sensor[s.name] != i:  # (a dict, not list.index: a pad can have 10,000 sensors)
            sp(("sensors", i, "name"), f"duplicate sensor name '{s.name}'")
        if s.name in equip:
            sp(("sensors", i, "name"), f"sensor name '{s.name}' is already an equipment name")
    for i, g in enumerate(site.groups):
        if [x.name for x in site.groups].index(g.name) != i:
            sp(("groups", i, "name"), f"duplicate group name '{g.name}'")
        if g.name in sensors or g.name in equip:
            sp(("groups", i, "name"), f"group name '{g.name}' is already used by a sensor or equipment")

    for i, e in enumerate(site.equipment):
        if IN_TRANSIT in e.positions:
            sp(("equipment", i, "positions"), f"'{IN_TRANSIT}' is reserved for equipment between positions")
        for d in _dupes(e.positions):
            sp(("equipment", i, "positions"), f"position '{d}' is listed twice")
        if e.initial not in e.positions:
            sp(("equipment", i, "initial"), f"initial position '{e.initial}' is not one of {e.positions}")
        pairs = []
        for j, t in enumerate(e.travel):
            for fld, v in (("from", t.from_), ("to", t.to)):
                if v not in e.positions:
                    sp(("equipment", i, "travel", j, fld), f"unknown position '{v}' of '{e.name}'{_similar(v, e.positions)}")
            if t.from_ == t.to:
                sp(("equipment", i, "travel", j, "to"), "travel must go to a different position")
            if t.min > t.max:
                sp(("equipment", i, "travel", j, "max"), f"impossible travel time: max ({t.max:g}s) is less than min ({t.min:g}s)")
            if t.max <= 0:
                sp(("equipment", i, "travel", j, "max"), "travel time must be positive")
            if (t.from_, t.to) in pairs:
                sp(("equipment", i, "travel", j), f"travel {t.from_} -> {t.to} is declared twice")
            pairs.append((t.from_, t.to))
    for i, s in enumerate(site.sensors):
        if s.observes not in equip:
            sp(("sensors", i, "observes"), f"unknown equipment '{s.observes}'{_similar(s.observes, list(equip))}")
        if s.period <= 0:
            sp(("sensors", i, "period"), "sampling period must be positive")
        for d in _dupes(list(s.faults)):
            sp(("sensors", i, "faults"), f"fault mode '{d}' listed twice")
    for i, g in enumerate(site.groups):
        observed = set()
        for j, m in enumerate(g.sensors):
            if m not in sensors:
                sp(("groups", i, "sensors", j), f"unknown sensor '{m}'{_similar(m, list(sensors))}")
            else:
                observed.add(sensors[m].observes)
        for d in _dupes(g.sensors):
            sp(("groups", i, "sensors"), f"sensor '{d}' is in the group twice")
        if g.vote > len(g.sensors):
            sp(("groups", i, "vote"), f"vote {g.vote} is more than the {len(g.sensors)} sensors in the group")
        if len(observed) > 1:
            sp(("groups", i, "sensors"), f"members observe different equipment ({', '.join(sorted(observed))}); a group votes on one quantity")
    for i, r in enumerate(site.plume_zone):
        if r.equipment not in equip:
            sp(("plume_zone", i, "equipment"), f"unknown equipment '{r.equipment}'{_similar(r.equipment, list(equip))}")
            continue
        for j, v in enumerate(r.safe):
            if v not in equip[r.equipment].positions:
                sp(("plume_zone", i, "safe", j), f"unknown position '{v}' of '{r.equipment}'{_similar(v, equip[r.equipment].positions)}")
    zones = {z.name: z for z in site.personnel_zones}
    for i, z in enumerate(site.personnel_zones):
        if [x.name for x in site.personnel_zones].index(z.name) != i:
            sp(("personnel_zones", i, "name"), f"duplicate zone name '{z.name}'")
        for j, e in enumerate(z.equipment):
            if e not in equip:
                sp(("personnel_zones", i, "equipment", j), f"unknown equipment '{e}'{_similar(e, list(equip))}")

    def domain_of_sensor(name: str) -> list[str] | None:
        s = sensors.get(name)
        if s is None or s.observes not in equip:
            return None
        return equip[s.observes].positions + [IN_TRANSIT]

    # ---- faults
    fault_targets: dict[str, set[str]] = {}
    seen: set[tuple[str, str]] = set()
    if faults.site != site.site and floc.data:
        fp(("site",), f"faults are for site '{faults.site}' but the site is '{site.site}'")
    for i, f in enumerate(faults.faults):
        if (f.component, f.mode) in seen:
            fp(("faults", i, "mode"), f"fault mode '{f.component}:{f.mode}' is declared twice")
        seen.add((f.component, f.mode))
        if f.probability is None and f.beta is None:
            fp(("faults", i, "probability"), "required field is missing (give probability, or beta and beta_of)")
        if f.probability is not None and f.beta is not None:
            fp(("faults", i, "beta"), "give probability or beta, not both")
        if (f.beta is None) != (f.beta_of is None):
            fp(("faults", i, "beta_of" if f.beta is not None else "beta"),
               "beta and beta_of go together: probability = beta x the members' probability of mode beta_of")
        ccf = f.members is not None or f.component in groups
        if ccf:
            if f.members is not None and (f.component in equip or f.component in sensors):
                fp(("faults", i, "component"), f"'{f.component}' is one component; a common-cause "
                   "group with members needs a name of its own (or name a sensor group without members)")
                continue
            members = list(f.members) if f.members is not None else list(groups[f.component].sensors)
            if f.members is not None and f.component in groups and set(members) != set(groups[f.component].sensors):
                fp(("faults", i, "members"), f"group '{f.component}' has sensors {groups[f.component].sensors}")
            for d in _dupes(members):
                fp(("faults", i, "members"), f"member '{d}' listed twice")
            unknown = [m for m in members if m not in equip and m not in sensors]
            for m in unknown:
                fp(("faults", i, "members"), f"unknown component '{m}'{_similar(m, list(equip) + list(sensors))}")
            if unknown:
                continue
            if len({m in sensors for m in members}) > 1:
                fp(("faults", i, "members"), "members of one common-cause group are all sensors or all equipment")
                continue
            targets = members
        else:
            targets = [f.component]
        if f.beta_of is not None:
            for m in targets:
                if (m, f.beta_of) not in {(g.component, g.mode) for g in faults.faults}:
                    fp(("faults", i, "beta_of"), f"member '{m}' has no fault mode '{f.beta_of}' for beta to scale")
        if f.delay is not None and f.effect != "slow":
            fp(("faults", i, "delay"), "'delay' goes with effect 'slow'")
        for comp in targets:
            if comp in sensors:
                s = sensors[comp]
                if f.effect not in SENSOR_EFFECTS:
                    fp(("faults", i, "effect"), f"'{f.effect}' is an equipment effect; sensor effects are stuck, dropout, reads_wrong")
                elif f.effect not in s.faults:
                    fp(("faults", i, "effect"), f"sensor '{s.name}' does not declare fault mode '{f.effect}' (it declares {s.faults})")
                if f.to is not None:
                    fp(("faults", i, "to"), "'to' applies to equipment faults; use 'value' for a sensor that reads wrong")
                dom = domain_of_sensor(s.name) or []
                if f.value is not None and f.value not in dom:
                    fp(("faults", i, "value"), f"'{f.value}' is not a value sensor '{s.name}' can report ({dom})")
            elif comp in equip:
                e = equip[comp]
                if f.effect not in EQUIPMENT_EFFECTS:
                    fp(("faults", i, "effect"), f"'{f.effect}' is a sensor effect; equipment effects are jam, wrong_position, spontaneous, slow")
                elif f.effect in ("wrong_position", "spontaneous"):
                    if f.to is None:
                        fp(("faults", i, "to"), f"effect '{f.effect}' needs 'to': the position the equipment ends in")
                    elif f.to not in e.positions:
                        fp(("faults", i, "to"), f"unknown position '{f.to}' of '{e.name}'{_similar(f.to, e.positions)}")
                    else:
                        fault_targets.setdefault(e.name, set()).add(f.to)
                if f.value is not None:
                    fp(("faults", i, "value"), "'value' applies to sensors that read wrong")
                if f.effect == "slow" and (f.delay is None or f.delay <= 0):
                    fp(("faults", i, "delay"), "effect 'slow' needs 'delay': how much longer than the maximum travel time")
            else:
                fp(("faults", i, "component"), f"unknown component '{comp}'"
                   f"{_similar(comp, list(equip) + list(sensors) + list(groups))}")

    # ---- unreachable positions (by travel from the initial position, or by a fault)
    for i, e in enumerate(site.equipment):
        reach = {e.initial}
        frontier = [e.initial]
        while frontier:
            x = frontier.pop()
            for t in e.travel:
                if t.from_ == x and t.to not in reach:
                    reach.add(t.to)
                    frontier.append(t.to)
        reach |= fault_targets.get(e.name, set())
        for p in e.positions:
            if p not in reach:
                sp(("equipment", i, "positions"),
                   f"position '{p}' of '{e.name}' is unreachable: no travel from '{e.initial}' leads there and no fault puts it there")

    for i, e in enumerate(site.equipment):
        a = e.acts_on
        if a is None:
            continue
        if a.equipment not in equip or a.equipment == e.name:
            sp(("equipment", i, "acts_on", "equipment"), f"unknown host equipment '{a.equipment}'"
               f"{_similar(a.equipment, [x for x in equip if x != e.name])}")
            continue
        for v in a.when:
            if v not in equip[a.equipment].positions:
                sp(("equipment", i, "acts_on", "when"), f"unknown position '{v}' of '{a.equipment}'"
                   f"{_similar(v, equip[a.equipment].positions)}")

    # ---- procedure
    if proc.procedure == "none":
        return out
    if proc.site != site.site:
        pp(("site",), f"procedure is for site '{proc.site}' but the site is '{site.site}'")
    if proc.start >= proc.ignition:
        pp(("start",), f"the count must start before ignition (start {format_count_time(proc.start)}, ignition {format_count_time(proc.ignition)})")
    if proc.point_of_no_return is not None and not proc.start <= proc.point_of_no_return <= proc.ignition:
        pp(("point_of_no_return",), "the point of no return must lie between start and ignition")
    es = proc.engine_start if proc.engine_start is not None else proc.ignition
    if proc.engine_start is not None:
        if not proc.start < es <= proc.ignition:
            pp(("engine_start",), f"main-engine start ({format_count_time(es)}) must lie after the count start "
               f"and no later than ignition ({format_count_time(proc.ignition)}, liftoff)")
        elif proc.point_of_no_return is not None and proc.point_of_no_return > es:
            pp(("point_of_no_return",), f"the point of no return ({format_count_time(proc.point_of_no_return)}) "
               f"lies after main-engine start ({format_count_time(es)}): with the engines running the count "
               "can no longer hold, only abort")
    # plume zone: the positions each piece of equipment may be in while the engines run
    plume_safe: dict[str, set[str]] = {}
    for r in site.plume_zone:
        plume_safe[r.equipment] = plume_safe.get(r.equipment, set(r.safe)) & set(r.safe)

    def in_count(t: int) -> bool:
        return proc.start <= t <= proc.ignition

    def check_command(st, path: tuple) -> None:
        """One command (a count step or a safing step): exactly one kind, known names."""
        kinds = [k for k in ("move", "evacuate", "occupy", "milestone") if getattr(st, k) is not None]
        if len(kinds) != 1:
            pp(path, "a step does exactly one of: move (with to), evacuate, occupy, milestone")
        if st.move is not None:
            if st.move not in equip:
                pp(path + ("move",), f"unknown equipment '{st.move}'{_similar(st.move, list(equip))}")
            elif st.to is None:
                pp(path + ("to",), "a move step needs 'to': the target position")
            elif st.to not in equip[st.move].positions:
                pp(path + ("to",), f"unknown position '{st.to}' of '{st.move}'{_similar(st.to, equip[st.move].positions)}")
            elif not any(t.to == st.to for t in equip[st.move].travel):
                pp(path + ("to",), f"'{st.move}' has no travel into '{st.to}'")
        elif st.to is not None:
            pp(path + ("to",), "'to' only goes with 'move'")
        for k in ("evacuate", "occupy"):
            z = getattr(st, k)
            if z is not None and z not in zones:
                pp(path + (k,), f"unknown personnel zone '{z}'{_similar(z, list(zones))}")

    def into_plume(st) -> bool:
        return (st.move is not None and st.move in plume_safe and st.to is not None
                and st.to not in plume_safe[st.move])

    for i, st in enumerate(proc.steps):
        check_command(st, ("steps", i))
        if st.at < proc.start:
            pp(("steps", i, "at"), f"step time {format_count_time(st.at)} is outside the count: before it starts ({format_count_time(proc.start)})")
        if i and st.at < proc.steps[i - 1].at:
            pp(("steps", i, "at"), "steps must be in time order")
        if st.requires is not None:
            _check_expr(Expr(all=st.requires), ("steps", i, "requires"), sensors, groups, domain_of_sensor, pp)
        if st.at > proc.ignition:
            # after liftoff nothing stops: the vehicle has left the pad
            if st.requires is not None:
                pp(("steps", i, "requires"), f"a step after T-0 ({format_count_time(st.at)}) cannot have "
                   "preconditions: after liftoff nothing can hold the count")
            if st.occupy is not None:
                pp(("steps", i, "occupy"), f"a step after T-0 ({format_count_time(st.at)}) cannot send people "
                   f"into zone '{st.occupy}' under the lifting-off vehicle")
        if st.at >= es and into_plume(st):
            when = "after liftoff the vehicle has left the pad" if st.at > proc.ignition else \
                "the engines run on the pad from engine start"
            pp(("steps", i, "to"), f"'{st.move}' to '{st.to}' at {format_count_time(st.at)} moves it into the "
               f"plume zone ({when}; safe positions: {', '.join(sorted(plume_safe[st.move]))})")
    cutoffs = [c for c in proc.criteria if c.recycle_to is not None]
    if proc.cutoff is not None and not cutoffs:
        pp(("cutoff",), "a cutoff safing sequence needs a cutoff criterion (one with recycle_to)")
    # a cutoff after engine start has a plume to wait out, as an abort does
    clear = proc.abort.plume_clear if proc.abort is not None else 0.0
    for block, seq, plume_clear in (("abort", proc.abort, clear),
                                    ("cutoff", proc.cutoff,
                                     clear if any(c.applies.until > es for c in cutoffs) else 0.0)):
        if seq is None:
            continue
        for i, st in enumerate(seq.safing):
            path = (block, "safing", i)
            check_command(st, path)
            if i and st.after < seq.safing[i - 1].after:
                pp(path + ("after",), "safing steps must be in time order")
            if st.move is not None and any(o.move == st.move and o.after == st.after for o in seq.safing[:i]):
                pp(path + ("move",), f"two safing moves of '{st.move}' at one instant")
            if block == "cutoff" and st.after < plume_clear and into_plume(st):
                pp(path + ("to",), f"cutoff safing move of '{st.move}' to '{st.to}' {st.after:g} s after a cutoff "
                   f"past engine start moves it into the plume zone before it clears ({plume_clear:g} s)")
            if block == "cutoff":
                continue
            ab = seq
            if st.after < ab.plume_clear and into_plume(st):
                pp(path + ("to",), f"safing move of '{st.move}' to '{st.to}' {st.after:g} s after the abort "
                   f"moves it into the plume zone before it clears ({ab.plume_clear:g} s; safe positions: "
                   f"{', '.join(sorted(plume_safe[st.move]))})")
            if st.after < ab.plume_clear and st.occupy is not None:
                pp(path + ("occupy",), f"people sent into zone '{st.occupy}' {st.after:g} s after the abort, "
                   f"before the plume clears ({ab.plume_clear:g} s)")
    for i, h in enumerate(proc.holds):
        if not in_count(h.at) or h.at == proc.ignition:
            pp(("holds", i, "at"), "a built-in hold must lie within the count, before ignition")
        if h.duration <= 0:
            pp(("holds", i, "duration"), "a built-in hold needs a positive duration")
    rps = {r.name for r in proc.recycle_points}
    for i, r in enumerate(proc.recycle_points):
        if [x.name for x in proc.recycle_points].index(r.name) != i:
            pp(("recycle_points", i, "name"), f"duplicate recycle point '{r.name}'")
        if not proc.start <= r.at < proc.ignition:
            pp(("recycle_points", i, "at"), "a recycle point must lie within the count, before ignition")
    if proc.auto.recycle_to is not None and proc.auto.recycle_to not in rps:
        pp(("auto", "recycle_to"), f"unknown recycle point '{proc.auto.recycle_to}'{_similar(proc.auto.recycle_to, list(rps))}")
    if proc.auto.recycle_after is not None and proc.auto.recycle_to is None:
        pp(("auto", "recycle_to"), "recycle_after needs recycle_to")
    if proc.auto.recycle_after is not None and proc.auto.recycle_after <= 0:
        pp(("auto", "recycle_after"), "recycle_after must be positive")

    names = [c.name for c in proc.criteria]
    for i, c in enumerate(proc.criteria):
        base = ("criteria", i)
        if names.index(c.name) != i:
            pp(base + ("name",), f"duplicate criterion '{c.name}'")
        if c.applies.from_ > c.applies.until:
            pp(base + ("applies",), "impossible window: 'from' is after 'until'")
        if c.applies.until > proc.ignition:
            pp(base + ("applies",), "a check after T-0 stops nothing (after liftoff nothing stops): the "
               "window must end by ignition")
        elif not in_count(c.applies.from_) or not in_count(c.applies.until):
            pp(base + ("applies",), "the window must lie within the count (start .. ignition)")
        if (c.all is None) == (c.any is None):
            pp(base, "a criterion needs exactly one of 'all' or 'any'")
        _check_expr(Expr(all=c.all, any=c.any), base, sensors, groups, domain_of_sensor, pp)
        if c.recycle_to is not None:
            rp = next((r for r in proc.recycle_points if r.name == c.recycle_to), None)
            if rp is None:
                pp(base + ("recycle_to",), f"unknown recycle point '{c.recycle_to}'{_similar(c.recycle_to, list(rps))}")
            elif rp.at >= c.applies.from_:
                pp(base + ("recycle_to",), f"a cutoff recycles back: recycle point '{rp.name}' "
                   f"({format_count_time(rp.at)}) must come before the criterion's window")
    if proc.invariants and not out:
        from padguard.model.invariants import problems as invariant_problems

        out.extend(invariant_problems(model, ploc))
    return out


def _check_expr(expr: Expr, path: tuple, sensors: dict, groups: dict, domain_of_sensor, pp) -> None:
    for key in ("all", "any"):
        items = getattr(expr, key)
        if items is None:
            continue
        if not items:
            pp(path + (key,), f"'{key}' needs at least one term")
        for j, t in enumerate(items):
            tp = path + (key, j)
            if isinstance(t, Expr):
                if (t.all is None) == (t.any is None):
                    pp(tp, "a nested expression needs exactly one of 'all' or 'any'")
                _check_expr(t, tp, sensors, groups, domain_of_sensor, pp)
                continue
            assert isinstance(t, Term)
            if (t.sensor is None) == (t.group is None):
                pp(tp, "a term names exactly one of 'sensor' or 'group'")
                continue
            if not t.values():
                pp(tp, "a term needs 'is: VALUE' or 'in: [VALUES]'")
            if t.sensor is not None:
                if t.sensor not in sensors:
                    pp(tp + ("sensor",), f"criterion over undefined sensor '{t.sensor}'{_similar(t.sensor, list(sensors))}")
                    continue
                dom = domain_of_sensor(t.sensor) or []
            else:
                if t.group not in groups:
                    pp(tp + ("group",), f"criterion over undefined group '{t.group}'{_similar(t.group, list(groups))}")
                    continue
                first = groups[t.group].sensors[0]
                dom = domain_of_sensor(first) or []
            for v in t.values():
                if dom and v not in dom:
                    pp(tp + ("in" if t.in_ else "is",), f"'{v}' is not a value this sensor can report ({', '.join(dom)})")
