"""Small random pad models, valid by construction, for cross-checking the verifier.

Used by the SPIN agreement tests (hypothesis draws the seed) and the SPIN benchmark. Each
model has 1-3 pieces of equipment, 1-4 sensors, 0-2 criteria, a few steps and a handful of
fault modes, with travel ranges of a few seconds so that exhaustive search stays small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml


def random_model(seed: int) -> dict[str, Any]:
    """Site, procedure and faults documents (plain dicts) drawn from ``seed``."""
    rng = np.random.default_rng(seed)

    def pick(n: int) -> int:
        return int(rng.integers(n))

    E = 1 + pick(3)
    equipment, plume = [], []
    for e in range(E):
        npos = 2 + pick(2)
        pos = [f"p{i}" for i in range(npos)]
        lo = 1 + pick(3)
        hi = lo + pick(4)
        travel = [{"from": "p0", "to": "p1", "min": lo, "max": hi}]
        if rng.random() < 0.4:
            travel.append({"from": "p1", "to": "p0", "min": lo, "max": hi})
        if npos == 3:
            travel.append({"from": "p1", "to": "p2", "min": 1, "max": 1 + pick(3)})
        equipment.append({"name": f"eq{e}", "kind": "other", "positions": pos, "initial": "p0",
                          "travel": travel})
        plume.append({"equipment": f"eq{e}", "safe": ["p1"] if npos == 2 or rng.random() < 0.5 else ["p1", "p2"],
                      "hazard": ["in_plume", "unlocked", "unshielded"][pick(3)]})
    nS = 1 + pick(4)
    sensors = []
    for s in range(nS):
        sensors.append({"name": f"s{s}", "observes": f"eq{pick(E)}", "period": 1,
                        "stale_after": [1.5, 2, 3][pick(3)]})
    groups = []
    by_eq: dict[str, list[str]] = {}
    for s in sensors:
        by_eq.setdefault(s["observes"], []).append(s["name"])
    for eq, members in by_eq.items():
        if len(members) >= 2 and rng.random() < 0.6:
            groups.append({"name": f"g_{eq}", "sensors": members, "vote": 1 + pick(len(members))})
    start = -(40 + 10 * pick(5))
    steps: list[dict[str, Any]] = []
    t = start + 5 + pick(5)
    for e in range(E):
        steps.append({"at": f"T{t}s", "move": f"eq{e}", "to": "p1"})
        if rng.random() < 0.3:
            t += pick(4)
        else:
            t += 3 + pick(8)
    zones = []
    if rng.random() < 0.5:
        zeq = sorted({f"eq{pick(E)}" for _ in range(1 + pick(2))})
        zones.append({"name": "deck", "equipment": zeq, "occupied": True})
        # evacuate before (usually) or after (sometimes) the first move of that equipment
        first = min(i for i, st in enumerate(steps) if st.get("move") in zeq)
        at = int(steps[first]["at"][1:-1]) + (-(1 + pick(3)) if rng.random() < 0.8 else 1 + pick(3))
        at = max(at, start)
        steps.append({"at": f"T{at}s", "evacuate": "deck"})
    steps.sort(key=lambda s: int(s["at"][1:-1]))
    last = max(int(s["at"][1:-1]) for s in steps)
    criteria = []
    slowest = max(max(t["max"] for t in eq["travel"]) for eq in equipment)
    for eq in equipment:
        watch = [g["name"] for g in groups if by_eq.get(eq["name"]) and g["sensors"] == by_eq[eq["name"]]]
        watch += by_eq.get(eq["name"], [])
        if not watch or rng.random() < 0.25:
            continue
        target = watch[pick(len(watch))]
        key = "group" if target.startswith("g_") else "sensor"
        # usually the window opens once the last move must have ended; sometimes earlier
        frm = last + slowest + 1 if rng.random() < 0.75 else last + pick(slowest + 1)
        frm = min(-1, frm)
        crit: dict[str, Any] = {"name": f"c{len(criteria)}", "applies": {"from": f"T{frm}s", "until": "T-0"},
                                "all": [{key: target, "is": "p1"}]}
        if rng.random() < 0.5:
            crit["debounce"] = pick(3)
        criteria.append(crit)
        if len(criteria) == 2:
            break
    proc: dict[str, Any] = {
        "procedure": "rand", "site": "rnd", "start": f"T{start}s", "ignition": "T-0",
        "window": {"duration": 10 * pick(8)}, "debounce": pick(2), "steps": steps, "criteria": criteria,
        "auto": {"resume": bool(rng.random() < 0.8)},
    }
    if rng.random() < 0.5:
        proc["point_of_no_return"] = f"T-{1 + pick(6)}s"
    if rng.random() < 0.4:
        rp = int(steps[0]["at"][1:-1])
        proc["recycle_points"] = [{"name": "rp", "at": f"T{rp}s"}]
        proc["auto"].update({"recycle_after": 2 + pick(10), "recycle_to": "rp", "max_recycles": pick(2)})
    if rng.random() < 0.3:
        proc["invariants"] = [{"name": "inv", "expr": f"mode != launched or eq0 in [p1{', p2' if len(equipment[0]['positions']) == 3 else ''}]"}]
    faults = []
    for eq in equipment:
        for mode, eff in (("jam", "jam"), ("wrong", "wrong_position"), ("spont", "spontaneous")):
            if rng.random() < 0.35:
                f: dict[str, Any] = {"component": eq["name"], "mode": mode, "effect": eff, "probability": 0.001}
                if eff != "jam":
                    f["to"] = "p2" if len(eq["positions"]) == 3 and rng.random() < 0.5 else "p0"
                faults.append(f)
    for s in sensors:
        for eff in ("stuck", "dropout", "reads_wrong"):
            if rng.random() < 0.25:
                f = {"component": s["name"], "mode": eff, "effect": eff, "probability": 0.001}
                if eff == "reads_wrong" and rng.random() < 0.5:
                    f["value"] = "p1"
                faults.append(f)
    site = {"site": "rnd", "name": f"random pad {seed}", "equipment": equipment, "sensors": sensors,
            "groups": groups, "plume_zone": plume, "personnel_zones": zones}
    return {"site": site, "procedure": proc, "faults": {"site": "rnd", "faults": faults},
            "max_faults": [0, 1, 1, 2, 2][pick(5)]}


def write_model(folder: str | Path, docs: dict[str, Any]) -> tuple[Path, Path]:
    """Write the documents as site.yaml, rand.yaml and faults.yaml; return (site, procedure)."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    (d / "site.yaml").write_text(yaml.safe_dump(docs["site"], sort_keys=False))
    (d / "rand.yaml").write_text(yaml.safe_dump(docs["procedure"], sort_keys=False))
    (d / "faults.yaml").write_text(yaml.safe_dump(docs["faults"], sort_keys=False))
    return d / "site.yaml", d / "rand.yaml"
