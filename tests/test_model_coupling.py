"""Coupled equipment, step preconditions, travel watchdogs and the slow fault (issue 11 items 2-3)."""

from __future__ import annotations

import padguard as pg
from padguard.model.derived import implicit_criteria

from .conftest import TINY_FAULTS, TINY_PROC, TINY_SITE
from .test_model_errors import problems_for


def site31_with_slow(tmp_path, proc):
    """Site 31/6 as shipped: its faults include the slow cabin (`cabin:slow`, maximum + 1 s)."""
    plan = pg.compile_model(pg.load("site31", proc))
    assert "cabin:slow" in plan.faults
    return plan


def test_a_cabin_at_max_travel_plus_1s_ends_in_a_hold_not_an_unlocked_launch(tmp_path):
    site31_guarded = site31_with_slow(tmp_path, "guarded")
    site31_legacy = site31_with_slow(tmp_path, "legacy")
    res = pg.simulate(site31_guarded, faults=["cabin:slow@+0s"])
    holds = [e for e in res.events if e.kind == "hold"]
    assert holds and holds[0].data["criterion"] == "step4_requires"  # the stopper's precondition
    assert holds[0].tc == -55 * 60_000
    assert res.outcome == "launched_after_holds" and res.hazards == []
    # the as-flown count commands the stopper into an empty niche: it cannot engage, and launches
    res = pg.simulate(site31_legacy, faults=["cabin:slow@+0s"])
    assert res.outcome == "pad_damaged" and "cabin.stopper unlocked" in res.hazards


def test_a_lock_cannot_engage_on_an_absent_host_and_the_sensors_show_it(site31_legacy):
    res = pg.simulate(site31_legacy, faults=["cabin:jammed@+0s"])
    p = site31_legacy
    e = p.equipment_index("cabin.stopper")
    assert p.decode_position(e, int(res.state[p.POS + e, 0])) == "disengaged"
    s = p.sensor_index("stopper_a")
    assert p.decode_sensor(s, int(res.state[p.SVAL + s, 0])) == "disengaged"
    assert "cabin.stopper unlocked" in res.hazards


def test_travel_watchdog_names_the_equipment(site31_guarded):
    res = pg.simulate(site31_guarded, faults=["tower.half_a:jammed@+0s"])
    hold = next(e for e in res.events if e.kind == "hold")
    assert hold.data["criterion"] == "watchdog_tower_half_a_lowered"
    assert hold.tc == -(45 * 60 - 5 * 60 - 10) * 1000  # T-45m + max 5m + margin 10 s
    assert "tower.half_a" in hold.text


def test_watchdog_windows_follow_the_model(site31_guarded):
    crits = {c.name: c for c in implicit_criteria(site31_guarded.model)}
    assert crits["watchdog_cabin_stowed"].applies.from_ == -3600 + 300 + 10
    assert crits["watchdog_cabin_stowed"].applies.until == 0
    # the core mast (T-12 s, max 5 s, margin 10 s) has no count time left: no watchdog
    assert not any(n.startswith("watchdog_mast_core") for n in crits)
    assert crits["step4_requires"].applies.from_ == crits["step4_requires"].applies.until == -55 * 60


def test_bad_coupling_slow_and_requires_are_reported(tmp_path):
    site = TINY_SITE.replace("    positions: [open, latched, misaligned]\n",
                             "    positions: [open, latched, misaligned]\n"
                             "    acts_on: {equipment: arm, when: [parked]}\n")
    proc = TINY_PROC.replace("  - {at: T-80s, move: arm.latch, to: latched}",
                             "  - {at: T-80s, move: arm.latch, to: latched, requires: [{sensor: nope, is: x}]}")
    faults = TINY_FAULTS + "  - {component: arm, mode: slow, effect: slow, probability: 0.1}\n"
    text = "\n".join(str(p) for p in problems_for(tmp_path, site=site, proc=proc, faults=faults))
    assert "unknown position 'parked' of 'arm'" in text
    assert "undefined sensor 'nope'" in text
    assert "effect 'slow' needs 'delay'" in text
