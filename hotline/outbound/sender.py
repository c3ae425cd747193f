"""The sender: claims outbox rows in priority order and delivers them concurrently.

A row's content is what goes to LINE WORKS; a row that needs more carries a typed instruction
(`outbound.instructions`), handed to the handler the runtime registered for its type: `prepare`
handlers may change the content or cancel the row just before it goes, `perform` handlers do
the row's work instead of a message send (a board post). The sender knows no domain.

Rows of another channel than LINE WORKS (mail, webhooks: `outbox.channel`) go to the
`Transport` registered for that channel (`outbound.transport`), paced by the transport and
retried or failed the same way.

Each row is claimed with a conditional UPDATE, sent through the LINE WORKS client, then
marked sent, retried later (transient errors, 429) or failed (permanent errors). Rows of
different rooms go out in parallel on a thread pool, so a fan-out to 25 rooms takes about one
API round trip. A row is claimed only when its API operation has budget left, so a real
report queued behind a drill is the next thing sent, not the 2,000th.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from hotline import messages as msg
from hotline.clock import Clock, iso, parse_iso
from hotline.outbound.client import LineWorksClient, LineWorksError
from hotline.outbound.instructions import Instruction, from_json
from hotline.outbound.transport import DeliveryError, Transport
from hotline.storage import OutboxRow, Storage

log = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=24)
STALE_AFTER = timedelta(minutes=5)  # a row 'sending' this long has lost its worker

# Called just before a row with an instruction of its type is sent: returns the content to
# send (a fileId filled in, an escalation's list brought up to date), or None when the message
# is no longer needed (a reminder whose town has acknowledged meanwhile).
Prepare = Callable[[OutboxRow, Any, dict[str, Any]], dict[str, Any] | None]
# Does a row's work instead of sending a message (a board post).
Perform = Callable[[OutboxRow, Any], None]
MAX_BACKOFF = 60.0


class Sender:
    def __init__(
        self,
        storage: Storage,
        client: LineWorksClient,
        clock: Clock,
        *,
        threads: int = 16,
        after_delivery: Callable[[int], None] = lambda report_id: None,
        prepare: Mapping[type, Prepare] | None = None,
        perform: Mapping[type, Perform] | None = None,
        max_backoff: float = MAX_BACKOFF,
        on_free: Callable[[], None] = lambda: None,
        transports: Mapping[str, Transport] | None = None,
    ) -> None:
        # by channel name; the runtime's own mapping, so a transport registered later counts
        self.transports: Mapping[str, Transport] = transports if transports is not None else {}
        self.max_backoff = max_backoff
        self.on_free = on_free  # a thread is free: the loop may claim the next row now
        self.storage = storage
        self.client = client
        self.metrics = client.metrics  # each attempt's outcome per API operation (/metrics)
        self.clock = clock
        self.threads = threads
        self.after_delivery = after_delivery
        self.prepare: dict[type, Prepare] = dict(prepare or {})
        self.perform: dict[type, Perform] = dict(perform or {})
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send")
        self._busy = 0
        self._lock = threading.Lock()
        self._inflight: set[str] = set()  # rooms/people with a message being sent now
        self.idle = threading.Event()
        self.idle.set()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)

    def run_once(self) -> int:
        """Claim what can be sent now and hand it to the pool; returns how many were claimed."""
        with self._lock:
            free = self.threads - self._busy
        if free <= 0:
            return 0
        now = iso(self.clock.now())
        room: dict[str, int] = {}  # calls each operation's budget still allows now
        waiting: set[str] = set()
        candidates: list[OutboxRow] = []
        # A channel with no room this minute (mail paced at 30 a minute) is left out of the
        # query: its waiting rows would otherwise fill the window and hold back reminders.
        room.update((name, transport.room()) for name, transport in self.transports.items())
        full = [name for name in self.transports if room[name] <= 0]
        for row in self.storage.due_messages(now, limit=free * 4, skip_channels=full):
            if len(candidates) >= free:
                break
            op = _operation(row)
            target = _target(row)
            with self._lock:
                busy_target = target in self._inflight
            if busy_target or target in waiting:
                # One message at a time per room or person, so that a 第一報 and its 続報
                # queued together arrive in order. Different rooms still go in parallel.
                waiting.add(target)
                continue
            if op not in room:  # a LINE WORKS operation (transports were asked above)
                if row.channel == LINEWORKS:
                    room[op] = self.client.limiter.room(op)
                else:  # no transport for the channel (mail switched off): fails in deliver()
                    room[op] = self.threads
            if room[op] <= 0:
                # Lower-priority rows of the same operation wait too: priority is kept.
                continue
            room[op] -= 1
            waiting.add(target)
            candidates.append(row)
        if not candidates:
            return 0
        # One transaction claims the whole pass: every claim is durable before its row is
        # sent, as with a commit per claim, for one fsync instead of up to `threads`.
        with self.storage.transaction():
            claimed = [row for row in candidates if self.storage.claim(row.id, now)]
        for row in claimed:
            with self._lock:
                self._busy += 1
                self._inflight.add(_target(row))
                self.idle.clear()
            self._pool.submit(self._deliver_safely, row)
        return len(claimed)

    def _deliver_safely(self, row: OutboxRow) -> None:
        try:
            self.deliver(row)
        except Exception:
            # Marking the row failed (the database locked, say): it stays 'sending', and the
            # sweep puts it back to pending after STALE_AFTER. Never lost, maybe resent once.
            log.exception("outbox row %s: outcome not recorded; the sweep will retry it", row.id)
        finally:
            with self._lock:
                self._inflight.discard(_target(row))
                self._busy -= 1
                if self._busy == 0:
                    self.idle.set()
            self.on_free()

    def deliver(self, row: OutboxRow) -> None:
        """Send one claimed row and record the outcome."""
        try:
            instruction = from_json(row.instruction)
            if row.channel != LINEWORKS:
                self._deliver_elsewhere(row, instruction)
            elif instruction is not None and type(instruction) in self.perform:
                self.perform[type(instruction)](row, instruction)
            else:
                content = self._prepared(row, instruction)
                if content is None:
                    self.storage.mark_cancelled(row.id, iso(self.clock.now()), msg.NOT_NEEDED)
                    self.metrics.send_attempt(_operation(row), "cancelled")
                    return
                if row.channel_id:
                    self.client.send_to_channel(row.channel_id, content)
                elif row.user_id:
                    self.client.send_to_user(row.user_id, content)
                else:
                    raise LineWorksError("no recipient", retryable=False)
        except _Cancelled as cancelled:
            self.storage.mark_cancelled(row.id, iso(self.clock.now()), str(cancelled))
            self.metrics.send_attempt(_operation(row), "cancelled")
            return
        except DeliveryError as exc:
            self._failed_attempt(row, exc)
        except Exception as exc:  # a bug or a bad row: retried with backoff, given up after 24 h
            log.exception("outbox row %s could not be prepared or sent", row.id)
            self._failed_attempt(
                row, LineWorksError(f"internal error ({type(exc).__name__})", retryable=True)
            )
        else:
            self.storage.mark_sent(row.id, iso(self.clock.now()))
            self.metrics.send_attempt(_operation(row), "sent")
        if row.report_id is not None and row.purpose == "report":
            try:
                self.after_delivery(row.report_id)
            except Exception:  # the row's outcome is recorded; the sweep follows it up later
                log.exception("follow-up of report %s failed; the sweep will retry", row.report_id)

    def _deliver_elsewhere(self, row: OutboxRow, instruction: Instruction | None) -> None:
        """Send a row of another channel (mail, webhook) through its transport."""
        content = self._prepared(row, instruction)  # first: a row no longer needed is cancelled
        if content is None:
            raise _Cancelled(msg.NOT_NEEDED)
        transport = self.transports.get(row.channel)
        if transport is None:  # still needed, but its channel was switched off
            raise DeliveryError(
                f"no transport for channel {row.channel!r}",
                retryable=False,
                japanese=msg.channel_off(row.channel),
            )
        transport.send(row, content)

    def _prepared(self, row: OutboxRow, instruction: Instruction | None) -> dict[str, Any] | None:
        """The content to send now, after the handler of the row's instruction (if any)."""
        content = dict(row.content)
        if instruction is None:
            return content
        prepare = self.prepare.get(type(instruction))
        if prepare is None:  # a wiring bug: send the content as it is, and say so
            log.error("outbox %s: no handler for %s; sent as it is", row.id, instruction.kind)
            return content
        return prepare(row, instruction, content)

    def _failed_attempt(self, row: OutboxRow, exc: DeliveryError) -> None:
        now = self.clock.now()
        too_old = now - parse_iso(row.created_at) > GIVE_UP_AFTER
        if exc.retryable and not too_old:
            delay = (
                exc.retry_after if exc.retry_after is not None else min(self.max_backoff, 2.0**row.attempts)
            )
            log.warning(
                "outbox %s attempt %d failed (%s); retry in %.1f s",
                row.id,
                row.attempts,
                exc,
                delay,
            )
            self.storage.mark_retry(row.id, iso(now + timedelta(seconds=delay)), str(exc))
            self.metrics.send_attempt(_operation(row), "retry")
            return
        if exc.retryable:
            reason = msg.GAVE_UP
        else:
            reason = exc.japanese or msg.failure_reason(exc.status, exc.code, exc.reason)
        log.error("outbox %s failed for good: %s", row.id, exc)
        self.storage.mark_failed(row.id, iso(now), reason)
        self.metrics.send_attempt(_operation(row), "failed")


LINEWORKS = "lineworks"


class _Cancelled(Exception):
    """A row's prepare handler found it no longer needed."""


def _operation(row: OutboxRow) -> str:
    """The LINE WORKS API operation (rate budget) a row is sent with; another channel's name."""
    if row.channel != LINEWORKS:
        return row.channel
    return "boards" if row.purpose == "board" else "send_channel" if row.channel_id else "send_user"


def _target(row: OutboxRow) -> str:
    if row.channel != LINEWORKS:
        return f"{row.channel}:{row.address}"
    if row.channel_id:
        return f"channel:{row.channel_id}"
    if row.user_id:
        return f"user:{row.user_id}"
    return f"row:{row.id}"
