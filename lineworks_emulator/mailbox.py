"""A mail server stand-in — FOR DEMOS AND TESTS ONLY: real SMTP on 127.0.0.1, kept in memory.

hotline's mail fallback speaks SMTP (smtplib) to whatever HOTLINE_SMTP_URL names. In tests and
in `make run` that is this: aiosmtpd's server on a local port, which keeps every message it
accepts so a test (or the emulator's mailbox page) can read it. Like LINE WORKS' stand-in it has
fault switches: refuse the next N messages with a temporary (421) or a permanent (550) reply,
or be down altogether (connections refused while stopped).

    box = Mailbox()
    port = box.start()                 # SMTP on 127.0.0.1:port
    box.refuse_next(2, permanent=False)
    ...
    box.messages()                     # every accepted message, oldest first
    box.stop()

The emulator shows what a mailbox received on its page ``/mail`` (``mailpage.py``) when it is
given one: ``Emulator(seed, mailbox=box)``.
"""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from .state import iso_utc


@dataclass(frozen=True)
class Mail:
    """One accepted message: the envelope, the parsed message and when it arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    received_at: float = 0.0  # seconds since the epoch, by the mailbox's clock

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def to(self) -> str:
        return str(self.message["To"] or "")

    @property
    def sender(self) -> str:
        """Who the message says it is from (its From header), else the envelope's sender."""
        return str(self.message["From"] or self.mail_from)

    @property
    def text(self) -> str:
        """The plain-text body (the first text/plain part of a multipart message), with the
        line ends as written (SMTP carries them as CRLF)."""
        part = self.message.get_body(preferencelist=("plain",))
        return "" if part is None else str(part.get_content()).replace("\r\n", "\n")


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self.box._accept(envelope)


class Mailbox:
    def __init__(self, host: str = "127.0.0.1", *, clock: Callable[[], float] = time.time) -> None:
        self.host = host
        self.clock = clock
        self.port = 0
        self._lock = threading.Lock()
        self._messages: list[Mail] = []
        self._refuse: list[str] = []  # replies for the next messages, in order
        self._controller: Controller | None = None

    def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1 (a free port when 0); returns the port."""
        self.port = port or _free_port(self.host)
        # aiosmtpd logs every connection and command at INFO: noise in make run's console
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self.port

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        """What HOTLINE_SMTP_URL should say to use this server."""
        return f"smtp://{self.host}:{self.port}"

    def refuse_next(self, count: int, *, permanent: bool) -> None:
        """Refuse the next `count` messages: 421 (try later) or 550 (never)."""
        reply = "550 5.1.1 mailbox unavailable" if permanent else "421 4.3.2 service not available, try later"
        with self._lock:
            self._refuse.extend([reply] * count)

    def refusals(self) -> list[int]:
        """The SMTP codes the next messages will be refused with, in order (empty: none)."""
        with self._lock:
            return [int(reply[:3]) for reply in self._refuse]

    def messages(self) -> list[Mail]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._refuse.clear()

    def as_json(self) -> list[dict[str, Any]]:
        """Every accepted message, oldest first; `seq` counts from 1 in the order of arrival."""
        return [
            {
                "seq": seq,
                "receivedAt": iso_utc(m.received_at),
                "from": m.mail_from,
                "to": list(m.rcpt_tos),
                "sender": m.sender,
                "toHeader": m.to,
                "subject": m.subject,
                "text": m.text,
            }
            for seq, m in enumerate(self.messages(), start=1)
        ]

    def _accept(self, envelope: Envelope) -> str:
        with self._lock:
            if self._refuse:
                return self._refuse.pop(0)
            raw = envelope.original_content or envelope.content or b""
            data = raw if isinstance(raw, bytes) else raw.encode()
            message = email.message_from_bytes(data, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self._messages.append(
                Mail(
                    str(envelope.mail_from),
                    tuple(str(r) for r in envelope.rcpt_tos),
                    message,
                    received_at=self.clock(),
                )
            )
        return "250 OK"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
