"""The questions' buttons and what comes back: signed answer postbacks, answers, comments
typed after an answer, and the reply to a tap that cannot be taken.

Answers are taps on buttons whose postback is signed with the bot secret, like the
acknowledgement button, so they cannot be forged for another run.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from hotline import messages, postbacks
from hotline.clock import Clock, iso, parse_iso
from hotline.config import Member
from hotline.domain.drills.model import ARRIVAL, SAFETY, DrillError, priority
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
    understood: str = "",
) -> dict[str, Any]:
    """One question with a signed button per choice; a reminder repeats the first one."""
    choices = json.loads(drill["questions"])[question]
    buttons = [(choice, sign(secret, run_id, question, i)) for i, choice in enumerate(choices)]
    return messages.drill_question(
        drill["kind"],
        drill["title"],
        question,
        deadline,
        buttons,
        first=first,
        reminder=reminder,
        understood=understood,
    )


def answer(
    storage: Storage, clock: Clock, secret: str, member: Member, data: str, *, via: str | None = None
) -> dict[str, Any] | None:
    """Record a tapped answer; returns the reply to send the person, or None when the
    postback is not a valid answer of a run that targets them. `via`: 'mail' for a button on
    the page of a fallback mail's link (the same signed data as the LINE WORKS button)."""
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
    storage.add_answer(run_id, member_key, asked, choices[index], iso(now), late, via=via)
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


# -- typed answers --------------------------------------------------------------------------------

_SAFETY_WORDS = (  # (choice, words that mean it); the first choice whose word appears wins
    (SAFETY[2], ("重傷", "大けが", "大怪我", "重症")),
    (SAFETY[1], ("軽傷", "軽いけが", "軽い怪我", "かすり傷", "軽症")),
    (SAFETY[0], ("無事", "ぶじ", "けがなし", "ケガなし", "怪我なし", "異常なし", "大丈夫", "元気")),
)
_CANNOT_WORDS = (
    "参集不可",
    "参集できない",
    "参集できません",
    "行けない",
    "行けません",
    "いけない",
    "いけません",
    "出られない",
    "出られません",
    "無理",
)
_NOW_WORDS = (
    "すぐ参集",
    "すぐ行",
    "すぐに行",
    "すぐいけ",
    "すぐ向か",
    "直ちに",
    "今すぐ",
    "到着済",
    "登庁済",
    "出勤済",
)
_KANJI_DIGITS = str.maketrans("一二三四五六七八九", "123456789")
_KANJI_TENS_RE = re.compile(r"([一二三四五六七八九]?)十([一二三四五六七八九]?)")
_HOURS_RE = re.compile(r"(\d+(?:\.\d+)?)\s*時間(半)?")
_MINUTES_RE = re.compile(r"(?<![時:\d])(\d+)\s*分")  # not the 30 of a clock time 9時30分


def _tens(match: re.Match[str]) -> str:
    """三十 -> 30, 十五 -> 15."""
    tens, ones = (int(d.translate(_KANJI_DIGITS)) if d else 0 for d in match.groups())
    return str((tens or 1) * 10 + ones)


def read_text(text: str) -> tuple[str | None, str | None]:
    """(safety, arrival) said clearly in a typed text, each None when not: 「無事です。30分で
    行けます」 is (無事, 30分以内); 「1時間半」 rounds up to 3時間以内; more than three hours,
    or two different safety words, is not clear."""
    plain = _KANJI_TENS_RE.sub(_tens, unicodedata.normalize("NFKC", text)).translate(_KANJI_DIGITS)
    said = [choice for choice, words in _SAFETY_WORDS if any(w in plain for w in words)]
    safety = said[0] if len(said) == 1 else None
    arrival: str | None = None
    if any(w in plain for w in _CANNOT_WORDS):
        arrival = ARRIVAL[4]
    elif any(w in plain for w in _NOW_WORDS):
        arrival = ARRIVAL[0]
    else:
        minutes: float | None = None
        if match := _HOURS_RE.search(plain):
            minutes = float(match.group(1)) * 60 + (30 if match.group(2) else 0)
        elif match := _MINUTES_RE.search(plain):
            minutes = float(match.group(1))
        if minutes is not None:
            limits = ((0, ARRIVAL[0]), (30, ARRIVAL[1]), (60, ARRIVAL[2]), (180, ARRIVAL[3]))
            arrival = next((choice for limit, choice in limits if minutes <= limit), None)
    return safety, arrival


