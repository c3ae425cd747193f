"""The callback door's group commit: callbacks arriving together are stored by one transaction
(one fsync under synchronous=FULL), and each caller returns only once the COMMIT holding its
own row has returned, so a 200 still means "durable"."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hotline.storage.inbox import InboxRecords

log = logging.getLogger(__name__)


class InboxBusy(sqlite3.OperationalError):
    """The writer's queue is full, or a callback waited too long for its turn: not stored."""


@dataclass(eq=False)
class _Waiting:
    """One callback body waiting to be committed, and what became of it."""

    body: str
    now: str
    status: str
    reason: str | None
    wake: threading.Event = field(default_factory=threading.Event)  # done, or lead now
    leads: bool = False  # this caller is to write the next transaction
    taken: bool = False  # a leader has it in the transaction under way
    done: bool = False
    inbox_id: int = 0
    error: BaseException | None = None


class InboxWriter:
    """Group commit for the callback door: concurrent callbacks stored by one transaction.

    There is no writer thread: the first caller that finds nobody writing leads. It takes the
    write transaction (BEGIN IMMEDIATE, behind the storage's write lock), then every body
    queued by then (those that arrived while it waited for the lock too), inserts them, commits
    (`synchronous=FULL`: the fsync), wakes each caller whose row it committed, and hands the
    lead to the first caller still queued. So an idle door commits at once, a busy one commits
    in batches, and no caller returns before the COMMIT that holds its row; each caller is woken
    once, not at every commit. If that transaction fails, every caller in it gets the error and
    nothing of it is stored.

    Bounds: at most `max_queue` callers wait (more get `InboxBusy` at once), one transaction
    holds at most `max_batch` rows, and a caller not yet taken into a transaction after
    `max_wait` seconds gives up with `InboxBusy` (one already taken waits for its outcome,
    which the database's busy timeout bounds).
    """

    def __init__(
        self,
        storage: InboxRecords,
        *,
        max_queue: int = 1024,
        max_batch: int = 256,
        max_wait: float = 10.0,
        on_commit: Callable[[int], None] = lambda rows: None,
    ) -> None:
        self.storage = storage
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.on_commit = on_commit  # told the row count of each committed transaction
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._leading = False  # someone is writing (or has been handed the lead)

    def queued(self) -> int:
        """Callers waiting for a transaction to take their body (for tests and metrics)."""
        with self._lock:
            return len(self._queue)

    def store(self, body: str, now: str, *, status: str = "new", reason: str | None = None) -> int:
        """Store one callback body durably, together with whatever arrives meanwhile; returns
        its inbox id once committed. Raises the transaction's error, or `InboxBusy`."""
        mine = _Waiting(body, now, status, reason)
        deadline = time.monotonic() + self.max_wait
        with self._lock:
            if len(self._queue) >= self.max_queue:
                raise InboxBusy("the inbox writer's queue is full")
            self._queue.append(mine)
            if not self._leading:
                self._leading = mine.leads = True
        while True:
            if mine.leads:
                mine.leads = False
                self._lead()
                if mine.done:
                    break
            left = deadline - time.monotonic()
            if not mine.wake.wait(left if left > 0 else None):
                with self._lock:
                    if not (mine.taken or mine.leads or mine.done):
                        self._queue.remove(mine)
                        raise InboxBusy(f"waited {self.max_wait:.0f} s for the inbox writer")
                continue  # taken (its transaction is under way) or just woken: look again
            mine.wake.clear()
            if mine.done:
                break
        if mine.error is not None:
            raise _own_copy(mine.error) from mine.error
        return mine.inbox_id

    def _take(self) -> list[_Waiting]:
        with self._lock:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            for item in batch:
                item.taken = True
            return batch

    def _lead(self) -> None:
        """One transaction for the bodies queued once the write lock is ours; then the lead
        goes to the first caller still queued, if any."""
        batch: list[_Waiting] = []
        error: BaseException | None = None
        try:
            with self.storage.transaction() as conn:
                batch = self._take()
                for item in batch:
                    item.inbox_id = self.storage.insert_event(
                        conn, item.body, item.now, status=item.status, reason=item.reason
                    )
        except BaseException as exc:
            # BEGIN, an INSERT or the COMMIT failed: nothing of this batch is stored. If BEGIN
            # failed (the database locked by another process), everyone queued gets the error
            # too: they would only wait as long again for the same lock, one after the other.
            error = exc
            batch = batch or self._take()
        with self._lock:
            for item in batch:
                item.error, item.done = error, True
            successor = self._queue[0] if self._queue else None
            if successor is None:
                self._leading = False
            else:
                successor.leads = True
        for item in batch:
            item.wake.set()
        if successor is not None:
            successor.wake.set()
        if error is not None:
            if not isinstance(error, Exception):
                raise error
            return
        try:
            self.on_commit(len(batch))
        except Exception:  # the rows are stored: a counter must not turn them into errors
            log.exception("inbox writer: on_commit failed")


def _own_copy(exc: BaseException) -> BaseException:
    """The shared transaction's error, as a new exception for one caller to raise: one instance
    raised in several threads at once would collect all of their tracebacks."""
    try:
        return type(exc)(*exc.args)
    except Exception:
        return sqlite3.OperationalError(str(exc))
