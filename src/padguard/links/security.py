"""OPC UA security for the pad link: certificates, a trust list, user identities, method rights.

``padguard certs DIR`` creates everything a secured dry run needs (with asyncua's own
certificate helpers, on the ``cryptography`` package):

* ``pad.der``/``pad.pem`` - the pad's (pad-sim's) application certificate and key;
* ``sequencer.der``/``.pem`` and ``operator.der``/``.pem`` - the runtime's and ``pad-ctl``'s;
* ``trusted/`` - the client certificates the pad trusts (the trust list);
* ``users.json`` - a random password for each user (``sequencer``, ``operator``), 0600;
* ``user-ca.der``/``user-ca.pem`` - a certificate authority for *user* identities, and
  ``users/ROLE.der``/``.pem`` - a user certificate and key per user, signed by it (an X.509
  identity token instead of the password: ``--identity certificate``);
* ``user-crl.der`` - the user CA's revocation list (``padguard certs DIR --revoke USER``).

The pad serves only the secured endpoints (Basic256Sha256, Aes128_Sha256_RsaOaep and
Aes256_Sha256_RsaPss, each with Sign and SignAndEncrypt), accepts a client only if its
certificate is in the trust list, and a session only with a user name and password it knows, or
with a user certificate signed by the user CA, in its validity period, not revoked by the CA's
signed revocation list (read again at every session activation), whose subject names a known
user (the client proves it holds the key by signing the server's nonce). Moving equipment, occupying zones and Ignite are callable only from the
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
IDENTITIES = ("password", "certificate")
USER_CN = "padguard user "


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
    identity: str = "password"  # the user identity token: "password" or "certificate" (X.509)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        if self.policy not in POLICIES:
            raise SecurityError(f"unknown security policy '{self.policy}' (one of {', '.join(POLICIES)})")
        if self.mode not in MODES:
            raise SecurityError(f"unknown security mode '{self.mode}' (Sign or SignAndEncrypt)")
        if self.identity not in IDENTITIES:
            raise SecurityError(f"unknown user identity '{self.identity}' (password or certificate)")
        missing = [p for p in (self.cert, self.key, self.directory / "users.json") if not p.exists()]
        if self.identity == "certificate" and self.role != "pad":
            missing += [p for p in (self.user_cert, self.user_key) if not p.exists()]
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

    @property
    def user_cert(self) -> Path:
        return self.directory / "users" / f"{self.role}.der"

    @property
    def user_key(self) -> Path:
        return self.directory / "users" / f"{self.role}.pem"

    def users(self) -> dict[str, str]:
        return json.loads((self.directory / "users.json").read_text())

    def describe(self) -> str:
        how = " (X.509 user certificate)" if self.identity == "certificate" else ""
        return f"{self.policy}/{self.mode} as '{self.role}'{how}"

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
        if self.identity == "certificate":  # an X.509 identity token: no password leaves the process
            await client.load_client_certificate(str(self.user_cert))
            await client.load_private_key(self.user_key)
            return
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
        server.iserver.user_manager = PadUsers(self.users(), self.directory)
        store = TrustStore([self.directory / "trusted"], [])
        await store.load()
        opts = (CertificateValidatorOptions.TIME_RANGE | CertificateValidatorOptions.TRUSTED
                | CertificateValidatorOptions.PEER_CLIENT)
        server.set_certificate_validator(CertificateValidator(opts, store))


class PadUsers:
    """asyncua user manager: a known user by password or by X.509 user certificate; nobody else.

    asyncua calls :meth:`get_user` with ``username``/``password`` for a user-name token, and with
    ``certificate`` alone (the token's DER, its signature over the server nonce already checked)
    for an X.509 token. A certificate names its user only if the user CA signed it, it is in its
    validity period, and the CA's signed revocation list does not list it.
    """

    def __init__(self, users: dict[str, str], directory: Path | None = None):
        self._users = dict(users)
        self._dir = None if directory is None else Path(directory)

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> Any:
        from asyncua.crypto.permission_rules import User, UserRole

        if username is not None:
            if username in self._users and password is not None:
                pw = password if isinstance(password, str) else bytes(password).decode("utf-8", "replace")
                if hmac.compare_digest(pw.encode(), self._users[username].encode()):
                    return User(role=UserRole.User, name=username)
            return None
        if certificate is not None and password is None:
            name = self.certificate_user(bytes(certificate))
            if name is not None:
                return User(role=UserRole.User, name=name)
        return None

    def certificate_user(self, der: bytes) -> str | None:
        """The user a certificate proves (None: not signed by the user CA, expired, revoked, unknown)."""
        import datetime as dt

        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import padding

        if self._dir is None or not (self._dir / "user-ca.der").exists():
            return None
        try:
            cert = x509.load_der_x509_certificate(der)
            ca = x509.load_der_x509_certificate((self._dir / "user-ca.der").read_bytes())
            if cert.issuer != ca.subject:
                return None
            ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),  # type: ignore[call-arg,union-attr]
                                   cert.signature_hash_algorithm)  # type: ignore[arg-type]
            now = dt.datetime.now(dt.UTC)
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                return None
            if self.revoked(cert, ca):
                return None
            cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            name = str(cn[0].value) if cn else ""
        except Exception:  # noqa: BLE001 - any doubt about a certificate refuses it
            return None
        name = name.removeprefix(USER_CN)
        return name if name in self._users else None

    def revoked(self, cert: Any, ca: Any) -> bool:
        """Listed in the CA's revocation list, read now; a list that is missing a signature, or not
        the CA's, counts as revoking everything (fail safe)."""
        from cryptography import x509

        path = self._dir / "user-crl.der" if self._dir is not None else None
        if path is None or not path.exists():
            return False
        crl = x509.load_der_x509_crl(path.read_bytes())
        if crl.issuer != ca.subject or not crl.is_signature_valid(ca.public_key()):
            return True
        return crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


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
    # user identities by certificate: a user CA, a certificate per user signed by it, an empty CRL
    ca_key = cert_gen.generate_private_key()
    ca = _ca_cert(ca_key, days)
    private(d / "user-ca.pem", cert_gen.dump_private_key_as_pem(ca_key))
    private(d / "user-ca.der", ca.public_bytes(serialization.Encoding.DER))
    (d / "users").mkdir(exist_ok=True)
    os.chmod(d / "users", 0o700)
    for user in (SEQUENCER, OPERATOR):
        key = cert_gen.generate_private_key()
        cert = _user_cert(key, ca_key, ca, user, days)
        private(d / "users" / f"{user}.pem", cert_gen.dump_private_key_as_pem(key))
        private(d / "users" / f"{user}.der", cert.public_bytes(serialization.Encoding.DER))
    private(d / "user-crl.der", _crl(ca_key, ca, []))
    return written


def _ca_cert(key: Any, days: int) -> Any:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "padguard user CA")])
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))


