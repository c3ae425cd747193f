"""The mail fallback of a roll-call question: a target the question did not reach gets a mail.

With mail on, firing a run (`Drills.fire`, drills and real roll-calls alike, JMA's included)
also enqueues one mail row per target with an e-mail address, due `HOTLINE_MAIL_FALLBACK_MINUTES`
later. Just before it goes, `before_mail` cancels it when the question reached the person on
LINE WORKS (their newest question row is sent), when they have answered, or when the run is no
longer open; otherwise the mail goes with the reason and a link to answer in a browser. A
question that fails for good (未達) brings its mail forward to now: `follow`, called by
`Drills.run_due` every few seconds, looks for them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from hotline import messages as msg
from hotline.clock import parse_iso
from hotline.config import Member
from hotline.domain.drills.model import priority
from hotline.domain.mail import MailFallback, mail_content, with_first_line
from hotline.outbound.instructions import DrillLateMark, MailDrillCheck, to_json
from hotline.storage import PRIORITY_MAIL, NewMessage, OutboxRow

PURPOSE = "mail_drill"


def mail_key(run_id: int, member: str) -> str:
    return f"mail:drill:{run_id}:{member}"


class DrillMail(MailFallback):
    def rows(
        self, drill: sqlite3.Row, run_id: int, targets: Sequence[Member], deadline: datetime
    ) -> list[NewMessage]:
        """One waiting mail per target with an address (joins the firing's transaction)."""
        now = self.clock.now()
        due = self.due()
        return [
            NewMessage(
                dedupe_key=mail_key(run_id, p.key),
                purpose=PURPOSE,
                # a real roll-call's mail with report mails; a drill's after every real message
                priority=PRIORITY_MAIL if drill["kind"] == "real" else priority(drill["kind"]),
                content=self._content(
                    drill, run_id, p.email, p.key, p.name, p.municipality_code, deadline, self._late(), now
                ),
                channel="mail",
                address=p.email,
                instruction=to_json(MailDrillCheck(run_id, p.key)),
                next_attempt_at=due,
            )
            for p in targets
            if p.email
        ]

    def with_late_marks(self, questions: Sequence[NewMessage], run_id: int) -> list[NewMessage]:
        """The run's first questions, each to say it came late if its mail went first."""
        return [
            replace(q, instruction=to_json(DrillLateMark(run_id, q.user_id or "")))
            if q.instruction is None and q.user_id
            else q
            for q in questions
        ]

    def late_mark(
        self, row: OutboxRow, check: DrillLateMark, content: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The question as it is; with a first line saying it arrives late when its mail went
        first; None (cancelled) when the person has answered meanwhile, from the mail's link."""
        key = mail_key(check.run_id, check.member)
        mailed = [
            m
            for m in self.storage.outbox_with_prefix(key)
            if m["dedupe_key"] == key and m["status"] == "sent"
        ]
        if not mailed:
            return content
        if any(
            a["member_key"] == check.member and a["question"] == "safety"
            for a in self.storage.answers(check.run_id)
        ):
            return None
        return with_first_line(content, msg.late_mark(parse_iso(mailed[0]["sent_at"])))

    def _late(self) -> str:
        return msg.MAIL_DRILL_LATE.format(minutes=self.minutes)

    def _content(
        self,
        drill: sqlite3.Row,
        run_id: int,
        email: str,
        member: str,
        name: str,
        municipality: str | None,
        deadline: datetime,
        why: str,
        now: datetime,
    ) -> dict[str, Any]:
        subject, text = msg.mail_drill(
            name=name,
            kind=drill["kind"],
            title=drill["title"],
            deadline=deadline,
            why=why,
            link=self.signer.url("drill", run_id, member, now),
            hq=self.config().hq_name,
        )
        return mail_content(
            to=email,
            subject=subject,
            text=text,
            member=member,
            name=name,
            municipality=municipality,
        )

    def _latest_questions(self, run_id: int) -> dict[str, sqlite3.Row]:
        latest: dict[str, sqlite3.Row] = {}
        for row in self.storage.run_questions(run_id):  # oldest first: a 再送 replaces the earlier
            if row["user_id"]:
                latest[row["user_id"]] = row
        return latest

    def follow(self, run: sqlite3.Row) -> int:
        """Bring forward the mails of targets whose question failed for good (未達)."""
        failed = {key for key, row in self._latest_questions(run["id"]).items() if row["status"] == "failed"}
        if not failed:
            return 0
        waiting = [
            m["id"]
            for m in self.storage.outbox_with_prefix(mail_key(run["id"], ""))
            if m["status"] == "pending" and m["attempts"] == 0 and _member_of(m) in failed
        ]
        return self.bring_forward(waiting)

    def _needed(self, run: sqlite3.Row, member: str) -> bool:
        """The run is open, the person has not answered, and their question has not arrived."""
        if run["status"] != "running" or parse_iso(run["deadline_at"]) <= self.clock.now():
            return False
        answers = self.storage.answers(run["id"])
        if any(a["member_key"] == member and a["question"] == "safety" for a in answers):
            return False
        question = self._latest_questions(run["id"]).get(member)
        return question is None or question["status"] != "sent"

    def before_mail(
        self, row: OutboxRow, check: MailDrillCheck, content: dict[str, Any]
    ) -> dict[str, Any] | None:
        """None (cancelled) when the question reached the person, they answered, or the run is
        over; else the mail with the reason and the answer link. A row a crash caught being sent
        may already have gone: it is sent again (at least once), never recorded as cancelled."""
        run = self.storage.run(check.run_id)
        drill = self.storage.drill(run["drill_id"]) if run is not None else None
        if run is None or drill is None:
            return None
        if not row.interrupted and not self._needed(run, check.member):
            return None
        question = self._latest_questions(check.run_id).get(check.member)
        if question is not None and question["status"] == "failed":
            why = msg.MAIL_DRILL_FAILED.format(reason=question["error"] or "")
        else:
            why = self._late()
        return self._content(
            drill,
            check.run_id,
            str(content.get("to") or row.address or ""),
            check.member,
            str(content.get("name") or ""),
            content.get("municipality"),
            parse_iso(run["deadline_at"]),
            why,
            self.clock.now(),
        )


def _member_of(mail: sqlite3.Row) -> str:
    return str(mail["dedupe_key"]).split(":", 3)[3]
