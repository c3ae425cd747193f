"""A text starting with 【指示】 / 【依頼】 (an HQ member's instruction to the towns) or 【回答】 (a
town's answer to one): sent on, or refused in Japanese with nothing sent.

Asked before the report handler: 「【回答】第2報の件…」 is an answer, not a report."""

from __future__ import annotations

from hotline import messages as msg
from hotline.config import Config, Member
from hotline.domain.instructions import Draft, Instructions, Sender, parse, resolve
from hotline.domain.reports import Receipts
from hotline.inbound.context import Context
from hotline.inbound.events import Event
from hotline.inbound.handlers.base import text_of


class InstructionHandler:
    def __init__(self, ctx: Context, instructions: Instructions, receipts: Receipts) -> None:
        self.ctx = ctx
        self.instructions = instructions
        self.receipts = receipts

    def matches(self, event: Event) -> bool:
        text = text_of(event)
        return text is not None and parse(text) is not None

    def handle(self, inbox_id: int, event: Event, config: Config) -> None:
        draft = parse(event.text)
        assert draft is not None and event.user_id is not None
        ctx = self.ctx
        member = ctx.member_or_refuse(inbox_id, event, config)
        if member is None:
            return
        if draft.kind == "answer":
            self._answer(inbox_id, event, config, draft, member)
            return
        if member.municipality_code is not None:
            # Only HQ staff instruct the towns; a town's 【指示】 goes nowhere and is kept.
            ctx.record_refusal(inbox_id, event, "instruction_not_hq", event.text[:200])
            ctx.reply(inbox_id, event, msg.instruction_not_hq(draft.label), "instruction from a town refused")
            return
        if not draft.body:
            ctx.reply(inbox_id, event, msg.instruction_empty(draft.label), "empty instruction")
            return
        to = resolve(config, draft.names)
        if to.unknown or not to.codes:
            content = msg.instruction_unknown_addressees(draft.label, to.unknown or draft.names)
            ctx.reply(inbox_id, event, content, "instruction to unknown addressees")
            return
        sender = Sender.of_member(config, member, event.user_id, event.channel_id)
        with ctx.storage.transaction():
            sent = self.instructions.send(config, sender, draft.kind, to, draft.body, inbox_id=inbox_id)
            ctx.finish(inbox_id, "done", f"{draft.kind} {sent.report_id}")
        ctx.on_enqueue()
        # Rooms with no channelId failed at once: the receipt may already be due.
        self.receipts.after_delivery(sent.report_id)

    def _answer(self, inbox_id: int, event: Event, config: Config, draft: Draft, member: Member) -> None:
        assert event.user_id is not None
        ctx = self.ctx
        code = member.municipality_code
        if code is None:
            ctx.reply(inbox_id, event, msg.answer_not_from_town(), "answer from HQ")
            return
        if not draft.body:
            ctx.reply(inbox_id, event, msg.answer_empty(), "empty answer")
            return
        instruction = self.instructions.open_to(config, code)
        if instruction is None:
            ctx.reply(inbox_id, event, msg.answer_without_instruction(), "answer without an instruction")
            return
        with ctx.storage.transaction():
            report_id = self.instructions.answer(
                config,
                member,
                instruction,
                draft.body,
                inbox_id=inbox_id,
                user_id=event.user_id,
                channel_id=event.channel_id,
            )
            ctx.finish(inbox_id, "done", f"answer {report_id} to {instruction['id']}")
        ctx.on_enqueue()
        self.receipts.after_delivery(report_id)
