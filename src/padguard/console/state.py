"""What the screens show, computed from the Plan, the Sequencer's state and the archived records.

Live and replay build the same dictionaries from the same functions: only where the
:class:`~padguard.sequencer.live.Sequencer` and the records come from differs. Nothing here
decides anything: the sequencer decided, this module describes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from padguard.compile import IN_TRANSIT, OPERATOR_REASON, Plan
from padguard.model.times import format_count_time
from padguard.sequencer import rules
from padguard.sequencer.explain import _terms, explain_criterion
from padguard.sequencer.live import Rec, Sequencer

#: Event names that raise a latched alarm (until someone acknowledges it).
ALARM_EVENTS = ("hold", "abort", "scrub", "safety", "condition")


def is_alarm(rec: Rec) -> bool:
    """An event an operator must acknowledge: an automatic or safety hold, an abort, a scrub,
    a fail-safe condition raised (not built-in holds or operator holds they asked for)."""
    if rec.kind != "event" or rec.name not in ALARM_EVENTS:
        return False
    d = rec.data or {}
    if rec.name == "condition":
        return bool(d.get("active"))
    if rec.name == "hold":
        return bool(d.get("criterion") or d.get("safety"))
    return True


def automatic_hold(rec: Rec) -> bool | None:
    """For a hold event: True when automatic (a criterion or a fail-safe condition)."""
    if rec.kind == "event" and rec.name in ("hold", "safety"):
        d = rec.data or {}
        return bool(d.get("criterion") or d.get("safety"))
    return None


def layout(plan: Plan) -> dict[str, Any]:
    """The static part of the pad mimic and the count plan (sent once per page load)."""
    site = plan.model.site
    sens_of: dict[str, list[str]] = {e: [] for e in plan.equipment}
    for s, name in enumerate(plan.sensors):
        sens_of[plan.equipment[int(plan.s_equip[s])]].append(name)
    plume = {r.equipment: {"safe": r.safe, "hazard": r.hazard, "description": r.description} for r in site.plume_zone}
    eq = [{"name": e.name, "kind": e.kind, "description": e.description, "positions": e.positions,
           "sensors": sens_of.get(e.name, []), "plume": plume.get(e.name)} for e in site.equipment]
    steps = [{"name": n, "tc_ms": int(plan.step_at[j])} for j, n in enumerate(plan.steps[:plan.n_count])]
    holds = [{"name": n, "tc_ms": int(plan.h_at[i]), "duration_ms": int(plan.h_dur[i])} for i, n in enumerate(plan.holds)]
    return {"site": site.site, "site_name": site.name, "procedure": plan.model.procedure.procedure,
            "equipment": eq, "zones": [{"name": z.name, "equipment": z.equipment} for z in site.personnel_zones],
            "steps": steps, "holds": holds, "recycle_points": list(plan.recycle_points),
            "recycle_at": {n: int(plan.r_at[i]) for i, n in enumerate(plan.recycle_points)},
            "start_tc_ms": int(plan.start), "ignition_tc_ms": int(plan.ign), "pnr_tc_ms": int(plan.pnr),
            "window_close_ms": int(plan.window_close), "criteria": list(plan.criteria),
            "sensors": [{"name": n, "equipment": plan.equipment[int(plan.s_equip[s])], "limit_ms": int(plan.s_limit[s])}
                        for s, n in enumerate(plan.sensors)]}


def view(plan: Plan, seq: Sequencer, *, automatic: bool, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The live part: countdown, sensors, equipment, criteria. ``automatic``: the current hold
    was automatic (a criterion or a fail-safe condition), so its resume needs two persons."""
    p, S = plan, seq.S
    st = seq.status()
    t, tc = seq.t, seq.tc
    vals = S[p.SVAL:p.SVAL + p.S, 0]
    times = S[p.STIME:p.STIME + p.S, 0]
    fresh = rules.fresh(p, S, None)[:, 0] if p.S else np.zeros(0, dtype=bool)
    # Sensors go out compact, in the layout's order (a 1,000-sensor pad is most of a frame):
    # [value, age in ms (None: never sampled), flags: "f" fresh, "s" stale, "m" malformed].
    sensors: list[list[Any]] = []
    by_equip: dict[int, list[int]] = {}
    cond = seq.conditions
    for s in range(p.S):
        code = int(vals[s])
        name = p.sensors[s]
        flags = ("f" if fresh[s] else "") + ("s" if f"stale:{name}" in cond or (code != -1 and not fresh[s]) else "") \
            + ("m" if f"malformed:{name}" in cond else "")
        sensors.append([p.decode_sensor(s, code), int(t - times[s]) if code != -1 else None, flags])
        by_equip.setdefault(int(p.s_equip[s]), []).append(s)
    equipment = []
    for e, name in enumerate(p.equipment):
        ss = by_equip.get(e, [])
        seen = {sensors[s][0] for s in ss if fresh[s]}
        if not ss:
            sensed, state = None, "unsensed"
        elif not seen:
            sensed, state = None, "stale"
        elif len(seen) > 1:
            sensed, state = None, "disagree"
        else:
            sensed = seen.pop()
            state = "transit" if sensed == IN_TRANSIT else ("partial" if any(not fresh[s] for s in ss) else "ok")
        equipment.append({"name": name, "sensed": sensed, "state": state})
    criteria = []
    for c in range(p.C):
        ex = explain_criterion(p, S, c)
        applies = bool(p.c_from[c] <= tc <= p.c_until[c])
        for term, ct in zip(ex["terms"], _terms(p.c_expr[c]), strict=True):
            term["votes_needed"] = int(ct.k)
            term["votes"] = int(sum(1 for s in ct.sensors if bool(ct.lut[min(int(vals[s]), len(ct.lut) - 1)])
                                    and int(vals[s]) >= 0 and bool(fresh[s])))
            term["members"] = len(ct.sensors)
        criteria.append({**ex, "applies": applies, "from": format_count_time(int(p.c_from[c]) / 1000),
                         "until": format_count_time(int(p.c_until[c]) / 1000)})
    step = int(S[p.STEP, 0])
    done_steps = [j for j in range(len(p.steps)) if j < step]
    reason = int(S[p.REASON, 0])
    out = {
        "mode": st["mode"], "t_ms": t, "tc_ms": tc, "count": st["count"], "reason": st["reason"],
        "automatic_hold": bool(automatic and st["mode"] == "HOLDING"),
        "operator_hold": st["mode"] == "HOLDING" and reason == OPERATOR_REASON,
        "conditions": st["conditions"], "fault": st["fault"], "outcome": st["outcome"],
        "current_step": p.steps[done_steps[-1]] if done_steps else None,
        "next_step": st["next_step"], "next_step_tc_ms": int(p.step_at[step]) if step < p.n_count else None,
        "holds": st["holds"], "hold_time_s": st["hold_time_s"], "recycles": st["recycles"],
        "hold_until_ms": int(S[p.HOLD_UNTIL, 0]) if st["mode"] == "HOLDING" else None,
        "window_left_ms": int(p.window_close - t), "pnr_tc_ms": int(p.pnr), "past_pnr": bool(tc >= p.pnr),
        "sensors": sensors, "equipment": equipment, "criteria": criteria, "replay": st["replay"],
    }
    if extra:
        out.update(extra)
    return out


__all__ = ["ALARM_EVENTS", "automatic_hold", "is_alarm", "layout", "view"]
