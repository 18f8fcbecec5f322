"""The live Sequencer on a virtual clock: same decisions as the simulator, fail-safe holds,
replay and restart from records. No sockets, no sleeps."""

from __future__ import annotations

import numpy as np
import pytest

import padguard as pg
from padguard.compile import OPERATOR_REASON
from padguard.links.mapping import site_model
from padguard.links.twin import PadTwin, VirtualLink, pad_plan
from padguard.sequencer import live
from padguard.sequencer.live import Rec, Sequencer, batches, replay
from padguard.sequencer.table import Mode

MIN = 60_000


def dry(plan: pg.Plan, faults: list[str] = (), travel_u: float = 0.5) -> VirtualLink:
    twin = PadTwin(pad_plan(plan.model), travel_u=travel_u)
    for f in faults:
        twin.schedule_fault(f)
    return VirtualLink(Sequencer(plan), twin)


def kinds(events, kind: str) -> list:
    return [e for e in events if e.kind == kind]


@pytest.fixture(scope="module")
def ms28_run(site31_guarded) -> VirtualLink:
    """The stopper popping out at +20m, run to the end once for every test that only reads it."""
    v = dry(site31_guarded, ["cabin.stopper:pops_out@+20m"])
    v.run()
    return v


def test_nominal_count_launches_with_the_pad_clear(site31_guarded):
    v = dry(site31_guarded)
    v.run()
    assert v.seq.status()["outcome"] == "launched_on_time"
    assert v.twin.ignited_at is not None and v.twin.hazards() == []
    moves = [(e.data["target"], e.data["value"]) for e in kinds(v.events, "command") if e.data["action"] == "move"]
    assert ("cabin.stopper", "engaged") in moves and ("mast.core", "retracted") in moves
    assert kinds(v.events, "hold") == []


def test_live_and_simulator_agree_on_the_ms28_scenario(site31_guarded, ms28_run):
    """The stopper knocked out of its seat mid-count: both hold on the same criterion, both launch late."""
    sim = pg.simulate(site31_guarded, faults=["cabin.stopper:pops_out@+20m"], seed=0)
    v = ms28_run
    sim_holds = [e for e in sim.events if e.kind == "hold"]
    live_holds = kinds(v.events, "hold")
    assert sim_holds and live_holds
    assert live_holds[0].data["criterion"] == sim_holds[0].data["criterion"] == "cabin_stowed_locked"
    assert abs(live_holds[0].t - sim_holds[0].t) <= 1000  # live sensors sample at 1 Hz
    assert v.seq.status()["outcome"] == sim.outcome == "launched_after_holds"
    assert v.twin.hazards() == []


def test_operator_recycle_after_repair(site31_guarded):
    v = dry(site31_guarded, ["cabin.stopper:pops_out@+20m"])
    v.run(until=21 * MIN)
    assert v.seq.mode == Mode.HOLDING
    ev = v.operator("recycle", "nowhere")
    assert kinds(ev, "refused") and v.seq.mode == Mode.HOLDING
    v.clear("cabin.stopper")
    ev = v.operator("recycle", "stopper")
    assert kinds(ev, "recycle") and v.seq.tc == -55 * MIN
    assert ("cabin.stopper", "engaged") in [(e.data["target"], e.data["value"]) for e in kinds(ev, "command")]
    v.run()
    assert v.seq.status()["outcome"] == "launched_after_holds"
    assert v.twin.hazards() == []


def test_a_silent_sensor_holds_and_blocks_resume_until_it_reports(tiny):
    v = dry(tiny)
    v.run(until=5_000)
    v.twin.inject("latch_a:dropout")
    v.run(until=12_000)
    assert "stale:latch_a" in v.seq.conditions
    assert v.seq.mode == Mode.HOLDING and int(v.seq.S[tiny.REASON, 0]) == OPERATOR_REASON
    assert any("latch_a silent" in e.text for e in v.events)
    ev = v.operator("resume")
    assert kinds(ev, "refused") and v.seq.mode == Mode.HOLDING
    v.clear("latch_a")
    v.run(until=14_000)
    assert "stale:latch_a" not in v.seq.conditions
    ev = v.operator("resume")
    assert kinds(ev, "resume") and v.seq.mode == Mode.COUNTING


