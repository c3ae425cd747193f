"""Fallback mails as the mail fallback writes them (the contract in docs: outbox rows of channel
'mail'), sent over real SMTP to the emulator's Mailbox.

`SmtpStandIn` is the far side of the sender's transport seam for these tests, not hotline's
mail transport (that is the mail fallback's own, with its settings, pacing and retries): it
hands a row's content to a real SMTP server, so the rows end `sent` (or `failed`) through the
real sender, as they will in production."""

from __future__ import annotations

import smtplib
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from hotline.clock import iso
from hotline.config import Member
from hotline.outbound.transport import DeliveryError
from hotline.storage import PRIORITY_NOTICE, NewMessage, OutboxRow, Storage
from lineworks_emulator.mailbox import Mailbox
from tests.support.bot import Bot


class SmtpStandIn:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    def room(self) -> int:
        return 100

    def send(self, row: OutboxRow, content: dict[str, Any]) -> None:
        message = EmailMessage()
        message["From"] = "hotline@example.jp"
        message["To"] = str(content["to"])
        message["Subject"] = str(content["subject"])
        message.set_content(str(content["text"]))
        try:
            with smtplib.SMTP(self.box.host, self.box.port, timeout=5) as smtp:
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            japanese = "メールサーバーが受け付けませんでした"
            raise DeliveryError(str(exc), retryable=exc.smtp_code < 500, japanese=japanese) from exc


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
