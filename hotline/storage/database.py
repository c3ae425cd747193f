"""All SQL lives here. SQLite through sqlite-utils, one connection per thread.

The inbox (events received) and the outbox (messages to send) are rows: a callback is a
durable inbox row before the 200 goes back, and every message the bot will send is an outbox
row before any attempt to send it. Workers claim rows with conditional UPDATEs, so a second
worker or a restart after a crash never sends a row twice except in the narrow window between
"sent" and "marked" (see `Storage.recover_interrupted`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,              -- new | done | rejected | failed
    reason TEXT,
    processed_at TEXT
);
CREATE INDEX IF NOT EXISTS inbox_status ON inbox(status, id);

CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY,
    municipality_code TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    status TEXT NOT NULL               -- open | closed
);
CREATE INDEX IF NOT EXISTS incidents_town ON incidents(municipality_code, status);

CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    inbox_id INTEGER UNIQUE REFERENCES inbox(id),
    parent_report_id INTEGER REFERENCES reports(id),
    kind TEXT NOT NULL,                -- first | followup | attachment
    label TEXT NOT NULL,               -- 第一報, 第2報, 続報, 写真 ...
    municipality_code TEXT NOT NULL,
    text TEXT NOT NULL,
    content TEXT,                      -- JSON of the received content for attachments
    poster_key TEXT NOT NULL,
    poster_user_id TEXT NOT NULL,
    poster_name TEXT NOT NULL,
    poster_role TEXT NOT NULL,
    source_channel_id TEXT,            -- NULL when posted 1:1 to the bot
    created_at TEXT NOT NULL,
    receipt_sent INTEGER NOT NULL DEFAULT 0,
    completion_sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS reports_incident ON reports(incident_id);

CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    dedupe_key TEXT UNIQUE NOT NULL,
    created_at TEXT NOT NULL,
    priority INTEGER NOT NULL,         -- lower goes first: real reports 0, drills 50
    purpose TEXT NOT NULL,             -- report | receipt | notice | reply
    report_id INTEGER REFERENCES reports(id),
    room_key TEXT,
    channel_id TEXT,
    user_id TEXT,
    content TEXT NOT NULL,             -- JSON message content
    status TEXT NOT NULL,              -- pending | sending | sent | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_at TEXT,
    sent_at TEXT,
    error TEXT,
    failure_notified INTEGER NOT NULL DEFAULT 0,
    interrupted INTEGER NOT NULL DEFAULT 0,  -- times a crash left it 'sending' (a possible duplicate each)
    told_retrying INTEGER NOT NULL DEFAULT 0  -- 1: the poster was told it is retried; 2: told it arrived
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, priority, next_attempt_at, id);
CREATE INDEX IF NOT EXISTS outbox_report ON outbox(report_id);

CREATE TABLE IF NOT EXISTS uploads (
    report_id INTEGER PRIMARY KEY REFERENCES reports(id),
    file_id TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS identities (
    user_id TEXT PRIMARY KEY,
    email TEXT,
    name TEXT,
    resolved_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS identities_email ON identities(email);

CREATE TABLE IF NOT EXISTS acks (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports(id),
    member_key TEXT NOT NULL,
    user_id TEXT NOT NULL,
    municipality_code TEXT,            -- NULL for HQ staff
    channel_id TEXT,
    via TEXT NOT NULL,                 -- tap | word
    acked_at TEXT NOT NULL,
    UNIQUE(report_id, member_key)
);

CREATE TABLE IF NOT EXISTS board_posts (
    report_id INTEGER PRIMARY KEY REFERENCES reports(id),
    board_id TEXT NOT NULL,
    post_id TEXT NOT NULL,
    posted_at TEXT NOT NULL,
    polled_at TEXT                     -- last successful readers poll
);

CREATE TABLE IF NOT EXISTS board_reads (
    report_id INTEGER NOT NULL REFERENCES reports(id),
    user_id TEXT NOT NULL,
    is_read INTEGER NOT NULL,
    first_read_seen_at TEXT,           -- first poll that saw it read
    PRIMARY KEY (report_id, user_id)
);

CREATE TABLE IF NOT EXISTS drills (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,                -- drill | real
    targets TEXT NOT NULL,             -- JSON: municipalities, roles, rooms, members
    schedule TEXT NOT NULL,            -- once | cron | window | now
    run_at TEXT,                       -- once: the fire time; window: the hidden random moment
    cron TEXT,                         -- cron: crontab expression in JST
    window_start TEXT,
    window_end TEXT,
    questions TEXT NOT NULL,           -- JSON
    deadline_minutes INTEGER NOT NULL,
    remind_minutes TEXT NOT NULL,      -- JSON list of minutes after firing
    report_channel_id TEXT,            -- where the summary goes ('' = HQ rooms)
    status TEXT NOT NULL,              -- scheduled | cancelled
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_checked_at TEXT NOT NULL      -- cron: fire times up to here were handled
);

CREATE TABLE IF NOT EXISTS drill_runs (
    id INTEGER PRIMARY KEY,
    drill_id INTEGER NOT NULL REFERENCES drills(id),
    scheduled_for TEXT NOT NULL,
    fired_at TEXT,
    deadline_at TEXT,
    status TEXT NOT NULL,              -- running | closed | aborted | missed
    summary TEXT,                      -- JSON, at close
    UNIQUE (drill_id, scheduled_for)   -- nothing fires twice
);

CREATE TABLE IF NOT EXISTS drill_targets (
    run_id INTEGER NOT NULL REFERENCES drill_runs(id),
    member_key TEXT NOT NULL,
    name TEXT NOT NULL,
    municipality_code TEXT,
    PRIMARY KEY (run_id, member_key)
);

CREATE TABLE IF NOT EXISTS drill_answers (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES drill_runs(id),
    member_key TEXT NOT NULL,
    question TEXT NOT NULL,            -- safety | arrival | comment
    answer TEXT NOT NULL,
    answered_at TEXT NOT NULL,
    late INTEGER NOT NULL DEFAULT 0    -- after the deadline: kept, marked
);
CREATE INDEX IF NOT EXISTS drill_answers_run ON drill_answers(run_id, member_key, question, id);

CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,                -- stranger | forged_ack | ...
    user_id TEXT,
    channel_id TEXT,
    detail TEXT,
    inbox_id INTEGER
);

CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,       -- werkzeug scrypt; never the password
    role TEXT NOT NULL,                -- admin | coordinator | viewer
    active INTEGER NOT NULL DEFAULT 1, -- 0: disabled, cannot log in
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    last_login_at TEXT
);

CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    who TEXT NOT NULL,                 -- account name, cli:<os user>, or 'system'
    action TEXT NOT NULL,              -- login | login_failed | logout | account_create | ...
    target TEXT NOT NULL,              -- account:<name> | drill:<id> | drill_run:<id> | ...
    before TEXT,                       -- JSON, NULL when nothing existed before
    after TEXT,                        -- JSON, NULL when nothing exists after
    diff TEXT NOT NULL,                -- unified diff of the two JSON texts
    address TEXT                       -- client address for web actions
);
"""

