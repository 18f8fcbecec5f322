"""User invariants: a small, safe expression language over the true state of a countdown.

A procedure may declare invariants that the verifier checks in every settled state::

    invariants:
      - name: cabin_locked_at_launch
        expr: "mode != launched or (cabin == stowed and cabin.stopper == engaged)"
      - name: towers_clear_in_terminal
        expr: "count < T-5m or tower.half_a in [lowered]"

Grammar (keywords are lower case; ``implies`` binds loosest and groups to the right)::

    expr       := or ('implies' expr)?
    or         := and ('or' and)*
    and        := unary ('and' unary)*
    unary      := 'not' unary | '(' expr ')' | 'true' | 'false' | comparison
    comparison := VARIABLE ('==' | '!=' | '<' | '<=' | '>' | '>=') VALUE
                | VARIABLE ['not'] 'in' '[' VALUE (',' VALUE)* ']'

Variables (all read the *true* state, never what sensors report):

* an equipment name (``cabin.stopper``): its position, or ``in_transit``;
* a criterion name: ``ok``, ``unknown`` or ``violated`` (as the sequencer last judged it);
* a personnel zone name: ``occupied`` or ``clear``;
* ``mode``: ``counting``, ``holding``, ``terminal``, ``launched``, ``scrubbed``, ``aborted``;
* ``count``: the count clock, compared with count times such as ``T-45m``;
* ``time``: wall time since count start, compared with durations such as ``95m`` or ``500ms``;
* ``recycles``: how many recycles happened, compared with whole numbers.

Expressions are parsed here, never evaluated by Python's ``eval``; every name and value is
checked against the model, and mistakes are reported with the file, line and position.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from padguard.model.errors import ModelError, Problem
from padguard.model.times import parse_count_time, parse_duration

KEYWORDS = {"and", "or", "not", "in", "implies", "true", "false"}
MODES = ("counting", "holding", "terminal", "launched", "scrubbed", "aborted")  # Mode order
TRI = ("violated", "unknown", "ok")  # Tri order
ZONE = ("clear", "occupied")

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<count>T[-+][0-9][0-9hms:.]*|T0\b)
  | (?P<dur>[0-9]+(?:\.[0-9]+)?(?:ms|[hms])(?:[0-9]+(?:\.[0-9]+)?(?:ms|[hms]))*)
  | (?P<num>[0-9]+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
""", re.VERBOSE)


class InvariantError(ValueError):
    """A mistake in an invariant expression, at character ``pos`` (0-based)."""

    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.message = message
        self.pos = pos


@dataclass
class Tok:
    kind: str  # count | dur | num | name | op | kw | end
    text: str
    pos: int


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m:
            raise InvariantError(f"unexpected character {text[i]!r}", i)
        kind = m.lastgroup or ""
        if kind != "ws":
            word = m.group()
            if kind == "name" and word in KEYWORDS:
                kind = "kw"
            out.append(Tok(kind, word, i))
        i = m.end()
    out.append(Tok("end", "", len(text)))
    return out


# ---- syntax tree


@dataclass
class Cmp:
    var: str
    op: str  # == != < <= > >= in notin
    values: list[Tok]
    pos: int


@dataclass
class BoolOp:
    op: str  # and | or | implies
    items: list[Any]


@dataclass
class Not:
    item: Any


@dataclass
class Const:
    value: bool


