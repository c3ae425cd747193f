"""The mail server stand-in answers SMTP as a real one does: it keeps what it accepts and
refuses on command with the codes a real server uses, so hotline's mail code meets real replies."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from lineworks_emulator.mailbox import Mailbox


@pytest.fixture
def box() -> Iterator[Mailbox]:
    mailbox = Mailbox()
    mailbox.start()
    yield mailbox
    mailbox.stop()


def _send(box: Mailbox, subject: str) -> None:
    message = EmailMessage()
    message["From"] = "hotline@example.jp"
    message["To"] = "taro@example.jp"
    message["Subject"] = subject
    message.set_content("宇和島市で震度6強。")
    with smtplib.SMTP(box.host, box.port, timeout=5) as smtp:
        smtp.send_message(message)


def test_a_mail_sent_over_smtp_is_kept_with_its_japanese_subject_and_text(box: Mailbox) -> None:
    _send(box, "【第一報】宇和島市")
    [mail] = box.messages()
    assert (mail.subject, mail.rcpt_tos) == ("【第一報】宇和島市", ("taro@example.jp",))
    assert mail.text.strip() == "宇和島市で震度6強。"


def test_refusals_use_a_temporary_or_a_permanent_smtp_code(box: Mailbox) -> None:
    box.refuse_next(1, permanent=False)
    box.refuse_next(1, permanent=True)
    with pytest.raises(smtplib.SMTPDataError) as temporary:
        _send(box, "一通目")
    with pytest.raises(smtplib.SMTPDataError) as permanent:
        _send(box, "二通目")
    assert (temporary.value.smtp_code, permanent.value.smtp_code) == (421, 550)
    _send(box, "三通目")
    assert [m.subject for m in box.messages()] == ["三通目"]
