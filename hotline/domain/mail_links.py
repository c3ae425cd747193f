"""What a fallback mail's link opens (`/m/<token>`, hotline/web/pages/mail_links.py): the
report to acknowledge or the drill question to answer, and what the page's button does.

The link (domain/links.py) is the credential: it names what it is for (a report, a drill run)
and whom (the member key the mail went to), signed and expiring. Reading a page changes
nothing. The button is counted exactly like the LINE WORKS button: an acknowledgement goes
through `acknowledgements.record` (the person's 1:1 confirmation, the matrix, the overview and
the reminders see it like a tap), marked `acks.via = 'mail'`; a drill answer goes through
`Drills.answer` with the very postback the LINE WORKS button carries (answers.question), marked
`drill_answers.via = 'mail'`. A second press records nothing and says what was recorded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.clock import iso, jst_text, parse_iso
from hotline.config import Config, Member
from hotline.domain import acknowledgements, recipients
from hotline.domain.drills import Drills, answers
from hotline.domain.links import Link, LinkError, LinkSigner
from hotline.messages import drill_label
from hotline.storage import PRIORITY_REPLY, NewMessage, Storage

QUESTIONS = ("safety", "arrival")  # in the order the LINE WORKS buttons ask them
ANSWERABLE = ("running", "closed")  # as for a tap: after the deadline an answer is kept, late


class LinkProblem(Exception):
    """The link cannot be used: `reason` is forged (not ours, altered, or names nothing we
    know), expired, or aborted (the drill run was called off). The page says it in Japanese."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read(secret: str, token: str, now: datetime) -> Link:
    """The link behind a token, or LinkProblem (forged / expired)."""
    try:
        return LinkSigner(secret, "").read(token, now)
    except LinkError as exc:
        raise LinkProblem("expired" if exc.expired else "forged") from exc


def _when(value: str | None) -> str | None:
    return jst_text(value, "%Y-%m-%d %H:%M") if value else None


# -- acknowledging a report -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Ack:
    report: sqlite3.Row
    person: recipients.Person
    town: str


def _ack_subject(storage: Storage, config: Config, link: Link) -> _Ack:
    report = storage.report(link.subject) if link.kind == "ack" else None
    if report is None or report["kind"] == "attachment":
        raise LinkProblem("forged")
    sent_to = recipients.of_report(storage, config, report)
    person = sent_to.person_by_identity(link.member)
    if person is None:  # signed by us, but for someone the report was never for
        raise LinkProblem("forged")
    town = sent_to.town_name(report["municipality_code"]) or str(report["municipality_code"])
    return _Ack(report, person, town)


def ack_page(storage: Storage, config: Config, link: Link) -> dict[str, Any]:
    """What the page shows for a report: who reported what and when, the attachments (named,
    not shown: they are in LINE WORKS), and whether this person has acknowledged it."""
    found = _ack_subject(storage, config, link)
    report = found.report
    mine = next((a for a in storage.acks(report["id"]) if a["member_key"] == found.person.key), None)
    attachments = [
        r["label"]
        for r in storage.reports_of_incident(report["incident_id"])
        if r["kind"] == "attachment" and r["parent_report_id"] == report["id"]
    ]
    return {
        "kind": "ack",
        "label": report["label"],
        "town": found.town,
        "poster": f"{report['poster_role']} {report['poster_name']}",
        "createdAt": _when(report["created_at"]),
        "text": report["text"],
        "attachments": attachments,
        "name": found.person.name,
        "ackedAt": _when(mine["acked_at"]) if mine is not None else None,
        "ackedVia": mine["via"] if mine is not None else None,
    }


def acknowledge(
    storage: Storage,
    config: Config,
    link: Link,
    now: datetime,
    on_enqueue: Callable[[], None] = lambda: None,
) -> tuple[bool, dict[str, Any]]:
    """The page's 「確認しました」: recorded like a tap (once per person), marked by mail, and
    the person gets the same 1:1 confirmation in LINE WORKS as after a tap. (new, the page)."""
    found = _ack_subject(storage, config, link)
    person = found.person
    to = person.user_id or person.key  # LINE WORKS takes a userId or the e-mail login
    with storage.transaction():
        new, content = acknowledgements.record(
            storage,
            config,
            found.report,
            member_key=person.key,
            user_id=to,
            municipality_code=person.code,
            channel_id=None,
            via="mail",
            now=iso(now),
        )
        if new:
            storage.enqueue(
                [
                    NewMessage(
                        dedupe_key=f"mail-ack:{found.report['id']}:{person.key}",
                        purpose="reply",
                        priority=PRIORITY_REPLY,
                        content=content,
                        user_id=to,
                    )
                ],
                iso(now),
            )
    if new:
        on_enqueue()
    return new, ack_page(storage, config, link)


