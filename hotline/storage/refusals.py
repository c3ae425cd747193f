"""Refusals: events the bot turned away (strangers, forged acknowledgements, ...), kept for review."""

from __future__ import annotations

import sqlite3

from hotline.storage.connection import Connection


class RefusalRecords(Connection):
    """The refusals table."""

    def record_refusal(
        self,
        kind: str,
        now: str,
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
        detail: str | None = None,
        inbox_id: int | None = None,
    ) -> None:
        self._conn().execute(
            "INSERT INTO refusals (at, kind, user_id, channel_id, detail, inbox_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (now, kind, user_id, channel_id, detail, inbox_id),
        )

    def refusals(self, kind: str | None = None) -> list[sqlite3.Row]:
        if kind is None:
            return self._conn().execute("SELECT * FROM refusals ORDER BY id").fetchall()
        return self._conn().execute("SELECT * FROM refusals WHERE kind = ? ORDER BY id", (kind,)).fetchall()
