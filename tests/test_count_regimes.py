"""Count regimes (issue 11 item 4): hold before T-31 s, cutoff-and-recycle to T-20 min inside the
RSLS window, abort after main-engine start; the shipped Shuttle-like terminal count."""

from __future__ import annotations

import pytest

import padguard as pg
from padguard.engines.promela import export

from .conftest import TINY_PROC
from .test_model_errors import problems_for


@pytest.fixture(scope="module")
def shuttle():
    return pg.compile_model(pg.load("shuttle39a", "crewed"))


def test_nominal_terminal_count_launches_on_time_through_its_built_in_holds(shuttle):
    res = pg.simulate(shuttle)
    assert res.outcome == "launched_on_time"
    assert res.ignition_t_s == 20 * 60 + 10 * 60 + 40 * 60  # the count plus both built-in holds


def test_a_violation_in_the_rsls_window_recycles_to_t20_instead_of_aborting(shuttle):
    res = pg.simulate(shuttle, faults=["gox_arm:swings_back@T-20s"])
    cut = [e for e in res.events if e.kind == "cutoff"]
    assert len(cut) == 1 and cut[0].data["criterion"] == "rsls_cutoff"
    assert cut[0].tc == -20 * 60_000  # the count clock is back at T-20 min
    kinds = [e.kind for e in res.events]
    assert "abort" not in kinds
    # the recycled count meets the T-20 min built-in hold again, re-retracts the arm, launches
    assert res.recycles == 1 and res.outcome == "launched_after_holds" and res.hazards == []


def test_after_main_engine_start_a_violation_aborts(shuttle):
    res = pg.simulate(shuttle, faults=["gox_arm:swings_back@T-3s"])
    assert res.outcome == "aborted"
    ab = next(e for e in res.events if e.kind == "abort")
    assert "engine_start_lcc" in ab.text


def test_before_t31_a_violation_holds(shuttle):
    res = pg.simulate(shuttle, faults=["gox_arm:swings_back@T-60s"])
    hold = next(e for e in res.events if e.kind == "hold" and "arms_clear" in e.text)
    assert hold.tc == -60_000 and res.recycles == 0


def test_cutoff_is_checked_by_the_verifier_and_exported_to_promela(shuttle):
    from padguard.engines.verify import verify
    from padguard.sequencer.table import Trigger

    r = verify(pg.compile_model(shuttle.model, resolution_ms=1000), max_faults=1)
    assert r.verdict == "proved" and r.claim == "no_violation_found"  # a search on a 1 s grid
    text = export(shuttle, 1)  # SPIN agrees property by property: tests/test_promela.py
    assert f"q_trig = {int(Trigger.CUTOFF)}" in text and "TC = R_AT[q_cut]" in text


def test_a_cutoff_must_recycle_back_to_a_declared_point(tmp_path):
    proc = TINY_PROC.replace("    applies: {from: T-60s, until: T-0}",
                             "    applies: {from: T-60s, until: T-0}\n    recycle_to: nowhere")
    text = "\n".join(str(p) for p in problems_for(tmp_path, proc=proc))
    assert "unknown recycle point 'nowhere'" in text
    proc = TINY_PROC.replace("    applies: {from: T-60s, until: T-0}",
                             "    applies: {from: T-110s, until: T-0}\n    recycle_to: retract")
    text = "\n".join(str(p) for p in problems_for(tmp_path, proc=proc))
    assert "must come before the criterion's window" in text
