"""``padguard risk`` on the command line: report, JSON, plots, scale-out flags, bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from padguard.cli import app
from padguard.cli.risk import LazyProgress
from tests.test_risk_models import write_mini

runner = CliRunner()


def _json(args: list[str]) -> dict:
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_report_compares_procedures_on_the_same_trials():
    r = runner.invoke(app, ["risk", "site31", "guarded", "--vs", "legacy", "-n", "3000", "--seed", "5",
                            "--method", "crude"])
    assert r.exit_code == 0, r.output
    for text in ("guarded", "legacy", "pad damaged", "scrubbed", "95 % interval", "expected number of holds",
                 "Same trials, side by side", "fault modes driving pad damaged"):
        assert text in r.stdout


def test_json_has_everything_and_given_conditions(tmp_path):
    d = _json(["risk", "site31", "legacy", "-n", "2000", "--seed", "1", "--method", "crude",
               "--given", "cabin.stopper:not_installed"])
    pr = d["procedures"][0]
    assert d["given"] == ["cabin.stopper:not_installed"] and d["seed"] == 1
    assert pr["outcomes"]["pad_damaged"]["p"] > 0.97
    assert {"holds", "importance", "examples", "personnel_hazard_by_zone", "rare_events"} <= pr.keys()
    assert pr["importance"]["pad_damaged"]["table"][0]["fault"] == "cabin.stopper:not_installed"
    ex = pr["examples"]["pad_damaged"]
    assert any(f.startswith("cabin.stopper:not_installed@+") for f in ex["faults"])
    # the example replays in the simulator to the same outcome
    replay = tmp_path / "ex.json"
    replay.write_text(json.dumps({"faults": ex["faults"], "travel_u": ex["travel_u"]}))
    sim = runner.invoke(app, ["simulate", "site31", "legacy", "--replay", str(replay), "--json"])
    assert sim.exit_code == 0, sim.output
    assert json.loads(sim.stdout)["outcome"] == "pad_damaged"


def test_rare_damage_by_importance_sampling_from_the_cli(tmp_path):
    d = write_mini(tmp_path / "mini", 1e-3, 0.0, 1e-3, 1e-3)
    out = _json(["risk", str(d), "guarded", "-n", "5000", "--seed", "3", "--target-re", "0.05"])
    o = out["procedures"][0]["outcomes"]["pad_damaged"]
    assert o["method"] == "is" and abs(o["p"] - 1e-9) < 3 * o["se"]
    assert out["procedures"][0]["rare_events"]["pad_damaged"]["proposal"]


def test_workers_and_dask_cluster_print_identical_numbers(tmp_path):
    distributed = pytest.importorskip("distributed")
    d = str(write_mini(tmp_path / "mini", 0.02, 0.01, 0.05, 0.05))
    args = ["risk", d, "guarded", "-n", "70000", "--seed", "42", "--method", "crude"]
    local = _json(args)
    procs = _json([*args, "--workers", "2"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        dask = _json([*args, "--cluster", cluster.scheduler_address])
    assert dask["executor"].startswith("dask") and procs["executor"] == "2 local processes"
    for other in (procs, dask):
        for key in ("timing", "executor"):
            other.pop(key)
            local.pop(key, None)
        assert other == local


def test_plots_png_and_html(tmp_path):
    png, html = tmp_path / "r.png", tmp_path / "r.html"
    for f in (png, html):
        r = runner.invoke(app, ["risk", "site31", "guarded", "--vs", "legacy", "-n", "3000", "--seed", "2",
                                "--method", "crude", "--plot", str(f)])
        assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = html.read_text()
    assert "<img" in text and "data:image/png;base64," in text and "pad damaged" in text


@pytest.mark.parametrize("args, message", [
    (["risk", "site31", "guarded", "-n", "0"], "at least 1"),
    (["risk", "site31", "guarded", "--given", "cabin:exploded"], "unknown fault"),
    (["risk", "site31", "guarded", "--plot", "out.txt"], ".png"),
    (["risk", "site31", "guarded", "--workers", "0"], "at least 1"),
    (["risk", "site31", "guarded", "--target-re", "2"], "between 0 and 1"),
    (["risk", "site31", "guarded", "--rare", "launched_on_time", "-n", "10"], "rare event"),
    (["risk", "nowhere", "guarded"], ""),
    (["risk", "site31", "guarded", "--vs", "nosuch"], ""),
    (["risk", "site31", "guarded", "--method", "magic"], ""),
])
def test_bad_input_exits_2_without_traceback(args, message):
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert message in r.output


def test_progress_bar_only_after_a_second():
    from rich.console import Console

    now = [0.0]
    p = LazyProgress(Console(file=open("/dev/null", "w")), delay=1.0, clock=lambda: now[0])
    p("sampling", 10, 100)
    assert p.bar is None  # a short campaign shows no bar
    now[0] = 1.5
    p("sampling", 20, 100)
    assert p.bar is not None and p.bar.tasks[0].completed == 20
    p.close()
