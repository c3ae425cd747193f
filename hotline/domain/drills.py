"""Staff roll-call drills (職員参集訓練) and real roll-calls (実参集).

The database is the source of truth. `Drills.run_due()` is a plain function of the clock:
it fires runs whose time has come (each fire time at most once: `drill_runs` is unique on
drill and fire time), records fire times missed beyond the grace period and tells the
coordinator, enqueues reminders for the silent, and closes runs at their deadline with a
summary. The scheduler calls it every few seconds; tests call it with a fixed clock.

Every drill message starts with 【訓練】; a real roll-call's with 【実参集】 and never 【訓練】.
Answers are taps on buttons whose postback is signed with the bot secret, like the
acknowledgement button, so they cannot be forged for another run.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import logging
import random
import re
import sqlite3
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from hotline.clock import JST, Clock, iso, jst, parse_iso
from hotline.config import Config, Member
from hotline.config.counterparts import hq_rooms, room_members
from hotline.storage import PRIORITY_DRILL, PRIORITY_NOTICE, PRIORITY_REAL_CALL, NewMessage, Storage

log = logging.getLogger(__name__)

SAFETY = ("無事", "軽傷", "重傷")
ARRIVAL = ("すぐ参集可", "30分以内", "1時間以内", "3時間以内", "参集不可")
# Minutes until on site, for the arrival forecast (None: cannot come).
ARRIVAL_MINUTES: dict[str, int | None] = {
    "すぐ参集可": 0,
    "30分以内": 30,
    "1時間以内": 60,
    "3時間以内": 180,
    "参集不可": None,
}
DEFAULT_QUESTIONS = {"safety": list(SAFETY), "arrival": list(ARRIVAL)}
DEFAULT_GRACE = timedelta(minutes=15)
_POSTBACK_RE = re.compile(r"^drill:(\d{1,12}):(safety|arrival):(\d{1,2}):([0-9a-f]{12})$")


class DrillError(ValueError):
    """A drill definition that cannot be accepted; the message says why (in Japanese)."""


@dataclass(frozen=True)
class Targets:
    municipalities: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    rooms: tuple[str, ...] = ()
    members: tuple[str, ...] = ()  # e-mails or userIds

    def resolve(self, config: Config) -> list[Member]:
        """Everyone targeted, each once, in config order. Roles narrow the municipalities
        (all deputy mayors of these towns); roles alone mean that role everywhere."""
        chosen: dict[str, Member] = {}
        towns = self.municipalities or (tuple(config.municipalities) if self.roles else ())
        for code in towns:
            if code not in config.municipalities:
                continue  # removed from the configuration since the drill was defined
            for person in config.municipalities[code].members:
                if not self.roles or person.role in self.roles:
                    chosen.setdefault(person.key, person)
        for key in self.rooms:
            room = next((r for r in config.rooms if r.key == key), None)
            if room is None:
                continue
            for person in room_members(config, room):
                chosen.setdefault(person.key, person)
        for identity in self.members:
            found = config.member_by_identity(identity)
            if found is not None:
                chosen.setdefault(found.key, found)
        return list(chosen.values())

    def check(self, config: Config) -> None:
        unknown = [c for c in self.municipalities if c not in config.municipalities]
        unknown += [r for r in self.rooms if not any(room.key == r for room in config.rooms)]
        unknown += [m for m in self.members if config.member_by_identity(m) is None]
        if unknown:
            raise DrillError("対象に見つからないものがあります: " + "、".join(unknown))
        if not self.resolve(config):
            raise DrillError("対象者が0人です。市町・役職・部屋・職員のいずれかを指定してください。")


def sign(secret: str, run_id: int, question: str, index: int) -> str:
    body = f"drill:{run_id}:{question}:{index}"
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:12]
    return f"{body}:{mac}"


def parse_postback(secret: str, data: str) -> tuple[int, str, int] | None:
    """(run id, question, choice index) of a valid drill answer postback, else None."""
    match = _POSTBACK_RE.match(data)
    if not match:
        return None
    run_id, question, index = int(match.group(1)), match.group(2), int(match.group(3))
    if not hmac.compare_digest(sign(secret, run_id, question, index), data):
        return None
    return run_id, question, index


def send_time_text(minutes: float) -> str:
    return "1分以内" if minutes < 1 else f"約{minutes}分"


def send_minutes(targets: int, per_minute_limit: int) -> float:
    """How long sending the roll-call takes at the sustained 1:1 rate (half the limit)."""
    return round(targets / (per_minute_limit / 2), 1)


def label(kind: str) -> str:
    return "【実参集】" if kind == "real" else "【訓練】"


def priority(kind: str) -> int:
    """A real roll-call goes right after reports; a drill after every real message."""
    return PRIORITY_REAL_CALL if kind == "real" else PRIORITY_DRILL


COMMENT_WINDOW = timedelta(minutes=30)  # a typed text counts as a comment this long after an answer


def crontab(expression: str) -> CronTrigger:
    """A crontab in JST with crontab's weekday numbers (0 or 7 = Sunday, 1 = Monday):
    APScheduler counts 0 as Monday, so numbers are turned into names first."""
    fields = expression.split()
    if len(fields) == 5:
        names = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        fields[4] = re.sub(
            r"\d+", lambda m: names[int(m.group())] if int(m.group()) <= 7 else m.group(), fields[4]
        )
    return CronTrigger.from_crontab(" ".join(fields), timezone=JST)


class Drills:
    def __init__(
        self,
        storage: Storage,
        config: Callable[[], Config],
        clock: Clock,
        *,
        bot_secret: str,
        per_minute_limit: int = 240,
        grace: timedelta = DEFAULT_GRACE,
        on_enqueue: Callable[[], None] = lambda: None,
        rng: random.Random | None = None,
    ) -> None:
        self.storage = storage
        self.config = config
        self.clock = clock
        self.bot_secret = bot_secret
        self.per_minute_limit = per_minute_limit
        self.grace = grace
        self.on_enqueue = on_enqueue
        self.rng = rng or random.SystemRandom()

    # -- defining ------------------------------------------------------------------------
    def create(
        self,
        *,
        title: str,
        targets: Targets,
        created_by: str,
        kind: str = "drill",
        at: datetime | None = None,
        cron: str | None = None,
        window: tuple[datetime, datetime] | None = None,
        deadline_minutes: int = 60,
        remind_minutes: tuple[int, ...] = (10, 20),
        report_channel_id: str = "",
    ) -> int:
        """Define a drill. Exactly one of `at`, `cron`, `window` (or none: run now).
        Raises DrillError (Japanese message) on a bad definition; nothing is stored then."""
        config = self.config()
        now = self.clock.now()
        if not title.strip():
            raise DrillError("訓練の名前を入力してください。")
        if kind not in ("drill", "real"):
            raise DrillError("種別は「訓練」か「実参集」です。")
        targets.check(config)
        if sum(x is not None for x in (at, cron, window)) > 1:
            raise DrillError("日時・繰り返し・抜き打ちの期間は、どれか一つだけ指定してください。")
        if not 5 <= deadline_minutes <= 24 * 60:
            raise DrillError("締め切りは5分から24時間の間で指定してください。")
        if any(not 0 < m < deadline_minutes for m in remind_minutes):
            raise DrillError("催促の時刻は、開始後かつ締め切り前にしてください。")
        fields: dict[str, Any] = {"schedule": "now", "run_at": iso(now)}
        if at is not None:
            if at < now - self.grace:
                raise DrillError("過去の日時は指定できません。")
            fields = {"schedule": "once", "run_at": iso(at)}
        elif cron is not None:
            try:
                crontab(cron)
            except ValueError:
                raise DrillError(f"繰り返しの指定「{cron}」を読めません（例: 0 9 1-7 * mon）。") from None
            fields = {"schedule": "cron", "cron": cron, "run_at": None}
        elif window is not None:
            start, end = window
            if not now <= start < end:
                raise DrillError("抜き打ちの期間は、これから先の開始と、それより後の終了を指定してください。")
            # The moment is drawn now and kept out of every view until it has fired.
            moment = start + (end - start) * self.rng.random()
            fields = {
                "schedule": "window",
                "run_at": iso(moment),
                "window_start": iso(start),
                "window_end": iso(end),
            }
        with self.storage.transaction():
            return self.storage.create_drill(
                title=title.strip(),
                kind=kind,
                targets={
                    "municipalities": list(targets.municipalities),
                    "roles": list(targets.roles),
                    "rooms": list(targets.rooms),
                    "members": list(targets.members),
                },
                questions=DEFAULT_QUESTIONS,
                deadline_minutes=deadline_minutes,
                remind_minutes=list(remind_minutes),
                report_channel_id=report_channel_id,
                status="scheduled",
                created_by=created_by,
                created_at=iso(now),
                last_checked_at=iso(now),
                **fields,
            )

    def cancel(self, drill_id: int) -> bool:
        """Stop a drill from firing again (running runs are aborted with `abort`)."""
        drill = self.storage.drill(drill_id)
        if drill is None or drill["status"] != "scheduled":
            return False
        with self.storage.transaction():
            self.storage.set_drill(drill_id, status="cancelled")
        return True

    def request_now(self, drill_id: int) -> bool:
        """Run a drill as soon as the server next looks (the command line has no secrets, so
        it asks rather than fires). A one-off drill not yet run is moved to now; a recurring
        one gets an extra one-off copy."""
        drill = self.storage.drill(drill_id)
        if drill is None or drill["status"] == "cancelled" or self.storage.runs(drill_id, status="running"):
            return False
        now = iso(self.clock.now())
        with self.storage.transaction():
            if drill["schedule"] == "cron" or drill["status"] == "done":
                skip = ("id", "cron", "window_start", "window_end")
                fields = {k: drill[k] for k in drill.keys() if k not in skip}  # noqa: SIM118 - a sqlite3.Row
                fields.update(
                    schedule="now",
                    run_at=now,
                    created_at=now,
                    last_checked_at=now,
                    created_by="run-now",
                    status="scheduled",
                )
                self.storage.create_drill(**fields)
            else:
                self.storage.set_drill(drill_id, schedule="now", run_at=now)
        return True

    # -- the clock's work ------------------------------------------------------------------
    def run_due(self) -> list[int]:
        """Fire what is due, record what was missed, remind the silent, close at deadlines.
        Returns the ids of runs fired now."""
        fired = []
        now = self.clock.now()
        for drill in self.storage.drills("scheduled"):
            try:  # one broken drill must not stop the others
                for moment in self._due_times(drill, now):
                    run_id = self._fire_or_miss(drill, moment, now)
                    if run_id is not None:
                        fired.append(run_id)
            except Exception:
                log.exception("drill %s could not be run", drill["id"])
        for run in self.storage.runs(status="running"):
            try:
                if parse_iso(run["deadline_at"]) <= now:
                    self.close(run["id"])
                else:
                    self._remind(run, now)
            except Exception:
                log.exception("drill run %s could not be followed", run["id"])
        return fired

    def _due_times(self, drill: sqlite3.Row, now: datetime) -> list[datetime]:
        if drill["schedule"] in ("once", "window", "now"):
            moment = parse_iso(drill["run_at"])
            return [moment] if moment <= now and not self.storage.runs(drill["id"]) else []
        trigger = crontab(drill["cron"])
        times: list[datetime] = []
        last = parse_iso(drill["last_checked_at"])
        moment = trigger.get_next_fire_time(None, jst(last) + timedelta(microseconds=1))
        while moment is not None and moment <= now and len(times) < 100:
            times.append(moment)
            moment = trigger.get_next_fire_time(None, moment + timedelta(seconds=1))
        with self.storage.transaction():
            self.storage.set_drill(drill["id"], last_checked_at=iso(now))
        return times

    def _fire_or_miss(self, drill: sqlite3.Row, moment: datetime, now: datetime) -> int | None:
        if now - moment > self.grace:
            with self.storage.transaction():
                run_id = self.storage.create_run(drill["id"], iso(moment), "missed")
                if drill["schedule"] in ("once", "window", "now"):
                    self.storage.set_drill(drill["id"], status="done")
                if run_id is not None:
                    self._to_coordinator(
                        drill,
                        f"missed:{run_id}",
                        (
                            f"{label(drill['kind'])}「{drill['title']}」は {jst(moment):%m月%d日 %H:%M} に"
                            "実施する予定でしたが、"
                            "サーバーが停止していたため実施できませんでした。必要なら改めて実施してください。"
                        ),
                    )
            self.on_enqueue()
            return None
        return self.fire(drill["id"], moment)

    def fire(self, drill_id: int, moment: datetime | None = None) -> int | None:
        """Start a run: every target gets the first question 1:1. None if already fired."""
        drill = self.storage.drill(drill_id)
        if drill is None:
            return None
        config = self.config()
        now = self.clock.now()
        moment = moment or now
        targets = Targets(**{k: tuple(v) for k, v in json.loads(drill["targets"]).items()}).resolve(config)
        deadline = now + timedelta(minutes=drill["deadline_minutes"])
        if self.storage.runs(drill_id, status="running"):
            log.warning("drill %s is still running; not fired again at %s", drill_id, iso(moment))
            return None
        with self.storage.transaction():
            run_id = self.storage.create_run(
                drill_id, iso(moment), "running", fired_at=iso(now), deadline_at=iso(deadline)
            )
            if run_id is None:
                return None
            self.storage.add_targets(run_id, [(p.key, p.name, p.municipality_code) for p in targets])
            rows = [
                NewMessage(
                    dedupe_key=f"drill:{run_id}:ask:{p.key}",
                    purpose="drill",
                    priority=priority(drill["kind"]),
                    content=self._question(drill, run_id, "safety", deadline, first=True),
                    user_id=p.key,
                )
                for p in targets
            ]
            self.storage.enqueue(rows, iso(now))
            if drill["schedule"] in ("once", "window", "now"):
                self.storage.set_drill(drill_id, status="done")
            minutes = send_minutes(len(targets), self.per_minute_limit)
            self._to_coordinator(
                drill,
                f"fired:{run_id}",
                (
                    f"{label(drill['kind'])}「{drill['title']}」を開始しました（{jst(now):%H:%M}）。"
                    f"対象 {len(targets)}人、送信には{send_time_text(minutes)}かかります。"
                    f"締め切り {jst(deadline):%H:%M}。"
                ),
            )
        self.on_enqueue()
        return run_id

    def _question(
        self, drill: sqlite3.Row, run_id: int, question: str, deadline: datetime, *, first: bool
    ) -> dict[str, Any]:
        choices = json.loads(drill["questions"])[question]
        head = label(drill["kind"])
        if question == "safety":
            intro = (
                f"{head}{drill['title']}\n職員参集の確認です。{jst(deadline):%H:%M}までに回答してください。\n\n"
                if first
                else f"{head}"
            )
            text = intro + "1. あなたの安否を選んでください。"
        else:
            text = f"{head}2. 参集（職場に到着）できるのはいつ頃ですか。"
        return {
            "type": "button_template",
            "contentText": text[:1000],
            "actions": [
                {
                    "type": "message",
                    "label": choice,
                    "text": choice,
                    "postback": sign(self.bot_secret, run_id, question, i),
                }
                for i, choice in enumerate(choices)
            ],
        }

    def _to_coordinator(self, drill: sqlite3.Row, key: str, text: str) -> None:
        """A notice to the drill's report room, or to the HQ rooms."""
        config = self.config()
        channels = (
            [drill["report_channel_id"]]
            if drill["report_channel_id"]
            else [r.channel_id for r in hq_rooms(config) if r.channel_id]
        )
        self.storage.enqueue(
            [
                NewMessage(
                    dedupe_key=f"drillnotice:{drill['id']}:{key}:{c}",
                    purpose="notice",
                    priority=PRIORITY_NOTICE,
                    content={"type": "text", "text": text[:2000]},
                    channel_id=c,
                )
                for c in channels
            ],
            iso(self.clock.now()),
        )

    def _remind(self, run: sqlite3.Row, now: datetime) -> None:
        drill = self.storage.drill(run["drill_id"])
        if drill is None:
            return
        fired = parse_iso(run["fired_at"])
        answered = {a["member_key"] for a in self.storage.answers(run["id"]) if a["question"] == "safety"}
        rows = []
        for minutes in json.loads(drill["remind_minutes"]):
            if now < fired + timedelta(minutes=minutes):
                continue
            for target in self.storage.targets(run["id"]):
                key = f"drill:{run['id']}:remind{minutes}:{target['member_key']}"
                if target["member_key"] in answered or self.storage.has_message(key):
                    continue
                content = self._question(
                    drill, run["id"], "safety", parse_iso(run["deadline_at"]), first=True
                )
                content["contentText"] = (
                    f"{label(drill['kind'])}まだ回答がありません。\n"
                    + content["contentText"][len(label(drill["kind"])) :]
                )
                content["hotline"] = {"drillReminder": {"runId": run["id"], "member": target["member_key"]}}
                rows.append(
                    NewMessage(
                        dedupe_key=key,
                        purpose="drill",
                        priority=priority(drill["kind"]),
                        content=content,
                        user_id=target["member_key"],
                    )
                )
        if rows:
            with self.storage.transaction():
                self.storage.enqueue(rows, iso(now))
            self.on_enqueue()

    def before_send(self, meta: dict[str, Any]) -> bool:
        """Whether a drill reminder is still needed: not after an answer, not after the
        deadline, not for a run that was aborted."""
        target = meta["drillReminder"]
        run = self.storage.run(int(target["runId"]))
        if run is None or run["status"] != "running" or parse_iso(run["deadline_at"]) <= self.clock.now():
            return False
        return not any(
            a["member_key"] == target["member"] and a["question"] == "safety"
            for a in self.storage.answers(run["id"])
        )

    # -- answers ---------------------------------------------------------------------------
    def answer(self, member: Member, data: str) -> dict[str, Any] | None:
        """Record a tapped answer; returns the reply to send the person, or None when the
        postback is not a valid answer of a run that targets them."""
        parsed = parse_postback(self.bot_secret, data)
        if parsed is None:
            return None
        run_id, question, index = parsed
        run = self.storage.run(run_id)
        drill = self.storage.drill(run["drill_id"]) if run is not None else None
        if run is None or drill is None or run["status"] not in ("running", "closed"):
            return None
        identities = sorted({member.key, member.email, member.user_id} - {""})
        target = self.storage.target_of(run_id, identities)
        if target is None:
            return None
        member_key = target["member_key"]  # as the run knew them (the config may have changed)
        choices = json.loads(drill["questions"])[question]
        if not 0 <= index < len(choices):
            return None
        now = self.clock.now()
        late = now > parse_iso(run["deadline_at"])
        self.storage.add_answer(run_id, member_key, question, choices[index], iso(now), late)
        head = label(drill["kind"])
        mine = self.storage.answers_of(run_id, member_key)
        if question == "safety" and not any(a["question"] == "arrival" for a in mine):
            return self._question(drill, run_id, "arrival", parse_iso(run["deadline_at"]), first=False)
        current = {a["question"]: a["answer"] for a in mine}  # the latest of each
        text = (
            f"{head}回答を受け付けました: "
            f"{current.get('safety', '未回答')}・{current.get('arrival', '未回答')}"
            + ("（締め切り後の回答として記録しました）" if late else "")
            + "\n変更するときは、もう一度ボタンを押してください。"
            + "コメントがあれば30分以内にこのまま書いて送ってください。"
        )
        return {"type": "text", "text": text}

    def comment(self, member: Member, text: str) -> dict[str, Any] | None:
        """A free comment typed 1:1 within COMMENT_WINDOW of the person's last answer; it
        belongs to that answer's run. Anything later is not a drill comment (None)."""
        identities = [i for i in {member.key, member.email, member.user_id} if i]
        last = self.storage.last_answer_by(identities)
        now = self.clock.now()
        if last is None or now - parse_iso(last["answered_at"]) > COMMENT_WINDOW:
            return None
        run = self.storage.run(last["run_id"])
        drill = self.storage.drill(run["drill_id"]) if run is not None else None
        if run is None or drill is None:
            return None
        self.storage.add_answer(
            run["id"],
            last["member_key"],
            "comment",
            text[:1000],
            iso(now),
            now > parse_iso(run["deadline_at"]),
        )
        return {"type": "text", "text": f"{label(drill['kind'])}コメントを受け付けました。"}

    def priority_of(self, data: str) -> int:
        """The outbox priority for replies to this answer: a real call's stay ahead of drills."""
        parsed = parse_postback(self.bot_secret, data)
        run = self.storage.run(parsed[0]) if parsed else None
        drill = self.storage.drill(run["drill_id"]) if run is not None else None
        return priority(drill["kind"]) if drill is not None else PRIORITY_DRILL

    def refusal(self, data: str) -> dict[str, Any]:
        """What to tell someone whose tap could not be taken, in the run's own label."""
        parsed = parse_postback(self.bot_secret, data)
        run = self.storage.run(parsed[0]) if parsed else None
        drill = self.storage.drill(run["drill_id"]) if run is not None else None
        head = label(drill["kind"]) if drill is not None else ""
        if run is not None and run["status"] == "aborted":
            return {"type": "text", "text": f"{head}この訓練は中止されました。回答は不要です。"}
        return {
            "type": "text",
            "text": f"{head}この回答は受け付けられませんでした（対象者でないか、ボタンが正しくありません）。"
            "担当者に確認してください。",
        }

    def current_answers(self, run_id: int) -> dict[str, dict[str, str]]:
        """member -> question -> latest answer (history stays in the table)."""
        out: dict[str, dict[str, str]] = {}
        for a in self.storage.answers(run_id):
            out.setdefault(a["member_key"], {})[a["question"]] = a["answer"]
        return out

    # -- ending -------------------------------------------------------------------------------
    def abort(self, run_id: int) -> bool:
        """Stop a running run: pending messages are cancelled and every target is told."""
        run = self.storage.run(run_id)
        drill = self.storage.drill(run["drill_id"]) if run else None
        if run is None or drill is None:
            return False
        now = iso(self.clock.now())
        with self.storage.transaction():
            if not self.storage.set_run(
                run_id, "running", status="aborted", summary=json.dumps(self.summary(run_id))
            ):
                return False
            self.storage.cancel_pending(f"drill:{run_id}:", now, "中止")
            self.storage.enqueue(
                [
                    NewMessage(
                        dedupe_key=f"drill:{run_id}:aborted:{t['member_key']}",
                        purpose="drill",
                        priority=priority(drill["kind"]),
                        content={
                            "type": "text",
                            "text": f"{label(drill['kind'])}「{drill['title']}」は中止されました。"
                            "回答は不要です。",
                        },
                        user_id=t["member_key"],
                    )
                    for t in self.storage.targets(run_id)
                ],
                now,
            )
        self.on_enqueue()
        return True

    def close(self, run_id: int) -> bool:
        """At the deadline: compute the summary and send it to the coordinator's room."""
        run = self.storage.run(run_id)
        drill = self.storage.drill(run["drill_id"]) if run else None
        if run is None or drill is None:
            return False
        summary = self.summary(run_id)
        with self.storage.transaction():
            if not self.storage.set_run(
                run_id, "running", status="closed", summary=json.dumps(summary, ensure_ascii=False)
            ):
                return False
            self.storage.cancel_pending(f"drill:{run_id}:remind", iso(self.clock.now()), "締め切り")
            self._to_coordinator(drill, f"summary:{run_id}", summary_text(drill, summary))
        self.on_enqueue()
        return True

    def summary(self, run_id: int) -> dict[str, Any]:
        """Answer rate, safety counts, arrival forecast per municipality, the silent."""
        run = self.storage.run(run_id)
        config = self.config()
        targets = self.storage.targets(run_id)
        answers = self.storage.answers(run_id)
        current = self.current_answers(run_id)
        fired = parse_iso(run["fired_at"]) if run and run["fired_at"] else None
        first_answer: dict[str, datetime] = {}
        for a in answers:
            if a["question"] == "safety" and not a["late"]:
                first_answer.setdefault(a["member_key"], parse_iso(a["answered_at"]))
        answered = [t for t in targets if t["member_key"] in first_answer]
        towns: dict[str, dict[str, Any]] = {}
        for t in targets:
            code = t["municipality_code"] or "hq"
            name = config.municipalities[code].name if code in config.municipalities else config.hq_name
            town = towns.setdefault(
                code,
                {
                    "code": code,
                    "name": name,
                    "targets": 0,
                    "answered": 0,
                    "by30": 0,
                    "by60": 0,
                    "by180": 0,
                    "cannot": 0,
                },
            )
            town["targets"] += 1
            mine = current.get(t["member_key"], {})
            if t["member_key"] in first_answer:
                town["answered"] += 1
            minutes = ARRIVAL_MINUTES.get(mine.get("arrival", ""), -1)
            if minutes is None:
                town["cannot"] += 1
            elif minutes >= 0:
                for limit in (30, 60, 180):
                    if minutes <= limit:
                        town[f"by{limit}"] += 1
        safety = {choice: 0 for choice in SAFETY}
        for mine in current.values():
            if mine.get("safety") in safety:
                safety[mine["safety"]] += 1
        delays = sorted((at - fired).total_seconds() / 60 for at in first_answer.values()) if fired else []
        return {
            "targets": len(targets),
            "answered": len(answered),
            "answerRate": round(len(answered) / len(targets), 3) if targets else 0.0,
            "lateAnswers": sum(1 for a in answers if a["late"]),
            "safety": safety,
            "medianMinutesToAnswer": round(statistics.median(delays), 1) if delays else None,
            "municipalities": list(towns.values()),
            "silent": [t["name"] for t in targets if t["member_key"] not in first_answer],
        }

    def answer_curve(self, run_id: int) -> list[dict[str, Any]]:
        """Answer rate over time: one point per on-time answer (for the live chart)."""
        run = self.storage.run(run_id)
        targets = len(self.storage.targets(run_id))
        if run is None or not run["fired_at"] or not targets:
            return []
        fired = parse_iso(run["fired_at"])
        seen: set[str] = set()
        points = [{"minutes": 0.0, "rate": 0.0}]
        for a in self.storage.answers(run_id):
            if a["question"] == "safety" and not a["late"] and a["member_key"] not in seen:
                seen.add(a["member_key"])
                points.append(
                    {
                        "minutes": round((parse_iso(a["answered_at"]) - fired).total_seconds() / 60, 2),
                        "rate": round(len(seen) / targets, 3),
                    }
                )
        return points

    def csv(self, run_id: int) -> bytes:
        """Every answer, history included, UTF-8 with a BOM so that Excel reads Japanese."""
        names = {
            t["member_key"]: (t["name"], t["municipality_code"] or "") for t in self.storage.targets(run_id)
        }
        config = self.config()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["市町", "氏名", "質問", "回答", "回答日時（日本時間）", "締め切り後"])
        labels = {"safety": "安否", "arrival": "参集", "comment": "コメント"}

        def cell(value: str) -> str:
            # A comment such as =HYPERLINK(...) must stay text when Excel opens the file.
            return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

        for a in self.storage.answers(run_id):
            name, code = names.get(a["member_key"], (a["member_key"], ""))
            town = config.municipalities[code].name if code in config.municipalities else config.hq_name
            writer.writerow(
                [
                    town,
                    name,
                    labels[a["question"]],
                    cell(a["answer"]),
                    f"{jst(parse_iso(a['answered_at'])):%Y-%m-%d %H:%M:%S}",
                    "はい" if a["late"] else "",
                ]
            )
        return ("\ufeff" + out.getvalue()).encode("utf-8")

    def public(self, drill: sqlite3.Row) -> dict[str, Any]:
        """A drill as the API shows it: an unannounced drill's moment stays hidden until fired."""
        runs = self.storage.runs(drill["id"])
        hidden = drill["schedule"] == "window" and not runs
        return {
            "id": drill["id"],
            "title": drill["title"],
            "kind": drill["kind"],
            "schedule": drill["schedule"],
            "runAt": None if hidden else drill["run_at"],
            "cron": drill["cron"],
            "window": {"start": drill["window_start"], "end": drill["window_end"]}
            if drill["window_start"]
            else None,
            "status": drill["status"],
            "targets": json.loads(drill["targets"]),
            "deadlineMinutes": drill["deadline_minutes"],
            "remindMinutes": json.loads(drill["remind_minutes"]),
            "runs": [
                {
                    "id": r["id"],
                    "scheduledFor": r["scheduled_for"],
                    "firedAt": r["fired_at"],
                    "deadlineAt": r["deadline_at"],
                    "status": r["status"],
                }
                for r in runs
            ],
        }


def summary_text(drill: sqlite3.Row, s: dict[str, Any]) -> str:
    head = label(drill["kind"])
    lines = [
        f"{head}「{drill['title']}」の結果",
        f"回答率 {s['answered']}/{s['targets']}人（{s['answerRate'] * 100:.0f}%）",
        "安否: " + "、".join(f"{k} {v}人" for k, v in s["safety"].items()),
        "市町別の参集見込み（30分以内 / 1時間以内 / 3時間以内 / 参集不可）:",
    ]
    for t in s["municipalities"]:
        lines.append(
            f"・{t['name']}: {t['by30']} / {t['by60']} / {t['by180']} / {t['cannot']}"
            f"（回答 {t['answered']}/{t['targets']}）"
        )
    if s["silent"]:
        lines.append("未回答: " + "、".join(s["silent"]))
    return "\n".join(lines)[:2000]
