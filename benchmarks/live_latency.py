"""Benchmark: the live runtime's sample throughput and its time to hold.

Three measurements, each against a baseline taken in the same run:

1. Throughput in process: sensor samples per second through the runtime's own ingest path
   (decode -> input records -> Sequencer.apply, i.e. criteria evaluation -> archive append and
   durable commit), SQLite with WAL and synchronous=FULL. Baseline: one sample per batch (a
   decision and a durable commit per sample, what a runtime without batching does).
2. Hold latency in process: from a violating sample entering the runtime's ingest to the hold
   being decided AND durable in the archive (the moment the runtime may act on it). Baseline:
   ``rules.decide`` alone on the same state (the irreducible cost of the decision).
3. Hold latency over OPC UA on loopback: the pad-sim in another process; from the benchmark
   calling the pad's ``Inject`` (the pad then publishes the violating reading) to the runtime's
   hold being durable. Baseline: a bare asyncua subscriber in this process receiving the same
   reading (transport only).

    python benchmarks/live_latency.py [--archive postgresql://...] [--trials 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

import padguard as pg
from padguard.links.mapping import default_map_path, load_linkmap
from padguard.links.runtime import RunOptions, Runtime
from padguard.sequencer import rules
from padguard.sequencer.table import Mode

BENCH_PROC = """\
procedure: bench
site: site31
description: "benchmark: one criterion that applies from count start"
start: T-1h
ignition: T-0
debounce: 0s
window: {duration: 2h}
criteria:
  - name: stopper_a_open
    applies: {from: T-1h, until: T-0}
    all: [{sensor: stopper_a, is: disengaged}]
