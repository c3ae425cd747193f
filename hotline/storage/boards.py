"""Board posts made for reports and the readers each poll saw."""

from __future__ import annotations

import sqlite3

from hotline.storage.connection import Connection


class BoardRecords(Connection):
    """The board_posts and board_reads tables."""

    def save_board_post(self, report_id: int, board_id: str, post_id: str, now: str) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO board_posts (report_id, board_id, post_id, posted_at) "
            "VALUES (?, ?, ?, ?)",
            (report_id, board_id, post_id, now),
        )

    def board_post(self, report_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn().execute("SELECT * FROM board_posts WHERE report_id = ?", (report_id,)).fetchone()
        )
        return row

    def board_posts_to_poll(self, since: str, limit: int) -> list[sqlite3.Row]:
        """Posts of recent reports, least recently polled first."""
        return (
            self._conn()
            .execute(
                "SELECT * FROM board_posts WHERE posted_at >= ? "
                "ORDER BY coalesce(polled_at, ''), report_id LIMIT ?",
                (since, limit),
            )
            .fetchall()
        )

    def save_board_readers(self, report_id: int, readers: list[tuple[str, bool]], now: str) -> None:
        conn = self._conn()
        for user_id, is_read in readers:
            conn.execute(
                "INSERT INTO board_reads (report_id, user_id, is_read, first_read_seen_at) "
                "VALUES (?, ?, ?, ?) "
                "ON CONFLICT(report_id, user_id) DO UPDATE SET is_read = max(is_read, excluded.is_read), "
                "first_read_seen_at = coalesce(first_read_seen_at, excluded.first_read_seen_at)",
                (report_id, user_id, int(is_read), now if is_read else None),
            )
        conn.execute("UPDATE board_posts SET polled_at = ? WHERE report_id = ?", (now, report_id))

    def board_reads(self, report_id: int) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute("SELECT * FROM board_reads WHERE report_id = ? ORDER BY user_id", (report_id,))
            .fetchall()
        )
