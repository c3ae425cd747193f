"""JMA telegrams, each a durable row before anything acts on it, and what they started.

- `jma_telegrams`: the raw bytes of every telegram fetched from the feed (unique on its URL,
  so each is fetched and acted on once), with what the parser and the triggers made of it.
  A row is `new` until `finish_telegram` (a conditional UPDATE, like the inbox) marks it
  `done`, `ignored`, `refused` or `failed`.
- `jma_responses`: per event and municipality, what hotline started (incident, roll-call)
  and the intensity / tsunami category last told, so a later telegram extends, never repeats.
- `jma_asked`: everyone an event's roll-calls asked, so nobody is asked twice.
- `jma_feed`: the poller's state per feed URL (Last-Modified, since when it fails, whether HQ
  was told), so a restart neither re-fetches nor re-announces an outage.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from hotline.storage.connection import Connection

TELEGRAMS_SCHEMA = """
CREATE TABLE IF NOT EXISTS jma_telegrams (
    id INTEGER PRIMARY KEY,
    url TEXT UNIQUE NOT NULL,          -- the feed entry's link: fetched once
    feed_title TEXT NOT NULL,
    feed_updated TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body BLOB NOT NULL,                -- the bytes as received, never parsed before stored
    status TEXT NOT NULL,              -- new | done | ignored | refused | failed
    reason TEXT,
    processed_at TEXT,
    kind TEXT,                         -- VXSE51 | VXSE53 | VTSE41 (once parsed)
    control_status TEXT,               -- 通常 | 訓練 | 試験
    info_type TEXT,                    -- 発表 | 訂正 | 取消
    event_id TEXT,
    serial TEXT,
    report_at TEXT,
    origin_at TEXT,
    dedupe_key TEXT,
    towns TEXT                         -- JSON {code: {"intensity": .., "tsunami": ..}} of configured towns
);
CREATE INDEX IF NOT EXISTS jma_telegrams_status ON jma_telegrams(status, id);
CREATE INDEX IF NOT EXISTS jma_telegrams_event ON jma_telegrams(event_id, id);

