"""What every padguard command shares: the consoles, narration styles, model loading."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from padguard.compile import compile_model
from padguard.engines.simulate import SimResult
from padguard.model.errors import ModelError
from padguard.model.loader import load


def make_console(stderr: bool = False) -> Console:
    """A console that wraps at the terminal's width, and not at all when piped or logged.

    Rich assumes 80 columns when its output is not a terminal, which cut narration lines
    mid-sentence in logs; there each print stays one line (``COLUMNS``, which CI runners and
    pytest-xdist often set to 80, then only sizes rules and tables, never less than 100).
    """
    stream = sys.stderr if stderr else sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        return Console(stderr=stderr, highlight=False)
    try:
        width = max(100, int(os.environ.get("COLUMNS", "160")))
    except ValueError:
        width = 160
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


console = make_console()
err = make_console(stderr=True)

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
        err.print(f"  {p}", markup=False, soft_wrap=True)
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


def require(extra: str, *modules: str, what: str) -> None:
    """Exit with the exact install line when an optional extra is missing (checked before any work).

    ``what`` names what needs it ("pad-sim", "--plot"). Nothing is started half-way.
    """
    import importlib.util

    missing = []
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                missing.append(m)
        except (ImportError, ValueError):
            missing.append(m)
    if missing:
        err.print(f"{what} needs {', '.join(missing)}, from padguard's '{extra}' extra. Install it with:\n"
                  f"  pip install 'padguard[{extra}]'      (in a clone: pip install -e '.[{extra}]'; "
                  f"every extra: '.[all]')", markup=False, highlight=False)
        raise typer.Exit(2)


def check_output(path: os.PathLike | str | None, flag: str) -> None:
    """Fail fast (before long work) on an output path that cannot be written."""
    if path is None:
        return
    from pathlib import Path

    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    problem = None
    if p.is_dir():
        problem = "is a directory"
    elif not parent.is_dir():
        problem = f"no such directory: {parent}"
    elif not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        problem = "not writable"
    if problem:
        err.print(f"{flag} {path}: {problem}", markup=False, highlight=False)
        raise typer.Exit(2)
