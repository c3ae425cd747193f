"""HQ's instructions and requests (指示・依頼) and the towns' answers to them.

They are rows of `reports` (kinds 'instruction', 'request', 'reply'; see migration
m010_instructions), so acks, outbox deliveries and frozen recipients are the reports' own
tables. Each instruction has a thread of its own: an `incidents` row whose municipality_code is
'hq' (never a town's incident, so it never closes one and never shows in the incident list);
its 【回答】 answers join that thread.
"""

from __future__ import annotations

import sqlite3

from hotline.storage.connection import Connection

HQ_THREAD = "hq"  # incidents.municipality_code of an instruction's thread (domain.recipients.HQ)
INSTRUCTION_KINDS = ("instruction", "request")


class InstructionRecords(Connection):
    """Instructions, requests and the answers that name them (reports.reply_to)."""

    def create_instruction_thread(self, opened_by: str, now: str) -> int:
        """A thread for one instruction (an `incidents` row of HQ; several may be open)."""
        cur = self._conn().execute(
            "INSERT INTO incidents (municipality_code, opened_at, opened_by, status) "
            "VALUES (?, ?, ?, 'open')",
            (HQ_THREAD, now, opened_by),
        )
        return int(cur.lastrowid or 0)

    def instructions(self, limit: int = 100) -> list[sqlite3.Row]:
        """The latest `limit` instructions and requests, newest first, with their thread's
        status and how many answers name them."""
        return (
            self._conn()
            .execute(
                "SELECT r.*, i.status AS thread_status, "
                "(SELECT count(*) FROM reports a WHERE a.reply_to = r.id) AS answer_count "
                "FROM reports r JOIN incidents i ON i.id = r.incident_id "
                "WHERE r.kind IN ('instruction', 'request') ORDER BY r.id DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )

    def answers_to(self, instruction_id: int) -> list[sqlite3.Row]:
        """Every report or 【回答】 that names the instruction, oldest first."""
        return (
            self._conn()
            .execute("SELECT * FROM reports WHERE reply_to = ? ORDER BY id", (instruction_id,))
            .fetchall()
        )

    def open_instruction_to(
        self, municipality_code: str, since: str, instruction_id: int | None = None
    ) -> sqlite3.Row | None:
        """The instruction or request sent at or after `since` to the town (by its frozen
        recipients), whose thread is still open, that an answer from the town is for: the one
        numbered `instruction_id` when given (None if that one is not open to the town);
        otherwise the newest the town has not yet acknowledged or answered, else the newest."""
        row: sqlite3.Row | None = (
            self._conn()
            .execute(
                "SELECT r.* FROM reports r JOIN incidents i ON i.id = r.incident_id "
                "WHERE r.kind IN ('instruction', 'request') AND i.status = 'open' AND r.created_at >= :since "
                "AND EXISTS (SELECT 1 FROM report_recipients t WHERE t.report_id = r.id "
                "AND t.kind = 'town' AND t.key = :code) AND (:id IS NULL OR r.id = :id) "
                "ORDER BY EXISTS (SELECT 1 FROM acks a WHERE a.report_id = r.id "
                "AND a.municipality_code = :code) "
                "OR EXISTS (SELECT 1 FROM reports b WHERE b.reply_to = r.id "
                "AND b.municipality_code = :code), r.id DESC LIMIT 1",
                {"since": since, "code": municipality_code, "id": instruction_id},
            )
            .fetchone()
        )
        return row

    def instruction_of_form(self, form_id: str) -> int | None:
        """The instruction the dashboard's form with this one-time id sent, if it was sent."""
        row = self._conn().execute("SELECT id FROM reports WHERE form_id = ?", (form_id,)).fetchone()
        return None if row is None else int(row[0])

    def set_form_id(self, report_id: int, form_id: str) -> None:
        """Mark an instruction as sent by the form with this one-time id (unique: a second
        instruction with the same id fails its transaction)."""
        self._conn().execute("UPDATE reports SET form_id = ? WHERE id = ?", (form_id, report_id))

    def set_reply_to(self, report_id: int, instruction_id: int) -> None:
        self._conn().execute("UPDATE reports SET reply_to = ? WHERE id = ?", (instruction_id, report_id))
