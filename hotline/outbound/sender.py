"""The sender: claims outbox rows in priority order and delivers them concurrently.

Each row is claimed with a conditional UPDATE, sent through the LINE WORKS client, then
marked sent, retried later (transient errors, 429) or failed (permanent errors). Rows of
different rooms go out in parallel on a thread pool, so a fan-out to 25 rooms takes about one
API round trip. A row is claimed only when its API operation has budget left, so a real
report queued behind a drill is the next thing sent, not the 2,000th.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from hotline import messages as msg
from hotline.clock import Clock, iso, parse_iso
from hotline.outbound.client import LineWorksClient, LineWorksError
from hotline.storage import OutboxRow, Storage

log = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=24)
STALE_AFTER = timedelta(minutes=5)  # a row 'sending' this long has lost its worker

# Called just before a row is sent: returns the content to send, or None when the message
# is no longer needed (a reminder whose town has acknowledged meanwhile).
BeforeSend = Callable[[OutboxRow, dict[str, Any], dict[str, Any]], dict[str, Any] | None]
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
        before_send: BeforeSend | None = None,
        max_backoff: float = MAX_BACKOFF,
        on_free: Callable[[], None] = lambda: None,
    ) -> None:
        self.max_backoff = max_backoff
        self.on_free = on_free  # a thread is free: the loop may claim the next row now
        self.storage = storage
        self.client = client
        self.clock = clock
        self.threads = threads
        self.after_delivery = after_delivery
        self.before_send: BeforeSend = before_send or (lambda row, meta, content: content)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send")
        self._busy = 0
        self._lock = threading.Lock()
        self._upload_locks: dict[int, threading.Lock] = {}
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
        claimed = 0
        blocked: set[str] = set()
        waiting: set[str] = set()
        for row in self.storage.due_messages(now, limit=free * 4):
            if claimed >= free:
                break
            op = "boards" if row.purpose == "board" else "send_channel" if row.channel_id else "send_user"
            target = _target(row)
            with self._lock:
                busy_target = target in self._inflight
            if busy_target or target in waiting:
                # One message at a time per room or person, so that a 第一報 and its 続報
                # queued together arrive in order. Different rooms still go in parallel.
                waiting.add(target)
                continue
            if op in blocked or not self.client.limiter.available(op):
                # Lower-priority rows of the same operation wait too: priority is kept.
                blocked.add(op)
                continue
            if not self.storage.claim(row.id, now):
                continue
            claimed += 1
            waiting.add(target)
            with self._lock:
                self._busy += 1
                self._inflight.add(target)
                self.idle.clear()
            self._pool.submit(self._deliver_safely, row)
        return claimed

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
        content = dict(row.content)
        # Instructions for the sender travel with the row under "hotline"; never sent.
        meta: dict[str, Any] = content.pop("hotline", None) or {}
        try:
            if "boardPost" in meta:
                self._post_to_board(row, meta["boardPost"])
            else:
                prepared = self.before_send(row, meta, content)
                if prepared is None:
                    self.storage.mark_cancelled(row.id, iso(self.clock.now()), "送信不要になりました")
                    return
                prepared = self._attach(prepared, meta)
                if row.channel_id:
                    self.client.send_to_channel(row.channel_id, prepared)
                elif row.user_id:
                    self.client.send_to_user(row.user_id, prepared)
                else:
                    raise LineWorksError("no recipient", retryable=False)
        except LineWorksError as exc:
            self._failed_attempt(row, exc)
        except Exception as exc:  # a bug or a bad row: retried with backoff, given up after 24 h
            log.exception("outbox row %s could not be prepared or sent", row.id)
            self._failed_attempt(
                row, LineWorksError(f"internal error ({type(exc).__name__})", retryable=True)
            )
        else:
            self.storage.mark_sent(row.id, iso(self.clock.now()))
        if row.report_id is not None and row.purpose == "report":
            try:
                self.after_delivery(row.report_id)
            except Exception:  # the row's outcome is recorded; the sweep follows it up later
                log.exception("follow-up of report %s failed; the sweep will retry", row.report_id)

    def _post_to_board(self, row: OutboxRow, post: dict[str, Any]) -> None:
        if row.report_id is None:
            raise LineWorksError("board post without a report", retryable=False)
        post_id = self.client.create_board_post(
            str(post["boardId"]), str(post["title"]), str(post["body"]), str(post["mustReadUntil"])
        )
        self.storage.save_board_post(row.report_id, str(post["boardId"]), post_id, iso(self.clock.now()))

    def _failed_attempt(self, row: OutboxRow, exc: LineWorksError) -> None:
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
            return
        reason = msg.GAVE_UP if exc.retryable else msg.failure_reason(exc.status, exc.code)
        log.error("outbox %s failed for good: %s", row.id, exc)
        self.storage.mark_failed(row.id, iso(now), reason)

    def _attach(self, content: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        """Fill in the fileId of a relayed photo or file: downloaded and uploaded once per
        attachment, whatever the number of rooms."""
        upload_of = meta.get("uploadOf")
        if upload_of is None:
            return content
        report_id = int(upload_of)
        with self._lock:
            lock = self._upload_locks.setdefault(report_id, threading.Lock())
        with lock:
            file_id = self.storage.upload_for(report_id)
            if file_id is None:
                report = self.storage.report(report_id)
                if report is None:
                    raise LineWorksError("attachment record missing", retryable=False)
                source = json.loads(report["content"])
                data, name = self.client.download(str(source["fileId"]))
                name = str(source.get("fileName") or name or "photo.jpg")
                if "." not in name:
                    name += ".jpg" if content.get("type") == "image" else ".bin"
                file_id = self.client.upload(name, data)
                self.storage.save_upload(report_id, file_id, iso(self.clock.now()))
        content["fileId"] = file_id
        return content


def _target(row: OutboxRow) -> str:
    if row.channel_id:
        return f"channel:{row.channel_id}"
    if row.user_id:
        return f"user:{row.user_id}"
    return f"row:{row.id}"
