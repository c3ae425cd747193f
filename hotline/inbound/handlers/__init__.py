"""One handler per kind of event. `default_handlers` gives them in the order they are asked."""

from __future__ import annotations

from hotline.domain.drills import Drills
from hotline.domain.instructions import Instructions
from hotline.domain.reports import Receipts, Reports
from hotline.inbound.context import Context
from hotline.inbound.handlers.acknowledgement import AckTap, AckWord
from hotline.inbound.handlers.attachment import AttachmentHandler
from hotline.inbound.handlers.base import Handler
from hotline.inbound.handlers.drill import DrillAnswer, OneToOneText
from hotline.inbound.handlers.instruction import InstructionHandler
from hotline.inbound.handlers.refusal import Conversation, Ignored, NoSender
from hotline.inbound.handlers.report import ReportHandler


def default_handlers(
    ctx: Context,
    reports: Reports,
    receipts: Receipts,
    drills: Drills | None,
    instructions: Instructions,
) -> list[Handler]:
    """The handlers in the order the dispatcher asks them; the first that matches takes the
    event. Order matters where kinds overlap: a drill postback before other postbacks, an
    instruction or 【回答】 before a report (「【回答】第2報の件…」 is an answer), a report before
    an ack word (「第一報 了解…」 is a report), `Ignored` last."""
    one_to_one = OneToOneText(ctx, drills)
    handlers: list[Handler] = [NoSender(ctx)]
    if drills is not None:
        handlers.append(DrillAnswer(ctx, drills))
    handlers += [
        AckTap(ctx),
        InstructionHandler(ctx, instructions, receipts),
        ReportHandler(ctx, reports, receipts, instructions),
        AckWord(ctx, one_to_one),
        one_to_one,
        Conversation(ctx),
        AttachmentHandler(ctx, reports, receipts),
        Ignored(ctx),
    ]
    return handlers


__all__ = ["Handler", "default_handlers"]
