"""The console's API: every permission, the two-person rule, sessions, CSRF/Origin/Host checks,
malformed requests (FastAPI TestClient over the app, in process).

The runtime behind the app is a stand-in with the runtime's console interface (``operator``,
``audit``, ``listeners``...) around a real Sequencer: it records what the console asked, so
each test checks that a refused request never reached the runtime and an allowed one reached
it with who asked and who approved. The real runtime behind real uvicorn is exercised in
test_console_server.py and the browser test.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

import padguard as pg
from padguard.console import auth
from padguard.console.app import COOKIE, create_app
from padguard.console.hub import LiveHub
from padguard.console.rig import CREW, make_users
from padguard.sequencer.live import OPS, Rec, Sequencer

BASE = "http://127.0.0.1:8080"
ORIGIN = {"Origin": BASE}


class StandInRuntime:
    """The runtime's console interface over a real Sequencer; remembers every request."""

    def __init__(self) -> None:
        self.plan = pg.compile_model(pg.load("site31", "guarded"))
        self.seq = Sequencer(self.plan)
        self.seq.apply([Rec("start", 0, "start")])
        self.ready = SimpleNamespace(is_set=lambda: True)
        self.listeners: list = []
        self.opts = SimpleNamespace(count_id="main", clock="pad", speed=1.0)
        self.archive = SimpleNamespace(last_seq=1)
        self.link_state, self.restarted, self.recovery = "up", False, {}
        self.asked: list[tuple[str, str | None, dict]] = []
        self.audits: list[tuple[str, dict]] = []

    def _emit(self, recs: list[Rec]) -> None:
        for r in recs:
            self.archive.last_seq += 1
            r.seq = self.archive.last_seq
        for cb in self.listeners:
            cb(recs)

    async def operator(self, command: str, arg: str | None = None, who: dict | None = None) -> dict:
        self.asked.append((command, arg, dict(who or {})))
        ev = self.seq.apply([Rec("operator", self.seq.t, command, arg or "", data=who)])
        self._emit([e.to_rec() for e in ev])
        refused = [e.text for e in ev if e.kind == "refused"]
        return {"accepted": not refused, "refused": refused, "events": [e.text for e in ev],
                "mode": self.seq.mode.name, "seq": self.archive.last_seq}

    async def audit(self, name: str, value: str, data: dict) -> int:
        self.audits.append((name, data))
        rec = Rec("audit", self.seq.t, name, value, data=data)
        self._emit([rec])
        return rec.seq

    def automatic_hold(self) -> int:
        """Make the count hold on a criterion, as the stopper does on MS-28 (an alarm too)."""
        p = self.plan
        t = self.seq.t
        for tt in range(t + 1000, t + 25 * 60_000, 1000):  # count to T-45m with nominal readings
            if self.seq.tc >= -45 * 60_000:
                break
            self.seq.apply([Rec("sample", tt, n, "x", self._nominal(n, tt)) for n in p.sensors])
        t = self.seq.t + 1000
        bad = {"stopper_a": "misaligned", "stopper_b": "misaligned"}
        ev = self.seq.apply([Rec("sample", t, n, "x", p.encode_sensor(p.sensor_index(n), bad.get(n) or self._pos(n)))
                             for n in p.sensors])
        t += 3000
        ev += self.seq.apply([Rec("sample", t, n, "x", p.encode_sensor(p.sensor_index(n), bad.get(n) or self._pos(n)))
                              for n in p.sensors])
        recs = [e.to_rec() for e in ev]
        self._emit(recs)
        assert self.seq.mode.name == "HOLDING", [e.text for e in ev]
        return next(r.seq for r in recs if r.kind == "event" and r.name == "hold")

    def _pos(self, n: str) -> str:
        # what a nominal pad reads at T-45m: cabin stowed and locked, shield closed, the rest initial
        return {"cabin_pos_a": "stowed", "cabin_pos_b": "stowed", "stopper_a": "engaged", "stopper_b": "engaged",
                "shield_pos": "closed"}.get(n) or self.plan.decode_sensor(
                    self.plan.sensor_index(n), int(self.plan.initial[self.plan.s_equip[self.plan.sensor_index(n)]]))

    def _nominal(self, n: str, t: int) -> int:
        return self.plan.encode_sensor(self.plan.sensor_index(n), self._pos(n))