auto: {resume: true}
"""


def bench_site(tmp: Path) -> Path:
    d = tmp / "site31"
    shutil.copytree(default_map_path("site31").parent, d)
    (d / "bench.yaml").write_text(BENCH_PROC)
    return d


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q))


def make_runtime(site: Path, proc: str, archive: str, link: str = "opc.tcp://127.0.0.1:1",
                 on_event=None) -> Runtime:
    """A runtime on a fresh count (a new count id, so one PostgreSQL database serves every run)."""
    plan = pg.compile_model(pg.load(site, proc))
    lm = load_linkmap(plan, site / "opcua-map.yaml")
    opts = RunOptions(link=link, archive=archive, count_id=f"bench-{uuid.uuid4().hex[:10]}")
    return Runtime(plan, lm, opts, on_event=on_event)


def nominal(plan: pg.Plan) -> list[tuple[int, str]]:
    return [(s, plan.decode_sensor(s, int(plan.initial[plan.s_equip[s]]))) for s in range(plan.S)]


async def throughput(site: Path, archive: str, batch: int, seconds: float) -> tuple[float, int]:
    """Samples per second through Runtime._handle (the runtime's ingest) for ``batch`` samples a batch."""
    rt = make_runtime(site, "guarded", archive)
    rt._open()
    rt._start_clock()
    plan = rt.plan
    nom = nominal(plan)
    rng = np.random.default_rng(0)
    items = [("dc", s, v, True, "") for s, v in nom]
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pick = rng.integers(0, len(items), batch)
        await rt._handle([items[i] for i in pick])
        n += batch
    dt = time.perf_counter() - t0
    assert rt.seq.mode == Mode.COUNTING
    rt.archive.close()
    return n / dt, n


async def latency_in_process(site: Path, archive: str, trials: int) -> tuple[list[float], list[float], list[float]]:
    """Violating sample in -> hold durable; and the same decision alone (rules.decide)."""
    stamps: dict[str, float] = {}

    def on_event(rec) -> None:
        stamps.setdefault(rec.name, time.perf_counter())

    rt = make_runtime(site, "bench", archive, on_event=on_event)
    rt._open()
    rt._start_clock()
    plan = rt.plan
    s = plan.sensor_index("stopper_a")
    good = [("dc", i, v, True, "") for i, v in nominal(plan)]
    bad = [("dc", s, "misaligned", True, "")]
    await rt._handle(good)
    full, decide_only, apply_only = [], [], []
    for _ in range(trials):
        stamps.clear()
        t0 = time.perf_counter()
        await rt._handle(bad)
        assert rt.seq.mode == Mode.HOLDING and "hold" in stamps
        full.append(stamps["hold"] - t0)
        # the decision alone, on a copy of the violating state, and the Sequencer without archive
        S = rt.seq.S.copy()
        S[plan.MODE] = Mode.COUNTING
        t1 = time.perf_counter()
        rules.decide(plan, S)
        decide_only.append(time.perf_counter() - t1)
        await rt._handle(good)  # the reading recovers: automatic resume
        assert rt.seq.mode == Mode.COUNTING
    # Sequencer.apply alone (no archive): samples -> decision
    from padguard.sequencer.live import Rec, Sequencer

    seq = Sequencer(plan, rt.lm.watched)
    t = 0
    seq.apply([Rec("sample", t, plan.sensors[i], v, plan.encode_sensor(i, v)) for i, v in nominal(plan)])
    for _ in range(trials):
        t += 1
        t1 = time.perf_counter()
        seq.apply([Rec("sample", t, "stopper_a", "misaligned", plan.encode_sensor(s, "misaligned"))])
        apply_only.append(time.perf_counter() - t1)
        assert seq.mode == Mode.HOLDING
        t += 1
        seq.apply([Rec("sample", t, plan.sensors[i], v, plan.encode_sensor(i, v)) for i, v in nominal(plan)])
    rt.archive.close()
    return full, decide_only, apply_only


async def latency_over_opcua(site: Path, archive: str, trials: int) -> tuple[list[float], list[float]]:
    """Inject at the pad (another process) -> hold durable here; and a bare subscriber's receipt."""
    from asyncua import Client, ua

    from padguard.links.padsim import quiet_asyncua

    quiet_asyncua()
    tmp = Path(tempfile.mkdtemp())
    epf = tmp / "endpoint"
    pad = subprocess.Popen([sys.executable, "-m", "padguard.cli", "pad-sim", str(site), "--endpoint",
                            "opc.tcp://127.0.0.1:0", "--speed", "1", "--endpoint-file", str(epf)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if epf.exists() and epf.read_text().strip():
                break
            await asyncio.sleep(0.05)
        url = epf.read_text().strip()
        stamps: dict[str, float] = {}
        got = asyncio.Event()

        def on_event(rec) -> None:
            if rec.name in ("hold", "resume"):
                stamps.setdefault(rec.name, time.perf_counter())
                got.set()

        rt = make_runtime(site, "bench", archive, link=url, on_event=on_event)
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        while not (rt.link_state == "up" and rt.seq.mode == Mode.COUNTING and rt.seq.t > 2000):
            await asyncio.sleep(0.05)
        lm = rt.lm
        d = lm.mapping.dry_run
        bare_at: list[float] = []
        async with Client(url) as cl:
            idx = await cl.get_namespace_index(lm.mapping.namespace)

            def nid(x: str):
                return ua.NodeId.from_string(f"ns={idx};{x}")

            class Bare:
                def datachange_notification(self, node, val, data):
                    if val == "misaligned":
                        bare_at.append(time.perf_counter())

            sub = await cl.create_subscription(0, Bare())
            await sub.subscribe_data_change(cl.get_node(nid(lm.mapping.sensors["stopper_a"].node)))
            sim = cl.get_node(nid(d.object))
            full, bare = [], []
            for _ in range(trials):
                stamps.clear()
                got.clear()
                bare_at.clear()
                t0 = time.perf_counter()
                await sim.call_method(nid(d.inject), "stopper_a:reads_wrong=misaligned")
                await asyncio.wait_for(got.wait(), 10)
                full.append(stamps["hold"] - t0)
                for _ in range(200):
                    if bare_at:
                        break
                    await asyncio.sleep(0.001)
                if bare_at:
                    bare.append(bare_at[0] - t0)
                got.clear()
                await sim.call_method(nid(d.clear), "stopper_a")
                await asyncio.wait_for(got.wait(), 10)
                while rt.seq.mode != Mode.COUNTING:
                    await asyncio.sleep(0.001)
        rt.stop()
        await asyncio.wait_for(task, 30)
        return full, bare
    finally:
        pad.terminate()
        pad.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archive", default=None, help="postgresql://... (default: a SQLite file in a temp dir)")
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=3.0, help="per throughput measurement")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    site = bench_site(tmp)

    def archive_for(tag: str, sync: str = "full") -> str:
        return args.archive or f"sqlite:///{tmp / f'{tag}.db'}?sync={sync}"

    backend = "PostgreSQL" if args.archive else "SQLite (WAL; synchronous=FULL unless said)"
    print(f"padguard live runtime benchmark -- {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, archive {backend}")

    async def run_all():
        print("\n1. Throughput in process (decode -> Sequencer.apply -> archive commit)")
        base, _ = await throughput(site, archive_for("tp1"), 1, args.seconds)
        print(f"   baseline, 1 sample per batch (decide + durable commit each): {base:12,.0f} samples/s")
        best = 0.0
        for b in (9, 64, 256, 1024):
            r, _ = await throughput(site, archive_for(f"tp{b}"), b, args.seconds)
            best = max(best, r)
            print(f"   {b:5d} samples per batch: {r:12,.0f} samples/s   ratio {r / base:6.1f}x")
        if not args.archive:
            for b in (9, 1024):
                r, _ = await throughput(site, archive_for(f"tpn{b}", "normal"), b, args.seconds)
                print(f"   {b:5d} samples per batch, synchronous=NORMAL: {r:12,.0f} samples/s")
        print(f"   goal >= 100,000 samples/s: {'MET' if best >= 100_000 else 'MISSED'} (best {best:,.0f})")

        print("\n2. Hold latency in process (violating sample in -> hold decided and durable)")
        syncs = ("full", "normal") if not args.archive else ("",)
        for sync in syncs:
            full, dec, app = await latency_in_process(site, archive_for("lat" + sync, sync), args.trials)
            p = {q: pct(full, q) * 1e3 for q in (50, 99)}
            label = f"SQLite synchronous={sync.upper()}" if sync else "PostgreSQL"
            print(f"   ingest + decide + commit, {label:26s}: p50 {p[50]:6.2f} ms  p99 {p[99]:6.2f} ms  "
                  f"goal p99 <= 5 ms: {'MET' if p[99] <= 5 else 'MISSED'}")
        print(f"   Sequencer.apply alone (no archive):                p50 {pct(app, 50) * 1e3:6.3f} ms  "
              f"p99 {pct(app, 99) * 1e3:6.3f} ms")
        print(f"   baseline rules.decide alone:                       p50 {pct(dec, 50) * 1e3:6.3f} ms  "
              f"p99 {pct(dec, 99) * 1e3:6.3f} ms")
        print(f"   ratio (last full path / decide, p50): {pct(full, 50) / pct(dec, 50):6.1f}x")

        print("\n3. Hold latency over OPC UA on loopback (pad-sim in another process)")
        full, bare = await latency_over_opcua(site, archive_for("opc"), max(50, args.trials // 2))
        p = {q: pct(full, q) * 1e3 for q in (50, 99)}
        print(f"   inject at the pad -> hold durable: p50 {p[50]:6.2f} ms  p99 {p[99]:6.2f} ms  ({len(full)} trials)")
        if bare:
            print(f"   baseline bare subscriber receipt:  p50 {pct(bare, 50) * 1e3:6.2f} ms  p99 {pct(bare, 99) * 1e3:6.2f} ms")
            print(f"   ratio (runtime / transport, p50): {pct(full, 50) / pct(bare, 50):6.1f}x")
        print(f"   goal p99 <= 50 ms: {'MET' if p[99] <= 50 else 'MISSED'}")

    asyncio.run(run_all())
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
