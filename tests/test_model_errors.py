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


def assert_problem(p, file: str, text: str, needle: str | int, field: str, *message: str) -> None:
    """All four parts a person needs: the file, the line (of ``needle`` in ``text``, or that line
    number), the field and what is wrong."""
    assert Path(p.file).name == file, p
    assert p.line == (needle if isinstance(needle, int) else line_of(text, needle)), p
    assert p.field == field, p
    for m in message:
        assert m in p.message, p


def test_valid_tiny_model_loads(tiny_dir):
    model = pg.load(tiny_dir, "guarded")
    assert model.site.site == "tiny"


def test_malformed_yaml_names_line(tmp_path):
    bad = TINY_SITE.replace("    kind: arm\n", "    kind: [arm\n")
    probs = problems_for(tmp_path, site=bad)
    assert len(probs) == 1
    # (YAML's parser notices the unclosed '[' on the next line, and says so)
    assert_problem(probs[0], "site.yaml", bad, "positions: [extended, retracted]", "", "malformed YAML")


def test_unknown_field_is_an_error_with_line(tmp_path):
    bad = TINY_SITE.replace("    kind: arm\n", "    kind: arm\n    colour: red\n")
    (p,) = problems_for(tmp_path, site=bad)
    assert_problem(p, "site.yaml", bad, "colour: red", "equipment[0].colour", "unknown field 'colour'")


def test_misspelled_field_is_one_problem_with_a_suggestion(tmp_path):
    bad = TINY_SITE.replace("    initial: extended\n", "    intial: extended\n", 1)
    (p,) = problems_for(tmp_path, site=bad)  # not also "initial: required field is missing"
    assert_problem(p, "site.yaml", bad, "intial: extended", "equipment[0].intial",
                   "unknown field 'intial'", "did you mean 'initial'?")
    bad = TINY_SITE.replace("period: 1s, stale_after: 3}\n  - {name: latch_a", "perod: 1s, stale_after: 3}\n  - {name: latch_a")
    (p,) = problems_for(tmp_path, site=bad)
    assert_problem(p, "site.yaml", bad, "perod", "sensors[0].perod", "did you mean 'period'?")


def test_wrong_type(tmp_path):
    bad = TINY_SITE.replace("vote: 2}", "vote: two}")
    (p,) = problems_for(tmp_path, site=bad)
    assert_problem(p, "site.yaml", bad, "vote: two", "groups[0].vote", "valid integer", "'two'")
    bad = TINY_SITE.replace("{name: arm_pos, observes: arm, period: 1s, stale_after: 3}",
                            "{name: arm_pos, observes: arm, period: 1s, stale_after: many}")
    (p,) = problems_for(tmp_path, site=bad)
    assert_problem(p, "site.yaml", bad, "stale_after: many", "sensors[0].stale_after", "valid number", "'many'")


def test_broken_faults_file_causes_no_knock_on_error_in_the_site(tmp_path):
    import shutil

    from padguard.model.loader import sites_dir

    d = tmp_path / "s31"
    shutil.copytree(sites_dir() / "site31", d)
    broken = (d / "faults.yaml").read_text() + "  - [\n"
    (d / "faults.yaml").write_text(broken)
    probs = check_files([f for f in sorted(d.glob("*.yaml")) if "map" not in f.name])
    assert len(probs) == 1 and Path(probs[0].file).name == "faults.yaml", probs
    assert "malformed YAML" in probs[0].message


def test_wrong_type_and_missing_field(tmp_path):
    bad = TINY_SITE.replace("positions: [extended, retracted]\n    initial: extended\n",
                            "positions: [extended, retracted]\n")
    (p,) = problems_for(tmp_path, site=bad)
    # a missing field is reported at its parent mapping (the field has no line of its own)
    assert_problem(p, "site.yaml", bad, "- name: arm", "equipment[0].initial", "required field is missing")


def test_duplicate_names(tmp_path):
    bad = TINY_SITE.replace("  - {name: latch_b, observes", "  - {name: latch_a, observes")
    probs = problems_for(tmp_path, site=bad)
    second = [i for i, line in enumerate(bad.splitlines(), 1) if "{name: latch_a, observes" in line][1]
    assert_problem(probs[0], "site.yaml", bad, second, "sensors[2].name", "duplicate sensor name 'latch_a'")


def test_duplicate_yaml_key(tmp_path):
    bad = TINY_SITE.replace("    kind: arm\n", "    kind: arm\n    kind: mast\n")
    (p,) = problems_for(tmp_path, site=bad)
    assert_problem(p, "site.yaml", bad, "kind: mast", "equipment[0].kind", "duplicate key 'kind'")


def test_unknown_reference_with_suggestion(tmp_path):
    bad = TINY_SITE.replace("observes: arm, period", "observes: amr, period")
    (p,) = problems_for(tmp_path, site=bad)
    assert_problem(p, "site.yaml", bad, "observes: amr", "sensors[0].observes", "unknown equipment 'amr'",
                   "did you mean 'arm'")


