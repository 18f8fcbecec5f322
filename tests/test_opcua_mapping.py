"""The OPC UA mapping file is validated like every model file: file, line, field, a hint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from padguard.cli import app
from padguard.links.mapping import default_map_path, load_linkmap
from padguard.model.errors import ModelError

SHIPPED = default_map_path("site31")


def problems(plan, tmp_path: Path, text: str, for_pad: bool = False) -> list:
    p = tmp_path / "opcua-map.yaml"
    p.write_text(text)
    with pytest.raises(ModelError) as ei:
        load_linkmap(plan, p, for_pad=for_pad)
    return ei.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def test_the_shipped_mapping_covers_the_guarded_count(site31_guarded):
    lm = load_linkmap(site31_guarded, SHIPPED)
    assert lm.watched == list(range(site31_guarded.S))
    s = site31_guarded.sensor_index("stopper_a")
    assert lm.decode(site31_guarded, s, "engaged") == site31_guarded.encode_sensor(s, "engaged")
    for bad in ("Engaged", 1, None, 2.5, True):
        assert lm.decode(site31_guarded, s, bad) == -2


def test_unknown_sensor_names_its_line_and_a_guess(site31_guarded, tmp_path):
    text = SHIPPED.read_text().replace("  stopper_b: {", "  stoper_b: {")
    ps = problems(site31_guarded, tmp_path, text)
    msgs = [str(p) for p in ps]
    assert any("unknown sensor 'stoper_b'; did you mean 'stopper_b'?" in m for m in msgs)
    assert any(p.line == line_of(text, "stoper_b") for p in ps)
    # ...and the count then lacks a sensor its criteria read
    assert any("criteria of this procedure read sensors with no node: stopper_b" in m for m in msgs)


def test_every_moved_equipment_needs_a_command_node(site31_guarded, tmp_path):
    data = yaml.safe_load(SHIPPED.read_text())
    del data["commands"]["cabin.stopper"]
    ps = problems(site31_guarded, tmp_path, yaml.safe_dump(data))
    assert any("no command node: cabin.stopper" in str(p) and p.field == "commands" for p in ps)
    p = tmp_path / "opcua-map.yaml"
    lm = load_linkmap(site31_guarded, p, for_pad=True)  # a pad only serves what it has
    assert "cabin.stopper" not in lm.mapping.commands


def test_shape_errors(site31_guarded, tmp_path):
    text = SHIPPED.read_text().replace('{node: "s=site31.sensors.shield_pos"}', '{node: "shield_pos", unit: mm}')
    ps = problems(site31_guarded, tmp_path, text)
    fields = {p.field for p in ps}
    assert "sensors.shield_pos.node" in fields and "sensors.shield_pos.unit" in fields
    assert all(p.line == line_of(text, "shield_pos: {node") for p in ps)


def test_values_table_and_duplicate_nodes(site31_guarded, tmp_path):
    text = SHIPPED.read_text().replace(
        '  stopper_a: {node: "s=site31.sensors.stopper_a"}',
        '  stopper_a: {node: "s=site31.sensors.stopper_a", values: {0: disengaged, 1: engaged, 2: loose}}').replace(
        '"s=site31.sensors.stopper_b"', '"s=site31.sensors.stopper_a"')
    ps = problems(site31_guarded, tmp_path, text)
    msgs = [str(p) for p in ps]
    assert any("'loose' is not a value of stopper_a" in m for m in msgs)
    assert any("already used at sensors.stopper_a.node" in m for m in msgs)


def test_numeric_plc_values_decode_through_the_table(site31_guarded, tmp_path):
    text = SHIPPED.read_text().replace(
        '  stopper_a: {node: "s=site31.sensors.stopper_a"}',
        '  stopper_a: {node: "s=site31.sensors.stopper_a", values: {0: disengaged, 1: engaged, 2: misaligned}}')
    p = tmp_path / "m.yaml"
    p.write_text(text)
    lm = load_linkmap(site31_guarded, p)
    s = site31_guarded.sensor_index("stopper_a")
    assert lm.decode(site31_guarded, s, 1) == site31_guarded.encode_sensor(s, "engaged")
    assert lm.decode(site31_guarded, s, 7) == -2 and lm.decode(site31_guarded, s, "engaged") == -2
    assert lm.encode(s, "misaligned") == 2


def test_padguard_check_validates_mapping_files(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["check", str(SHIPPED)])
    assert ok.exit_code == 0, ok.output
    d = tmp_path / "site31"
    shutil.copytree(SHIPPED.parent, d)
    bad = d / "opcua-map.yaml"
    text = bad.read_text().replace("  cabin.shield: {object", "  cabin.shild: {object")
    bad.write_text(text)
    res = runner.invoke(app, ["check", str(bad)])
    out = res.output.replace("\n", "")  # rich wraps long lines
    assert res.exit_code == 2
    assert f"opcua-map.yaml:{line_of(text, 'cabin.shild')}" in out
    assert "unknown equipment 'cabin.shild'; did you mean 'cabin.shield'?" in out
    assert "Traceback" not in out
