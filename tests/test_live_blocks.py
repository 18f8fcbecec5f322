"""Block nodes: one OPC UA array variable carries one sample of each of several sensors.

The way many sensors fit through a pure-Python OPC UA stack (docs/live.md, "Many sensors").
Every element is still a sample the Sequencer evaluates, in order; the archive stores a block's
samples as one hashed row and reads them back as the same sample records.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

import padguard as pg
from padguard.links.mapping import default_map_path, load_linkmap, site_model
from padguard.links.padsim import PadServer, call_sim
from padguard.links.runtime import RunOptions, Runtime
from padguard.links.twin import PadTwin, pad_plan
from padguard.model.errors import ModelError
from padguard.records import Rec
from padguard.sequencer.live import replay
from padguard.sequencer.table import Mode
from padguard.store.archive import BLOCK, SampleBlock, open_archive, verify
from tests.test_opcua_live import MIN, until

pytestmark = pytest.mark.timeout(240)

BLOCKS = {"stoppers": ["stopper_a", "stopper_b"],
          "positions": ["cabin_pos_a", "cabin_pos_b", "shield_pos", "tower_a_pos", "tower_b_pos",
                        "mast_upper_pos", "mast_core_pos"]}


def block_map(tmp_path: Path, blocks: dict[str, list[str]] = BLOCKS, keep: tuple[str, ...] = ()) -> Path:
    """Site 31/6's mapping with its sensors carried by array nodes instead of one node each."""
    d = tmp_path / "map"
    d.mkdir(exist_ok=True)
    data = yaml.safe_load(default_map_path("site31").read_text())
    moved = {s for names in blocks.values() for s in names}
    data["sensors"] = {k: v for k, v in data["sensors"].items() if k not in moved or k in keep}
    data["blocks"] = {b: {"node": f"s=site31.blocks.{b}", "sensors": names} for b, names in blocks.items()}
    p = d / "opcua-map.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def make_pad(map_path: Path, speed: float, lockstep: bool) -> PadServer:
    plan = pad_plan(site_model("site31"))
    lm = load_linkmap(plan, map_path, for_pad=True)
    return PadServer(PadTwin(plan, travel_u=0.5), lm, "opc.tcp://127.0.0.1:0", speed=speed, lockstep=lockstep)


def make_runtime(url: str, db: str, clock: str, map_path: Path) -> Runtime:
    plan = pg.compile_model(pg.load("site31", "guarded"))
    lm = load_linkmap(plan, map_path)
    return Runtime(plan, lm, RunOptions(insecure=True, link=url, archive=db, clock=clock))


def test_a_block_mapping_binds_every_element_to_its_sensor(site31_guarded, tmp_path):
    lm = load_linkmap(site31_guarded, block_map(tmp_path))
    p = site31_guarded
    assert lm.block_sensors["stoppers"] == [p.sensor_index("stopper_a"), p.sensor_index("stopper_b")]
    assert lm.watched == sorted(p.sensor_index(s) for names in BLOCKS.values() for s in names)
    assert lm.encode(p.sensor_index("stopper_a"), "engaged") == "engaged"


def test_a_sensor_with_two_sources_or_an_unknown_element_is_refused_with_its_line(site31_guarded, tmp_path):
    with pytest.raises(ModelError) as e:
        load_linkmap(site31_guarded, block_map(tmp_path, keep=("stopper_a",)))
    assert "stopper_a' already has a node" in str(e.value) and "opcua-map.yaml:" in str(e.value)
    with pytest.raises(ModelError) as e:
        load_linkmap(site31_guarded, block_map(tmp_path, {**BLOCKS, "stoppers": ["stopper_a", "stoper_b"]}))
    assert "unknown sensor 'stoper_b'" in str(e.value) and "did you mean 'stopper_b'" in str(e.value)
    assert "stopper_b" in str(e.value)  # (and the criteria that read stopper_b now have no node)


