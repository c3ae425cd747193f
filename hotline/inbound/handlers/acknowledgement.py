"""「確認しました」: a signed button tap, or a typed 確認 / 了解.

A tap names its report in a signed postback; a forged or stale one is refused and recorded.
A typed word in a room counts for ONE report: the newest relayed to that room (people answer
the latest message); in a 1:1 chat, for the report of the last reminder the person got.

Either way the person gets one confirmation of what was recorded (which report, which town),
sent to them 1:1 rather than into the room, so that a room of thirty people is not flooded
with thirty confirmations; a second tap or word for the same report is told that it was
already recorded, and records nothing (one acknowledgement per person and report)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from hotline import messages as msg
from hotline.config import Config
from hotline.domain import acknowledgements
from hotline.domain.acknowledgements import is_ack_word, verify_postback
from hotline.inbound.context import Context, reply_message
from hotline.inbound.events import Event
from hotline.inbound.handlers.base import Handler, postback_data, text_of


class AckTap:
    """Any postback that is not a drill answer (the drill handler is asked first)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def matches(self, event: Event) -> bool:
        return postback_data(event) is not None

    def handle(self, inbox_id: int, event: Event, config: Config) -> None:
        data = postback_data(event) or ""
        ctx = self.ctx
        check = verify_postback(ctx.bot_secret, data)
        if check.problem == "not an acknowledgement postback":
            ctx.finish(inbox_id, "done", "postback: not ours")
            return
        report = ctx.storage.report(check.report_id) if check.report_id else None
        problem = check.problem or (None if report is not None else "acknowledgement of an unknown report")
        if problem is None and not event.user_id:
            problem = "acknowledgement without a userId"
        if problem is not None:
            ctx.refuse(inbox_id, event, "forged_ack", f"{problem}: {data[:100]}", problem)
            return
        assert report is not None
        record_ack(ctx, inbox_id, event, report, "tap", config)


class AckWord:
    """A typed 確認 / 了解. In a 1:1 chat with no reminder to acknowledge it is ordinary 1:1
    text, handed to `one_to_one` (during an open roll-call 「了解」 is the drill's, never the help
    about posting a 第一報)."""

    def __init__(self, ctx: Context, one_to_one: Handler | None = None) -> None:
        self.ctx = ctx
        self.one_to_one = one_to_one

    def matches(self, event: Event) -> bool:
        text = text_of(event)
        return text is not None and is_ack_word(text)

    def handle(self, inbox_id: int, event: Event, config: Config) -> None:
        assert event.user_id is not None
        ctx = self.ctx
        report: sqlite3.Row | None
        if event.channel_id is not None:
            report = ctx.storage.latest_report_in_channel(event.channel_id)
        else:
            member = ctx.resolve(event.user_id, config)
            identities = [event.user_id, *([member.key, member.email] if member else [])]
            last = ctx.storage.last_reminder_to([i for i in identities if i])
            report = ctx.storage.report(last) if last is not None else None
        if report is None:
            if event.channel_id is None and self.one_to_one is not None:
                self.one_to_one.handle(inbox_id, event, config)
            elif event.channel_id is None:
                ctx.reply(inbox_id, event, msg.help_text(), "help")
            else:
                ctx.finish(inbox_id, "done", "ack word, no report")
            return
        record_ack(ctx, inbox_id, event, report, "word", config)


def record_ack(
    ctx: Context, inbox_id: int, event: Event, report: sqlite3.Row, via: str, config: Config
) -> None:
    """Store the acknowledgement of the report (once per person), tell the person what was
    recorded (or that it already was), and finish the event, in one transaction."""
    assert event.user_id is not None
    member = ctx.resolve(event.user_id, config)
    if member is None:
        ctx.refuse(inbox_id, event, "stranger_ack", f"report {report['id']}", "acknowledgement by a stranger")
        return
    now = ctx.now()
    with ctx.storage.transaction():
        new, content = acknowledgements.record(
            ctx.storage,
            config,
            report,
            member_key=member.key,
            user_id=event.user_id,
            municipality_code=member.municipality_code,
            channel_id=event.channel_id,
            via=via,
            now=now,
        )
        # To the person, 1:1: the room would get one such line per member otherwise.
        ctx.storage.enqueue(
            [replace(reply_message(inbox_id, event, content), channel_id=None, user_id=event.user_id)], now
        )
        ctx.finish(inbox_id, "done", f"ack of report {report['id']}" + ("" if new else " (again)"))
    ctx.on_enqueue()
