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


def _plain_types() -> None:
    """``--help`` in click's plain style: TEXT, INTEGER, PATH, none for flags.

    typer >= 0.26 prints ``<bool>`` after every flag (so ``--json <bool>`` looks like it takes a
    value), ``<list[str]>`` and ``<int range>``; padguard's help says what a value is instead.
    """
    core = typer.core
    base = getattr(core, "_TyperParameter", None)
    if base is None or not hasattr(base, "display_type"):
        return
    orig = base.display_type
    names = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH", "file": "FILE",
             "directory": "DIRECTORY", "int range": "INTEGER", "float range": "NUMBER"}

    def display_type(self, ctx):
        if getattr(self, "is_flag", False) or self.param_type_name == "argument":
            return None
        label = orig(self, ctx).strip("<>")
        if label.startswith("list[") and label.endswith("]"):
            label = label[5:-1]
        if "|" in label:
            return f"[{label}]"
        return names.get(label, label.upper())

    base.display_type = display_type
    arg = getattr(core, "TyperArgument", None)
    if arg is not None and hasattr(arg, "_usage_display_name") and hasattr(arg, "_rich_display_name"):
        def usage_name(self) -> str:
            name = self.display_name_raw.upper()
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")

        arg._usage_display_name = usage_name
        arg._rich_display_name = lambda self: self.display_name_raw.upper() + ("..." if self.nargs != 1 else "")


_plain_types()

#: help text is plain (rich markup would eat "[@TIME]" in "COMPONENT:MODE[@TIME]")
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="padguard: keep a launch pad from being destroyed by its own launch.")

#: Command groups, in the order ``--help`` lists them. Each module has ``register(app)``.
GROUPS = ("padguard.cli.model", "padguard.cli.simulate", "padguard.cli.verify", "padguard.cli.risk",
          "padguard.cli.live", "padguard.cli.crew", "padguard.cli.console")


def _register() -> None:
    for mod in GROUPS:
        importlib.import_module(mod).register(app)


_register()


def main() -> None:
    """Entry point: never let a traceback reach an operator for bad input."""
    try:
        app(prog_name="padguard")
    except ModelError as exc:
        err.print(str(exc), markup=False)
        sys.exit(2)


__all__ = ["OUTCOME_STYLE", "STYLE", "app", "console", "err", "fail_model", "load_plan", "main", "print_timeline"]
