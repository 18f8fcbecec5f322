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
import json
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
    opts = RunOptions(insecure=True, link=link, archive=archive, count_id=f"bench-{uuid.uuid4().hex[:10]}")
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
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pick = rng.integers(0, len(nom), batch)
        now = time.time()
        rt._handle([("dc", nom[i][0], nom[i][1], True, "", now - 1e-6 * (batch - k)) for k, i in enumerate(pick)])
        rt.archive.commit()  # (in the calling thread: the runtime commits in its writer thread)
        n += batch
    dt = time.perf_counter() - t0
    assert rt.seq.mode == Mode.COUNTING
    rt.archive.close()
    return n / dt, n


async def throughput_blocks(tmp: Path, archive: str, n: int, block: int, seconds: float) -> float:
    """Samples per second through Runtime._handle for block notifications (``n`` generated sensors
    in array nodes of ``block``): one instant = one notification of every block."""
    site = big_site(tmp, n, 100, block)
    rt = make_runtime(site, "bench", archive)
    rt._open()
    rt._start_clock()
    plan = rt.plan
    names = sorted(rt.lm.block_sensors.items())
    vals = {b: [rt.lm.encode(s, plan.decode_sensor(s, int(plan.initial[plan.s_equip[s]]))) for s in m]
            for b, m in names}
    k = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        now = time.time()
        rt._handle([("blk", b, vals[b], True, "", now) for b, _ in names])
        rt.archive.commit()
        k += sum(len(m) for _, m in names)
    el = time.perf_counter() - t0
    assert not any(c.startswith(("malformed:", "stale:gen")) for c in rt.seq.conditions), list(rt.seq.conditions)[:3]
    rt.archive.close()
    return k / el


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
    def good():
        return [("dc", i, v, True, "", time.time()) for i, v in nominal(plan)]

    def bad():
        return [("dc", s, "misaligned", True, "", time.time())]

    async def handle(items):
        rt._handle(items)
        rt.archive.commit()
        rt._durable = rt.archive.last_seq
        await rt._release()

    await handle(good())
    full, decide_only, apply_only = [], [], []
    for _ in range(trials):
        stamps.clear()
        t0 = time.perf_counter()
        await handle(bad())
        assert rt.seq.mode == Mode.HOLDING and "hold" in stamps
        full.append(stamps["hold"] - t0)
        # the decision alone, on a copy of the violating state, and the Sequencer without archive
        S = rt.seq.S.copy()
        S[plan.MODE] = Mode.COUNTING
        t1 = time.perf_counter()
        rules.decide(plan, S)
        decide_only.append(time.perf_counter() - t1)
        await handle(good())  # the reading recovers: automatic resume
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


