"""End to end through the installed `padguard` command: outputs, exit codes, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import TINY_PROC

EXE = shutil.which("padguard")


def run(*args: str, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    cmd = [EXE, *args] if EXE else [sys.executable, "-m", "padguard.cli", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env={"COLUMNS": "200", "PATH": "/usr/bin:/bin:" + str(Path(sys.executable).parent)})
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr
    if check_rc is not None:
        assert p.returncode == check_rc, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p


def test_entry_point_is_installed():
    assert EXE is not None, "the padguard console script is not on PATH (pip install -e .)"


def test_demo_shows_three_outcomes_and_why():
    out = run("demo").stdout
    assert "PAD DAMAGED" in out and "cabin.stopper unlocked" in out
    # the stopper's travel watchdog holds first (T-54m20s), before cabin_stowed_locked applies at T-50m
    assert "AUTOMATIC HOLD: criterion watchdog_cabin_stopper_engaged is VIOLATED" in out
    assert "stopper_a=disengaged" in out and "Clears when" in out
    assert "LAUNCHED AFTER HOLDS" in out
    # the legacy part must show the ignored stopper command, the cause a newcomer needs to see
    assert "move cabin.stopper to engaged -- IGNORED" in out


def test_simulate_json_is_machine_readable():
    p = run("simulate", "site31", "legacy", "--fault", "cabin.stopper:not_installed@T-1h", "--json")
    data = json.loads(p.stdout)
    assert data["outcome"] == "pad_damaged"
    assert data["hazards"] == ["cabin.stopper unlocked"]
    assert data["events"][0]["kind"] == "start" and data["events"][-1]["kind"] == "outcome"


def test_simulate_timeline_text():
    out = run("simulate", "site31", "guarded", "--seed", "3").stdout
    assert "IGNITION, pad clear" in out and "LAUNCHED ON TIME" in out


def test_simulate_with_actions_recovers():
    p = run("simulate", "site31", "guarded", "-f", "cabin.stopper:not_installed@T-1h",
            "-a", "clear:cabin.stopper@+20m", "-a", "recycle:stopper@+22m", "--json")
    assert json.loads(p.stdout)["outcome"] == "launched_after_holds"


def test_replay_file(tmp_path):
    sc = tmp_path / "sc.json"
    sc.write_text(json.dumps({"faults": ["cabin.stopper:not_installed@T-1h"], "seed": 1}))
    p = run("simulate", "site31", "legacy", "--replay", str(sc), "--json")
    assert json.loads(p.stdout)["outcome"] == "pad_damaged"


@pytest.mark.parametrize("args,needle", [
    (("simulate", "site31", "guarded", "-f", "cabin.stopper:bogus"), "unknown fault"),
    (("simulate", "site31", "nope"), "no such procedure"),
    (("simulate", "marsbase", "guarded"), "no such site"),
    (("simulate", "site31", "guarded", "-a", "recycle:nowhere@+1m"), "unknown recycle point"),
])
def test_bad_scenarios_exit_nonzero_with_message(args, needle):
    p = run(*args, check_rc=None)
    assert p.returncode != 0
    assert needle in (p.stderr + p.stdout).replace("\n", " ")


def test_check_good_and_bad_files(tiny_dir, tmp_path):
    run("check", str(tiny_dir / "site.yaml"), str(tiny_dir / "guarded.yaml"), str(tiny_dir / "faults.yaml"))
    bad = tiny_dir / "bad.yaml"
    bad.write_text(TINY_PROC.replace("{sensor: arm_pos, is: retracted}", "{sensor: arm_poss, is: retracted}"))
    p = run("check", str(bad), check_rc=2)
    err = p.stderr.replace("\n", " ")
    assert "bad.yaml:" in err and "criteria[0].all[0].sensor" in err and "arm_poss" in err
    mal = tmp_path / "mal.yaml"
    mal.write_text("site: x\nequipment: [\n")
    p = run("check", str(mal), check_rc=2)
    assert "malformed YAML" in p.stderr


def test_simulate_refuses_invalid_model(tiny_dir):
    (tiny_dir / "guarded.yaml").write_text(TINY_PROC.replace("start: T-120s", "start: T+10s"))
    p = run("simulate", str(tiny_dir), "guarded", check_rc=2)
    assert "start before ignition" in p.stderr.replace("\n", " ")


def test_schema_export(tmp_path):
    out = tmp_path / "s.json"
    run("schema", "procedure", "--out", str(out))
    schema = json.loads(out.read_text())
    assert "criteria" in schema["properties"]
    p = run("schema", "bogus", check_rc=2)
    assert "unknown kind" in p.stderr


def test_bad_replay_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"faults": 5}')
    p = run("simulate", "site31", "guarded", "--replay", str(bad), check_rc=2)
    assert "[faults]" in p.stderr and "valid list" in p.stderr
    bad.write_text("not json")
    p = run("simulate", "site31", "guarded", "--replay", str(bad), check_rc=2)
    assert "cannot read scenario file" in p.stderr.replace("\n", " ")
