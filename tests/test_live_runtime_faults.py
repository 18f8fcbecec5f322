"""The runtime under a stalled archive, a failing pad, a late pad, stale and lost data (issue 9).

Each test fails on the code before issue 9. Short procedures in a copy of Site 31/6 keep them
quick: the count reaches ignition seconds after it starts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import socket
import time
from pathlib import Path

import pytest
import yaml

import padguard as pg
from padguard.links import runtime as rtmod
from padguard.links.mapping import default_map_path, load_linkmap, site_model
from padguard.links.padsim import PadServer
from padguard.links.runtime import LinkWaitError, RunOptions, Runtime
from padguard.links.twin import PadTwin, pad_plan
from padguard.sequencer.live import Rec
from padguard.sequencer.table import Mode
from padguard.store.archive import open_archive

pytestmark = pytest.mark.timeout(120)

SHORT = """\
procedure: short
site: site31
description: "test: one criterion on stopper_a until ignition"
start: T-{start}
ignition: T-0
debounce: 0s
window: {{duration: 10m}}
criteria:
  - name: stopper_a_open
    applies: {{from: T-{start}, until: T-0}}
    all: [{{sensor: stopper_a, is: disengaged}}]
auto: {{resume: true}}
"""


def short_site(tmp: Path, start: str) -> Path:
    d = tmp / "site31"
    if not d.exists():
        shutil.copytree(default_map_path("site31").parent, d)
    (d / "short.yaml").write_text(SHORT.format(start=start))
    return d


def pad(speed: float = 1.0, lockstep: bool = False, endpoint: str = "opc.tcp://127.0.0.1:0") -> PadServer:
    plan = pad_plan(site_model("site31"))
    lm = load_linkmap(plan, default_map_path("site31"), for_pad=True)
    return PadServer(PadTwin(plan, travel_u=0.5), lm, endpoint, speed=speed, lockstep=lockstep)


def runtime(site: Path, url: str, db: str, clock: str = "wall", map_path: Path | None = None, **kw) -> Runtime:
    plan = pg.compile_model(pg.load(site, "short"))
    lm = load_linkmap(plan, map_path or site / "opcua-map.yaml")
    return Runtime(plan, lm, RunOptions(insecure=True, link=url, archive=db, clock=clock, **kw))


async def until(pred, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def stall_when(archive, pred, seconds: float) -> list[float]:
    """Make the archive's commit sleep ``seconds`` when ``pred(rows being committed)`` (once)."""
    inner_insert, inner_commit = archive._insert, archive._commit
    state = {"stall": False, "done": False}
    stalls: list[float] = []

    def insert(rows):
        if not state["done"] and pred(rows):
            state["stall"] = state["done"] = True
        return inner_insert(rows)

    def commit():
        if state["stall"]:
            state["stall"] = False
            t0 = time.monotonic()
            time.sleep(seconds)
            stalls.append(time.monotonic() - t0)
        return inner_commit()

    archive._insert, archive._commit = insert, commit
    return stalls


def test_a_stalled_archive_holds_within_its_bound_and_the_runtime_stays_responsive(tmp_path):
    site = short_site(tmp_path, "10m")
    db = f"sqlite:///{tmp_path / 'c.db'}"

    async def scenario():
        p = pad()
        url = await p.start()
        rt = runtime(site, url, db)
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        await until(lambda: rt.link_state == "up" and rt.seq.mode == Mode.COUNTING, 20, "counting")
        go = {"now": False}
        stall_when(rt.archive, lambda rows: go["now"], 4.0)
        go["now"] = True
        t0 = time.monotonic()
        await until(lambda: "archive" in rt.seq.conditions, 3, "the archive hold")
        held_after = time.monotonic() - t0
        assert rt.seq.mode == Mode.HOLDING
        # status answers during the stall (the event loop is free: the commit is off it)
        t1 = time.monotonic()
        await asyncio.sleep(0.01)
        lag = time.monotonic() - t1
        st = rt.status()
        assert lag < 0.5 and st["mode"] == "HOLDING" and "archive" in st["conditions"]
        await until(lambda: "archive" not in rt.seq.conditions, 10, "the archive condition to clear")
        rt.stop()
        await asyncio.wait_for(task, 30)
        await p.stop()
        return held_after

    held_after = asyncio.run(scenario())
    assert held_after < 3
    with open_archive(db) as a:
        recs = list(a.read())
    assert any(r.kind == "safety" and r.name == "archive" for r in recs)
    assert any(r.kind == "clear" and r.name == "archive" for r in recs)
    assert [r.seq for r in recs] == list(range(1, len(recs) + 1))


