"""Acknowledgements (確認しました) of reports: one per person and report."""

from __future__ import annotations

import sqlite3

from hotline.storage.connection import Connection


class AckRecords(Connection):
    """The acks table."""

    def record_ack(
        self,
        report_id: int,
        member_key: str,
        user_id: str,
        municipality_code: str | None,
        channel_id: str | None,
        via: str,
        now: str,
    ) -> bool:
        """Record an acknowledgement; False when this person had already acknowledged."""
        cur = self._conn().execute(
            "INSERT OR IGNORE INTO acks (report_id, member_key, user_id, municipality_code, "
            "channel_id, via, acked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (report_id, member_key, user_id, municipality_code, channel_id, via, now),
        )
        return cur.rowcount == 1

    def acks(self, report_id: int) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute("SELECT * FROM acks WHERE report_id = ? ORDER BY acked_at, id", (report_id,))
            .fetchall()
        )

    def acks_of_incident(self, incident_id: int) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute(
                "SELECT a.* FROM acks a JOIN reports r ON r.id = a.report_id WHERE r.incident_id = ? "
                "ORDER BY a.acked_at, a.id",
                (incident_id,),
            )
            .fetchall()
        )

    def acked_municipalities(self, report_id: int) -> set[str]:
        rows = (
            self._conn()
            .execute(
                "SELECT DISTINCT municipality_code FROM acks "
                "WHERE report_id = ? AND municipality_code IS NOT NULL",
                (report_id,),
            )
            .fetchall()
        )
        return {row[0] for row in rows}
