"""How the verifier grows: Site 31/6 guarded, and a generated pad N times its size.

    python benchmarks/verify_scale.py                       # 1x and 3x, K = 0, 1, 2 on a 30 s grid
    python benchmarks/verify_scale.py --copies 1 --res 1s --k 0 1
    python benchmarks/verify_scale.py --copies 1 --res 1s --k 0 1 --travel eager lazy   # before/after

The N-times pad repeats Site 31/6's equipment, sensors, groups, plume rules, personnel zones,
steps, criteria and fault modes N times under prefixed names (``c2.cabin`` ...), each copy's steps
and criteria windows shifted 7 s earlier per copy so its moves do not start at the same instant as
the first copy's. Every run is ``padguard verify`` in its own process under ``/usr/bin/time``:
states, search seconds, wall seconds and peak RSS. ``--travel eager`` runs ``verify
--eager-travel`` (every travel time chosen at issue, the search before lazy travel), ``lazy`` the
default. ``--engine zones`` runs the symbolic search (``verify --resolution exact``: exact, every
millisecond timing), ``grid`` the explicit search on ``--res`` (``verify --explicit``); both with
``--shortest`` (no quick 30 s pass first), so the row times the named search alone.

    python benchmarks/verify_scale.py --copies 1 3 --k 0 1 2 --engine zones grid --res 1s
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

SITE31 = Path(__file__).resolve().parents[1] / "src" / "padguard" / "sites" / "site31"
HAZARDS = ["-p", "plume", "-p", "personnel", "-p", "invariants", "-p", "liveness"]


def _shift(t: str, s: int) -> str:
    from padguard.model.times import parse_count_time

    v = parse_count_time(t) + s
    return f"T{int(v):+d}s" if v else "T-0"


def generate(copies: int, out: Path) -> tuple[Path, Path]:
    """Write the N-times pad (site.yaml, guarded.yaml, faults.yaml) to ``out``."""
    site = yaml.safe_load((SITE31 / "site.yaml").read_text())
    proc = yaml.safe_load((SITE31 / "guarded.yaml").read_text())
    faults = yaml.safe_load((SITE31 / "faults.yaml").read_text())
    base = copy.deepcopy((site, proc, faults))
    for i in range(2, copies + 1):
        s0, p0, f0 = copy.deepcopy(base)
        names = {e["name"] for e in s0["equipment"]} | {x["name"] for x in s0["sensors"]} \
            | {g["name"] for g in s0.get("groups", [])} | {z["name"] for z in s0.get("personnel_zones", [])}
        ren = lambda n, i=i, names=names: f"c{i}.{n}" if n in names else n  # noqa: E731
        for e in s0["equipment"]:
            e["name"] = ren(e["name"])
            site["equipment"].append(e)
        for x in s0["sensors"]:
            x["name"], x["observes"] = ren(x["name"]), ren(x["observes"])
            site["sensors"].append(x)
        for g in s0.get("groups", []):
            g["name"], g["sensors"] = ren(g["name"]), [ren(m) for m in g["sensors"]]
            site["groups"].append(g)
        for r in s0.get("plume_zone", []):
            r["equipment"] = ren(r["equipment"])
            site["plume_zone"].append(r)
        for z in s0.get("personnel_zones", []):
            z["name"], z["equipment"] = ren(z["name"]), [ren(e) for e in z["equipment"]]
            site["personnel_zones"].append(z)
        sh = -7 * (i - 1)
        for st in p0["steps"]:
            if "milestone" in st:
                continue
            st["at"] = _shift(str(st["at"]), sh)
            for key in ("move", "evacuate", "occupy"):
                if key in st:
                    st[key] = ren(st[key])
            proc["steps"].append(st)
        for c in p0.get("criteria", []):
            c["name"] = f"c{i}_{c['name']}"
            c["applies"]["from"] = _shift(str(c["applies"]["from"]), sh)
            for t in c["all"]:
                for key in ("group", "sensor"):
                    if key in t:
                        t[key] = ren(t[key])
            proc["criteria"].append(c)
        for f in f0["faults"]:
            f["component"] = ren(f["component"])
            faults["faults"].append(f)
    proc["steps"].sort(key=lambda s: __import__("padguard.model.times", fromlist=["x"]).parse_count_time(str(s["at"])))
    out.mkdir(parents=True, exist_ok=True)
    (out / "site.yaml").write_text(yaml.safe_dump(site, sort_keys=False))
    (out / "guarded.yaml").write_text(yaml.safe_dump(proc, sort_keys=False))
    (out / "faults.yaml").write_text(yaml.safe_dump(faults, sort_keys=False))
    return out / "site.yaml", out / "guarded.yaml"


def run(site: Path, proc: Path, k: int, res: str, max_memory: str, timeout: float, travel: str = "lazy",
        engine: str = "grid") -> dict:
    # the time limit interrupts the search (SIGINT: verify stops cleanly and prints the
    # statistics reached), so no orphaned search goes on using the shared machine
    cmd = ["/usr/bin/time", "-f", "@@TIME %e %M", "timeout", "-s", "INT", str(int(timeout)),
           sys.executable, "-m", "padguard.cli", "verify", str(site),
           str(proc), "-k", str(k), *(["--resolution", "exact"] if engine == "zones" else
                                      ["--explicit", "--resolution", res]),
           "--shortest", *HAZARDS, "--json", "--max-memory", max_memory,
           "--out", os.devnull] + (["--eager-travel"] if travel == "eager" else [])
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 120)
    except subprocess.TimeoutExpired:
        return {"verdict": f"timeout {timeout:.0f} s"}
    wall = rss = float("nan")
    for line in p.stderr.splitlines():
        if line.startswith("@@TIME"):
            wall, rss = float(line.split()[1]), int(line.split()[2]) / 1024
    try:
        d = json.loads(p.stdout)
    except ValueError:
        return {"verdict": "error: " + p.stderr[-300:]}
    return {"verdict": d["verdict"], "states": d["stats"]["states"], "search_s": d["stats"]["seconds"],
            "wall": wall, "rss": rss, "reason": d.get("reason", "") or d.get("symbolic_not_applicable", ""),
            "engine": d.get("engine", "grid"), "exact": d.get("exact", False)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--k", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--res", default="30s")
    ap.add_argument("--max-memory", default="4GiB")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--travel", nargs="+", choices=["lazy", "eager"], default=["lazy"])
    ap.add_argument("--engine", nargs="+", choices=["zones", "grid"], default=["grid"])
    a = ap.parse_args()
    print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores; grid {a.res}; "
          "properties: plume personnel invariants liveness")
    print(f"{'pad':<16} {'K':>2} {'engine':<10} {'travel':<6} {'verdict':<20} {'states':>12} {'search s':>9} "
          f"{'wall s':>8} {'peak RSS MiB':>12}")
    with tempfile.TemporaryDirectory(prefix="padguard-scale-") as tmp:
        for n in a.copies:
            site, proc = generate(n, Path(tmp) / f"x{n}")
            for k, eng, travel in ((k, e, tr) for k in a.k for e in a.engine for tr in a.travel):
                if eng == "zones" and travel == "eager":
                    continue
                r = run(site, proc, k, a.res, a.max_memory, a.timeout, travel, eng)
                label = "zones" if r.get("engine") == "zones" else f"grid {a.res}"
                print(f"{f'Site 31/6 x{n}':<16} {k:>2} {label:<10} {travel:<6} {r['verdict']:<20} {r.get('states', 0):>12,} "
                      f"{r.get('search_s', float('nan')):>9.2f} {r.get('wall', float('nan')):>8.2f} "
                      f"{r.get('rss', float('nan')):>12.0f} {r.get('reason', '')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
