"""A text starting with 第一報 / 第N報 / 続報: a report to relay (or a polite refusal)."""

from __future__ import annotations

from hotline import messages as msg
from hotline.config import Config
from hotline.domain.instructions import Instructions
from hotline.domain.reports import Receipts, Reports, parse_trigger
from hotline.domain.reports.followup import follow_up
from hotline.inbound.context import Context
from hotline.inbound.events import Event
from hotline.inbound.handlers.base import text_of


class ReportHandler:
    def __init__(
        self, ctx: Context, reports: Reports, receipts: Receipts, instructions: Instructions
    ) -> None:
        self.ctx = ctx
        self.reports = reports
        self.receipts = receipts
        self.instructions = instructions

    def matches(self, event: Event) -> bool:
        text = text_of(event)
        return text is not None and parse_trigger(text) is not None

    def handle(self, inbox_id: int, event: Event, config: Config) -> None:
        trigger = parse_trigger(event.text)
        assert trigger is not None and event.user_id is not None
        ctx = self.ctx
        member = ctx.member_or_refuse(inbox_id, event, config)
        if member is None:
            return
        if member.municipality_code is None:
            ctx.reply(inbox_id, event, msg.hq_cannot_report(), "HQ member cannot report")
            return
        if not trigger.body:
            ctx.reply(inbox_id, event, msg.empty_report(trigger.label), "empty report")
            return
        with ctx.storage.transaction():
            report_id, _ = self.reports.relay(
                config, member, trigger, inbox_id=inbox_id, user_id=event.user_id, channel_id=event.channel_id
            )
            # a report while an instruction to the town is open answers it
            self.instructions.link_report(config, member, report_id, event.user_id, event.channel_id)
            ctx.finish(inbox_id, "done", f"report {report_id}")
        ctx.on_enqueue()
        # Rooms with no channelId failed at once: the receipt may be due, the mails may go now.
        follow_up(self.receipts, self.reports.mail, report_id)
