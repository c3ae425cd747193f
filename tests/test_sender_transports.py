"""Rows of another channel than LINE WORKS go to the transport registered for it, paced by it,
and are retried or failed the same way; a row whose channel has no transport fails with a
Japanese reason instead of waiting forever. The transport here is the far side of the seam
(a mail server or a webhook receiver would stand there), not hotline's own code."""

from __future__ import annotations

from typing import Any

from hotline.clock import iso
from hotline.outbound.transport import DeliveryError
from hotline.storage import PRIORITY_MAIL, PRIORITY_NOTICE, PRIORITY_REMINDER, NewMessage, OutboxRow
from tests.support.bot import Bot
from tests.support.fake_lineworks import FakeLineWorks


class Receiver:
    """The other end of a channel: records what arrives, or refuses it as told."""

    def __init__(self, allowed: int = 100) -> None:
        self.allowed = allowed
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        self.error: DeliveryError | None = None

    def room(self) -> int:
        return self.allowed

    def send(self, row: OutboxRow, content: dict[str, Any]) -> None:
        if self.error is not None:
            raise self.error
        self.received.append((row.address, content))


def _mail(bot: Bot, key: str, address: str) -> None:
    with bot.hotline.storage.transaction():
        bot.hotline.storage.enqueue(
            [
                NewMessage(
                    key,
                    "notice",
                    PRIORITY_NOTICE,
                    {"subject": "件名", "text": "本文"},
                    channel="mail",
                    address=address,
                )
            ],
            iso(bot.clock.now()),
        )


def _status(bot: Bot, key: str) -> tuple[str, str | None]:
    with bot.hotline.storage.transaction() as conn:
        row = conn.execute("SELECT status, error FROM outbox WHERE dedupe_key = ?", (key,)).fetchone()
    return row[0], row[1]


def _send_all(bot: Bot) -> None:
    bot.hotline.sender.run_once()
    assert bot.hotline.sender.idle.wait(10)


def test_a_mail_row_goes_to_the_mail_transport_not_to_line_works(bot: Bot, lw: FakeLineWorks) -> None:
    receiver = Receiver()
    bot.hotline.transports["mail"] = receiver
    _mail(bot, "m1", "taro@example.jp")
    _send_all(bot)
    assert receiver.received == [("taro@example.jp", {"subject": "件名", "text": "本文"})]
    assert not lw.to_channels() and _status(bot, "m1") == ("sent", None)


def test_the_transport_paces_its_rows(bot: Bot) -> None:
    receiver = Receiver(allowed=2)
    bot.hotline.transports["mail"] = receiver
    for i in range(5):
        _mail(bot, f"m{i}", f"p{i}@example.jp")
    _send_all(bot)
    assert len(receiver.received) == 2


def test_a_transient_failure_is_retried_and_a_permanent_one_says_why_in_japanese(bot: Bot) -> None:
    receiver = Receiver()
    bot.hotline.transports["mail"] = receiver
    receiver.error = DeliveryError("421 try later", retryable=True)
    _mail(bot, "soon", "a@example.jp")
    _send_all(bot)
    assert _status(bot, "soon") == ("pending", "421 try later")
    receiver.error = DeliveryError("550 no such user", retryable=False, japanese="宛先がありません")
    _mail(bot, "never", "b@example.jp")
    _send_all(bot)
    assert _status(bot, "never") == ("failed", "宛先がありません")


def test_a_row_for_a_channel_without_transport_fails_with_a_japanese_reason(bot: Bot) -> None:
    _mail(bot, "m1", "taro@example.jp")
    _send_all(bot)
    status, error = _status(bot, "m1")
    assert status == "failed" and error is not None and "メールの送信が設定されていない" in error


def test_a_channel_out_of_room_does_not_hold_back_later_messages(bot: Bot, lw: FakeLineWorks) -> None:
    """Hundreds of mails waiting for their pacing (priority 25) must not keep a reminder
    (priority 30) to LINE WORKS from going."""
    bot.hotline.transports["mail"] = Receiver(allowed=0)  # the mail budget of this minute is used
    now = iso(bot.clock.now())
    waiting = [
        NewMessage(
            f"m{i}",
            "mail_report",
            PRIORITY_MAIL,
            {"subject": "件名", "text": "本文"},
            channel="mail",
            address=f"p{i}@example.jp",
        )
        for i in range(bot.hotline.sender.threads * 4 + 10)
    ]
    reminder = NewMessage(
        "r1",
        "reminder",
        PRIORITY_REMINDER,
        {"type": "text", "text": "確認をお願いします"},
        channel_id="room-1",
    )
    with bot.hotline.storage.transaction():
        bot.hotline.storage.enqueue([*waiting, reminder], now)
    _send_all(bot)
    assert lw.texts_to("room-1") == ["確認をお願いします"]
