"""The padguard command line (typer + rich).

Every command that takes a model validates it first and exits non-zero with file:line
messages on bad input; no traceback reaches the user.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from padguard.compile import compile_model
from padguard.engines.simulate import Scenario, ScenarioError, SimResult, Simulator, simulate
from padguard.model.errors import ModelError
from padguard.model.loader import check_files, load

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="padguard: keep a launch pad from being destroyed by its own launch.")
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

STYLE = {"hold": "bold yellow", "abort": "bold red", "scrub": "bold magenta", "ignition": "bold",
         "fault": "red", "clear": "green", "recycle": "cyan", "resume": "green", "refused": "yellow",
         "outcome": "bold", "personnel_hazard": "bold red", "pnr": "cyan", "operator": "cyan",
         "milestone": "dim", "arrive": "", "command": "", "criterion": "yellow", "start": "bold"}
OUTCOME_STYLE = {"pad_damaged": "bold white on red", "launched_on_time": "bold green",
                 "launched_after_holds": "bold green", "scrubbed": "bold magenta",
                 "aborted": "bold yellow", "unfinished": "bold"}


def fail_model(exc: ModelError) -> None:
    err.print(f"[bold red]invalid model[/] ({len(exc.problems)} problem{'s' * (len(exc.problems) != 1)}):")
    for p in exc.problems:
        err.print(f"  {p}", markup=False)
    raise typer.Exit(2)


def load_plan(site: str, procedure: str, faults: str | None = None):
    """Load, validate and compile, turning model errors into a clean exit."""
    try:
        return compile_model(load(site, procedure, faults))
    except ModelError as exc:
        fail_model(exc)


def print_timeline(res: SimResult, title: str = "") -> None:
    if title:
        console.rule(f"[bold]{title}")
    for e in res.events:
        d = e.to_dict()
        style = STYLE.get(e.kind, "")
        if e.kind == "outcome":
            style = OUTCOME_STYLE.get(res.outcome, "bold")
        wall = f"+{int(e.t // 1000) // 60:3d}m{int(e.t // 1000) % 60:02d}s"
        console.print(f"[dim]{wall}[/] {d['count']}  ", end="")
        console.print(e.text, style=style, markup=False, highlight=False)


@app.command()
def check(files: Annotated[list[Path], typer.Argument(help="site, procedure and fault YAML files")]) -> None:
    """Validate model files; every problem is reported with file, line and field."""
    problems = check_files([str(f) for f in files])
    if problems:
        fail_model(ModelError(problems))
    console.print(f"[green]OK[/]: {len(files)} file{'s' * (len(files) != 1)} valid")


@app.command()
def schema(kind: Annotated[str, typer.Argument(help="site | procedure | faults")] = "site",
           out: Annotated[Path | None, typer.Option(help="write to this file")] = None) -> None:
    """Print the JSON Schema of a model file kind (for editors)."""
    from padguard.model.schema import Faults, Procedure, Site

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


@app.command("simulate")
def simulate_cmd(
    site: Annotated[str, typer.Argument(help="shipped site name (site31) or path to site.yaml/folder")],
    procedure: Annotated[str, typer.Argument(help="procedure name in the site folder, or a path")],
    fault: Annotated[list[str] | None, typer.Option("--fault", "-f", help="COMPONENT:MODE[@TIME], e.g. cabin.stopper:not_installed@T-40m")] = None,
    action: Annotated[list[str] | None, typer.Option("--action", "-a", help="clear:COMPONENT@TIME, recycle:POINT@TIME, hold|resume|scrub|abort@TIME (TIME: T-40m or +25m)")] = None,
    seed: Annotated[int, typer.Option(help="seed for travel times")] = 0,
    faults_file: Annotated[str | None, typer.Option("--faults", help="faults YAML (default: faults.yaml beside the site)")] = None,
    replay: Annotated[Path | None, typer.Option(help="replay a saved counterexample/scenario JSON")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable events")] = False,
) -> None:
    """Simulate one countdown on the digital twin and narrate it."""
    plan = load_plan(site, procedure, faults_file)
    travel_u = None
    faults, actions = list(fault or []), list(action or [])
    if replay is not None:
        try:
            sc = Scenario.read(str(replay))
        except ScenarioError as exc:
            err.print(f"bad replay file: {exc}", style="bold red", markup=False)
            raise typer.Exit(2) from None
        faults += sc.faults
        actions += sc.actions
        seed = sc.seed if sc.seed is not None else seed
        try:
            plan, travel_u = sc.replay_inputs(plan)
        except ScenarioError as exc:
            err.print(f"bad replay file: {exc}", style="bold red", markup=False)
            raise typer.Exit(2) from None
    try:
        res = simulate(plan, faults=faults, actions=actions, seed=seed, travel_u=travel_u)
    except (ScenarioError, KeyError) as exc:
        err.print(f"bad scenario: {exc}", style="bold red", markup=False)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print_timeline(res, f"{plan.model.site.name} / {plan.model.procedure.procedure}")


@app.command()
def demo(quick: Annotated[bool, typer.Option(help="print only key events")] = False) -> None:
    """Replay Soyuz MS-28 at Site 31/6: as flown (legacy), and guarded."""
    fault = "cabin.stopper:not_installed@T-1h"
    keep = {"fault", "hold", "clear", "operator", "recycle", "resume", "ignition", "outcome", "scrub",
            "abort", "command", "start", "refused", "personnel_hazard"}

    def show(res: SimResult, title: str) -> None:
        if quick:
            res.events = [e for e in res.events if e.kind in keep]
        print_timeline(res, title)

    console.print("[bold]padguard demo[/]: Soyuz MS-28, Baikonur Site 31/6, 27 Nov 2025. The service cabin's "
                  "stopper was not engaged; the exhaust pulled the cabin into the flame trench.\n")
    legacy = load_plan("site31", "legacy")
    r1 = simulate(legacy, faults=[fault], seed=0)
    show(r1, "1. LEGACY (as flown): stowing is a step, nothing checks the stopper")
    console.print("[bold]Why:[/] the stopper ignored its engage command; no launch commit criterion "
                  "looked at it, so the count ran to ignition with the cabin unlocked.\n")

    guarded = load_plan("site31", "guarded")
    sim = Simulator(guarded, seed=0, faults=[fault])
    sim.run(stop_on_hold=True)
    r2 = sim.result()
    n_before = len(r2.events)
    show(r2, "2. GUARDED, same fault: the sequencer holds")
    console.print("[bold]Why:[/] both stopper switches read 'disengaged' while cabin_stowed_locked applied, "
                  "so the sequencer held the count and said what would clear it.\n")

    sim.advance(5 * 60_000)
    sim.clear("cabin.stopper")
    sim.advance(2 * 60_000)
    sim.operator("recycle", "stopper")
    r3 = sim.run()
    sim._ev("outcome", f"OUTCOME: {r3.outcome.replace('_', ' ').upper()}", outcome=r3.outcome)
    r3 = sim.result()
    r3.events = r3.events[n_before:]
    show(r3, "3. GUARDED, after repair: pad crew fixes the stopper, operator recycles")
    console.print(f"[bold]Why:[/] with the stopper repaired, the recycle re-ran its engagement; both switches "
                  f"read 'engaged', the criterion cleared and the count resumed. Launched "
                  f"{((r3.ignition_t_s or 0) - (guarded.ign - guarded.start) / 1000) / 60:.0f} min late "
                  f"({r3.hold_time_s / 60:.0f} min holding, then the recycled part of the count), "
                  "inside the window.\n")

    t = Table(title="MS-28 replay: outcomes")
    t.add_column("run")
    t.add_column("outcome")
    t.add_column("hazards at ignition")
    for name, r in (("legacy + stopper fault", r1), ("guarded + stopper fault", r2),
                    ("guarded, repaired + recycled", r3)):
        outcome = "automatic hold" if r is r2 else r.outcome.replace("_", " ")
        t.add_row(name, outcome, ", ".join(r.hazards) or "-", style=OUTCOME_STYLE.get(r.outcome, "yellow"))
    console.print(t)


def _register_optional() -> None:
    """Commands of later subsystems register themselves here when their module exists."""
    for mod in ("padguard.engines.verify_cli", "padguard.engines.risk_cli", "padguard.links.cli"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name and mod.startswith(exc.name):
                continue
            raise
        m.register(app)


_register_optional()


def main() -> None:
    """Entry point: never let a traceback reach an operator for bad input."""
    try:
        app()
    except ModelError as exc:
        err.print(str(exc), markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
