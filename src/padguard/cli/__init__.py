"""The padguard command line (typer + rich): one module per command group.

Every command that takes a model validates it first and exits non-zero with file:line
messages on bad input; no traceback reaches the user. The modules stay thin: flags in,
calls into the engines, results out.
"""

from __future__ import annotations

import importlib
import sys

import typer

from padguard.cli.common import (
    OUTCOME_STYLE,
    STYLE,
    console,
    err,
    fail_model,
    load_plan,
    print_timeline,
)
from padguard.model.errors import ModelError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="padguard: keep a launch pad from being destroyed by its own launch.")

#: Command groups, in the order ``--help`` lists them. Each module has ``register(app)``.
GROUPS = ("padguard.cli.model", "padguard.cli.simulate", "padguard.cli.verify", "padguard.cli.risk",
          "padguard.cli.live", "padguard.cli.crew")


def _register() -> None:
    for mod in GROUPS:
        importlib.import_module(mod).register(app)


_register()


def main() -> None:
    """Entry point: never let a traceback reach an operator for bad input."""
    try:
        app()
    except ModelError as exc:
        err.print(str(exc), markup=False)
        sys.exit(2)


__all__ = ["OUTCOME_STYLE", "STYLE", "app", "console", "err", "fail_model", "load_plan", "main", "print_timeline"]
