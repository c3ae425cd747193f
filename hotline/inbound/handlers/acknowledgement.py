"""「確認しました」: a signed button tap, or a typed 確認 / 了解.

A tap names its report in a signed postback; a forged or stale one is refused and recorded.
A typed word in a room counts for every report of the newest incident relayed there (people
answer the latest message, meaning all of it); in a 1:1 chat, for the report of the last
reminder the person got."""

from __future__ import annotations

import sqlite3

from hotline import messages as msg
from hotline.config import Config
from hotline.domain.acknowledgements import is_ack_word, verify_postback
from hotline.inbound.context import Context
from hotline.inbound.events import Event
from hotline.inbound.handlers.base import postback_data, text_of


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
        record_ack(ctx, inbox_id, event, [report], "tap", config)


class AckWord:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def matches(self, event: Event) -> bool:
        text = text_of(event)
        return text is not None and is_ack_word(text)

    def handle(self, inbox_id: int, event: Event, config: Config) -> None:
        assert event.user_id is not None
        ctx = self.ctx
        if event.channel_id is not None:
            latest = ctx.storage.latest_report_in_channel(event.channel_id)
            ids = ctx.storage.reports_relayed_to(event.channel_id, latest["incident_id"]) if latest else []
        else:
            member = ctx.resolve(event.user_id, config)
            identities = [event.user_id, *([member.key, member.email] if member else [])]
            last = ctx.storage.last_reminder_to([i for i in identities if i])
            ids = [last] if last is not None else []
        reports = [r for r in (ctx.storage.report(i) for i in ids) if r is not None]
        if not reports:
            if event.channel_id is None:
                ctx.reply(inbox_id, event, msg.help_text(), "help")
            else:
                ctx.finish(inbox_id, "done", "ack word, no report")
            return
        record_ack(ctx, inbox_id, event, reports, "word", config)


def record_ack(
    ctx: Context, inbox_id: int, event: Event, reports: list[sqlite3.Row], via: str, config: Config
) -> None:
    """Store the acknowledgement of each report (idempotent) and finish the event."""
    assert event.user_id is not None
    member = ctx.resolve(event.user_id, config)
    ids = ", ".join(str(r["id"]) for r in reports)
    if member is None:
        ctx.refuse(inbox_id, event, "stranger_ack", f"report {ids}", "acknowledgement by a stranger")
        return
    now = ctx.now()
    with ctx.storage.transaction():
        new = [
            ctx.storage.record_ack(
                r["id"], member.key, event.user_id, member.municipality_code, event.channel_id, via, now
            )
            for r in reports
        ]
        ctx.finish(inbox_id, "done", f"ack of report {ids}" + ("" if any(new) else " (again)"))
