"""Identities: the cache of LINE WORKS userId -> e-mail and name look-ups."""

from __future__ import annotations

import sqlite3

from hotline.storage.connection import Connection


class IdentityRecords(Connection):
    """The identities table."""

    def identity(self, user_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn().execute("SELECT * FROM identities WHERE user_id = ?", (user_id,)).fetchone()
        )
        return row

    def save_identity(self, user_id: str, email: str | None, name: str | None, now: str) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO identities (user_id, email, name, resolved_at) VALUES (?, ?, ?, ?)",
            (user_id, email, name, now),
        )
