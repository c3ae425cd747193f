"""Which channel reached whom: the fallback mails of reports and drill runs (outbox rows with
channel 'mail'), read for the dashboard's incident and drill pages.

The rows are written by the mail fallback (purpose 'mail_report' with the report's id,
'mail_drill' with a dedupe key `mail:drill:<run>:<member key>`); their content names the
person (`member`, `name`, `municipality`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from hotline.storage.connection import Connection


class ChannelRecords(Connection):
    """Reads of the outbox by channel."""

    def report_mails(self, report_ids: Sequence[int]) -> list[sqlite3.Row]:
        """The fallback mails of these reports, oldest first."""
        if not report_ids:
            return []
        marks = ", ".join("?" for _ in report_ids)
        where = f"channel = 'mail' AND purpose = 'mail_report' AND report_id IN ({marks})"
        return (
            self._conn()
            .execute(f"SELECT * FROM outbox WHERE {where} ORDER BY id", tuple(report_ids))  # noqa: S608 - placeholders only
            .fetchall()
        )

    def run_mails(self, run_id: int) -> list[sqlite3.Row]:
        """The fallback mails of a drill run's question, oldest first."""
        prefix = f"mail:drill:{int(run_id)}:"
        # A range over the unique dedupe_key index (';' sorts right after ':'), not a scan.
        return (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE dedupe_key > ? AND dedupe_key < ? "
                "AND channel = 'mail' AND purpose = 'mail_drill' ORDER BY id",
                (prefix, prefix[:-1] + ";"),
            )
            .fetchall()
        )
