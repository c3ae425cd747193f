"""The dispatcher: each stored event, parsed, goes to the first handler that matches it.

The inbox loop calls `process_pending`. An event whose handler needs LINE WORKS when it
cannot answer is kept for a retry; one that keeps failing is marked failed after
MAX_EVENT_FAILURES tries and HQ is told, so that a person looks at it. One event that cannot be
processed never blocks the ones behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hotline import messages as msg
from hotline.config.counterparts import hq_rooms
from hotline.domain.identities import RetryLater
from hotline.inbound.context import Context
from hotline.inbound.events import BadEvent, parse
from hotline.inbound.handlers import Handler
from hotline.storage import PRIORITY_NOTICE, NewMessage

log = logging.getLogger(__name__)

MAX_EVENT_FAILURES = 5


class Dispatcher:
    def __init__(self, ctx: Context, handlers: Sequence[Handler]) -> None:
        self.ctx = ctx
        self.handlers = list(handlers)
        self._failures: dict[int, int] = {}

    def process_pending(self, limit: int = 100, skip: set[int] | None = None) -> list[int]:
        """Process stored events in order; returns ids that must be retried later."""
        retry: list[int] = []
        for row in self.ctx.storage.pending_events(limit):
            if skip and row["id"] in skip:
                continue
            try:
                self.handle(row["id"], row["body"])
            except RetryLater as exc:
                log.warning("event %s kept for retry: %s", row["id"], exc)
                retry.append(row["id"])
            except Exception:
                log.exception("event %s could not be processed", row["id"])
                self._failures[row["id"]] = self._failures.get(row["id"], 0) + 1
                if self._failures[row["id"]] >= MAX_EVENT_FAILURES:
                    self._give_up(row["id"])
                else:
                    retry.append(row["id"])
        return retry

    def handle(self, inbox_id: int, body: str) -> None:
        try:
            event = parse(body)
        except BadEvent as exc:
            self.ctx.finish(inbox_id, "rejected", str(exc))
            return
        config = self.ctx.config()
        for handler in self.handlers:
            if handler.matches(event):
                handler.handle(inbox_id, event, config)
                return

    def _give_up(self, inbox_id: int) -> None:
        """Mark an event that keeps failing, and tell HQ, so that a person looks at it."""
        ctx = self.ctx
        rows = [
            NewMessage(
                dedupe_key=f"inbox-failed:{inbox_id}:{room.key}",
                purpose="notice",
                priority=PRIORITY_NOTICE,
                content=msg.event_failed(inbox_id),
                channel_id=room.channel_id,
                room_key=room.key,
            )
            for room in hq_rooms(ctx.config())
            if room.channel_id
        ]
        with ctx.storage.transaction():
            ctx.finish(inbox_id, "failed", "could not be processed; HQ told")
            ctx.storage.enqueue(rows, ctx.now())
        self._failures.pop(inbox_id, None)
        ctx.on_enqueue()
