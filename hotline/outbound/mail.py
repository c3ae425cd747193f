"""The mail transport: outbox rows of channel 'mail' sent over SMTP with smtplib.

`HOTLINE_SMTP_URL` names the server: `smtp://user:password@host:587` speaks plain SMTP and
upgrades with STARTTLS before logging in (refused when the server does not offer it, except on
this machine's loopback, where the test and demo mailbox speak plain SMTP), `smtps://...:465`
speaks TLS from the first byte. Certificates are checked against the system's CAs. Each mail
is one connection (connect, TLS, login, send, quit): fallback mails are few and come in bursts,
and a fresh connection has no idle state for a server to time out.

Pacing: at most `per_minute` mails handed to the server in any 60 s (30 by default: Exchange
Online's documented sending limit, "30 messages per minute" per mailbox, the tightest of the
services prefectures use, and also below Gmail's and most relays' limits), and at most
`connections` at once (3: servers limit concurrent connections per client, Exchange Online
among them). 100 people of a prefecture's towns get their mail within about 3.5 minutes.

Errors say whether trying again can help (`DeliveryError.retryable`), as SMTP replies do:
4xx replies (421 "try later", 450/451/452 mailbox busy or server full) and lost or refused
connections and timeouts are retried by the sender with backoff; 5xx replies (550 no such
mailbox, 554 refused) fail the row for good with a Japanese reason. An authentication failure
(530/534/535) is a 5xx too, but it is the operator's setting, not the recipient: it is
retried, so the mails wait for a corrected password and a restart instead of being dropped.
The password never appears in a log or an error.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from hotline import messages as msg
from hotline.config.settings import Mail, is_loopback
from hotline.outbound.transport import DeliveryError
from hotline.storage import OutboxRow

log = logging.getLogger(__name__)

PER_MINUTE = 30  # see the module doc: Exchange Online's per-mailbox sending limit
CONNECTIONS = 3  # mails in flight at once
TIMEOUT = 15.0  # seconds for the connection and each SMTP reply
WINDOW = 60.0  # seconds over which `per_minute` is counted
AUTH_CODES = frozenset({530, 534, 535})  # authentication required / failed: the operator's setting


class MailTransport:
    """Sends the `mail` rows of the outbox (`outbound.transport.Transport`)."""

    def __init__(
        self,
        settings: Mail,
        *,
        per_minute: int | None = None,
        connections: int = CONNECTIONS,
        timeout: float = TIMEOUT,
        tls_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.per_minute = per_minute or settings.per_minute
        self.connections = connections
        self.timeout = timeout
        self.tls_context = tls_context or ssl.create_default_context()
        self.clock = clock
        self._lock = threading.Condition()
        self._started: deque[float] = deque()  # when each mail of the last WINDOW began
        self._active = 0

    def __repr__(self) -> str:  # never the password
        s = self.settings
        return f"MailTransport({s.scheme}://{s.host}:{s.port}, from={s.sender})"

    # -- pacing ------------------------------------------------------------------------------
    def _forget_old(self, now: float) -> None:
        while self._started and now - self._started[0] >= WINDOW:
            self._started.popleft()

    def room(self) -> int:
        """Mails that may start now: what is left of the minute's budget and of the connections."""
        with self._lock:
            self._forget_old(self.clock())
            return max(0, min(self.per_minute - len(self._started), self.connections - self._active))

    def _acquire(self) -> None:
        """Take a place in the budget, waiting a little when rows were claimed faster than
        `room` said (two passes of the sender before the first mail started)."""
        with self._lock:
            deadline = self.clock() + 5.0
            while True:
                now = self.clock()
                self._forget_old(now)
                if len(self._started) < self.per_minute and self._active < self.connections:
                    self._started.append(now)
                    self._active += 1
                    return
                if now >= deadline:
                    wait = WINDOW - (now - self._started[0]) if self._started else 1.0
                    raise DeliveryError("mail budget used up", retryable=True, retry_after=max(1.0, wait))
                self._lock.wait(0.1)

    def _release(self) -> None:
        with self._lock:
            self._active -= 1
            self._lock.notify_all()

    # -- sending -----------------------------------------------------------------------------
    def message(self, row: OutboxRow, content: dict[str, Any]) -> EmailMessage:
        """The mail for a row: plain UTF-8 text, a Japanese subject (RFC 2047 encoded)."""
        to = str(content.get("to") or row.address or "")
        mail = EmailMessage()
        mail["Subject"] = str(content.get("subject") or "")
        mail["From"] = Address(msg.MAIL_FROM_NAME, addr_spec=self.settings.sender)
        mail["To"] = to
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = message_id(row, self.settings.sender)
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
        mail.set_content(str(content.get("text") or ""), charset="utf-8")
        return mail

    def send(self, row: OutboxRow, content: dict[str, Any]) -> None:
        to = str(content.get("to") or row.address or "")
        if not to or "@" not in to:
            raise DeliveryError(f"no e-mail address ({to!r})", retryable=False, japanese=msg.MAIL_NO_ADDRESS)
        try:
            mail = self.message(row, content)
        except (ValueError, IndexError, HeaderParseError) as exc:  # an address no header can carry
            raise DeliveryError(
                f"the mail cannot be written ({type(exc).__name__})",
                retryable=False,
                japanese=msg.MAIL_BAD_ADDRESS,
            ) from None
        self._acquire()
        try:
            self._deliver(mail, to)
        finally:
            self._release()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.scheme == "smtps":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout, context=self.tls_context)
        smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=self.tls_context)
                smtp.ehlo()
            elif not is_loopback(s.host):
                # Never send the password or the report in clear over a network.
                raise DeliveryError(
                    "the mail server does not offer STARTTLS",
                    retryable=True,
                    japanese=msg.MAIL_NO_TLS,
                )
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _deliver(self, mail: EmailMessage, to: str) -> None:
        s = self.settings
        try:
            smtp = self._connect()
            try:
                if s.username:
                    smtp.login(s.username, s.password)
                refused = smtp.send_message(mail, from_addr=s.sender, to_addrs=[to])
                if refused:  # one recipient only: send_message raises when all are refused
                    code, reply = next(iter(refused.values()))
                    raise smtplib.SMTPResponseException(code, reply)
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _classified(code, reply) from None
        except smtplib.SMTPResponseException as exc:
            raise _classified(exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPNotSupportedError:
            # AUTH not offered: a setting to fix (user name set for a server without AUTH)
            raise DeliveryError("the mail server offers no login", retryable=True) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            # refused or lost connections, timeouts, TLS failures: the server may come back
            raise DeliveryError(f"mail server unreachable ({type(exc).__name__})", retryable=True) from None


def _classified(code: int, reply: bytes | str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    message = f"SMTP {code} {text}"[:300]
    if code in AUTH_CODES:
        log.error("the mail server refused hotline's login (%s): check HOTLINE_SMTP_URL", code)
        return DeliveryError(message, status=code, retryable=True)
    if 400 <= code < 500:
        return DeliveryError(message, status=code, retryable=True)
    return DeliveryError(message, status=code, retryable=False, japanese=msg.mail_refused(code, text))


def message_id(row: OutboxRow, sender: str) -> str:
    """The same Message-ID for every attempt of one outbox row: a mail sent again after a crash
    between the server's 250 and the row's mark (the one duplicate at-least-once allows) is
    the same message to the receiving side, which mail systems use to drop a repeat."""
    created = "".join(ch for ch in row.created_at if ch.isdigit())
    domain = sender.rsplit("@", 1)[-1] or "hotline.invalid"
    return f"<hotline.{row.id}.{created}@{domain}>"
