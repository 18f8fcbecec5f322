"""Commands of the live edge: ``pad-sim``, ``pad-ctl``, ``run``, ``log``, ``replay`` (``op``: console/cli.py).

Registered on the main typer app by :func:`register`. asyncua and the database drivers are
imported only inside the commands, so the rest of the CLI starts as fast as before.
"""

from __future__ import annotations

import asyncio
import csv
import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from padguard.model.errors import ModelError
from padguard.model.times import format_count_time
from padguard.store.archive import describe

KINDS_HIDDEN = ("sample", "snapshot", "tick")


def _base():
    from padguard import cli as base  # imported late: padguard.cli imports this module

    return base


def _die(msg: str, code: int = 2) -> None:
    _base().err.print(msg, style="bold red", markup=False, highlight=False)
    raise typer.Exit(code)


def _linkmap(plan, map_path: Path | None, site: str, *, for_pad: bool):
    from padguard.links.mapping import default_map_path, load_linkmap

    path = map_path or default_map_path(site)
    if not Path(path).exists():
        _die(f"no mapping file: {path} (give one with --map; see docs/live.md)")
    try:
        return load_linkmap(plan, path, for_pad=for_pad)
    except ModelError as exc:
        _base().fail_model(exc)


def _line(rec) -> str:
    wall = rec.t // 1000
    return f"+{wall // 60:3d}m{wall % 60:02d}s {format_count_time(rec.tc / 1000)}  "


def _print_rec(rec, as_json: bool = False) -> None:
    base = _base()
    if as_json:
        print(json.dumps(rec.to_dict()), flush=True)
        return
    kind = rec.name if rec.kind == "event" else rec.kind
    style = base.STYLE.get(kind, "")
    if kind in ("safety", "condition"):
        style = "bold red" if (rec.data or {}).get("active", True) else "green"
    base.console.print(f"[dim]{_line(rec)}[/]", end="")
    base.console.print(rec.value, style=style, markup=False, highlight=False)


# --------------------------------------------------------------------------- pad-sim
def pad_sim(
    site: Annotated[str, typer.Argument(help="shipped site name (site31) or path to site.yaml/folder")],
    endpoint: Annotated[str, typer.Option(help="where to serve (port 0 picks a free one)")] = "opc.tcp://127.0.0.1:4840",
    fault: Annotated[list[str] | None, typer.Option("--fault", "-f", help="COMPONENT:MODE[=VALUE][@+TIME] (pad time since start)")] = None,
    speed: Annotated[float, typer.Option(help="pad clock speed (0 starts paused)")] = 1.0,
    lockstep: Annotated[bool, typer.Option(help="wait for a runtime's acknowledgement of each instant (dry runs)")] = False,
    seed: Annotated[int, typer.Option(help="seed for travel times")] = 0,
    travel_u: Annotated[float | None, typer.Option(help="fixed point in each travel range, 0..1 (default: sampled)")] = None,
    map_path: Annotated[Path | None, typer.Option("--map", help="OPC UA mapping (default: opcua-map.yaml beside the site)")] = None,
    faults_file: Annotated[str | None, typer.Option("--faults", help="faults YAML (default: faults.yaml beside the site)")] = None,
    endpoint_file: Annotated[Path | None, typer.Option(help="write the served URL here once listening")] = None,
) -> None:
    """Serve the digital twin as an OPC UA pad: sensors as variables, commands as methods."""
    from padguard.engines.simulate import ScenarioError
    from padguard.links.mapping import site_model
    from padguard.links.padsim import PadServer
    from padguard.links.twin import PadTwin, pad_plan

    if speed < 0:
        _die("--speed must be >= 0")
    if travel_u is not None and not 0 <= travel_u < 1:
        _die("--travel-u must be in [0, 1)")
    try:
        plan = pad_plan(site_model(site, faults_file))
    except ModelError as exc:
        _base().fail_model(exc)
    lm = _linkmap(plan, map_path, site, for_pad=True)
    twin = PadTwin(plan, seed=seed, travel_u=travel_u)
    try:
        for f in fault or []:
            twin.schedule_fault(f)
    except (ScenarioError, KeyError) as exc:
        _die(f"bad fault: {exc}")
    server = PadServer(twin, lm, endpoint, speed=speed, lockstep=lockstep)
    console = _base().console

    async def main() -> None:
        try:
            url = await server.start()
        except OSError as exc:
            _die(f"cannot serve at {endpoint}: {exc}")
        if endpoint_file:
            endpoint_file.write_text(url + "\n")
        console.print(f"[bold]pad-sim[/] {plan.model.site.name}: serving at {url} "
                      f"(speed {speed:g}x{', lockstep' if lockstep else ''}); Ctrl-C stops")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        seen = 0
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
            for t, text in twin.log[seen:]:
                console.print(f"[dim]pad +{t / 1000:.0f}s[/] {text}", style="red", highlight=False)
            seen = len(twin.log)
        await server.stop()
        console.print(f"pad-sim stopped at pad time +{twin.t / 1000:.0f}s; {len(twin.commands)} commands received")

    asyncio.run(main())


