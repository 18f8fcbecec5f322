"""The published JSON Schemas describe what simulate, verify and risk really print."""

from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from padguard.cli import app
from padguard.engines import risk_campaign as rc
from padguard.output_schema import SCHEMAS


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_schemas_are_valid_and_printed(kind):
    jsonschema.Draft202012Validator.check_schema(SCHEMAS[kind])
    r = CliRunner().invoke(app, ["schema", kind])
    assert r.exit_code == 0 and json.loads(r.output) == SCHEMAS[kind]


def test_simulate_output_matches_its_schema():
    r = CliRunner().invoke(app, ["simulate", "site31", "guarded", "--json",
                                 "--fault", "cabin.stopper:not_installed@T-1h"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    jsonschema.validate(data, SCHEMAS["simulate"])
    bad = {**data, "outcome": "exploded"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMAS["simulate"])


def test_risk_output_matches_its_schema(tiny):
    data = rc.campaign([tiny], 2000, seed=1, method="crude").to_dict()
    jsonschema.validate(data, SCHEMAS["risk"])


def test_verify_output_matches_its_schema(tiny):
    from padguard.engines.verify import verify

    data = verify(tiny, max_faults=1).to_dict()
    jsonschema.validate(data, SCHEMAS["verify"])


def test_model_schema_types_durations_and_count_times_as_strings():
    r = CliRunner().invoke(app, ["schema", "procedure"])
    s = json.loads(r.output)
    assert any(a.get("type") == "string" for a in s["properties"]["start"]["anyOf"])
    jsonschema.validate({"procedure": "p", "site": "s", "start": "T-1h05m", "debounce": "2s"}, s)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"procedure": "p", "site": "s", "start": "an hour before"}, s)
