"""``padguard simulate`` and ``padguard demo``: one countdown on the digital twin, narrated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from padguard.cli.common import OUTCOME_STYLE, console, err, load_plan, print_timeline
from padguard.engines.simulate import Scenario, ScenarioError, SimResult, Simulator, simulate


def simulate_cmd(
    site: Annotated[str, typer.Argument(help="shipped site name (site31) or path to site.yaml/folder")],
    procedure: Annotated[str, typer.Argument(help="procedure name in the site folder, or a path")],
    fault: Annotated[list[str] | None, typer.Option("--fault", "-f", help="COMPONENT:MODE[@TIME], e.g. cabin.stopper:not_installed@T-40m")] = None,
    action: Annotated[list[str] | None, typer.Option("--action", "-a", help="clear:COMPONENT@TIME, recycle:POINT@TIME, hold|resume|scrub|abort@TIME (TIME: T-40m or +25m)")] = None,
    seed: Annotated[int, typer.Option(help="seed for travel times")] = 0,
    faults_file: Annotated[str | None, typer.Option("--faults", help="faults YAML (default: faults.yaml beside the site)")] = None,
    replay: Annotated[Path | None, typer.Option(help="replay a saved counterexample/scenario JSON")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable events")] = False,
    check: Annotated[bool, typer.Option("--check", help="exit 1 if the pad is damaged or people were in a "
                                                        "hazard zone (and, with --replay, if it did not reproduce)")] = False,
) -> None:
    """Simulate one countdown on the digital twin and narrate it.

    Exit code 0; with --check, 1 when the count damaged the pad, endangered people, or (--replay)
    did not reproduce the saved counterexample; 2 bad input.
    """
    plan = load_plan(site, procedure, faults_file)
    travel_u = None
    sc = None
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
    verdict = _reproduced(sc, res, plan) if sc is not None else None
    if as_json:
        out = res.to_dict()
        if verdict is not None:
            out["replay"] = {"reproduced": verdict[0], "detail": verdict[1]}
        print(json.dumps(out, indent=2))
    else:
        print_timeline(res, f"{plan.model.site.name} / {plan.model.procedure.procedure}")
        if verdict is not None:
            console.print(("[bold green]reproduced[/]: " if verdict[0] else "[bold yellow]not reproduced[/]: ")
                          + verdict[1], highlight=False)
    if check and (res.outcome == "pad_damaged" or res.personnel_hazards or (verdict is not None and not verdict[0])):
        raise typer.Exit(1)


def _reproduced(sc: Scenario, res: SimResult, plan) -> tuple[bool, str] | None:
    """Did a replayed counterexample happen again (perhaps against another procedure)?"""
    expect = (sc.model_extra or {}).get("expect")
    if not isinstance(expect, dict) or "property" not in expect:
        return None
    prop = expect["property"]
    src = (sc.model_extra or {}).get("procedure")
    here = plan.model.procedure.procedure
    where = f"saved from {src}, run against {here}" if src and src != here else f"procedure {here}"
    if prop == "plume":
        want = set(expect.get("hazards") or [])
        ok = res.outcome == "pad_damaged" and want <= set(res.hazards)
        got = ", ".join(res.hazards) or "none"
        return ok, f"{prop} ({', '.join(sorted(want))}) expected; ignition hazards here: {got} ({where})"
    if prop == "personnel":
        want = set(expect.get("personnel_hazards") or [])
        ok = want <= set(res.personnel_hazards) and bool(want)
        return ok, f"people in {', '.join(sorted(want))} expected; here: {', '.join(res.personnel_hazards) or 'none'} ({where})"
    if prop == "window":
        close = expect.get("window_close_s")
        ok = res.ignition_t_s is not None and close is not None and res.ignition_t_s > close
        return ok, f"ignition after the window expected; here: {res.outcome.replace('_', ' ')} ({where})"
    return False, (f"'{prop}' ({expect.get('detail', '')}) is not visible in an outcome: check it with "
                   f"padguard verify ({where})")


def demo(quick: Annotated[bool, typer.Option(help="print only key events")] = False,
         live: Annotated[bool, typer.Option("--live", help="the live walkthrough instead: pad-sim + run + "
                                                           "fault + hold + repair + recycle + replay, over OPC UA")] = False,
         speed: Annotated[float, typer.Option(help="--live: pad clock speed")] = 300.0,
         archive: Annotated[str | None, typer.Option(help="--live: archive URL (default: a new SQLite file "
                                                          "in a temporary folder)")] = None) -> None:
    """Replay Soyuz MS-28 at Site 31/6: as flown (legacy), and guarded (--live: over OPC UA)."""
    if live:
        from padguard.cli.live import demo_live

        demo_live(speed, archive, quiet=quick)
        return
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
    console.print("[bold]Why:[/] the stopper was commanded to engage and both of its switches still read "
                  "'disengaged' when its travel watchdog expired (maximum travel time plus margin), so the "
                  "sequencer held the count at once, named the stopper and said what would clear it; "
                  "cabin_stowed_locked would have held it at T-50m in any case.\n")

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


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and ``demo``."""
    app.command("simulate")(simulate_cmd)
    app.command()(demo)