def test_a_block_is_one_row_of_the_chain_and_reads_back_as_its_samples(tmp_path):
    db = tmp_path / "a.db"
    with open_archive(f"sqlite:///{db}", write=True) as a:
        a.set_meta({"mode": "test"})
        common = {"src": 1.5, "st": 10}
        recs = [Rec("sample", 0, "stopper_a", "engaged", 1, common),
                Rec("sample", 0, "stopper_b", "sideways", -2, {"src": 1.5}),
                Rec("sample", 0, "shield_pos", "open", 0, {"src": 1.5, "stale": "re-delivered"})]
        blk = SampleBlock("stoppers", recs, common, t=7, batch=1, tc=3)
        a.append([Rec("start", 0, "start", batch=1), blk, Rec("tick", 7, batch=2)])
        a.commit()
        assert [r.seq for r in recs] == [2, 2, 2]
    with open_archive(f"sqlite:///{db}") as a:
        assert verify(a)["ok"] and verify(a)["records"] == 3
        back = list(a.read())
        assert [(r.kind, r.name, r.value, r.code, r.data, r.seq, r.t) for r in back[1:4]] == [
            ("sample", "stopper_a", "engaged", 1, common, 2, 7),
            ("sample", "stopper_b", "sideways", -2, {"src": 1.5}, 2, 7),
            ("sample", "shield_pos", "open", 0, {"src": 1.5, "stale": "re-delivered"}, 2, 7)]
        assert [r.name for r in a.read(kinds=["sample"])] == ["stopper_a", "stopper_b", "shield_pos"]
    # an element edited inside the block row breaks the chain at that record
    con = sqlite3.connect(db)
    con.execute("UPDATE records SET data = replace(data, 'sideways', 'engaged') WHERE seq = 2")
    con.commit()
    con.close()
    with open_archive(f"sqlite:///{db}") as a:
        res = verify(a)
    assert not res["ok"] and any(f"record 2 ({BLOCK} stoppers)" in p for p in res["problems"])


def test_ms28_over_block_nodes_holds_on_the_element_and_replays(tmp_path):
    """The MS-28 dry run with every sensor in an array node: the misaligned stopper (one element)
    holds, the count recycles and launches; the archive's block rows replay to the same events."""
    mp = block_map(tmp_path)
    db = f"sqlite:///{tmp_path / 'count.db'}?sync=normal"

    async def scenario():
        pad = make_pad(mp, speed=2000, lockstep=True)
        url = await pad.start()
        rt = make_runtime(url, db, "pad", mp)
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        await until(lambda: rt.seq.tc >= -45 * MIN, 120, "T-45m")
        assert rt.seq.mode == Mode.COUNTING
        assert await call_sim(url, pad.lm, "inject", "cabin.stopper:pops_out") == "ok"
        await until(lambda: rt.seq.mode == Mode.HOLDING, 30, "the automatic hold")
        assert await call_sim(url, pad.lm, "set_speed", 0) == "ok"
        assert rt.status()["reason"] == "criterion cabin_stowed_locked"
        assert await call_sim(url, pad.lm, "clear", "cabin.stopper") == "ok"
        body = await rt.operator("recycle", "stopper")
        assert body["accepted"] and body["mode"] == "COUNTING", body
        assert await call_sim(url, pad.lm, "set_speed", 2000) == "ok"
        code = await asyncio.wait_for(task, 180)
        await pad.stop()
        return rt, code

    rt, code = asyncio.run(scenario())
    assert code == 0 and rt.seq.status()["outcome"] == "launched_after_holds"
    with open_archive(db) as a:
        assert verify(a)["ok"]
        kinds = {row[6] for row in a.rows()}
        recs = list(a.read())
    assert BLOCK in kinds and "sample" not in kinds  # every sample came in a block row
    hold = next(r for r in recs if r.kind == "event" and r.name == "hold")
    bad = [r for r in recs if r.kind == "sample" and r.name == "stopper_a" and r.value == "misaligned"]
    assert bad and bad[0].seq < hold.seq and hold.data["criterion"] == "cabin_stowed_locked"
    events = [r for r in recs if r.kind == "event"]
    _, replayed = replay(rt.plan, recs)
    assert [e.key() for e in replayed] == [(r.t, r.tc, r.name, r.value) for r in events]


