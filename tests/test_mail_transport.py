"""hotline's SMTP transport (outbound/mail.py) against real servers on 127.0.0.1: STARTTLS and
TLS with a login taken from HOTLINE_SMTP_URL, a refused login kept for a retry (never the
password in a log or an error), the mails-per-minute budget, and plain UTF-8 text with a
Japanese subject."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from hotline.config.settings import Mail
from hotline.outbound.mail import MailTransport
from hotline.outbound.transport import DeliveryError
from hotline.storage import OutboxRow
from lineworks_emulator.mailbox import Mailbox
from tests.support.mail import PUBLIC_URL, SENDER
from tests.support.smtp import SecureMailbox

PASSWORD = "s3cret-pa$$word-for-smtp"


def row(to: str = "taro@uwajima.example", row_id: int = 1) -> OutboxRow:
    return OutboxRow(
        row_id,
        "mail_report",
        1,
        None,
        None,
        None,
        {},
        0,
        "2026-11-21T03:15:00+00:00",
        channel="mail",
        address=to,
    )


def content(to: str = "taro@uwajima.example") -> dict[str, Any]:
    return {
        "to": to,
        "subject": "【メール代替】宇和島市の第一報（03:12 受信）",
        "text": "宇和島市で土砂崩れ。\n確認をお願いします。",
    }


def settings(scheme: str, port: int, user: str = "", password: str = "", per_minute: int = 30) -> Mail:
    return Mail(scheme, "127.0.0.1", port, user, password, SENDER, PUBLIC_URL, per_minute=per_minute)


@pytest.fixture(params=[False, True], ids=["starttls", "smtps"])
def secure(request: pytest.FixtureRequest) -> Iterator[tuple[SecureMailbox, str]]:
    box = SecureMailbox("hotline", PASSWORD)
    box.start(implicit_tls=request.param)
    yield box, "smtps" if request.param else "smtp"
    box.stop()


def test_it_logs_in_over_tls_with_the_user_and_password_of_the_url(secure: tuple[SecureMailbox, str]) -> None:
    box, scheme = secure
    transport = MailTransport(settings(scheme, box.port, "hotline", PASSWORD), tls_context=box.client_context)
    transport.send(row(), content())
    [(user, tls, envelope)] = box.received
    assert (user, tls) == ("hotline", True)
    assert envelope.mail_from == SENDER and envelope.rcpt_tos == ["taro@uwajima.example"]


def test_a_refused_login_is_retried_later_and_the_password_is_never_shown(
    secure: tuple[SecureMailbox, str], caplog: pytest.LogCaptureFixture
) -> None:
    box, scheme = secure
    transport = MailTransport(
        settings(scheme, box.port, "hotline", "wrong-" + PASSWORD), tls_context=box.client_context
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as refused:
        transport.send(row(), content())
    assert refused.value.retryable and refused.value.status == 535
    assert box.received == [] and set(box.logins) == {("hotline", "wrong-" + PASSWORD)}
    shown = caplog.text + str(refused.value) + repr(transport) + repr(transport.settings)
    assert PASSWORD not in shown and "HOTLINE_SMTP_URL" in caplog.text


def test_an_untrusted_certificate_is_not_sent_to(secure: tuple[SecureMailbox, str]) -> None:
    box, scheme = secure
    transport = MailTransport(settings(scheme, box.port, "hotline", PASSWORD))  # the system's CAs
    with pytest.raises(DeliveryError) as refused:
        transport.send(row(), content())
    assert refused.value.retryable and box.logins == [] and box.received == []


def test_the_mail_is_plain_utf8_text_with_a_japanese_subject_from_the_configured_sender(
    mailbox: Mailbox,
) -> None:
    MailTransport(settings("smtp", mailbox.port)).send(row(), content())
    [mail] = mailbox.messages()
    assert mail.subject == "【メール代替】宇和島市の第一報（03:12 受信）"
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message.get_content_charset() == "utf-8"
    assert mail.text.replace("\r\n", "\n") == "宇和島市で土砂崩れ。\n確認をお願いします。\n"
    assert SENDER in str(mail.message["From"]) and mail.message["Auto-Submitted"] == "auto-generated"


def test_a_mail_sent_again_after_a_crash_is_the_same_message_to_the_receiving_side(
    mailbox: Mailbox,
) -> None:
    transport = MailTransport(settings("smtp", mailbox.port))
    transport.send(row(), content())
    transport.send(row(), content())  # the same row again: killed after the 250, before the mark
    transport.send(row(row_id=2), content())  # another mail to the same person
    first, again, other = (m.message["Message-ID"] for m in mailbox.messages())
    assert first == again  # mail systems drop a repeated Message-ID
    assert other != first and first.endswith("@pref-ehime.example>")


def test_replies_4xx_and_lost_connections_are_retried_5xx_are_final_in_japanese(mailbox: Mailbox) -> None:
    transport = MailTransport(settings("smtp", mailbox.port))
    mailbox.refuse_next(1, permanent=False)
    with pytest.raises(DeliveryError) as later:
        transport.send(row(), content())
    assert later.value.retryable and later.value.status == 421
    mailbox.refuse_next(1, permanent=True)
    with pytest.raises(DeliveryError) as never:
        transport.send(row(), content())
    assert not never.value.retryable
    assert (
        never.value.japanese
        == "メールサーバーが宛先を受け付けませんでした（550: 宛先のアドレスを確認してください）"
    )
    mailbox.stop()  # the server is down: connection refused
    with pytest.raises(DeliveryError) as down:
        transport.send(row(), content())
    assert down.value.retryable


def test_the_budget_allows_per_minute_mails_in_any_60_seconds(mailbox: Mailbox) -> None:
    now = [0.0]
    transport = MailTransport(settings("smtp", mailbox.port, per_minute=4), clock=lambda: now[0])
    assert transport.room() == 3  # three connections at once at most
    for i in range(4):
        transport.send(row(), content(f"p{i}@example.jp"))
        now[0] += 1
    assert transport.room() == 0
    now[0] = 59.9
    assert transport.room() == 0
    now[0] = 60.0  # the first mail of the minute is 60 s old
    assert transport.room() == 1
    assert len(mailbox.messages()) == 4
