"""``padguard risk``: Monte Carlo campaigns on the command line (registered by padguard.cli)."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from padguard.engines import risk_campaign as rc
from padguard.engines.risk import OUTCOMES, trial_law
from padguard.engines.risk_stats import fmt_p


class Method(StrEnum):
    auto = "auto"
    crude = "crude"
    is_ = "is"


class Interval(StrEnum):
    wilson = "wilson"
    clopper_pearson = "clopper-pearson"


class LazyProgress:
    """A rich progress bar that appears only once work has run for more than a second."""

    def __init__(self, console: Console, delay: float = 1.0, clock=time.perf_counter):
        self.console = console
        self.delay = delay
        self.clock = clock
        self.t0 = clock()
        self.bar: Progress | None = None
        self.tasks: dict[str, Any] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        if self.bar is None:
            if self.clock() - self.t0 < self.delay:
                return
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), console=self.console, transient=True)
            self.bar.start()
        if label not in self.tasks:
            self.tasks[label] = self.bar.add_task(label, total=total)
        self.bar.update(self.tasks[label], completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()




def print_report(console: Console, data: dict[str, Any]) -> None:
    """Human-readable report of a campaign result (the same numbers as --json)."""
    procs = data["procedures"]
    console.rule(f"[bold]{data['site_name']}[/]: {' vs '.join(p['procedure'] for p in procs)}")
    console.print(f"{data['trials']:,} sampled countdowns per procedure, seed {data['seed']}, "
                  f"method {data['method']}, {data['interval']} intervals (95 %)")
    t = Table(title="Outcome probabilities per countdown [95 % interval]")
    t.add_column("outcome")
    for p in procs:
        t.add_column(p["procedure"], justify="right")
    for name in ("launched_on_time", "launched_after_holds", "scrubbed", "aborted", "pad_damaged",
                 "personnel_hazard", "unfinished"):
        if not any(name in p["outcomes"] for p in procs):
            continue
        row = [name.replace("_", " ")]
        for p in procs:
            o = p["outcomes"].get(name)
            if o is None:
                row.append("-")
                continue
            tag = " IS" if o["method"] == "is" else ""
            row.append(f"{fmt_p(o['p'])}{tag} [{fmt_p(o['lo'])}, {fmt_p(o['hi'])}]")
        t.add_row(*row, style="bold red" if name == "pad_damaged" else "")
    console.print(t)
    for p in procs:
        for name, r in p["rare_events"].items():
            if not r["hits"]:
                console.print(f"[bold]{p['procedure']}[/]: {name.replace('_', ' ')}: {r['note']} "
                              f"({r['pilot_trials']:,} biased pilot trials)")
                continue
            re_ = r["rel_err"]
            console.print(f"[bold]{p['procedure']}[/]: {name.replace('_', ' ')} by importance sampling: "
                          f"{fmt_p(r['p'])} +- {fmt_p(r['se'])} (relative error "
                          f"{'-' if re_ is None else f'{re_:.1%}'}), {r['hits']:,} hits in {r['trials']:,} "
                          f"biased trials (+{r['pilot_trials']:,} pilot), effective sample size "
                          f"{r['ess']:.0f}" + (f"; {r['note']}" if r.get("note") else ""))
    h = Table(title="Holds (unplanned)")
    h.add_column("")
    for p in procs:
        h.add_column(p["procedure"], justify="right")
    rows = [("expected number of holds", lambda p: f"{p['holds']['expected_holds']:.4g}"),
            ("P(any hold)", lambda p: fmt_p(p["holds"]["p_any_hold"]["p"])),
            ("mean hold time given a hold", lambda p: "-" if p["holds"]["hold_time_s"]["mean_given_hold"] is None
             else f"{p['holds']['hold_time_s']['mean_given_hold'] / 60:.1f} min"),
            ("median / p90 / max hold time", lambda p: " / ".join(
                "-" if v is None else f"{v / 60:.1f}" for v in (
                    p["holds"]["hold_time_s"]["quantiles_given_hold"][k] for k in ("p50", "p90", "max")))
             + " min")]
    for label, f in rows:
        h.add_row(label, *[f(p) for p in procs])
    console.print(h)
    for p in procs:
        for ev in ("pad_damaged", "scrubbed"):
            imp = p["importance"].get(ev, {})
            tab = [r for r in imp.get("table", []) if r["fv"]][:6]
            if not tab:
                continue
            it = Table(title=f"{p['procedure']}: fault modes driving {ev.replace('_', ' ')} ({imp['method']})")
            for c in ("fault mode", "p", "FV", "Birnbaum", "P(event | fault)"):
                it.add_column(c, justify="left" if c == "fault mode" else "right")
            for r in tab:
                it.add_row(r["fault"], fmt_p(r["probability"]), f"{r['fv']:.3f}",
                           fmt_p(r["birnbaum"]), fmt_p(r["p_given_fault"]))
            console.print(it)
    if "paired" in data:
        pr = data["paired"]
        seen = {k for row in pr["table"].values() for k in row} | set(pr["table"])
        names = [o for o in OUTCOMES if o in seen]
        pt = Table(title=f"Same trials, side by side: rows {pr['a']}, columns {pr['b']}")
        pt.add_column(f"{pr['a']} \\ {pr['b']}")
        for n in names:
            pt.add_column(n.replace("_", " "), justify="right")
        for a in names:
            pt.add_row(a.replace("_", " "), *[f"{pr['table'].get(a, {}).get(b, 0):,}" for b in names])
        console.print(pt)
    tm = data["timing"]
    console.print(f"[dim]{tm['elapsed_s']:.1f} s ({data['executor']}); sampling "
                  f"{(tm['trials_per_s'] or 0):,.0f} countdowns/s[/]")


def register(app: typer.Typer) -> None:
    """Add the ``risk`` command to the padguard CLI."""

    @app.command("risk")
    def risk_cmd(
        site: Annotated[str, typer.Argument(help="shipped site name (site31) or path to site.yaml/folder")],
        procedure: Annotated[str, typer.Argument(help="procedure name in the site folder, or a path")],
        trials: Annotated[int, typer.Option("--trials", "-n", help="sampled countdowns per procedure")] = 100_000,
        seed: Annotated[int | None, typer.Option(help="seed (default: fresh entropy, printed so the run can be repeated)")] = None,
        workers: Annotated[int, typer.Option(help="local worker processes")] = 1,
        cluster: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")] = None,
        vs: Annotated[str | None, typer.Option("--vs", help="second procedure, run on the same sampled trials")] = None,
        method: Annotated[Method, typer.Option(help="auto: importance sampling for rare events; crude; is")] = Method.auto,
        given: Annotated[list[str] | None, typer.Option("--given", "-g", help="condition on a fault mode occurring (COMPONENT:MODE), repeatable")] = None,
        rare: Annotated[list[str] | None, typer.Option("--rare", help="rare event(s) for importance sampling: pad_damaged, aborted, personnel_hazard")] = None,
        is_budget: Annotated[int, typer.Option(help="maximum importance-sampling trials per rare event")] = 1_000_000,
        target_re: Annotated[float, typer.Option(help="stop importance sampling at this relative error")] = 0.05,
        interval: Annotated[Interval, typer.Option(help="binomial interval for plain sampling")] = Interval.wilson,
        faults_file: Annotated[str | None, typer.Option("--faults", help="faults YAML (default: faults.yaml beside the site)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print everything as JSON")] = False,
        plot: Annotated[Path | None, typer.Option(help="write plots: .png, .svg, .pdf or .html")] = None,
    ) -> None:
        """Monte Carlo risk: outcome probabilities with intervals, holds, fault importance."""
        from padguard.cli.common import check_output, err, load_plan, make_console, require

        out = make_console(stderr=as_json)
        if trials < 1:
            err.print("--trials must be at least 1")
            raise typer.Exit(2)
        if workers < 1:
            err.print("--workers must be at least 1")
            raise typer.Exit(2)
        if not 0 < target_re < 1:
            err.print("--target-re must be between 0 and 1, e.g. 0.05")
            raise typer.Exit(2)
        if plot is not None:
            from padguard.engines.risk_plot import FORMATS

            if plot.suffix.lower() not in FORMATS:
                err.print(f"--plot {plot}: use a file ending in {', '.join(FORMATS)}")
                raise typer.Exit(2)
            check_output(plot, "--plot")
            require("risk", "matplotlib", what="--plot")
        if cluster:
            require("risk", "distributed", what="--cluster")
        if interval == Interval.clopper_pearson:
            require("risk", "scipy", what="--interval clopper-pearson")
        plans = [load_plan(site, procedure, faults_file)]
        if vs:
            plans.append(load_plan(site, vs, faults_file))
        try:
            law = trial_law(plans[0], given=tuple(given or ()))
        except KeyError as exc:
            err.print(f"--given: {exc.args[0]}")
            raise typer.Exit(2) from None
        progress = LazyProgress(Console(stderr=True))
        label = f"dask {cluster}" if cluster else (f"{workers} local processes" if workers > 1 else "1 process")
        try:
            with rc.executor_for(workers, cluster) as ex:
                res = rc.campaign(plans, trials, seed=seed, method=method.value, law=law, executor=ex,
                                  progress=progress, interval=interval.value,
                                  rare_events=tuple(rare or ("pad_damaged",)), is_budget=is_budget,
                                  target_re=target_re, executor_label=label)
        except ValueError as exc:
            err.print(f"[bold red]risk:[/] {exc}")
            raise typer.Exit(2) from None
        except RuntimeError as exc:
            err.print(f"risk: {exc}", markup=False)
            raise typer.Exit(2) from None
        except (OSError, TimeoutError) as exc:
            err.print(f"[bold red]risk:[/] cannot reach the cluster {cluster}: {exc}")
            raise typer.Exit(2) from None
        except ImportError as exc:
            err.print(f"risk: {exc}; install the extra: pip install 'padguard[risk]'", markup=False)
            raise typer.Exit(2) from None
        finally:
            progress.close()
        data = res.to_dict()
        if given:
            data["given"] = list(given)
        # The report first: a plot that cannot be written never loses the computed numbers.
        if as_json:
            print(json.dumps(data, indent=1))
        else:
            print_report(out, data)
            if given:
                out.print(f"conditioned on: {', '.join(given)} (probabilities given these faults)")
        if plot is not None:
            from padguard.engines.risk_plot import write

            try:
                write(data, plot)
            except ImportError:
                err.print("--plot needs matplotlib: pip install 'padguard[risk]'", markup=False)
                raise typer.Exit(2) from None
            except OSError as exc:
                err.print(f"--plot {plot}: cannot write it ({exc}); the results are above", markup=False)
                raise typer.Exit(2) from None
            if not as_json:
                out.print(f"wrote {plot}")