def test_bad_blocks_hold_naming_the_sensor(tmp_path):
    """A malformed element, a block of the wrong length and a Bad status hold naming the sensor."""
    from asyncua import ua

    mp = block_map(tmp_path)
    db = f"sqlite:///{tmp_path / 'count.db'}?sync=normal"

    async def scenario():
        pad = make_pad(mp, speed=1, lockstep=False)
        url = await pad.start()
        rt = make_runtime(url, db, "wall", mp)
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        await until(lambda: rt.link_state == "up" and rt.seq.t > 1500, 30, "samples")
        assert rt.seq.mode == Mode.COUNTING
        node = pad._blocks["stoppers"][0]
        await pad.server.write_attribute_value(node, ua.DataValue(ua.Variant(["engaged", "sideways"])))
        await until(lambda: "malformed:stopper_b" in rt.seq.conditions, 20, "malformed element")
        assert "malformed:stopper_a" not in rt.seq.conditions and rt.seq.mode == Mode.HOLDING
        await pad.server.write_attribute_value(node, ua.DataValue(ua.Variant(["engaged"])))
        await until(lambda: "malformed:stopper_a" in rt.seq.conditions, 20, "a block of the wrong length")
        pos = pad._blocks["positions"][0]
        await pad.server.write_attribute_value(
            pos, ua.DataValue(ua.Variant(pad._blocks["positions"][1]),
                              StatusCode=ua.StatusCode(ua.StatusCodes.BadSensorFailure)))
        await until(lambda: "malformed:shield_pos" in rt.seq.conditions, 20, "bad status")
        rt.stop()
        await asyncio.wait_for(task, 30)
        await pad.stop()

    asyncio.run(scenario())
    with open_archive(db) as a:
        recs = list(a.read())
    b = [r for r in recs if r.kind == "sample" and r.name == "stopper_b" and r.value == "sideways"]
    assert b and b[0].code == -2
    short = [r for r in recs if r.kind == "sample" and r.name == "stopper_a" and r.value == "<malformed block>"]
    assert short and "1 value(s), 2 expected" in short[0].data["malformed"]
    failed = [r for r in recs if r.kind == "sample" and r.name == "shield_pos" and r.code == -2]
    assert failed and failed[0].data["status"] == "BadSensorFailure"


def test_a_restarted_subscription_re_delivers_blocks_that_are_not_fresh(tmp_path):
    """The block judged as one sample is: a value not newer than the last one of its sensor is
    archived with ``stale`` and never refreshes the sensor."""
    plan = pg.compile_model(pg.load("site31", "guarded"))
    lm = load_linkmap(plan, block_map(tmp_path))
    rt = Runtime(plan, lm, RunOptions(insecure=True, link="opc.tcp://127.0.0.1:1",
                                      archive=f"sqlite:///{tmp_path / 'c.db'}"))
    rt._open()
    rt._start_clock()
    now = time.time()
    first = rt._block("stoppers", ["engaged", "engaged"], True, "", now - 0.5, now, rt.now())
    assert all(not r.data.get("stale") for r in first.recs) and first.data["src"] == now - 0.5
    again = rt._block("stoppers", ["engaged", "engaged"], True, "", now - 0.5, now, rt.now())
    assert all("re-delivered" in r.data["stale"] for r in again.recs)
    old = rt._block("stoppers", ["engaged", "engaged"], True, "", now - 3600, now, rt.now())
    assert all("ago" in r.data["stale"] for r in old.recs)
    future = rt._block("stoppers", ["engaged", "engaged"], True, "", now + 3600, now, rt.now())
    assert all("future" in r.data["stale"] for r in future.recs)
    rt.archive.close()


def test_a_block_queue_overflow_holds_naming_the_block(tmp_path):
    """A burst of block values faster than the subscription drains: the server drops some and
    sets the Overflow bit; the runtime holds naming the block."""
    from asyncua import ua

    mp = block_map(tmp_path)
    db = f"sqlite:///{tmp_path / 'count.db'}?sync=normal"

    async def scenario():
        import datetime as dt

        pad = make_pad(mp, speed=1, lockstep=False)
        url = await pad.start()
        rt = make_runtime(url, db, "wall", mp)
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        await until(lambda: rt.link_state == "up" and rt.seq.t > 500, 30, "samples")
        node = pad._blocks["stoppers"][0]
        for i in range(400):  # (no await that yields to the publisher in between)
            now = dt.datetime.now(dt.UTC)
            await pad.server.write_attribute_value(node, ua.DataValue(
                ua.Variant(["engaged", "engaged" if i % 2 else "disengaged"]), SourceTimestamp=now, ServerTimestamp=now))
        await until(lambda: any(r.kind == "event" and "overflow" in r.value for r in rt.recent), 20, "overflow hold")
        mode = rt.seq.mode
        rt.stop()
        await asyncio.wait_for(task, 30)
        await pad.stop()
        return mode

    assert asyncio.run(scenario()) == Mode.HOLDING
    with open_archive(db) as a:
        assert any(r.kind == "safety" and r.name == "overflow" and "block stoppers" in r.value for r in a.read())