CREATE TABLE IF NOT EXISTS jma_responses (
    event_id TEXT NOT NULL,
    municipality_code TEXT NOT NULL,
    drill INTEGER NOT NULL,            -- 1: a 【訓練】 response to a JMA drill telegram
    intensity TEXT,                    -- the highest intensity told for the town
    tsunami TEXT,                      -- the highest tsunami category told
    incident_id INTEGER REFERENCES incidents(id),
    drill_id INTEGER REFERENCES drills(id),
    first_telegram_id INTEGER NOT NULL REFERENCES jma_telegrams(id),
    last_telegram_id INTEGER NOT NULL REFERENCES jma_telegrams(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    cancelled_at TEXT,
    PRIMARY KEY (event_id, municipality_code)
);
CREATE INDEX IF NOT EXISTS jma_responses_incident ON jma_responses(incident_id);

CREATE TABLE IF NOT EXISTS jma_asked (
    event_id TEXT NOT NULL,
    member_key TEXT NOT NULL,
    drill_id INTEGER NOT NULL REFERENCES drills(id),
    PRIMARY KEY (event_id, member_key)
);

CREATE TABLE IF NOT EXISTS jma_feed (
    url TEXT PRIMARY KEY,
    last_modified TEXT,                -- the server's Last-Modified, sent back as If-Modified-Since
    last_ok_at TEXT,
    failing_since TEXT,                -- NULL while the feed answers
    last_error TEXT,
    outage_told INTEGER NOT NULL DEFAULT 0
);
"""


class TelegramRecords(Connection):
    """The jma_telegrams, jma_responses, jma_asked and jma_feed tables."""

    # -- telegrams ----------------------------------------------------------------------------
    def has_telegram(self, url: str) -> bool:
        return (
            self._conn().execute("SELECT 1 FROM jma_telegrams WHERE url = ?", (url,)).fetchone() is not None
        )

    def store_telegram(self, url: str, title: str, updated: str, body: bytes, now: str) -> int | None:
        """Store a fetched telegram durably; None when that URL was stored before."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO jma_telegrams "
                "(url, feed_title, feed_updated, received_at, body, status) VALUES (?, ?, ?, ?, ?, 'new')",
                (url, title, updated, now, body),
            )
            return int(cur.lastrowid or 0) if cur.rowcount else None

    def pending_telegrams(self, limit: int = 50) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute("SELECT * FROM jma_telegrams WHERE status = 'new' ORDER BY id LIMIT ?", (limit,))
            .fetchall()
        )

    def describe_telegram(self, telegram_id: int, **fields: Any) -> None:
        """Record what the parser read (kind, status, event, ...) on the row."""
        sets = ", ".join(f"{name} = ?" for name in fields)
        self._conn().execute(
            f"UPDATE jma_telegrams SET {sets} WHERE id = ?",  # noqa: S608 - column names are ours
            (*fields.values(), telegram_id),
        )

    def finish_telegram(self, telegram_id: int, status: str, now: str, reason: str | None = None) -> bool:
        """Mark a telegram processed; False if someone else already did."""
        cur = self._conn().execute(
            "UPDATE jma_telegrams SET status = ?, reason = ?, processed_at = ? "
            "WHERE id = ? AND status = 'new'",
            (status, reason, now, telegram_id),
        )
        return cur.rowcount == 1

    def telegram(self, telegram_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn().execute("SELECT * FROM jma_telegrams WHERE id = ?", (telegram_id,)).fetchone()
        )
        return row

    def telegrams(self, limit: int = 100) -> list[sqlite3.Row]:
        """The newest telegrams first, without their bodies."""
        return (
            self._conn()
            .execute(
                "SELECT id, url, feed_title, feed_updated, received_at, status, reason, processed_at, kind, "
                "control_status, info_type, event_id, serial, report_at, origin_at, towns "
                "FROM jma_telegrams ORDER BY id DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )

    def done_telegram_with_key(self, dedupe_key: str, other_than: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                "SELECT id FROM jma_telegrams WHERE dedupe_key = ? AND id != ? AND status != 'new'",
                (dedupe_key, other_than),
            )
            .fetchone()
        )
        return row

    def newest_acted_report(self, event_id: str, kind: str) -> str | None:
        """The latest ReportDateTime of the event's telegrams of this kind already acted on."""
        row = (
            self._conn()
            .execute(
                "SELECT max(report_at) FROM jma_telegrams "
                "WHERE event_id = ? AND kind = ? AND status = 'done'",
                (event_id, kind),
            )
            .fetchone()
        )
        return str(row[0]) if row and row[0] else None

    def cancelled_event(self, event_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                "SELECT * FROM jma_telegrams WHERE event_id = ? AND info_type = '取消' AND status = 'done' "
                "ORDER BY id LIMIT 1",
                (event_id,),
            )
            .fetchone()
        )
        return row

    def telegrams_of_incident(self, incident_id: int) -> list[sqlite3.Row]:
        """The telegrams of the events that opened or joined the incident."""
        return (
            self._conn()
            .execute(
                "SELECT t.id, t.kind, t.control_status, t.info_type, t.event_id, t.serial, t.report_at, "
                "t.received_at, t.processed_at, t.status, t.reason, t.towns FROM jma_telegrams t "
                "WHERE t.event_id IN (SELECT event_id FROM jma_responses WHERE incident_id = ?) "
                "ORDER BY t.id",
                (incident_id,),
            )
            .fetchall()
        )

    def automatic_messages_of_incident(self, incident_id: int) -> list[sqlite3.Row]:
        """The automatic messages (dedupe keys jma:<event>:...) of the incident's events."""
        return (
            self._conn()
            .execute(
                "SELECT o.* FROM outbox o JOIN (SELECT DISTINCT event_id FROM jma_responses "
                "WHERE incident_id = ?) r ON o.dedupe_key LIKE 'jma:' || r.event_id || ':%' ORDER BY o.id",
                (incident_id,),
            )
            .fetchall()
        )

    # -- responses ------------------------------------------------------------------------------
    def responses(self, event_id: str) -> dict[str, sqlite3.Row]:
        rows = (
            self._conn()
            .execute("SELECT * FROM jma_responses WHERE event_id = ? ORDER BY rowid", (event_id,))
            .fetchall()
        )
        return {row["municipality_code"]: row for row in rows}

    def save_response(self, **fields: Any) -> None:
        """Insert or update the response of one (event, municipality)."""
        columns = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        updates = ", ".join(
            f"{name} = excluded.{name}" for name in fields if name not in ("event_id", "municipality_code")
        )
        self._conn().execute(
            f"INSERT INTO jma_responses ({columns}) VALUES ({marks}) "  # noqa: S608 - column names are ours
            f"ON CONFLICT (event_id, municipality_code) DO UPDATE SET {updates}",
            tuple(fields.values()),
        )

    def cancel_responses(self, event_id: str, now: str) -> None:
        self._conn().execute(
            "UPDATE jma_responses SET cancelled_at = ?, updated_at = ? "
            "WHERE event_id = ? AND cancelled_at IS NULL",
            (now, now, event_id),
        )

    def asked(self, event_id: str) -> set[str]:
        rows = self._conn().execute("SELECT member_key FROM jma_asked WHERE event_id = ?", (event_id,))
        return {row[0] for row in rows}

    def record_asked(self, event_id: str, member_keys: list[str], drill_id: int) -> None:
        self._conn().executemany(
            "INSERT OR IGNORE INTO jma_asked (event_id, member_key, drill_id) VALUES (?, ?, ?)",
            [(event_id, key, drill_id) for key in member_keys],
        )

    def automatic_recipients(self, prefix: str) -> list[sqlite3.Row]:
        """Every room and person an automatic message (dedupe key starting with `prefix`) went
        to or is going to, each once; cancelled rows never reached anyone and are left out."""
        return (
            self._conn()
            .execute(
                "SELECT DISTINCT channel_id, user_id FROM outbox WHERE dedupe_key LIKE ? ESCAPE '\\' "
                "AND status != 'cancelled'",
                (prefix.replace("%", "\\%").replace("_", "\\_") + "%",),
            )
            .fetchall()
        )

    # -- the feed ---------------------------------------------------------------------------------
    def feed_state(self, url: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = (
            self._conn().execute("SELECT * FROM jma_feed WHERE url = ?", (url,)).fetchone()
        )
        return row

    def save_feed_state(self, url: str, **fields: Any) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO jma_feed (url) VALUES (?)", (url,))
            if fields:
                sets = ", ".join(f"{name} = ?" for name in fields)
                conn.execute(
                    f"UPDATE jma_feed SET {sets} WHERE url = ?",  # noqa: S608 - column names are ours
                    (*fields.values(), url),
                )
