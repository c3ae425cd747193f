"""The mail fallback of a report: when LINE WORKS cannot bring it to a town, e-mail does.

With mail on (`HOTLINE_SMTP_URL`), relaying a report also enqueues, in the same transaction,
one mail row per person with an e-mail address of every town it was sent to (the frozen
recipients: HQ included, the reporting town left out), due `HOTLINE_MAIL_FALLBACK_MINUTES`
later. Just before such a row goes, `before_mail` looks at the report's room rows: a town that
any of its rooms has delivered to has the report, so the mail is cancelled; otherwise the mail
goes, saying which rooms failed and why, or that they are still being retried, with a link to
acknowledge in a browser. A room that fails for good brings its towns' mails forward to now
(`after_delivery`, called after each room attempt). Because the decision is taken from the
database at send time and the rows are durable, a restart, even a kill -9, neither loses a
mail nor sends one whose town got the report meanwhile.

The room's own copy keeps being retried: when it finally arrives after mails went to people
of that room, its first line says it came late and when the mail went (`late_mark`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from hotline import messages as msg
from hotline.clock import parse_iso
from hotline.domain import recipients
from hotline.domain.mail import MailFallback, mail_content, with_first_line
from hotline.outbound.instructions import LateMark, MailFallbackCheck, to_json
from hotline.storage import PRIORITY_MAIL, NewMessage, OutboxRow

PURPOSE = "mail_report"


def mail_key(report_id: int, member: str) -> str:
    return f"mail:report:{report_id}:{member}"


class ReportMail(MailFallback):
    # -- at relay time -------------------------------------------------------------------------
    def with_fallback(
        self, rows: Sequence[NewMessage], report_id: int, found: recipients.Recipients, stricken: str
    ) -> list[NewMessage]:
        """The relay's rows, each room's copy marked to say when it arrives late, and one mail
        row per person with an address in every town but the reporting one, due after the wait.
        Joins the relay's transaction."""
        out = [
            replace(r, instruction=to_json(LateMark(report_id, r.room_key or "")))
            if r.purpose == "report" and r.instruction is None
            else r
            for r in rows
        ]
        report = self.storage.report(report_id)
        assert report is not None  # written in this transaction, just before
        now = self.clock.now()
        due = self.due()
        seen: set[str] = set()
        for town in (*found.towns, found.hq):
            if town.code == stricken:
                continue  # they wrote it
            for person in town.members:
                if not person.email or person.key in seen:
                    continue
                seen.add(person.key)
                why = msg.mail_why_late(self.minutes, [r.title for r in _rooms_of(found, town.code)])
                out.append(
                    NewMessage(
                        dedupe_key=mail_key(report_id, person.key),
                        purpose=PURPOSE,
                        priority=PRIORITY_MAIL,
                        content=self._content(
                            report, person.email, person.key, person.name, town.code, why, now
                        ),
                        report_id=report_id,
                        channel="mail",
                        address=person.email,
                        instruction=to_json(MailFallbackCheck(report_id, person.key, town.code)),
                        next_attempt_at=due,
                    )
                )
        return out

    def _content(
        self,
        report: sqlite3.Row,
        email: str,
        member: str,
        name: str,
        town: str,
        why: str,
        now: datetime,
    ) -> dict[str, Any]:
        """The mail row's content (the contract in docs/ARCHITECTURE.md, "Mail fallback")."""
        config = self.config()
        code = report["municipality_code"]
        body = report["text"]
        if code == recipients.HQ:  # an HQ instruction (domain/instructions): whom it is for
            addressed = json.loads(report["content"] or "{}").get("to", "")
            body = f"宛先: {addressed}\n\n{body}" if addressed else body
        subject, text = msg.mail_report(
            name=name,
            label=report["label"],
            town=recipients.place_name(config, code),
            role=report["poster_role"],
            poster=report["poster_name"],
            created=parse_iso(report["created_at"]),
            text_=body,
            why=why,
            link=self.signer.url("ack", report["id"], member, now),
            hq=config.hq_name,
        )
        return mail_content(
            to=email,
            subject=subject,
            text=text,
            member=member,
            name=name,
            municipality=None if town == recipients.HQ else town,
        )

    # -- just before a mail goes ----------------------------------------------------------------
    def before_mail(
        self, row: OutboxRow, check: MailFallbackCheck, content: dict[str, Any]
    ) -> dict[str, Any] | None:
        """None (cancelled) when a room of the person's town has delivered the report; else the
        mail, saying why it replaces LINE WORKS. A row a crash caught being sent may already
        have gone: it is sent again (at least once, as documented), never recorded as cancelled."""
        report = self.storage.report(check.report_id)
        if report is None:
            return None
        found = recipients.of_report(self.storage, self.config(), report)
        rooms = _rooms_of(found, check.town)
        deliveries = self.storage.deliveries(check.report_id)
        delivered = {r["room_key"] for r in deliveries if r["status"] == "sent"}
        if any(room.key in delivered for room in rooms) and not row.interrupted:
            return None
        latest = _latest_by_room(deliveries)
        failed = [
            (room.title, latest[room.key]["error"] or "")
            for room in rooms
            if room.key in latest and latest[room.key]["status"] == "failed"
        ]
        waiting = [
            room.title for room in rooms if room.key in latest and latest[room.key]["status"] != "failed"
        ]
        if failed:
            why = msg.mail_why_failed(failed)
        elif waiting:
            why = msg.mail_why_late(self.minutes, waiting)
        else:
            why = msg.NO_ROOM_FOR_PERSON + "。"
        return self._content(
            report,
            str(content.get("to") or row.address or ""),
            check.member,
            str(content.get("name") or ""),
            check.town,
            why,
            self.clock.now(),
        )

    # -- after each attempt of a room's copy ----------------------------------------------------
    def after_delivery(self, report_id: int) -> int:
        """A room that failed for good: the mails of the towns it reaches (that no other room
        has delivered to, or may still deliver to in its first try) go now rather than after
        the wait. Returns the rows brought forward."""
        rows = self.storage.deliveries(report_id)
        latest = _latest_by_room(rows)
        failed = {key for key, r in latest.items() if r["status"] == "failed"}
        if not failed:
            return 0
        # Only reports and HQ instructions sent with mail on have mails (not photos).
        mails = [
            m for m in self.storage.outbox_with_prefix(mail_key(report_id, "")) if m["status"] == "pending"
        ]
        report = self.storage.report(report_id)
        if not mails or report is None:
            return 0
        found = recipients.of_report(self.storage, self.config(), report)
        delivered = {r["room_key"] for r in rows if r["status"] == "sent"}
        # A room not tried yet, or being sent now, may still bring it: its own attempt calls
        # this again. (One being retried after an error does not: the town waits for nothing.)
        untried = {
            key
            for key, r in latest.items()
            if r["status"] == "sending" or (r["status"] == "pending" and r["attempts"] == 0)
        }
        towns = {t for room in found.rooms if room.key in failed for t in room.reaches}
        towns -= {t for room in found.rooms if room.key in delivered | untried for t in room.reaches}
        if not towns:
            return 0
        waiting = [m["id"] for m in mails if _town_of(m) in towns]
        return self.bring_forward(waiting)

    # -- the room's copy, late ------------------------------------------------------------------
    def late_mark(self, row: OutboxRow, check: LateMark, content: dict[str, Any]) -> dict[str, Any] | None:
        """The room's copy as it is, or with a first line saying it arrived late, when the report
        already went by mail to people of a town this room reaches."""
        report = self.storage.report(check.report_id)
        if report is None:
            return content
        found = recipients.of_report(self.storage, self.config(), report)
        reaches = next((set(r.reaches) for r in found.rooms if r.key == check.room_key), set())
        mailed = [
            parse_iso(m["sent_at"])
            for m in self.storage.outbox_with_prefix(mail_key(check.report_id, ""))
            if m["status"] == "sent" and _town_of(m) in reaches
        ]
        if not mailed:
            return content
        return with_first_line(content, msg.late_mark(min(mailed)))


def _rooms_of(found: recipients.Recipients, town: str) -> list[recipients.RoomTo]:
    return [room for room in found.rooms if town in room.reaches]


def _latest_by_room(rows: Sequence[sqlite3.Row]) -> dict[str, sqlite3.Row]:
    """The newest row of each room (a 再送 comes after the failed one)."""
    latest: dict[str, sqlite3.Row] = {}
    for r in rows:
        latest[r["room_key"] or ""] = r
    return latest


def _town_of(mail: sqlite3.Row) -> str:
    instruction = json.loads(mail["instruction"] or "{}")
    return str(instruction.get("town", ""))
