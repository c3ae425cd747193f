"""What the mail tests share.

Fallback mails as the mail fallback writes them (the contract in docs: outbox rows of channel
'mail'), sent by hotline's own SMTP transport (`transport_to`) over real SMTP to the emulator's Mailbox,
so the rows end `sent` (or `failed`) through the real sender.

The mail fallback's own tests: the settings of the test hotline (SENDER, PUBLIC_URL,
SECRET_KEY), reading the mails that reached the mailbox (who got one, the link in it), and a
slow mailbox for the kill -9 test."""

from __future__ import annotations

import re
import threading
from datetime import datetime

from aiosmtpd.smtp import Envelope

from hotline.clock import iso
from hotline.config import Member
from hotline.config.settings import Mail as MailSettings
from hotline.domain.links import Link, LinkSigner
from hotline.outbound.mail import MailTransport
from hotline.storage import PRIORITY_NOTICE, NewMessage, Storage
from lineworks_emulator.mailbox import Mail, Mailbox
from tests.support.bot import Bot


def transport_to(box: Mailbox) -> MailTransport:
    """hotline's own SMTP transport, pointed at the mailbox (plain SMTP on 127.0.0.1)."""
    return MailTransport(
        MailSettings("smtp", box.host, box.port, "", "", sender="hotline@example.jp", public_url=PUBLIC_URL)
    )


def mail_rows(
    bot: Bot, people: list[Member], *, report_id: int | None = None, run_id: int | None = None
) -> None:
    """The fallback mails of a report (or of a drill run's question) to these people, in the
    shape the contract gives them, enqueued and sent through the sender."""
    enqueue_mails(bot.hotline.storage, bot.clock.now(), people, report_id=report_id, run_id=run_id)
    bot.drain()


def enqueue_mails(
    storage: Storage,
    now: datetime,
    people: list[Member],
    *,
    report_id: int | None = None,
    run_id: int | None = None,
) -> None:
    """The rows alone (a running hotline's sender takes them itself)."""
    rows = []
    for person in people:
        if report_id is not None:
            key, purpose = f"mail:report:{report_id}:{person.key}", "mail_report"
        else:
            key, purpose = f"mail:drill:{run_id}:{person.key}", "mail_drill"
        rows.append(
            NewMessage(
                dedupe_key=key,
                purpose=purpose,
                priority=PRIORITY_NOTICE,
                content={
                    "to": person.email,
                    "subject": "【LINE WORKSの代わりにメールでお知らせします】",
                    "text": "本文",
                    "member": person.key,
                    "name": person.name,
                    "municipality": person.municipality_code,
                },
                report_id=report_id,
                channel="mail",
                address=person.email,
            )
        )
    with storage.transaction():
        storage.enqueue(rows, iso(now))


SENDER = "hotline@pref-ehime.example"
PUBLIC_URL = "https://hotline.pref-ehime.example"
SECRET_KEY = "mail-tests-secret-key-0123456789abcdef"

LINK = re.compile(re.escape(PUBLIC_URL) + r"/m/(\S+)")


def link_in(mail: Mail, now: datetime) -> Link:
    """The signed link a mail carries, read back as the links page would."""
    found = LINK.search(mail.text)
    assert found, mail.text
    return LinkSigner(SECRET_KEY, "").read(found.group(1), now)


def recipients(mails: list[Mail]) -> list[str]:
    """Every envelope recipient, in the order the mails arrived."""
    return [r for m in mails for r in m.rcpt_tos]


class SlowMailbox(Mailbox):
    """The mailbox taking `delay` seconds to accept each message (like a loaded relay), so that
    a kill -9 lands while mails are going out. It blocks the server's one event loop, so
    messages are accepted one at a time."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self._pause = threading.Event()

    def _accept(self, envelope: Envelope) -> str:
        self._pause.wait(self.delay)
        return super()._accept(envelope)


def choices(html: str) -> dict[str, str]:
    """The answer buttons of a mail link's drill page: label -> the value its button posts."""
    found = re.findall(r'<button type="submit" name="answer" value="([^"]+)"[^>]*>([^<]+)</button>', html)
    return {label: value for value, label in found}