@pytest.fixture(scope="module")
def users_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("users")
    toks = make_users(d / "users.json")
    return d / "users.json", toks


@pytest.fixture
def rig(users_file):
    rt = StandInRuntime()
    hub = LiveHub(rt)
    app = create_app(hub, auth.Users(users_file[0]), hosts=["127.0.0.1"])
    return SimpleNamespace(rt=rt, hub=hub, app=app, tokens=users_file[1])


def client(rig, user: str | None = None) -> tuple[TestClient, str]:
    """A browser-like client logged in as ``user``; its CSRF token."""
    c = TestClient(rig.app, base_url=BASE)
    if user is None:
        return c, ""
    r = c.post("/api/login", json={"name": user, "password": CREW[user][1]}, headers=ORIGIN)
    assert r.status_code == 200, r.text
    return c, r.json()["csrf"]


def post(c: TestClient, csrf: str, path: str, body) -> object:
    return c.post(path, json=body, headers={**ORIGIN, "X-CSRF-Token": csrf})


# ------------------------------------------------------------------ users and sessions
def test_users_file_is_private_and_hashed_with_argon2(users_file):
    path, toks = users_file
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = json.loads(path.read_text())
    for name, (role, pw) in CREW.items():
        u = data["users"][name]
        assert u["role"] == role and u["hash"].startswith("$argon2id$") and pw not in path.read_text()
        secret = toks[name].split(":", 1)[1]
        assert secret not in path.read_text()  # only the token's digest is stored
    users = auth.Users(path)
    assert users.check_password("olga", CREW["olga"][1]) == "operator"
    assert users.check_password("olga", "nope") is None and users.check_password("nobody", "x") is None
    assert users.check_token(toks["lev"]) == ("lev", "launch_director")
    assert users.check_token("lev:forged") is None and users.check_token("olga:" + toks["lev"].split(":")[1]) is None
    with pytest.raises(auth.UsersError, match="unknown role"):
        users.add("x", "admin", "long-enough")
    with pytest.raises(auth.UsersError, match="too short"):
        users.add("x", "viewer", "short")


def test_login_cookie_flags_and_logout(rig):
    c, _ = client(rig)
    assert c.get("/api/state").status_code == 401
    r = c.post("/api/login", json={"name": "olga", "password": "wrong-password"}, headers=ORIGIN)
    assert r.status_code == 401
    r = c.post("/api/login", json={"name": "olga", "password": CREW["olga"][1]}, headers=ORIGIN)
    assert r.status_code == 200 and r.json()["role"] == "operator"
    cookie = r.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain http on loopback; under TLS the cookie is Secure (test_console_server)
    assert c.get("/api/state").status_code == 200
    assert post(c, r.json()["csrf"], "/api/logout", {}).status_code == 200
    assert c.get("/api/state").status_code == 401


def test_login_is_throttled_per_user(rig):
    c, _ = client(rig)
    for _ in range(5):
        assert c.post("/api/login", json={"name": "lev", "password": "bad-guess"}, headers=ORIGIN).status_code == 401
    r = c.post("/api/login", json={"name": "lev", "password": CREW["lev"][1]}, headers=ORIGIN)
    assert r.status_code == 429


def test_secure_cookie_under_tls(users_file):
    app = create_app(LiveHub(StandInRuntime()), auth.Users(users_file[0]), tls=True)
    c = TestClient(app, base_url="https://127.0.0.1:8443")
    r = c.post("/api/login", json={"name": "vera", "password": CREW["vera"][1]}, headers={"Origin": "https://127.0.0.1:8443"})
    assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]
    assert "max-age" in r.headers["strict-transport-security"]


