"""``padguard check`` and ``padguard schema``: model files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from padguard.cli.common import check_output, console, err, fail_model
from padguard.model.errors import ModelError
from padguard.model.loader import check_files


def check(files: Annotated[list[Path], typer.Argument(help="site, procedure and fault YAML files")]) -> None:
    """Validate model files; every problem is reported with file, line and field."""
    problems = check_files([str(f) for f in files])
    if problems:
        fail_model(ModelError(problems))
    console.print(f"[green]OK[/]: {len(files)} file{'s' * (len(files) != 1)} valid")


def schema(kind: Annotated[str, typer.Argument(help="site | procedure | faults")] = "site",
           out: Annotated[Path | None, typer.Option(help="write to this file")] = None) -> None:
    """Print the JSON Schema of a model file kind (for editors)."""
    from padguard.model.schema import Faults, Procedure, Site

    check_output(out, "--out")
    cls = {"site": Site, "procedure": Procedure, "faults": Faults}.get(kind)
    if cls is None:
        err.print(f"unknown kind '{kind}': expected site, procedure or faults")
        raise typer.Exit(2)
    text = json.dumps(cls.model_json_schema(by_alias=True), indent=2)
    if out:
        out.write_text(text)
        console.print(f"wrote {out}")
    else:
        print(text)


def register(app: typer.Typer) -> None:
    """Add ``check`` and ``schema``."""
    app.command()(check)
    app.command()(schema)
