"""Issue 11 item 5: re-commanding moving equipment, and recycles that would move the count forward."""

from __future__ import annotations

import numpy as np

import padguard as pg
from padguard import plant, semantics


def test_recommanding_a_moving_two_position_item_takes_its_declared_time(site31_guarded):
    p = site31_guarded
    e = p.equipment_index("cabin")  # 2 positions, while the stopper has 3 (the padded table)
    transit = np.array([int(p.transit[e])])
    stowed = p.positions[e].index("stowed")
    lo = plant.travel_time(p, e, transit, stowed, np.array([0.0]))
    hi = plant.travel_time(p, e, transit, stowed, np.array([0.999999]))
    # from in transit: the worst declared range into "stowed" (2 to 5 min), never negative
    assert int(lo[0]) == 120_000 and int(hi[0]) == 300_000
    assert len(plant.travel_choices(p, e, int(transit[0]), stowed)) == 181


def test_a_cabin_recommanded_while_rolling_arrives(site31_guarded):
    # Stow, then send it back to working while it rolls, then stow again: every leg takes time.
    p = site31_guarded
    e = p.equipment_index("cabin")
    S = semantics.initial_state(p, 1)
    move = np.zeros((len(p.step_at), 1), dtype=bool)
    j = next(i for i, s in enumerate(p.steps) if s == "move cabin to stowed")
    move[j] = True
    plant.command(p, S, move, None)
    assert S[p.POS + e, 0] == p.transit[e] and S[p.ARRIVE + e, 0] > 0
    S[p.T] = 10_000  # 10 s into the roll: command stowed again (already going there: no-op)
    before = int(S[p.ARRIVE + e, 0])
    plant.command(p, S, move, None)
    assert int(S[p.ARRIVE + e, 0]) == before
    # a WORKING command while in transit gets a real travel time from in transit
    S[p.DEST + e] = p.positions[e].index("working")
    plant.command(p, S, move, None)
    assert int(S[p.ARRIVE + e, 0]) >= 10_000 + 120_000


def test_recycle_to_a_later_point_is_refused_and_skips_nothing(site31_guarded):
    res = pg.simulate(site31_guarded, actions=["hold@T-1h03m", "recycle:stopper@+3m", "resume@+4m"])
    refused = [e for e in res.events if e.kind == "refused"]
    assert refused and "later than the count clock" in refused[0].text
    cmds = [e.text for e in res.events if e.kind == "command"]
    # nothing was skipped: the cabin is stowed and shielded before the stopper engages
    assert cmds.index("command: move cabin to stowed") < cmds.index("command: move cabin.shield to closed") \
        < cmds.index("command: move cabin.stopper to engaged")
    assert res.outcome == "launched_after_holds"
    assert res.recycles == 0


def test_recycle_back_still_works(site31_guarded):
    res = pg.simulate(site31_guarded, actions=["hold@T-50m", "recycle:stopper@+16m"])
    assert res.recycles == 1
    assert res.outcome == "launched_after_holds"
