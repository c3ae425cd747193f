"""Events that are stored but not acted on: no sender, chatter, and kinds hotline ignores.

LINE WORKS sends join / leave / begin / end events and may add types later: they are kept in
the inbox for the record, with why nothing was done."""

from __future__ import annotations

from hotline.config import Config
from hotline.inbound.context import Context
from hotline.inbound.events import Event
from hotline.inbound.handlers.base import text_of


class NoSender:
    """A message without source.userId cannot be answered or attributed: rejected."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def matches(self, event: Event) -> bool:
        return event.type == "message" and not event.user_id

    def handle(self, inbox_id: int, event: Event, config: Config) -> None:
        self.ctx.finish(inbox_id, "rejected", "message without source.userId")


class Conversation:
    """Ordinary conversation in a room is not for the bot."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def matches(self, event: Event) -> bool:
        return text_of(event) is not None and event.channel_id is not None

    def handle(self, inbox_id: int, event: Event, config: Config) -> None:
        self.ctx.finish(inbox_id, "done", "conversation")


class Ignored:
    """Everything else: other message types and other event types. The dispatcher asks it
    last, so it matches whatever reaches it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def matches(self, event: Event) -> bool:
        return True

    def handle(self, inbox_id: int, event: Event, config: Config) -> None:
        if event.type == "message":
            self.ctx.finish(inbox_id, "done", f"message of type {event.content_type}: ignored")
        else:
            self.ctx.finish(inbox_id, "done", f"{event.type}: nothing to do")
