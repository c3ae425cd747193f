"""The outbox: every message the bot will send is a row here before any attempt to send it.

Workers claim rows with conditional UPDATEs (`claim`: pending -> sending, only if still
pending), so a second worker or a restart after a crash never sends a row twice except in the
narrow window between "sent" and "marked" (see `recover_interrupted`). These statements stay
hand-written SQL: their WHERE clauses are the concurrency control.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hotline.storage.connection import Connection

# Outbox priorities: a lower number is sent first.
PRIORITY_REPORT = 0
PRIORITY_REAL_CALL = 2  # a real roll-call (実参集): right after reports
PRIORITY_RECEIPT = 5
PRIORITY_NOTICE = 10
PRIORITY_REPLY = 20
# A fallback mail of a report or a real roll-call (issue 15). Mail has its own budget, so the
# number only orders the due rows the sender reads: after every LINE WORKS message people wait
# for, so that a burst of paced mails never keeps a receipt or a notice out of its view.
PRIORITY_MAIL = 25
PRIORITY_REMINDER = 30
PRIORITY_DRILL = 50
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "cancelled")
# The priorities' names, as /metrics labels them (hotline/metrics.py).
PRIORITY_NAMES = {
    PRIORITY_REPORT: "report",
    PRIORITY_REAL_CALL: "real_call",
    PRIORITY_RECEIPT: "receipt",
    PRIORITY_NOTICE: "notice",
    PRIORITY_REPLY: "reply",
    PRIORITY_MAIL: "mail",
    PRIORITY_REMINDER: "reminder",
    PRIORITY_DRILL: "drill",
}


@dataclass(frozen=True)
class OutboxRow:
    id: int
    purpose: str
    report_id: int | None
    room_key: str | None
    channel_id: str | None
    user_id: str | None
    content: dict[str, Any]
    attempts: int
    created_at: str
    instruction: dict[str, Any] | None = None  # for the sender, never sent; None when NULL
    channel: str = "lineworks"  # the transport: lineworks | mail | webhook (see Sender)
    address: str | None = None  # where on that channel: an e-mail address, a webhook's name
    interrupted: int = 0  # times a crash caught it being sent: it may already have gone


@dataclass(frozen=True)
class NewMessage:
    """A message to enqueue: to a room (channel_id) or to a person 1:1 (user_id)."""

    dedupe_key: str
    purpose: str
    priority: int
    content: dict[str, Any]
    channel_id: str | None = None
    user_id: str | None = None
    room_key: str | None = None
    report_id: int | None = None
    status: str = "pending"
    error: str | None = None
    instruction: dict[str, Any] | None = None  # for the sender, never sent (stored as JSON)
    channel: str = "lineworks"  # lineworks | mail | webhook: the transport the sender uses
    address: str | None = None  # mail and webhook rows: the e-mail address, the webhook's name
    next_attempt_at: str | None = None  # not sent before then (a mail fallback's wait); None: now


class OutboxRecords(Connection):
    """The outbox table."""

    def enqueue(self, messages: Sequence[NewMessage], now: str) -> int:
        """Insert outbox rows; a dedupe_key already present is left alone. Returns rows added."""
        conn = self._conn()
        added = 0
        for m in messages:
            cur = conn.execute(
                "INSERT OR IGNORE INTO outbox (dedupe_key, created_at, priority, purpose, report_id, "
                "room_key, channel_id, user_id, content, status, next_attempt_at, error, sent_at, "
                "instruction, channel, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    m.dedupe_key,
                    now,
                    m.priority,
                    m.purpose,
                    m.report_id,
                    m.room_key,
                    m.channel_id,
                    m.user_id,
                    json.dumps(m.content, ensure_ascii=False),
                    m.status,
                    m.next_attempt_at or now,
                    m.error,
                    now if m.status == "failed" else None,
                    None if m.instruction is None else json.dumps(m.instruction, ensure_ascii=False),
                    m.channel,
                    m.address,
                ),
            )
            added += cur.rowcount
        return added

    def due_messages(self, now: str, limit: int, skip_channels: Sequence[str] = ()) -> list[OutboxRow]:
        """Rows due now, highest priority first; none of `skip_channels` (channels with no room
        left this minute, whose rows would only fill the window and hold back the others)."""
        skip = ", ".join("?" for _ in skip_channels)
        where = f" AND channel NOT IN ({skip})" if skip_channels else ""
        rows = (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"  # noqa: S608
                f"{where} ORDER BY priority, id LIMIT ?",
                (now, *skip_channels, limit),
            )
            .fetchall()
        )
        return [_outbox_row(row) for row in rows]

    def claim(self, message_id: int, now: str) -> bool:
        cur = self._conn().execute(
            "UPDATE outbox SET status = 'sending', claimed_at = ?, attempts = attempts + 1 "
            "WHERE id = ? AND status = 'pending'",
            (now, message_id),
        )
        return cur.rowcount == 1

    def mark_sent(self, message_id: int, now: str) -> None:
        self._conn().execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, error = NULL WHERE id = ?",
            (now, message_id),
        )

    def mark_retry(self, message_id: int, next_attempt_at: str, error: str) -> None:
        self._conn().execute(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?, error = ? "
            "WHERE id = ? AND status = 'sending'",
            (next_attempt_at, error, message_id),
        )

    def mark_failed(self, message_id: int, now: str, error: str) -> None:
        self._conn().execute(
            "UPDATE outbox SET status = 'failed', sent_at = ?, error = ? WHERE id = ?",
            (now, error, message_id),
        )

    def mark_failure_notified(self, message_id: int) -> bool:
        """True for the one caller that gets to tell people this row failed."""
        cur = self._conn().execute(
            "UPDATE outbox SET failure_notified = 1 WHERE id = ? AND failure_notified = 0",
            (message_id,),
        )
        return cur.rowcount == 1

    def channel_failures_untold(self) -> list[sqlite3.Row]:
        """Mail and webhook rows that failed for good and HQ has not been told of, oldest first."""
        return (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE channel IN ('mail', 'webhook') AND status = 'failed' "
                "AND failure_notified = 0 ORDER BY id"
            )
            .fetchall()
        )

    def mark_told_retrying(self, message_ids: list[int]) -> None:
        self._conn().executemany(
            "UPDATE outbox SET told_retrying = 1 WHERE id = ? AND told_retrying = 0",
            [(i,) for i in message_ids],
        )

    def mark_arrival_told(self, message_id: int) -> bool:
        cur = self._conn().execute(
            "UPDATE outbox SET told_retrying = 2 WHERE id = ? AND told_retrying = 1", (message_id,)
        )
        return cur.rowcount == 1

    def recover_stale(self, claimed_before: str) -> int:
        """Rows stuck in 'sending' (their worker failed while marking them) go back to pending."""
        cur = self._conn().execute(
            "UPDATE outbox SET status = 'pending', interrupted = interrupted + 1 "
            "WHERE status = 'sending' AND claimed_at < ?",
            (claimed_before,),
        )
        return cur.rowcount

    def recover_interrupted(self) -> int:
        """After a crash: rows left 'sending' go back to 'pending'. This is the one place a
        duplicate can come from (sent, then killed before marked), never a loss."""
        cur = self._conn().execute(
            "UPDATE outbox SET status = 'pending', interrupted = interrupted + 1 WHERE status = 'sending'"
        )
        return cur.rowcount

    def last_reminder_to(self, user_ids: list[str]) -> int | None:
        """The report of the newest reminder sent to this person (any of their identities)."""
        marks = ", ".join("?" for _ in user_ids)
        row = (
            self._conn()
            .execute(
                f"SELECT report_id FROM outbox WHERE purpose = 'reminder' AND status = 'sent' "  # noqa: S608
                f"AND user_id IN ({marks}) ORDER BY id DESC LIMIT 1",
                user_ids,
            )
            .fetchone()
        )
        return int(row[0]) if row else None

    def deliveries(self, report_id: int) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE report_id = ? AND purpose = 'report' ORDER BY id",
                (report_id,),
            )
            .fetchall()
        )

    def ack_buttons(self, report_id: int) -> list[sqlite3.Row]:
        """The 「確認しました」 rows that follow a long report's text, oldest first."""
        return (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE report_id = ? AND purpose = 'ack_button' ORDER BY id",
                (report_id,),
            )
            .fetchall()
        )

    def outbox_counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        return {row[0]: row[1] for row in rows}

    def outbox_counts_by_priority(self) -> list[tuple[str, str, int]]:
        """(status, priority name, rows) for /metrics, read from the outbox_due index. Every
        status and priority is listed, 0 when there are no such rows, so a graph or an alert
        sees a queue that empties drop to 0 rather than vanish."""
        counts = dict.fromkeys(
            ((status, name) for status in OUTBOX_STATUSES for name in PRIORITY_NAMES.values()), 0
        )
        query = "SELECT status, priority, count(*) FROM outbox GROUP BY status, priority"
        for status, priority, count in self._conn().execute(query):
            counts[(status, PRIORITY_NAMES.get(priority, str(priority)))] = count
        return [(status, name, count) for (status, name), count in counts.items()]

    def outbox_of_incident(self, incident_id: int) -> list[sqlite3.Row]:
        """Every outbox row tied to the incident's reports (deliveries, receipts, reminders...)."""
        return (
            self._conn()
            .execute(
                "SELECT o.* FROM outbox o JOIN reports r ON r.id = o.report_id WHERE r.incident_id = ? "
                "ORDER BY o.id",
                (incident_id,),
            )
            .fetchall()
        )

    def has_message(self, dedupe_key: str) -> bool:
        row = self._conn().execute("SELECT 1 FROM outbox WHERE dedupe_key = ?", (dedupe_key,)).fetchone()
        return row is not None

    def mark_cancelled(self, message_id: int, now: str, why: str) -> None:
        """A reminder that is no longer needed (its town acknowledged): never sent."""
        self._conn().execute(
            "UPDATE outbox SET status = 'cancelled', sent_at = ?, error = ? WHERE id = ?",
            (now, why, message_id),
        )

    def outbox_of_run(self, run_id: int) -> list[sqlite3.Row]:
        """The questions and reminders of a drill run."""
        return (
            self._conn()
            .execute("SELECT * FROM outbox WHERE dedupe_key LIKE ? ORDER BY id", (f"drill:{run_id}:ask:%",))
            .fetchall()
        )

    def outbox_with_prefix(self, dedupe_prefix: str) -> list[sqlite3.Row]:
        """The rows whose dedupe_key starts with `dedupe_prefix` (a report's or a run's mails),
        oldest first: a range on the unique dedupe_key index (LIKE would scan the outbox)."""
        after = dedupe_prefix[:-1] + chr(ord(dedupe_prefix[-1]) + 1)
        return (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE dedupe_key >= ? AND dedupe_key < ? ORDER BY id",
                (dedupe_prefix, after),
            )
            .fetchall()
        )

    def bring_forward(self, message_ids: Sequence[int], now: str) -> int:
        """Rows waiting for a later moment, never tried yet, become due now (a mail fallback
        whose LINE WORKS message failed for good goes at once instead of after its wait)."""
        cur = self._conn().executemany(
            "UPDATE outbox SET next_attempt_at = ? "
            "WHERE id = ? AND status = 'pending' AND attempts = 0 AND next_attempt_at > ?",
            [(now, i, now) for i in message_ids],
        )
        return cur.rowcount

    def cancel_pending(self, dedupe_prefix: str, now: str, why: str) -> int:
        cur = self._conn().execute(
            "UPDATE outbox SET status = 'cancelled', sent_at = ?, error = ? "
            "WHERE status = 'pending' AND dedupe_key LIKE ? ESCAPE '\\'",
            (now, why, dedupe_prefix.replace("%", "\\%").replace("_", "\\_") + "%"),
        )
        return cur.rowcount


def _outbox_row(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        purpose=row["purpose"],
        report_id=row["report_id"],
        room_key=row["room_key"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        content=json.loads(row["content"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        instruction=None if row["instruction"] is None else json.loads(row["instruction"]),
        channel=row["channel"],
        address=row["address"],
        interrupted=row["interrupted"],
    )