# Outbox priorities: a lower number is sent first.
PRIORITY_REPORT = 0
PRIORITY_REAL_CALL = 2  # a real roll-call (実参集): right after reports
PRIORITY_RECEIPT = 5
PRIORITY_NOTICE = 10
PRIORITY_REPLY = 20
PRIORITY_REMINDER = 30
PRIORITY_DRILL = 50


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


class Storage:
    """The database. Safe to share between threads: each thread gets its own connection."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.Lock()
        # Every statement is IF NOT EXISTS: running the schema twice is harmless.
        self._conn().executescript(SCHEMA)

    # -- connections and transactions ------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                timeout=self.busy_timeout_ms / 1000,
                check_same_thread=False,
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a row the callback answered 200 for survives a power cut, not just a crash.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        return sqlite_utils.Database(self._conn())

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back on any exception."""
        conn = self._conn()
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        # SQLite has one writer at a time; taking turns on an in-process lock hands the write
        # over at once, where SQLite's busy handler would sleep in steps of up to 100 ms.
        self._write_lock.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._write_lock.release()
            raise
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself failed (disk full, I/O error): never leave this thread's
            # connection inside a transaction that later calls would silently join.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._write_lock.release()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- inbox -------------------------------------------------------------------------
    def store_event(self, body: str, now: str, *, status: str = "new", reason: str | None = None) -> int:
        """Store a received callback body durably; returns its inbox id."""
        with self.transaction() as conn:
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

    # -- incidents and reports -----------------------------------------------------------
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
        return (
            self._conn()
            .execute(
                "SELECT i.*, (SELECT count(*) FROM reports r WHERE r.incident_id = i.id) AS report_count, "
                "(SELECT max(created_at) FROM reports r WHERE r.incident_id = i.id) AS last_report_at "
                "FROM incidents i ORDER BY i.id DESC LIMIT ?",
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

    # -- outbox -------------------------------------------------------------------------
    def enqueue(self, messages: Sequence[NewMessage], now: str) -> int:
        """Insert outbox rows; a dedupe_key already present is left alone. Returns rows added."""
        conn = self._conn()
        added = 0
        for m in messages:
            cur = conn.execute(
                "INSERT OR IGNORE INTO outbox (dedupe_key, created_at, priority, purpose, report_id, "
                "room_key, channel_id, user_id, content, status, next_attempt_at, error, sent_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    now,
                    m.error,
                    now if m.status == "failed" else None,
                ),
            )
            added += cur.rowcount
        return added

    def due_messages(self, now: str, limit: int) -> list[OutboxRow]:
        rows = (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? "
                "ORDER BY priority, id LIMIT ?",
                (now, limit),
            )
            .fetchall()
        )
        return [_outbox_row(row) for row in rows]

    def next_due_time(self) -> str | None:
        row = (
            self._conn()
            .execute("SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'")
            .fetchone()
        )
        return row[0] if row else None

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

    def recover_stale(self, claimed_before: str) -> int:
        """Rows stuck in 'sending' (their worker failed while marking them) go back to pending."""
        cur = self._conn().execute(
            "UPDATE outbox SET status = 'pending', interrupted = interrupted + 1 "
            "WHERE status = 'sending' AND claimed_at < ?",
            (claimed_before,),
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

    def reports_relayed_to(self, channel_id: str, incident_id: int) -> list[int]:
        """Text reports of an incident that were relayed to a room."""
        rows = (
            self._conn()
            .execute(
                "SELECT DISTINCT r.id FROM reports r JOIN outbox o ON o.report_id = r.id "
                "WHERE o.channel_id = ? AND o.purpose = 'report' AND r.incident_id = ? "
                "AND r.kind != 'attachment' "
                "ORDER BY r.id",
                (channel_id, incident_id),
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

    def recover_interrupted(self) -> int:
        """After a crash: rows left 'sending' go back to 'pending'. This is the one place a
        duplicate can come from (sent, then killed before marked), never a loss."""
        cur = self._conn().execute(
            "UPDATE outbox SET status = 'pending', interrupted = interrupted + 1 WHERE status = 'sending'"
        )
        return cur.rowcount

    def deliveries(self, report_id: int) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute(
                "SELECT * FROM outbox WHERE report_id = ? AND purpose = 'report' ORDER BY id",
                (report_id,),
            )
            .fetchall()
        )

    def outbox_counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        return {row[0]: row[1] for row in rows}

    # -- attachments ----------------------------------------------------------------------
    def upload_for(self, report_id: int) -> str | None:
        row = self._conn().execute("SELECT file_id FROM uploads WHERE report_id = ?", (report_id,)).fetchone()
        return str(row[0]) if row else None

    def save_upload(self, report_id: int, file_id: str, now: str) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO uploads (report_id, file_id, uploaded_at) VALUES (?, ?, ?)",
            (report_id, file_id, now),
        )

    # -- identities (userId <-> e-mail cache) ----------------------------------------------
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

    # -- acknowledgements -----------------------------------------------------------------
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

    # -- incidents as a whole (dashboard, timeline) ------------------------------------------
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

    def reports_since(self, since: str) -> list[sqlite3.Row]:
        """Text reports (not attachments) created at or after `since`, oldest first."""
        return (
            self._conn()
            .execute(
                "SELECT * FROM reports WHERE created_at >= ? AND kind != 'attachment' ORDER BY id", (since,)
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

    def has_message(self, dedupe_key: str) -> bool:
        row = self._conn().execute("SELECT 1 FROM outbox WHERE dedupe_key = ?", (dedupe_key,)).fetchone()
        return row is not None

    def mark_cancelled(self, message_id: int, now: str, why: str) -> None:
        """A reminder that is no longer needed (its town acknowledged): never sent."""
        self._conn().execute(
            "UPDATE outbox SET status = 'cancelled', sent_at = ?, error = ? WHERE id = ?",
            (now, why, message_id),
        )

    # -- board posts and their readers ---------------------------------------------------
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

    # -- drills ------------------------------------------------------------------------------
    def create_drill(self, **fields: Any) -> int:
        for key in ("targets", "questions", "remind_minutes"):
            if not isinstance(fields.get(key), str):
                fields[key] = json.dumps(fields[key], ensure_ascii=False)
        columns = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        cur = self._conn().execute(
            f"INSERT INTO drills ({columns}) VALUES ({marks})",  # noqa: S608 - column names are ours
            tuple(fields.values()),
        )
        return int(cur.lastrowid or 0)

    def drill(self, drill_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn().execute("SELECT * FROM drills WHERE id = ?", (drill_id,)).fetchone()
        )
        return row

    def drills(self, status: str | None = None) -> list[sqlite3.Row]:
        if status is None:
            return self._conn().execute("SELECT * FROM drills ORDER BY id DESC").fetchall()
        return self._conn().execute("SELECT * FROM drills WHERE status = ? ORDER BY id", (status,)).fetchall()

    def set_drill(self, drill_id: int, **fields: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._conn().execute(
            f"UPDATE drills SET {assignments} WHERE id = ?",  # noqa: S608 - column names are ours
            (*fields.values(), drill_id),
        )

    def create_run(self, drill_id: int, scheduled_for: str, status: str, **fields: Any) -> int | None:
        """A run of a drill for one fire time; None when that fire time was handled before."""
        columns = ", ".join(["drill_id", "scheduled_for", "status", *fields])
        marks = ", ".join("?" for _ in range(3 + len(fields)))
        cur = self._conn().execute(
            f"INSERT OR IGNORE INTO drill_runs ({columns}) VALUES ({marks})",  # noqa: S608
            (drill_id, scheduled_for, status, *fields.values()),
        )
        return int(cur.lastrowid) if cur.rowcount == 1 and cur.lastrowid else None

    def run(self, run_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn().execute("SELECT * FROM drill_runs WHERE id = ?", (run_id,)).fetchone()
        )
        return row

    def runs(self, drill_id: int | None = None, status: str | None = None) -> list[sqlite3.Row]:
        sql = "SELECT * FROM drill_runs WHERE 1 = 1"
        args: list[Any] = []
        if drill_id is not None:
            sql += " AND drill_id = ?"
            args.append(drill_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        return self._conn().execute(sql + " ORDER BY id", args).fetchall()

    def set_run(self, run_id: int, expected_status: str, **fields: Any) -> bool:
        """Change a run only if it is still in `expected_status` (one closer, one aborter)."""
        assignments = ", ".join(f"{name} = ?" for name in fields)
        cur = self._conn().execute(
            f"UPDATE drill_runs SET {assignments} WHERE id = ? AND status = ?",  # noqa: S608
            (*fields.values(), run_id, expected_status),
        )
        return cur.rowcount == 1

    def add_targets(self, run_id: int, targets: list[tuple[str, str, str | None]]) -> None:
        self._conn().executemany(
            "INSERT OR IGNORE INTO drill_targets (run_id, member_key, name, municipality_code) "
            "VALUES (?, ?, ?, ?)",
            [(run_id, *t) for t in targets],
        )

    def targets(self, run_id: int) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute("SELECT * FROM drill_targets WHERE run_id = ? ORDER BY rowid", (run_id,))
            .fetchall()
        )

    def open_run_for(self, member_key: str) -> sqlite3.Row | None:
        """The newest run (running, or closed but still taking late answers) targeting a person."""
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                "SELECT r.* FROM drill_runs r JOIN drill_targets t ON t.run_id = r.id "
                "WHERE t.member_key = ? AND r.status IN ('running', 'closed') ORDER BY r.id DESC LIMIT 1",
                (member_key,),
            )
            .fetchone()
        )
        return row

    def add_answer(
        self, run_id: int, member_key: str, question: str, answer: str, now: str, late: bool
    ) -> None:
        self._conn().execute(
            "INSERT INTO drill_answers (run_id, member_key, question, answer, answered_at, late) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, member_key, question, answer, now, int(late)),
        )

    def answers(self, run_id: int) -> list[sqlite3.Row]:
        """Every answer of a run, history included, oldest first."""
        return (
            self._conn()
            .execute("SELECT * FROM drill_answers WHERE run_id = ? ORDER BY id", (run_id,))
            .fetchall()
        )

    def outbox_of_run(self, run_id: int) -> list[sqlite3.Row]:
        """The questions and reminders of a drill run."""
        return (
            self._conn()
            .execute("SELECT * FROM outbox WHERE dedupe_key LIKE ? ORDER BY id", (f"drill:{run_id}:ask:%",))
            .fetchall()
        )

    def target_of(self, run_id: int, identities: list[str]) -> sqlite3.Row | None:
        """The run's target row for a person known by any of these identities."""
        marks = ", ".join("?" for _ in identities)
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                f"SELECT * FROM drill_targets WHERE run_id = ? AND member_key IN ({marks}) LIMIT 1",  # noqa: S608
                (run_id, *identities),
            )
            .fetchone()
        )
        return row

    def answers_of(self, run_id: int, member_key: str) -> list[sqlite3.Row]:
        """One person's answers in a run, oldest first (uses the drill_answers_run index)."""
        return (
            self._conn()
            .execute(
                "SELECT * FROM drill_answers WHERE run_id = ? AND member_key = ? ORDER BY id",
                (run_id, member_key),
            )
            .fetchall()
        )

    def last_answer_by(self, member_keys: list[str]) -> sqlite3.Row | None:
        marks = ", ".join("?" for _ in member_keys)
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                f"SELECT * FROM drill_answers WHERE member_key IN ({marks}) ORDER BY id DESC LIMIT 1",  # noqa: S608
                member_keys,
            )
            .fetchone()
        )
        return row

    def cancel_pending(self, dedupe_prefix: str, now: str, why: str) -> int:
        cur = self._conn().execute(
            "UPDATE outbox SET status = 'cancelled', sent_at = ?, error = ? "
            "WHERE status = 'pending' AND dedupe_key LIKE ? ESCAPE '\\'",
            (now, why, dedupe_prefix.replace("%", "\\%").replace("_", "\\_") + "%"),
        )
        return cur.rowcount

    # -- refusals ---------------------------------------------------------------------------
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

    # -- accounts and the audit log ------------------------------------------------------
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
    )
