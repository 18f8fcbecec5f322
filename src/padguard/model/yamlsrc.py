"""YAML loading that remembers where every value came from, so errors can name the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from padguard.model.errors import ModelError, Problem

Path_ = tuple[str | int, ...]


@dataclass
class Located:
    """A parsed YAML document plus the source line of each path within it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of the deepest existing prefix of ``path`` (1-based), if known."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)

    def problem(self, path: Path_, message: str) -> Problem:
        return Problem(self.file, self.line_of(path), fmt_path(path), message)


def fmt_path(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


#: Bounds of the loader: a model file is small and hand-written. An alias "bomb" (aliases of
#: aliases, each expanding many times) or a deep nesting is refused, quickly, with a line.
MAX_BYTES = 4_000_000
MAX_NODES = 200_000
MAX_DEPTH = 64


class _Budget:
    """Counts the values a document expands to (aliases included) and the open containers."""

    def __init__(self, file: str):
        self.file, self.nodes = file, 0
        self.open: set[int] = set()

    def take(self, node: yaml.Node, path: Path_) -> None:
        self.nodes += 1
        line = node.start_mark.line + 1
        if self.nodes > MAX_NODES:
            raise ModelError([Problem(self.file, line, fmt_path(path),
                                      f"the document expands to more than {MAX_NODES:,} values (an alias "
                                      "repeated inside aliases?); write the values out or use fewer aliases")])
        if len(path) > MAX_DEPTH:
            raise ModelError([Problem(self.file, line, fmt_path(path),
                                      f"nested deeper than {MAX_DEPTH} levels")])
        if id(node) in self.open:
            raise ModelError([Problem(self.file, line, fmt_path(path),
                                      "a recursive alias: this value contains itself")])


def _convert(node: yaml.Node, path: Path_, lines: dict[Path_, int], file: str,
             problems: list[Problem], budget: _Budget | None = None) -> Any:
    budget = budget or _Budget(file)
    budget.take(node, path)
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        budget.open.add(id(node))
        for knode, vnode in node.value:
            key = str(knode.value) if isinstance(knode, yaml.ScalarNode) else repr(knode.value)
            if key in out:
                problems.append(Problem(file, knode.start_mark.line + 1, fmt_path(path + (key,)),
                                        f"duplicate key '{key}' in the same mapping"))
            out[key] = _convert(vnode, path + (key,), lines, file, problems, budget)
            lines[path + (key,)] = knode.start_mark.line + 1
        budget.open.discard(id(node))
        return out
    if isinstance(node, yaml.SequenceNode):
        budget.open.add(id(node))
        items = [_convert(n, path + (i,), lines, file, problems, budget) for i, n in enumerate(node.value)]
        budget.open.discard(id(node))
        return items
    # Scalars: let PyYAML's safe constructor type them (int, float, bool, null, str).
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def load_yaml(path: str | Path, text: str | None = None) -> Located:
    """Load one YAML file, raising ModelError (with line) for malformed YAML."""
    p = Path(path)
    name = str(path)
    if text is None:
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelError([Problem(name, None, "", "file not found")]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError([Problem(name, None, "", f"cannot read file: {exc}")]) from None
    if len(text) > MAX_BYTES:
        raise ModelError([Problem(name, None, "", f"the file is {len(text):,} characters; a model file is at "
                                  f"most {MAX_BYTES:,}")])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        msg = f"malformed YAML: {exc.problem or exc}"
        if exc.context:
            msg += f" ({exc.context})"
        raise ModelError([Problem(name, line, "", msg)]) from None
    except yaml.YAMLError as exc:
        raise ModelError([Problem(name, None, "", f"malformed YAML: {exc}")]) from None
    except RecursionError:
        raise ModelError([Problem(name, None, "", "nested too deeply")]) from None
    if node is None:
        raise ModelError([Problem(name, 1, "", "the file is empty; expected a YAML mapping")])
    problems: list[Problem] = []
    lines: dict[Path_, int] = {}
    try:
        data = _convert(node, (), lines, name, problems)
    except yaml.YAMLError as exc:
        raise ModelError([Problem(name, None, "", f"malformed YAML: {exc}")]) from None
    except RecursionError:
        raise ModelError([Problem(name, None, "", "nested too deeply")]) from None
    if problems:
        raise ModelError(problems)
    if not isinstance(data, dict):
        raise ModelError([Problem(name, 1, "", "expected a YAML mapping at the top level")])
    return Located(name, data, lines)
