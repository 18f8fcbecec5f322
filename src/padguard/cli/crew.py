"""``padguard crew ...``: check, what-if, plan and risk on a crew-access scenario.

Thin: flags -> engine calls -> text, JSON or plots. Registered in the main CLI as a typer
sub-app by ``register``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from padguard.cli.common import make_console
from padguard.crew import timeline as tl
from padguard.crew.days import Days, compile_days
from padguard.crew.model import load_scenario
from padguard.model.errors import ModelError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Crew access and lifeboat coverage when a pad is out.")
out = make_console()
err = make_console(stderr=True)

Scen = Annotated[str, typer.Argument(help="shipped scenario name (iss-2025-2026) or a YAML path")]
Json = Annotated[bool, typer.Option("--json", help="print everything as JSON")]
Outages = Annotated[list[str] | None, typer.Option("--outage", help="PAD:YYYY-MM-DD+NNd (out after that day, back N days later), ..YYYY-MM-DD, +open; ':crew' suffix = crew access only. Repeatable")]


def _load(path: str) -> Days:
    try:
        return compile_days(load_scenario(path))
    except ModelError as exc:
        err.print(f"[bold red]invalid scenario[/] ({len(exc.problems)} problem{'s' * (len(exc.problems) != 1)}):")
        for p in exc.problems:
            err.print(f"  {p}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _bad(msg: str) -> None:
    err.print("crew: ", style="bold red", end="", markup=False, highlight=False)
    err.print(msg, markup=False, highlight=False, soft_wrap=True)  # (markup would eat '[crew]')
    raise typer.Exit(2)


def _pads(days: Days) -> list[dict[str, Any]]:
    return [{"id": p.id, "outages": [{"from": o.from_.isoformat(), "to": o.to and o.to.isoformat(),
                                      "crew_only": o.crew_only, "cause": o.cause} for o in p.outages]}
            for p in days.sc.pads if p.vehicles]


def print_report(r: tl.Report, console: Console = out) -> None:
    """The text timeline: one line per event day with crew, lifeboats and life margins."""
    d = r.days
    for line in r.perturbation:
        console.print(f"[bold]what-if:[/] {line}")
    console.rule(f"[bold]{d.sc.name}")
    last = None
    for day, text in r.events():
        if day != last:
            boats = ", ".join(f"{m} {s}" + (f" ({left} d life)" if left is not None else "")
                              for m, s, left in r.lifeboats_on(day))
            short = r.crew[day] > r.seats[day]
            style = "bold red" if short else "dim"
            console.print(f"[bold]{d.date(day)}[/]  crew {r.crew[day]:2d}  seats {r.seats[day]:2d}  "
                          f"[{style}]{boats or 'no lifeboat docked'}[/]")
            last = day
        console.print(f"    {text}", markup=False)
    s = r.to_dict()["summary"]
    console.rule("[bold]result")
    if s["slips"]:
        console.print("slips: " + ", ".join(f"{m} +{v} d" for m, v in s["slips"].items())
                      + f" (total {s['total_slip_days']} d)")
    if r.ok:
        console.print("[bold green]every rule holds[/]: every person aboard has a lifeboat seat every day")
        return
    console.print(f"[bold red]{len(r.violations)} violation{'s' * (len(r.violations) != 1)}[/] "
                  f"({', '.join(f'{k} {v}' for k, v in s['by_rule'].items())}); "
                  f"{s['days_without_lifeboat_seat']} days without a lifeboat seat for someone aboard")
    for v in r.violations:
        when = v["from"] if v["days"] == 1 else f"{v['from']} .. {v['to']} ({v['days']} d)"
        console.print(f"  [red]{v['rule']}[/] {when}: ", end="")
        console.print(v["cause"], markup=False)


def _emit(r: tl.Report, as_json: bool, plot: Path | None, days: Days) -> None:
    data = r.to_dict()
    if plot is not None:
        from padguard.crew.plot import FORMATS, write

        if plot.suffix.lower() not in FORMATS:
            _bad(f"--plot {plot}: use a file ending in {', '.join(FORMATS)}")
        try:
            write(data, _pads(r.days), plot)
        except ImportError:
            _bad("--plot needs matplotlib: pip install 'padguard[risk]'")
    if as_json:
        print(json.dumps(data, indent=1))
    else:
        print_report(r)
        if plot is not None:
            out.print(f"wrote {plot}")
    if not r.ok:
        raise typer.Exit(1)


@app.command("check")
def check_cmd(scenario: Scen, as_json: Json = False,
              plot: Annotated[Path | None, typer.Option(help="write a Gantt + seats plot (.png/.svg/.pdf)")] = None) -> None:
    """The day-by-day timeline and every violated day with its cause (exit 1 on violations)."""
    days = _load(scenario)
    _emit(tl.check(days), as_json, plot, days)


def perturbation(outage: list[str] | None, slip: list[str] | None, early: list[str] | None,
                 unavailable: list[str] | None, days: Days, rts: bool = True) -> tl.Perturbation:
    """Flags -> a Perturbation, with every mission and pad name checked."""
    p = tl.Perturbation(return_to_service=rts)
    try:
        for o in outage or ():
            p.outages.append(tl.parse_outage(o))
            days.pad_index(p.outages[-1][0])
        for s in slip or ():
            m, n = tl.parse_slip(s)
            days.index(m)
            p.slips[m] = p.slips.get(m, 0) + n
        for e in early or ():
            m, d = tl.parse_dated(e, "--early-return")
            days.index(m)
            p.early_returns[m] = d
        for u in unavailable or ():
            m, d = tl.parse_dated(u, "--vehicle-unavailable")
            days.index(m)
            p.unavailable[m] = d
    except (ValueError, KeyError) as exc:
        _bad(str(exc.args[0]))
    return p


@app.command("what-if")
def what_if_cmd(
    scenario: Scen,
    outage: Outages = None,
    slip: Annotated[list[str] | None, typer.Option("--slip", help="MISSION+NNd: a launch slip. Repeatable")] = None,
    early: Annotated[list[str] | None, typer.Option("--early-return", help="MISSION:YYYY-MM-DD: undock early. Repeatable")] = None,
    unavailable: Annotated[list[str] | None, typer.Option("--vehicle-unavailable", help="MISSION:YYYY-MM-DD: no longer a lifeboat from that day. Repeatable")] = None,
    rts: Annotated[bool, typer.Option("--return-to-service/--no-return-to-service", help="add the pad's return-to-service days after a repair")] = True,
    as_json: Json = False,
    plot: Annotated[Path | None, typer.Option(help="write a Gantt + seats plot (.png/.svg/.pdf)")] = None,
) -> None:
    """What slips and which rules break when a pad is out, a launch slips, a crew returns early."""
    days = _load(scenario)
    p = perturbation(outage, slip, early, unavailable, days, rts)
    _emit(tl.what_if(days, p), as_json, plot, days)


@app.command("plan")
def plan_cmd(
    scenario: Scen,
    outage: Outages = None,
    slip: Annotated[list[str] | None, typer.Option("--slip", help="MISSION+NNd: the vehicle is not ready before then. Repeatable")] = None,
    early: Annotated[list[str] | None, typer.Option("--early-return", help="MISSION:YYYY-MM-DD: undocks early. Repeatable")] = None,
    unavailable: Annotated[list[str] | None, typer.Option("--vehicle-unavailable", help="MISSION:YYYY-MM-DD: no longer a lifeboat. Repeatable")] = None,
    rts: Annotated[bool, typer.Option("--return-to-service/--no-return-to-service", help="add the pad's return-to-service days after a repair")] = True,
    replan_from: Annotated[str | None, typer.Option("--from", help="re-plan launches from this day (default: the first perturbed day)")] = None,
    time_limit: Annotated[float, typer.Option(help="solver time limit, seconds")] = 60.0,
    workers: Annotated[int, typer.Option(help="CP-SAT search workers")] = 2,
    max_slip: Annotated[int, typer.Option(help="latest slip considered per launch, days")] = 500,
    baseline: Annotated[bool, typer.Option("--baseline/--no-baseline", help="also run the greedy re-scheduler")] = True,
    decrew: Annotated[bool, typer.Option("--allow-decrew", help="if no plan keeps every rule, a vehicle may take its crew home before its relief (handover broken) rather than outstay its life")] = False,
    as_json: Json = False,
    plot: Annotated[Path | None, typer.Option(help="write the re-planned Gantt + seats plot")] = None,
) -> None:
    """Re-plan dates, pads and undocks with CP-SAT: every rule kept, least total slip."""
    import datetime as dt

    from padguard.cli.common import require
    from padguard.crew import plan as pl

    require("crew", "ortools", what="crew plan")
    if plot is not None:
        require("risk", "matplotlib", what="--plot")
    days = _load(scenario)
    p = perturbation(outage, slip, early, unavailable, days, rts)
    try:
        frm = dt.date.fromisoformat(replan_from) if replan_from else None
    except ValueError:
        _bad(f"--from {replan_from!r}: expected YYYY-MM-DD")
    if time_limit <= 0 or workers < 1:
        _bad("--time-limit must be > 0 and --workers >= 1")
    try:
        res = pl.solve(days, p, time_limit=time_limit, workers=workers, max_slip=max_slip, replan_from=frm,
                       decrew=decrew)
    except ImportError:
        _bad("plan needs OR-Tools: pip install 'padguard[crew]'")
    except ValueError as exc:
        _bad(str(exc))
    base = pl.greedy(days, p, replan_from=frm) if baseline else None
    data = res.to_dict()
    if base is not None:
        data["greedy"] = {"total_slip": base.total_slip, "uncovered_crew_days": base.uncovered_crew_days,
                          "violations": base.report.by_rule() if base.report else {}, "solve_s": base.solve_s,
                          "slips": base.report.slips() if base.report else {}}
    if plot is not None and res.report is not None:
        from padguard.crew.plot import write

        write(res.report.to_dict(), _pads(res.days or days), plot)
    if as_json:
        print(json.dumps(data, indent=1, default=str))
    else:
        if res.report is None:
            out.print(f"[bold red]no plan[/]: solver status {res.status} after {res.solve_s:.1f} s")
            raise typer.Exit(1)
        print_report(res.report)
        out.rule("[bold]plan")
        proof = "proven optimal" if res.status == "OPTIMAL" else f"gap {100 * (res.gap or 0):.2f} % (not proven)"
        out.print(f"CP-SAT {res.status}: {proof}; {res.phase}; total slip {res.total_slip} d, "
                  f"crew-days without a lifeboat seat {res.uncovered_crew_days}; solved in {res.solve_s:.2f} s")
        for mid, ch in data.get("pad_changes", {}).items():
            out.print(f"  pad change: {mid} {ch['from']} -> {ch['to']}")
        for mid, who in res.stays_home.items():
            out.print(f"  crew allocation: {mid} flies without {', '.join(who)}")
        if base is not None:
            out.print(f"greedy re-scheduler: total slip {base.total_slip} d, crew-days without a seat "
                      f"{base.uncovered_crew_days}, violations {base.report.by_rule() if base.report else {}} "
                      f"({1000 * base.solve_s:.1f} ms)")
        if plot is not None:
            out.print(f"wrote {plot}")
    if res.report is None or not res.report.ok:
        raise typer.Exit(1)


def _fmt(x: float) -> str:
    return "0" if x == 0 else (f"{x:.3g}" if x >= 1e-3 else f"{x:.2e}")


def print_risk(data: dict[str, Any], console: Console = out) -> None:
    rp = data["repair_days"]
    console.rule(f"[bold]crew access risk: {data['scenario']}, pad {data['pad']}")
    console.print(f"{data['histories']:,} sampled outage histories (seed {data['seed']}); "
                  f"{data['planned_launches_from_pad']} planned launches from {data['pad']} in the horizon; "
                  f"repair triangular({rp['min']}, {rp['mode']}, {rp['max']}) d + {rp['return_to_service']} d return to service")
    for pr in data["procedures"]:
        pd = pr["pad_damage_per_launch"]
        p = pr["p_day_without_lifeboat_seat"]
        s = pr["expected_slip_days"]
        iv = pr["p_day_without_lifeboat_seat_at_interval"]
        siv = pr["expected_slip_days_at_interval"]
        console.print(f"[bold]{pd['procedure']}[/]: pad damage per launch {_fmt(pd['p'])} "
                      f"[{_fmt(pd['lo'])}, {_fmt(pd['hi'])}] ({pd['method']}, {pd['trials']:,} countdowns)")
        console.print(f"  P(at least one day without a lifeboat seat for someone aboard) = [bold]{_fmt(p['p'])}[/] "
                      f"(95 % MC [{_fmt(p['lo'])}, {_fmt(p['hi'])}]; over the pad-damage interval "
                      f"{_fmt(iv[0])} .. {_fmt(iv[1])})")
        console.print(f"  expected slip {_fmt(s['p'])} days (95 % MC [{_fmt(s['lo'])}, {_fmt(s['hi'])}]; "
                      f"over the interval {_fmt(siv[0])} .. {_fmt(siv[1])}); "
                      f"expected crew-days without a seat {_fmt(pr['expected_crew_days_without_seat'])}")
    if "paired" in data:
        pa = data["paired"]
        d = pa["p_difference_b_minus_a"]
        ds = pa["slip_difference_b_minus_a"]
        console.print(f"[bold]{pa['b']} - {pa['a']}[/] (same histories): P difference {_fmt(d['p'])} "
                      f"[{_fmt(d['lo'])}, {_fmt(d['hi'])}], slip difference {_fmt(ds['p'])} d "
                      f"[{_fmt(ds['lo'])}, {_fmt(ds['hi'])}]")
    tm = data["timing"]
    console.print(f"[dim]pad risk {data['pad_risk_s']:.1f} s; crew histories {tm['elapsed_s']:.1f} s "
                  f"({(tm['histories_per_s'] or 0):,.0f}/s) on {data['executor']}[/]")


@app.command("risk")
def risk_cmd(
    scenario: Scen,
    pad: Annotated[str, typer.Option("--pad", help="PAD:PROCEDURE, e.g. site31:guarded (the pad's model gives the damage probability)")],
    vs: Annotated[str | None, typer.Option("--vs", help="a second procedure of the same pad, compared on the same histories")] = None,
    histories: Annotated[int, typer.Option("--histories", "-n", help="sampled outage histories")] = 100_000,
    pad_trials: Annotated[int, typer.Option(help="countdowns sampled by the pad's risk engine")] = 200_000,
    seed: Annotated[int, typer.Option(help="seed (pad risk and histories)")] = 0,
    workers: Annotated[int, typer.Option(help="local worker processes")] = 1,
    cluster: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")] = None,
    as_json: Json = False,
) -> None:
    """Risk to crew access from the pad's own damage probability (pad risk -> outages -> manifest)."""
    import time

    from padguard.crew import risk as cr
    from padguard.engines.risk_campaign import executor_for

    days = _load(scenario)
    if ":" not in pad:
        _bad(f"--pad {pad!r}: expected PAD:PROCEDURE, e.g. site31:guarded")
    pad_id, proc = pad.split(":", 1)
    try:
        spec = days.sc.pads[days.pad_index(pad_id)]
    except KeyError as exc:
        _bad(str(exc.args[0]))
    if spec.pad_model is None:
        _bad(f"pad '{pad_id}' has no pad_model in the scenario: nothing to draw damage from")
    if spec.repair is None:
        _bad(f"pad '{pad_id}' has no repair distribution in the scenario")
    if histories < 1 or pad_trials < 1 or workers < 1:
        _bad("--histories, --pad-trials and --workers must be at least 1")
    procs = [proc] + ([vs] if vs else [])
    label = f"dask {cluster}" if cluster else (f"{workers} local processes" if workers > 1 else "1 process")
    try:
        with executor_for(workers, cluster) as ex:
            t0 = time.perf_counter()
            dmg = cr.pad_damage(spec.pad_model, procs, pad_trials, seed, ex, label)
            t_pad = time.perf_counter() - t0
            data = cr.crew_risk(days, pad_id, dmg, histories, seed, ex)
    except ModelError as exc:
        err.print("[bold red]invalid pad model[/]:")
        for p in exc.problems:
            err.print(f"  {p}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except (ValueError, OSError, TimeoutError) as exc:
        _bad(str(exc))
    data["pad_model"] = spec.pad_model
    data["pad_risk_s"] = t_pad
    data["executor"] = label
    if as_json:
        print(json.dumps(data, indent=1, default=str))
    else:
        print_risk(data)


def register(main: typer.Typer) -> None:
    """Add ``padguard crew`` to the main CLI (one line there); ``padguard check`` learns to
    validate crew scenarios (recognised by their top-level ``missions:``)."""
    from padguard.crew.model import check_located
    from padguard.model.loader import EXTRA_KINDS

    EXTRA_KINDS.setdefault("missions", check_located)
    main.add_typer(app, name="crew")
