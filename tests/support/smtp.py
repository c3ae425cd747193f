"""A mail server that wants TLS and a login, as a prefecture's relay does: aiosmtpd on 127.0.0.1
with a throwaway self-signed certificate, STARTTLS (port 587 style) or TLS from the first byte
(smtps, 465 style), and AUTH LOGIN/PLAIN checked against one user name and password. The
certificate is trusted by the context the tests hand to hotline's transport."""

from __future__ import annotations

import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from hotline.demo.stack import free_port
from tests.support.tls import self_signed


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
        with tempfile.TemporaryDirectory() as folder:
            cert, key = self_signed(Path(folder))
            server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server.load_cert_chain(cert, key)
            self.client_context = ssl.create_default_context(cafile=cert)
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