# ------------------------------------------------------------------ the permission table
EXPECTED = {  # role -> commands it may send alone (operator hold in force where a resume needs one)
    "viewer": set(),
    "operator": {"hold", "resume", "recycle"},
    "launch_director": {"hold", "resume", "recycle", "scrub", "abort"},
    "safety_officer": {"hold", "scrub", "abort"},
}


def test_the_permission_table_is_the_documented_one():
    for role, cmds in EXPECTED.items():
        assert {c for c in OPS if auth.allowed(role, c)} == cmds
    assert {r for r in auth.ROLES if auth.allowed(r, "approve")} == {"launch_director", "safety_officer"}
    assert {r for r in auth.ROLES if auth.allowed(r, "ack")} == {"operator", "launch_director", "safety_officer"}
    assert all(auth.allowed(r, "view") for r in auth.ROLES)
    assert not auth.allowed("admin", "view") and not auth.allowed("operator", "no-such-action")


@pytest.mark.parametrize("role_user", ["vera", "olga", "lev", "sasha"])
@pytest.mark.parametrize("command", list(OPS))
def test_every_role_and_command(rig, role_user, command):
    c, csrf = client(rig, role_user)
    role = CREW[role_user][0]
    if command in ("resume", "recycle"):  # an operator hold (not automatic): one person suffices
        assert asyncio.run(rig.rt.operator("hold"))["accepted"]
        rig.rt.asked.clear()
    body = {"command": command, "arg": "stopper"} if command == "recycle" else {"command": command}
    r = post(c, csrf, "/api/command", body)
    if command in EXPECTED[role]:
        assert r.status_code in (200, 409), r.text  # asked; the sequencer decides (409 = refused by the count)
        assert len(rig.rt.asked) == 1
        name, arg, who = rig.rt.asked[0]
        assert name == command and who["user"] == role_user and who["role"] == role
        assert who["session"] and who["peer"] and "approver" not in who
    else:
        assert r.status_code == 403 and role in r.json()["detail"]
        assert rig.rt.asked == []  # the runtime was never asked
    # the same with the API token (what `padguard op` uses): same table
    rig.rt.asked.clear()
    r2 = TestClient(rig.app, base_url=BASE).post("/api/command", json=body,
                                                 headers={"Authorization": f"Bearer {rig.tokens[role_user]}"})
    assert (r2.status_code == 403) == (command not in EXPECTED[role])


def test_acknowledging_alarms(rig):
    hold = rig.rt.automatic_hold()
    c, csrf = client(rig, "vera")
    assert post(c, csrf, "/api/ack", {"seq": hold, "comment": "seen"}).status_code == 403
    c, csrf = client(rig, "olga")
    assert post(c, csrf, "/api/ack", {"seq": 999999}).status_code == 404
    r = post(c, csrf, "/api/ack", {"seq": hold, "comment": "crew sent to the stopper"})
    assert r.status_code == 200
    name, data = rig.rt.audits[-1]
    assert name == "ack" and data["alarm_seq"] == hold and data["user"] == "olga" and data["comment"].startswith("crew")
    assert rig.hub.alarms.items[hold]["acked"]["user"] == "olga"
    assert post(c, csrf, "/api/ack", {"seq": hold}).status_code == 409  # once
    rig.hub._build()
    st = c.get("/api/state").json()["state"]
    assert st["unacked"] == sum(1 for a in st["alarms"] if a["acked"] is None)
    assert next(a for a in st["alarms"] if a["seq"] == hold)["acked"]["user"] == "olga"


