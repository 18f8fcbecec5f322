"""A secured pad link (issue 9): certificates, trust list, users, and who may call what.

The secured MS-28 dry run is the same scenario as test_opcua_live's, over Basic256Sha256
SignAndEncrypt with user names and passwords; then what an attacker on the same machine tries.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import stat

import pytest
from typer.testing import CliRunner

import padguard as pg
from padguard.cli import app
from padguard.links.padsim import call_sim
from padguard.links.runtime import RunOptions, Runtime
from padguard.links.security import LinkSecurity, make_certs
from padguard.sequencer.table import Mode
from tests.test_opcua_live import MIN, make_pad, until

pytestmark = pytest.mark.timeout(240)
runner = CliRunner()


@pytest.fixture(scope="module")
def certdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs") / "pki"
    asyncio.run(make_certs(d, host="localhost"))
    return d


def secured_pad(certdir, **kw):
    pad, lm = make_pad(**kw)
    pad.security = LinkSecurity(certdir, "pad")
    return pad, lm


def test_certs_are_created_owner_only(certdir):
    for name in ("pad.pem", "sequencer.pem", "operator.pem", "users.json"):
        assert stat.S_IMODE((certdir / name).stat().st_mode) == 0o600
    assert sorted(p.name for p in (certdir / "trusted").iterdir()) == ["operator.der", "sequencer.der"]
    assert set(json.loads((certdir / "users.json").read_text())) == {"sequencer", "operator"}


@pytest.mark.parametrize("policy,mode", [("Basic256Sha256", "SignAndEncrypt"), ("Aes128_Sha256_RsaOaep", "Sign"),
                                         ("Aes256_Sha256_RsaPss", "SignAndEncrypt")])
def test_policies_and_modes_connect(certdir, policy, mode):
    async def scenario():
        pad, lm = secured_pad(certdir, speed=0, lockstep=False)
        url = await pad.start()
        try:
            st = await call_sim(url, lm, "status", security=LinkSecurity(certdir, "operator", policy, mode))
        finally:
            await pad.stop()
        return json.loads(st)

    assert asyncio.run(scenario())["t_ms"] == 0


def test_ms28_secured_dry_run(certdir, tmp_path):
    db = f"sqlite:///{tmp_path / 'count.db'}?sync=normal"
    op = LinkSecurity(certdir, "operator")

    async def scenario():
        pad, lm_pad = secured_pad(certdir, speed=2000, lockstep=True)
        url = await pad.start()
        plan = pg.compile_model(pg.load("site31", "guarded"))
        from padguard.links.mapping import default_map_path, load_linkmap

        rt = Runtime(plan, load_linkmap(plan, default_map_path("site31")),
                     RunOptions(link=url, archive=db, clock="pad",
                                security=LinkSecurity(certdir, "sequencer")))
        task = asyncio.create_task(rt.run())
        await asyncio.wait_for(rt.ready.wait(), 60)
        assert rt.status()["link_security"].startswith("Basic256Sha256/SignAndEncrypt")
        await until(lambda: rt.seq.tc >= -45 * MIN, 120, "T-45m")
        assert await call_sim(url, lm_pad, "inject", "cabin.stopper:pops_out", security=op) == "ok"
        await until(lambda: rt.seq.mode == Mode.HOLDING, 30, "the automatic hold")
        assert await call_sim(url, lm_pad, "set_speed", 0, security=op) == "ok"
        assert await call_sim(url, lm_pad, "clear", "cabin.stopper", security=op) == "ok"
        body = await rt.operator("recycle", "stopper", who={"user": "test", "role": "launch_director"})
        assert body["accepted"] and body["mode"] == "COUNTING", body
        assert await call_sim(url, lm_pad, "set_speed", 2000, security=op) == "ok"
        code = await asyncio.wait_for(task, 180)
        await pad.stop()
        return rt, pad, code

    rt, pad, code = asyncio.run(scenario())
    assert code == 0 and rt.seq.status()["outcome"] == "launched_after_holds"
    assert pad.twin.ignited_at is not None and pad.twin.hazards() == []


def test_nobody_but_the_sequencer_moves_or_ignites(certdir, tmp_path):
    """No certificate, an untrusted certificate, a wrong password: no session. The operator's
    session may drive the dry-run controls, never Ignite or MoveTo."""
    from asyncua import Client, ua

    async def scenario():
        pad, lm = secured_pad(certdir, speed=0, lockstep=False)
        url = await pad.start()
        m = lm.mapping
        out = {}
        try:
            # 1. no security at all: there is no unsecured endpoint
            with pytest.raises(Exception):  # noqa: B017 - asyncua raises several kinds
                async with Client(url, timeout=3) as cl:
                    await cl.get_namespace_index(m.namespace)
            # 2. a wrong password
            bad = tmp_path / "bad"
            shutil.copytree(certdir, bad)
            users = json.loads((bad / "users.json").read_text())
            users["operator"] = "guess"
            (bad / "users.json").write_text(json.dumps(users))
            with pytest.raises(Exception):  # noqa: B017
                await call_sim(url, lm, "status", security=LinkSecurity(bad, "operator"))
            # 3. a certificate the pad does not trust
            stranger = tmp_path / "stranger"
            await make_certs(stranger, host="localhost")
            shutil.copy(certdir / "pad.der", stranger / "pad.der")
            (stranger / "users.json").write_text((certdir / "users.json").read_text())
            with pytest.raises(Exception):  # noqa: B017
                await call_sim(url, lm, "status", security=LinkSecurity(stranger, "operator"))
            # 4. the operator may not ignite or move
            cl = Client(url, timeout=5)
            await LinkSecurity(certdir, "operator").apply_client(cl)
            async with cl:
                idx = await cl.get_namespace_index(m.namespace)

                def nid(s):
                    return ua.NodeId.from_string(f"ns={idx};{s}")

                for obj, meth, args in ((m.ignition.object, m.ignition.method, []),
                                        (m.commands["cabin"].object, m.commands["cabin"].method,
                                         [ua.Variant("stowed", ua.VariantType.String)])):
                    with pytest.raises(ua.UaError) as exc:
                        await cl.get_node(nid(obj)).call_method(nid(meth), *args)
                    out[meth] = type(exc.value).__name__
        finally:
            await pad.stop()
        return pad, out

    pad, out = asyncio.run(scenario())
    assert pad.twin.ignited_at is None and pad.twin.commands == []
    assert all("AccessDenied" in v for v in out.values()), out


def test_run_refuses_an_unsecured_link_unless_told(tmp_path):
    res = runner.invoke(app, ["run", "site31", "guarded", "--link", "opc.tcp://127.0.0.1:1"])
    assert res.exit_code == 2 and "refusing an unsecured OPC UA link" in res.output.replace("\n", " ")
    plan = pg.compile_model(pg.load("site31", "guarded"))
    from padguard.links.mapping import default_map_path, load_linkmap

    with pytest.raises(ValueError, match="unsecured"):
        Runtime(plan, load_linkmap(plan, default_map_path("site31")), RunOptions(link="opc.tcp://127.0.0.1:1"))
    rt = Runtime(plan, load_linkmap(plan, default_map_path("site31")),
                 RunOptions(link="opc.tcp://127.0.0.1:1", archive=str(tmp_path / "c.db"), insecure=True))
    rt._open()
    assert rt.status()["link_security"].startswith("INSECURE")
    rt.archive.close()
    res = runner.invoke(app, ["certs", str(tmp_path / "pki")])
    assert res.exit_code == 0 and (tmp_path / "pki" / "users.json").exists()
