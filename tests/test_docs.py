"""Docs generated from code stay in sync with it."""

from __future__ import annotations

from pathlib import Path

from padguard.sequencer.table import table_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_architecture_doc_has_the_current_transition_table():
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("<!-- transition-table:begin -->")[1].split("<!-- transition-table:end -->")[0]
    assert block.strip() == table_markdown().strip(), "regenerate docs/architecture.md's table"


def test_models_doc_mentions_every_fault_effect_and_schema_field():
    from padguard.model.schema import FaultMode, Procedure, Site

    text = (ROOT / "docs" / "models.md").read_text()
    for eff in ("jam", "wrong_position", "spontaneous", "stuck", "dropout", "reads_wrong"):
        assert f"`{eff}`" in text, eff
    for cls in (Site, Procedure):
        for name, field in cls.model_fields.items():
            key = field.alias or name
            assert key in text, f"{cls.__name__}.{key} is not documented"
    assert "probability" in text and FaultMode
