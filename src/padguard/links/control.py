"""The local control interface of a running count: a small HTTP/JSON endpoint (stdlib asyncio).

Routes (all JSON):

* ``GET /status``: mode, clocks, hold reason, active fail-safe conditions, criteria;
* ``GET /events?after=SEQ``: archived events after a sequence number (what a console polls);
* ``POST /command`` with ``{"command": "hold|resume|recycle|scrub|abort", "arg": "..."}``:
  the command is archived, applied, and answered only once it is durable.

It listens on loopback only by default; ``padguard op`` is its command-line client.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

Handler = Callable[[str, str, dict[str, Any] | None], Awaitable[tuple[int, dict[str, Any]]]]
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}


async def serve(handler: Handler, host: str = "127.0.0.1", port: int = 0) -> tuple[asyncio.Server, str]:
    """Start the endpoint; returns the server and its base URL (port 0 picks a free port)."""

    async def conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                parts = line.decode("latin-1").split()
                if len(parts) < 2:
                    break
                method, target = parts[0].upper(), parts[1]
                length, keep = 0, True
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v.strip() or 0)
                    elif k.strip().lower() == "connection" and v.strip().lower() == "close":
                        keep = False
                if length > 1 << 20:
                    code, body = 413, {"error": "request too large"}
                else:
                    raw = await reader.readexactly(length) if length else b""
                    try:
                        data = json.loads(raw) if raw else None
                        code, body = await handler(method, target, data)
                    except json.JSONDecodeError:
                        code, body = 400, {"error": "body is not JSON"}
                    except Exception as exc:  # noqa: BLE001 - never drop the connection silently
                        code, body = 500, {"error": f"{type(exc).__name__}: {exc}"}
                out = json.dumps(body).encode()
                writer.write(f"HTTP/1.1 {code} {REASONS.get(code, 'Error')}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(out)}\r\nConnection: {'keep-alive' if keep else 'close'}\r\n\r\n"
                             .encode() + out)
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(conn, host, port)
    sock = server.sockets[0].getsockname()
    return server, f"http://{sock[0]}:{sock[1]}"


def route(target: str) -> tuple[str, dict[str, str]]:
    u = urlparse(target)
    return u.path.rstrip("/") or "/", {k: v[-1] for k, v in parse_qs(u.query).items()}


def request(base: str, method: str, path: str, body: dict[str, Any] | None = None,
            timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
    """A blocking JSON request to a control endpoint (the CLI and tests use it)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", "Connection": "close"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {"error": str(e)}


async def arequest(base: str, method: str, path: str, body: dict[str, Any] | None = None,
                   timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
    """The same request from async code (runs the blocking one in a thread)."""
    return await asyncio.to_thread(request, base, method, path, body, timeout)
