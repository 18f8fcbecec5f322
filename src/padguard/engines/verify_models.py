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


def random_model(seed: int, regimes: bool = False) -> dict[str, Any]:
    """Site, procedure and faults documents (plain dicts) drawn from ``seed``.

    With ``regimes`` the model also gets (drawn from a second stream, so the base model of a
    seed is the same either way) the count's other regimes: a cutoff criterion that recycles,
    with or without a cutoff safing sequence, an abort safing sequence, and steps after T-0.
    """
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
    if regimes:
        _add_regimes(np.random.default_rng([seed, 8]), equipment, plume, zones, proc)
    return {"site": site, "procedure": proc, "faults": {"site": "rnd", "faults": faults},
            "max_faults": [0, 1, 1, 2, 2][pick(5)]}


def _add_regimes(rng: np.random.Generator, equipment: list[dict[str, Any]], plume: list[dict[str, Any]],
                 zones: list[dict[str, Any]], proc: dict[str, Any]) -> None:
    """Cutoff windows (recycle and cutoff safing), abort safing and steps after T-0, valid by
    construction (safing moves into the plume zone wait for plume_clear; nothing after T-0
    moves into it or sends people in)."""

    def pick(n: int) -> int:
        return int(rng.integers(n))

    steps, criteria = proc["steps"], proc["criteria"]
    safe = {r["equipment"]: set(r["safe"]) for r in plume}

    def moves_back() -> list[tuple[str, str]]:  # (equipment, position) a safing move can go to
        return [(e["name"], t["to"]) for e in equipment for t in e["travel"] if t["from"] == "p1"]

    def safing(clear: int, move_afters: list[int] | None = None) -> list[dict[str, Any]]:
        """A safing sequence; its moves only at ``move_afters`` when given (none if empty)."""
        seq: list[dict[str, Any]] = []
        used: set[tuple[str, int]] = set()
        for _ in range(1 + pick(3)):
            after = pick(5)
            opts = moves_back() if move_afters is None or move_afters else []
            r = rng.random()
            if opts and r < 0.6:
                eq, to = opts[pick(len(opts))]
                if move_afters:
                    after = move_afters[pick(len(move_afters))]
                if to not in safe[eq]:
                    after = max(after, clear)
                if (eq, after) in used:
                    continue
                used.add((eq, after))
                seq.append({"after": after, "move": eq, "to": to})
            elif zones and r < 0.85:
                kind = "occupy" if rng.random() < 0.5 else "evacuate"
                seq.append({"after": max(after, clear) if kind == "occupy" else after, kind: "deck"})
            else:
                seq.append({"after": after, "milestone": "safing"})
        return sorted(seq, key=lambda st: st["after"])

    last = max(int(s["at"][1:-1]) for s in steps)
    # steps after T-0: only moves out of the plume zone are allowed, and no one enters a zone
    if rng.random() < 0.6:
        at = 1 + pick(3)
        opts = [(e["name"], t["to"]) for e in equipment for t in e["travel"]
                if t["from"] == "p1" and t["to"] in safe[e["name"]] and t["to"] != "p1"]
        if opts and rng.random() < 0.7:
            eq, to = opts[pick(len(opts))]
            steps.append({"at": f"T+{at}s", "move": eq, "to": to})
        elif zones and rng.random() < 0.5:
            steps.append({"at": f"T+{at}s", "evacuate": "deck"})
        else:
            steps.append({"at": f"T+{at}s", "milestone": "after liftoff"})
        if rng.random() < 0.5:
            proc["invariants"] = [{"name": "flight", "expr": f"mode != launched or {equipment[0]['name']} == p1"}]
    # a cutoff window late in the count, recycling to a point before it
    if rng.random() < 0.6:
        if "recycle_points" not in proc:
            proc["recycle_points"] = [{"name": "rp", "at": steps[0]["at"]}]
        rp = int(proc["recycle_points"][0]["at"][1:-1])
        frm = min(-1, max(rp + 1, last + pick(6)))
        until = min(0, frm + 2 + pick(8))
        cand = [c for c in criteria if int(c["applies"]["from"][1:-1]) > rp]
        if cand and rng.random() < 0.5:
            cand[pick(len(cand))]["recycle_to"] = "rp"
        else:  # s0 watches some equipment that moves to p1 during the count
            criteria.append({"name": f"cut{len(criteria)}", "applies": {"from": f"T{frm}s", "until": f"T{until}s"},
                             "recycle_to": "rp", "all": [{"sensor": "s0", "is": "p1"}]})
        if rng.random() < 0.6:
            # a cutoff safing move must not meet a move of the recycled count at one instant (the
            # verifier refuses two moves of one equipment at once): after the count's last step
            # and before the count can reach a criterion's window again (another cutoff, or a
            # hold and a recycle, restarts the count's moves); so also before ignition
            first = min(int(c["applies"]["from"][1:-1]) for c in criteria)
            afters = list(range(last - rp + 1, first - rp)) if first > last else []
            proc["cutoff"] = {"safing": safing(0, afters)}
    # an abort safing sequence (aborts happen past the point of no return)
    if rng.random() < 0.6:
        if "point_of_no_return" not in proc:
            proc["point_of_no_return"] = f"T-{1 + pick(6)}s"
        clear = pick(3)
        proc["abort"] = {"plume_clear": clear, "safing": safing(clear)}
    steps.sort(key=lambda s: int(s["at"][1:-1]))


def write_model(folder: str | Path, docs: dict[str, Any]) -> tuple[Path, Path]:
    """Write the documents as site.yaml, rand.yaml and faults.yaml; return (site, procedure)."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    (d / "site.yaml").write_text(yaml.safe_dump(docs["site"], sort_keys=False))
    (d / "rand.yaml").write_text(yaml.safe_dump(docs["procedure"], sort_keys=False))
    (d / "faults.yaml").write_text(yaml.safe_dump(docs["faults"], sort_keys=False))
    return d / "site.yaml", d / "rand.yaml"
