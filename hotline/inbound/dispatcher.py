"""The dispatcher: each stored event, parsed, goes to the first handler that matches it.

The inbox loop calls `process_pending`. An event whose handler needs LINE WORKS when it
cannot answer is kept for a retry; one that keeps failing is marked failed after
MAX_EVENT_FAILURES tries and HQ is told, so that a person looks at it. One event that cannot be
processed never blocks the ones behind it.

Replays. LINE WORKS sends no event id and never re-sends a callback, so a signed body that
arrives twice is a replay (captured and re-sent by someone). The door stays thin and stores
every verified body; the dispatcher, as it takes a row, records the SHA-256 of its body and:

- marks the row `duplicate` (kept, never acted on) when a row with the same body arrived in
  the REPLAY_WINDOW before it;
- refuses it (`rejected`, recorded in `refusals` as `stale_event`) when its `issuedTime` is more
  than MAX_EVENT_AGE older than its arrival. LINE WORKS posts a callback at once and never
  retries, so a real event arrives within seconds of its issuedTime. The bound equals the
  replay window, so the two checks meet: a replay within ten minutes of the original is a
  duplicate by hash, a later one is too old. It also tolerates a server clock a few minutes
  off (NTP keeps it far closer); an event without a readable issuedTime is not judged by it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hotline import messages as msg
from hotline.clock import iso, parse_iso
from hotline.config.counterparts import hq_rooms
from hotline.domain.identities import RetryLater
from hotline.inbound.context import Context
from hotline.inbound.events import BadEvent, parse
from hotline.inbound.handlers import Handler
from hotline.storage import PRIORITY_NOTICE, NewMessage
from hotline.storage.migrations import body_sha256

log = logging.getLogger(__name__)

MAX_EVENT_FAILURES = 5
REPLAY_WINDOW = timedelta(minutes=10)  # the same signed body again within this: a duplicate
MAX_EVENT_AGE = timedelta(minutes=10)  # issuedTime older than its arrival by more: refused


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
                if self._replayed(row):
                    continue
                self.handle(row["id"], row["body"], received_at=row["received_at"])
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

    def _replayed(self, row: sqlite3.Row) -> bool:
        """Record the row's body hash; True (and the row finished as `duplicate`) when the
        same body arrived in the REPLAY_WINDOW before it."""
        digest = body_sha256(row["body"])
        storage = self.ctx.storage
        storage.set_body_hash(row["id"], digest)
        since = iso(parse_iso(row["received_at"]) - REPLAY_WINDOW)
        earlier = storage.earlier_same_body(row["id"], digest, since)
        if earlier is None:
            return False
        log.warning("event %s replays event %s (same signed body): not processed", row["id"], earlier["id"])
        self.ctx.finish(
            row["id"], "duplicate", f"same body as event {earlier['id']} ({earlier['received_at']})"
        )
        return True

    def handle(self, inbox_id: int, body: str, *, received_at: str | None = None) -> None:
        try:
            event = parse(body)
        except BadEvent as exc:
            self.ctx.finish(inbox_id, "rejected", str(exc))
            return
        age = _age(event.issued_time, received_at)
        if age is not None and age > MAX_EVENT_AGE:
            detail = (
                f"issuedTime {event.issued_time} is {age.total_seconds() / 60:.0f} min before its arrival"
            )
            log.warning("event %s refused: %s (a replay?)", inbox_id, detail)
            self.ctx.refuse(inbox_id, event, "stale_event", detail, "issuedTime too old: not processed")
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


def _age(issued_time: str | None, received_at: str | None) -> timedelta | None:
    """How long before its arrival an event says it was issued; None when either is unknown
    or unreadable (LINE WORKS writes ...T05:16:05.716Z, some examples without milliseconds)."""
    if not issued_time or not received_at:
        return None
    try:
        issued = datetime.fromisoformat(issued_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    if issued.tzinfo is None:
        issued = issued.replace(tzinfo=UTC)  # documented as UTC
    return parse_iso(received_at) - issued
