"""Load a site, a procedure and its faults from YAML, validate them, and report every problem.

Shape errors come from pydantic; cross-reference errors from :mod:`padguard.model.validate`.
Both are reported as :class:`Problem` with the file, line and field. Nothing runs on an
invalid model: :func:`load` raises :class:`ModelError` instead of returning one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from padguard.model.errors import ModelError, Problem
from padguard.model.schema import Faults, Procedure, Site
from padguard.model.yamlsrc import Located, load_yaml

T = TypeVar("T", bound=BaseModel)


@dataclass
class Model:
    """A validated site + procedure + faults triple, ready to compile."""

    site: Site
    procedure: Procedure
    faults: Faults
    files: dict[str, str]


def sites_dir() -> Path:
    """The folder of reference sites shipped with the package."""
    return Path(str(resources.files("padguard") / "sites"))


def shipped_sites() -> list[str]:
    return sorted(p.name for p in sites_dir().iterdir() if (p / "site.yaml").exists())


def _describe_pydantic(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    typ = err.get("type", "")
    if typ == "missing":
        return "required field is missing"
    if typ == "extra_forbidden":
        return "unknown field (check the spelling; see `padguard schema`)"
    msg = msg.removeprefix("Value error, ")
    if "input" in err and typ not in ("missing",) and not isinstance(err["input"], dict | list):
        msg += f" (got {err['input']!r})"
    return msg


def parse_as(cls: type[T], located: Located) -> T:
    """Validate one located YAML document as ``cls``, mapping errors to file lines."""
    try:
        return cls.model_validate(located.data)
    except ValidationError as exc:
        problems = []
        seen = set()
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("Term", "Expr"))))
            key = (loc, err.get("type"))
            if key in seen:
                continue
            seen.add(key)
            # Pydantic reports field aliases ('from', 'in', 'is'): keep them as written.
            problems.append((loc, err.get("type"), located.problem(loc, _describe_pydantic(err))))
        raise ModelError(_merge_misspellings(cls, problems, located)) from None


def _fields_at(cls: type, loc: tuple) -> list[str]:
    """The field names (as written in YAML) of the model at ``loc`` inside ``cls``, or []."""
    import types
    import typing

    from pydantic import BaseModel

    def models_in(tp: Any) -> list[type]:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return [tp]
        out: list[type] = []
        if typing.get_origin(tp) in (list, tuple, dict, typing.Union, types.UnionType, typing.Annotated):
            for a in typing.get_args(tp):
                out += models_in(a)
        return out

    cur: list[type] = [cls]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt: list[type] = []
        for m in cur:
            for name, f in m.model_fields.items():
                if part in (name, f.alias):
                    nxt += models_in(f.annotation)
        cur = nxt
    return sorted({f.alias or n for m in cur for n, f in m.model_fields.items()})


def _merge_misspellings(cls: type, found: list[tuple], located: Located) -> list[Problem]:
    """A misspelled field is one problem ("unknown field 'intial'; did you mean 'initial'?"),
    not two (that plus "required field is missing" for the real name)."""
    import difflib

    missing = {loc: p for loc, typ, p in found if typ == "missing"}
    drop: set[tuple] = set()
    out: list[Problem] = []
    for loc, typ, p in found:
        if typ != "extra_forbidden" or not loc or not isinstance(loc[-1], str):
            out.append(p)
            continue
        parent, name = loc[:-1], loc[-1]
        absent = [str(m[-1]) for m in missing if m[:-1] == parent]
        close = difflib.get_close_matches(name, absent, n=1, cutoff=0.6)
        if close:
            drop.add(parent + (close[0],))
            hint = f"; did you mean '{close[0]}'? (a required field)"
        else:
            close = difflib.get_close_matches(name, _fields_at(cls, parent), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else " (see `padguard schema`)"
        out.append(Problem(p.file, p.line, p.field, f"unknown field '{name}'{hint}"))
    return [p for p in out if not any(p is missing.get(d) for d in drop)]


def resolve_site(site: str | Path) -> Path:
    """A shipped site name, a site folder, or a site.yaml path -> the site.yaml path."""
    p = Path(site)
    if p.is_dir():
        return p / "site.yaml"
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    shipped = sites_dir() / str(site) / "site.yaml"
    if shipped.exists():
        return shipped
    names = ", ".join(shipped_sites())
    raise ModelError([Problem(str(site), None, "", f"no such site file or shipped site (shipped: {names})")])


def resolve_procedure(site_yaml: Path, procedure: str | Path) -> Path:
    p = Path(procedure)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    cand = site_yaml.parent / f"{procedure}.yaml"
    if cand.exists():
        return cand
    known = sorted(
        q.stem for q in site_yaml.parent.glob("*.yaml") if q.stem not in ("site", "faults", *NOT_PROCEDURES)
    )
    raise ModelError([Problem(str(procedure), None, "",
                              f"no such procedure file or procedure of this site (known: {', '.join(known) or 'none'})")])


def load(site: str | Path, procedure: str | Path, faults: str | Path | None = None) -> Model:
    """Load and validate a model. ``site``/``procedure`` may be shipped names or paths.

    Faults default to ``faults.yaml`` beside the site file; a site without one has none.
    """
    from padguard.model.validate import validate_model

    site_path = resolve_site(site)
    proc_path = resolve_procedure(site_path, procedure)
    fault_path = Path(faults) if faults else site_path.parent / "faults.yaml"
    problems: list[Problem] = []
    docs: dict[str, Located] = {}
    parsed: dict[str, Any] = {}
    for key, path, cls in (("site", site_path, Site), ("procedure", proc_path, Procedure),
                           ("faults", fault_path, Faults)):
        if key == "faults" and not faults and not fault_path.exists():
            parsed[key] = None
            continue
        try:
            loc = load_yaml(path)
            docs[key] = loc
            parsed[key] = parse_as(cls, loc)
        except ModelError as exc:
            problems.extend(exc.problems)
            parsed[key] = None
    if problems:
        raise ModelError(problems)
    site_m: Site = parsed["site"]
    if parsed["faults"] is None:
        parsed["faults"] = Faults(site=site_m.site, faults=[])
        docs["faults"] = Located(str(fault_path), {}, {})
    model = Model(site_m, parsed["procedure"], parsed["faults"],
                  {k: v.file for k, v in docs.items()})
    problems = validate_model(model, docs)
    if problems:
        raise ModelError(problems)
    return model


#: File names (stems) in a site folder that are not procedures (e.g. the OPC UA mapping).
NOT_PROCEDURES: set[str] = set()

#: File kinds that edge packages add to ``padguard check`` (e.g. the OPC UA mapping, top-level
#: key ``mapping:``): top-level key -> a checker returning the file's problems.
EXTRA_KINDS: dict[str, Callable[[Located], list[Problem]]] = {}


def check_files(paths: list[str | Path]) -> list[Problem]:
    """Validate files on their own or together (``padguard check``): returns all problems.

    Each file is recognised by its top-level key (site / procedure / faults). Procedures and
    faults are cross-checked against their site: one given alongside, else ``site.yaml`` beside
    the file, else a shipped site of that name. A site is checked with its faults (given, or
    ``faults.yaml`` beside it), since a fault can make a position reachable.
    """
    from padguard.model.validate import validate_model

    problems: list[Problem] = []
    sites: dict[str, tuple[Site, Located]] = {}
    faults_for: dict[str, tuple[Faults, Located]] = {}
    procs: list[tuple[Procedure, Located]] = []
    for path in paths:
        try:
            loc = load_yaml(path)
        except ModelError as exc:
            problems.extend(exc.problems)
            continue
        data = loc.data
        extra = next((k for k in EXTRA_KINDS if k in data), None)
        if extra is not None:
            problems.extend(EXTRA_KINDS[extra](loc))
            continue
        if "procedure" in data:
            kind = "procedure"
        elif "faults" in data:
            kind = "faults"
        elif "equipment" in data or "name" in data:
            kind = "site"
        else:
            problems.append(loc.problem((), "cannot tell what this file is: expected a top-level "
                                            "'procedure:', 'faults:', or a site with 'equipment:'"))
            continue
        cls = {"site": Site, "procedure": Procedure, "faults": Faults}[kind]
        try:
            obj = parse_as(cls, loc)
        except ModelError as exc:
            problems.extend(exc.problems)
            continue
        if isinstance(obj, Site):
            sites[obj.site] = (obj, loc)
        elif isinstance(obj, Faults):
            faults_for[obj.site] = (obj, loc)
        else:
            procs.append((obj, loc))  # type: ignore[arg-type]

    def site_for(name: str, near: Located) -> tuple[Site, Located] | None:
        if name not in sites:
            try:
                sp = Path(near.file).parent / "site.yaml"
                if not sp.exists():
                    sp = resolve_site(name)
                sloc = load_yaml(sp)
                sites[name] = (parse_as(Site, sloc), sloc)
            except ModelError:
                return None
        return sites[name]

    def faults_near(name: str, sloc: Located) -> tuple[Faults, Located]:
        if name not in faults_for:
            fp = Path(sloc.file).parent / "faults.yaml"
            try:
                floc = load_yaml(fp) if fp.exists() else None
                faults_for[name] = (parse_as(Faults, floc), floc) if floc else (Faults(site=name), Located(str(fp), {}))
            except ModelError:
                faults_for[name] = (Faults(site=name), Located(str(fp), {}))
                broken_faults.add(name)
        return faults_for[name]

    broken_faults: set[str] = set()

    checked = {str(p) for p in paths}
    for name, (site_obj, sloc) in list(sites.items()):
        f_obj, floc = faults_near(name, sloc)
        m = Model(site_obj, _empty_procedure(site_obj), f_obj, {})
        # With its faults.yaml broken (reported on its own), a position only a fault reaches
        # would look unreachable: no knock-on error in site.yaml for that.
        problems.extend(p for p in validate_model(m, {"site": sloc, "faults": floc})
                        if p.file in checked and not (name in broken_faults and "is unreachable" in p.message))
    for name, (f_obj, floc) in list(faults_for.items()):
        if floc.file not in checked:
            continue
        found = site_for(name, floc)
        if found is None:
            problems.append(floc.problem(("site",), f"cannot check against site '{name}': its site.yaml is missing or invalid (give it too)"))
            continue
        site_obj, sloc = found
        if sloc.file in checked:
            continue  # already validated together with the site
        m = Model(site_obj, _empty_procedure(site_obj), f_obj, {})
        problems.extend(p for p in validate_model(m, {"site": sloc, "faults": floc}) if p.file == floc.file)
    for proc, ploc in procs:
        found = site_for(proc.site, ploc)
        if found is None:
            problems.append(ploc.problem(("site",), f"cannot check against site '{proc.site}': its site.yaml is missing or invalid (give it too)"))
            continue
        site_obj, sloc = found
        f_obj, floc = faults_near(proc.site, sloc)
        m = Model(site_obj, proc, f_obj, {})
        problems.extend(p for p in validate_model(m, {"site": sloc, "procedure": ploc, "faults": floc})
                        if p.file == ploc.file)
    unique: dict[Problem, None] = dict.fromkeys(problems)  # (the mapping check reloads the model)
    return list(unique)


def _empty_procedure(site: Site) -> Procedure:
    return Procedure(procedure="none", site=site.site, start=-1, ignition=0)
