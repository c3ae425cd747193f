"""The shape every event handler has, and the questions handlers ask of an event."""

from __future__ import annotations

from typing import Protocol

from hotline.config import Config
from hotline.inbound.events import Event


class Handler(Protocol):
    """One kind of event. The dispatcher gives an event to the first handler that matches."""

    def matches(self, event: Event) -> bool: ...

    def handle(self, inbox_id: int, event: Event, config: Config) -> None: ...


def postback_data(event: Event) -> str | None:
    """The data of a button tap: a postback event's `data`, or a message whose content carries
    a quick-reply `postback`. None for anything else."""
    if event.type == "postback":
        return event.data or ""
    if event.type == "message" and event.user_id and event.postback is not None:
        return event.postback
    return None


def text_of(event: Event) -> str | None:
    """The text of a text message from a person (None for anything else)."""
    if event.type == "message" and event.user_id and event.postback is None and event.content_type == "text":
        return event.text
    return None
