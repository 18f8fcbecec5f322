"""Abort safing sequences, main-engine start, and steps after T-0 (issue 11 item 4) on the
shipped Shuttle-like terminal count: one semantics for simulator, verifier and risk engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import padguard as pg
from padguard import semantics
from padguard.engines import risk
from padguard.engines.promela import PromelaError, export
from padguard.engines.verify import verify
from padguard.sequencer.table import NEXT, Mode, Trigger, next_table

from .conftest import TINY_PROC
from .test_model_errors import assert_problem, problems_for

S_ = 1000
NOMINAL_T0 = (20 * 60 + 10 * 60 + 40 * 60) * S_  # count from T-20 min plus both built-in holds


@pytest.fixture(scope="module")
def shuttle():
    return pg.compile_model(pg.load("shuttle39a", "crewed"))


def events(res, kind):
    return [e for e in res.events if e.kind == kind]


def test_nominal_count_lifts_off_and_the_tail_service_masts_retract_after_t0(shuttle):
    res = pg.simulate(shuttle, travel_u=np.zeros((len(shuttle.step_at), 1)))
    assert res.outcome == "launched_on_time" and res.hazards == [] and res.abort_t_s is None
    assert res.ignition_t_s * S_ == NOMINAL_T0
    assert shuttle.pnr == shuttle.engine_start == -6600  # engine start is the point of no return
    ign = events(res, "ignition")[0]
    assert (ign.t, ign.tc) == (NOMINAL_T0, 0)
    tsm = next(e for e in events(res, "command") if "tsm" in e.text)
    assert (tsm.t, tsm.tc) == (NOMINAL_T0 + 1000, 1000)  # T+1s, issued after liftoff
    arrive = next(e for e in events(res, "arrive") if "tsm" in e.text)
    done = events(res, "sequence_done")[0]
    assert arrive.t == done.t == NOMINAL_T0 + 2000  # minimum travel (u = 0): 1 s
    assert int(res.state[shuttle.MODE, 0]) == Mode.LAUNCHED
    assert not any(e.data.get("safing") for e in res.events)  # no abort, no safing


def test_a_violation_at_engine_start_is_a_cutoff_the_engines_do_not_start(shuttle):
    res = pg.simulate(shuttle, faults=["tsm:early_release@T-6.6s"])
    cut = events(res, "cutoff")
    assert cut and cut[0].t == NOMINAL_T0 - 6600 and cut[0].data["criterion"] == "rsls_cutoff"
    # the engine start step is never issued, there is no abort and no safing
    assert not [e for e in res.events if e.text == "SSME ignition"]
    assert not events(res, "abort") and res.abort_t_s is None
    assert res.outcome == "scrubbed"  # the masts stay demated: every recycle is cut off again


def test_a_violation_after_engine_start_aborts_and_the_safing_sequence_runs(shuttle):
    u = np.zeros((len(shuttle.step_at), 1))  # every travel at its declared minimum
    res = pg.simulate(shuttle, faults=["gox_arm:swings_back@T-3s"], travel_u=u)
    abort_t = NOMINAL_T0 - 3000
    ab = events(res, "abort")
    assert len(ab) == 1 and "engine_start_lcc" in ab[0].text and "Safing sequence starts" in ab[0].text
    assert (ab[0].t, ab[0].tc) == (abort_t, -3000) and res.abort_t_s * S_ == abort_t
    saf = [(e.t - abort_t, e.kind, e.text) for e in res.events if e.data.get("safing")]
    assert saf == [
        (0, "milestone", "safing: SSME shutdown (RSLS abort)"),
        (0, "milestone", "safing: GLS safing functions"),
        (10_000, "command", "command: safing: move gox_arm to extended"),  # already there
        (30_000, "command", "command: safing: move access_arm to extended"),
        (120_000, "command", "command: safing: occupy white_room"),
    ]
    arr = [(e.t - abort_t, e.text) for e in events(res, "arrive")
           if e.t > abort_t]
    assert arr == [(60_000, "access_arm reached extended")]  # 30 s + its 30 s minimum travel
    safed = events(res, "safed")
    assert len(safed) == 1 and safed[0].t == abort_t + 120_000
    assert res.outcome == "aborted" and res.ignition_t_s is None
    assert res.hazards == [] and res.personnel_hazards == []
    # the count clock stopped at the abort; the safing ran on the abort's clock
    assert {e.tc for e in res.events if e.t >= abort_t} == {-3000}


def test_an_operator_abort_before_engine_start_also_safes(shuttle):
    res = pg.simulate(shuttle, actions=["abort@T-5m"], travel_u=np.zeros((len(shuttle.step_at), 1)))
    t_abort = NOMINAL_T0 - 300_000
    assert res.outcome == "aborted" and res.abort_t_s * S_ == t_abort
    assert events(res, "safed")[0].t == t_abort + 120_000


def test_after_liftoff_nothing_stops(shuttle):
    res = pg.simulate(shuttle, faults=["gox_arm:swings_back@T+0.5s"], actions=["abort@T+0.5s", "hold@T+0.5s"])
    assert res.outcome == "launched_on_time" and not events(res, "abort")
    assert len(events(res, "refused")) == 2  # no operator command acts after liftoff
    assert any("tsm" in e.text for e in events(res, "command"))
    # a jammed mast after liftoff: the command is ignored, visibly, and nothing stops
    res = pg.simulate(shuttle, faults=["tsm:jammed@T-1m"])
    assert res.outcome == "launched_on_time"
    assert any(e.data.get("ignored") for e in events(res, "command"))


def test_the_risk_engine_runs_the_safing_sequence(shuttle):
    law = risk.trial_law(shuttle, given=["gox_arm:swings_back"])
    trials = risk.draw(shuttle, law, np.random.default_rng(7), 20_000)
    S = risk.run(shuttle, trials)
    out = semantics.outcome_codes(shuttle, S)
    aborted = out == semantics.OUTCOMES.index("aborted")
    # onsets are uniform over the 70 min count: the 6.6 s after engine start abort (~0.16 %)
    assert 5 <= aborted.sum() <= 100
    assert (S[shuttle.MODE, aborted] == Mode.ABORTED).all()
    assert (S[shuttle.SSTEP, aborted] == shuttle.cut0).all()  # every (abort) safing step issued
    # and each ended when the last safing step (the white room at +2 min) was issued
    assert (S[shuttle.T, aborted] - S[shuttle.SEQ_T, aborted] == 120_000).all()
    k = int(np.flatnonzero(aborted)[0])  # replays exactly in the simulator
    sc = risk.trial_scenario(shuttle, trials, k)
    res = pg.simulate(shuttle, faults=sc["faults"], travel_u=sc["travel_u"])
    assert res.outcome == "aborted" and int(res.state[shuttle.T, 0]) == int(S[shuttle.T, k])
    assert (out != semantics.OUTCOMES.index("unfinished")).all()


def test_verify_checks_the_safing_sequence(tmp_path):
    r = verify(pg.compile_model(pg.load("shuttle39a", "crewed"), resolution_ms=1000), max_faults=1)
    assert r.claim == "no_violation_found"  # a search on a 1 s grid, not a proof
    # a rescue crew sent in while the arm may still be moving (30 s + up to 60 s of travel)
    d = tmp_path / "shuttle"
    shutil.copytree(Path(pg.__file__).parent / "sites" / "shuttle39a", d)
    proc = (d / "crewed.yaml").read_text().replace("{after: 2m, occupy: white_room",
                                                   "{after: 1m, occupy: white_room")
    (d / "crewed.yaml").write_text(proc)
    r = verify(pg.compile_model(pg.load(d, "crewed"), resolution_ms=1000), max_faults=1)
    assert r.verdict == "violated" and r.violation.prop == "personnel"
    assert r.violation.detail == "white_room"


def test_promela_exports_safing_and_steps_after_t0(shuttle):
    """The export generates the SAFING and FLIGHT modes and the safing sequences (SPIN agrees
    with the verifier on this model property by property: tests/test_promela.py)."""
    text = export(shuttle, 1)
    assert "SEQ_T" in text and "SSTEP" in text
    assert f"#define PG_RUN (MODE == 0 || MODE == 2 || MODE == {int(Mode.FLIGHT)})" in text  # the clock runs in flight
    assert f"MODE = (MODE == {int(Mode.SAFING)} -> {int(Mode.ABORTED)} : {int(Mode.LAUNCHED)})" in text  # their end
    too_long = pg.compile_model(pg.load("shuttle39a", "crewed"))
    too_long.window_close = 2**40  # what the export still refuses says why
    with pytest.raises(PromelaError, match="32-bit"):
        export(too_long, 1)


def test_table_variants_route_aborts_into_safing_and_ignition_into_flight():
    assert next_table(False, False) is not NEXT and (next_table(False, False) == NEXT).all()
    t = next_table(True, False)
    for m, trig in ((Mode.TERMINAL, Trigger.AUTO_HOLD), (Mode.TERMINAL, Trigger.OPERATOR_HOLD),
                    (Mode.COUNTING, Trigger.OPERATOR_ABORT), (Mode.HOLDING, Trigger.OPERATOR_ABORT)):
        assert NEXT[m, trig] == Mode.ABORTED and t[m, trig] == Mode.SAFING
    assert t[Mode.SAFING, Trigger.SEQUENCE_DONE] == Mode.ABORTED
    assert (t[Mode.TERMINAL, Trigger.IGNITION], t[Mode.COUNTING, Trigger.IGNITION]) == (Mode.LAUNCHED,) * 2
    f = next_table(False, True)
    assert (f[Mode.TERMINAL, Trigger.IGNITION], f[Mode.COUNTING, Trigger.IGNITION]) == (Mode.FLIGHT,) * 2
    assert f[Mode.FLIGHT, Trigger.SEQUENCE_DONE] == Mode.LAUNCHED
    assert f[Mode.TERMINAL, Trigger.AUTO_HOLD] == Mode.ABORTED


# ---- the validator rejects nonsense, with file, line and field

ENGINE = "point_of_no_return: T-10s\n"
SAFING = """abort:
  plume_clear: 10s
  safing:
    - {after: 0s, milestone: engine shutdown}
    - {after: 5s, move: arm, to: extended}
    - {after: 5s, occupy: deck}