@pytest.mark.parametrize("stall,violate", [(2.5, False), (0.4, True)])
def test_an_ignition_held_up_by_the_archive_is_never_sent_stale(tmp_path, stall, violate):
    """The ignition decision's commit stalls: past its deadline, or with a violation arriving
    meanwhile, the Ignite call never reaches the pad; the archive says why."""
    site = short_site(tmp_path, "4s")
    db = f"sqlite:///{tmp_path / 'c.db'}"

    async def scenario():
        p = pad()
        url = await p.start()
        rt = runtime(site, url, db)
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        stalled = stall_when(rt.archive, lambda rows: any(r[6] == "event" and r[7] == "ignition" for r in rows),
                             stall)
        if violate:
            s = rt.plan.sensor_index("stopper_a")
            await until(lambda: bool(stalled) or rt.seq.final, 20, "the ignition decision")
            # (the stall began just now: a stopper switch goes wrong during it)
        await until(lambda: rt.seq.final, 20, "the ignition decision")
        if violate:
            rt.inbox.put_nowait(("dc", s, "misaligned", True, "", time.time()))
        await asyncio.wait_for(task, 30)
        await p.stop()
        return p, rt

    p, rt = asyncio.run(scenario())
    assert p.twin.ignited_at is None
    with open_archive(db) as a:
        recs = list(a.read())
    ign = [r for r in recs if r.kind == "event" and r.name == "ignition"]
    expired = [r for r in recs if r.kind == "expired"]
    assert ign and expired and expired[0].data["command_seq"] == ign[0].seq
    assert ("deadline" in expired[0].value) if not violate else ("criteria no longer OK" in expired[0].value)


def test_a_failing_pad_command_is_retried_a_bounded_number_of_times(tmp_path):
    data = yaml.safe_load(default_map_path("site31").read_text())
    data["commands"]["cabin"]["method"] = "s=site31.equipment.cabin.NoSuchMethod"
    bad_map = tmp_path / "opcua-map.yaml"
    bad_map.write_text(yaml.safe_dump(data))
    db = f"sqlite:///{tmp_path / 'c.db'}"

    async def scenario():
        p = pad(speed=5000, lockstep=True)
        url = await p.start()
        plan = pg.compile_model(pg.load("site31", "guarded"))
        rt = Runtime(plan, load_linkmap(plan, bad_map), RunOptions(insecure=True, link=url, archive=db, clock="pad"))
        task = asyncio.create_task(rt.run())
        await until(lambda: rt.archive is not None and any("given up" in r.value for r in rt.recent), 30, "give-up")
        await asyncio.sleep(1.5)
        rt.stop()
        await asyncio.wait_for(task, 30)
        await p.stop()

    asyncio.run(scenario())
    with open_archive(db) as a:
        recs = list(a.read())
    failed = [r for r in recs if r.kind == "ack" and r.name == "cabin" and not r.data["ok"]]
    assert len(failed) == 1 + RunOptions.command_retries
    gave_up = [r for r in recs if r.kind == "safety" and "given up" in r.value]
    assert len(gave_up) == 1 and gave_up[0].value.startswith("command 'command: ") and "Bad" in gave_up[0].value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_new_count_waits_for_the_pad_before_starting_its_clock(tmp_path):
    site = short_site(tmp_path, "10m")
    db = f"sqlite:///{tmp_path / 'c.db'}"
    url = f"opc.tcp://127.0.0.1:{free_port()}"

    async def scenario():
        rt = runtime(site, url, db)
        task = asyncio.create_task(rt.run())
        await asyncio.sleep(1.5)  # the runtime tries, and fails, to connect meanwhile
        p = pad(endpoint=url)
        await p.start()
        await asyncio.wait_for(rt.ready.wait(), 30)
        await asyncio.sleep(1.0)
        mode = rt.seq.mode
        rt.stop()
        await asyncio.wait_for(task, 30)
        await p.stop()
        return mode

    assert asyncio.run(scenario()) == Mode.COUNTING
    with open_archive(db) as a:
        recs = list(a.read())
    assert not [r for r in recs if r.kind == "safety" and r.name == "link"]

    async def nobody():
        rt = runtime(site, f"opc.tcp://127.0.0.1:{free_port()}", f"sqlite:///{tmp_path / 'n.db'}", link_wait_s=1.0)
        with pytest.raises(LinkWaitError, match="did not answer within 1s"):
            await asyncio.wait_for(rt.run(), 15)

    asyncio.run(nobody())


