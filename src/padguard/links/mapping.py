"""The OPC UA mapping file: which node carries each model sensor and command.

A mapping is a model file like the others: loaded with line-aware YAML, shape-checked by
pydantic and cross-checked against the compiled Plan, every problem reported with its file,
line and field. The simulated pad (``padguard pad-sim``) builds its address space from the
same file, so the twin and the runtime agree on node ids by construction.

Node ids are written without their namespace index (``s=site31.sensors.cabin_pos_a``); the
index is looked up from ``namespace`` when the link connects, because servers number their
namespaces in the order they register them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from padguard.compile import Plan, StepKind
from padguard.model.errors import ModelError, Problem
from padguard.model.loader import EXTRA_KINDS, NOT_PROCEDURES, parse_as, resolve_site
from padguard.model.schema import Name
from padguard.model.validate import IN_TRANSIT
from padguard.model.yamlsrc import Located, load_yaml

_INT_RE = re.compile(r"-?\d+")
NODE_RE = re.compile(r"^(s=.+|i=\d+|g=[0-9a-fA-F-]{36}|b=[A-Za-z0-9+/=]+)$")
MAP_FILE = "opcua-map.yaml"


def _node(v: Any) -> str:
    if not isinstance(v, str) or not NODE_RE.match(v):
        raise ValueError(f"{v!r} is not a node id: write it without the namespace, e.g. "
                         "'s=site31.sensors.cabin_pos_a' or 'i=1001'")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class SensorNode(_Strict):
    """A variable that carries one sensor's reading."""

    node: str
    values: dict[str | int, Name] | None = Field(
        default=None, description="raw PLC value -> position name; default: the raw value is the name")
    _chk = field_validator("node")(lambda cls, v: _node(v))


class BlockNode(_Strict):
    """An array variable that carries one reading of each of several sensors (a PLC block).

    Element ``i`` of the array is a sample of ``sensors[i]``; all of them share the value's one
    source timestamp (the PLC sampled them together). Fewer, larger notifications: the way a
    pure-Python OPC UA stack carries 10,000 sensors (see docs/live.md, "Many sensors").
    """

    node: str
    sensors: list[Name] = Field(min_length=1, max_length=65_536)
    values: dict[str | int, Name] | None = Field(
        default=None, description="raw PLC value -> position name, for every element; default: the name itself")
    _chk = field_validator("node")(lambda cls, v: _node(v))


class MethodNode(_Strict):
    """An OPC UA method (on its object) that carries one kind of command."""

    object: str
    method: str
    _chk = field_validator("object", "method")(lambda cls, v: _node(v))


class LinkSettings(_Strict):
    """How the runtime talks to the server (wall-clock seconds, not count time)."""

    publishing_interval_ms: float = Field(default=0, ge=0, le=60_000, description="0 = publish every change at once")
    request_timeout_s: float = Field(default=2.0, gt=0, le=60, description="finite: a timeout that never ends is a hang")
    link_timeout_s: float = Field(default=2.0, gt=0, le=600, description="silence on the link that counts as loss")
    max_value_chars: int = Field(default=256, ge=1, le=65_536,
                                 description="a sample value longer than this is malformed (never archived whole)")


class DryRun(_Strict):
    """Nodes the simulated pad adds for dry runs (clock, lockstep acknowledgement, fault injection)."""

    object: str
    clock: str
    status: str
    ack: str
    inject: str
    clear: str
    set_speed: str
    _chk = field_validator("object", "clock", "status", "ack", "inject", "clear", "set_speed")(
        lambda cls, v: _node(v))


class Mapping(_Strict):
    """The whole mapping file."""

    mapping: Name = Field(description="the site this file maps")
    description: str = ""
    namespace: str = Field(min_length=1, description="namespace URI of the node ids below")
    link: LinkSettings = Field(default_factory=LinkSettings)
    sensors: dict[Name, SensorNode] = Field(default_factory=dict)
    blocks: dict[Name, BlockNode] = Field(default_factory=dict, description="array nodes, one element per sensor")
    commands: dict[Name, MethodNode] = Field(default_factory=dict)
    zones: dict[Name, MethodNode] = Field(default_factory=dict)
    ignition: MethodNode | None = None
    dry_run: DryRun | None = None