def open_run_of(storage: Storage, member: Member) -> tuple[sqlite3.Row, sqlite3.Row, str] | None:
    """The newest running run that asks this person: (run, drill, their member key)."""
    identities = sorted({member.key, member.email, member.user_id} - {""})
    for run in reversed(storage.runs(status="running")):
        target = storage.target_of(run["id"], identities)
        drill = storage.drill(run["drill_id"])
        if target is not None and drill is not None:
            return run, drill, target["member_key"]
    return None


def typed(storage: Storage, clock: Clock, secret: str, member: Member, text: str) -> dict[str, Any] | None:
    """Text typed 1:1 by a target of an open roll-call: recorded when it says safety or
    arrival clearly, else a comment (within COMMENT_WINDOW of their answer), else a pointer
    to the buttons. None when no open roll-call asks them (then the text is not the drill's)."""
    found = open_run_of(storage, member)
    if found is None:
        return None
    run, drill, key = found
    safety, arrival = read_text(text)
    if safety is None and arrival is None:
        return None  # then a comment, or the pointer to the buttons (Drills.typed)
    now = clock.now()
    late = now > parse_iso(run["deadline_at"])
    for asked, choice in (("safety", safety), ("arrival", arrival)):
        if choice is not None:
            storage.add_answer(run["id"], key, asked, choice, iso(now), late)
    current = {a["question"]: a["answer"] for a in storage.answers_of(run["id"], key)}
    if "arrival" not in current:
        return question(
            secret,
            drill,
            run["id"],
            "arrival",
            parse_iso(run["deadline_at"]),
            first=False,
            understood=current.get("safety", ""),
        )
    return messages.drill_text_answer_received(
        drill["kind"], current.get("safety"), current.get("arrival"), late=late
    )


def pointer(storage: Storage, member: Member) -> dict[str, Any] | None:
    """For text during an open roll-call that is neither an answer nor a comment."""
    found = open_run_of(storage, member)
    return messages.drill_text_not_understood(found[1]["kind"]) if found is not None else None


# -- answers recorded on someone's behalf (代理回答) --------------------------------------------------


def proxy(
    storage: Storage,
    clock: Clock,
    run_id: int,
    member_key: str,
    *,
    safety: str,
    arrival: str,
    comment: str,
    recorded_by: str,
) -> None:
    """A coordinator records answers for a target who told them another way (phone, in
    person). Marked with `recorded_by` wherever the answer shows. DrillError (Japanese) for
    what cannot be taken; nothing is stored then."""
    run = storage.run(run_id)
    drill = storage.drill(run["drill_id"]) if run is not None else None
    if run is None or drill is None or run["status"] not in ("running", "closed"):
        raise DrillError("この回には代理回答を記録できません（実施中か締め切り済みの回だけです）。")
    if not any(t["member_key"] == member_key for t in storage.targets(run_id)):
        raise DrillError("この回の対象者ではありません。")
    questions = json.loads(drill["questions"])
    if safety and safety not in questions["safety"]:
        raise DrillError("安否の選択肢が正しくありません。")
    if arrival and arrival not in questions["arrival"]:
        raise DrillError("参集見込みの選択肢が正しくありません。")
    if not (safety or arrival or comment.strip()):
        raise DrillError("安否・参集見込み・コメントのどれかを入力してください。")
    now = clock.now()
    late = now > parse_iso(run["deadline_at"])
    with storage.transaction():
        for asked, value in (("safety", safety), ("arrival", arrival), ("comment", comment.strip()[:1000])):
            if value:
                storage.add_answer(run_id, member_key, asked, value, iso(now), late, recorded_by=recorded_by)


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
