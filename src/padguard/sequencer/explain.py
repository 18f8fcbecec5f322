"""Human-readable explanations of criteria: what was seen and what would clear it."""

from __future__ import annotations

import numpy as np

from padguard.compile import CompiledExpr, CompiledTerm, Plan, Tri
from padguard.model.times import format_duration
from padguard.sequencer import rules

TRI_NAME = {Tri.OK: "OK", Tri.UNKNOWN: "UNKNOWN", Tri.VIOLATED: "VIOLATED"}


def _terms(e: CompiledExpr) -> list[CompiledTerm]:
    out: list[CompiledTerm] = []
    for i in e.items:
        out.extend(_terms(i) if isinstance(i, CompiledExpr) else [i])
    return out


def sensor_reading(plan: Plan, S: np.ndarray, s: int, col: int = 0) -> dict:
    """One sensor's last value, age and freshness in column ``col``."""
    val = int(S[plan.SVAL + s, col])
    age = int(S[plan.T, col] - S[plan.STIME + s, col])
    is_fresh = bool(rules.fresh(plan, S[:, col:col + 1], s)[0])
    return {"sensor": plan.sensors[s], "value": plan.decode_sensor(s, val),
            "age_s": age / 1000, "fresh": is_fresh}


def explain_criterion(plan: Plan, S: np.ndarray, c: int, col: int = 0) -> dict:
    """The state of criterion ``c``: each term's verdict, the readings, and how to clear it."""
    sub = S[:, col:col + 1]
    terms = []
    for t in _terms(plan.c_expr[c]):
        verdict = int(rules.eval_term(plan, sub, t)[0])
        terms.append({"term": t.text, "state": TRI_NAME[Tri(verdict)],
                      "readings": [sensor_reading(plan, S, int(s), col) for s in t.sensors]})
    crit = plan.criteria_defs[c] if plan.criteria_defs else plan.model.procedure.criteria[c]
    hint = crit.clear_hint or ("all of: " if plan.c_expr[c].op == "all" else "any of: ") + "; ".join(
        t.text for t in _terms(plan.c_expr[c]))
    deb = int(plan.c_deb[c])
    if deb:
        hint += f", steadily for {format_duration(deb / 1000)}"
    return {"criterion": plan.criteria[c], "description": crit.description,
            "state": TRI_NAME[Tri(int(S[plan.CST + c, col]))], "terms": terms, "clears_when": hint}


def describe_readings(expl: dict) -> str:
    parts = []
    for t in expl["terms"]:
        rs = ", ".join(
            f"{r['sensor']}={r['value']}" + ("" if r["fresh"] else f" (STALE {r['age_s']:.0f}s)")
            for r in t["readings"])
        parts.append(f"{t['term']}: {t['state']} [{rs}]")
    return "; ".join(parts)