def test_impossible_travel_time(tmp_path):
    bad = TINY_SITE.replace("min: 5s, max: 10s, source: test}\n      - {from: retracted",
                            "min: 15s, max: 10s, source: test}\n      - {from: retracted")
    (p,) = problems_for(tmp_path, site=bad)
    assert_problem(p, "site.yaml", bad, "min: 15s", "equipment[0].travel[0].max", "impossible travel time",
                   "max (10s) is less than min (15s)")


def test_bad_duration_unit(tmp_path):
    bad = TINY_SITE.replace("min: 5s, max: 10s", "min: 5 parsecs, max: 10s", 1)
    (p,) = problems_for(tmp_path, site=bad)
    assert_problem(p, "site.yaml", bad, "5 parsecs", "equipment[0].travel[0].min", "'5 parsecs' is not a duration")


def test_unreachable_position(tmp_path):
    bad = TINY_SITE.replace("positions: [extended, retracted]", "positions: [extended, retracted, parked]")
    (p,) = problems_for(tmp_path, site=bad)
    assert_problem(p, "site.yaml", bad, "parked", "equipment[0].positions", "position 'parked' of 'arm' is unreachable")


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
    assert_problem(p, "guarded.yaml", bad, "arm_position", "criteria[0].all[0].sensor", "undefined sensor 'arm_position'")


def test_criterion_value_outside_domain(tmp_path):
    bad = TINY_PROC.replace("{group: latch, is: latched}", "{group: latch, is: locked}")
    (p,) = problems_for(tmp_path, proc=bad)
    assert_problem(p, "guarded.yaml", bad, "is: locked", "criteria[0].all[1].is", "'locked' is not a value",
                   "open, latched, misaligned")


def test_step_outside_count_and_out_of_order(tmp_path):
    bad = TINY_PROC.replace("  - {at: T-80s, move: arm.latch", "  - {at: T-130s, move: arm.latch")
    outside, order = problems_for(tmp_path, proc=bad)
    assert_problem(outside, "guarded.yaml", bad, "T-130s", "steps[2].at", "outside the count")
    assert_problem(order, "guarded.yaml", bad, "T-130s", "steps[2].at", "time order")


def test_impossible_criterion_window(tmp_path):
    bad = TINY_PROC.replace("applies: {from: T-60s, until: T-0}", "applies: {from: T-10s, until: T-60s}")
    (p,) = problems_for(tmp_path, proc=bad)
    assert_problem(p, "guarded.yaml", bad, "from: T-10s", "criteria[0].applies", "impossible window")


def test_unknown_recycle_point_in_auto(tmp_path):
    bad = TINY_PROC.replace("auto: {resume: true}", "auto: {resume: true, recycle_after: 1m, recycle_to: nowhere}")
    (p,) = problems_for(tmp_path, proc=bad)
    assert_problem(p, "guarded.yaml", bad, "recycle_to: nowhere", "auto.recycle_to", "unknown recycle point 'nowhere'",
                   "known: retract")


def test_fault_effect_kind_mismatch(tmp_path):
    bad = TINY_FAULTS.replace("{component: latch_a, mode: stuck, effect: stuck",
                              "{component: latch_a, mode: stuck, effect: jam")
    (p,) = problems_for(tmp_path, faults=bad)
    assert_problem(p, "faults.yaml", bad, "mode: stuck, effect: jam", "faults[4].effect", "'jam' is an equipment effect")


def test_probability_out_of_range(tmp_path):
    bad = TINY_FAULTS.replace("effect: jam, probability: 0.01}", "effect: jam, probability: 1.5}", 1)
    (p,) = problems_for(tmp_path, faults=bad)
    assert_problem(p, "faults.yaml", bad, "probability: 1.5", "faults[0].probability", "less than or equal to 1", "1.5")


def test_many_problems_reported_at_once(tmp_path):
    bad = TINY_SITE.replace("observes: arm, period", "observes: amr, period").replace(
        "{name: latch, sensors: [latch_a, latch_b], vote: 2}", "{name: latch, sensors: [latch_a, latch_b], vote: 3}")
    amr, vote = problems_for(tmp_path, site=bad)
    assert_problem(amr, "site.yaml", bad, "observes: amr", "sensors[0].observes", "unknown equipment 'amr'")
    assert_problem(vote, "site.yaml", bad, "vote: 3", "groups[0].vote", "3")


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
            if m.procedure.abort is not None:
                assert m.procedure.abort.source, f"{site}/{proc}: abort (plume_clear) has no source"
                for st in m.procedure.abort.safing:
                    assert st.source, f"{site}/{proc}: safing step after {st.after} has no source"
            if m.procedure.cutoff is not None:
                assert m.procedure.cutoff.source, f"{site}/{proc}: cutoff has no source"
                for st in m.procedure.cutoff.safing:
                    assert st.source, f"{site}/{proc}: cutoff safing step after {st.after} has no source"
            assert m.procedure.window.source, f"{site}/{proc}: window has no source"