# -- answering a drill ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Drill:
    run: sqlite3.Row
    drill: sqlite3.Row
    member: Member
    key: str  # the member key the run knows them by


def _drill_subject(storage: Storage, config: Config, link: Link) -> _Drill:
    run = storage.run(link.subject) if link.kind == "drill" else None
    drill = storage.drill(run["drill_id"]) if run is not None else None
    target = storage.target_of(link.subject, [link.member]) if drill is not None else None
    if run is None or drill is None or target is None:
        raise LinkProblem("forged")
    if run["status"] not in ANSWERABLE:
        raise LinkProblem("aborted" if run["status"] == "aborted" else "forged")
    key = target["member_key"]
    # Drills.answer finds the target by the member's identities; someone removed from the
    # configuration since the run fired is still its target, known by the key it froze.
    member = config.member_by_identity(key) or Member(
        name=target["name"],
        role="",
        email="",
        user_id=key,
        municipality_code=target["municipality_code"],
        order=0,
    )
    return _Drill(run, drill, member, key)


def _current(storage: Storage, run_id: int, key: str) -> dict[str, sqlite3.Row]:
    """The latest answer of each question (history stays in the table)."""
    out: dict[str, sqlite3.Row] = {}
    for row in storage.answers_of(run_id, key):
        out[row["question"]] = row
    return out


def drill_page(storage: Storage, config: Config, secret: str, link: Link) -> dict[str, Any]:
    """What the page shows for a drill: the next unanswered question with the choices the LINE
    WORKS buttons offer (each with the same signed postback), and the answers so far."""
    found = _drill_subject(storage, config, link)
    current = _current(storage, found.run["id"], found.key)
    asked = next((q for q in QUESTIONS if q not in current), None)
    question = None
    if asked is not None:
        content = answers.question(
            secret,
            found.drill,
            found.run["id"],
            asked,
            parse_iso(found.run["deadline_at"]),
            first=asked == "safety",
        )
        question = {
            "name": asked,
            "text": content["contentText"],
            "choices": [{"label": a["label"], "data": a["postback"]} for a in content["actions"]],
        }
    return {
        "kind": "drill",
        "label": drill_label(found.drill["kind"]),
        "title": found.drill["title"],
        "real": found.drill["kind"] == "real",
        "name": found.member.name,
        "deadlineAt": _when(found.run["deadline_at"]),
        "closed": found.run["status"] == "closed",
        "question": question,
        "answers": [
            {"question": q, "answer": current[q]["answer"], "at": _when(current[q]["answered_at"])}
            for q in QUESTIONS
            if q in current
        ],
    }


def answer_drill(drills: Drills, config: Config, link: Link, data: str) -> tuple[bool, dict[str, Any]]:
    """A choice pressed on the page: `data` is the postback of that LINE WORKS button. Taken
    through `Drills.answer` like a tap, marked by mail, when it belongs to the link's run and
    the person has not answered that question yet; else nothing changes. (new, the page).
    LinkProblem("forged") for data that is not one of this run's buttons."""
    storage = drills.storage
    found = _drill_subject(storage, config, link)
    parsed = answers.parse_postback(drills.bot_secret, data)
    if parsed is None or parsed[0] != found.run["id"]:
        raise LinkProblem("forged")
    choices = json.loads(found.drill["questions"]).get(parsed[1], [])
    if not 0 <= parsed[2] < len(choices):
        raise LinkProblem("forged")
    with storage.transaction():
        if parsed[1] in _current(storage, found.run["id"], found.key):
            new = False  # a second press (or a reload of the answered page): already recorded
        else:
            new = drills.answer(found.member, data, via="mail") is not None
    return new, drill_page(storage, config, drills.bot_secret, link)
