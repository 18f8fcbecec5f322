"""Commands of the console: ``users`` (add, token, list, remove), ``console`` (replay), ``op``.

Thin: flags into calls. FastAPI, uvicorn and argon2 are imported inside the commands.
``padguard op`` is a client of the console's API; its credential (an API token made by
``padguard users token``) comes from ``PADGUARD_TOKEN`` or a file, never from an argument.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

USERS_ENV = "PADGUARD_USERS"
TOKEN_ENV = "PADGUARD_TOKEN"
TOKEN_FILE_ENV = "PADGUARD_TOKEN_FILE"
users_app = typer.Typer(help="Console users: argon2-hashed passwords, roles, API tokens (a 0600 JSON file).",
                        no_args_is_help=True)


def _die(msg: str, code: int = 2) -> None:
    from padguard import cli as base

    base.err.print(msg, style="bold red", markup=False, highlight=False)
    raise typer.Exit(code)


def _need(what: str) -> None:
    """The console's extra (FastAPI, uvicorn, argon2, httpx), checked before any work."""
    from padguard.cli.common import require

    require("console", "fastapi", "uvicorn", "argon2", "httpx", what=what)


def default_users() -> str:
    return os.environ.get(USERS_ENV, "padguard-users.json")


UsersOpt = Annotated[str | None, typer.Option("--users", help=f"users file (default: ${USERS_ENV} or ./padguard-users.json)")]


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="user name")],
    role: Annotated[str, typer.Option(help="viewer | operator | launch_director | safety_officer")],
    users: UsersOpt = None,
) -> None:
    """Add a user (or change one's role and password). The password is asked for (or read from
    PADGUARD_PASSWORD for scripts), never taken as an argument."""
    _need("users add")
    from padguard.console.auth import Users, UsersError

    path = users or default_users()
    password = os.environ.get("PADGUARD_PASSWORD")
    if password is None:
        password = typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)
    try:
        u = Users(path)
        u.add(name, role, password)
        u.save()
    except UsersError as exc:
        _die(str(exc))
    print(f"user {name} ({role}) saved in {path} (mode 0600)")


@users_app.command("token")
def users_token(name: Annotated[str, typer.Argument(help="user name")], users: UsersOpt = None) -> None:
    """Make an API token for `padguard op` (printed once; store it in a 0600 file or PADGUARD_TOKEN)."""
    _need("users token")
    from padguard.console.auth import Users, UsersError

    path = users or default_users()
    try:
        u = Users(path)
        tok = u.new_token(name)
        u.save()
    except UsersError as exc:
        _die(str(exc))
    print(tok)


@users_app.command("list")
def users_list(users: UsersOpt = None) -> None:
    """List users and roles."""
    _need("users list")
    from padguard.console.auth import Users, UsersError

    try:
        u = Users(users or default_users())
    except UsersError as exc:
        _die(str(exc))
    for name, d in sorted(u.data["users"].items()):
        print(f"{name}\t{d['role']}\t{len(d.get('tokens', []))} token(s)")


@users_app.command("remove")
def users_remove(name: Annotated[str, typer.Argument(help="user name")], users: UsersOpt = None) -> None:
    """Remove a user (and their tokens)."""
    _need("users remove")
    from padguard.console.auth import Users, UsersError

    path = users or default_users()
    try:
        u = Users(path)
        if not u.remove(name):
            _die(f"no user '{name}'")
        u.save()
    except UsersError as exc:
        _die(str(exc))
    print(f"removed {name}")


def console_options(bind: str, users: str | None, tls_cert: Path | None, tls_key: Path | None):
    """Flags -> ConsoleOptions, checked (exits with the reason on a bad one)."""
    from padguard.console.server import ConsoleError, ConsoleOptions, check_options, parse_bind

    try:
        host, port = parse_bind(bind)
        o = ConsoleOptions(host=host, port=port, users=users or default_users(),
                           certfile=str(tls_cert) if tls_cert else None, keyfile=str(tls_key) if tls_key else None)
        check_options(o)
    except ConsoleError as exc:
        _die(f"console: {exc}")
    return o