def pad_ctl(
    action: Annotated[str, typer.Argument(help="inject | clear | speed | status")],
    arg: Annotated[str | None, typer.Argument(help="inject: COMPONENT:MODE[=VALUE]; clear: COMPONENT; speed: X")] = None,
    site: Annotated[str, typer.Option(help="the site the pad serves (for its mapping)")] = "site31",
    endpoint: Annotated[str, typer.Option(help="the pad-sim's URL")] = "opc.tcp://127.0.0.1:4840",
    map_path: Annotated[Path | None, typer.Option("--map", help="OPC UA mapping (default: beside the site)")] = None,
) -> None:
    """Drive a running pad-sim: inject or clear a fault now, change its speed, read its status."""
    from padguard.links.mapping import site_plan
    from padguard.links.padsim import call_sim

    what = {"inject": "inject", "clear": "clear", "speed": "set_speed", "status": "status"}.get(action)
    if what is None:
        _die(f"unknown action '{action}': expected inject, clear, speed or status")
    if what != "status" and not arg:
        _die(f"{action} needs an argument")
    if what == "set_speed":
        try:
            if float(arg) < 0:
                raise ValueError
        except ValueError:
            _die("speed must be a number >= 0")
    try:
        lm = _linkmap(site_plan(site), map_path, site, for_pad=True)
    except ModelError as exc:
        _base().fail_model(exc)
    try:
        res = asyncio.run(call_sim(endpoint, lm, what, arg))
    except (OSError, TimeoutError, ValueError) as exc:
        _die(f"cannot reach the pad-sim at {endpoint}: {exc}")
    except Exception as exc:  # noqa: BLE001 - asyncua raises many kinds
        _die(f"pad-sim at {endpoint} refused: {type(exc).__name__}: {exc}")
    if res.startswith("error:"):
        _die(res)
    print(res)