# ------------------------------------------------------------------ the two-person rule
def test_two_person_rule_after_an_automatic_hold(rig):
    hold = rig.rt.automatic_hold()
    assert rig.hub.automatic and rig.hub.hold_seq == hold
    op, op_csrf = client(rig, "olga")
    r = post(op, op_csrf, "/api/command", {"command": "recycle", "arg": "stopper", "comment": "stopper reseated"})
    assert r.status_code == 202 and r.json()["pending"]
    rid = r.json()["request"]["id"]
    assert rig.rt.asked == []  # nothing reached the count yet
    assert rig.rt.audits[-1][0] == "request" and rig.rt.audits[-1][1]["user"] == "olga"
    # the requester cannot approve; neither can another operator or a viewer
    assert post(op, op_csrf, f"/api/requests/{rid}/approve", {}).status_code == 403
    for user in ("oleg", "vera"):
        c, csrf = client(rig, user)
        r = post(c, csrf, f"/api/requests/{rid}/approve", {})
        assert r.status_code == 403 and "may not approve" in r.json()["detail"]
    assert [a[0] for a in rig.rt.audits[-3:]] == ["denied"] * 3
    assert rig.rt.asked == []
    # a launch director approves: now the runtime is asked, with both persons
    ld, ld_csrf = client(rig, "lev")
    r = post(ld, ld_csrf, f"/api/requests/{rid}/approve", {"comment": "go"})
    assert r.status_code in (200, 409) and r.json()["request"]["state"] == "approved"
    (name, arg, who), = rig.rt.asked
    assert (name, arg) == ("recycle", "stopper")
    assert who["user"] == "olga" and who["role"] == "operator" and who["approver"] == "lev"
    assert who["approver_role"] == "launch_director" and who["request"] == rid and who["comment"] == "stopper reseated"
    assert rig.rt.audits[-1][0] == "approve" and rig.rt.audits[-1][1]["user"] == "lev"
    # approved once: a second approval is refused
    c, csrf = client(rig, "sasha")
    assert post(c, csrf, f"/api/requests/{rid}/approve", {}).status_code == 409


def test_a_rejected_or_superseded_request_never_runs(rig):
    rig.rt.automatic_hold()
    op, op_csrf = client(rig, "olga")
    rid = post(op, op_csrf, "/api/command", {"command": "resume"}).json()["request"]["id"]
    so, so_csrf = client(rig, "sasha")
    assert post(so, so_csrf, f"/api/requests/{rid}/reject", {"comment": "not yet"}).status_code == 200
    assert post(so, so_csrf, f"/api/requests/{rid}/approve", {}).status_code == 409
    rid2 = post(op, op_csrf, "/api/command", {"command": "resume"}).json()["request"]["id"]
    # a new automatic hold strikes: the request answered the old one and is void
    rig.rt._emit([Rec("event", rig.rt.seq.t, "hold", "SAFETY HOLD: stale", data={"safety": True, "cause": "stale:x"})])
    assert rig.hub.requests[rid2].state == "void"
    assert post(so, so_csrf, f"/api/requests/{rid2}/approve", {}).status_code == 409
    assert rig.rt.asked == []
    # the hold ends some other way (here: the count resumes by itself): the request is void
    rid3 = post(op, op_csrf, "/api/command", {"command": "resume"}).json()["request"]["id"]
    rig.rt._emit([Rec("event", rig.rt.seq.t, "resume", "count resumes")])
    assert rig.hub.requests[rid3].state == "void"
    assert post(so, so_csrf, f"/api/requests/{rid3}/approve", {}).status_code == 409
    assert rig.rt.asked == []
    assert post(so, so_csrf, "/api/requests/nope/approve", {}).status_code == 404
    assert post(so, so_csrf, f"/api/requests/{rid}/delete", {}).status_code == 404


def test_an_operator_hold_resumes_with_one_person(rig):
    op, csrf = client(rig, "olga")
    assert post(op, csrf, "/api/command", {"command": "hold"}).status_code == 200
    r = post(op, csrf, "/api/command", {"command": "resume"})
    assert r.status_code in (200, 409) and "pending" not in r.json()
    assert [a[0] for a in rig.rt.asked] == ["hold", "resume"]


