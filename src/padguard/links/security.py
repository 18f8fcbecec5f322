"""OPC UA security for the pad link: certificates, a trust list, user identities, method rights.

``padguard certs DIR`` creates everything a secured dry run needs (with asyncua's own
certificate helpers, on the ``cryptography`` package):

* ``pad.der``/``pad.pem`` - the pad's (pad-sim's) application certificate and key;
* ``sequencer.der``/``.pem`` and ``operator.der``/``.pem`` - the runtime's and ``pad-ctl``'s;
* ``trusted/`` - the client certificates the pad trusts (the trust list);
* ``users.json`` - a random password for each user (``sequencer``, ``operator``), 0600.

The pad serves only the secured endpoints (Basic256Sha256, Aes128_Sha256_RsaOaep and
Aes256_Sha256_RsaPss, each with Sign and SignAndEncrypt), accepts a client only if its
certificate is in the trust list, and a session only with a user name and password (or an X.509
identity) it knows. Moving equipment, occupying zones and Ignite are callable only from the
``sequencer`` user's session; the dry-run controls (Inject, Clear, SetSpeed) from ``operator`` or
``sequencer``. Every key file is written 0600; no password ever appears in a command line.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: policy name -> (asyncua client policy class name, server SecurityPolicyType prefix)
POLICIES = {
    "Basic256Sha256": ("SecurityPolicyBasic256Sha256", "Basic256Sha256"),
    "Aes128_Sha256_RsaOaep": ("SecurityPolicyAes128Sha256RsaOaep", "Aes128Sha256RsaOaep"),
    "Aes256_Sha256_RsaPss": ("SecurityPolicyAes256Sha256RsaPss", "Aes256Sha256RsaPss"),
}
MODES = ("Sign", "SignAndEncrypt")
ROLES = ("pad", "sequencer", "operator")
SEQUENCER, OPERATOR = "sequencer", "operator"


def app_uri(role: str) -> str:
    return f"urn:padguard:{role}"


class SecurityError(ValueError):
    """A security setup that cannot work (missing files, unknown policy...)."""


@dataclass
class LinkSecurity:
    """One side's security settings, all read from a ``padguard certs`` directory."""

    directory: Path
    role: str  # "pad", "sequencer" or "operator"
    policy: str = "Basic256Sha256"
    mode: str = "SignAndEncrypt"

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        if self.policy not in POLICIES:
            raise SecurityError(f"unknown security policy '{self.policy}' (one of {', '.join(POLICIES)})")
        if self.mode not in MODES:
            raise SecurityError(f"unknown security mode '{self.mode}' (Sign or SignAndEncrypt)")
        missing = [p for p in (self.cert, self.key, self.directory / "users.json") if not p.exists()]
        if self.role != "pad":
            missing += [p for p in (self.directory / "pad.der",) if not p.exists()]
        if missing:
            raise SecurityError(f"missing {', '.join(map(str, missing))}: create them with "
                                f"`padguard certs {self.directory}`")

    @property
    def cert(self) -> Path:
        return self.directory / f"{self.role}.der"

    @property
    def key(self) -> Path:
        return self.directory / f"{self.role}.pem"

    def users(self) -> dict[str, str]:
        return json.loads((self.directory / "users.json").read_text())

    def describe(self) -> str:
        return f"{self.policy}/{self.mode} as '{self.role}'"

    # ---- client side (padguard run, pad-ctl)
    async def apply_client(self, client: Any) -> None:
        """Certificate, policy, mode and user name/password on an asyncua Client (before connect)."""
        from asyncua.crypto import security_policies
        from asyncua.ua import MessageSecurityMode

        client.application_uri = app_uri(self.role)
        policy = getattr(security_policies, POLICIES[self.policy][0])
        await client.set_security(policy, str(self.cert), str(self.key),
                                  server_certificate=str(self.directory / "pad.der"),
                                  mode=getattr(MessageSecurityMode, self.mode))
        client.set_user(self.role)
        client.set_password(self.users()[self.role])

    # ---- server side (pad-sim)
    async def apply_server(self, server: Any, rights: dict[str, set[str]]) -> None:
        """Secured endpoints only, a trust list, known users, and who may call which method.

        ``rights``: method node identifier (without namespace) -> user names allowed to call it.
        """
        from asyncua import ua
        from asyncua.crypto.truststore import TrustStore
        from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

        await server.set_application_uri(app_uri("pad"))
        await server.load_certificate(str(self.cert))
        await server.load_private_key(str(self.key))
        types = [getattr(ua.SecurityPolicyType, f"{POLICIES[p][1]}_{m}") for p in POLICIES for m in MODES]
        server.set_security_policy(types, permission_ruleset=PadRuleset(rights))
        server.set_identity_tokens([ua.UserNameIdentityToken, ua.X509IdentityToken])
        server.iserver.user_manager = PadUsers(self.users())
        store = TrustStore([self.directory / "trusted"], [])
        await store.load()
        opts = (CertificateValidatorOptions.TIME_RANGE | CertificateValidatorOptions.TRUSTED
                | CertificateValidatorOptions.PEER_CLIENT)
        server.set_certificate_validator(CertificateValidator(opts, store))


