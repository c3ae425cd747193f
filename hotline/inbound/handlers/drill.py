"""Drill answers (signed button taps) and what people type to the bot in a 1:1 chat."""

from __future__ import annotations

from hotline import messages as msg
from hotline.config import Config
from hotline.domain.drills import Drills
from hotline.inbound.context import Context
from hotline.inbound.events import Event
from hotline.inbound.handlers.base import postback_data, text_of
from hotline.storage import PRIORITY_DRILL

DRILL_PREFIX = "drill:"


class DrillAnswer:
    def __init__(self, ctx: Context, drills: Drills) -> None:
        self.ctx = ctx
        self.drills = drills

    def matches(self, event: Event) -> bool:
        data = postback_data(event)
        return data is not None and data.startswith(DRILL_PREFIX)

    def handle(self, inbox_id: int, event: Event, config: Config) -> None:
        data = postback_data(event) or ""
        assert event.user_id is not None
        ctx = self.ctx
        member = ctx.resolve(event.user_id, config)
        reply = self.drills.answer(member, data) if member is not None else None
        if reply is None:
            ctx.record_refusal(inbox_id, event, "bad_drill_answer", data[:100])
            reply = self.drills.refusal(data)  # never silence: say why it was not taken
        ctx.reply(inbox_id, event, reply, "drill answer", priority=self.drills.priority_of(data))


class OneToOneText:
    """Text to the bot that is not a report or an ack word. During an open roll-call that asks
    the person it is always the drill's (a typed answer, a comment, or a pointer to the
    buttons), never the help about posting a 第一報; otherwise a drill comment, else the help."""

    def __init__(self, ctx: Context, drills: Drills | None) -> None:
        self.ctx = ctx
        self.drills = drills

    def matches(self, event: Event) -> bool:
        return text_of(event) is not None and event.channel_id is None

    def handle(self, inbox_id: int, event: Event, config: Config) -> None:
        assert event.user_id is not None
        ctx = self.ctx
        if self.drills is not None:
            member = ctx.resolve(event.user_id, config)
            reply = self.drills.typed(member, event.text) if member is not None else None
            if reply is not None:
                ctx.reply(inbox_id, event, reply, "drill text", priority=PRIORITY_DRILL)
                return
        ctx.reply(inbox_id, event, msg.help_text(), "help")
