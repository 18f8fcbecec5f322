"""``padguard verify`` and ``padguard export promela``: the command-line face of the verifier."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from padguard.cli.common import check_output, console, err
from padguard.compile import Plan, compile_model
from padguard.engines import verify as V
from padguard.engines import verify_zones as Z
from padguard.model.errors import ModelError
from padguard.model.loader import load
from padguard.model.times import format_count_time, parse_duration

EXIT_PROVED, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_INCONCLUSIVE = 0, 1, 2, 3

PROPERTY_HELP = {
    "plume": "ignition with equipment in the plume zone, unlocked or unshielded",
    "personnel": "equipment moving while people are in its hazard zone",
    "window": "ignition after the launch window closed",
    "invariants": "the procedure's invariants (and --invariant expressions)",
    "liveness": "with no faults, the count reaches launch",
}


def _bytes(text: str) -> int:
    """'4GiB', '500MB', '2g', '1048576' -> bytes; 'auto' -> 70 % of the machine's RAM."""
    if text.strip().lower() == "auto":
        try:
            return int(0.7 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            return 8 * 2**30
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", text.lower())
    if not m:
        raise typer.BadParameter(f"'{text}' is not a size such as 4GiB or 500MB")
    mult = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2)]
    return int(float(m.group(1)) * mult)


def _resolution_ms(text: str) -> int:
    if text.strip().lower() == "exact":
        return 1
    if text.strip().lower() == "auto":
        return 0  # the plan's grain, decided once the model is compiled
    try:
        ms = int(round(parse_duration(text) * 1000))
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}") from None
    if ms <= 0:
        raise typer.BadParameter("the resolution must be positive, e.g. 1s or 500ms")
    return ms


