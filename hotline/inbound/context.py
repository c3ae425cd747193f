"""What every event handler shares: storage, the running configuration, the clock, who is who,
and the three ways an event ends (finished, answered, refused)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from hotline import messages as msg
from hotline.clock import Clock, iso
from hotline.config import Config, Member
from hotline.domain.identities import Identities
from hotline.inbound.events import Event
from hotline.storage import PRIORITY_REPLY, NewMessage, Storage


@dataclass
class Context:
    storage: Storage
    config: Callable[[], Config]
    clock: Clock
    identities: Identities
    bot_secret: str
    on_enqueue: Callable[[], None] = lambda: None

    def now(self) -> str:
        return iso(self.clock.now())

    def resolve(self, user_id: str, config: Config) -> Member | None:
        return self.identities.resolve(user_id, config)

    def member_or_refuse(self, inbox_id: int, event: Event, config: Config) -> Member | None:
        """The member who wrote; a stranger's text is recorded and answered with whom to ask
        (the event is then finished) and None is returned."""
        assert event.user_id is not None
        member = self.resolve(event.user_id, config)
        if member is None:
            self.record_refusal(inbox_id, event, "stranger", event.text[:200])
            self.reply(inbox_id, event, msg.stranger(config.hq_contact), "stranger refused")
        return member

    def finish(self, inbox_id: int, status: str, reason: str) -> None:
        """The event needs nothing more: done (with why, for the record) or rejected."""
        self.storage.finish_event(inbox_id, status, self.now(), reason)

    def reply(
        self,
        inbox_id: int,
        event: Event,
        content: dict[str, object],
        why: str,
        priority: int = PRIORITY_REPLY,
    ) -> None:
        """Answer the person where they wrote, and finish the event, in one transaction."""
        message = replace(reply_message(inbox_id, event, content), priority=priority)
        with self.storage.transaction():
            self.storage.enqueue([message], self.now())
            self.storage.finish_event(inbox_id, "done", self.now(), why)
        self.on_enqueue()

    def record_refusal(self, inbox_id: int, event: Event, kind: str, detail: str) -> None:
        """Keep a refused attempt for the record and the dashboard (joins the caller's
        transaction when there is one)."""
        with self.storage.transaction():
            self.storage.record_refusal(
                kind,
                self.now(),
                user_id=event.user_id,
                channel_id=event.channel_id,
                detail=detail,
                inbox_id=inbox_id,
            )

    def refuse(self, inbox_id: int, event: Event, kind: str, detail: str, reason: str) -> None:
        """Record a refused event and finish it as rejected, in one transaction."""
        with self.storage.transaction():
            self.record_refusal(inbox_id, event, kind, detail)
            self.storage.finish_event(inbox_id, "rejected", self.now(), reason)


def reply_message(inbox_id: int, event: Event, content: dict[str, object]) -> NewMessage:
    """A reply goes back where the person wrote: the room, or the 1:1 chat with the bot."""
    return NewMessage(
        dedupe_key=f"reply:{inbox_id}",
        purpose="reply",
        priority=PRIORITY_REPLY,
        content=dict(content),
        channel_id=event.channel_id,
        user_id=None if event.channel_id else event.user_id,
    )