# --------------------------------------------------------------------------- run
def run(
    site: Annotated[str, typer.Argument(help="shipped site name (site31) or path to site.yaml/folder")],
    procedure: Annotated[str, typer.Argument(help="procedure name in the site folder, or a path")],
    link: Annotated[str, typer.Option(help="the pad's OPC UA endpoint, opc.tcp://HOST:PORT")],
    archive: Annotated[str, typer.Option(help="sqlite:///FILE (default) or postgresql://USER:PASS@HOST/DB")] = "sqlite:///count.db",
    count: Annotated[str, typer.Option(help="count id inside the archive (an existing one is restarted, holding)")] = "main",
    speed: Annotated[float, typer.Option(help="count clock speed for dry runs (wall clock times X)")] = 1.0,
    clock: Annotated[str, typer.Option(help="wall (the wall clock x speed) or pad (a pad-sim's clock, for dry runs)")] = "wall",
    map_path: Annotated[Path | None, typer.Option("--map", help="OPC UA mapping (default: opcua-map.yaml beside the site)")] = None,
    faults_file: Annotated[str | None, typer.Option("--faults", help="faults YAML (default: faults.yaml beside the site)")] = None,
    console: Annotated[str | None, typer.Option(help="serve the web console on HOST:PORT (port 0 picks one; non-loopback needs TLS)")] = None,
    console_file: Annotated[Path | None, typer.Option(help="write the console URL here once listening")] = None,
    users: Annotated[str | None, typer.Option(help="console users file (default: $PADGUARD_USERS or ./padguard-users.json)")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="console TLS certificate (PEM)")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="console TLS private key (PEM)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="events as JSON lines")] = False,
    quiet: Annotated[bool, typer.Option(help="print only holds, commands and the outcome")] = False,
) -> None:
    """Run the count live: the sequencer against the pad over OPC UA, archived before acting."""
    from padguard.links.runtime import RunOptions, Runtime
    from padguard.store.archive import ArchiveError, parse_url

    base = _base()
    if clock not in ("wall", "pad"):
        _die("--clock must be wall or pad")
    if speed <= 0:
        _die("--speed must be > 0")
    if not link.startswith("opc.tcp://"):
        _die(f"--link must be an opc.tcp:// URL (got {link})")
    frontend = None
    if console is not None:
        from padguard.console.cli import console_options
        from padguard.console.server import ConsoleServer

        frontend = ConsoleServer(console_options(console, users, tls_cert, tls_key))
    try:
        parse_url(archive)
    except ArchiveError as exc:
        _die(str(exc))
    plan = base.load_plan(site, procedure, faults_file)
    lm = _linkmap(plan, map_path, site, for_pad=False)
    if clock == "pad" and lm.mapping.dry_run is None:
        _die("--clock pad needs a mapping with dry_run nodes (a padguard pad-sim)")
    keep = {"hold", "resume", "recycle", "command", "ignition", "scrub", "abort", "safety", "refused", "operator"}

    def on_event(rec) -> None:
        if quiet and rec.name not in keep:
            return
        _print_rec(rec, as_json)

    def note(text: str) -> None:
        base.err.print(text, style="bold yellow", markup=False, highlight=False)

    opts = RunOptions(link=link, archive=archive, count_id=count, speed=speed, clock=clock)
    rt = Runtime(plan, lm, opts, on_event=on_event, on_note=note, frontend=frontend)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, rt.stop)
        task = asyncio.create_task(rt.run())
        ready = asyncio.create_task(rt.ready.wait())
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if rt.ready.is_set():
            if console_file and rt.control_url:
                console_file.write_text(f"{rt.control_url}\n")
            if not as_json:
                base.err.print(f"count '{count}' {'RESTARTED (holding)' if rt.restarted else 'started'}; "
                               f"archive {describe(archive)}; console {rt.control_url or 'off (--console HOST:PORT)'}",
                               highlight=False, markup=False)
        else:
            ready.cancel()
        return await task

    try:
        code = asyncio.run(main())
    except ArchiveError as exc:
        _die(str(exc))
    except OSError as exc:
        _die(f"cannot start: {exc}")
    if rt.seq is not None and rt.seq.final and not as_json:
        st = rt.seq.status()
        base.console.print(f"OUTCOME: {st['outcome'].replace('_', ' ').upper()}",
                           style=base.OUTCOME_STYLE.get(st["outcome"], "bold"))
    raise typer.Exit(code)


# --------------------------------------------------------------------------- log
def _open_ro(archive: str, count: str):
    from padguard.store.archive import ArchiveError, open_archive

    try:
        a = open_archive(archive, count)
        if a.meta() is None:
            known = a.counts()
            a.close()
            _die(f"no count '{count}' in {archive} (counts: {', '.join(known) or 'none'})")
        return a
    except ArchiveError as exc:
        _die(str(exc))


