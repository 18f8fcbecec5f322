"""Shared fixtures: a tiny pad model written to a temp folder, and the shipped Site 31/6 plans."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# pytest-xdist's workers set COLUMNS=80, which would make the CLI wrap its output as if on an
# 80-column terminal; the tests read output as a pipe or a log sees it (one line per message).
os.environ.pop("COLUMNS", None)

import padguard as pg  # noqa: E402

TINY_SITE = """\
site: tiny
name: Tiny test pad
equipment:
  - name: arm
    kind: arm
    positions: [extended, retracted]
    initial: extended
    travel:
      - {from: extended, to: retracted, min: 5s, max: 10s, source: test}
      - {from: retracted, to: extended, min: 5s, max: 10s, source: test}
  - name: arm.latch
    kind: lock
    positions: [open, latched, misaligned]
    initial: open
    travel:
      - {from: open, to: latched, min: 2s, max: 2s, source: test}
      - {from: latched, to: open, min: 2s, max: 2s, source: test}
sensors:
  - {name: arm_pos, observes: arm, period: 1s, stale_after: 3}
  - {name: latch_a, observes: arm.latch, period: 1s, stale_after: 3}
  - {name: latch_b, observes: arm.latch, period: 1s, stale_after: 3}
groups:
  - {name: latch, sensors: [latch_a, latch_b], vote: 2}
plume_zone:
  - {equipment: arm, safe: [retracted], hazard: in_plume}
  - {equipment: arm.latch, safe: [latched], hazard: unlocked}
personnel_zones:
  - {name: deck, equipment: [arm], occupied: true}
"""

TINY_PROC = """\
procedure: guarded
site: tiny
start: T-120s
ignition: T-0
point_of_no_return: T-10s
window: {duration: 300s}
debounce: 0s
steps:
  - {at: T-110s, evacuate: deck}
  - {at: T-100s, move: arm, to: retracted}
  - {at: T-80s, move: arm.latch, to: latched}
holds:
  - {name: builtin, at: T-50s, duration: 20s}
recycle_points:
  - {name: retract, at: T-100s}
criteria:
  - name: arm_safe
    applies: {from: T-60s, until: T-0}
    all:
      - {sensor: arm_pos, is: retracted}
      - {group: latch, is: latched}
auto: {resume: true}
"""

TINY_LEGACY = TINY_PROC.replace("procedure: guarded", "procedure: legacy").split("criteria:")[0] + "auto: {resume: true}\n"

TINY_FAULTS = """\
site: tiny
faults:
  - {component: arm.latch, mode: jammed, effect: jam, probability: 0.01}
  - {component: arm.latch, mode: misaligned, effect: wrong_position, to: misaligned, probability: 0.01}
  - {component: arm.latch, mode: pops, effect: spontaneous, to: misaligned, probability: 0.01}
  - {component: arm, mode: jammed, effect: jam, probability: 0.01}
  - {component: latch_a, mode: stuck, effect: stuck, probability: 0.01}
  - {component: latch_a, mode: dropout, effect: dropout, probability: 0.01}
  - {component: latch_a, mode: wrong, effect: reads_wrong, value: latched, probability: 0.01}
  - {component: latch_b, mode: wrong, effect: reads_wrong, value: latched, probability: 0.01}
  - {component: latch_b, mode: dropout, effect: dropout, probability: 0.01}
"""


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    d.mkdir()
    (d / "site.yaml").write_text(TINY_SITE)
    (d / "guarded.yaml").write_text(TINY_PROC)
    (d / "legacy.yaml").write_text(TINY_LEGACY)
    (d / "faults.yaml").write_text(TINY_FAULTS)
    return d


@pytest.fixture(scope="session")
def _tiny_compiled(tmp_path_factory: pytest.TempPathFactory) -> pg.Plan:
    d = tmp_path_factory.mktemp("tiny-session") / "tiny"
    d.mkdir()
    for name, text in (("site.yaml", TINY_SITE), ("guarded.yaml", TINY_PROC), ("legacy.yaml", TINY_LEGACY),
                       ("faults.yaml", TINY_FAULTS)):
        (d / name).write_text(text)
    return pg.compile_model(pg.load(d, "guarded"))


@pytest.fixture
def tiny(_tiny_compiled: pg.Plan, tiny_dir: Path) -> pg.Plan:
    """The tiny model's Plan: compiled once per session, a private deep copy per test."""
    import copy

    return copy.deepcopy(_tiny_compiled)


@pytest.fixture(scope="session")
def site31_guarded() -> pg.Plan:
    return pg.compile_model(pg.load("site31", "guarded"))


@pytest.fixture(scope="session")
def site31_legacy() -> pg.Plan:
    return pg.compile_model(pg.load("site31", "legacy"))


@pytest.fixture(scope="session")
def slow_tower(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Site 31/6 guarded with tower half A taking up to 6m59s and no launch window: lowered
    from T-45m, the slowest tower is still moving when its criterion applies at T-38m, so the
    count holds and must scrub. The range 2m..6m59s is not a multiple of 5, 10 or 30 s."""
    import shutil

    import yaml

    src = Path(pg.__file__).parent / "sites" / "site31"
    d = tmp_path_factory.mktemp("slow_tower")
    site = yaml.safe_load((src / "site.yaml").read_text())
    for e in site["equipment"]:
        if e["name"] == "tower.half_a":
            e["travel"][0]["max"] = "6m59s"
    proc = yaml.safe_load((src / "guarded.yaml").read_text())
    proc["window"] = {"duration": 0, "source": "test"}
    (d / "site.yaml").write_text(yaml.safe_dump(site))
    (d / "guarded.yaml").write_text(yaml.safe_dump(proc))
    shutil.copy(src / "faults.yaml", d / "faults.yaml")
    return d / "site.yaml", d / "guarded.yaml"
