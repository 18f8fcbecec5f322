"""The live runtime over a real OPC UA link on loopback, with a real SQLite (or PostgreSQL) archive.

The pad is ``padguard pad-sim``'s server (the twin on the plant rules); the runtime is the one
``padguard run`` starts. Dry runs use the pad's clock in lockstep, so a loaded machine slows
the count down instead of faking stale sensors.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import padguard as pg
from padguard.links.mapping import default_map_path, load_linkmap, site_model
from padguard.links.padsim import PadServer, call_sim
from padguard.links.runtime import RunOptions, Runtime
from padguard.links.twin import PadTwin, pad_plan
from padguard.sequencer.live import replay
from padguard.sequencer.table import Mode
from padguard.store.archive import open_archive

MIN = 60_000
pytestmark = pytest.mark.timeout(240)


def make_pad(speed: float, lockstep: bool, faults: tuple[str, ...] = (), endpoint: str = "opc.tcp://127.0.0.1:0"):
    plan = pad_plan(site_model("site31"))
    lm = load_linkmap(plan, default_map_path("site31"), for_pad=True)
    twin = PadTwin(plan, travel_u=0.5)
    for f in faults:
        twin.schedule_fault(f)
    return PadServer(twin, lm, endpoint, speed=speed, lockstep=lockstep), lm


def make_runtime(url: str, archive: str, clock: str, map_path: Path | None = None, count: str = "main",
                 speed: float = 1.0) -> Runtime:
    plan = pg.compile_model(pg.load("site31", "guarded"))
    lm = load_linkmap(plan, map_path or default_map_path("site31"))
    return Runtime(plan, lm, RunOptions(insecure=True, link=url, archive=archive, count_id=count, clock=clock, speed=speed))


async def until(pred: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.005)


def test_ms28_end_to_end_over_opcua(tmp_path):
    """Misaligned stopper injected live, automatic hold, fault cleared, recycle, launch."""
    db = f"sqlite:///{tmp_path / 'count.db'}?sync=normal"  # (kill -9 safe; test_live_kill runs FULL)

    async def scenario():
        pad, lm_pad = make_pad(speed=2000, lockstep=True)
        url = await pad.start()
        rt = make_runtime(url, db, "pad")
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        await until(lambda: rt.seq.tc >= -45 * MIN, 120, "T-45m")
        assert rt.seq.mode == Mode.COUNTING
        assert await call_sim(url, lm_pad, "inject", "cabin.stopper:pops_out") == "ok"
        await until(lambda: rt.seq.mode == Mode.HOLDING, 30, "the automatic hold")
        assert await call_sim(url, lm_pad, "set_speed", 0) == "ok"  # the pad crew works
        st = rt.status()
        assert st["mode"] == "HOLDING"
        assert st["reason"] == "criterion cabin_stowed_locked"
        body = await rt.operator("resume")
        assert not body["accepted"]  # the stopper is still misaligned
        assert await call_sim(url, lm_pad, "clear", "cabin.stopper") == "ok"
        body = await rt.operator("recycle", "stopper")
        assert body["accepted"] and body["mode"] == "COUNTING", body
        assert await call_sim(url, lm_pad, "set_speed", 2000) == "ok"
        exit_code = await asyncio.wait_for(task, 180)
        await pad.stop()
        return rt, pad, exit_code

    rt, pad, exit_code = asyncio.run(scenario())
    assert exit_code == 0
    assert rt.seq.status()["outcome"] == "launched_after_holds"
    twin = pad.twin
    assert twin.ignited_at is not None and twin.hazards() == []  # ground truth: the pad was clear
    stopper_cmds = [c for c in twin.commands if c.target == "cabin.stopper"]
    assert [c.value for c in stopper_cmds] == ["engaged", "engaged"]  # first run, then the recycle

    with open_archive(db) as a:
        recs = list(a.read())
    assert [r.seq for r in recs] == list(range(1, len(recs) + 1))
    events = [r for r in recs if r.kind == "event"]
    holds = [r for r in events if r.name == "hold"]
    assert holds and holds[0].data["criterion"] == "cabin_stowed_locked"
    seen = [r for r in recs if r.kind == "sample" and r.name == "stopper_a" and r.value == "misaligned"]
    assert seen and seen[0].seq < holds[0].seq  # the violating sample is archived before the hold
    ops = [r for r in recs if r.kind == "operator"]
    assert [(o.name, o.value) for o in ops] == [("resume", ""), ("recycle", "stopper")]
    assert any(r.name == "recycle" for r in events) and any(r.name == "ignition" for r in events)
    commands = [r for r in events if r.name in ("command", "ignition")]
    acks = {r.data["command_seq"]: r for r in recs if r.kind == "ack"}
    assert all(c.seq in acks and acks[c.seq].data["ok"] and acks[c.seq].seq > c.seq for c in commands)
    _, replayed = replay(rt.plan, recs)
    assert [e.key() for e in replayed] == [(r.t, r.tc, r.name, r.value) for r in events]


def test_link_loss_and_bad_values_hold_until_an_operator_resumes(tmp_path):
    db = f"sqlite:///{tmp_path / 'count.db'}"

    async def scenario():
        from asyncua import ua

        pad, lm_pad = make_pad(speed=1, lockstep=False)
        url = await pad.start()
        rt = make_runtime(url, db, "wall")
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        await until(lambda: rt.link_state == "up" and rt.seq.t > 1500, 30, "samples")
        assert rt.seq.mode == Mode.COUNTING
        # a malformed reading on the wire
        s = pad.twin.plan.sensor_index("stopper_a")
        await pad.server.write_attribute_value(pad._vars[s], ua.DataValue(ua.Variant("sideways")))
        await until(lambda: rt.seq.mode == Mode.HOLDING, 20, "malformed hold")
        # (the decision is in effect at once; its event is shown once it is durable)
        await until(lambda: any("malformed:stopper_a" in r.value for r in rt.recent), 5, "the durable event")
        # a reading with a Bad OPC UA status is no reading either
        s_b = pad.twin.plan.sensor_index("stopper_b")
        await pad.server.write_attribute_value(
            pad._vars[s_b], ua.DataValue(ua.Variant("engaged"), StatusCode=ua.StatusCode(ua.StatusCodes.BadSensorFailure)))
        await until(lambda: any("malformed:stopper_b" in r.value for r in rt.recent), 20, "bad status")
        # the pad goes away
        await pad.stop()
        await until(lambda: "link" in rt.seq.conditions, 20, "link loss")
        body = await rt.operator("resume")
        assert not body["accepted"] and "link lost" in " ".join(body["refused"])
        pad2, _ = make_pad(speed=1, lockstep=False, endpoint=url)
        await pad2.start()
        await until(lambda: rt.link_state == "up" and not rt.seq.lasting(), 40, "link back")
        body = await rt.operator("resume")
        assert body["accepted"] and body["mode"] == "COUNTING", body
        rt.stop()
        await asyncio.wait_for(task, 30)
        await pad2.stop()
        return rt

    rt = asyncio.run(scenario())
    with open_archive(db) as a:
        recs = list(a.read())
    safety = [(r.name, r.value) for r in recs if r.kind == "safety"]
    assert any(n == "link" for n, _ in safety) and safety[-1][0] == "stopped"
    assert any(r.kind == "clear" and r.name == "link" for r in recs)
    bad = [r for r in recs if r.kind == "sample" and r.value == "sideways"]
    assert bad and bad[0].code == -2
    failed = [r for r in recs if r.kind == "sample" and r.name == "stopper_b" and r.code == -2]
    assert failed and failed[0].data["status"] == "BadSensorFailure"
    assert rt.seq.mode == Mode.HOLDING  # stopping the runtime holds the count


def test_a_failed_command_is_an_opcua_error_and_holds(tmp_path):
    data = yaml.safe_load(default_map_path("site31").read_text())
    data["commands"]["cabin"]["method"] = "s=site31.equipment.cabin.NoSuchMethod"
    bad_map = tmp_path / "opcua-map.yaml"
    bad_map.write_text(yaml.safe_dump(data))
    db = f"sqlite:///{tmp_path / 'count.db'}"

    async def scenario():
        pad, _ = make_pad(speed=5000, lockstep=True)
        url = await pad.start()
        rt = make_runtime(url, db, "pad", map_path=bad_map)
        task = asyncio.create_task(rt.run())
        await until(lambda: rt.seq is not None and rt.seq.mode == Mode.HOLDING, 60, "opcua hold")
        rt.stop()
        await asyncio.wait_for(task, 30)
        await pad.stop()

    asyncio.run(scenario())
    with open_archive(db) as a:
        recs = list(a.read())
    acks = [r for r in recs if r.kind == "ack" and r.name == "cabin"]
    assert acks and acks[0].data["ok"] is False
    assert any(r.kind == "safety" and r.name == "opcua" and "failed" in r.value for r in recs)
    hold = next(r for r in recs if r.kind == "event" and r.name == "hold")
    assert hold.data["cause"] == "opcua" and hold.tc == -60 * MIN


@pytest.mark.skipif(not os.environ.get("PADGUARD_TEST_PG"),
                    reason="PostgreSQL runtime test needs PADGUARD_TEST_PG (scripts/test sets it)")
def test_restart_from_a_postgresql_archive_comes_back_holding():
    url_pg = os.environ["PADGUARD_TEST_PG"]
    count = f"pg-{uuid.uuid4().hex[:10]}"

    async def scenario():
        pad, _ = make_pad(speed=5000, lockstep=True)
        url = await pad.start()
        rt = make_runtime(url, url_pg, "pad", count=count)
        task = asyncio.create_task(rt.run())
        await until(lambda: rt.seq is not None and rt.seq.tc >= -58 * MIN, 60, "T-58m")
        rt.stop()
        await asyncio.wait_for(task, 30)
        seen = rt.archive.last_seq
        rt2 = make_runtime(url, url_pg, "pad", count=count)
        task2 = asyncio.create_task(rt2.run())
        await asyncio.wait_for(rt2.ready.wait(), 30)
        st = rt2.status()
        rt2.stop()
        await asyncio.wait_for(task2, 30)
        await pad.stop()
        return seen, st

    seen, st = asyncio.run(scenario())
    assert st["restarted"] and st["mode"] == "HOLDING"
    assert st["recovery"]["mismatches"] == 0 and st["recovery"]["records"] >= seen
    with open_archive(url_pg, count) as a:
        recs = list(a.read())
    assert [r.seq for r in recs] == list(range(1, len(recs) + 1))
    assert [r.name for r in recs if r.kind == "safety"] == ["stopped", "restart", "stopped"]
