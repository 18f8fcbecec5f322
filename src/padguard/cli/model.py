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


def schema(kind: Annotated[str, typer.Argument(help="site | procedure | faults (model files); simulate | verify | risk (--json outputs)")] = "site",
           out: Annotated[Path | None, typer.Option(help="write to this file")] = None) -> None:
    """Print the JSON Schema of a model file kind (for editors) or of a --json output."""
    from padguard.model.schema import Faults, Procedure, Site
    from padguard.output_schema import SCHEMAS

    check_output(out, "--out")
    cls = {"site": Site, "procedure": Procedure, "faults": Faults}.get(kind)
    if cls is None and kind not in SCHEMAS:
        err.print(f"unknown kind '{kind}': expected site, procedure, faults, simulate, verify or risk")
        raise typer.Exit(2)
    data = cls.model_json_schema(by_alias=True) if cls is not None else SCHEMAS[kind]
    text = json.dumps(data, indent=2)
    if out:
        out.write_text(text)
        console.print(f"wrote {out}")
    else:
        print(text)


def init(name: Annotated[str, typer.Argument(help="the new site's id and folder, e.g. mypad")],
         from_: Annotated[str, typer.Option("--from", help="shipped site to copy (site31, falcon9)")] = "site31",
         into: Annotated[Path, typer.Option(help="parent folder for the new site folder")] = Path("."),
         ) -> None:
    """Start your own pad from a shipped site: copy its files into NAME/ and rename the site."""
    import re

    from padguard.model.loader import shipped_sites, sites_dir

    if from_ not in shipped_sites():
        err.print(f"no shipped site '{from_}' (shipped: {', '.join(shipped_sites())})", markup=False)
        raise typer.Exit(2)
    if not re.fullmatch(r"[A-Za-z][\w-]*", name):
        err.print(f"'{name}' is not a site id: letters, digits, '_' or '-', starting with a letter", markup=False)
        raise typer.Exit(2)
    dest = into / name
    if dest.exists():
        err.print(f"{dest} already exists: choose another name or folder", markup=False)
        raise typer.Exit(2)
    if not into.is_dir():
        err.print(f"--into {into}: no such directory", markup=False)
        raise typer.Exit(2)
    dest.mkdir()
    for f in sorted((sites_dir() / from_).glob("*.yaml")):
        text = f.read_text(encoding="utf-8")
        # the site id (site files, procedures, faults) and the mapping's site; comments keep their history
        text = re.sub(rf"^(site|mapping): {re.escape(from_)}\s*$", rf"\1: {name}", text, flags=re.M)
        (dest / f.name).write_text(text, encoding="utf-8")
    problems = check_files(sorted(p for p in dest.glob("*.yaml") if "map" not in p.name))
    if problems:
        fail_model(ModelError(problems))
    files = ", ".join(p.name for p in sorted(dest.glob("*.yaml")))
    console.print(f"created {dest}/ from {from_}: {files}", highlight=False)
    procs = [p.stem for p in sorted(dest.glob("*.yaml")) if p.stem not in ("site", "faults", "opcua-map")]
    console.print(f"next: edit them, then  padguard check {dest}/*.yaml  and  "
                  f"padguard simulate {dest} {procs[0] if procs else 'PROCEDURE'}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``check``, ``schema`` and ``init``."""
    app.command()(check)
    app.command()(schema)
    app.command()(init)
