"""What each report was sent to, frozen at relay time (rooms, linked towns, people), and the
incident's lifecycle events (closed, reopened)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from hotline.storage.connection import Connection

RecipientRow = tuple[str, str, str, str | None, str | None, str | None, str | None]


class RecipientRecords(Connection):
    """The report_recipients and incident_events tables."""

    def save_recipients(self, report_id: int, rows: Sequence[RecipientRow]) -> None:
        """(kind, key, name, municipality_code, relation, role, detail JSON) per row, in order."""
        self._conn().executemany(
            "INSERT INTO report_recipients (report_id, kind, key, name, municipality_code, relation, "
            "role, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(report_id, *row) for row in rows],
        )

    def recipients(self, report_id: int) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute("SELECT * FROM report_recipients WHERE report_id = ? ORDER BY id", (report_id,))
            .fetchall()
        )

    def recipients_of_reports(self, report_ids: Sequence[int]) -> list[sqlite3.Row]:
        out: list[sqlite3.Row] = []
        for start in range(0, len(report_ids), 500):  # SQLite's bound-parameter limit
            chunk = list(report_ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            out.extend(
                self._conn()
                .execute(
                    f"SELECT * FROM report_recipients WHERE report_id IN ({marks}) ORDER BY id",  # noqa: S608
                    chunk,
                )
                .fetchall()
            )
        return out

    # -- incident lifecycle ---------------------------------------------------------------
    def set_incident_status(self, incident_id: int, status: str, expected: str) -> bool:
        """Move an incident from `expected` to `status`; False when it was not `expected`."""
        cur = self._conn().execute(
            "UPDATE incidents SET status = ? WHERE id = ? AND status = ?", (status, incident_id, expected)
        )
        return cur.rowcount == 1

    def add_incident_event(self, incident_id: int, action: str, at: str, by: str, note: str) -> None:
        self._conn().execute(
            "INSERT INTO incident_events (incident_id, action, at, by, note) VALUES (?, ?, ?, ?, ?)",
            (incident_id, action, at, by, note),
        )

    def incident_events(self, incident_id: int) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute("SELECT * FROM incident_events WHERE incident_id = ? ORDER BY at, id", (incident_id,))
            .fetchall()
        )

    def latest_incident(self, municipality_code: str) -> sqlite3.Row | None:
        """The town's newest incident, open or closed."""
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                "SELECT * FROM incidents WHERE municipality_code = ? ORDER BY id DESC LIMIT 1",
                (municipality_code,),
            )
            .fetchone()
        )
        return row
