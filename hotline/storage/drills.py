"""Drills (訓練 and 実参集 roll-calls): the drill, its runs, each run's targets and answers.

`create_run` is INSERT OR IGNORE on UNIQUE (drill_id, scheduled_for), so no fire time runs
twice; `set_run` changes a run only from an expected status (one closer, one aborter).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from hotline.storage.connection import Connection


class DrillRecords(Connection):
    """The drills, drill_runs, drill_targets and drill_answers tables."""

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

    def add_targets(self, run_id: int, targets: list[tuple[str, str, str | None, str]]) -> None:
        """(member key, name, municipality code, role title) per person."""
        self._conn().executemany(
            "INSERT OR IGNORE INTO drill_targets (run_id, member_key, name, municipality_code, role_title) "
            "VALUES (?, ?, ?, ?, ?)",
            [(run_id, *t) for t in targets],
        )

    def targets(self, run_id: int) -> list[sqlite3.Row]:
        return (
            self._conn()
            .execute("SELECT * FROM drill_targets WHERE run_id = ? ORDER BY rowid", (run_id,))
            .fetchall()
        )

    def add_answer(
        self,
        run_id: int,
        member_key: str,
        question: str,
        answer: str,
        now: str,
        late: bool,
        *,
        recorded_by: str | None = None,
        via: str | None = None,
    ) -> None:
        """`recorded_by`: the coordinator who recorded it on the person's behalf (代理回答);
        `via`: 'mail' when it came through a fallback mail's link (None: LINE WORKS)."""
        self._conn().execute(
            "INSERT INTO drill_answers "
            "(run_id, member_key, question, answer, answered_at, late, recorded_by, via) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, member_key, question, answer, now, int(late), recorded_by, via),
        )

    def answers(self, run_id: int) -> list[sqlite3.Row]:
        """Every answer of a run, history included, oldest first."""
        return (
            self._conn()
            .execute("SELECT * FROM drill_answers WHERE run_id = ? ORDER BY id", (run_id,))
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

    def run_questions(self, run_id: int) -> list[sqlite3.Row]:
        """A run's question rows in the outbox (`drill:<run>:ask:<key>` and its 再送s), oldest
        first: a range on the unique dedupe_key index (LIKE would scan the whole outbox)."""
        prefix = f"drill:{run_id}:ask:"
        return (
            self._conn()
            .execute(
                "SELECT id, user_id, status, error FROM outbox "
                "WHERE dedupe_key >= ? AND dedupe_key < ? ORDER BY id",
                (prefix, prefix[:-1] + chr(ord(":") + 1)),
            )
            .fetchall()
        )