def test_no_data_at_all_holds_the_count(tiny):
    seq = Sequencer(tiny)
    seq.apply([Rec("start", 0)])
    assert seq.mode == Mode.COUNTING
    ev = seq.apply([Rec("tick", 3_001)])
    assert seq.mode == Mode.HOLDING
    assert {k for k in seq.conditions} == {"stale:arm_pos", "stale:latch_a", "stale:latch_b"}
    assert kinds(ev, "hold")[0].data["safety"] is True


@pytest.mark.parametrize("value,code", [("bogus", -2), ("latched", 7)])
def test_malformed_or_out_of_range_values_hold(tiny, value, code):
    seq = Sequencer(tiny)
    seq.apply([Rec("start", 0)])
    seq.apply([Rec("sample", 1000, "latch_a", value, code)])
    assert seq.mode == Mode.HOLDING and "malformed:latch_a" in seq.conditions
    ev = seq.apply([Rec("operator", 1000, "resume")])
    assert kinds(ev, "refused")
    seq.apply([Rec("sample", 1500, "latch_a", "open", 0), Rec("sample", 1500, "latch_b", "open", 0),
               Rec("sample", 1500, "arm_pos", "extended", 0)])
    assert "malformed:latch_a" not in seq.conditions
    assert kinds(seq.apply([Rec("operator", 1500, "resume")]), "resume")


def test_time_going_back_holds(tiny):
    seq = Sequencer(tiny)
    seq.apply([Rec("start", 0)])
    seq.apply([Rec("tick", 2000)])
    ev = seq.apply([Rec("tick", 1000)])
    assert seq.mode == Mode.HOLDING and seq.t == 2000
    assert any("time went back" in e.text for e in ev)


@pytest.mark.parametrize("cause", ["link", "clock", "opcua", "restart"])
def test_each_fail_safe_cause_holds_and_needs_an_operator(tiny, cause):
    v = dry(tiny)
    v.run(until=5_000)
    ev = v.safety(cause, f"{cause} trouble")
    assert v.seq.mode == Mode.HOLDING and int(v.seq.S[tiny.REASON, 0]) == OPERATOR_REASON
    assert kinds(ev, "hold")[0].data["cause"] == cause
    v.run(until=8_000)
    assert v.seq.mode == Mode.HOLDING  # no automatic resume from a safety hold
    ev = v.operator("resume")
    if cause == "link":  # a lasting condition: refused until the link is back
        assert kinds(ev, "refused")
        v._feed(v.twin.t, [], extra=[Rec("clear", v.twin.t, "link")])
        ev = v.operator("resume")
    assert kinds(ev, "resume")


def test_a_safety_hold_during_an_automatic_hold_needs_an_operator(tiny):
    v = dry(tiny, ["arm.latch:jammed@+1s"])
    v.run(until=70_000)  # latch never latched: automatic hold at T-60s
    assert v.seq.mode == Mode.HOLDING and int(v.seq.S[tiny.REASON, 0]) == 0
    v.safety("clock", "system clock jumped")
    assert int(v.seq.S[tiny.REASON, 0]) == OPERATOR_REASON
    v.clear("arm.latch")
    v.operator("recycle", "retract")
    v.run()
    assert v.seq.status()["outcome"] == "launched_after_holds"


def test_a_safety_hold_past_the_point_of_no_return_aborts(tiny):
    v = dry(tiny)
    v.run(until=135_000)  # T-5s (after the 20 s built-in hold): terminal count
    assert v.seq.mode == Mode.TERMINAL
    ev = v.safety("link", "link lost")
    assert v.seq.mode == Mode.ABORTED and kinds(ev, "abort")