class _Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0

    @property
    def cur(self) -> Tok:
        return self.toks[self.i]

    def take(self, kind: str | None = None, text: str | None = None) -> Tok:
        t = self.cur
        if (kind and t.kind != kind) or (text and t.text != text):
            want = repr(text) if text else {"name": "a name", "op": "an operator"}.get(kind or "", kind)
            got = "the end of the expression" if t.kind == "end" else repr(t.text)
            raise InvariantError(f"expected {want}, found {got}", t.pos)
        self.i += 1
        return t

    def parse(self) -> Any:
        e = self.expr()
        if self.cur.kind != "end":
            raise InvariantError(f"unexpected {self.cur.text!r}: expected 'and', 'or', 'implies' or the end",
                                 self.cur.pos)
        return e

    def expr(self) -> Any:
        left = self.or_()
        if self.cur.kind == "kw" and self.cur.text == "implies":
            self.i += 1
            return BoolOp("implies", [left, self.expr()])
        return left

    def or_(self) -> Any:
        items = [self.and_()]
        while self.cur.kind == "kw" and self.cur.text == "or":
            self.i += 1
            items.append(self.and_())
        return items[0] if len(items) == 1 else BoolOp("or", items)

    def and_(self) -> Any:
        items = [self.unary()]
        while self.cur.kind == "kw" and self.cur.text == "and":
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", items)

    def unary(self) -> Any:
        t = self.cur
        if t.kind == "kw" and t.text == "not":
            self.i += 1
            return Not(self.unary())
        if t.kind == "op" and t.text == "(":
            self.i += 1
            e = self.expr()
            self.take("op", ")")
            return e
        if t.kind == "kw" and t.text in ("true", "false"):
            self.i += 1
            return Const(t.text == "true")
        if t.kind != "name":
            got = "the end of the expression" if t.kind == "end" else repr(t.text)
            raise InvariantError(f"expected a comparison such as 'cabin == stowed', found {got}", t.pos)
        self.i += 1
        op = self.cur
        if op.kind == "kw" and op.text in ("in", "not"):
            neg = op.text == "not"
            self.i += 1
            if neg:
                self.take("kw", "in")
            self.take("op", "[")
            vals = [self.value()]
            while self.cur.kind == "op" and self.cur.text == ",":
                self.i += 1
                vals.append(self.value())
            self.take("op", "]")
            return Cmp(t.text, "notin" if neg else "in", vals, t.pos)
        if op.kind == "op" and op.text in ("==", "!=", "<", "<=", ">", ">="):
            self.i += 1
            return Cmp(t.text, op.text, [self.value()], t.pos)
        got = "the end of the expression" if op.kind == "end" else repr(op.text)
        raise InvariantError(f"expected ==, !=, <, <=, >, >=, 'in' or 'not in' after '{t.text}', found {got}",
                             op.pos)

    def value(self) -> Tok:
        t = self.cur
        if t.kind in ("name", "count", "dur", "num"):
            self.i += 1
            return t
        got = "the end of the expression" if t.kind == "end" else repr(t.text)
        raise InvariantError(f"expected a value, found {got}", t.pos)


def parse(text: str) -> Any:
    """Parse an invariant expression into a syntax tree (raises :class:`InvariantError`)."""
    if not text.strip():
        raise InvariantError("empty expression", 0)
    return _Parser(text).parse()


# ---- names and domains (from the model, so `padguard check` can use them without a Plan)


@dataclass
class Var:
    kind: str  # equipment | criterion | zone | mode | count | time | recycles
    index: int
    domain: list[str]


def variables(site: Any, procedure: Any) -> dict[str, list[Var]]:
    """Every variable name an invariant may use, with its kind and value domain."""
    out: dict[str, list[Var]] = {}
    for i, e in enumerate(site.equipment):
        out.setdefault(e.name, []).append(Var("equipment", i, list(e.positions) + ["in_transit"]))
    for i, c in enumerate(procedure.criteria):
        out.setdefault(c.name, []).append(Var("criterion", i, list(TRI)))
    for i, z in enumerate(site.personnel_zones):
        out.setdefault(z.name, []).append(Var("zone", i, list(ZONE)))
    for name, kind in (("mode", "mode"), ("count", "count"), ("time", "time"), ("recycles", "recycles")):
        out.setdefault(name, []).append(Var(kind, 0, list(MODES) if kind == "mode" else []))
    return out


