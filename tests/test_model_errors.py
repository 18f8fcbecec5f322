"""Every kind of bad input gives a problem naming file, line, field and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

import padguard as pg
from padguard.model.loader import check_files

from .conftest import TINY_FAULTS, TINY_PROC, TINY_SITE


def problems_for(tmp_path: Path, site: str = TINY_SITE, proc: str = TINY_PROC,
                 faults: str = TINY_FAULTS) -> list:
    d = tmp_path / "m"
    d.mkdir(exist_ok=True)
    (d / "site.yaml").write_text(site)
    (d / "guarded.yaml").write_text(proc)
    (d / "faults.yaml").write_text(faults)
    with pytest.raises(pg.ModelError) as exc:
        pg.load(d, "guarded")
    return exc.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_valid_tiny_model_loads(tiny_dir):
    model = pg.load(tiny_dir, "guarded")
    assert model.site.site == "tiny"


def test_malformed_yaml_names_line(tmp_path):
    bad = TINY_SITE.replace("    kind: arm\n", "    kind: [arm\n")
    probs = problems_for(tmp_path, site=bad)
    assert len(probs) == 1
    p = probs[0]
    assert p.file.endswith("site.yaml") and "malformed YAML" in p.message and p.line is not None


def test_unknown_field_is_an_error_with_line(tmp_path):
    bad = TINY_SITE.replace("    kind: arm\n", "    kind: arm\n    colour: red\n")
    (p,) = problems_for(tmp_path, site=bad)
    assert p.field == "equipment[0].colour"
    assert p.line == line_of(bad, "colour: red")
    assert "unknown field" in p.message


def test_wrong_type_and_missing_field(tmp_path):
    bad = TINY_SITE.replace("positions: [extended, retracted]\n    initial: extended\n",
                            "positions: [extended, retracted]\n")
    probs = problems_for(tmp_path, site=bad)
    assert any(p.field == "equipment[0].initial" and "missing" in p.message for p in probs)


def test_duplicate_names(tmp_path):
    bad = TINY_SITE.replace("  - {name: latch_b, observes", "  - {name: latch_a, observes")
    probs = problems_for(tmp_path, site=bad)
    assert any("duplicate sensor name 'latch_a'" in p.message and p.field == "sensors[2].name"
               for p in probs)


def test_duplicate_yaml_key(tmp_path):
    bad = TINY_SITE.replace("    kind: arm\n", "    kind: arm\n    kind: mast\n")
    (p,) = problems_for(tmp_path, site=bad)
    assert "duplicate key 'kind'" in p.message and p.line == line_of(bad, "kind: mast")


def test_unknown_reference_with_suggestion(tmp_path):
    bad = TINY_SITE.replace("observes: arm, period", "observes: amr, period")
    (p,) = problems_for(tmp_path, site=bad)
    assert p.field == "sensors[0].observes"
    assert "unknown equipment 'amr'" in p.message and "did you mean 'arm'" in p.message
    assert p.line == line_of(bad, "observes: amr")


def test_impossible_travel_time(tmp_path):
    bad = TINY_SITE.replace("min: 5s, max: 10s, source: test}\n      - {from: retracted",
                            "min: 15s, max: 10s, source: test}\n      - {from: retracted")
    (p,) = problems_for(tmp_path, site=bad)
    assert p.field == "equipment[0].travel[0].max" and "impossible travel time" in p.message


def test_bad_duration_unit(tmp_path):
    bad = TINY_SITE.replace("min: 5s, max: 10s", "min: 5 parsecs, max: 10s", 1)
    (p,) = problems_for(tmp_path, site=bad)
    assert p.field == "equipment[0].travel[0].min" and "not a duration" in p.message


def test_unreachable_position(tmp_path):
    bad = TINY_SITE.replace("positions: [extended, retracted]", "positions: [extended, retracted, parked]")
    (p,) = problems_for(tmp_path, site=bad)
    assert "'parked'" in p.message and "unreachable" in p.message


def test_misaligned_reachable_only_by_fault(tmp_path):
    no_faults = "site: tiny\nfaults: []\n"
    d = tmp_path / "m"
    d.mkdir()
    (d / "site.yaml").write_text(TINY_SITE)
    (d / "guarded.yaml").write_text(TINY_PROC)
    (d / "faults.yaml").write_text(no_faults)
    with pytest.raises(pg.ModelError, match="'misaligned' of 'arm.latch' is unreachable"):
        pg.load(d, "guarded")


def test_criterion_over_undefined_sensor(tmp_path):
    bad = TINY_PROC.replace("{sensor: arm_pos, is: retracted}", "{sensor: arm_position, is: retracted}")
    (p,) = problems_for(tmp_path, proc=bad)
    assert p.file.endswith("guarded.yaml")
    assert p.field == "criteria[0].all[0].sensor"
    assert "undefined sensor 'arm_position'" in p.message
    assert p.line == line_of(bad, "arm_position")


def test_criterion_value_outside_domain(tmp_path):
    bad = TINY_PROC.replace("{group: latch, is: latched}", "{group: latch, is: locked}")
    (p,) = problems_for(tmp_path, proc=bad)
    assert "'locked' is not a value" in p.message


def test_step_outside_count_and_out_of_order(tmp_path):
    bad = TINY_PROC.replace("  - {at: T-80s, move: arm.latch", "  - {at: T-130s, move: arm.latch")
    probs = problems_for(tmp_path, proc=bad)
    msgs = " | ".join(p.message for p in probs)
    assert "outside the count" in msgs and "time order" in msgs


def test_impossible_criterion_window(tmp_path):
    bad = TINY_PROC.replace("applies: {from: T-60s, until: T-0}", "applies: {from: T-10s, until: T-60s}")
    (p,) = problems_for(tmp_path, proc=bad)
    assert "impossible window" in p.message


def test_unknown_recycle_point_in_auto(tmp_path):
    bad = TINY_PROC.replace("auto: {resume: true}", "auto: {resume: true, recycle_after: 1m, recycle_to: nowhere}")
    (p,) = problems_for(tmp_path, proc=bad)
    assert p.field == "auto.recycle_to" and "unknown recycle point 'nowhere'" in p.message


def test_fault_effect_kind_mismatch(tmp_path):
    bad = TINY_FAULTS.replace("{component: latch_a, mode: stuck, effect: stuck",
                              "{component: latch_a, mode: stuck, effect: jam")
    (p,) = problems_for(tmp_path, faults=bad)
    assert p.file.endswith("faults.yaml") and "equipment effect" in p.message


def test_probability_out_of_range(tmp_path):
    bad = TINY_FAULTS.replace("effect: jam, probability: 0.01}", "effect: jam, probability: 1.5}", 1)
    (p,) = problems_for(tmp_path, faults=bad)
    assert p.field == "faults[0].probability"


def test_many_problems_reported_at_once(tmp_path):
    bad = TINY_SITE.replace("observes: arm, period", "observes: amr, period").replace(
        "{name: latch, sensors: [latch_a, latch_b], vote: 2}", "{name: latch, sensors: [latch_a, latch_b], vote: 3}")
    probs = problems_for(tmp_path, site=bad)
    assert len(probs) >= 2


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(pg.ModelError, match="no such site"):
        pg.load(tmp_path / "nope", "guarded")
    (tmp_path / "empty.yaml").write_text("")
    probs = check_files([tmp_path / "empty.yaml"])
    assert probs and "empty" in probs[0].message


def test_check_files_standalone_procedure_against_sibling_site(tiny_dir):
    assert check_files([tiny_dir / "site.yaml", tiny_dir / "guarded.yaml", tiny_dir / "faults.yaml"]) == []
    bad = tiny_dir / "bad.yaml"
    bad.write_text(TINY_PROC.replace("move: arm, to: retracted", "move: arm, to: folded"))
    probs = check_files([bad])
    assert probs and probs[0].file == str(bad) and "unknown position 'folded'" in probs[0].message


def test_shipped_models_are_valid():
    from padguard.model.loader import shipped_sites, sites_dir

    for site in shipped_sites():
        files = sorted((sites_dir() / site).glob("*.yaml"))
        model_files = [f for f in files if "map" not in f.name]
        assert check_files(model_files) == [], site


def test_every_number_in_shipped_models_has_a_source():
    """Travel times, sensor rates, votes, fault probabilities, steps: source or assumption."""
    from padguard.model.loader import shipped_sites

    for site in shipped_sites():
        for proc in ("guarded", "legacy") if site == "site31" else ("crewed",):
            m = pg.load(site, proc)
            for e in m.site.equipment:
                for t in e.travel:
                    assert t.source, f"{site}: travel {e.name} {t.from_}->{t.to} has no source"
            for s in m.site.sensors:
                assert s.source, f"{site}: sensor {s.name} has no source"
            for g in m.site.groups:
                assert g.source, f"{site}: group {g.name} has no source"
            for f in m.faults.faults:
                assert f.source, f"{site}: fault {f.component}:{f.mode} has no source"
            for st in m.procedure.steps:
                assert st.source, f"{site}/{proc}: step at {st.at} has no source"
            assert m.procedure.window.source, f"{site}/{proc}: window has no source"
