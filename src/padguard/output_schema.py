"""JSON Schemas (draft 2020-12) of the machine-readable outputs: ``simulate --json``,
``verify --json`` and ``risk --json``. Published by ``padguard schema simulate|verify|risk`` and
described in docs/outputs.md; tests validate real outputs against them.

Durations in these outputs are numbers of seconds (``*_s`` keys); count times are the strings
the models use (``T-01:05:00``).
"""

from __future__ import annotations

from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"
OUTCOME = {"enum": ["launched_on_time", "launched_after_holds", "pad_damaged", "scrubbed",
                    "aborted", "unfinished"]}
COUNT = {"type": "string", "pattern": r"^T[-+]\d{2}:\d{2}:\d{2}(\.\d+)?$",
         "description": "count time, e.g. T-01:05:00"}
NUM_OR_NULL = {"type": ["number", "null"]}


def _obj(props: dict[str, Any], required: list[str] | None = None, extra: bool = True) -> dict:
    return {"type": "object", "properties": props, "required": required or list(props),
            "additionalProperties": extra}


SIMULATE = {
    "$schema": DRAFT, "title": "padguard simulate --json",
    "description": "One simulated countdown: its outcome and every event, narrated.",
    **_obj({
        "outcome": OUTCOME,
        "hazards": {"type": "array", "items": {"type": "string"},
                    "description": "plume-zone rules violated at ignition, e.g. 'cabin.stopper unlocked'"},
        "personnel_hazards": {"type": "array", "items": {"type": "string"}},
        "holds": {"type": "integer", "minimum": 0, "description": "unplanned holds"},
        "hold_time_s": {"type": "number", "minimum": 0, "description": "unplanned hold time, seconds"},
        "recycles": {"type": "integer", "minimum": 0},
        "ignition_t_s": {**NUM_OR_NULL, "description": "wall seconds after count start, null if no ignition"},
        "abort_t_s": {**NUM_OR_NULL, "description": "wall seconds after count start of an abort (its "
                      "safing sequence, if any, starts then), null if none"},
        "seed": {"type": ["integer", "null"]},
        "events": {"type": "array", "items": _obj({
            "t_s": {"type": "number", "description": "wall seconds after count start"},
            "count": COUNT,
            "kind": {"type": "string", "description": "start, operator, refused, hold, resume, recycle, "
                     "command, arrive, milestone, fault, clear, criterion, ignition, cutoff, scrub, abort, "
                     "safed, sequence_done, outcome, ... (a safing step's command or milestone carries "
                     "data.safing = true)"},
            "text": {"type": "string"},
        }, ["t_s", "count", "kind", "text"])},
    }),
}

VERIFY = {
    "$schema": DRAFT, "title": "padguard verify --json",
    "description": "The verdict of an exhaustive exploration under up to max_faults faults.",
    **_obj({
        "verdict": {"enum": ["proved", "violated", "no_violation_found", "bounded", "interrupted"],
                    "description": "proved only when exact; a search on a coarser grid that finds "
                                   "nothing is no_violation_found (not a proof)"},
        "exact": {"type": "boolean",
                  "description": "true when the grid is the model's own clock (every timing explored)"},
        "max_faults": {"type": "integer", "minimum": 0},
        "resolution_s": {"type": "number", "exclusiveMinimum": 0},
        "timing": {"type": "string"},
        "properties": {"type": "array", "items": {"type": "string"}},
        "stats": {"type": "object", "properties": {
            "states": {"type": "integer"}, "transitions": {"type": "integer"},
            "seconds": {"type": "number"}}, "required": ["states", "seconds"]},
        "reason": {"type": "string"},
        "violation": _obj({"property": {"type": "string"}, "detail": {"type": "string"},
                           "steps": {"type": "integer"}}, ["property", "detail"]),
        "quick_pass": _obj({
            "resolution_s": {"type": "number"},
            "verdict": {"type": "string", "description": "the quick pass's own claim"},
            "stats": {"type": "object"},
            "reported": {"type": "boolean", "description": "true when the quick pass answered (a violation, "
                         "or Ctrl-C): the verdict, resolution_s and counterexample above are then its own"},
        }, ["resolution_s", "verdict", "reported"]),
    }, ["verdict", "exact", "max_faults", "properties", "stats"]),
}

ESTIMATE = _obj({
    "p": {"type": "number", "minimum": 0, "maximum": 1},
    "lo": {"type": "number"}, "hi": {"type": "number"},
    "method": {"enum": ["crude", "is"]},
    "trials": {"type": "integer"}, "hits": {"type": "integer"},
    "se": NUM_OR_NULL, "rel_err": NUM_OR_NULL, "note": {"type": "string"},
}, ["p", "lo", "hi", "method", "trials", "hits"])

PROCEDURE = _obj({
    "procedure": {"type": "string"},
    "trials": {"type": "integer"},
    "outcomes": {"type": "object", "additionalProperties": ESTIMATE,
                 "description": "per outcome (and personnel_hazard): estimate with 95 % interval; "
                                "a rare event estimated by importance sampling carries its crude estimate under 'crude'"},
    "holds": {"type": "object"},
    "importance": {"type": "object"},
    "personnel_hazard_by_zone": {"type": "object", "additionalProperties": ESTIMATE},
    "plume_rule_violated_at_ignition": {"type": "object", "additionalProperties": ESTIMATE},
    "rare_events": {"type": "object"},
    "examples": {"type": "object"},
})

RISK = {
    "$schema": DRAFT, "title": "padguard risk --json",
    "description": "A Monte Carlo campaign: outcome probabilities with intervals, holds, importance.",
    **_obj({
        "site": {"type": "string"}, "site_name": {"type": "string"},
        "trials": {"type": "integer", "minimum": 1}, "seed": {"type": "integer"},
        "method": {"enum": ["auto", "crude", "is"]}, "interval": {"type": "string"},
        "chunk": {"type": "integer"},
        "trial_law": {"type": "object"},
        "procedures": {"type": "array", "items": PROCEDURE, "minItems": 1, "maxItems": 2},
        "paired": {"type": "object"},
        "executor": {"type": "string"},
        "timing": {"type": "object"},
    }, ["site", "trials", "seed", "method", "procedures"]),
}

SCHEMAS = {"simulate": SIMULATE, "verify": VERIFY, "risk": RISK}