def _hint(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; expected one of: {', '.join(known[:12])}" if known else ""


def check(tree: Any, vars_: dict[str, list[Var]]) -> None:
    """Resolve every name and value in ``tree`` (raises :class:`InvariantError`)."""
    if isinstance(tree, BoolOp):
        for it in tree.items:
            check(it, vars_)
    elif isinstance(tree, Not):
        check(tree.item, vars_)
    elif isinstance(tree, Cmp):
        _resolve(tree, vars_)


def _resolve(c: Cmp, vars_: dict[str, list[Var]]) -> tuple[Var, list[int]]:
    """The variable and the encoded values of a comparison."""
    cands = vars_.get(c.var)
    if not cands:
        raise InvariantError(f"unknown name '{c.var}'" + _hint(c.var, sorted(vars_)), c.pos)
    if len(cands) > 1:
        kinds = " and ".join(v.kind for v in cands)
        raise InvariantError(f"'{c.var}' is ambiguous: it names a {kinds}", c.pos)
    v = cands[0]
    codes = []
    if v.kind in ("equipment", "criterion", "zone", "mode"):
        if c.op in ("<", "<=", ">", ">="):
            raise InvariantError(f"'{c.var}' names {'an' if v.kind[0] in 'aeiou' else 'a'} {v.kind}: compare it with ==, != or in", c.pos)
        for t in c.values:
            if t.kind != "name" or t.text not in v.domain:
                raise InvariantError(f"'{t.text}' is not a value of {v.kind} '{c.var}'" + _hint(t.text, v.domain),
                                     t.pos)
            codes.append(v.domain.index(t.text))
        return v, codes
    for t in c.values:
        try:
            if v.kind == "count":
                if t.kind != "count":
                    raise ValueError("expected a count time such as T-45m")
                codes.append(int(round(parse_count_time(t.text) * 1000)))
            elif v.kind == "time":
                if t.kind not in ("dur", "num"):
                    raise ValueError("expected a duration such as 95m or 1h30m")
                codes.append(int(round(parse_duration(t.text) * 1000)))
            else:
                if t.kind != "num":
                    raise ValueError("expected a whole number")
                codes.append(int(t.text))
        except ValueError as exc:
            raise InvariantError(f"bad value '{t.text}' for '{c.var}': {exc}", t.pos) from None
    return v, codes


# ---- compiled form


@dataclass
class CompiledInvariant:
    """An invariant ready to evaluate on state columns: ``evaluate(plan, S) -> (N,) bool``."""

    name: str
    text: str
    fn: Callable[[Any, np.ndarray], np.ndarray]

    def evaluate(self, plan: Any, S: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(plan, S), dtype=bool)


def _row(plan: Any, v: Var) -> Callable[[np.ndarray], np.ndarray]:
    if v.kind == "equipment":
        r = plan.POS + v.index
        transit = int(plan.transit[v.index])
        return lambda S: np.minimum(S[r], transit)
    if v.kind == "criterion":
        r = plan.CST + v.index
        return lambda S: S[r]
    if v.kind == "zone":
        r = plan.OCC + v.index
        return lambda S: (S[r] > 0).astype(np.int64)
    if v.kind == "mode":
        return lambda S: S[plan.MODE]
    if v.kind == "count":
        return lambda S: S[plan.TC]
    if v.kind == "time":
        return lambda S: S[plan.T]
    return lambda S: S[plan.NREC]


_OPS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _compile(tree: Any, plan: Any, vars_: dict[str, list[Var]]) -> Callable[[Any, np.ndarray], np.ndarray]:
    if isinstance(tree, Const):
        val = tree.value
        return lambda p, S: np.full(S.shape[1], val)
    if isinstance(tree, Not):
        f = _compile(tree.item, plan, vars_)
        return lambda p, S: ~f(p, S)
    if isinstance(tree, BoolOp):
        fs = [_compile(i, plan, vars_) for i in tree.items]
        if tree.op == "implies":
            a, b = fs
            return lambda p, S: ~a(p, S) | b(p, S)
        if tree.op == "and":
            return lambda p, S: np.logical_and.reduce([f(p, S) for f in fs])
        return lambda p, S: np.logical_or.reduce([f(p, S) for f in fs])
    v, codes = _resolve(tree, vars_)
    get = _row(plan, v)
    if tree.op in ("in", "notin"):
        arr = np.array(codes, dtype=np.int64)
        neg = tree.op == "notin"
        return lambda p, S: np.isin(get(S), arr) ^ neg
    op = _OPS[tree.op]
    code = codes[0]
    return lambda p, S: op(get(S), code)


def _where(model: Any, i: int) -> tuple[str, int | None]:
    """File and line of invariant ``i``'s expression in the procedure file (best effort)."""
    from padguard.model.yamlsrc import load_yaml

    path = getattr(model, "files", {}).get("procedure", "procedure.yaml")
    try:
        loc = load_yaml(path)
    except (ModelError, OSError):
        return path, None
    return path, loc.line_of(("invariants", i, "expr"))


def problems(model: Any, located: Any = None) -> list[Problem]:
    """Every mistake in the model's invariants, as file:line problems (empty when all parse)."""
    out: list[Problem] = []
    vars_ = variables(model.site, model.procedure)
    names: set[str] = set()
    for i, inv in enumerate(model.procedure.invariants):
        field = f"invariants[{i}].expr"
        if inv.name in names:
            out.append(_problem(model, located, i, f"invariants[{i}].name", f"duplicate invariant '{inv.name}'",
                                ("invariants", i, "name")))
        names.add(inv.name)
        try:
            check(parse(inv.expr), vars_)
        except InvariantError as exc:
            out.append(_problem(model, located, i, field, f"{exc.message} (at character {exc.pos + 1} of "
                                f"'{inv.expr}')", ("invariants", i, "expr")))
    return out


def _problem(model: Any, located: Any, i: int, field: str, msg: str, path: tuple) -> Problem:
    if located is not None:
        return Problem(located.file, located.line_of(path), field, msg)
    file, line = _where(model, i)
    return Problem(file, line, field, msg)


def compile_invariants(plan: Any) -> list[CompiledInvariant]:
    """The procedure's invariants, compiled for ``plan`` (raises ModelError with file:line)."""
    model = plan.model
    probs = problems(model)
    if probs:
        raise ModelError(probs)
    vars_ = variables(model.site, model.procedure)
    return [CompiledInvariant(inv.name, inv.expr, _compile(parse(inv.expr), plan, vars_))
            for inv in model.procedure.invariants]


def compile_expr(plan: Any, text: str, name: str = "expr") -> CompiledInvariant:
    """Compile one expression (e.g. from the command line); raises :class:`InvariantError`."""
    vars_ = variables(plan.model.site, plan.model.procedure)
    tree = parse(text)
    check(tree, vars_)
    return CompiledInvariant(name, text, _compile(tree, plan, vars_))
