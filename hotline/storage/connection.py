"""The connection every record module shares: one SQLite connection per thread, the write
lock, the pragmas and `transaction()`.

Every record module (inbox, outbox, reports, ...) is a mixin that subclasses `Connection`,
so each gets `_conn()` and `transaction()` with full types, and `Storage` composes them
over this one base: a single object, a single connection per thread and a single write lock
for all of them, which is what lets one transaction span several kinds of record (a report,
its outbox rows and its inbox row commit together).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Connection:
    """Safe to share between threads: each thread gets its own connection."""

    def __init__(
        self, path: str | Path, *, busy_timeout_ms: int = 5000, wal_autocheckpoint: int | None = None
    ) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # The busy timeout (5 s) also covers Litestream, which takes the write lock for a moment
        # at each sync and checkpoint: its documentation asks applications for 5 s.
        self.busy_timeout_ms = busy_timeout_ms
        self.wal_autocheckpoint = wal_autocheckpoint
        self._local = threading.local()
        self._write_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                timeout=self.busy_timeout_ms / 1000,
                check_same_thread=False,
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a row the callback answered 200 for survives a power cut, not just a crash.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            if self.wal_autocheckpoint is not None:
                # 0 under Litestream (runtime/replication.py): it checkpoints the WAL itself,
                # after shipping it, and its documentation warns that an application's own
                # checkpoints race it (costing a full snapshot, or worse in some versions).
                conn.execute(f"PRAGMA wal_autocheckpoint={int(self.wal_autocheckpoint)}")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back on any exception."""
        conn = self._conn()
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        # SQLite has one writer at a time; taking turns on an in-process lock hands the write
        # over at once, where SQLite's busy handler would sleep in steps of up to 100 ms.
        self._write_lock.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._write_lock.release()
            raise
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself failed (disk full, I/O error): never leave this thread's
            # connection inside a transaction that later calls would silently join.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._write_lock.release()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
