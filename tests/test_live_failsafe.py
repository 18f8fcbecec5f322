"""Fail safe under hostile or stale input (issue 9): each test fails on the code before the fix."""

from __future__ import annotations

import time

import pytest
import yaml

import padguard as pg
from padguard.links.mapping import default_map_path, load_linkmap
from padguard.links.twin import PadTwin, VirtualLink, pad_plan
from padguard.model.errors import ModelError
from padguard.model.yamlsrc import load_yaml
from padguard.sequencer.live import Rec, Sequencer
from padguard.sequencer.table import Mode

MIN = 60_000


def counting_at(tc: int) -> tuple[Sequencer, VirtualLink]:
    """A guarded count driven by the twin on the virtual clock up to count time ``tc``."""
    plan = pg.compile_model(pg.load("site31", "guarded"))
    twin = PadTwin(pad_plan(plan.model), travel_u=0.5)
    v = VirtualLink(Sequencer(plan), twin)
    while v.seq.tc < tc:
        v.run(until=twin.t + 1000)
    assert v.seq.mode == Mode.COUNTING
    return v.seq, v


def test_every_sample_of_a_batch_is_evaluated_a_transient_violation_holds():
    seq, v = counting_at(-45 * MIN)
    t = seq.t + 1
    ev = seq.apply([Rec("sample", t, "stopper_a", "misaligned", seq.plan.encode_sensor(seq._sidx["stopper_a"], "misaligned"), batch=1),
                    Rec("sample", t, "stopper_a", "engaged", seq.plan.encode_sensor(seq._sidx["stopper_a"], "engaged"), batch=1)])
    assert seq.mode == Mode.HOLDING, [e.text for e in ev]
    assert any(e.kind == "hold" and "cabin_stowed_locked" in e.text for e in ev)


def test_a_sample_that_is_not_fresh_never_refreshes_a_sensor():
    seq, v = counting_at(-45 * MIN)
    p = seq.plan
    s = seq._sidx["stopper_a"]
    limit = int(p.s_limit[s])
    t = seq.t + limit + 500  # stopper_a's last sample is older than its limit by now
    code = p.encode_sensor(s, "engaged")
    # a re-delivered (or hour-old) value is archived flagged stale: it does not count as a sample
    ev = seq.apply([Rec("sample", t, "stopper_a", "engaged", code, {"stale": "re-delivered"})])
    assert "stale:stopper_a" in seq.conditions and seq.mode == Mode.HOLDING, [e.text for e in ev]
    # a sample whose own timestamp is older than the limit does not clear it either
    seq.apply([Rec("sample", t + 10, "stopper_a", "engaged", code, {"st": t + 10 - limit - 100})])
    assert "stale:stopper_a" in seq.conditions
    seq.apply([Rec("sample", t + 20, "stopper_a", "engaged", code, {"st": t + 19})])
    assert "stale:stopper_a" not in seq.conditions


def test_a_restart_makes_every_watched_reading_unknown():
    seq, v = counting_at(-45 * MIN)
    p = seq.plan
    seq.apply([Rec("safety", seq.t, "restart", "runtime restarted")])
    assert seq.mode == Mode.HOLDING
    assert (seq.S[p.SVAL + seq.watched, 0] == -1).all()
    assert seq.status()["criteria"][0]["state"] == "UNKNOWN"


def test_an_integer_mapped_node_never_decodes_a_string(tmp_path):
    data = yaml.safe_load(default_map_path("site31").read_text())
    data["sensors"]["stopper_a"]["values"] = {0: "disengaged", 1: "engaged", 2: "misaligned"}
    f = tmp_path / "opcua-map.yaml"
    f.write_text(yaml.safe_dump(data))
    plan = pg.compile_model(pg.load("site31", "guarded"))
    lm = load_linkmap(plan, f)
    s = plan.sensor_index("stopper_a")
    assert lm.decode(plan, s, 1) == plan.encode_sensor(s, "engaged")
    assert lm.decode(plan, s, "1") == -2 and lm.decode(plan, s, True) == -2 and lm.decode(plan, s, 1.0) == -2
    s_b = plan.sensor_index("stopper_b")
    assert lm.decode(plan, s_b, "engaged") == plan.encode_sensor(s_b, "engaged")
    assert lm.decode(plan, s_b, 1) == -2


@pytest.mark.parametrize("field,value", [("request_timeout_s", ".inf"), ("link_timeout_s", ".inf"),
                                         ("publishing_interval_ms", ".nan"), ("request_timeout_s", "1e9")])
def test_infinite_or_absurd_link_timeouts_are_refused_with_a_line(tmp_path, field, value):
    text = default_map_path("site31").read_text()
    text = text.replace("link:\n", f"link:\n  {field}: {value}\n", 1)
    lines = text.splitlines()
    lines = [ln for i, ln in enumerate(lines) if not (ln.strip().startswith(field + ":") and
                                                      lines[i - 1].strip() != "link:")]
    f = tmp_path / "opcua-map.yaml"
    f.write_text("\n".join(lines) + "\n")
    plan = pg.compile_model(pg.load("site31", "guarded"))
    with pytest.raises(ModelError) as exc:
        load_linkmap(plan, f)
    msg = str(exc.value)
    assert f"link.{field}" in msg and "opcua-map.yaml:" in msg


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    f = tmp_path / "site.yaml"
    f.write_text("\n".join(lines) + "\n")
    t0 = time.monotonic()
    with pytest.raises(ModelError, match="expands to more than"):
        load_yaml(f)
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a\n  b: *a\n"])
def test_a_recursive_alias_is_a_clear_error(tmp_path, text):
    f = tmp_path / "site.yaml"
    f.write_text(text)
    with pytest.raises(ModelError, match="recursive alias") as exc:
        load_yaml(f)
    assert exc.value.problems[0].line is not None