def start_pad(site: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """``padguard pad-sim`` in another process; its URL once it listens."""
    tmp = Path(tempfile.mkdtemp())
    epf = tmp / "endpoint"
    pad = subprocess.Popen([sys.executable, "-m", "padguard.cli", "pad-sim", str(site), "--endpoint",
                            "opc.tcp://127.0.0.1:0", "--endpoint-file", str(epf), *extra],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(12000):
        if epf.exists() and epf.read_text().strip():
            return pad, epf.read_text().strip()
        if pad.poll() is not None:
            raise RuntimeError(f"pad-sim exited with {pad.returncode}")
        time.sleep(0.05)
    pad.kill()
    raise RuntimeError("pad-sim did not start")


async def latency_over_opcua(site: Path, archive: str, trials: int) -> tuple[list[float], list[float], list[float]]:
    """Sample to hold, end to end: from the violating sample's source timestamp at the pad (another
    process) to the hold being durable in the archive and shown (the step stream stopped: a held
    count issues no step). Baseline in the same run: a bare asyncua subscriber's receipt time of the
    same sample, against the same source timestamp (transport only). Also: Inject call -> hold."""
    from asyncua import Client, ua

    from padguard.links.padsim import quiet_asyncua

    quiet_asyncua()
    pad, url = start_pad(site, "--speed", "1")
    try:
        marks: dict[str, float] = {}
        got = asyncio.Event()

        def on_event(rec) -> None:
            if rec.name in ("hold", "resume"):
                marks.setdefault(rec.name, time.time())
                got.set()

        rt = make_runtime(site, "bench", archive, link=url, on_event=on_event)
        inner = rt._sample

        def sample(s, raw, good, status, src, wall, now_t):
            rec = inner(s, raw, good, status, src, wall, now_t)
            if raw == "misaligned" and src is not None:
                marks.setdefault("src", src)
            return rec

        rt._sample = sample
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
                        dv = data.monitored_item.Value
                        bare_at.append(time.time() - dv.SourceTimestamp.timestamp())

            sub = await cl.create_subscription(0, Bare())
            await sub.subscribe_data_change(cl.get_node(nid(lm.mapping.sensors["stopper_a"].node)))
            sim = cl.get_node(nid(d.object))
            full, bare, call = [], [], []
            for _ in range(trials):
                marks.clear()
                got.clear()
                bare_at.clear()
                t0 = time.time()
                await sim.call_method(nid(d.inject), "stopper_a:reads_wrong=misaligned")
                await asyncio.wait_for(got.wait(), 10)
                assert "hold" in marks and "src" in marks, marks
                full.append(marks["hold"] - marks["src"])
                call.append(marks["hold"] - t0)
                for _ in range(200):
                    if bare_at:
                        break
                    await asyncio.sleep(0.001)
                if bare_at:
                    bare.append(bare_at[0])
                got.clear()
                await sim.call_method(nid(d.clear), "stopper_a")
                await asyncio.wait_for(got.wait(), 10)
                while rt.seq.mode != Mode.COUNTING:
                    await asyncio.sleep(0.001)
        rt.stop()
        await asyncio.wait_for(task, 30)
        return full, bare, call
    finally:
        pad.terminate()
        pad.wait(10)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def big_site(tmp: Path, n: int, period_ms: int, block: int = 0) -> Path:
    """Site 31/6 plus ``n`` generated sensors sampling every ``period_ms`` (benchmark load only);
    ``block`` > 0: carried by array nodes of ``block`` sensors each, else one node per sensor."""
    d = tmp / f"big{n}-{block}"
    shutil.copytree(default_map_path("site31").parent, d)
    (d / "bench.yaml").write_text(BENCH_PROC)
    site = (d / "site.yaml").read_text()
    extra = "".join(f"  - {{name: gen_{i:05d}, observes: cabin.shield, period: {period_ms}ms, stale_after: 10, "
                    f"source: \"benchmark load (generated)\"}}\n" for i in range(n))
    site = site.replace("\ngroups:", "\n" + extra + "\ngroups:", 1)
    (d / "site.yaml").write_text(site)
    mp = (d / "opcua-map.yaml").read_text()
    if block > 0:  # a PLC's way: integer codes (an Int32 array decodes in one struct.unpack)
        from padguard.links.mapping import site_plan

        plan = site_plan(d / "site.yaml")
        dom = plan.sensor_domain(plan.sensor_index("gen_00000"))
        table = "{" + ", ".join(f"{k}: {v}" for k, v in enumerate(dom)) + "}"
        mp += "\nblocks:\n" + "".join(
            f"  gen_b{k // block:04d}: {{node: \"s=site31.blocks.{k // block:04d}\", values: {table}, sensors: ["
            + ", ".join(f"gen_{i:05d}" for i in range(k, min(n, k + block))) + "]}\n" for k in range(0, n, block))
    else:
        nodes = "".join(f"  gen_{i:05d}: {{node: \"s=site31.sensors.gen_{i:05d}\"}}\n" for i in range(n))
        mp = mp.replace("\nsensors:\n", "\nsensors:\n" + nodes, 1)
    (d / "opcua-map.yaml").write_text(mp)
    return d


async def sustained(tmp: Path, archive: str, n: int, period_ms: int, seconds: float, block: int = 0,
                    drain_max: float = 300.0) -> dict:
    """A generated pad of ``n`` sensors at 1000/period_ms Hz served by pad-sim (another process) for
    ``seconds``: what the pad published, what the runtime archived, what was lost, memory, and
    where the runtime's time went (decide+append on the loop, commit in the writer thread)."""
    import resource

    from padguard.links.padsim import call_sim

    site = big_site(tmp, n, period_ms, block)
    t_build = time.perf_counter()
    pad, url = start_pad(site, "--speed", "1")
    started_pad = time.perf_counter() - t_build
    try:
        rt = make_runtime(site, "bench", archive, link=url)
        rt.opts.link_wait_s = 120
        spent = {"handle": 0.0, "commit": 0.0, "samples": 0, "late": 0}
        inner_handle, inner_write = rt._handle, None

        def handle(items):
            t0 = time.perf_counter()
            inner_handle(items)
            spent["handle"] += time.perf_counter() - t0

        # count the samples judged fresh (a re-delivery after a reconnect is archived but is not new)
        inner_sample, inner_block = rt._sample, rt._block

        newest: dict[str, float] = {}

        def judge(recs) -> None:
            for r in recs:
                d = r.data or {}
                why, src = d.get("stale"), d.get("src", 0.0)
                if src <= newest.get(r.name, 0.0):
                    continue  # a re-delivery (after a reconnect): counted when it first arrived
                newest[r.name] = src
                if not why:
                    spent["samples"] += 1
                else:  # arrived, but too late to be evidence
                    spent["late"] += 1

        def sample(*a):
            rec = inner_sample(*a)
            judge([rec])
            return rec

        def block(*a):
            blk = inner_block(*a)
            judge(blk.recs)
            return blk

        rt._handle, rt._sample, rt._block = handle, sample, block
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 180)
        inner_write = rt.archive.write

        def write(rows):
            t0 = time.perf_counter()
            out = inner_write(rows)
            spent["commit"] += time.perf_counter() - t0
            return out

        rt.archive.write = write
        st0 = json.loads(await call_sim(url, rt.lm, "status", timeout=60))
        got0, late0, cpu0, t0 = spent["samples"], spent["late"], time.process_time(), time.perf_counter()
        pad_cpu0 = proc_cpu(pad.pid)
        spent["handle"] = spent["commit"] = 0.0
        holds = []
        while time.perf_counter() - t0 < seconds:
            await asyncio.sleep(1.0)
            if rt.seq.mode == Mode.HOLDING and not holds:
                holds.append((time.perf_counter() - t0, dict(rt.seq.conditions)))
        el = time.perf_counter() - t0
        w1 = time.time()
        w0 = w1 - el
        got_window, handle_w, commit_w = spent["samples"] - got0, spent["handle"], spent["commit"]
        late_window = spent["late"] - late0
        cpu_w = time.process_time() - cpu0
        pad_cpu_w = proc_cpu(pad.pid) - pad_cpu0
        load = os.getloadavg()
        st1 = json.loads(await call_sim(url, rt.lm, "status", timeout=60))
        await call_sim(url, rt.lm, "set_speed", 0, timeout=60)  # stop publishing, let the runtime drain
        prev, t_drain = -1, time.perf_counter()
        while spent["samples"] + spent["late"] != prev and time.perf_counter() - t_drain < drain_max:
            prev = spent["samples"] + spent["late"]
            await asyncio.sleep(3.0)
        drain_s = time.perf_counter() - t_drain
        st2 = json.loads(await call_sim(url, rt.lm, "status", timeout=60))
        got, late = spent["samples"] - got0, spent["late"] - late0
        rt.stop()
        await asyncio.wait_for(task, 120)
        from padguard.store.archive import open_archive

        with open_archive(rt.opts.archive, rt.opts.count_id) as a:
            overflow = [r.value for r in a.read(kinds=["safety"]) if r.name == "overflow"]
            evs = list(a.read(kinds=["event"]))
        hold_evs = [r for r in evs if r.name == "hold" and w0 <= r.wall <= w1]  # (in the window only)
        causes = [r for r in evs if r.name == "condition" and (r.data or {}).get("active") and w0 <= r.wall <= w1]
        hold_info = [f"+{r.wall - w0:.0f}s {r.value[:150]}" for r in hold_evs[:3]]
        cause_info = [f"+{r.wall - w0:.0f}s {r.value[:150]}" for r in causes[:3]]
        published = st2["published"] - st0["published"]
        return {"sensors": n, "rate_hz": 1000 / period_ms, "seconds": el, "pad_start_s": started_pad,
                "offered": n * 1000 / period_ms, "published_per_s": (st1["published"] - st0["published"]) / el,
                "received_per_s": got_window / el, "late_per_s": late_window / el, "published": published,
                "received": got, "late": late, "lost": published - got - late, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "cpu_s": cpu_w, "pad_cpu_s": pad_cpu_w, "load": load, "handle_s": handle_w, "commit_s": commit_w, "drain_s": drain_s,
                "first_hold": holds[0] if holds else None, "holds": len(hold_evs), "hold_info": hold_info,
                "cause_info": cause_info, "overflow_held": bool(overflow), "overflow": overflow[:1]}
    finally:
        pad.terminate()
        pad.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archive", default=None, help="postgresql://... (default: a SQLite file in a temp dir)")
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=3.0, help="per throughput measurement")
    ap.add_argument("--e2e-trials", type=int, default=1000, help="sample-to-hold trials over OPC UA (>= 1000)")
    ap.add_argument("--only", default="", help="comma list of parts to run: 1,2,3,4 (default all)")
    ap.add_argument("--sensors", type=int, default=10_000, help="sustained rate: generated sensors")
    ap.add_argument("--period-ms", type=int, default=100, help="sustained rate: sampling period (100 ms = 10 Hz)")
    ap.add_argument("--sustained-seconds", type=float, default=20.0, help="sustained rate: how long (short by default)")
    ap.add_argument("--block", type=int, default=0,
                    help="sustained rate: carry the generated sensors in array nodes of this many (0: a node each)")
    ap.add_argument("--ten-minutes", action="store_true", help="sustained rate for 600 s (the issue's soak)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    site = bench_site(tmp)

    def archive_for(tag: str, sync: str = "full") -> str:
        return args.archive or f"sqlite:///{tmp / f'{tag}.db'}?sync={sync}"

    backend = "PostgreSQL" if args.archive else "SQLite (WAL; synchronous=FULL unless said)"
    print(f"padguard live runtime benchmark -- {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, archive {backend}")

    async def run_all():
        if "1" in parts:
            await part1()
        if "2" in parts:
            await part2()
        if "3" in parts:
            await part3()
        if "4" in parts:
            await part4()

    async def part1():
        print("\n1. IN PROCESS throughput (decode -> Sequencer.apply -> archive commit, calling thread)")
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
        r = await throughput_blocks(tmp, archive_for("tpb", "normal" if not args.archive else "full"), 10_000, 1000,
                                    args.seconds)
        best = max(best, r)
        print(f"   10,000 sensors in 10 array nodes of 1,000 (an instant = one notification each; NORMAL): {r:10,.0f} samples/s")
        print(f"   goal >= 100,000 samples/s: {'MET' if best >= 100_000 else 'MISSED'} (best {best:,.0f})")

    async def part2():
        print("\n2. IN PROCESS hold latency (violating sample in -> hold decided and durable)")
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

    async def part3():
        print("\n3. END TO END over OPC UA on loopback, pad-sim in another process: sample to hold")
        full, bare, call = await latency_over_opcua(site, archive_for("opc"), args.e2e_trials)
        p = {q: pct(full, q) * 1e3 for q in (50, 99)}
        print(f"   violating sample's source timestamp -> hold durable and shown: p50 {p[50]:6.2f} ms  "
              f"p99 {p[99]:6.2f} ms  max {max(full) * 1e3:6.2f} ms  ({len(full)} trials)")
        if bare:
            print(f"   baseline, a bare asyncua subscriber's receipt of that sample:  p50 {pct(bare, 50) * 1e3:6.2f} ms  "
                  f"p99 {pct(bare, 99) * 1e3:6.2f} ms  ({len(bare)} trials)")
            print(f"   ratio (runtime / transport, p50): {pct(full, 50) / pct(bare, 50):6.1f}x; "
                  f"runtime's own share p50 {(pct(full, 50) - pct(bare, 50)) * 1e3:5.2f} ms")
        print(f"   (Inject call at the pad -> hold: p50 {pct(call, 50) * 1e3:6.2f} ms  p99 {pct(call, 99) * 1e3:6.2f} ms)")
        print(f"   goal p99 < 50 ms: {'MET' if p[99] < 50 else 'MISSED'}")

    async def part4():
        print(f"\n4. SUSTAINED RATE over OPC UA: a generated pad, {args.sensors:,} sensors at "
              f"{1000 / args.period_ms:g} Hz ({args.sensors * 1000 / args.period_ms:,.0f} samples/s offered), "
              f"pad-sim in another process, {secs:g} s, "
              + (f"array nodes of {args.block} sensors" if args.block else "one node per sensor") + ")")
        r = await sustained(tmp, archive_for("sus", "normal") if not args.archive else args.archive,
                            args.sensors, args.period_ms, secs, args.block)
        print(f"   pad-sim published {r['published_per_s']:10,.0f} samples/s (asyncua server, pure Python; "
              f"pad start {r['pad_start_s']:.0f} s)")
        print(f"   runtime received and archived {r['received_per_s']:10,.0f} samples/s during the window "
              f"(goal 100,000: {'MET' if r['received_per_s'] >= 1e5 else 'MISSED'})")
        print(f"   arrived too late to be evidence (stamped > max_sample_age_s old; archived, marked stale): "
              f"{r['late_per_s']:10,.0f} samples/s")
        print(f"   (after the pad stopped, the runtime needed {r['drain_s']:.0f} s to drain its backlog)")
        instant = args.sensors if args.block else 0  # (one instant of every block)
        edge = abs(r["lost"]) <= instant
        print(f"   never received: {r['lost']:,} of {r['published']:,} published "
              f"({'none' if r['lost'] <= 0 else 'HELD naming the overflow' if r['overflow_held'] else 'within one instant (the counters are read at slightly different moments at the window start)' if edge else 'NOT NOTICED'})"
              + (f": {r['overflow'][0]}" if r["overflow"] else ""))
        print(f"   first hold: {r['first_hold'][0]:.1f} s, {', '.join(list(r['first_hold'][1])[:3])}..."
              if r["first_hold"] else "   no hold")
        print(f"   holds archived during the window: {r['holds']}; first: {r['hold_info']}; conditions: {r['cause_info']}")
        print(f"   runtime process: max RSS {r['rss_mb']:,.0f} MB; in the window CPU {r['cpu_s']:.1f} s over {r['seconds']:.1f} s: "
              f"decide+append on the loop {r['handle_s']:.1f} s, archive commits (writer thread) "
              f"{r['commit_s']:.1f} s, the rest (asyncua decoding, the event loop) "
              f"{max(0.0, r['cpu_s'] - r['handle_s'] - r['commit_s']):.1f} s")
        per_cpu = (r["received_per_s"] + r["late_per_s"]) * r["seconds"] / max(r["cpu_s"], 1e-9)
        print(f"   runtime CPU per sample: {1e6 / max(per_cpu, 1e-9):.1f} us ({per_cpu:,.0f} samples per CPU second); "
              f"pad-sim CPU in the window {r['pad_cpu_s']:.1f} s; load average at the end "
              f"{r['load'][0]:.2f} {r['load'][1]:.2f} {r['load'][2]:.2f} (shared 2-core machine)")

    parts = set(args.only.split(",")) if args.only else {"1", "2", "3", "4"}
    secs = 600.0 if args.ten_minutes else args.sustained_seconds
    asyncio.run(run_all())
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
