"""Checks the model implies: step preconditions and travel watchdogs, as launch criteria.

Both compile into ordinary criteria of the Plan, so the one semantics (simulator, verifier,
risk engine, live sequencer, Promela export) runs them with no code of its own:

* a step's ``requires`` becomes a criterion that applies at the step's count time only: the
  sequencer decides before it issues steps, so a precondition that is not OK holds the count
  at the step (naming it) and the step is issued only once it is;
* with ``travel_watchdog: {margin: M}``, every move of equipment that has sensors becomes a
  criterion "every sensor of the equipment reads the target", applying from the step's count
  time + the equipment's maximum declared travel into the target + M until just before the next
  move of the same equipment (or ignition). Missing it holds the count naming the equipment.
  The deadline runs on the count clock, which runs with wall time while the count runs; if the
  count holds while the equipment travels, the watchdog fires later in wall time, never earlier.

Neither is debounced (they test an arrival at an instant; the declared criteria keep their own
debounce).
"""

from __future__ import annotations

from padguard.model.loader import Model
from padguard.model.schema import Criterion, Term, Window
from padguard.model.times import format_count_time


def step_label(st) -> str:
    if st.move is not None:
        return f"move {st.move} to {st.to}"
    if st.evacuate is not None:
        return f"evacuate {st.evacuate}"
    if st.occupy is not None:
        return f"occupy {st.occupy}"
    return st.milestone or "milestone"


def implicit_criteria(model: Model) -> list[Criterion]:
    """The criteria implied by step preconditions and the travel watchdog, in step order."""
    site, proc = model.site, model.procedure
    out: list[Criterion] = []
    names = {c.name for c in proc.criteria}

    def unique(base: str) -> str:
        name, k = base, 2
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.add(name)
        return name

    for j, st in enumerate(proc.steps):
        if st.requires:
            out.append(Criterion(
                name=unique(f"step{j + 1}_requires"),
                description=f"precondition of step {j + 1} ({step_label(st)} at {format_count_time(st.at)})",
                applies=Window(**{"from": st.at, "until": st.at}), debounce=0, all=list(st.requires),
                clear_hint=f"the step's preconditions read OK; then '{step_label(st)}' is issued"))
    wd = proc.travel_watchdog
    if wd is None:
        return out
    equip = {e.name: e for e in site.equipment}
    observed: dict[str, list[str]] = {}
    for s in site.sensors:
        observed.setdefault(s.observes, []).append(s.name)
    moves = [(j, st) for j, st in enumerate(proc.steps) if st.move is not None]
    for k, (_j, st) in enumerate(moves):
        sensors = observed.get(st.move, [])
        if not sensors:
            continue  # nothing can confirm it: the sequencer cannot watch what it cannot see
        worst = max((t.max for t in equip[st.move].travel if t.to == st.to), default=0.0)
        start = st.at + worst + wd.margin
        nxt = next((s2.at for _, s2 in moves[k + 1:] if s2.move == st.move), None)
        until = min(proc.ignition, nxt - 0.001) if nxt is not None else proc.ignition
        if start > until:
            continue  # no count time left to check before the next move or ignition
        out.append(Criterion(
            name=unique(f"watchdog_{st.move.replace('.', '_')}_{st.to}"),
            description=(f"travel watchdog: {st.move} commanded to {st.to} at {format_count_time(st.at)} "
                         f"must be confirmed within its maximum travel {worst:g} s + margin {wd.margin:g} s"),
            applies=Window(**{"from": start, "until": until}), debounce=0,
            all=[Term(sensor=s, **{"is": st.to}) for s in sensors],
            clear_hint=f"every sensor of {st.move} reads {st.to}", source=wd.source))
    return out
