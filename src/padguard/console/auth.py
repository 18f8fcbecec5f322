"""Who may do what: users, roles, THE permission table, the two-person rule, sessions.

This module is the one place where access is decided (the FastAPI routes only ask it).

Roles (``--role``):

* ``viewer``: sees every screen, commands nothing;
* ``operator``: the test conductor: hold, resume an operator hold, recycle, acknowledge alarms,
  *request* what needs two persons;
* ``launch_director``: everything an operator may, plus scrub, abort, and *approve* requests;
* ``safety_officer``: hold, scrub, abort, acknowledge, and *approve* requests.

Two-person rule: resuming or recycling a count held by an automatic hold (a criterion or a
fail-safe condition: stale, malformed, link, restart, ...) is requested by one user and carried
out only when a *different* user holding an approving role approves it.

Users live in a JSON file (mode 0600) with argon2 password hashes; API tokens for
``padguard op`` are random 256-bit secrets stored as SHA-256 digests (a token is high-entropy,
so a slow hash adds nothing but latency on every request).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("viewer", "operator", "launch_director", "safety_officer")

#: THE permission table: action -> roles allowed to do it (alone, or to *request* it when the
#: two-person rule applies). Documented in docs/console.md; nothing else grants anything.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "hold": frozenset({"operator", "launch_director", "safety_officer"}),
    "resume": frozenset({"operator", "launch_director"}),
    "recycle": frozenset({"operator", "launch_director"}),
    "scrub": frozenset({"launch_director", "safety_officer"}),
    "abort": frozenset({"launch_director", "safety_officer"}),
    "ack": frozenset({"operator", "launch_director", "safety_officer"}),
    "approve": frozenset({"launch_director", "safety_officer"}),
}
#: Commands that need a second person when the count is held by an automatic hold.
TWO_PERSON_AFTER_AUTOMATIC_HOLD = frozenset({"resume", "recycle"})


def allowed(role: str, action: str) -> bool:
    """True when ``role`` may do ``action`` (per :data:`PERMISSIONS`)."""
    return role in PERMISSIONS.get(action, frozenset())


def needs_second_person(command: str, automatic_hold: bool) -> bool:
    return automatic_hold and command in TWO_PERSON_AFTER_AUTOMATIC_HOLD


class UsersError(Exception):
    """A users file that cannot be read or a name/role that is not valid."""


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


class Users:
    """The users file: ``{"users": {name: {"role", "hash", "tokens": [sha256...]}}}``, mode 0600."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.data: dict[str, Any] = {"users": {}}
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text())
            except (OSError, ValueError) as exc:
                raise UsersError(f"cannot read users file {self.path}: {exc}") from exc
            if not isinstance(self.data.get("users"), dict):
                raise UsersError(f"{self.path}: expected {{\"users\": {{...}}}}")

    def save(self) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.data, fh, indent=1)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def add(self, name: str, role: str, password: str) -> None:
        if role not in ROLES:
            raise UsersError(f"unknown role '{role}': expected one of {', '.join(ROLES)}")
        if not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum() or len(name) > 64:
            raise UsersError(f"bad user name '{name}': letters, digits, '.', '-', '_' (at most 64)")
        if len(password) < 8:
            raise UsersError("password too short: at least 8 characters")
        old = self.data["users"].get(name, {})
        self.data["users"][name] = {"role": role, "hash": _hasher().hash(password), "tokens": old.get("tokens", [])}

    def remove(self, name: str) -> bool:
        return self.data["users"].pop(name, None) is not None

    def new_token(self, name: str) -> str:
        """A new API token for ``name`` (shown once; only its digest is stored)."""
        if name not in self.data["users"]:
            raise UsersError(f"no user '{name}'")
        secret = secrets.token_urlsafe(32)
        self.data["users"][name].setdefault("tokens", []).append(hashlib.sha256(secret.encode()).hexdigest())
        return f"{name}:{secret}"

    def role(self, name: str) -> str | None:
        u = self.data["users"].get(name)
        return u["role"] if u else None

    def check_password(self, name: str, password: str) -> str | None:
        """The user's role when the password is right, else None (same cost for unknown users)."""
        from argon2.exceptions import VerificationError

        u = self.data["users"].get(name)
        ph = _hasher()
        try:
            ph.verify(u["hash"] if u else _DUMMY.get(ph), password)
        except (VerificationError, ValueError):
            return None
        return u["role"] if u else None

    def check_token(self, token: str) -> tuple[str, str] | None:
        """(name, role) for a valid ``NAME:SECRET`` token, else None."""
        name, _, secret = token.strip().partition(":")
        u = self.data["users"].get(name)
        if not u or not secret:
            return None
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if any(hmac.compare_digest(digest, d) for d in u.get("tokens", [])):
            return name, u["role"]
        return None


class _Dummy:
    h: str | None = None

    def get(self, ph) -> str:
        if self.h is None:
            self.h = ph.hash(secrets.token_hex(8))
        return self.h


_DUMMY = _Dummy()


@dataclass
class Session:
    """A logged-in browser (cookie) or an API token holder."""

    id: str
    user: str
    role: str
    csrf: str
    peer: str
    created: float = field(default_factory=time.time)
    last: float = field(default_factory=time.time)


class Sessions:
    """In-memory sessions with an idle timeout (a restarted console logs everyone out)."""

    def __init__(self, idle_s: float = 8 * 3600):
        self.idle_s = idle_s
        self._by_id: dict[str, Session] = {}

    def new(self, user: str, role: str, peer: str) -> Session:
        s = Session(secrets.token_urlsafe(32), user, role, secrets.token_urlsafe(32), peer)
        self._by_id[s.id] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        s = self._by_id.get(sid)
        if s is None:
            return None
        now = time.time()
        if now - s.last > self.idle_s:
            self._by_id.pop(sid, None)
            return None
        s.last = now
        return s

    def drop(self, sid: str) -> None:
        self._by_id.pop(sid, None)


@dataclass
class Request:
    """A command waiting for a second person."""

    id: str
    command: str
    arg: str | None
    comment: str
    user: str
    role: str
    session: str
    peer: str
    hold_seq: int  # the hold it answers (a new hold voids the request)
    created: float = field(default_factory=time.time)
    state: str = "pending"  # pending | approved | rejected | void

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "command": self.command, "arg": self.arg, "comment": self.comment,
                "user": self.user, "role": self.role, "hold_seq": self.hold_seq, "created": self.created,
                "state": self.state}


def check_approval(req: Request, approver: str, approver_role: str) -> str | None:
    """Why ``approver`` may not approve ``req`` (None when they may)."""
    if req.state != "pending":
        return f"request {req.id} is {req.state}"
    if approver == req.user:
        return "two-person rule: the approver must be a different user from the requester"
    if not allowed(approver_role, "approve"):
        return f"role {approver_role} may not approve (approving roles: {', '.join(sorted(PERMISSIONS['approve']))})"
    return None


__all__ = ["PERMISSIONS", "ROLES", "TWO_PERSON_AFTER_AUTOMATIC_HOLD", "Request", "Session", "Sessions", "Users",
           "UsersError", "allowed", "check_approval", "needs_second_person"]
