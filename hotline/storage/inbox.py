"""Inbox: every callback body received, stored durably before the 200 goes back.

A row is `new` until the inbox worker finishes it (`done`, `rejected` or `failed`);
`finish_event` is a conditional UPDATE, so two workers never both process one row.

The callback door stores through `inbox_writer.InboxWriter`, which commits callbacks arriving
together in one transaction.
"""

from __future__ import annotations

import sqlite3

from hotline.storage.connection import Connection


class InboxRecords(Connection):
    """The inbox table."""

    def store_event(self, body: str, now: str, *, status: str = "new", reason: str | None = None) -> int:
        """Store a received callback body durably; returns its inbox id."""
        with self.transaction() as conn:
            return self.insert_event(conn, body, now, status=status, reason=reason)

    def insert_event(
        self, conn: sqlite3.Connection, body: str, now: str, *, status: str = "new", reason: str | None = None
    ) -> int:
        """Insert a callback body in the caller's open transaction; returns its inbox id."""
        cur = conn.execute(
            "INSERT INTO inbox (received_at, body, status, reason) VALUES (?, ?, ?, ?)",
            (now, body, status, reason),
        )
        return int(cur.lastrowid or 0)

    def pending_events(self, limit: int = 100) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute("SELECT * FROM inbox WHERE status = 'new' ORDER BY id LIMIT ?", (limit,))
            .fetchall()
        )

    def finish_event(self, inbox_id: int, status: str, now: str, reason: str | None = None) -> bool:
        """Mark an inbox row processed; False if someone else already did."""
        cur = self._conn().execute(
            "UPDATE inbox SET status = ?, reason = ?, processed_at = ? WHERE id = ? AND status = 'new'",
            (status, reason, now, inbox_id),
        )
        return cur.rowcount == 1

    def inbox_counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall()
        return {row[0]: row[1] for row in rows}

    # -- replays (LINE WORKS sends no event id: a re-sent body is known by its SHA-256) ----------

    def set_body_hash(self, inbox_id: int, body_hash: str) -> None:
        """Record the SHA-256 of a row's body (the dispatcher does it as it takes the row)."""
        self._conn().execute("UPDATE inbox SET body_hash = ? WHERE id = ?", (body_hash, inbox_id))

    def earlier_same_body(self, inbox_id: int, body_hash: str, since: str) -> sqlite3.Row | None:
        """The first row before `inbox_id` with the same body hash received at or after
        `since`, if any (indexed by inbox_body_hash)."""
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                "SELECT id, received_at FROM inbox WHERE body_hash = ? AND id < ? AND received_at >= ? "
                "ORDER BY id LIMIT 1",
                (body_hash, inbox_id, since),
            )
            .fetchone()
        )
        return row
