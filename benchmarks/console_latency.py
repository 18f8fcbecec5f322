"""Benchmark: decision-to-screen latency of the console with 50 concurrent viewers.

Two runs, each with the server side (lockstep pad-sim + runtime + console, one process, as
``padguard run --console`` runs) in a child process and the viewers in this one:

1. **MS-28 dry run** (Site 31/6, guarded, stopper pops out at +20 min, pad clock 20x): 50
   viewers hold the console's event stream (SSE) open for the whole count; an operator and a
   launch director recycle it through the API (two-person rule) and it launches. For every
   decision the sequencer archives (holds, criterion changes, commands, the recycle, ignition)
   we measure *decision -> screen*: from the moment the record was appended to the archive
   (its ``wall`` stamp, taken before the commit) to its arrival at each viewer's stream.
   Baseline, same run: decision -> the runtime's in-process listener (archive commit done,
   the earliest moment anything may leave the process). The difference is the console's cost.
2. **A generated 1,000-sensor pad** (Site 31/6 plus 248 generated pieces of equipment with 4
   sensors each, all watched, 1 Hz each, pad clock 1x): 50 viewers on the stream; an operator
   holds and resumes every 2 s; we measure decision -> screen for those, GET /api/state
   latency while the viewers are connected, and the size of one frame.

"Screen" here is the message arriving at the viewer's socket (what the page renders on
receipt); the browser's own render time is not included.

    python benchmarks/console_latency.py [--viewers 50] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

CHILD = r"""
import json, sys, time
from pathlib import Path
from padguard.console.rig import DryRun
tmp, site, speed, faults = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), tuple(a for a in sys.argv[4].split(",") if a)
mp = Path(sys.argv[5]) if sys.argv[5] != "-" else None
rig = DryRun(tmp, speed=speed, site=site, faults=faults, map_path=mp, pad_url=sys.argv[6])
seen = []
def listen(recs):
    now = time.time()
    for r in recs:
        if r.kind == "event":
            seen.append((r.seq, r.wall, now))
async def start():
    import asyncio
    return await rig._start()
import asyncio
fut = asyncio.run_coroutine_threadsafe(start(), rig.loop)
# register the listener as early as possible (the runtime object exists right after construction)
while not hasattr(rig, "rt") and not fut.done():
    time.sleep(0.001)
if hasattr(rig, "rt"):
    rig.rt.listeners.append(listen)
url = fut.result(300)
print(json.dumps({"url": url, "tokens": rig.tokens, "archive": rig.archive, "pad": rig.pad_url}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "pad":
        print(json.dumps({"pad": rig.pad_call(cmd[1], None if len(cmd) < 3 else (float(cmd[2]) if cmd[1] == "set_speed" else cmd[2]))}), flush=True)
    elif cmd[0] == "state":
        print(json.dumps({"mode": rig.rt.seq.mode.name if rig.rt.seq else None}), flush=True)
    elif cmd[0] == "stop":
        rig.stop()
        print(json.dumps({"seen": seen}), flush=True)
        break
"""


class Server:
    """The pad (`padguard pad-sim`, lockstep) in one child process, the runtime with its console
    (as `padguard run --console` runs them) in another, driven over stdin/stdout."""

    def __init__(self, tmp: Path, site: str, speed: float, faults: str, map_path: Path | None = None):
        tmp.mkdir(parents=True, exist_ok=True)
        ef = tmp / "pad.url"
        pad = [sys.executable, "-m", "padguard.cli", "pad-sim", site, "--endpoint", "opc.tcp://127.0.0.1:0",
               "--speed", str(speed), "--lockstep", "--travel-u", "0.5", "--endpoint-file", str(ef)]
        pad += [x for f in faults.split(",") if f for x in ("--fault", f)]
        pad += ["--map", str(map_path)] if map_path else []
        self.pad = subprocess.Popen(pad, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 120
        while not (ef.exists() and ef.read_text().strip()):
            if time.monotonic() > end or self.pad.poll() is not None:
                raise RuntimeError("pad-sim did not start")
            time.sleep(0.05)
        args = [sys.executable, "-c", CHILD, str(tmp), site, str(speed), faults, str(map_path or "-"),
                ef.read_text().strip()]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.info = json.loads(self.p.stdout.readline())

    def ask(self, line: str) -> dict:
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def stop(self) -> dict:
        out = self.ask("stop")
        self.p.wait(60)
        self.pad.terminate()
        self.pad.wait(30)
        return out


async def viewer(url: str, token: str, arrivals: dict[int, list[float]], done: asyncio.Event, frames: list[int]) -> None:
    """One console viewer: the event stream, every decision's arrival time."""
    n = 0
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(30, read=None)) as c, \
            c.stream("GET", "/api/stream", headers={"Authorization": f"Bearer {token}"}) as r:
        opened = time.time()  # decisions made before this viewer connected are backlog, not latency
        kind = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "records":
                now = time.time()
                for rec in json.loads(line[6:]):
                    if rec["kind"] == "event" and rec["wall"] >= opened:
                        arrivals.setdefault(rec["seq"], []).append(now - rec["wall"])
            elif line.startswith("data: ") and kind == "frame":
                n += 1
            if done.is_set():
                break
    frames.append(n)


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs), q)) * 1000 if len(xs) else float("nan")


