"""A mail server that wants TLS and a login, as a prefecture's relay does: aiosmtpd on 127.0.0.1
with a throwaway self-signed certificate, STARTTLS (port 587 style) or TLS from the first byte
(smtps, 465 style), and AUTH LOGIN/PLAIN checked against one user name and password. The
certificate is trusted by the context the tests hand to hotline's transport."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hotline.demo.stack import free_port


def self_signed() -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass
class SecureMailbox:
    """Start with `start(implicit_tls=...)`; `received` holds (user, tls, envelope) per mail."""

    user: str
    password: str
    received: list[tuple[str, bool, Envelope]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)  # every login tried
    port: int = 0
    client_context: ssl.SSLContext = field(init=False)
    _controller: Controller | None = None

    def start(self, *, implicit_tls: bool) -> None:
        cert, key = self_signed()
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "c.pem").write_bytes(cert)
            (Path(folder) / "k.pem").write_bytes(key)
            server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server.load_cert_chain(Path(folder) / "c.pem", Path(folder) / "k.pem")
        self.client_context = ssl.create_default_context(cadata=cert.decode())
        self.port = free_port()
        options: dict[str, Any] = {"authenticator": self._authenticate, "auth_require_tls": True}
        if implicit_tls:
            # aiosmtpd offers AUTH "over TLS" only after STARTTLS; here the whole session is TLS
            options["auth_require_tls"] = False
            self._controller = Controller(
                self, hostname="127.0.0.1", port=self.port, ssl_context=server, **options
            )
        else:
            options.update(tls_context=server, require_starttls=True)
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = (data.login.decode(), data.password.decode())
        self.logins.append(login)
        ok = login == (self.user, self.password)
        return AuthResult(success=ok, handled=False, auth_data=login[0] if ok else None)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        tls = server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
        self.received.append((str(session.auth_data or ""), tls, envelope))
        return "250 OK"