def who_text(d: dict | None) -> str:
    """user (role) session@peer [approved by user (role)] of a console command or audit record."""
    if not d or not d.get("user"):
        return ""
    out = f"{d['user']} ({d.get('role', '?')}) {d.get('session', '')}@{d.get('peer', '')}"
    if d.get("approver"):
        out += f" approved by {d['approver']} ({d.get('approver_role', '?')})"
    return out


def log_cmd(
    archive: Annotated[str, typer.Argument(help="sqlite:///FILE, a file path, or postgresql://...")],
    count: Annotated[str, typer.Option(help="count id")] = "main",
    kind: Annotated[list[str] | None, typer.Option("--kind", "-k", help="record kinds: event, sample, operator, safety, command... (repeatable)")] = None,
    name: Annotated[str | None, typer.Option(help="only records with this name (a sensor, an event kind...)")] = None,
    after: Annotated[int, typer.Option(help="only records after this sequence number")] = 0,
    limit: Annotated[int | None, typer.Option(help="at most this many records")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | jsonl | csv")] = "table",
    out: Annotated[Path | None, typer.Option(help="write to this file instead of stdout")] = None,
    all_kinds: Annotated[bool, typer.Option("--all", help="include samples, ticks and snapshots in the table")] = False,
    counts: Annotated[bool, typer.Option("--counts", help="list the counts in the archive")] = False,
) -> None:
    """List, filter and export an archived count (table, JSON lines, CSV)."""
    from padguard.store.archive import COLUMNS

    if fmt not in ("table", "jsonl", "csv"):
        _die("--format must be table, jsonl or csv")
    a = _open_ro(archive, count) if not counts else None
    if counts:
        from padguard.store.archive import ArchiveError, open_archive

        try:
            with open_archive(archive, count) as arch:
                for c in arch.counts():
                    print(c)
        except ArchiveError as exc:
            _die(str(exc))
        return
    assert a is not None
    kinds = [k.strip() for ks in (kind or []) for k in ks.split(",") if k.strip()] or None
    recs = a.read(after, kinds, None)
    sel = (r for r in recs if (name is None or r.name == name)
           and (kinds is not None or all_kinds or fmt != "table" or r.kind not in KINDS_HIDDEN))
    rows = []
    for r in sel:
        rows.append(r)
        if limit is not None and len(rows) >= limit:
            break
    recs.close()
    a.close()
    fh = open(out, "w", newline="") if out else sys.stdout  # noqa: SIM115
    try:
        if fmt == "jsonl":
            for r in rows:
                fh.write(json.dumps(r.to_dict()) + "\n")
        elif fmt == "csv":
            w = csv.writer(fh)
            w.writerow([c for c in COLUMNS if c != "count_id"] + ["count"])
            for r in rows:
                w.writerow([r.seq, r.batch, r.t, r.tc, f"{r.wall:.6f}", r.kind, r.name, r.value,
                            "" if r.code is None else r.code, "" if r.data is None else json.dumps(r.data),
                            format_count_time(r.tc / 1000)])
        else:
            from rich.table import Table

            t = Table(title=f"{describe(archive)} / {count}: {len(rows)} records")
            for col in ("seq", "t", "count", "kind", "name", "value", "who"):
                t.add_column(col, overflow="fold")
            for r in rows:
                t.add_row(str(r.seq), f"+{r.t / 1000:.1f}s", format_count_time(r.tc / 1000), r.kind, r.name, r.value,
                          who_text(r.data))
            if out:
                from rich.console import Console

                Console(file=fh, width=160).print(t)
            else:
                _base().console.print(t)
    finally:
        if out:
            fh.close()
    if out:
        _base().err.print(f"wrote {len(rows)} records to {out}")


# --------------------------------------------------------------------------- replay
def plan_from_meta(meta: dict[str, Any]):
    """Compile the model archived with a count (never the files on disk, which may have changed)."""
    from padguard.compile import compile_model
    from padguard.model.loader import load

    texts = meta.get("model") or {}
    if not texts.get("site") or not texts.get("procedure"):
        raise ModelError([])
    with tempfile.TemporaryDirectory() as d:
        Path(d, "site.yaml").write_text(texts["site"])
        Path(d, "procedure.yaml").write_text(texts["procedure"])
        if texts.get("faults"):
            Path(d, "faults.yaml").write_text(texts["faults"])
        return compile_model(load(Path(d, "site.yaml"), Path(d, "procedure.yaml")))


def replay_cmd(
    archive: Annotated[str, typer.Argument(help="sqlite:///FILE, a file path, or postgresql://...")],
    count: Annotated[str, typer.Option(help="count id")] = "main",
    as_json: Annotated[bool, typer.Option("--json", help="replayed events as JSON lines")] = False,
    quiet: Annotated[bool, typer.Option(help="only the verdict")] = False,
) -> None:
    """Run an archived count back through the same sequencer (flagged replay) and compare."""
    from rich.markup import escape

    from padguard.sequencer.live import INPUTS, Sequencer

    a = _open_ro(archive, count)
    meta = a.meta() or {}
    try:
        plan = plan_from_meta(meta)
    except ModelError as exc:
        a.close()
        if not exc.problems:
            _die(f"count '{count}' does not carry its model; cannot replay")
        _base().fail_model(exc)
    seq = Sequencer(plan, [plan.sensor_index(n) for n in meta.get("watched", plan.sensors)], replay=True)
    archived: list[tuple] = []
    produced = []
    snaps_bad = snaps = 0
    cur: list = []
    cur_b = None
    n_in = 0

    def flush() -> None:
        nonlocal cur
        if cur:
            for e in seq.apply(cur):
                produced.append(e)
                if not quiet:
                    rec = e.to_rec()
                    if as_json:
                        _print_rec(rec, True)
                    else:
                        _base().console.print(f"[dim]{_line(rec)}\\[replay][/] {escape(e.text)}", highlight=False)
            cur = []

    for r in a.read():
        if r.kind in INPUTS:
            n_in += 1
            if cur and r.batch != cur_b:
                flush()
            cur_b = r.batch
            cur.append(r)
        elif r.kind == "event":
            archived.append((r.t, r.tc, r.name, r.value))
        elif r.kind == "snapshot":
            flush()
            snaps += 1
            snaps_bad += int(seq.snapshot()["S"] != (r.data or {}).get("S"))
    flush()
    a.close()
    keys = [e.key() for e in produced]
    diffs = [(i, x, y) for i, (x, y) in enumerate(zip(archived, keys, strict=False)) if x != y]
    extra = len(keys) - len(archived)
    base = _base()
    if as_json:
        print(json.dumps({"replay": True, "inputs": n_in, "events": len(keys), "archived_events": len(archived),
                          "differences": len(diffs) + abs(extra), "snapshots": snaps, "snapshots_differ": snaps_bad,
                          "final": seq.status()}))
    else:
        base.console.print(f"replay of {describe(archive)} / {count}: {n_in} input records, {len(keys)} events "
                           f"({len(archived)} archived), {snaps} snapshots; final state {seq.mode.name}")
    if diffs or extra or snaps_bad:
        for i, x, y in diffs[:10]:
            base.err.print(f"event {i}: archived {x} / replayed {y}", markup=False)
        if extra:
            base.err.print(f"{abs(extra)} events {'more' if extra > 0 else 'fewer'} in the replay than archived")
        if snaps_bad:
            base.err.print(f"{snaps_bad} snapshots differ from the replayed state")
        _die("REPLAY DIFFERS from the archive", 1)
    if not as_json:
        base.console.print("[bold green]replay matches the archive[/]: every archived decision was reproduced")


def register(app: typer.Typer) -> None:
    """Add the live commands to the main app."""
    import padguard.links.mapping  # noqa: F401 - registers the mapping file kind with `padguard check`

    app.command("pad-sim")(pad_sim)
    app.command("pad-ctl")(pad_ctl)
    app.command("run")(run)
    app.command("log")(log_cmd)
    app.command("replay")(replay_cmd)