def summary(name: str, arrivals: dict[int, list[float]], seen: list, viewers: int) -> dict:
    lat = [x for v in arrivals.values() for x in v]
    base = [now - wall for seq, wall, now in seen if seq in arrivals]
    complete = sum(1 for v in arrivals.values() if len(v) == viewers)  # (decisions after every viewer connected)
    out = {"run": name, "decisions": len(arrivals), "deliveries": len(lat), "decisions_seen_by_all": complete,
           "screen_p50_ms": pct(lat, 50), "screen_p99_ms": pct(lat, 99), "screen_max_ms": pct(lat, 100),
           "listener_p50_ms": pct(base, 50), "listener_p99_ms": pct(base, 99)}
    print(f"  {name}: {len(arrivals)} decisions x {viewers} viewers = {len(lat)} deliveries "
          f"({complete} decisions reached every viewer)")
    print(f"    decision -> screen   p50 {out['screen_p50_ms']:7.1f} ms   p99 {out['screen_p99_ms']:7.1f} ms   "
          f"max {out['screen_max_ms']:7.1f} ms   (goal p99 < 250 ms: {'MET' if out['screen_p99_ms'] < 250 else 'NOT MET'})")
    print(f"    baseline: decision -> in-process listener (durable)   p50 {out['listener_p50_ms']:6.1f} ms   "
          f"p99 {out['listener_p99_ms']:6.1f} ms")
    return out


async def ms28(tmp: Path, viewers: int) -> dict:
    srv = await asyncio.to_thread(Server, tmp / "ms28", "site31", 20.0, "cabin.stopper:pops_out@+20m")
    url, tok = srv.info["url"], srv.info["tokens"]
    arrivals: dict[int, list[float]] = {}
    done = asyncio.Event()
    frames: list[int] = []
    tasks = [asyncio.create_task(viewer(url, tok["vera"], arrivals, done, frames)) for _ in range(viewers)]
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        auth = lambda u: {"Authorization": f"Bearer {tok[u]}"}  # noqa: E731
        while (await c.get("/api/state", headers=auth("olga"))).json()["state"]["mode"] != "HOLDING":
            await asyncio.sleep(0.2)
        await asyncio.to_thread(srv.ask, "pad set_speed 0")
        await asyncio.to_thread(srv.ask, "pad clear cabin.stopper")
        r = await c.post("/api/command", json={"command": "recycle", "arg": "stopper"}, headers=auth("olga"))
        rid = r.json()["request"]["id"]
        r = await c.post(f"/api/requests/{rid}/approve", json={}, headers=auth("lev"))
        assert r.status_code == 200, r.text
        await asyncio.to_thread(srv.ask, "pad set_speed 20")
        while (await asyncio.to_thread(srv.ask, "state"))["mode"] not in ("LAUNCHED", "ABORTED", "SCRUBBED"):
            await asyncio.sleep(0.5)  # (when the count ends, padguard run exits and its console with it)
        final = (await asyncio.to_thread(srv.ask, "state"))["mode"]
    await asyncio.sleep(1.0)
    done.set()
    await asyncio.wait(tasks, timeout=10)
    seen = (await asyncio.to_thread(srv.stop))["seen"]
    print(f"  MS-28 dry run outcome: {final}; frames per viewer: min {min(frames)} max {max(frames)}")
    return summary("MS-28 dry run", arrivals, seen, viewers)