@dataclass
class LinkMap:
    """A validated mapping bound to a Plan: indices instead of names."""

    mapping: Mapping
    file: str
    sensor_of_node: dict[str, int]  # node id (without ns) -> sensor index
    node_of_sensor: dict[int, str]
    decode_table: dict[int, dict[str, str] | None]  # sensor -> {str(raw): position name}
    sensor_names: dict[int, str]
    #: block name -> its sensors' indices, in element order
    block_sensors: dict[str, list[int]] = field(default_factory=dict)
    _codes: dict[int, dict[str, int]] = field(default_factory=dict, repr=False)

    @property
    def watched(self) -> list[int]:
        """Sensor indices the link delivers (the runtime watches their freshness)."""
        return sorted([*self.node_of_sensor, *(s for b in self.block_sensors.values() for s in b)])

    def decode(self, plan: Plan, s: int, raw: Any) -> int:
        """A raw OPC UA value -> the sensor's value code (-2 when malformed or out of range).

        Types are kept apart: an integer-mapped value (``values: {1: engaged}``) decodes only
        from an integer, never from the string "1"; a named value only from a string.
        """
        codes = self._codes.get(s)
        if codes is None:  # {raw: code}, built once per sensor (this is the hot path)
            table = self.decode_table.get(s)
            names = table if table is not None else {v: v for v in plan.sensor_domain(s)}
            codes = self._codes[s] = {(int(k) if _INT_RE.fullmatch(str(k)) else str(k)): plan.encode_sensor(s, v)
                                      for k, v in names.items()}
        kind = raw.__class__
        if kind is str or kind is int:  # (not bool: a subclass of int, and not a number type)
            return codes.get(raw, -2)
        return -2

    def encode(self, s: int, name: str) -> Any:
        """A position name -> the raw value the pad publishes (inverse of :meth:`decode`)."""
        sn = self.mapping.sensors.get(self.sensor_name(s))
        table = sn.values if sn is not None else self._block_values.get(s)
        if table is None:
            return name
        for raw, v in table.items():
            if v == name:  # YAML keys arrive as text: a PLC that counts gets its numbers back
                return int(raw) if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw) else raw
        return name

    def sensor_name(self, s: int) -> str:
        return self.sensor_names[s]

    @property
    def _block_values(self) -> dict[int, Any]:
        out = self.__dict__.get("_bv")
        if out is None:
            out = self.__dict__["_bv"] = {s: bn.values for b, bn in self.mapping.blocks.items()
                                          for s in self.block_sensors.get(b, [])}
        return out


def default_map_path(site: str | Path) -> Path:
    """``opcua-map.yaml`` beside the site file (shipped sites carry one)."""
    return resolve_site(site).parent / MAP_FILE


def load_mapping(path: str | Path) -> tuple[Mapping, Located]:
    """Load and shape-check a mapping file (ModelError with file:line on any problem)."""
    loc = load_yaml(path)
    return parse_as(Mapping, loc), loc


