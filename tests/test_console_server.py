"""The console served by real uvicorn in front of a real runtime and a lockstep pad-sim.

Request smuggling attempts on raw sockets, many concurrent clients, TLS, the bind policy,
``padguard op`` as an API client and ``padguard users``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import threading
import time

import httpx
import pytest
from typer.testing import CliRunner

from padguard.cli import app
from padguard.console.rig import CREW, DryRun, make_users
from padguard.console.server import ConsoleError, ConsoleOptions, ConsoleServer, check_options
from padguard.store.archive import open_archive

pytestmark = pytest.mark.timeout(240)
runner = CliRunner()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    rig = DryRun(tmp_path_factory.mktemp("live"), paused=True)
    rig.start()
    yield rig
    rig.stop()


def bearer(rig, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {rig.tokens[user]}"}


def raw(url: str, payload: bytes, wait: float = 2.0) -> bytes:
    """Send bytes on one TCP connection; everything the server answered until it closed or went quiet."""
    host, port = url.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=wait)
    s.sendall(payload)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (TimeoutError, ConnectionResetError):
        pass
    s.close()
    return out


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def operator_records(rig) -> list:
    with open_archive(rig.archive) as a:
        return [r for r in a.read() if r.kind == "operator"]


def test_smuggling_attempts_never_run_a_second_command(live):
    url = live.url
    host = url.split("//")[1]
    tok = live.tokens["lev"]
    smuggled = (f"POST /api/command HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {tok}\r\n"
                "Content-Type: application/json\r\nContent-Length: 19\r\n\r\n{\"command\":\"abort\"}").encode()
    head = f"POST /api/command HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {tok}\r\nContent-Type: application/json\r\n"
    before = len(operator_records(live))
    # 1. an oversize body whose tail is a second request (what the old endpoint executed after its 413)
    body = b'{"command":"hold","comment":"' + b"x" * 20_000 + b'"}' + smuggled
    out = raw(url, f"{head}Content-Length: {len(body) - len(smuggled)}\r\n\r\n".encode() + body)
    assert out.startswith(b"HTTP/1.1 413") and out.count(b"HTTP/1.1 ") == 1, out[:300]
    # 2. Content-Length and Transfer-Encoding together (CL.TE / TE.CL)
    chunk = b"0\r\n\r\n" + smuggled
    out = raw(url, f"{head}Content-Length: {len(chunk)}\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunk)
    assert out.startswith(b"HTTP/1.1 400") and out.count(b"HTTP/1.1 ") == 1, out[:300]
    # 3. two different Content-Lengths
    out = raw(url, f"{head}Content-Length: 4\r\nContent-Length: 40\r\n\r\n".encode() + b'{"command":"hold"}' + smuggled)
    assert out.startswith(b"HTTP/1.1 400") and out.count(b"HTTP/1.1 ") == 1, out[:300]
    # 4. an obfuscated Transfer-Encoding, a header folded over two lines, a bare LF request line
    for bad in (f"{head}Transfer-Encoding: xchunked\r\n\r\n".encode() + b"0\r\n\r\n" + smuggled,
                f"{head}Content-Length: 0\r\nX-Fold: a\r\n b\r\n\r\n".encode() + smuggled,
                b"POST /api/command HTTP/1.1\nHost: " + host.encode() + b"\nContent-Length: 0\n\n" + smuggled):
        out = raw(url, bad)
        assert out.count(b'"accepted":true') == 0 and not out.startswith(b"HTTP/1.1 200"), out[:300]
    # 5. an oversize chunked body
    big = b"".join(b"400\r\n" + b"x" * 1024 + b"\r\n" for _ in range(20)) + b"0\r\n\r\n"
    out = raw(url, f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + big + smuggled)
    assert out.startswith(b"HTTP/1.1 413")
    # 6. a header block far over the limit
    out = raw(url, f"{head}X-Pad: {'a' * 70_000}\r\nContent-Length: 0\r\n\r\n".encode())
    assert out == b"" or out.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431")), out[:200]
    time.sleep(0.3)
    assert len(operator_records(live)) == before  # nothing reached the count
    assert live.rt.seq.mode.name == "COUNTING"
    # and the server is still healthy
    assert httpx.get(url + "/api/state", headers=bearer(live, "vera")).status_code == 200


def test_many_concurrent_clients(live):
    """50 viewers on the stream, 50 status readers, 40 commands from two users at once."""
    url = live.url
    assert live.pad_call("set_speed", 20) == "ok"

    async def viewer(i: int) -> int:
        frames = 0
        async with httpx.AsyncClient(base_url=url, timeout=30) as c, \
                c.stream("GET", "/api/stream", headers=bearer(live, "vera")) as r:
            assert r.status_code == 200
            end = time.monotonic() + 4
            async for line in r.aiter_lines():
                if line.startswith("event: frame"):
                    frames += 1
                if time.monotonic() > end:
                    break
        return frames

    async def reader() -> int:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            r = await c.get("/api/state", headers=bearer(live, "sasha"))
            return r.status_code

    async def commander(user: str, k: int) -> tuple[int, dict]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            r = await c.post("/api/command", json={"command": "hold" if k % 2 == 0 else "resume",
                                                    "comment": f"{user}-{k}"}, headers=bearer(live, user))
            return r.status_code, r.json()

    async def main():
        return await asyncio.gather(asyncio.gather(*(viewer(i) for i in range(50))),
                                    asyncio.gather(*(reader() for _ in range(50))),
                                    asyncio.gather(*(commander(u, k) for u in ("olga", "lev") for k in range(20))))

    before = len(operator_records(live))
    frames, reads, commands = asyncio.run(main())
    assert live.pad_call("set_speed", 0) == "ok"
    assert all(f >= 1 for f in frames), frames
    assert reads == [200] * 50
    assert all(code in (200, 409) for code, _ in commands)
    assert sum(1 for code, _ in commands if code == 200) >= 2
    recs = operator_records(live)[before:]
    assert len(recs) == 40  # every command archived once, with who sent it
    assert sorted(r.data["comment"] for r in recs) == sorted(f"{u}-{k}" for u in ("olga", "lev") for k in range(20))
    with open_archive(live.archive) as a:
        seqs = [r.seq for r in a.read()]
    assert seqs == list(range(1, len(seqs) + 1))
    # leave the count counting for the other tests
    if live.rt.seq.mode.name == "HOLDING":
        httpx.post(url + "/api/command", json={"command": "resume"}, headers=bearer(live, "lev"))


def test_padguard_op_is_an_api_client(live, tmp_path, monkeypatch):
    url = live.url
    monkeypatch.delenv("PADGUARD_TOKEN", raising=False)
    monkeypatch.delenv("PADGUARD_TOKEN_FILE", raising=False)
    res = runner.invoke(app, ["op", "status", "--console", url])
    assert res.exit_code == 2 and "no credentials" in flat(res.output)
    tf = tmp_path / "token"
    tf.write_text(live.tokens["vera"])
    tf.chmod(0o644)
    res = runner.invoke(app, ["op", "status", "--console", url, "--token-file", str(tf)])
    assert res.exit_code == 2 and "readable by others" in flat(res.output)
    tf.chmod(0o600)
    res = runner.invoke(app, ["op", "status", "--console", url, "--token-file", str(tf)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["mode"] in ("COUNTING", "HOLDING")
    res = runner.invoke(app, ["op", "hold", "--console", url, "--token-file", str(tf)])
    assert res.exit_code == 1 and "may not hold" in flat(res.output)  # a viewer
    monkeypatch.setenv("PADGUARD_TOKEN", live.tokens["olga"])
    res = runner.invoke(app, ["op", "hold", "--console", url, "--comment", "from the terminal"])
    assert res.exit_code == 0 and json.loads(res.output)["mode"] == "HOLDING", res.output
    res = runner.invoke(app, ["op", "resume", "--console", url])
    assert res.exit_code == 0, res.output
    monkeypatch.setenv("PADGUARD_TOKEN", "olga:forged")
    res = runner.invoke(app, ["op", "status", "--console", url])
    assert res.exit_code == 1 and "bad API token" in flat(res.output)
    res = runner.invoke(app, ["op", "status", "--console", "http://127.0.0.1:1"])
    assert res.exit_code == 2 and "no console" in flat(res.output)
    # padguard log shows who sent each command
    res = runner.invoke(app, ["log", live.archive, "-k", "operator"], env={"COLUMNS": "250"})
    assert res.exit_code == 0 and "olga (operator)" in flat(res.output), res.output


def test_users_command_line(tmp_path):
    f = tmp_path / "u.json"
    env = {"PADGUARD_PASSWORD": "a-long-password"}
    res = runner.invoke(app, ["users", "add", "nina", "--role", "safety_officer", "--users", str(f)], env=env)
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600 and "a-long-password" not in f.read_text()
    res = runner.invoke(app, ["users", "add", "max", "--role", "admin", "--users", str(f)], env=env)
    assert res.exit_code == 2 and "unknown role" in flat(res.output)
    tok = runner.invoke(app, ["users", "token", "nina", "--users", str(f)]).output.strip()
    assert tok.startswith("nina:") and tok.split(":")[1] not in f.read_text()
    assert "nina\tsafety_officer\t1 token(s)" in runner.invoke(app, ["users", "list", "--users", str(f)]).output
    assert runner.invoke(app, ["users", "remove", "nina", "--users", str(f)]).exit_code == 0
    assert runner.invoke(app, ["users", "token", "nina", "--users", str(f)]).exit_code == 2


def test_bind_policy(tmp_path):
    users = tmp_path / "u.json"
    make_users(users, {"vera": ("viewer", "vera-password")})
    check_options(ConsoleOptions(host="127.0.0.1", users=str(users)))
    check_options(ConsoleOptions(host="::1", users=str(users)))
    with pytest.raises(ConsoleError, match="without TLS"):
        check_options(ConsoleOptions(host="0.0.0.0", users=str(users)))
    with pytest.raises(ConsoleError, match="without TLS"):
        check_options(ConsoleOptions(host="192.168.1.10", users=str(users)))
    with pytest.raises(ConsoleError, match="both"):
        check_options(ConsoleOptions(host="0.0.0.0", users=str(users), certfile=str(users)))
    with pytest.raises(ConsoleError, match="no users file"):
        check_options(ConsoleOptions(users=str(tmp_path / "none.json")))
    # a taken port is a clean error, before anything else starts
    import padguard as pg
    from padguard.console.hub import Hub

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    srv = ConsoleServer(ConsoleOptions(port=taken.getsockname()[1], users=str(users)),
                        Hub(pg.compile_model(pg.load("site31", "guarded"))))
    with pytest.raises(OSError, match="in use"):
        asyncio.run(srv.start())
    taken.close()
    res = runner.invoke(app, ["console", str(tmp_path / "c.db"), "--bind", "0.0.0.0:8080", "--users", str(users)])
    assert res.exit_code == 2 and "without TLS" in flat(res.output)
    res = runner.invoke(app, ["run", "site31", "guarded", "--link", "opc.tcp://127.0.0.1:1", "--console", "0.0.0.0:0",
                              "--users", str(users)])
    assert res.exit_code == 2 and "without TLS" in flat(res.output)


def test_tls(tmp_path):
    from padguard.console.hub import load_replay
    from tests.test_live_cli import archive_of_virtual_run

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    users = tmp_path / "u.json"
    make_users(users, {"vera": ("viewer", "vera-password")})
    hub = load_replay(archive_of_virtual_run(tmp_path / "c.db"), "main")
    loop = asyncio.new_event_loop()
    th = threading.Thread(target=loop.run_forever, daemon=True)
    th.start()
    srv = ConsoleServer(ConsoleOptions(port=0, users=str(users), certfile=str(cert), keyfile=str(key)), hub)
    url = asyncio.run_coroutine_threadsafe(srv.start(), loop).result(30)
    try:
        assert url.startswith("https://127.0.0.1:")
        with httpx.Client(base_url=url, verify=str(cert)) as c:
            r = c.post("/api/login", json={"name": "vera", "password": CREW["vera"][1]})
            assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]
            st = c.get("/api/state").json()["state"]
            assert st["outcome"] == "launched_after_holds" and not st["live"]
            # a replay commands nothing
            r = c.post("/api/command", json={"command": "hold"}, headers={"X-CSRF-Token": r.json()["csrf"]})
            assert r.status_code == 409
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https", "http") + "/api/state", timeout=5)
    finally:
        asyncio.run_coroutine_threadsafe(srv.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        th.join(10)


def test_replay_console_serves_any_point(tmp_path):
    """`padguard console ARCHIVE`: the screens at any record; events up to it."""
    from fastapi.testclient import TestClient

    from padguard.console import auth
    from padguard.console.app import create_app
    from padguard.console.hub import load_replay
    from tests.test_live_cli import archive_of_virtual_run

    hub = load_replay(archive_of_virtual_run(tmp_path / "c.db"), "main")
    users = tmp_path / "u.json"
    make_users(users, {"vera": ("viewer", "vera-password")})
    c = TestClient(create_app(hub, auth.Users(users)), base_url="http://127.0.0.1")
    c.post("/api/login", json={"name": "vera", "password": "vera-password"})
    hold = next(r.seq for r in hub.records if r.kind == "event" and r.name == "hold")
    st = c.get(f"/api/state?at={hold}").json()["state"]
    assert st["mode"] == "HOLDING" and st["reason"] == "criterion cabin_stowed_locked" and st["automatic_hold"]
    assert any(a["seq"] == hold and a["acked"] is None for a in st["alarms"])
    hb = next(r.batch for r in hub.records if r.seq == hold)
    before = min(r.seq for r in hub.records if r.batch == hb) - 1  # the instant before the hold's
    assert c.get(f"/api/state?at={before}").json()["state"]["mode"] == "COUNTING"
    assert c.get("/api/state").json()["state"]["mode"] == "LAUNCHED"
    ev = c.get(f"/api/events?upto={hold}&kind=event").json()["events"]
    assert ev[-1]["seq"] == hold and all(e["kind"] == "event" for e in ev)
    assert c.get("/api/stream").status_code == 409