def big_site(tmp: Path, n_equip: int = 248) -> tuple[Path, Path]:
    """Site 31/6 plus generated equipment with 4 sensors each (9 + 4*248 = 1,001 sensors... minus one)."""
    from padguard.links.mapping import default_map_path

    src = default_map_path("site31").parent
    d = tmp / "big" / "site31"
    shutil.copytree(src, d)
    site = (d / "site.yaml").read_text()
    eq = "\n".join(f"  - {{name: gse.{k}, kind: other, description: 'generated', source: 'assumption: benchmark', "
                   f"positions: [nominal, standby], initial: nominal, "
                   f"travel: [{{from: nominal, to: standby, min: 1s, max: 2s, source: assumption}}]}}" for k in range(n_equip))
    sens_names = [f"gse_{k}_{j}" for k in range(n_equip) for j in range(4)][: 1000 - 9]
    sens = "\n".join(f"  - {{name: {s}, observes: gse.{s.split('_')[1]}, period: 1s, stale_after: 3, source: 'assumption: benchmark'}}"
                     for s in sens_names)
    site = site.replace("\nsensors:\n", f"\n{eq}\n\nsensors:\n{sens}\n", 1)
    (d / "site.yaml").write_text(site)
    mp = (d / "opcua-map.yaml").read_text()
    mp = mp.replace("\nsensors:\n", "\nsensors:\n" + "\n".join(f'  {s}: {{node: "s=site31.sensors.{s}"}}' for s in sens_names) + "\n", 1)
    (d / "opcua-map.yaml").write_text(mp)
    return d, d / "opcua-map.yaml"


async def big(tmp: Path, viewers: int, seconds: float) -> dict:
    site, mp = big_site(tmp)
    t_start = time.monotonic()
    srv = await asyncio.to_thread(Server, tmp / "bigrun", str(site), 1.0, "", mp)
    print(f"  1,000-sensor pad: pad-sim + runtime + console up in {time.monotonic() - t_start:.1f} s", flush=True)
    url, tok = srv.info["url"], srv.info["tokens"]
    arrivals: dict[int, list[float]] = {}
    done = asyncio.Event()
    frames: list[int] = []
    gets: list[float] = []
    tasks = [asyncio.create_task(viewer(url, tok["vera"], arrivals, done, frames)) for _ in range(viewers)]
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        auth = {"Authorization": f"Bearer {tok['olga']}"}
        t0 = time.monotonic()
        r = await c.get("/api/state", headers=auth)
        st = r.json()["state"]
        size = len(r.content)
        n_sensors = len(st["sensors"])
        k = 0
        while time.monotonic() - t0 < seconds:
            await c.post("/api/command", json={"command": "hold" if k % 2 == 0 else "resume"}, headers=auth)
            k += 1
            for _ in range(4):
                t = time.perf_counter()
                await c.get("/api/state", headers=auth)
                gets.append(time.perf_counter() - t)
                await asyncio.sleep(0.5)
        mode = (await c.get("/api/state", headers=auth)).json()["state"]["mode"]
    await asyncio.sleep(1.0)
    done.set()
    await asyncio.wait(tasks, timeout=10)
    seen = (await asyncio.to_thread(srv.stop))["seen"]
    print(f"  1,000-sensor pad: {n_sensors} sensors, frame {size / 1024:.0f} KiB, mode at the end {mode}; "
          f"frames per viewer: min {min(frames)} max {max(frames)}")
    print(f"    GET /api/state with {viewers} viewers streaming: p50 {pct(gets, 50):.1f} ms, p99 {pct(gets, 99):.1f} ms")
    out = summary("1,000-sensor pad", arrivals, seen, viewers)
    out.update({"sensors": n_sensors, "frame_kib": size / 1024, "get_state_p50_ms": pct(gets, 50),
                "get_state_p99_ms": pct(gets, 99)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--viewers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the 1,000-sensor run")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--skip-ms28", action="store_true")
    a = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        res = [] if a.skip_ms28 else [asyncio.run(ms28(tmp, a.viewers))]
        if not a.skip_big:
            res.append(asyncio.run(big(tmp, a.viewers, a.seconds)))
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