def _user_cert(key: Any, ca_key: Any, ca: Any, user: str, days: int) -> Any:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, USER_CN + user)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"urn:padguard:user:{user}")]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))


def _crl(ca_key: Any, ca: Any, serials: list[int]) -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject).last_update(now)
         .next_update(now + dt.timedelta(days=30)))
    for serial in serials:
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                      .revocation_date(now).build())
    return b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def revoke_user(directory: str | Path, user: str) -> int:
    """Add ``user``'s certificate to the user CA's revocation list (signed again); its serial.

    The pad reads the list at every session activation: the next session with that certificate
    is refused (a running session is not cut)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    d = Path(directory)
    path = d / "users" / f"{user}.der"
    if not path.exists():
        raise SecurityError(f"no user certificate {path}")
    ca = x509.load_der_x509_certificate((d / "user-ca.der").read_bytes())
    ca_key = serialization.load_pem_private_key((d / "user-ca.pem").read_bytes(), None)
    serial = x509.load_der_x509_certificate(path.read_bytes()).serial_number
    crl_path = d / "user-crl.der"
    serials = [r.serial_number for r in x509.load_der_x509_crl(crl_path.read_bytes())] if crl_path.exists() else []
    data = _crl(ca_key, ca, sorted({*serials, serial}))
    tmp = crl_path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, crl_path)
    return serial


__all__ = ["IDENTITIES", "MODES", "POLICIES", "LinkSecurity", "PadRuleset", "PadUsers", "SecurityError", "make_certs",
           "revoke_user"]
