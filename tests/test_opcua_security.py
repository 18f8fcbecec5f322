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


def test_x509_user_certificates_are_made_signed_by_the_user_ca(certdir):
    from cryptography import x509

    ca = x509.load_der_x509_certificate((certdir / "user-ca.der").read_bytes())
    for user in ("sequencer", "operator"):
        cert = x509.load_der_x509_certificate((certdir / "users" / f"{user}.der").read_bytes())
        assert cert.issuer == ca.subject and cert.subject.rfc4514_string() == f"CN=padguard user {user}"
        assert stat.S_IMODE((certdir / "users" / f"{user}.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((certdir / "user-ca.pem").stat().st_mode) == 0o600
    assert list(x509.load_der_x509_crl((certdir / "user-crl.der").read_bytes())) == []


def test_an_x509_user_identity_logs_in_with_its_role_and_a_revoked_one_is_refused(certdir, tmp_path):
    """The sequencer and operator log in with their user certificates (no password): the operator's
    session drives the dry-run controls but may not ignite; the sequencer's may move. A user
    certificate not signed by the user CA, or one the CA has revoked, gets no session."""
    from asyncua import Client, ua

    from padguard.links.security import revoke_user

    pki = tmp_path / "pki"
    shutil.copytree(certdir, pki)
    users = json.loads((pki / "users.json").read_text())
    (pki / "users.json").write_text(json.dumps({u: "not-the-password" for u in users}))  # (never sent)

    async def scenario():
        pad, lm = secured_pad(pki, speed=0, lockstep=False)
        url = await pad.start()
        m = lm.mapping
        out: dict[str, object] = {}
        try:
            op = LinkSecurity(pki, "operator", identity="certificate")
            assert "X.509" in op.describe()
            out["status"] = json.loads(await call_sim(url, lm, "status", security=op))["t_ms"]
            cl = Client(url, timeout=5)
            await op.apply_client(cl)
            async with cl:
                idx = await cl.get_namespace_index(m.namespace)
                nid = lambda s: ua.NodeId.from_string(f"ns={idx};{s}")  # noqa: E731
                with pytest.raises(ua.UaError) as exc:
                    await cl.get_node(nid(m.ignition.object)).call_method(nid(m.ignition.method))
                out["operator_ignite"] = type(exc.value).__name__
            cl = Client(url, timeout=5)
            await LinkSecurity(pki, "sequencer", identity="certificate").apply_client(cl)
            async with cl:
                idx = await cl.get_namespace_index(m.namespace)
                res = await cl.get_node(ua.NodeId.from_string(f"ns={idx};{m.commands['cabin'].object}")).call_method(
                    ua.NodeId.from_string(f"ns={idx};{m.commands['cabin'].method}"),
                    ua.Variant("stowed", ua.VariantType.String))
                out["sequencer_move"] = str(res)
            # a user certificate the user CA never signed (another `padguard certs`)
            stranger = tmp_path / "stranger"
            await make_certs(stranger, host="localhost")
            forged = tmp_path / "forged"
            shutil.copytree(pki, forged)
            for f in ("operator.der", "operator.pem"):
                shutil.copy(stranger / "users" / f, forged / "users" / f)
            with pytest.raises(Exception):  # noqa: B017 - asyncua raises several kinds
                await call_sim(url, lm, "status", security=LinkSecurity(forged, "operator", identity="certificate"))
            # revoked by the CA: the next session is refused
            revoke_user(pki, "operator")
            with pytest.raises(Exception):  # noqa: B017
                await call_sim(url, lm, "status", security=op)
            out["sequencer_after"] = json.loads(await call_sim(
                url, lm, "status", security=LinkSecurity(pki, "sequencer", identity="certificate")))["t_ms"]
        finally:
            await pad.stop()
        return pad, out

    pad, out = asyncio.run(scenario())
    assert out["status"] == 0 and out["sequencer_after"] == 0
    assert "AccessDenied" in str(out["operator_ignite"]) and pad.twin.ignited_at is None
    assert out["sequencer_move"].startswith("accepted")


def test_a_tampered_revocation_list_refuses_every_user_certificate(certdir, tmp_path):
    from padguard.links.security import PadUsers

    pki = tmp_path / "pki"
    shutil.copytree(certdir, pki)
    users = PadUsers(json.loads((pki / "users.json").read_text()), pki)
    der = (pki / "users" / "sequencer.der").read_bytes()
    assert users.certificate_user(der) == "sequencer"
    assert users.certificate_user((pki / "sequencer.der").read_bytes()) is None  # an app cert is no user cert
    crl = bytearray((pki / "user-crl.der").read_bytes())
    crl[-5] ^= 0xFF  # (inside the signature)
    (pki / "user-crl.der").write_bytes(bytes(crl))
    assert users.certificate_user(der) is None


def test_run_and_pad_ctl_take_a_certificate_identity(certdir):
    res = runner.invoke(app, ["pad-ctl", "status", "--endpoint", "opc.tcp://127.0.0.1:1", "--security",
                              str(certdir), "--identity", "nonsense"])
    assert res.exit_code == 2 and "unknown user identity 'nonsense'" in res.output.replace("\n", " ")


def test_certs_revoke_signs_a_new_list_naming_the_user(tmp_path):
    from cryptography import x509

    pki = tmp_path / "pki"
    assert runner.invoke(app, ["certs", str(pki)]).exit_code == 0
    res = runner.invoke(app, ["certs", str(pki), "--revoke", "operator"])
    assert res.exit_code == 0 and "revoked operator" in res.output
    crl = x509.load_der_x509_crl((pki / "user-crl.der").read_bytes())
    op = x509.load_der_x509_certificate((pki / "users" / "operator.der").read_bytes())
    ca = x509.load_der_x509_certificate((pki / "user-ca.der").read_bytes())
    assert [r.serial_number for r in crl] == [op.serial_number] and crl.is_signature_valid(ca.public_key())
    res = runner.invoke(app, ["certs", str(pki), "--revoke", "nobody"])
    assert res.exit_code == 2 and "no user certificate" in res.output.replace("\n", " ")
