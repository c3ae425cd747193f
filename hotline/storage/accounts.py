"""Dashboard accounts and the audit log of who changed what."""

from __future__ import annotations

import sqlite3
from typing import Any

from hotline.storage.connection import Connection


class AccountRecords(Connection):
    """The accounts and audit tables."""

    def create_account(self, username: str, password_hash: str, role: str, now: str, created_by: str) -> int:
        """A new active account; sqlite3.IntegrityError when the name is taken (any case)."""
        cur = self._conn().execute(
            "INSERT INTO accounts (username, password_hash, role, active, created_at, created_by) "
            "VALUES (?, ?, ?, 1, ?, ?)",
            (username, password_hash, role, now, created_by),
        )
        return int(cur.lastrowid or 0)

    def account(self, account_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn().execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        )
        return row

    def account_by_name(self, username: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn().execute("SELECT * FROM accounts WHERE username = ?", (username,)).fetchone()
        )
        return row

    def accounts(self) -> list[sqlite3.Row]:
        return self._conn().execute("SELECT * FROM accounts ORDER BY username").fetchall()

    def set_account(self, account_id: int, **fields: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._conn().execute(
            f"UPDATE accounts SET {assignments} WHERE id = ?",  # noqa: S608 - column names are ours
            (*fields.values(), account_id),
        )

    def active_admins(self) -> int:
        row = (
            self._conn()
            .execute("SELECT count(*) FROM accounts WHERE role = 'admin' AND active = 1")
            .fetchone()
        )
        return int(row[0])

    def add_audit(
        self,
        at: str,
        who: str,
        action: str,
        target: str,
        before: str | None,
        after: str | None,
        diff: str,
        address: str | None = None,
    ) -> int:
        cur = self._conn().execute(
            "INSERT INTO audit (at, who, action, target, before, after, diff, address) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (at, who, action, target, before, after, diff, address),
        )
        return int(cur.lastrowid or 0)

    def audit_entries(self, limit: int | None = None) -> list[sqlite3.Row]:
        """Audit entries, newest first (all of them when no limit)."""
        sql = "SELECT * FROM audit ORDER BY id DESC"
        if limit is None:
            return self._conn().execute(sql).fetchall()
        return self._conn().execute(sql + " LIMIT ?", (limit,)).fetchall()