def test_re_delivered_and_old_values_never_make_a_dead_sensor_fresh(tmp_path):
    """The pad is paused: no new samples. A reconnect re-delivers the last values; a value
    stamped an hour ago arrives. Neither clears the stale sensors."""
    site = short_site(tmp_path, "10m")
    db = f"sqlite:///{tmp_path / 'c.db'}"

    async def scenario():
        from asyncua import ua

        p = pad(speed=0)
        url = await p.start()
        rt = runtime(site, url, db)
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        await until(lambda: "stale:stopper_a" in rt.seq.conditions, 10, "stale")
        n = len([r for r in rt.recent])
        rt._kick = True  # a reconnect: the subscription's initial values come again
        await until(lambda: rt._connected.is_set() and rt.link_state == "up" and len(rt.recent) > n, 10, "reconnect")
        await asyncio.sleep(1.0)
        s = p.twin.plan.sensor_index("stopper_a")
        old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        await p.server.write_attribute_value(p._vars[s], ua.DataValue(ua.Variant("disengaged"), SourceTimestamp=old,
                                                                      ServerTimestamp=old))
        await asyncio.sleep(1.0)
        conds = dict(rt.seq.conditions)
        rt.stop()
        await asyncio.wait_for(task, 30)
        await p.stop()
        return conds

    conds = asyncio.run(scenario())
    assert "stale:stopper_a" in conds
    with open_archive(db) as a:
        recs = [r for r in a.read() if r.kind == "sample" and r.name == "stopper_a"]
    assert any("re-delivered" in (r.data or {}).get("stale", "") for r in recs)
    assert any("3600s ago" in (r.data or {}).get("stale", "") for r in recs)


def test_a_restart_measures_downtime_on_the_monotonic_clock_and_never_trusts_a_wrong_wall(tmp_path, monkeypatch):
    site = short_site(tmp_path, "30m")
    db = str(tmp_path / "c.db")
    rt = runtime(site, "opc.tcp://127.0.0.1:1", db)
    rt._open()
    rt._start_clock()
    rt.archive.append([rt._session_rec()])
    time.sleep(0.05)
    rt._process(rt.now(), [Rec("operator", 0, "hold", "")])
    rt.archive.commit()
    rt.archive.close()
    t_last = rt.seq.t
    real = time.time
    for offset, note in ((-20.0, "disagrees"), (3600.0, "disagrees"), (0.0, None)):
        time.sleep(0.3)
        monkeypatch.setattr(rtmod.time, "time", lambda o=offset: real() + o)
        rt2 = runtime(site, "opc.tcp://127.0.0.1:1", db)
        rt2._open()
        rt2._start_clock()
        down = rt2._t0 - rt2.seq.t
        assert 0 <= down < 60_000, down  # measured on the monotonic clock: neither 20 s short nor 1 h long
        assert (note is None and rt2._clock_note is None) or note in (rt2._clock_note or "")
        rt2.archive.close()
    monkeypatch.setattr(rtmod, "boot_id", lambda: "another-boot")
    monkeypatch.setattr(rtmod.time, "time", lambda: real() + 3600)
    rt3 = runtime(site, "opc.tcp://127.0.0.1:1", db)
    rt3._open()
    rt3._start_clock()
    assert rt3._t0 == rt3.seq.t >= t_last and "cannot be measured" in rt3._clock_note
    rt3.archive.close()


def test_a_pad_clock_of_the_wrong_type_or_bad_status_holds(tmp_path):
    db = str(tmp_path / "c.db")
    plan = pg.compile_model(pg.load("site31", "guarded"))
    lm = load_linkmap(plan, default_map_path("site31"))
    for item in (("dc", -1, "1200", True, "", time.time()), ("dc", -1, 1200, False, "BadSensorFailure", time.time())):
        rt = Runtime(plan, lm, RunOptions(insecure=True, link="opc.tcp://127.0.0.1:1", archive=db, clock="pad", count_id=str(item[3])))
        rt._open()
        rt._start_clock()
        rt._handle([item])
        assert rt.seq.mode == Mode.HOLDING
        rt.archive.commit()
        with open_archive(db, str(item[3])) as a:
            assert any(r.kind == "safety" and r.name == "clock" and "pad clock node sent" in r.value for r in a.read())
        rt.archive.close()


