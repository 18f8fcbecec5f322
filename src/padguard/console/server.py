"""Serving the console with uvicorn inside the runtime's own asyncio loop.

Binds 127.0.0.1 by default; serves TLS given a certificate and key; refuses any address that
is not loopback unless it serves TLS (passwords and session cookies never cross a network in
clear text).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from padguard.console import auth
from padguard.console.app import create_app
from padguard.console.hub import Hub, LiveHub


class ConsoleError(Exception):
    """A console that must not start (bad bind, no TLS off loopback, bad users file)."""


@dataclass
class ConsoleOptions:
    """Where and how the console listens."""

    host: str = "127.0.0.1"
    port: int = 8080
    users: str = "padguard-users.json"
    certfile: str | None = None
    keyfile: str | None = None

    @property
    def tls(self) -> bool:
        return bool(self.certfile)


def parse_bind(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); raises ConsoleError on anything else."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ConsoleError(f"expected HOST:PORT (got {text})")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_options(o: ConsoleOptions) -> None:
    """Refuse what must not start: no TLS off loopback, half a TLS pair, no users."""
    if bool(o.certfile) != bool(o.keyfile):
        raise ConsoleError("TLS needs both --tls-cert and --tls-key")
    for f in (o.certfile, o.keyfile):
        if f and not Path(f).is_file():
            raise ConsoleError(f"no such file: {f}")
    if not is_loopback(o.host) and not o.tls:
        raise ConsoleError(f"refusing to serve the console on {o.host} without TLS: give --tls-cert and --tls-key, "
                           "or bind 127.0.0.1")
    if not Path(o.users).is_file():
        raise ConsoleError(f"no users file {o.users}: create one with `padguard users add NAME --role ROLE`")
    auth.Users(o.users)  # readable and well-formed


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the runtime owns SIGINT/SIGTERM (hold, archive, exit)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ConsoleServer:
    """uvicorn serving :func:`create_app` in the current loop. Also the runtime's ``Frontend``."""

    def __init__(self, opts: ConsoleOptions, hub: Hub | None = None):
        check_options(opts)
        self.opts = opts
        self.hub = hub
        self.server: _Server | None = None
        self.task: asyncio.Task | None = None
        self.url: str | None = None

    async def start(self, rt=None) -> str:
        """Start serving (for a live count, ``rt`` is the runtime); returns the base URL."""
        if rt is not None:
            self.hub = LiveHub(rt)
            self.hub.start()
        assert self.hub is not None
        o = self.opts
        hosts = [o.host] if o.host not in ("0.0.0.0", "::") else ["*"]
        app = create_app(self.hub, auth.Users(o.users), tls=o.tls, hosts=hosts)
        cfg = uvicorn.Config(app, host=o.host, port=o.port, log_level="warning", access_log=False, http="h11",
                             ssl_certfile=o.certfile, ssl_keyfile=o.keyfile, lifespan="off",
                             h11_max_incomplete_event_size=16 * 1024, timeout_keep_alive=30,
                             limit_concurrency=1000, server_header=False)
        # Bind here, so a taken port is an OSError for the caller (uvicorn would sys.exit).
        fam = socket.AF_INET6 if ":" in o.host else socket.AF_INET
        sock = socket.create_server((o.host, o.port), family=fam, backlog=1024)
        sock.set_inheritable(True)
        self.server = _Server(cfg)
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self.task.done():
                exc = self.task.exception() if not self.task.cancelled() else None
                raise OSError(f"cannot serve the console on {o.host}:{o.port}: {exc or 'uvicorn exited'}")
            await asyncio.sleep(0.01)
        sock = self.server.servers[0].sockets[0].getsockname()
        host = sock[0] if ":" not in sock[0] else f"[{sock[0]}]"
        self.url = f"{'https' if o.tls else 'http'}://{host}:{sock[1]}"
        return self.url

    async def stop(self) -> None:
        if isinstance(self.hub, LiveHub):
            await self.hub.stop()
        if self.server is not None:
            self.server.should_exit = True
            self.server.force_exit = True
        if self.task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.task, 5)


__all__ = ["ConsoleError", "ConsoleOptions", "ConsoleServer", "check_options", "is_loopback", "parse_bind"]
