"""Commands of the live edge: ``pad-sim``, ``pad-ctl``, ``run``, ``log``, ``replay`` (``op``: cli/console.py).

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
from typing import Annotated

import typer

from padguard.model.errors import ModelError
from padguard.model.times import format_count_time
from padguard.store.archive import describe

KINDS_HIDDEN = ("sample", "snapshot", "tick")
#: Every record kind an archive holds (``log -k`` names outside these are a typo, not an empty result).
KINDS = ("start", "sample", "tick", "operator", "safety", "clear", "event", "snapshot", "ack", "resend",
         "session", "recovery", "end")


def _base():
    from padguard.cli import common

    return common


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


def _security(directory: Path | None, role: str, policy: str, mode: str, identity: str = "password"):
    """A LinkSecurity from a `padguard certs` directory, or None; a clear error if it cannot work."""
    if directory is None:
        return None
    from padguard.links.security import LinkSecurity, SecurityError

    try:
        return LinkSecurity(directory, role, policy, mode, identity)
    except SecurityError as exc:
        _die(str(exc))


SecurityDir = Annotated[Path | None, typer.Option("--security", help="a `padguard certs` directory: certificates, trust list, users")]
Policy = Annotated[str, typer.Option(help="Basic256Sha256 | Aes128_Sha256_RsaOaep | Aes256_Sha256_RsaPss")]
SecMode = Annotated[str, typer.Option("--mode", help="Sign | SignAndEncrypt")]
Identity = Annotated[str, typer.Option("--identity", help="the user identity token: password (users.json) | "
                                                         "certificate (users/ROLE.der, an X.509 user certificate)")]


# --------------------------------------------------------------------------- certs
def certs(
    directory: Annotated[Path, typer.Argument(help="where to write the keys, certificates, trust list and users")],
    host: Annotated[str | None, typer.Option(help="host name in the certificates (default: this machine)")] = None,
    days: Annotated[int, typer.Option(help="validity in days")] = 365,
    revoke: Annotated[str | None, typer.Option(help="revoke USER's X.509 user certificate (the user CA signs a new "
                                                    "revocation list; the pad refuses it from the next session)")] = None,
) -> None:
    """Create OPC UA certificates for a secured pad link: pad, sequencer, operator, trust list, passwords,
    a user CA with a user certificate per user and its revocation list."""
    from padguard.links.security import SecurityError, make_certs, revoke_user

    if revoke is not None:
        try:
            serial = revoke_user(directory, revoke)
        except (SecurityError, OSError, ValueError) as exc:
            _die(f"cannot revoke {revoke}: {exc}")
        _base().console.print(f"revoked {revoke}'s user certificate (serial {serial:x}) in "
                              f"{directory / 'user-crl.der'}", highlight=False)
        return
    if (directory / "users.json").exists():
        _die(f"{directory} already holds padguard certificates (users.json); remove it or pick another directory")
    written = asyncio.run(make_certs(directory, host, days))
    _base().console.print(f"wrote {len(written)} files to {directory} (keys and passwords 0600): "
                          "pad-sim --security DIR, run --security DIR, pad-ctl --security DIR", highlight=False)


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
    security: SecurityDir = None,
) -> None:
    """Serve the digital twin as an OPC UA pad: sensors as variables, commands as methods.

    With --security DIR only secured endpoints are served, clients must be in the trust list and
    log in, and only the sequencer may move equipment or ignite. Without it, anyone who reaches
    the port can (a test pad on loopback only)."""
    _base().require("live", "asyncua", what="pad-sim")
    _base().check_output(endpoint_file, "--endpoint-file")
    from padguard.links.mapping import site_model
    from padguard.links.padsim import PadServer
    from padguard.links.twin import PadTwin, pad_plan
    from padguard.scenario import ScenarioError

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
    sec = _security(security, "pad", "Basic256Sha256", "SignAndEncrypt")
    server = PadServer(twin, lm, endpoint, speed=speed, lockstep=lockstep, security=sec)
    console = _base().console

    async def main() -> None:
        try:
            url = await server.start()
        except OSError as exc:
            _die(f"cannot serve at {endpoint}: {exc}")
        if endpoint_file:
            endpoint_file.write_text(url + "\n")
        console.print(f"[bold]pad-sim[/] {plan.model.site.name}: serving at {url} "
                      f"(speed {speed:g}x{', lockstep' if lockstep else ''}; "
                      f"{'secured: Basic256Sha256/Aes128/Aes256, Sign and SignAndEncrypt' if sec else 'NO SECURITY'}); "
                      "Ctrl-C stops")
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
    arg: Annotated[str | None, typer.Argument(help="inject: COMPONENT:MODE[=VALUE][@TIME] (TIME: T-40m on the running "
                                                   "count's clock, or +25m pad time; none = now); clear: COMPONENT; speed: X")] = None,
    site: Annotated[str, typer.Option(help="the site the pad serves (for its mapping)")] = "site31",
    endpoint: Annotated[str, typer.Option(help="the pad-sim's URL")] = "opc.tcp://127.0.0.1:4840",
    map_path: Annotated[Path | None, typer.Option("--map", help="OPC UA mapping (default: beside the site)")] = None,
    console: Annotated[str, typer.Option(help="the running count's console URL (to place an @T-... time; "
                                              "credentials from $PADGUARD_TOKEN or $PADGUARD_TOKEN_FILE)")] = "http://127.0.0.1:8080",
    security: SecurityDir = None,
    policy: Policy = "Basic256Sha256",
    mode: SecMode = "SignAndEncrypt",
    identity: Identity = "password",
) -> None:
    """Drive a running pad-sim: inject or clear a fault (now or at a time), change its speed, read its status."""
    _base().require("live", "asyncua", what="pad-ctl")
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
    if what == "inject" and arg and "@" in arg and arg.rpartition("@")[2].strip()[:1] in ("T", "t"):
        arg = _at_count_time(arg, endpoint, lm, console, security=_security(security, "operator", policy, mode, identity))
    try:
        res = asyncio.run(call_sim(endpoint, lm, what, arg, security=_security(security, "operator", policy, mode, identity)))
    except (OSError, TimeoutError, ValueError) as exc:
        _die(f"cannot reach the pad-sim at {endpoint}: {exc}")
    except Exception as exc:  # noqa: BLE001 - asyncua raises many kinds
        _die(f"pad-sim at {endpoint} refused: {type(exc).__name__}: {exc}")
    if res.startswith("error:"):
        _die(res)
    print(res)


def _at_count_time(arg: str, endpoint: str, lm, console: str, security=None) -> str:
    """``FAULT@T-40m`` -> ``FAULT@+Nms`` in pad time: the pad has no count clock, so ask the
    running count (its console's API) where its clock is, and the pad where its own is. Exact
    while the count keeps counting until then (a hold before T-40m stops the count clock, not
    the pad's)."""
    import httpx

    from padguard.cli.console import api, read_token
    from padguard.links.padsim import call_sim
    from padguard.model.times import parse_count_time

    spec, _, at = arg.rpartition("@")
    try:
        target = int(round(parse_count_time(at.strip()) * 1000))
    except ValueError as exc:
        _die(f"bad time '{at}': {exc}; use T-40m (the running count's clock) or +25m (pad time)")
    base = console if console.startswith("http") else f"http://{console}"
    token = read_token(None)
    try:
        code, body = api(base, token, "GET", "/api/state")
    except httpx.HTTPError as exc:
        _die(f"'@{at}' is a count time: pad-ctl asks the running count's console for its clock, and there is "
             f"none at {base} ({exc}); start `padguard run ... --console HOST:PORT` first, or give pad time @+TIME")
    st = body.get("state", {}) if isinstance(body, dict) else {}
    if code != 200 or "tc_ms" not in st:
        _die(f"the count's console at {base} answered {code}: {body}")
    if st.get("mode") not in ("COUNTING", "TERMINAL"):
        _die(f"the count is {st.get('mode')}: its clock is not running, so {at} has no pad time; inject now "
             "(no @) or at pad time @+TIME")
    if target <= st["tc_ms"]:
        _die(f"the count is already at {format_count_time(st['tc_ms'] / 1000)}: {at} has passed")
    try:
        pad_t = int(json.loads(asyncio.run(call_sim(endpoint, lm, "status", security=security)))["t_ms"])
    except Exception as exc:  # noqa: BLE001 - asyncua raises many kinds
        _die(f"cannot reach the pad-sim at {endpoint}: {type(exc).__name__}: {exc}")
    return f"{spec}@+{pad_t + target - st['tc_ms']}ms"


# --------------------------------------------------------------------------- run
def run(
    site: Annotated[str, typer.Argument(help="shipped site name (site31) or path to site.yaml/folder")],
    procedure: Annotated[str, typer.Argument(help="procedure name in the site folder, or a path")],
    link: Annotated[str, typer.Option(help="the pad's OPC UA endpoint, opc.tcp://HOST:PORT")],
    archive: Annotated[str, typer.Option(help="sqlite:///FILE (default) or postgresql://USER:PASS@HOST/DB")] = "sqlite:///count.db",
    count: Annotated[str | None, typer.Option(help="count id inside the archive; an unfinished one is restarted, "
                                                   "holding (default: main, or a fresh main-N if main has ended)")] = None,
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
    wait_link: Annotated[float, typer.Option(help="a fresh count: seconds to wait for the pad to answer "
                                                  "before giving up (nothing is started without it)")] = 30.0,
    security: SecurityDir = None,
    policy: Policy = "Basic256Sha256",
    mode: SecMode = "SignAndEncrypt",
    identity: Identity = "password",
    insecure: Annotated[bool, typer.Option("--insecure", help="allow an unsecured link (a test pad on loopback)")] = False,
) -> None:
    """Run the count live: the sequencer against the pad over OPC UA, archived before acting.

    The link must be secured (--security DIR from `padguard certs`) unless --insecure is given,
    and then every line the runtime prints says INSECURE."""
    from padguard.links.runtime import RunOptions, Runtime
    from padguard.store.archive import ArchiveError, parse_url

    base = _base()
    base.require("live", "asyncua", what="run")  # before anything: never start a count it cannot link
    if archive.startswith("postgres"):
        base.require("live", "psycopg", what="a PostgreSQL archive")
    base.check_output(console_file, "--console-file")
    if clock not in ("wall", "pad"):
        _die("--clock must be wall or pad")
    if speed <= 0:
        _die("--speed must be > 0")
    if not link.startswith("opc.tcp://"):
        _die(f"--link must be an opc.tcp:// URL (got {link})")
    frontend = None
    if console is not None:
        base.require("console", "fastapi", "uvicorn", "argon2", what="run --console")
        from padguard.cli.console import console_options
        from padguard.console.server import ConsoleServer

        frontend = ConsoleServer(console_options(console, users, tls_cert, tls_key))
    try:
        parse_url(archive)
    except ArchiveError as exc:
        _die(str(exc))
    _no_password(archive)
    if security is None and not insecure:
        _die("refusing an unsecured OPC UA link: give --security DIR (create it with `padguard certs DIR`), "
             "or --insecure for a test pad on loopback")
    if security is not None and insecure:
        _die("--security and --insecure contradict each other")
    sec = _security(security, "sequencer", policy, mode, identity)
    count = _choose_count(archive, count)
    plan = base.load_plan(site, procedure, faults_file)
    lm = _linkmap(plan, map_path, site, for_pad=False)
    if clock == "pad" and lm.mapping.dry_run is None:
        _die("--clock pad needs a mapping with dry_run nodes (a padguard pad-sim)")
    if not _exists(archive, count):
        _probe_link(link, lm, clock, wait_link, sec)
    keep = {"hold", "resume", "recycle", "command", "ignition", "scrub", "abort", "safety", "refused", "operator"}

    def on_event(rec) -> None:
        if quiet and rec.name not in keep:
            return
        if insecure and not as_json:
            base.err.print("[INSECURE LINK] ", style="bold red", end="", markup=False, highlight=False)
        _print_rec(rec, as_json)

    def note(text: str) -> None:
        base.err.print(text, style="bold yellow", markup=False, highlight=False)

    opts = RunOptions(link=link, archive=archive, count_id=count, speed=speed, clock=clock,
                      security=sec, insecure=insecure)
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
                               f"archive {describe(archive)}; console {rt.control_url or 'off (--console HOST:PORT)'}; "
                               f"link {sec.describe() if sec else 'INSECURE (--insecure): no OPC UA security'}",
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


def _latest(archive: str) -> str:
    """``main``, or the highest ``main-N`` (the fresh counts ``run`` starts after one has ended)."""
    from padguard.store.archive import ArchiveError, open_archive

    try:
        with open_archive(archive, "main") as a:
            names = a.counts()
    except ArchiveError:
        return "main"
    nums = [int(c[5:]) for c in names if c.startswith("main-") and c[5:].isdigit()]
    return f"main-{max(nums)}" if nums else "main"


def _ended(archive: str, count: str) -> str | None:
    """The outcome of ``count`` if it ran to an end (launched, scrubbed, aborted...), else None."""
    from padguard.store.archive import ArchiveError, open_archive

    try:
        with open_archive(archive, count) as a:
            if a.meta() is None:
                return None
            last_end = last_session = None
            for r in a.read(0, ["end", "session"], None):
                if r.kind == "end":
                    last_end = r
                else:
                    last_session = r
    except ArchiveError:
        return None
    if last_end is None or (last_session is not None and last_session.seq > last_end.seq):
        return None
    return None if last_end.value in ("COUNTING", "HOLDING", "TERMINAL") else last_end.value


def _choose_count(archive: str, count: str | None) -> str:
    """A count that ended is not restarted: the default moves on to a fresh ``main-N``."""
    outcome = _ended(archive, count or "main")
    if outcome is None:
        return count or "main"
    if count is not None:
        _die(f"count '{count}' in {describe(archive)} has ended ({outcome}); a count that ended is not "
             "restarted: give another --count (or leave it out for a fresh one)")
    n = 2
    while _exists(archive, f"main-{n}"):
        n += 1
    _base().err.print(f"count 'main' in {describe(archive)} has ended ({outcome}): starting a fresh count "
                      f"'main-{n}'", markup=False, highlight=False)
    return f"main-{n}"


def _exists(archive: str, count: str) -> bool:
    from padguard.store.archive import ArchiveError, open_archive

    try:
        with open_archive(archive, count) as a:
            return a.meta() is not None
    except ArchiveError:
        return False


# --------------------------------------------------------------------------- demo --live
def demo_live(speed: float, archive: str | None, quiet: bool = False) -> None:
    """``padguard demo --live``: the README's live walkthrough in one command."""
    base = _base()
    base.require("live", "asyncua", what="demo --live")
    if speed <= 0:
        _die("--speed must be > 0")
    if archive is None:
        archive = f"sqlite:///{Path(tempfile.mkdtemp(prefix='padguard-demo-')) / 'count.db'}"
    elif _exists(archive, "main"):
        _die(f"{describe(archive)} already holds a count 'main': give a new archive")
    from padguard.links.demo import run_live_demo

    keep = {"hold", "resume", "recycle", "command", "ignition", "scrub", "abort", "safety", "refused",
            "operator", "criterion"}

    def on_event(rec) -> None:
        if not quiet or rec.name in keep:
            _print_rec(rec)

    def say(text: str) -> None:
        base.console.print(f"[bold cyan]demo[/] {text}", highlight=False)

    try:
        res = asyncio.run(run_live_demo(archive, speed, on_event, say))
    except (OSError, TimeoutError, RuntimeError) as exc:
        _die(f"the live demo failed: {type(exc).__name__}: {exc}")
    outcome = (res.outcome or "unfinished").replace("_", " ").upper()
    base.console.print(f"OUTCOME: {outcome}; ground truth at the pad: "
                       f"{', '.join(res.pad_hazards) or 'no hazard at ignition'}",
                       style=base.OUTCOME_STYLE.get(res.outcome or "", "bold"))
    base.console.print(("replay of the archive reproduced every decision" if res.replay_matches
                        else "REPLAY DIFFERS from the archive") + f" ({res.records} records). Read it with: "
                       f"padguard log {archive}; padguard replay {archive}", markup=False)
    if not res.replay_matches or res.outcome != "launched_after_holds":
        raise typer.Exit(1)


def _probe_link(link: str, lm, clock: str, wait_s: float = 30.0, security=None) -> None:
    """Before a fresh count is archived: the pad must answer (nothing starts a count it cannot
    link; a restarted count instead holds until the link is back), and on the pad's clock the
    pad's clock must not have run on without it (an earlier count, or a pad-sim without
    --lockstep), else the count would start by holding on "pad clock jumped"."""
    from padguard.links.padsim import call_sim, quiet_asyncua
    from padguard.links.runtime import RunOptions

    async def probe() -> int | None:
        from asyncua import Client

        quiet_asyncua()
        if clock == "pad":
            return int(json.loads(await call_sim(link, lm, "status", security=security))["t_ms"])
        cl = Client(link, timeout=5)
        if security is not None:
            await security.apply_client(cl)
        async with cl:
            return None

    import time

    deadline = time.monotonic() + wait_s
    said = False
    while True:
        try:
            t = asyncio.run(probe())
            break
        except Exception as exc:  # noqa: BLE001 - asyncua raises many kinds
            if time.monotonic() > deadline:
                _die(f"cannot reach the pad at {link} ({type(exc).__name__}: {exc or 'no answer'}); no count "
                     "was started. Is the pad (or padguard pad-sim) serving there?")
            if not said:  # (a pad-sim started a moment ago may still be building its address space)
                _base().err.print(f"waiting up to {wait_s:g} s for the pad at {link} ...", markup=False,
                                  highlight=False)
                said = True
            time.sleep(1.0)
    if t is not None and t > RunOptions.max_pad_jump_ms:
        _die(f"the pad-sim at {link} is at pad time +{t / 1000:.0f}s: its clock has run without this count "
             "(an earlier count, or no --lockstep). Restart it (padguard pad-sim ... --lockstep) for a fresh count.")


# --------------------------------------------------------------------------- log
def _no_password(archive: str) -> None:
    """A database password on the command line is visible to every user (ps): refuse it."""
    from padguard.store.archive import password_in

    if password_in(archive):
        _die("the archive URL carries a password, which every user of this machine can read in the process "
             "list: leave it out (postgresql://USER@HOST/DB) and put it in PGPASSWORD, ~/.pgpass or the "
             "file named by PGPASSFILE (libpq reads them)")


def _open_ro(archive: str, count: str | None):
    from padguard.store.archive import ArchiveError, open_archive

    _no_password(archive)
    if count is None:
        count = _latest(archive)
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
    count: Annotated[str | None, typer.Option(help="count id (default: the latest, main or main-N)")] = None,
    kind: Annotated[list[str] | None, typer.Option("--kind", "-k", help="record kinds: event, sample, operator, safety, ack, session... (repeatable; commands are events named command)")] = None,
    name: Annotated[str | None, typer.Option(help="only records with this name (a sensor, an event kind...)")] = None,
    after: Annotated[int, typer.Option(help="only records after this sequence number")] = 0,
    limit: Annotated[int | None, typer.Option(help="at most this many records")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | jsonl | csv")] = "table",
    out: Annotated[Path | None, typer.Option(help="write to this file instead of stdout")] = None,
    all_kinds: Annotated[bool, typer.Option("--all", help="include samples, ticks and snapshots in the table")] = False,
    counts: Annotated[bool, typer.Option("--counts", help="list the counts in the archive")] = False,
    check: Annotated[bool, typer.Option("--verify", help="check the hash chain and sequence numbers; exit 1 if broken")] = False,
    expect_head: Annotated[str | None, typer.Option(help="with --verify: the head hash kept elsewhere (catches a cut-off tail)")] = None,
) -> None:
    """List, filter and export an archived count (table, JSON lines, CSV); --verify checks its chain."""
    count = count if count is not None else _latest(archive)
    from padguard.store.archive import COLUMNS

    if fmt not in ("table", "jsonl", "csv"):
        _die("--format must be table, jsonl or csv")
    _base().check_output(out, "--out")
    if check:
        a = _open_ro(archive, count)
        _verify_or_die(a, archive, count, expect_head)
        a.close()
        return
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
    for k in kinds or []:
        if k not in KINDS:
            import difflib

            close = difflib.get_close_matches(k, KINDS, n=1)
            a.close()
            if k in ("command", "commands"):
                _die("commands are events: use --kind event --name command")
            _die(f"unknown record kind '{k}'" + (f"; did you mean '{close[0]}'?" if close else "")
                 + f" (kinds: {', '.join(KINDS)})")
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
            w.writerow([c for c in COLUMNS if c not in ("count_id", "hash")] + ["count"])
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


def _verify_or_die(a, archive: str, count: str, expect_head: str | None = None, quiet: bool = False) -> None:
    """Check the archive's hash chain; print where it breaks and exit 1 if it does."""
    from padguard.store.archive import verify

    base = _base()
    res = verify(a)
    if expect_head is not None and res["head"] != expect_head:
        res["problems"].append(f"the head is {res['head'][:16]}..., expected {expect_head[:16]}... "
                               "(records cut off the end, or the chain was recomputed)")
    if res["problems"]:
        for p in res["problems"]:
            base.err.print(f"  {p}", markup=False, highlight=False)
        _die(f"ARCHIVE TAMPERED OR DAMAGED: {describe(archive)} / {count}: {len(res['problems'])} problem(s) "
             f"in {res['records']} records", 1)
    if not quiet:
        base.console.print(f"hash chain intact: {res['records']} records, seq 1..{res['records']}, head {res['head']}",
                           highlight=False, markup=False)


# --------------------------------------------------------------------------- replay
def replay_cmd(
    archive: Annotated[str, typer.Argument(help="sqlite:///FILE, a file path, or postgresql://...")],
    count: Annotated[str | None, typer.Option(help="count id (default: the latest, main or main-N)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="replayed events as JSON lines")] = False,
    quiet: Annotated[bool, typer.Option(help="only the verdict")] = False,
) -> None:
    """Run an archived count back through the same sequencer (flagged replay) and compare."""
    count = count if count is not None else _latest(archive)
    from rich.markup import escape

    from padguard.links.runtime import plan_from_meta
    from padguard.sequencer.live import INPUTS, Sequencer

    a = _open_ro(archive, count)
    _verify_or_die(a, archive, count, quiet=quiet or as_json)
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

    app.command("certs")(certs)
    app.command("pad-sim")(pad_sim)
    app.command("pad-ctl")(pad_ctl)
    app.command("run")(run)
    app.command("log")(log_cmd)
    app.command("replay")(replay_cmd)
