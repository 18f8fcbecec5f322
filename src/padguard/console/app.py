"""The console's HTTP API and pages: every route padguard serves, on FastAPI (run by uvicorn).

Security, in the order a request meets it:

1. framing and size (:class:`BodyLimit`, before any parsing): a body over the limit (declared or
   chunked) gets 413, Content-Length with Transfer-Encoding (the request-smuggling shape) gets
   400, and either closes the connection, so no remainder is ever read as a second request;
2. Host header must be one this console serves (DNS rebinding);
3. ``POST`` needs ``Content-Type: application/json`` and, when the browser sends ``Origin``,
   this console's own origin;
4. authentication: a session cookie (HttpOnly, SameSite=Strict, Secure under TLS) whose
   state-changing requests also carry the session's CSRF token in ``X-CSRF-Token``; or an API
   token (``Authorization: Bearer NAME:SECRET``, for ``padguard op``; no ambient credential, so
   no CSRF);
5. the permission table and the two-person rule (:mod:`padguard.console.auth`), the only
   place access is decided; the runtime then decides whether the count accepts the command.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from importlib import resources
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from padguard.console import auth
from padguard.console.hub import Hub, LiveHub, ReplayHub

COOKIE = "padguard_session"
MAX_BODY = 16 * 1024
MAX_HEAD = 16 * 1024
Name = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Name
    password: str = Field(min_length=1, max_length=256)


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    command: Literal["hold", "resume", "recycle", "scrub", "abort"]
    arg: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9._:-]*$")
    comment: str = Field(default="", max_length=500)


class Ack(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    seq: int = Field(ge=1)
    comment: str = Field(default="", max_length=500)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    comment: str = Field(default="", max_length=500)


class BodyLimit:
    """Pure ASGI middleware: refuse a body over ``limit`` bytes (declared or streamed) with 413."""

    def __init__(self, app, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        names = [k for k, _ in scope.get("headers", [])]
        if sum(len(k) + len(v) for k, v in scope.get("headers", [])) + len(scope.get("raw_path", b"")) > MAX_HEAD:
            return await _plain(send, 431, f"request headers over {MAX_HEAD} bytes")
        if b"transfer-encoding" in names and b"content-length" in names:
            # RFC 9112 6.1: ambiguous framing (the request-smuggling shape); refuse and close
            return await _plain(send, 400, "Content-Length and Transfer-Encoding together")
        if names.count(b"content-length") > 1:
            return await _plain(send, 400, "more than one Content-Length")
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    n = int(v)
                except ValueError:
                    return await _plain(send, 400, "bad Content-Length")
                if n > self.limit:
                    return await _plain(send, 413, f"request body over {self.limit} bytes")
        chunks, size, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body = msg.get("body", b"")
            size += len(body)
            if size > self.limit:
                return await _plain(send, 413, f"request body over {self.limit} bytes")
            chunks.append(body)
            more = msg.get("more_body", False)
        whole = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


async def _plain(send, code: int, text: str) -> None:
    body = json.dumps({"detail": text}).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def create_app(hub: Hub, users: auth.Users, *, tls: bool = False, hosts: list[str] | None = None,
               max_body: int = MAX_BODY) -> FastAPI:
    """The console app over a live or replay ``hub``; ``hosts``: Host names it answers to."""
    app = FastAPI(title="padguard console", docs_url=None, redoc_url=None, openapi_url=None)
    sessions = auth.Sessions()
    failures: dict[str, list[float]] = {}
    allowed_hosts = list(dict.fromkeys([*(hosts or []), "127.0.0.1", "localhost", "[::1]"]))
    app.state.sessions = sessions
    app.state.hub = hub

    # ---- middleware (outermost last)
    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.method not in ("GET", "HEAD", "POST"):
            return JSONResponse({"detail": "method not allowed"}, 405)
        if request.method == "POST":
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return JSONResponse({"detail": "POST needs Content-Type: application/json"}, 415,
                                    headers={"Connection": "close"})
            origin = request.headers.get("origin")
            if origin is not None and origin != _own_origin(request, tls):
                return JSONResponse({"detail": f"cross-origin request refused (Origin {origin})"}, 403,
                                    headers={"Connection": "close"})
            if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                return JSONResponse({"detail": "cross-site request refused"}, 403, headers={"Connection": "close"})
        resp = await call_next(request)
        if request.method == "POST" and resp.status_code >= 400:
            resp.headers["Connection"] = "close"  # nothing pipelined behind a refused request is read
        resp.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                                   "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                                                   "base-uri 'none'; form-action 'self'")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        if request.url.path.startswith("/api"):
            resp.headers["Cache-Control"] = "no-store"
        if tls:
            resp.headers["Strict-Transport-Security"] = "max-age=31536000"
        return resp

    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.add_middleware(BodyLimit, limit=max_body)

    # ---- who is asking
    def peer(request: Request) -> str:
        c = request.client
        return f"{c.host}:{c.port}" if c else "?"

    def current(request: Request) -> auth.Session:
        authz = request.headers.get("authorization", "")
        if authz.lower().startswith("bearer "):
            who = users.check_token(authz[7:])
            if who is None:
                raise HTTPException(401, "bad API token")
            return auth.Session("token-" + authz[7:].split(":")[0], who[0], who[1], "", peer(request))
        s = sessions.get(request.cookies.get(COOKIE))
        if s is None:
            raise HTTPException(401, "not logged in")
        return s

    def mutating(request: Request, s: auth.Session = Depends(current)) -> auth.Session:  # noqa: B008
        if s.csrf:  # a cookie session: the CSRF token must come back in a header
            sent = request.headers.get("x-csrf-token", "")
            if not hmac.compare_digest(sent.encode(), s.csrf.encode()):
                raise HTTPException(403, "missing or wrong CSRF token")
        return s

    def who(s: auth.Session, request: Request) -> dict[str, Any]:
        return {"source": "console", "user": s.user, "role": s.role, "session": s.id[:8], "peer": peer(request)}

    def need(s: auth.Session, action: str) -> None:
        if not auth.allowed(s.role, action):
            roles = ", ".join(sorted(auth.PERMISSIONS.get(action, ())))
            raise HTTPException(403, f"role {s.role} may not {action} (allowed: {roles})")

    def live() -> LiveHub:
        if not isinstance(hub, LiveHub):
            raise HTTPException(409, "this console replays an archive: it commands nothing")
        if not hub.ready():
            raise HTTPException(503, "the count is starting")
        return hub

    def me(s: auth.Session) -> dict[str, Any]:
        return {"user": s.user, "role": s.role, "csrf": s.csrf, "live": hub.live,
                "permissions": sorted(a for a in auth.PERMISSIONS if auth.allowed(s.role, a))}

    # ---- pages
    static = resources.files("padguard.console") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(static / "index.html"), media_type="text/html")

    # ---- sessions
    @app.post("/api/login")
    async def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
        now = time.time()
        recent = [t for t in failures.get(body.name, []) if now - t < 60]
        failures[body.name] = recent
        if len(recent) >= 5:
            raise HTTPException(429, "too many failed logins for this user; wait a minute")
        role = await asyncio.to_thread(users.check_password, body.name, body.password)
        if role is None:
            recent.append(now)
            raise HTTPException(401, "wrong user name or password")
        s = sessions.new(body.name, role, peer(request))
        response.set_cookie(COOKIE, s.id, httponly=True, samesite="strict", secure=tls, path="/")
        return me(s)

    @app.post("/api/logout")
    async def logout(response: Response, s: auth.Session = Depends(mutating)) -> dict[str, Any]:  # noqa: B008
        sessions.drop(s.id)
        response.delete_cookie(COOKIE, path="/")
        return {"ok": True}

    @app.get("/api/me")
    async def get_me(s: auth.Session = Depends(current)) -> dict[str, Any]:  # noqa: B008
        return me(s)

    @app.get("/api/permissions")
    async def permissions(s: auth.Session = Depends(current)) -> dict[str, Any]:  # noqa: B008
        return {"roles": list(auth.ROLES), "permissions": {a: sorted(r) for a, r in auth.PERMISSIONS.items()},
                "two_person_after_automatic_hold": sorted(auth.TWO_PERSON_AFTER_AUTOMATIC_HOLD)}

    # ---- screens
    @app.get("/api/layout")
    async def get_layout(s: auth.Session = Depends(current)) -> dict[str, Any]:  # noqa: B008
        return hub.layout

    @app.get("/api/state")
    async def get_state(at: int | None = None, s: auth.Session = Depends(current)) -> Response:  # noqa: B008
        if isinstance(hub, ReplayHub):
            return JSONResponse({"version": 0, "state": hub.at(hub.last_seq if at is None else at)})
        if not hub.ready():
            raise HTTPException(503, "the count is starting")
        if hub.frame_version < 0:
            hub._build()
        return Response(hub.frame, media_type="application/json")

    @app.get("/api/events")
    async def get_events(after: int = 0, kind: str | None = None, upto: int | None = None, limit: int = 500,
                         s: auth.Session = Depends(current)) -> dict[str, Any]:  # noqa: B008
        kinds = [k for k in (kind or "").split(",") if k] or None
        limit = max(1, min(limit, 2000))
        if isinstance(hub, ReplayHub):
            return {"events": hub.events(after, kinds, limit, upto)}
        return {"events": hub.events(after, kinds, limit)}

    @app.get("/api/stream")
    async def stream(request: Request, s: auth.Session = Depends(current)) -> StreamingResponse:  # noqa: B008
        h = live()
        sid = s.id

        async def frames():
            v, last = -1, int(request.query_params.get("after", "0") or 0)
            yield "retry: 1000\n\n"
            while True:
                if await request.is_disconnected() or (s.csrf and sessions.get(sid) is None):
                    return
                await h.wait_change(v, 1.0)
                if h.frame_version != v and h.frame:
                    v = h.frame_version
                    ev = h.events(last, None, 500)
                    if ev:
                        last = ev[-1]["seq"]
                        yield f"event: records\ndata: {json.dumps(ev, separators=(',', ':'))}\n\n"
                    yield f"event: frame\ndata: {h.frame}\n\n"
                else:
                    yield f"event: beat\ndata: {json.dumps({'server_wall': time.time(), 'version': v})}\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # ---- commands
    @app.post("/api/command")
    async def command(body: Command, request: Request, s: auth.Session = Depends(mutating)) -> JSONResponse:  # noqa: B008
        h = live()
        need(s, body.command)
        if auth.needs_second_person(body.command, h.automatic and h.rt.seq.mode.name == "HOLDING"):
            q = h.new_request(body.command, body.arg, body.comment, s)
            await h.rt.audit("request", f"{s.user} ({s.role}) requests {body.command}"
                             f"{' ' + body.arg if body.arg else ''}: needs approval by another user",
                             {**who(s, request), "request": q.id, "command": body.command, "arg": body.arg,
                              "comment": body.comment, "hold_seq": q.hold_seq})
            h._dirty.set()
            return JSONResponse({"pending": True, "request": q.public(),
                                 "why": "two-person rule: this resumes after an automatic hold"}, 202)
        res = await h.rt.operator(body.command, body.arg, {**who(s, request), "comment": body.comment})
        return JSONResponse(res, 200 if res["accepted"] else 409)

    @app.get("/api/requests")
    async def requests_list(s: auth.Session = Depends(current)) -> dict[str, Any]:  # noqa: B008
        if not isinstance(hub, LiveHub):
            return {"requests": []}
        return {"requests": [q.public() for q in hub.requests.values()]}

    @app.post("/api/requests/{rid}/{decision}")
    async def decide(rid: str, decision: str, body: Decision, request: Request,
                     s: auth.Session = Depends(mutating)) -> JSONResponse:  # noqa: B008
        h = live()
        if decision not in ("approve", "reject"):
            raise HTTPException(404, "approve or reject")
        q = h.requests.get(rid)
        if q is None:
            raise HTTPException(404, f"no request {rid}")
        why = auth.check_approval(q, s.user, s.role)
        if why is not None:
            await h.rt.audit("denied", f"{s.user} ({s.role}) may not {decision} request {rid}: {why}",
                             {**who(s, request), "request": rid, "why": why})
            raise HTTPException(409 if q.state != "pending" else 403, why)
        if decision == "reject":
            q.state = "rejected"
            await h.rt.audit("reject", f"{s.user} ({s.role}) rejects {q.user}'s {q.command}",
                             {**who(s, request), "request": rid, "comment": body.comment})
            h._dirty.set()
            return JSONResponse({"rejected": True, "request": q.public()})
        q.state = "approved"
        await h.rt.audit("approve", f"{s.user} ({s.role}) approves {q.user}'s {q.command}"
                         f"{' ' + q.arg if q.arg else ''}", {**who(s, request), "request": rid, "comment": body.comment})
        res = await h.rt.operator(q.command, q.arg, {
            "source": "console", "user": q.user, "role": q.role, "session": q.session, "peer": q.peer,
            "approver": s.user, "approver_role": s.role, "approver_session": s.id[:8], "approver_peer": peer(request),
            "request": rid, "comment": q.comment})
        h._dirty.set()
        return JSONResponse({**res, "request": q.public()}, 200 if res["accepted"] else 409)

    @app.post("/api/ack")
    async def ack(body: Ack, request: Request, s: auth.Session = Depends(mutating)) -> dict[str, Any]:  # noqa: B008
        h = live()
        need(s, "ack")
        a = h.alarms.items.get(body.seq)
        if a is None:
            raise HTTPException(404, f"no alarm at record {body.seq}")
        if a["acked"] is not None:
            raise HTTPException(409, f"alarm {body.seq} already acknowledged by {a['acked']['user']}")
        seq = await h.rt.audit("ack", f"{s.user} ({s.role}) acknowledges: {a['text'][:120]}",
                               {**who(s, request), "alarm_seq": body.seq, "comment": body.comment})
        return {"acknowledged": body.seq, "seq": seq}

    return app


def _own_origin(request: Request, tls: bool) -> str:
    return f"{'https' if tls else 'http'}://{request.headers.get('host', '')}"


__all__ = ["COOKIE", "MAX_BODY", "create_app"]