def test_an_internal_error_holds(tiny, monkeypatch):
    v = dry(tiny)
    v.run(until=5_000)
    real = live.rules.decide
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 1:
            raise FloatingPointError("boom")
        return real(*a, **k)

    monkeypatch.setattr(live.rules, "decide", flaky)
    ev = v.seq.apply([Rec("tick", 6_000)])
    assert v.seq.mode == Mode.HOLDING and "boom" in v.seq.fault
    assert kinds(ev, "command") == []

    def broken(*a, **k):
        raise RuntimeError("rules gone")

    seq = Sequencer(tiny)
    seq.apply([Rec("start", 0)])
    monkeypatch.setattr(live.rules, "decide", broken)
    seq.apply([Rec("tick", 100)])
    assert seq.mode == Mode.HOLDING and int(seq.S[tiny.REASON, 0]) == OPERATOR_REASON


def test_replay_reproduces_every_decision_and_is_flagged(site31_guarded, ms28_run):
    v = ms28_run
    rs, events = replay(site31_guarded, v.records)
    assert [e.key() for e in events] == [e.key() for e in v.events]
    assert all(e.replay for e in events) and rs.replay and rs.status()["replay"]
    assert all(r.data.get("replay") for r in (e.to_rec() for e in events))
    assert np.array_equal(rs.S, v.seq.S)


def test_restore_from_a_snapshot_then_the_tail_equals_the_whole_run(site31_guarded):
    v = dry(site31_guarded, ["cabin.stopper:pops_out@+20m"])
    v.run(until=30 * MIN)
    bs = batches(v.records)
    mid = len(bs) // 2
    first = Sequencer(site31_guarded)
    for b in bs[:mid]:
        first.apply(b)
    again = Sequencer(site31_guarded)
    again.restore(first.snapshot())
    for b in bs[mid:]:
        again.apply(b)
    assert np.array_equal(again.S, v.seq.S) and again.conditions == v.seq.conditions
    with pytest.raises(ValueError):
        Sequencer(site31_guarded).restore({"S": [0, 1], "conditions": {}, "cst": []})


def test_the_plain_api_samples_ticks_commands(tiny):
    seq = Sequencer(tiny)
    seq.tick(0)
    seq.samples(500, {"arm_pos": "extended", "latch_a": "open", "latch_b": "open"})
    assert seq.conditions == {} and seq.mode == Mode.COUNTING
    assert kinds(seq.command(600, "hold"), "hold") and seq.mode == Mode.HOLDING
    seq.samples(900, {"latch_a": "loose"})
    assert "malformed:latch_a" in seq.conditions
    assert kinds(seq.command(1000, "resume"), "refused")


def test_unknown_operator_commands_are_refused(tiny):
    seq = Sequencer(tiny)
    seq.apply([Rec("start", 0)])
    ev = seq.apply([Rec("operator", 10, "launch")])
    assert kinds(ev, "refused") and seq.mode == Mode.COUNTING
    ev = seq.apply([Rec("operator", 20, "resume")])
    assert kinds(ev, "refused") and "not allowed from COUNTING" in kinds(ev, "refused")[-1].text


def test_pad_twin_reports_by_exception_and_drops_out(tiny_dir):
    twin = PadTwin(pad_plan(site_model(tiny_dir)), travel_u=0.0)
    assert {s for s, _ in twin.advance(0)} == {0, 1, 2}
    twin.move("arm.latch", "latched")
    assert twin.settle() == [(1, "in_transit"), (2, "in_transit")]  # changes go out at once
    twin.inject("latch_a:dropout")
    later = twin.advance(twin.next_instant())
    assert 1 not in {s for s, _ in later}  # a dropped-out sensor is silent
    with pytest.raises(ValueError):
        twin.move("arm", "sideways")