def bind(plan: Plan, mapping: Mapping, loc: Located, *, for_pad: bool = False) -> LinkMap:
    """Cross-check ``mapping`` against ``plan`` and index it. Every problem is reported at once.

    The runtime needs every sensor a criterion reads and every equipment a step moves; the pad
    (``for_pad``) only needs the names to exist.
    """
    out: list[Problem] = []
    site = plan.model.site
    if mapping.mapping != site.site:
        out.append(loc.problem(("mapping",), f"this file maps site '{mapping.mapping}', the model is site '{site.site}'"))
    sensor_idx = {n: i for i, n in enumerate(plan.sensors)}
    seen_nodes: dict[str, tuple] = {}

    def node_once(node: str, path: tuple) -> None:
        if node in seen_nodes:
            out.append(loc.problem(path, f"node '{node}' is already used at {'.'.join(map(str, seen_nodes[node]))}"))
        else:
            seen_nodes[node] = path

    sensor_of_node: dict[str, int] = {}
    node_of_sensor: dict[int, str] = {}
    decode_table: dict[int, dict[str, str] | None] = {}
    for name, sn in mapping.sensors.items():
        path = ("sensors", name)
        if name not in sensor_idx:
            out.append(loc.problem(path, f"unknown sensor '{name}'{_similar(name, plan.sensors)}"))
            continue
        s = sensor_idx[name]
        node_once(sn.node, path + ("node",))
        sensor_of_node[sn.node] = s
        node_of_sensor[s] = sn.node
        if sn.values is not None:
            dom = plan.sensor_domain(s)
            for raw, v in sn.values.items():
                if v not in dom:
                    out.append(loc.problem(path + ("values", raw),
                                           f"'{v}' is not a value of {name} (one of {', '.join(dom)})"))
            decode_table[s] = {str(k): v for k, v in sn.values.items()}
        else:
            decode_table[s] = None
    block_sensors: dict[str, list[int]] = {}
    sensor_names = {s: plan.sensors[s] for s in node_of_sensor}
    for bname, bn in mapping.blocks.items():
        path = ("blocks", bname)
        node_once(bn.node, path + ("node",))
        members: list[int] = []
        for k, name in enumerate(bn.sensors):
            if name not in sensor_idx:
                out.append(loc.problem(path + ("sensors", k), f"unknown sensor '{name}'{_similar(name, plan.sensors)}"))
                continue
            s = sensor_idx[name]
            if s in sensor_names:
                out.append(loc.problem(path + ("sensors", k), f"sensor '{name}' already has a node (or block): "
                                       "one source per sensor"))
                continue
            sensor_names[s] = name
            members.append(s)
            dom = plan.sensor_domain(s)
            for raw, v in (bn.values or {}).items():
                if v not in dom:
                    out.append(loc.problem(path + ("values", raw), f"'{v}' is not a value of {name} "
                                           f"(one of {', '.join(dom)})"))
                    break
            decode_table[s] = None if bn.values is None else {str(k2): v for k2, v in bn.values.items()}
        block_sensors[bname] = members
    equip = set(plan.equipment)
    for name, mn in mapping.commands.items():
        if name not in equip:
            out.append(loc.problem(("commands", name), f"unknown equipment '{name}'{_similar(name, plan.equipment)}"))
        node_once(mn.method, ("commands", name, "method"))
    for name, mn in mapping.zones.items():
        if name not in plan.zones:
            out.append(loc.problem(("zones", name), f"unknown personnel zone '{name}'{_similar(name, plan.zones)}"))
        node_once(mn.method, ("zones", name, "method"))
    if not for_pad:
        needed = sorted({int(s) for e in plan.c_expr for s in _expr_sensors(e)})
        missing = [plan.sensors[s] for s in needed if s not in sensor_names]
        if missing:
            out.append(loc.problem(("sensors",), "criteria of this procedure read sensors with no node: "
                                   + ", ".join(missing)))
        moved = sorted({plan.equipment[int(plan.step_target[j])] for j in range(len(plan.steps))
                        if plan.step_kind[j] == StepKind.MOVE})
        unmapped = [e for e in moved if e not in mapping.commands]
        if unmapped:
            out.append(loc.problem(("commands",), "the procedure moves equipment with no command node: "
                                   + ", ".join(unmapped)))
    if out:
        raise ModelError(out)
    return LinkMap(mapping, loc.file, sensor_of_node, node_of_sensor, decode_table, sensor_names, block_sensors)


def load_linkmap(plan: Plan, path: str | Path, *, for_pad: bool = False) -> LinkMap:
    """Load, validate and bind a mapping file to ``plan``."""
    mapping, loc = load_mapping(path)
    return bind(plan, mapping, loc, for_pad=for_pad)


def site_model(site: str | Path, faults: str | Path | None = None):
    """A site and its faults as a Model with an empty procedure: what a pad or a check needs."""
    from padguard.model.loader import Model
    from padguard.model.schema import Faults, Procedure, Site
    from padguard.model.validate import validate_model

    sp = resolve_site(site)
    sloc = load_yaml(sp)
    site_m = parse_as(Site, sloc)
    fp = Path(faults) if faults else sp.parent / "faults.yaml"
    docs = {"site": sloc}
    if faults or fp.exists():
        docs["faults"] = load_yaml(fp)
        faults_m = parse_as(Faults, docs["faults"])
    else:
        faults_m = Faults(site=site_m.site)
    proc = Procedure(procedure="none", site=site_m.site, start=-1, ignition=0)
    model = Model(site_m, proc, faults_m, {k: v.file for k, v in docs.items()})
    problems = [p for p in validate_model(model, docs) if p.file in {v.file for v in docs.values()}]
    if problems:
        raise ModelError(problems)
    return model


def site_plan(site: str | Path) -> Plan:
    """A Plan of the site alone (no procedure steps or criteria)."""
    from padguard.compile import compile_model

    return compile_model(site_model(site))


def check_mapping_file(loc: Located) -> list[Problem]:
    """``padguard check`` on a mapping file: shape, then names against the site it maps."""
    try:
        mapping = parse_as(Mapping, loc)
        near = Path(loc.file).parent / "site.yaml"
        plan = site_plan(near if near.exists() else mapping.mapping)
        bind(plan, mapping, loc, for_pad=True)
    except ModelError as exc:
        return exc.problems
    return []


EXTRA_KINDS.setdefault("mapping", check_mapping_file)
NOT_PROCEDURES.add(Path(MAP_FILE).stem)


def _expr_sensors(e: Any) -> list[int]:
    out: list[int] = []
    for it in e.items:
        if hasattr(it, "items"):
            out.extend(_expr_sensors(it))
        else:
            out.extend(int(s) for s in it.sensors)
    return out


def _similar(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


__all__ = ["IN_TRANSIT", "LinkMap", "Mapping", "bind", "default_map_path", "load_linkmap", "load_mapping"]
