"""The live commands from the command line: log, replay, pad-ctl, run; and the runtime's clocks."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading

import pytest
from typer.testing import CliRunner

import padguard as pg
from padguard.cli import app
from padguard.links.mapping import default_map_path, load_linkmap, site_model
from padguard.links.padsim import PadServer
from padguard.links.runtime import RunOptions, Runtime, fingerprint, model_texts
from padguard.links.twin import PadTwin, VirtualLink, pad_plan
from padguard.sequencer.live import Rec, Sequencer
from padguard.store.archive import ArchiveError, open_archive

runner = CliRunner()


def archive_of_virtual_run(path, faults=("cabin.stopper:pops_out@+20m",), mode="live") -> str:
    """An archive exactly as a runtime writes it, from a dry run on the virtual clock."""
    plan = pg.compile_model(pg.load("site31", "guarded"))
    twin = PadTwin(pad_plan(plan.model), travel_u=0.5)
    for f in faults:
        twin.schedule_fault(f)
    v = VirtualLink(Sequencer(plan), twin)
    v.run()
    url = f"sqlite:///{path}"
    texts = model_texts(plan)
    with open_archive(url, write=True) as a:
        a.set_meta({"mode": mode, "site": "site31", "procedure": "guarded", "model": texts,
                    "fingerprint": fingerprint(texts), "watched": plan.sensors})
        a.append(v.records)
        a.commit()
    return url


def test_log_lists_filters_and_exports(tmp_path):
    url = archive_of_virtual_run(tmp_path / "c.db")
    res = runner.invoke(app, ["log", url, "--format", "jsonl", "-k", "event"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in res.output.splitlines()]
    assert rows and {r["kind"] for r in rows} == {"event"}
    assert any(r["name"] == "hold" and r["data"]["criterion"] == "cabin_stowed_locked" for r in rows)
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    out = tmp_path / "s.csv"
    res = runner.invoke(app, ["log", url, "--format", "csv", "-k", "sample", "--name", "stopper_a", "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("seq,batch,t,tc,wall,kind,name,value,code,data")
    assert len(lines) > 100 and all(",sample,stopper_a," in ln for ln in lines[1:])
    res = runner.invoke(app, ["log", url, "--limit", "5"])
    assert res.exit_code == 0 and "│ sample" not in res.output and "│ milestone" in res.output
    res = runner.invoke(app, ["log", url, "--counts"])
    assert res.output.split() == ["main"]


def test_replay_reproduces_the_archive_and_catches_tampering(tmp_path):
    url = archive_of_virtual_run(tmp_path / "c.db")
    res = runner.invoke(app, ["replay", url, "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    verdict = json.loads(res.output.splitlines()[-1])
    assert verdict["replay"] and verdict["differences"] == 0 and verdict["final"]["outcome"] == "launched_after_holds"
    res = runner.invoke(app, ["replay", url])
    assert res.exit_code == 0 and "[replay]" in res.output and "replay matches the archive" in res.output
    db = sqlite3.connect(tmp_path / "c.db")
    db.execute("UPDATE records SET value='sideways', code=-2 WHERE seq=(SELECT min(seq) FROM records "
               "WHERE kind='sample' AND name='stopper_a' AND t > 1500000)")
    db.commit()
    db.close()
    res = runner.invoke(app, ["replay", url, "--quiet"])
    assert res.exit_code == 1 and "ARCHIVE TAMPERED" in res.output  # the hash chain catches it first


def test_replayed_data_never_drives_a_live_count(tmp_path):
    url = archive_of_virtual_run(tmp_path / "r.db", faults=(), mode="replay")
    plan = pg.compile_model(pg.load("site31", "guarded"))
    lm = load_linkmap(plan, default_map_path("site31"))
    rt = Runtime(plan, lm, RunOptions(insecure=True, link="opc.tcp://127.0.0.1:1", archive=url))
    with pytest.raises(ArchiveError, match="replayed data can never drive a live count"):
        rt._open()
    rt.archive.close()
    res = runner.invoke(app, ["run", "site31", "guarded", "--link", "opc.tcp://127.0.0.1:1", "--archive", url, "--insecure",
                              "--control", "127.0.0.1:0"])
    assert res.exit_code == 2 and "replayed data can never drive" in res.output.replace("\n", "")


def test_a_changed_model_cannot_restart_a_count(tmp_path):
    url = archive_of_virtual_run(tmp_path / "c.db", faults=())
    plan = pg.compile_model(pg.load("site31", "legacy"))
    lm = load_linkmap(plan, default_map_path("site31"))
    rt = Runtime(plan, lm, RunOptions(insecure=True, link="opc.tcp://127.0.0.1:1", archive=url))
    with pytest.raises(ArchiveError, match="different model"):
        rt._open()


@pytest.mark.parametrize("args,msg", [
    (["--link", "http://x"], "--link must be an opc.tcp:// URL"),
    (["--link", "opc.tcp://127.0.0.1:1", "--archive", "mysql://x"], "unknown archive URL"),
    (["--link", "opc.tcp://127.0.0.1:1", "--speed", "0"], "--speed must be > 0"),
    (["--link", "opc.tcp://127.0.0.1:1", "--clock", "moon"], "--clock must be wall or pad"),
    (["--link", "opc.tcp://127.0.0.1:1", "--map", "/nonexistent.yaml"], "no mapping file"),
    (["--link", "opc.tcp://127.0.0.1:1", "--console", "nowhere"], "console: expected HOST:PORT"),
])
def test_run_rejects_bad_input_cleanly(args, msg):
    res = runner.invoke(app, ["run", "site31", "guarded", *args, "--insecure"])
    assert res.exit_code == 2 and msg in res.output.replace("\n", "") and "Traceback" not in res.output


def test_log_and_replay_of_missing_archives(tmp_path):
    for cmd in ("log", "replay"):
        res = runner.invoke(app, [cmd, str(tmp_path / "none.db")])
        assert res.exit_code == 2 and "no archive" in res.output
    url = archive_of_virtual_run(tmp_path / "c.db", faults=())
    res = runner.invoke(app, ["log", url, "--count", "other"])
    assert res.exit_code == 2 and "no count 'other'" in res.output and "main" in res.output


def test_pad_ctl_drives_a_running_pad_sim():
    plan = pad_plan(site_model("site31"))
    lm = load_linkmap(plan, default_map_path("site31"), for_pad=True)
    server = PadServer(PadTwin(plan), lm, "opc.tcp://127.0.0.1:0", speed=0)
    loop = asyncio.new_event_loop()
    th = threading.Thread(target=loop.run_forever, daemon=True)
    th.start()
    try:
        url = asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
        res = runner.invoke(app, ["pad-ctl", "inject", "cabin.stopper:pops_out", "--endpoint", url])
        assert res.exit_code == 0 and res.output.strip() == "ok", res.output
        st = json.loads(runner.invoke(app, ["pad-ctl", "status", "--endpoint", url]).output)
        assert st["faults"] == ["cabin.stopper:pops_out"] and st["positions"]["cabin.stopper"] == "misaligned"
        res = runner.invoke(app, ["pad-ctl", "inject", "cabin.stopper:wobbles", "--endpoint", url])
        assert res.exit_code == 2 and "unknown fault" in res.output
        res = runner.invoke(app, ["pad-ctl", "clear", "cabin.stopper", "--endpoint", url])
        assert res.exit_code == 0
        assert json.loads(runner.invoke(app, ["pad-ctl", "status", "--endpoint", url]).output)["faults"] == []
        res = runner.invoke(app, ["pad-ctl", "speed", "-1", "--endpoint", url])
        assert res.exit_code == 2
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        th.join(10)
    res = runner.invoke(app, ["pad-ctl", "status", "--endpoint", "opc.tcp://127.0.0.1:1"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_runtime_notices_clock_jumps(tmp_path):
    plan = pg.compile_model(pg.load("site31", "guarded"))
    lm = load_linkmap(plan, default_map_path("site31"))
    rt = Runtime(plan, lm, RunOptions(insecure=True, link="opc.tcp://127.0.0.1:1", archive=str(tmp_path / "c.db"), clock="wall"))
    rt._open()
    rt._start_clock()
    rt._check_clock()
    assert rt.inbox.empty()
    rt._unix0 -= 30  # the system clock was set 30 s forward
    rt._check_clock()
    kind, cause, detail = rt.inbox.get_nowait()
    assert (kind, cause) == ("safety", "clock") and "+30" in detail
    # a pad clock that goes back (the pad-sim restarted) or leaps ahead
    rt.seq.apply([Rec("tick", 5000)])
    assert rt._pad_time(1000) == 5000 and rt.inbox.get_nowait()[1] == "clock"
    assert rt._pad_time(6000) == 6000 and rt.inbox.empty()
    assert rt._pad_time(6000 + 3_600_000) == 5000 and rt.inbox.get_nowait()[1] == "clock"
    rt.archive.close()