def console_cmd(
    archive: Annotated[str, typer.Argument(help="sqlite:///FILE, a file path, or postgresql://...")],
    count: Annotated[str, typer.Option(help="count id")] = "main",
    bind: Annotated[str, typer.Option(help="HOST:PORT to serve on (non-loopback needs TLS)")] = "127.0.0.1:8080",
    users: UsersOpt = None,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM)")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM)")] = None,
) -> None:
    """Replay an archived count in the console's screens, with a time slider (commands nothing)."""
    _need("console")
    import asyncio
    import signal

    from padguard.console.hub import load_replay
    from padguard.console.server import ConsoleServer
    from padguard.model.errors import ModelError
    from padguard.store.archive import ArchiveError

    o = console_options(bind, users, tls_cert, tls_key)
    try:
        hub = load_replay(archive, count)
    except ArchiveError as exc:
        _die(str(exc))
    except ModelError:
        _die(f"count '{count}' does not carry a model that compiles; cannot replay")

    async def main() -> None:
        srv = ConsoleServer(o, hub)
        try:
            url = await srv.start()
        except OSError as exc:
            _die(str(exc))
        print(f"console (replay of {archive} / {count}) at {url}; Ctrl-C stops", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await srv.stop()

    asyncio.run(main())


# --------------------------------------------------------------------------- op (a client of the API)
def read_token(token_file: Path | None) -> str:
    """The API token: $PADGUARD_TOKEN, else the file given (or $PADGUARD_TOKEN_FILE)."""
    tok = os.environ.get(TOKEN_ENV)
    if tok:
        return tok.strip()
    path = token_file or (Path(os.environ[TOKEN_FILE_ENV]) if os.environ.get(TOKEN_FILE_ENV) else None)
    if path is None:
        _die(f"no credentials: set {TOKEN_ENV}, or give --token-file (made by `padguard users token NAME`)")
    try:
        mode = path.stat().st_mode & 0o077
        if mode:
            _die(f"{path} is readable by others (mode {oct(path.stat().st_mode & 0o777)}): chmod 600 it")
        return path.read_text().strip()
    except OSError as exc:
        _die(f"cannot read the token file: {exc}")
    return ""


def api(base: str, token: str, method: str, path: str, body: dict[str, Any] | None = None,
        timeout: float = 15.0, verify: bool | str = True) -> tuple[int, Any]:
    """One request to a console's API with an API token; (status, JSON body)."""
    import httpx

    with httpx.Client(base_url=base, timeout=timeout, verify=verify) as c:
        r = c.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, {"detail": r.text}


OP_COMMANDS = ("hold", "resume", "recycle", "scrub", "abort", "status", "events", "ack", "requests", "approve", "reject")


def op(
    command: Annotated[str, typer.Argument(help="hold | resume | recycle | scrub | abort | status | events | ack | requests | approve | reject")],
    arg: Annotated[str | None, typer.Argument(help="recycle: the point; events: after SEQ; ack: alarm SEQ; approve/reject: request id")] = None,
    console: Annotated[str, typer.Option(help="the console's URL")] = "http://127.0.0.1:8080",
    token_file: Annotated[Path | None, typer.Option(help=f"file holding the API token (else ${TOKEN_ENV} / ${TOKEN_FILE_ENV})")] = None,
    comment: Annotated[str, typer.Option(help="a comment archived with the command")] = "",
    cacert: Annotated[Path | None, typer.Option(help="CA certificate to trust for an https console")] = None,
) -> None:
    """Command a running count through its console's API (answered once archived and applied)."""
    _need("op")
    import httpx

    if command not in OP_COMMANDS:
        _die(f"unknown command '{command}': expected {', '.join(OP_COMMANDS)}")
    token = read_token(token_file)
    base = console if console.startswith("http") else f"http://{console}"
    verify: bool | str = str(cacert) if cacert else True
    try:
        if command == "status":
            code, body = api(base, token, "GET", "/api/state", verify=verify)
            if code == 200:
                st = body["state"]
                body = {k: st[k] for k in ("mode", "count", "reason", "automatic_hold", "conditions", "next_step",
                                           "holds", "recycles", "outcome", "unacked", "requests", "link", "last_seq")}
                body["criteria"] = {c["criterion"]: c["state"] for c in st["criteria"] if c["applies"]}
        elif command == "events":
            code, body = api(base, token, "GET", f"/api/events?after={int(arg or 0)}", verify=verify)
        elif command == "requests":
            code, body = api(base, token, "GET", "/api/requests", verify=verify)
        elif command == "ack":
            code, body = api(base, token, "POST", "/api/ack", {"seq": int(arg or 0), "comment": comment}, verify=verify)
        elif command in ("approve", "reject"):
            if not arg:
                _die(f"{command} needs a request id (padguard op requests)")
            code, body = api(base, token, "POST", f"/api/requests/{arg}/{command}", {"comment": comment}, verify=verify)
        else:
            code, body = api(base, token, "POST", "/api/command", {"command": command, "arg": arg, "comment": comment},
                             verify=verify)
    except httpx.HTTPError as exc:
        _die(f"no console at {base}: {exc}")
    except ValueError:
        _die(f"'{arg}' is not a sequence number")
    print(json.dumps(body, indent=2))
    if code not in (200, 202):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the console's commands to the main app."""
    app.add_typer(users_app, name="users")
    app.command("console")(console_cmd)
    app.command("op")(op)


__all__ = ["api", "console_options", "read_token", "register"]