class PadUsers:
    """asyncua user manager: a known user name with its password, nobody else (no anonymous)."""

    def __init__(self, users: dict[str, str]):
        self._users = dict(users)

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> Any:
        from asyncua.crypto.permission_rules import User, UserRole

        if username is not None and username in self._users and password is not None:
            pw = password if isinstance(password, str) else bytes(password).decode("utf-8", "replace")
            if hmac.compare_digest(pw.encode(), self._users[username].encode()):
                return User(role=UserRole.User, name=username)
        return None


class PadRuleset:
    """Requests a known user may make; method calls only by the users named for that method."""

    def __init__(self, rights: dict[str, set[str]]):
        from asyncua import ua
        from asyncua.crypto.permission_rules import USER_TYPES

        self.rights = rights
        self.allowed = {ua.NodeId(t) for t in USER_TYPES}
        self.call = ua.NodeId(ua.ObjectIds.CallRequest_Encoding_DefaultBinary)

    def check_validity(self, user: Any, action_type_id: Any, body: Any) -> bool:
        if user is None or getattr(user, "name", None) is None:
            return False
        if action_type_id not in self.allowed:
            return False
        if action_type_id == self.call:
            from asyncua import ua
            from asyncua.ua.ua_binary import struct_from_binary

            # (the request is still encoded here: decode a copy, the server decodes the original)
            params = struct_from_binary(ua.CallParameters, body.copy()) if hasattr(body, "copy") else body.Parameters
            for m in params.MethodsToCall:
                who = self.rights.get(str(m.MethodId.Identifier))
                if who is not None and user.name not in who:
                    return False
        return True


async def make_certs(directory: str | Path, host: str | None = None, days: int = 365) -> list[Path]:
    """Create keys, self-signed certificates, the pad's trust list and user passwords (all 0600)."""
    from asyncua.crypto import cert_gen
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    d = Path(directory)
    (d / "trusted").mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    host = host or socket.gethostname()
    written: list[Path] = []

    def private(path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        written.append(path)

    for role in ROLES:
        key = cert_gen.generate_private_key()
        use = [ExtendedKeyUsageOID.SERVER_AUTH] if role == "pad" else [ExtendedKeyUsageOID.CLIENT_AUTH]
        sans = [x509.UniformResourceIdentifier(app_uri(role)), x509.DNSName(host), x509.DNSName("localhost")]
        cert = cert_gen.generate_self_signed_app_certificate(key, f"padguard {role}", {}, sans, use, days=days)
        private(d / f"{role}.pem", cert_gen.dump_private_key_as_pem(key))
        der = cert.public_bytes(serialization.Encoding.DER)
        private(d / f"{role}.der", der)
        if role != "pad":
            private(d / "trusted" / f"{role}.der", der)
    private(d / "users.json", json.dumps({r: secrets.token_urlsafe(24) for r in (SEQUENCER, OPERATOR)}).encode())
    return written


__all__ = ["MODES", "POLICIES", "LinkSecurity", "PadRuleset", "PadUsers", "SecurityError", "make_certs"]
