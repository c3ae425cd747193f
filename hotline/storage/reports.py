"""Incidents, the reports in them, and the LINE WORKS files uploaded for attachment reports.

An incident is one town's open series of reports (a new 第一報 opens a new one); a report
is one 第一報, 続報 or attachment. Queries that join the outbox but return reports live here.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from hotline.storage.connection import Connection


class ReportRecords(Connection):
    """The incidents, reports and uploads tables."""

    def open_incident(self, municipality_code: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                "SELECT * FROM incidents WHERE municipality_code = ? AND status = 'open' "
                "ORDER BY id DESC LIMIT 1",
                (municipality_code,),
            )
            .fetchone()
        )
        return row

    def create_incident(self, municipality_code: str, opened_by: str, now: str) -> int:
        """Open a new incident for the town, closing any earlier open one (a new 第一報
        starts a new incident)."""
        conn = self._conn()
        conn.execute(
            "UPDATE incidents SET status = 'closed' WHERE municipality_code = ? AND status = 'open'",
            (municipality_code,),
        )
        cur = conn.execute(
            "INSERT INTO incidents (municipality_code, opened_at, opened_by, status) "
            "VALUES (?, ?, ?, 'open')",
            (municipality_code, now, opened_by),
        )
        return int(cur.lastrowid or 0)

    def create_report(self, **fields: Any) -> int:
        if isinstance(fields.get("content"), dict):
            fields["content"] = json.dumps(fields["content"], ensure_ascii=False)
        columns = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        cur = self._conn().execute(
            f"INSERT INTO reports ({columns}) VALUES ({marks})",  # noqa: S608 - column names are ours
            tuple(fields.values()),
        )
        return int(cur.lastrowid or 0)

    def report(self, report_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn().execute("SELECT * FROM reports WHERE id = ?", (report_id,)).fetchone()
        )
        return row

    def latest_report_by(self, poster_key: str, since: str) -> sqlite3.Row | None:
        """The poster's latest text report created at or after `since` (attachments follow it)."""
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                "SELECT * FROM reports WHERE poster_key = ? AND kind != 'attachment' "
                "AND created_at >= ? ORDER BY id DESC LIMIT 1",
                (poster_key, since),
            )
            .fetchone()
        )
        return row

    def latest_report_in_channel(self, channel_id: str) -> sqlite3.Row | None:
        """The newest report delivered (or being delivered) to a room."""
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                "SELECT r.* FROM reports r JOIN outbox o ON o.report_id = r.id "
                "WHERE o.channel_id = ? AND o.purpose = 'report' AND r.kind != 'attachment' "
                "ORDER BY r.id DESC LIMIT 1",
                (channel_id,),
            )
            .fetchone()
        )
        return row

    def incidents(self, limit: int = 100) -> list[sqlite3.Row]:
        """Every open incident (at most one per town: 179 at once in a Hokkaido-wide quake)
        and the latest `limit`, newest first."""
        return (
            self._conn()
            .execute(
                "SELECT i.*, (SELECT count(*) FROM reports r WHERE r.incident_id = i.id) AS report_count, "
                "(SELECT max(created_at) FROM reports r WHERE r.incident_id = i.id) AS last_report_at "
                # an instruction's thread (municipality_code 'hq', storage/instructions.py) is no incident
                "FROM incidents i WHERE i.municipality_code != 'hq' AND (i.status = 'open' "
                "OR i.id IN (SELECT id FROM incidents WHERE municipality_code != 'hq' "
                "ORDER BY id DESC LIMIT ?)) "
                "ORDER BY i.id DESC",
                (limit,),
            )
            .fetchall()
        )

    def incident(self, incident_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn().execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        )
        return row

    def reports_of_incident(self, incident_id: int) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute("SELECT * FROM reports WHERE incident_id = ? ORDER BY id", (incident_id,))
            .fetchall()
        )

    def mark_report_flag(self, report_id: int, flag: str) -> bool:
        """Set receipt_sent / completion_sent once; True only for the caller that set it."""
        if flag not in ("receipt_sent", "completion_sent"):
            raise ValueError(flag)
        cur = self._conn().execute(
            f"UPDATE reports SET {flag} = 1 WHERE id = ? AND {flag} = 0",  # noqa: S608
            (report_id,),
        )
        return cur.rowcount == 1

    def reports_since(self, since: str) -> list[sqlite3.Row]:
        """Text reports (not attachments) created at or after `since`, oldest first."""
        return (
            self._conn()
            .execute(
                "SELECT * FROM reports WHERE created_at >= ? AND kind != 'attachment' ORDER BY id", (since,)
            )
            .fetchall()
        )

    def reports_to_follow_up(self, since: str) -> list[int]:
        """Recent reports whose receipt, arrival or failure notices may still be owed (a crash
        between marking a row and following it up leaves them so)."""
        rows = (
            self._conn()
            .execute(
                "SELECT DISTINCT r.id FROM reports r "
                "JOIN outbox o ON o.report_id = r.id AND o.purpose = 'report' "
                "WHERE r.created_at >= ? AND (r.receipt_sent = 0 "
                "OR (o.status = 'failed' AND o.failure_notified = 0) "
                "OR (o.status = 'sent' AND o.told_retrying = 1)) ORDER BY r.id",
                (since,),
            )
            .fetchall()
        )
        return [row[0] for row in rows]

    def latest_report_of_town(self, code: str, since: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                "SELECT * FROM reports WHERE municipality_code = ? AND kind != 'attachment' "
                "AND created_at >= ? "
                "ORDER BY id DESC LIMIT 1",
                (code, since),
            )
            .fetchone()
        )
        return row

    def upload_for(self, report_id: int) -> str | None:
        row = self._conn().execute("SELECT file_id FROM uploads WHERE report_id = ?", (report_id,)).fetchone()
        return str(row[0]) if row else None

    def save_upload(self, report_id: int, file_id: str, now: str) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO uploads (report_id, file_id, uploaded_at) VALUES (?, ?, ?)",
            (report_id, file_id, now),
        )
