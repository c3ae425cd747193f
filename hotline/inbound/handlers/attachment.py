"""A photo, file, location, video or audio: joins the sender's (or her town's) recent report."""

from __future__ import annotations

from hotline import messages as msg
from hotline.config import Config
from hotline.domain.reports import ATTACHMENT_KINDS, Receipts, Reports
from hotline.inbound.context import Context
from hotline.inbound.events import Event


class AttachmentHandler:
    def __init__(self, ctx: Context, reports: Reports, receipts: Receipts) -> None:
        self.ctx = ctx
        self.reports = reports
        self.receipts = receipts

    def matches(self, event: Event) -> bool:
        return (
            event.type == "message"
            and bool(event.user_id)
            and event.postback is None
            and event.content_type in ATTACHMENT_KINDS
        )

    def handle(self, inbox_id: int, event: Event, config: Config) -> None:
        assert event.user_id is not None and event.content_type is not None
        ctx = self.ctx
        kind = event.content_type
        member = ctx.resolve(event.user_id, config)
        parent = self.reports.parent_for_attachment(member) if member is not None else None
        if parent is None:
            if event.channel_id is None:
                ctx.reply(inbox_id, event, msg.help_text(), "attachment without a report")
            else:
                ctx.finish(inbox_id, "done", "attachment without a report")
            return
        if kind != "location" and not isinstance(event.content.get("fileId"), str):
            ctx.finish(inbox_id, "rejected", f"{kind} without fileId")
            return
        with ctx.storage.transaction():
            report_id = self.reports.relay_attachment(
                config,
                parent,
                member,
                kind,
                event.content,
                inbox_id=inbox_id,
                user_id=event.user_id,
                channel_id=event.channel_id,
            )
            ctx.finish(inbox_id, "done", f"attachment {report_id}")
        ctx.on_enqueue()
        self.receipts.after_delivery(report_id)
