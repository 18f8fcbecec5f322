"""kill -9 of ``padguard run`` at random points of a dry run: nothing acknowledged is lost.

The pad-sim runs in this process (a thread with its own event loop), in lockstep, so it waits
while the runtime is dead. The runtime is a real ``padguard run`` subprocess with a SQLite
archive; it is killed with SIGKILL at seeded random moments, restarted, and after each kill
the archive is checked:

* sequence numbers are 1..N with no gap, batches and times never go back;
* what was archived before the kill is still there, unchanged (history intact);
* every operator command the runtime answered is in the archive, in order, each with its own
  record, archived before its answer (a lost repeat fails);
* every instant the pad got an acknowledgement for is in the archive, and the commands the pad
  received are, in order, a subsequence of the commands archived for sending;
* each restart rebuilds its state from the archive and finds every archived decision again,
  and at the end the whole archive replays to exactly its own decisions;
* the restarted runtime comes back HOLDING and an operator can resume it (through the console's
  API: a restart is an automatic hold, so an operator requests and a launch director approves).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import padguard as pg
from padguard.cli.console import api
from padguard.console.auth import Users
from padguard.links.mapping import default_map_path, load_linkmap, site_model
from padguard.links.padsim import PadServer
from padguard.links.twin import PadTwin, pad_plan
from padguard.sequencer.live import replay
from padguard.store.archive import open_archive

pytestmark = pytest.mark.timeout(300)


class PadThread:
    """A lockstep pad-sim served from a background thread."""

    def __init__(self, speed: float):
        plan = pad_plan(site_model("site31"))
        self.lm = load_linkmap(plan, default_map_path("site31"), for_pad=True)
        self.server = PadServer(PadTwin(plan, travel_u=0.5), self.lm, "opc.tcp://127.0.0.1:0",
                                speed=speed, lockstep=True)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = self.call(self.server.start())

    def call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def snapshot(self) -> tuple[int, list]:
        async def snap():
            return self.server.acked, list(self.server.twin.commands)

        return self.call(snap())

    def stop(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def make_users(path: Path) -> tuple[str, str]:
    """A users file with an operator and a launch director; their API tokens."""
    u = Users(path)
    u.add("olga", "operator", "olga-password")
    u.add("lev", "launch_director", "lev-password")
    toks = u.new_token("olga"), u.new_token("lev")
    u.save()
    return toks


def resume(base: str, toks: tuple[str, str]) -> tuple[int, dict]:
    """Resume after the restart hold: the operator requests, the launch director approves."""
    code, body = api(base, toks[0], "POST", "/api/command", {"command": "resume"})
    assert code == 202 and body["pending"], body
    return api(base, toks[1], "POST", f"/api/requests/{body['request']['id']}/approve", {})


def status(base: str, toks: tuple[str, str]) -> tuple[int, dict]:
    code, body = api(base, toks[0], "GET", "/api/state")
    return code, body.get("state", body)


def start_runtime(url: str, db: str, control_file: Path) -> subprocess.Popen:
    control_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "padguard.cli", "run", "site31", "guarded", "--link", url, "--archive", db,
           "--clock", "pad", "--console", "127.0.0.1:0", "--console-file", str(control_file), "--json",
           "--users", str(control_file.parent / "users.json"), "--insecure"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_control(p: subprocess.Popen, control_file: Path, timeout: float = 60) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if control_file.exists() and control_file.read_text().strip():
            return control_file.read_text().strip()
        if p.poll() is not None:
            raise AssertionError(f"runtime exited {p.returncode}: {p.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError("runtime did not start")


def check_archive(db: str, before: list, answered: list[tuple[str, int]], pad_acked: int, pad_commands: list,
                  full_replay: bool = False) -> list:
    with open_archive(db) as a:
        recs = list(a.read())
    seqs = [r.seq for r in recs]
    assert seqs == list(range(1, len(recs) + 1)), "sequence numbers have a gap"
    assert all(x.batch <= y.batch and x.t <= y.t for x, y in zip(recs, recs[1:], strict=False))
    assert [r.to_dict() for r in recs[:len(before)]] == [r.to_dict() for r in before], "history changed"
    # every answered command is archived, in order, each with its own record, before its answer
    # (an answer carries the archive's last sequence number when it was given)
    ops = [r for r in recs if r.kind == "operator"]
    assert [r.name for r in ops[:len(answered)]] == [name for name, _ in answered], "an answered command is missing"
    prev = 0
    for r, (_, ans_seq) in zip(ops, answered, strict=False):
        assert prev < r.seq <= ans_seq, f"operator record {r.seq} not archived before its answer ({ans_seq})"
        prev = ans_seq
    assert max(r.t for r in recs) >= pad_acked, "the pad was told an instant was archived that is not"
    # what the pad received is, in order, a subsequence of what was archived for sending (a command
    # sent before its record was durable would be missing after a kill); the pad got each at or
    # after the instant it was decided
    sends = []
    for r in recs:
        if r.kind in ("event", "resend") and r.name == "ignition":
            sends.append(("ignition", "ignite", r.t))
        elif r.kind in ("event", "resend") and r.name == "command":
            sends.append((r.data["target"], r.data["value"], r.t))
    i = 0
    for c in pad_commands:
        while i < len(sends) and sends[i][:2] != (c.target, c.value):
            i += 1
        assert i < len(sends), f"the pad got {c.target} -> {c.value} at +{c.t} ms, never archived (in this order)"
        assert c.t >= sends[i][2], "the pad got a command before the instant that decided it"
        i += 1
    if not full_replay:  # (each restart already replays the tail: its recovery reports mismatches)
        return recs
    plan = pg.compile_model(pg.load("site31", "guarded"))
    _, events = replay(plan, recs)
    archived = [(r.t, r.tc, r.name, r.value) for r in recs if r.kind == "event"]
    assert [e.key() for e in events] == archived, "the archive does not replay to its own decisions"
    return recs


def test_kill_9_at_random_points_loses_nothing(tmp_path):
    rng = random.Random(20251127)
    pad = PadThread(speed=150)
    db = f"sqlite:///{tmp_path / 'count.db'}"
    cf = tmp_path / "control.url"
    before: list = []
    answered: list[tuple[str, int]] = []
    toks = make_users(tmp_path / "users.json")
    try:
        for k in range(5):
            p = start_runtime(pad.url, db, cf)
            base = wait_control(p, cf)
            code, st = status(base, toks)
            assert code == 200
            if k > 0:
                assert st["restarted"] and st["mode"] == "HOLDING", st
                assert st["reason"] == "operator"  # a safety hold: only an operator resumes it
                assert st["recovery"]["mismatches"] == 0
                code, body = resume(base, toks)
                assert code == 200 and body["mode"] == "COUNTING", body
                answered.append(("resume", body["seq"]))
            time.sleep(rng.uniform(0.05, 1.0))
            os.kill(p.pid, signal.SIGKILL)
            p.wait(30)
            assert p.returncode == -signal.SIGKILL
            acked, commands = pad.snapshot()
            before = check_archive(db, before, answered, acked, commands)
        # a last restart: resume, count on for two more minutes, then stop it the polite way
        p = start_runtime(pad.url, db, cf)
        base = wait_control(p, cf)
        code, body = resume(base, toks)
        assert code == 200, body
        tc0 = body_tc = status(base, toks)[1]["tc_ms"]
        end = time.monotonic() + 120
        while body_tc < tc0 + 120_000 and time.monotonic() < end:
            time.sleep(0.05)
            body_tc = status(base, toks)[1]["tc_ms"]
        assert body_tc >= tc0 + 120_000, "the count did not move after the restarts"
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0, p.stderr.read()
        acked, commands = pad.snapshot()
        recs = check_archive(db, before, answered + [("resume", body["seq"])], acked, commands, full_replay=True)
        assert recs[-1].kind == "end" and recs[-1].value == "HOLDING"
        assert [r.name for r in recs if r.kind == "safety"] == ["restart"] * 5 + ["stopped"]
        ops = [r for r in recs if r.kind == "operator"]
        assert [r.name for r in ops] == ["resume"] * 5
        assert all(r.data["user"] == "olga" and r.data["approver"] == "lev" for r in ops)
    finally:
        pad.stop()