# ------------------------------------------------------------------ CSRF, Origin, Host, content type
def test_cross_site_requests_are_refused(rig):
    c, csrf = client(rig, "lev")
    body = {"command": "hold"}
    assert c.post("/api/command", json=body, headers=ORIGIN).status_code == 403  # no CSRF token
    assert c.post("/api/command", json=body, headers={**ORIGIN, "X-CSRF-Token": "guess"}).status_code == 403
    r = c.post("/api/command", json=body, headers={"Origin": "http://evil.example", "X-CSRF-Token": csrf})
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    r = c.post("/api/command", json=body, headers={"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": csrf})
    assert r.status_code == 403
    # a form post (text/plain, what a hostile page can send without a preflight)
    r = c.post("/api/command", content=json.dumps(body), headers={**ORIGIN, "X-CSRF-Token": csrf, "Content-Type": "text/plain"})
    assert r.status_code == 415
    # DNS rebinding: a foreign Host header
    r = c.post("/api/command", json=body, headers={"Host": "evil.example", "X-CSRF-Token": csrf})
    assert r.status_code == 400
    assert c.get("/api/state", headers={"Host": "rebind.evil.example"}).status_code == 400
    assert rig.rt.asked == []
    for method in ("PUT", "DELETE", "PATCH"):
        assert c.request(method, "/api/command", json=body, headers={**ORIGIN, "X-CSRF-Token": csrf}).status_code == 405
    # and the same request done right works
    assert c.post("/api/command", json=body, headers={**ORIGIN, "X-CSRF-Token": csrf}).status_code == 200


def test_pages_carry_a_strict_content_security_policy(rig):
    c, _ = client(rig)
    r = c.get("/")
    assert r.status_code == 200 and "padguard console" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and r.headers["x-frame-options"] == "DENY"
    assert c.get("/static/console.js").status_code == 200
    assert c.get("/static/../app.py").status_code == 404


# ------------------------------------------------------------------ malformed requests
@pytest.mark.parametrize("raw", [
    b"{", b"not json", b"[]", b"null", b"\xff\xfe", b'{"command": "hold"} trailing',
])
def test_bad_json_is_refused(rig, raw):
    c, csrf = client(rig, "lev")
    r = c.post("/api/command", content=raw, headers={**ORIGIN, "X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert rig.rt.asked == []


@pytest.mark.parametrize("body", [
    {"command": "hold", "arg": {"$gt": ""}},  # arg as an object (crashed the old endpoint's runtime)
    {"command": "recycle", "arg": ["stopper"]},
    {"command": "recycle", "arg": 7},
    {"command": "recycle", "arg": "x" * 65},
    {"command": "recycle", "arg": "stop per\r\nX: y"},
    {"command": ["hold"]},
    {"command": "HOLD"},
    {"command": "launch"},
    {"command": "hold", "comment": 5},
    {"command": "hold", "extra": 1},
    {"arg": "stopper"},
    {},
])
def test_wrong_types_and_shapes_are_refused(rig, body):
    c, csrf = client(rig, "lev")
    r = post(c, csrf, "/api/command", body)
    assert r.status_code == 422, r.text
    assert rig.rt.asked == []


@pytest.mark.parametrize("path,body", [
    ("/api/ack", {"seq": "12"}), ("/api/ack", {"seq": -1}), ("/api/ack", {"seq": 1.5}), ("/api/ack", {}),
    ("/api/ack", {"seq": 3, "comment": "x" * 501}), ("/api/login", {"name": {"a": 1}, "password": "x"}),
    ("/api/login", {"name": "a b", "password": "x"}), ("/api/login", {"name": "x" * 65, "password": "x"}),
])
def test_other_routes_check_their_bodies(rig, path, body):
    c, csrf = client(rig, "olga")
    assert post(c, csrf, path, body).status_code == 422


def test_oversize_bodies_are_refused_before_parsing(rig):
    c, csrf = client(rig, "lev")
    big = {"command": "hold", "comment": "x" * 20_000}
    r = post(c, csrf, "/api/command", big)
    assert r.status_code == 413
    # streamed (chunked, no Content-Length): counted as it arrives
    def gen():
        for _ in range(40):
            yield b"x" * 1024
    r = c.post("/api/command", content=gen(), headers={**ORIGIN, "X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert rig.rt.asked == []