def _load(site: str, procedure: str, faults: str | None, resolution_ms: int) -> Plan:
    try:
        return compile_model(load(site, procedure, faults), resolution_ms)
    except ModelError as exc:
        err.print(f"[bold red]invalid model[/] ({len(exc.problems)} problem{'s' * (len(exc.problems) != 1)}):")
        for p in exc.problems:
            err.print(f"  {p}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _invariants(plan: Plan, extra: list[str]) -> list[Any]:
    from padguard.model.invariants import InvariantError, compile_expr, compile_invariants

    try:
        invs = compile_invariants(plan)
    except ModelError as exc:
        err.print("[bold red]invalid invariant[/]:")
        for p in exc.problems:
            err.print(f"  {p}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    for i, text in enumerate(extra):
        try:
            invs.append(compile_expr(plan, text, f"cli{i + 1}"))
        except InvariantError as exc:
            err.print(f"[bold red]bad --invariant[/] '{text}': {exc.message} (at character {exc.pos + 1})")
            raise typer.Exit(EXIT_BAD_INPUT) from None
    return invs


def verify_cmd(
    site: Annotated[str, typer.Argument(help="shipped site name (site31) or path to site.yaml/folder")],
    procedure: Annotated[str, typer.Argument(help="procedure name in the site folder, or a path")],
    max_faults: Annotated[int, typer.Option("--max-faults", "-k", min=0, help="faults active at once (K)")] = 1,
    resolution: Annotated[str, typer.Option(help="'auto' (the symbolic search, exact; where it does not apply, the "
                                                 "grid of the gcd of the model's timing constants: a search), 'exact' "
                                                 "(symbolic, else every millisecond), or a duration such as 1s (a "
                                                 "grid search)")] = "auto",
    prop: Annotated[list[str] | None, typer.Option("--property", "-p", help="check only these: "
                                                    + ", ".join(V.PROPERTIES))] = None,
    invariant: Annotated[list[str] | None, typer.Option("--invariant", "-i", help="extra invariant expression, "
                                                         "e.g. \"mode != launched or cabin == stowed\"")] = None,
    out: Annotated[Path | None, typer.Option(help="where to save the counterexample scenario "
                                                  "(default: counterexample-PROCEDURE.json)")] = None,
    max_memory: Annotated[str, typer.Option(help="stop with partial statistics above this memory "
                                                 "(stored states + frontier); 'auto' = 70% of RAM")] = "auto",
    max_states: Annotated[int | None, typer.Option(help="stop with partial statistics after this many states")] = None,
    faults_file: Annotated[str | None, typer.Option("--faults", help="faults YAML (default: faults.yaml beside the site)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable result")] = False,
    eager_travel: Annotated[bool, typer.Option("--eager-travel", help="choose every travel time when the move is "
                                               "issued (the former, larger search; same runs, for comparison)")] = False,
    explicit: Annotated[bool, typer.Option("--explicit", help="use the explicit grid search even where the symbolic "
                                           "(zone) search applies")] = False,
    shortest: Annotated[bool, typer.Option("--shortest", help="skip the quick first pass on a 30 s grid, so that a "
                                           "counterexample is the shortest on the requested grid (a quick-pass "
                                           "counterexample is as real, but shortest only on its own grid)")] = False,
) -> None:
    """Prove a countdown cannot ignite into its own pad, or show the shortest way it can.

    By default the symbolic search runs: zones over the times the future depends on, so the verdict holds for every millisecond timing the model allows (every fault set at every instant, up to K at once, every travel time in its range, every value a faulty sensor can report). Where it does not apply it says why, and (as with --explicit or a --resolution duration) a grid is explored instead: only the model's 1 ms clock is a proof; a coarser grid is a search. The counterexample is saved as a scenario that `padguard simulate --replay FILE` reproduces.

    Unless --shortest, a quick pass on a 30 s grid runs first: a violation it finds is a real run of the model, reported at once (shortest on that grid); if it finds none, the requested search runs.

    Exit code 0 proved (exact), 1 violated, 3 no violation found by a search at a coarse resolution (not a proof) or stopped by a bound or Ctrl-C (statistics reached are printed), 2 bad input.
    """
    check_output(out, "--out")
    res_ms = _resolution_ms(resolution)
    props = tuple(prop or V.PROPERTIES)
    bad = [x for x in props if x not in V.PROPERTIES]
    if bad:
        err.print(f"unknown property {', '.join(bad)}: expected {', '.join(V.PROPERTIES)}")
        raise typer.Exit(EXIT_BAD_INPUT)
    plan = _load(site, procedure, faults_file, res_ms or 1000)
    if not res_ms:
        res_ms = V.grain(plan)
        if res_ms != plan.res:
            plan = _load(site, procedure, faults_file, res_ms)
    invs = _invariants(plan, list(invariant or []))
    opts = V.Options(max_faults=max_faults, properties=props, lazy_travel=not eager_travel,
                     max_memory=_bytes(max_memory), max_states=max_states)
    try:
        explorer = V.Explorer(plan, opts, invs)
    except V.VerifyError as exc:
        err.print(f"[bold red]cannot verify this model:[/] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    zones: Z.ZoneExplorer | None = None
    why_not = ""
    if not explicit and (resolution.strip().lower() in ("auto", "exact")):
        plan_z = _load(site, procedure, faults_file, 1)
        try:
            zones = Z.ZoneExplorer(plan_z, Z.ZoneOptions(properties=props, max_states=max_states,
                                                         max_memory=_bytes(max_memory)),
                                   _invariants(plan_z, list(invariant or [])), max_faults=max_faults)
        except Z.ZoneUnsupported as exc:
            why_not = str(exc)
    title = (f"{plan.model.site.name} / {plan.model.procedure.procedure}: K = {max_faults}, " +
             ("symbolic time (exact)" if zones else
              f"resolution {_res_text(res_ms)} ({'exact' if V.is_exact(res_ms) else 'search'})"))
    if not as_json:
        console.rule(f"[bold]verify[/] {title}")
        console.print(_ZONES_TEXT if zones else _exactness_text(plan))
        if why_not:
            console.print(f"symbolic search not applicable: {why_not}")
        console.print("properties: " + "; ".join(f"[bold]{p}[/] ({PROPERTY_HELP[p]})" for p in props))
        console.print(f"fault modes explored: {int(explorer.f_static.sum())} of {explorer.F} (faults on sensors "
                      f"no criterion reads cannot change a decision); invariants: {len(invs)}")
    quick: dict[str, Any] | None = None
    result: V.VerifyResult | None = None
    q_ms = None if shortest else V.quick_resolution(res_ms)
    if q_ms is not None:
        plan_q = _load(site, procedure, faults_file, q_ms)
        invs_q = _invariants(plan_q, list(invariant or []))
        opts_q = dataclasses.replace(opts, max_states=min(max_states or V.QUICK_MAX_STATES, V.QUICK_MAX_STATES),
                                     max_memory=min(opts.max_memory or V.QUICK_MAX_MEMORY, V.QUICK_MAX_MEMORY))
        res_q = _run(V.Explorer(plan_q, opts_q, invs_q), quiet=as_json)
        quick = {"resolution_s": q_ms / 1000, "verdict": res_q.claim, "stats": res_q.stats.to_dict(),
                 "reported": res_q.verdict in ("violated", "interrupted")}
        if quick["reported"]:  # a real violation (or Ctrl-C): that is the answer
            plan, invs, result = plan_q, invs_q, res_q
        elif not as_json:
            console.print(f"quick pass on a {_res_text(q_ms)} grid: no violation ({_stats_line(res_q.stats)}); "
                          f"now the {'symbolic' if zones else _res_text(res_ms)} search")
    if result is None and zones is not None:
        try:
            result = _run(zones, quiet=as_json)
            plan, invs = zones.plan, zones.invariants
        except Z.ZoneUnsupported as exc:
            why_not = str(exc)
            if not as_json:
                console.print(f"symbolic search stopped: {why_not}; now the {_res_text(res_ms)} "
                              f"{'search' if not V.is_exact(res_ms) else 'exact search'}")
    if result is None:
        result = _run(explorer, quiet=as_json)
    payload = result.to_dict()
    payload["engine"] = "zones" if result.timing == "zones" else "grid"
    if result.timing == "zones" and zones is not None:
        payload["symbolic"] = {"over_approximated": bool(getattr(zones, "approximate", False))}
    if why_not:
        payload["symbolic_not_applicable"] = why_not
    payload["model"] = {"site": site, "procedure": procedure}
    if quick is not None:
        payload["quick_pass"] = quick
    scenario_path = None
    rp = None
    if result.violation is not None:
        sc = V.counterexample_scenario(plan, result, site, procedure)
        scenario_path = out or Path(f"counterexample-{plan.model.procedure.procedure}.json")
        try:
            scenario_path.write_text(json.dumps(sc, indent=2))
        except OSError as exc:
            err.print(f"cannot write the counterexample to {scenario_path}: {exc}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        rp = V.replay(plan, sc, invs, props, result.trace[-1].state)
        payload["counterexample"] = {"file": str(scenario_path), "faults": sc["faults"],
                                     "expect": sc["expect"],
                                     "replayed": {"same_state": rp.same_state, "violates": rp.label}}
    if as_json:
        print(json.dumps(payload, indent=2))
    else:
        _print_result(plan, result, scenario_path, rp, site, procedure,
                      quick_of=res_ms if quick and quick["reported"] else None)
    code = {"proved": EXIT_PROVED, "violated": EXIT_VIOLATED}.get(result.claim, EXIT_INCONCLUSIVE)
    raise typer.Exit(code)


def _res_text(res_ms: int) -> str:
    return f"{res_ms} ms" if res_ms < 1000 else f"{res_ms / 1000:g} s"


_ZONES_TEXT = ("exact (symbolic time): the times the future depends on are held as zones (difference-bound "
               "matrices) on the model's millisecond clock, so 'proved' holds for every timing the model allows")


def _exactness_text(plan: Plan) -> str:
    """Why the verdict is (or is not) a proof, in one sentence."""
    g = V.grain(plan)
    if V.is_exact(plan.res):
        return ("exact: every fault instant and every travel time on the model's millisecond clock is explored, "
                "so 'proved' holds for every timing the model allows (up to K faults)")
    return (f"search, not a proof: fault instants and travel times on a {_res_text(plan.res)} grid "
            f"(both ends of every travel range included; the timing constants' gcd is {_res_text(g)}); "
            "--resolution exact explores every millisecond")


def _run(explorer: V.Explorer | Z.ZoneExplorer, quiet: bool) -> V.VerifyResult:
    """Run with a progress bar (states, rate, depth) on stderr unless quiet."""
    if quiet or not sys.stderr.isatty():
        return explorer.run()
    with Progress(SpinnerColumn(), TextColumn("[bold]depth {task.fields[depth]}"), BarColumn(),
                  TextColumn("{task.fields[states]:>12,} states  {task.fields[rate]:>9,.0f}/s  "
                             "frontier {task.fields[frontier]:,}  {task.fields[mem]:,.0f} MiB"),
                  TimeElapsedColumn(), console=err, transient=True) as prog:
        task = prog.add_task("verify", total=None, depth=0, states=0, rate=0.0, frontier=0, mem=0.0)

        def cb(st: V.Stats, frontier: int) -> None:
            prog.update(task, depth=st.depth, states=st.states, rate=st.rate, frontier=frontier,
                        mem=(st.stored_bytes + getattr(explorer, "_frontier_bytes", 0)) / 2**20)

        explorer.opt.progress = cb
        return explorer.run()


def _stats_line(st: V.Stats, symbolic: bool = False) -> str:
    if symbolic:
        return (f"{st.states:,} symbolic states ({st.transitions:,} transitions, {st.terminal:,} final), depth "
                f"{st.depth}, {st.seconds:.2f} s")
    return (f"{st.states:,} states ({st.transitions:,} transitions, {st.terminal:,} final), depth {st.depth}, "
            f"{st.seconds:.2f} s ({st.rate:,.0f} states/s), memory {st.stored_bytes / 2**20:,.1f} MiB stored "
            f"({st.bytes_per_state:.0f} B/state) + {st.peak_frontier_bytes / 2**20:,.1f} MiB peak frontier")


def _print_result(plan: Plan, r: V.VerifyResult, path: Path | None, rp: V.Replay | None,
                  site: str, procedure: str, quick_of: int | None = None) -> None:
    """The verdict for a person; ``quick_of`` is the requested grid when the quick pass answered."""
    if r.verdict == "proved" and not r.exact:
        console.print(f"[bold yellow]no violation found at resolution {_res_text(r.resolution_ms)} (not a proof)[/] "
                      f"for up to {r.max_faults} fault{'s' * (r.max_faults != 1)}: {', '.join(r.properties)}")
        console.print(_stats_line(r.stats, r.timing == "zones"))
        return
    if r.verdict == "proved":
        console.print(f"[bold green]PROVED[/] (exact) for up to {r.max_faults} fault{'s' * (r.max_faults != 1)}: "
                      f"{', '.join(r.properties)}")
        console.print(_stats_line(r.stats, r.timing == "zones"))
        return
    if r.verdict in ("bounded", "interrupted"):
        console.print(f"[bold yellow]INCONCLUSIVE[/]: {r.reason}; no violation up to depth {r.stats.depth}")
        console.print("reached: " + _stats_line(r.stats, r.timing == "zones"))
        return
    v = r.violation
    assert v is not None and rp is not None and path is not None
    console.print(f"[bold white on red] VIOLATED [/] [bold]{v.prop}[/]: {v.detail}")
    nf = sum(len(s.faults) for s in r.trace)
    what = (f"counterexample found by the quick pass on the {_res_text(r.resolution_ms)} grid (a real run of the "
            f"model; the shortest on that grid, not necessarily on the {_res_text(quick_of)} grid: --shortest "
            "searches that)" if quick_of else "shortest counterexample")
    console.print(f"{what}: {len(r.trace)} settled instants ({nf} fault{'s' * (nf != 1)})")
    console.print("explored: " + _stats_line(r.stats, r.timing == "zones"))
    _print_timeline(plan, r, rp)
    ok = rp.label == f"{v.prop}:{v.detail}" and rp.same_state
    console.print(f"saved to [bold]{path}[/]; replay: padguard simulate {site} {procedure} --replay {path}")
    console.print("[green]replayed in the simulator: same state, same violation[/]" if ok else
                   f"[bold red]replay mismatch[/] (simulator: '{rp.label or 'no violation'}', "
                   f"same state: {rp.same_state})")


def _print_timeline(plan: Plan, r: V.VerifyResult, rp: V.Replay) -> None:
    """The counterexample as a countdown timeline: the simulator's narration up to the violation."""
    from padguard.cli.common import STYLE
    from padguard.sequencer.explain import sensor_reading

    console.rule("[bold]counterexample timeline")
    for e in rp.sim.events:
        d = e.to_dict()
        wall = f"+{int(e.t // 1000) // 60:3d}m{int(e.t // 1000) % 60:02d}s"
        console.print(f"[dim]{wall}[/] {d['count']}  ", end="")
        console.print(e.text, style=STYLE.get(e.kind, ""), markup=False, highlight=False)
    S = rp.sim.S
    sensed = ", ".join(
        f"{x['sensor']}={x['value']}" + ("" if x["fresh"] else " (stale)")
        for x in (sensor_reading(plan, S, s) for s in range(plan.S)))
    truth = ", ".join(f"{plan.equipment[e]}={plan.decode_position(e, int(S[plan.POS + e, 0]))}"
                      for e in range(plan.E))
    v = r.violation
    assert v is not None
    at = format_count_time(int(S[plan.TC, 0]) / 1000)
    console.print(f"[bold]at {at}[/] ({v.prop}: {v.detail})")
    console.print(f"  sensors said: {sensed}", markup=False)
    console.print(f"  truth was:    {truth}", markup=False)


def export_promela(
    site: Annotated[str, typer.Argument(help="shipped site name (site31) or path to site.yaml/folder")],
    procedure: Annotated[str, typer.Argument(help="procedure name in the site folder, or a path")],
    max_faults: Annotated[int, typer.Option("--max-faults", "-k", min=0, help="faults active at once (K)")] = 1,
    resolution: Annotated[str, typer.Option(help="time resolution of travel times and fault instants")] = "1s",
    prop: Annotated[list[str] | None, typer.Option("--property", "-p", help="check only these: "
                                                    + ", ".join(V.PROPERTIES))] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write to this file (default: stdout)")] = None,
    faults_file: Annotated[str | None, typer.Option("--faults", help="faults YAML (default: faults.yaml beside the site)")] = None,
    eager_travel: Annotated[bool, typer.Option("--eager-travel", help="choose every travel time when the move is "
                                               "issued (verify --eager-travel's graph) instead of each arrival "
                                               "instant when it comes (lazy, the default search)")] = False,
) -> None:
    """Write the same model in Promela, for SPIN: spin -a FILE && gcc -O3 -DSAFETY -o pan pan.c && ./pan -m1000000."""
    from padguard.engines.promela import PromelaError, export

    props = tuple(prop or V.PROPERTIES)
    bad = [x for x in props if x not in V.PROPERTIES]
    if bad:
        err.print(f"unknown property {', '.join(bad)}: expected {', '.join(V.PROPERTIES)}")
        raise typer.Exit(EXIT_BAD_INPUT)
    check_output(out, "--out")
    plan = _load(site, procedure, faults_file, _resolution_ms(resolution))
    invs = _invariants(plan, [])
    try:
        text = export(plan, max_faults=max_faults, properties=props, invariants=invs, lazy_travel=not eager_travel)
    except PromelaError as exc:
        err.print(f"[bold red]cannot export this model:[/] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if out is None:
        print(text)
    else:
        out.write_text(text)
        console.print(f"wrote {out} ({len(text.splitlines())} lines); check it with: spin -a {out} && "
                      f"gcc -O3 -DSAFETY -DNOBOUNDCHECK -DNOFAIR -o pan pan.c && ./pan -m1000000 -w24")


def register(app: typer.Typer) -> None:
    """Add ``verify`` and ``export promela`` to the padguard command line."""
    app.command("verify")(verify_cmd)
    export_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Export a model for other tools (Promela for SPIN).")
    export_app.command("promela")(export_promela)
    app.add_typer(export_app, name="export")
