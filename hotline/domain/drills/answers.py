"""The questions' buttons and what comes back: signed answer postbacks, answers, comments
typed after an answer, and the reply to a tap that cannot be taken.

Answers are taps on buttons whose postback is signed with the bot secret, like the
acknowledgement button, so they cannot be forged for another run.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from hotline import messages, postbacks
from hotline.clock import Clock, iso, parse_iso
from hotline.config import Member
from hotline.domain.drills.model import priority
from hotline.storage import PRIORITY_DRILL, Storage

COMMENT_WINDOW = timedelta(minutes=30)  # a typed text counts as a comment this long after an answer
_POSTBACK_RE = re.compile(r"^drill:(\d{1,12}):(safety|arrival):(\d{1,2}):([0-9a-f]{12})$")


def sign(secret: str, run_id: int, question: str, index: int) -> str:
    """`drill:<run>:<question>:<choice>:<mac>` (see hotline.postbacks)."""
    return postbacks.sign(secret, "drill", run_id, question, index)


def parse_postback(secret: str, data: str) -> tuple[int, str, int] | None:
    """(run id, question, choice index) of a valid drill answer postback, else None."""
    match = _POSTBACK_RE.match(data)
    if not match:
        return None
    run_id, question, index = int(match.group(1)), match.group(2), int(match.group(3))
    if not postbacks.verify(secret, data):
        return None
    return run_id, question, index


def question(
    secret: str,
    drill: sqlite3.Row,
    run_id: int,
    question: str,
    deadline: datetime,
    *,
    first: bool,
    reminder: bool = False,
) -> dict[str, Any]:
    """One question with a signed button per choice; a reminder repeats the first one."""
    choices = json.loads(drill["questions"])[question]
    buttons = [(choice, sign(secret, run_id, question, i)) for i, choice in enumerate(choices)]
    return messages.drill_question(
        drill["kind"], drill["title"], question, deadline, buttons, first=first, reminder=reminder
    )


def answer(storage: Storage, clock: Clock, secret: str, member: Member, data: str) -> dict[str, Any] | None:
    """Record a tapped answer; returns the reply to send the person, or None when the
    postback is not a valid answer of a run that targets them."""
    parsed = parse_postback(secret, data)
    if parsed is None:
        return None
    run_id, asked, index = parsed
    run = storage.run(run_id)
    drill = storage.drill(run["drill_id"]) if run is not None else None
    if run is None or drill is None or run["status"] not in ("running", "closed"):
        return None
    identities = sorted({member.key, member.email, member.user_id} - {""})
    target = storage.target_of(run_id, identities)
    if target is None:
        return None
    member_key = target["member_key"]  # as the run knew them (the config may have changed)
    choices = json.loads(drill["questions"])[asked]
    if not 0 <= index < len(choices):
        return None
    now = clock.now()
    late = now > parse_iso(run["deadline_at"])
    storage.add_answer(run_id, member_key, asked, choices[index], iso(now), late)
    mine = storage.answers_of(run_id, member_key)
    if asked == "safety" and not any(a["question"] == "arrival" for a in mine):
        return question(secret, drill, run_id, "arrival", parse_iso(run["deadline_at"]), first=False)
    current = {a["question"]: a["answer"] for a in mine}  # the latest of each
    return messages.drill_answer_received(
        drill["kind"], current.get("safety"), current.get("arrival"), late=late
    )


def comment(storage: Storage, clock: Clock, member: Member, text: str) -> dict[str, Any] | None:
    """A free comment typed 1:1 within COMMENT_WINDOW of the person's last answer; it
    belongs to that answer's run. Anything later is not a drill comment (None)."""
    identities = [i for i in {member.key, member.email, member.user_id} if i]
    last = storage.last_answer_by(identities)
    now = clock.now()
    if last is None or now - parse_iso(last["answered_at"]) > COMMENT_WINDOW:
        return None
    run = storage.run(last["run_id"])
    drill = storage.drill(run["drill_id"]) if run is not None else None
    if run is None or drill is None:
        return None
    storage.add_answer(
        run["id"],
        last["member_key"],
        "comment",
        text[:1000],
        iso(now),
        now > parse_iso(run["deadline_at"]),
    )
    return messages.drill_comment_received(drill["kind"])


def _run_and_drill(storage: Storage, secret: str, data: str) -> tuple[sqlite3.Row | None, sqlite3.Row | None]:
    parsed = parse_postback(secret, data)
    run = storage.run(parsed[0]) if parsed else None
    drill = storage.drill(run["drill_id"]) if run is not None else None
    return run, drill


def priority_of(storage: Storage, secret: str, data: str) -> int:
    """The outbox priority for replies to this answer: a real call's stay ahead of drills."""
    _, drill = _run_and_drill(storage, secret, data)
    return priority(drill["kind"]) if drill is not None else PRIORITY_DRILL


def refusal(storage: Storage, secret: str, data: str) -> dict[str, Any]:
    """What to tell someone whose tap could not be taken, in the run's own label."""
    run, drill = _run_and_drill(storage, secret, data)
    return messages.drill_answer_refused(
        drill["kind"] if drill is not None else None, aborted=run is not None and run["status"] == "aborted"
    )