"""


def test_safing_moves_into_the_plume_zone_and_people_before_it_clears_are_rejected(tmp_path):
    proc = TINY_PROC.replace(ENGINE, "point_of_no_return: T-10s\nengine_start: T-5s\n") + SAFING
    into, people = problems_for(tmp_path, proc=proc)
    assert_problem(into, "guarded.yaml", proc, "{after: 5s, move: arm", "abort.safing[1].to",
                   "moves it into the plume zone before it clears (10 s; safe positions: retracted)")
    assert_problem(people, "guarded.yaml", proc, "{after: 5s, occupy", "abort.safing[2].occupy",
                   "before the plume clears")
    ok = proc.replace("after: 5s", "after: 20s")
    assert pg.compile_model(_load(tmp_path, ok)).has_safing


def _load(tmp_path, proc):
    from .conftest import TINY_FAULTS, TINY_SITE

    d = tmp_path / "ok"
    d.mkdir(exist_ok=True)
    (d / "site.yaml").write_text(TINY_SITE)
    (d / "guarded.yaml").write_text(proc)
    (d / "faults.yaml").write_text(TINY_FAULTS)
    return pg.load(d, "guarded")


def test_steps_after_t0_that_need_the_vehicle_on_the_pad_are_rejected(tmp_path):
    steps = ("  - {at: T+2s, move: arm, to: extended}\n"
             "  - {at: T+3s, milestone: x, requires: [{sensor: arm_pos, is: retracted}]}\n"
             "  - {at: T+4s, occupy: deck}\n"
             "holds:")
    proc = TINY_PROC.replace("holds:", steps, 1)
    plume, pre, people = problems_for(tmp_path, proc=proc)
    assert_problem(plume, "guarded.yaml", proc, "{at: T+2s", "steps[3].to",
                   "moves it into the plume zone (after liftoff the vehicle has left the pad")
    assert_problem(pre, "guarded.yaml", proc, "{at: T+3s", "steps[4].requires",
                   "after liftoff nothing can hold the count")
    assert_problem(people, "guarded.yaml", proc, "{at: T+4s", "steps[5].occupy", "under the lifting-off vehicle")


def test_engine_start_rules(tmp_path):
    # a move into the plume zone while the engines run; a point of no return after engine start
    proc = TINY_PROC.replace(ENGINE, "point_of_no_return: T-3s\nengine_start: T-5s\n").replace(
        "holds:", "  - {at: T-4s, move: arm, to: extended}\nholds:", 1)
    pnr, plume = problems_for(tmp_path, proc=proc)
    assert_problem(pnr, "guarded.yaml", proc, "point_of_no_return", "point_of_no_return",
                   "lies after main-engine start (T-00:00:05)")
    assert_problem(plume, "guarded.yaml", proc, "{at: T-4s", "steps[3].to",
                   "the engines run on the pad from engine start")
    proc = TINY_PROC.replace(ENGINE, "engine_start: T+5s\n")
    (late,) = problems_for(tmp_path, proc=proc)
    assert_problem(late, "guarded.yaml", proc, "engine_start", "engine_start", "no later than ignition")
    # a criterion after T-0 can stop nothing
    proc = TINY_PROC.replace("applies: {from: T-60s, until: T-0}", "applies: {from: T-60s, until: T+5s}")
    (crit,) = problems_for(tmp_path, proc=proc)
    assert_problem(crit, "guarded.yaml", proc, "until: T+5s", "criteria[0].applies", "after liftoff nothing stops")


def test_engine_start_defaults_the_point_of_no_return(tmp_path):
    plan = pg.compile_model(_load(tmp_path, TINY_PROC.replace(ENGINE, "engine_start: T-5s\n")))
    assert plan.pnr == plan.engine_start == -5000


def test_the_live_sequencer_runs_the_safing_sequence_on_the_pad_twin(shuttle):
    from .test_live_sequencer import dry

    v = dry(shuttle, ["gox_arm:swings_back@+69m57s"])  # T-3 s, after main-engine start
    v.run()
    assert v.seq.status()["outcome"] == "aborted" and v.twin.hazards() == []
    abort_t = NOMINAL_T0 - 3000
    cmds = [(e.t - abort_t, e.data["target"], e.data["value"]) for e in v.events
            if e.kind == "command" and e.t >= abort_t]
    assert cmds == [(10_000, "gox_arm", "extended"), (30_000, "access_arm", "extended"),
                    (120_000, "white_room", "occupied")]
    assert [e.kind for e in v.events][-1] == "safed"


def test_simulate_json_of_an_abort_matches_its_schema():
    import json

    import jsonschema
    from typer.testing import CliRunner

    from padguard.cli import app
    from padguard.output_schema import SCHEMAS

    r = CliRunner().invoke(app, ["simulate", "shuttle39a", "crewed", "--json", "--fault", "gox_arm:swings_back@T-3s"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    jsonschema.validate(data, SCHEMAS["simulate"])
    assert data["outcome"] == "aborted" and data["abort_t_s"] == (NOMINAL_T0 - 3000) / 1000
    assert data["events"][-2]["kind"] == "safed"
    assert [e["text"] for e in data["events"] if e.get("data", {}).get("safing")][0] == \
        "safing: SSME shutdown (RSLS abort)"


def test_padguard_verify_on_the_shipped_example(tmp_path):
    import json

    from typer.testing import CliRunner

    from padguard.cli import app

    r = CliRunner().invoke(app, ["verify", "shuttle39a", "crewed", "-k", "1", "--resolution", "1s", "--json",
                                 "--out", str(tmp_path / "cx.json")])
    assert r.exit_code == 3, r.output  # a search at a coarse grid that found nothing: not a proof
    data = json.loads(r.output)
    assert data["verdict"] == "no_violation_found" and data["exact"] is False
    assert data["stats"]["states"] > 0


def test_simulator_and_risk_engine_agree_trial_by_trial_around_engine_start(shuttle):
    """Faults striking from T-15 s to T+3 s (holds, cutoffs, RSLS aborts with safing, faults
    after liftoff): each risk trial, replayed in the simulator, ends in the same final state."""
    law = risk.trial_law(shuttle, probs={f: 0.3 for f in shuttle.faults})
    rng = np.random.default_rng(5)
    trials = risk.draw(shuttle, law, rng, 120)
    t0 = NOMINAL_T0 // S_
    trials.onset[:] = np.where(trials.occ, rng.integers(t0 - 15, t0 + 3, size=trials.onset.shape) * S_, 0)
    S = risk.run(shuttle, trials)
    out = semantics.outcome_codes(shuttle, S)
    assert {"aborted", "launched_on_time", "scrubbed"} <= {semantics.OUTCOMES[o] for o in out}
    for k in range(trials.n):
        sc = risk.trial_scenario(shuttle, trials, k)
        res = pg.simulate(shuttle, faults=sc["faults"], travel_u=sc["travel_u"])
        assert res.outcome == semantics.OUTCOMES[out[k]], (k, sc["faults"])
        assert (res.state[:, 0] == S[:, k]).all(), (k, sc["faults"])


def test_a_cutoff_runs_its_own_safing_sequence_while_the_recycled_count_holds(shuttle):
    u = np.zeros((len(shuttle.step_at), 1))
    res = pg.simulate(shuttle, faults=["gox_arm:swings_back@T-20s"], travel_u=u)
    cut_t = NOMINAL_T0 - 20_000
    cut = events(res, "cutoff")
    assert len(cut) == 1 and cut[0].t == cut_t
    saf = [(e.t - cut_t, e.tc, e.text) for e in res.events if e.data.get("safing")]
    # on the cutoff's clock, while the count holds at T-20 min (count clock stopped there)
    assert saf == [(0, -1_200_000, "cutoff safing: GLS recycle safing"),
                   (10_000, -1_200_000, "command: cutoff safing: move gox_arm to extended"),
                   (30_000, -1_200_000, "command: cutoff safing: move access_arm to extended")]
    assert [(e.t - cut_t, e.text) for e in events(res, "arrive") if cut_t <= e.t < cut_t + 600_000] == \
        [(60_000, "access_arm reached extended")]
    # the recycled count retracts both arms again and launches, with no abort
    assert res.outcome == "launched_after_holds" and res.abort_t_s is None and res.hazards == []
    assert int(res.state[shuttle.SSTEP, 0]) == len(shuttle.step_at)  # the cutoff sequence ran out


def test_a_cutoff_safing_sequence_needs_a_cutoff_criterion(tmp_path):
    proc = TINY_PROC + "cutoff:\n  safing:\n    - {after: 0s, milestone: recycle safing}\n"
    (p,) = problems_for(tmp_path, proc=proc)
    assert_problem(p, "guarded.yaml", proc, "cutoff:", "cutoff", "needs a cutoff criterion")