def test_a_server_queue_overflow_holds_naming_it(tmp_path):
    """A burst faster than the subscription drains: the server drops values and says so (Overflow
    bit); the runtime holds naming the overflow instead of carrying on with lost readings."""
    site = short_site(tmp_path, "10m")
    db = f"sqlite:///{tmp_path / 'c.db'}"

    async def scenario():
        from asyncua import ua

        p = pad()
        url = await p.start()
        rt = runtime(site, url, db)
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        await until(lambda: rt.link_state == "up" and rt.seq.mode == Mode.COUNTING, 20, "counting")
        s = p.twin.plan.sensor_index("stopper_b")
        for i in range(400):  # (no await that yields to the publisher in between)
            now = dt.datetime.now(dt.UTC)
            await p.server.write_attribute_value(p._vars[s], ua.DataValue(
                ua.Variant("engaged" if i % 2 else "disengaged"), SourceTimestamp=now, ServerTimestamp=now))
        t0 = time.monotonic()
        await until(lambda: any(r.kind == "event" and "overflow" in r.value for r in rt.recent), 10, "overflow hold")
        took = time.monotonic() - t0
        mode = rt.seq.mode
        rt.stop()
        await asyncio.wait_for(task, 30)
        await p.stop()
        return mode, took

    mode, took = asyncio.run(scenario())
    assert mode == Mode.HOLDING and took < 5
    with open_archive(db) as a:
        assert any(r.kind == "safety" and r.name == "overflow" and "stopper_b" in r.value for r in a.read())


def test_a_lost_notification_message_holds_naming_the_gap(tmp_path):
    """A notification message that never reaches the runtime (the server's sequence numbers jump,
    as when a publish response is dropped) holds the count naming the missing messages."""
    site = short_site(tmp_path, "10m")
    db = f"sqlite:///{tmp_path / 'c.db'}"

    async def scenario():
        p = pad()
        url = await p.start()
        rt = runtime(site, url, db)
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        await until(lambda: rt.link_state == "up" and rt.seq.mode == Mode.COUNTING and rt.seq.t > 500, 20, "counting")
        for sub in p.server.iserver.subscription_service.subscriptions.values():
            sub._notification_seq += 3  # three messages "sent" that the runtime will never see
        await until(lambda: "overflow" in (rt.seq.status()["reason"] or "") or any(
            r.kind == "event" and "never arrived" in r.value for r in rt.recent), 10, "the gap hold")
        mode = rt.seq.mode
        rt.stop()
        await asyncio.wait_for(task, 30)
        await p.stop()
        return mode

    assert asyncio.run(scenario()) == Mode.HOLDING
    with open_archive(db) as a:
        gaps = [r.value for r in a.read() if r.kind == "safety" and r.name == "overflow"]
    assert gaps and "never arrived: readings were lost" in gaps[0]


def test_a_quiet_link_is_never_resubscribed_behind_the_runtimes_back(tmp_path):
    """asyncua's own watchdog would delete a subscription silent for 1 s and make a new one
    (discarding what the server queued, restarting the sequence numbers): it is off, and a
    subscription replaced all the same is link loss, a hold naming it."""
    site = short_site(tmp_path, "10m")
    db = f"sqlite:///{tmp_path / 'c.db'}"

    async def scenario():
        p = pad()
        url = await p.start()
        rt = runtime(site, url, db)
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 30)
        await until(lambda: rt.link_state == "up" and rt.seq.mode == Mode.COUNTING and rt.seq.t > 500, 60, "counting")
        p.speed = 0  # the pad falls quiet for 1.5 s (less than link_timeout_s): asyncua must not recreate
        await asyncio.sleep(1.5)
        same = rt._sub._recreate_count == 0  # (a reconnect of the runtime's own makes a new object)
        p._rebase()
        p.speed = 1.0
        p._wake.set()
        for _ in range(20):  # what asyncua's watchdog would do (on the live session; retried if the
            await until(lambda: rt.link_state == "up", 60, "link up")  # runtime reconnected meanwhile)
            try:
                await rt._sub.recreate()
                break
            except Exception:  # noqa: BLE001
                await asyncio.sleep(0.2)
        await until(lambda: any(r.kind == "event" and "subscription was replaced" in r.value for r in rt.recent),
                    60, "link loss naming the replacement")
        rt.stop()
        await asyncio.wait_for(task, 30)
        await p.stop()
        return same

    assert asyncio.run(scenario())
    with open_archive(db) as a:
        links = [r.value for r in a.read() if r.kind == "safety" and r.name == "link"]
    assert any("subscription was replaced" in v for v in links), links
