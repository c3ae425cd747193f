"""A text starting with 【指示】 / 【依頼】 (an HQ member's instruction to the towns, in an HQ room
or 1:1 with the bot) or 【回答】 (a town's answer to one, which may name it: 「【回答】#7 …」):
sent on, or refused in Japanese with nothing sent.

Asked before the report handler: 「【回答】第2報の件…」 is an answer, not a report."""

from __future__ import annotations

from hotline import messages as msg
from hotline.config import Config, Member
from hotline.config.counterparts import hq_rooms
from hotline.domain.instructions import Draft, Instructions, Sender, answer_ref, parse, resolve
from hotline.domain.reports import Receipts
from hotline.domain.reports.followup import follow_up
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
        if event.channel_id is not None and event.channel_id not in {r.channel_id for r in hq_rooms(config)}:
            # HQ's talk in a town's or a group's room is not sent on to every town
            ctx.reply(
                inbox_id, event, msg.instruction_wrong_room(draft.label), "instruction outside HQ rooms"
            )
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
        # Rooms with no channelId failed at once: the receipt may be due, the mails may go now.
        follow_up(self.receipts, self.instructions.mail, sent.report_id)

    def _answer(self, inbox_id: int, event: Event, config: Config, draft: Draft, member: Member) -> None:
        assert event.user_id is not None
        ctx = self.ctx
        code = member.municipality_code
        if code is None:
            ctx.reply(inbox_id, event, msg.answer_not_from_town(), "answer from HQ")
            return
        number, hashed, body = answer_ref(draft.body)
        instruction = None if number is None else self.instructions.open_to(config, code, number)
        if instruction is None and hashed:
            assert number is not None
            content = msg.answer_unknown_instruction(number)
            ctx.reply(inbox_id, event, content, "answer to an unknown instruction")
            return
        if instruction is None:  # 「【回答】3 か所…」: a bare number that names none is text
            body = draft.body
            instruction = self.instructions.open_to(config, code)
        if not body:
            ctx.reply(inbox_id, event, msg.answer_empty(), "empty answer")
            return
        if instruction is None:
            ctx.reply(inbox_id, event, msg.answer_without_instruction(), "answer without an instruction")
            return
        with ctx.storage.transaction():
            report_id = self.instructions.answer(
                config,
                member,
                instruction,
                body,
                inbox_id=inbox_id,
                user_id=event.user_id,
                channel_id=event.channel_id,
            )
            ctx.finish(inbox_id, "done", f"answer {report_id} to {instruction['id']}")
        ctx.on_enqueue()
        follow_up(self.receipts, self.instructions.mail, report_id)
