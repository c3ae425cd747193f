"""The Drills service: defining drills, and the clock's work on them.

The database is the source of truth. `Drills.run_due()` is a plain function of the clock:
it fires runs whose time has come (each fire time at most once: `drill_runs` is unique on
drill and fire time), records fire times missed beyond the grace period and tells the
coordinator, enqueues reminders for the silent, and closes runs at their deadline with a
summary. The scheduler calls it every few seconds; tests call it with a fixed clock.

Answers, comments and results live in their own modules; the methods here that only pass
through to them keep one object for the relay, the pages and the command line to hold.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hotline import messages
from hotline.clock import Clock, iso, parse_iso
from hotline.config import Config, Member
from hotline.config.counterparts import hq_rooms
from hotline.domain import webhooks
from hotline.domain.drills import answers, results, schedule
from hotline.domain.drills.fallback import DrillMail
from hotline.domain.drills.model import DEFAULT_QUESTIONS, KINDS, DrillError, priority
from hotline.domain.drills.targets import Targets
from hotline.metrics import Metrics
from hotline.outbound import ratelimit
from hotline.outbound.instructions import DrillReminderCheck, to_json
from hotline.storage import PRIORITY_NOTICE, NewMessage, OutboxRow, Storage

log = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(minutes=15)


def send_minutes(targets: int, per_minute_limit: int) -> float:
    """How long sending the roll-call takes, paced by LINE WORKS' rule (`outbound.ratelimit`):
    the peak rate for up to 30 minutes, then half."""
    return round(ratelimit.send_minutes(targets, per_minute_limit), 1)


def _role_title(config: Config, person: Member) -> str:
    """The person's title as the results show it (副市長, 本部員); a role the configuration does
    not name is kept as written rather than stopping the roll-call."""
    try:
        return config.role_label(person)
    except KeyError:
        return person.role


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
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()  # runs, questions, answers, reminders (/metrics)
        self.storage = storage
        self.config = config
        self.clock = clock
        self.bot_secret = bot_secret
        self.per_minute_limit = per_minute_limit
        self.grace = grace
        self.on_enqueue = on_enqueue
        self.rng = rng or random.SystemRandom()
        self.mail: DrillMail | None = None  # the mail fallback, when HOTLINE_SMTP_URL is set

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
        if kind not in KINDS:
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
                schedule.crontab(cron)
            except ValueError:
                raise DrillError(f"繰り返しの指定「{cron}」を読めません（例: 0 9 1-7 * mon）。") from None
            fields = {"schedule": "cron", "cron": cron, "run_at": None}
        elif window is not None:
            start, end = window
            if not now <= start < end:
                raise DrillError("抜き打ちの期間は、これから先の開始と、それより後の終了を指定してください。")
            fields = {
                "schedule": "window",
                "run_at": iso(schedule.draw_moment(start, end, self.rng)),
                "window_start": iso(start),
                "window_end": iso(end),
            }
        with self.storage.transaction():
            return self.storage.create_drill(
                title=title.strip(),
                kind=kind,
                targets=targets.stored(),
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
                    if self.mail is not None:
                        self.mail.follow(run)
            except Exception:
                log.exception("drill run %s could not be followed", run["id"])
        return fired

    def _due_times(self, drill: sqlite3.Row, now: datetime) -> list[datetime]:
        if drill["schedule"] in schedule.ONE_OFF:
            moment = parse_iso(drill["run_at"])
            return [moment] if moment <= now and not self.storage.runs(drill["id"]) else []
        times = schedule.fire_times(drill["cron"], parse_iso(drill["last_checked_at"]), now)
        with self.storage.transaction():
            self.storage.set_drill(drill["id"], last_checked_at=iso(now))
        return times

    def _fire_or_miss(self, drill: sqlite3.Row, moment: datetime, now: datetime) -> int | None:
        if now - moment > self.grace:
            with self.storage.transaction():
                run_id = self.storage.create_run(drill["id"], iso(moment), "missed")
                if drill["schedule"] in schedule.ONE_OFF:
                    self.storage.set_drill(drill["id"], status="done")
                if run_id is not None:
                    self._to_coordinator(
                        drill,
                        f"missed:{run_id}",
                        messages.drill_missed(drill["kind"], drill["title"], moment),
                    )
            if run_id is not None:
                self.metrics.drill_run("missed")
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
        targets = Targets.from_stored(json.loads(drill["targets"])).resolve(config)
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
            self.storage.add_targets(
                run_id, [(p.key, p.name, p.municipality_code, _role_title(config, p)) for p in targets]
            )
            rows = [
                NewMessage(
                    dedupe_key=f"drill:{run_id}:ask:{p.key}",
                    purpose="drill",
                    priority=priority(drill["kind"]),
                    content=answers.question(self.bot_secret, drill, run_id, "safety", deadline, first=True),
                    user_id=p.key,
                )
                for p in targets
            ]
            if self.mail is not None:  # a question that arrives after its mail says so
                rows = self.mail.with_late_marks(rows, run_id)
            self.storage.enqueue(rows, iso(now))
            if self.mail is not None:  # mails that wait, in case a question does not arrive
                self.storage.enqueue(self.mail.rows(drill, run_id, targets, deadline), iso(now))
            if drill["schedule"] in schedule.ONE_OFF:
                self.storage.set_drill(drill_id, status="done")
            minutes = send_minutes(len(targets), self.per_minute_limit)
            self._to_coordinator(
                drill,
                f"fired:{run_id}",
                messages.drill_started(drill["kind"], drill["title"], now, len(targets), minutes, deadline),
            )
        self.metrics.drill_run("fired")
        self.metrics.drill_questions.inc(len(rows))
        self.on_enqueue()
        return run_id

    def _to_coordinator(self, drill: sqlite3.Row, key: str, content: dict[str, Any]) -> None:
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
                    content=content,
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
                content = answers.question(
                    self.bot_secret,
                    drill,
                    run["id"],
                    "safety",
                    parse_iso(run["deadline_at"]),
                    first=True,
                    reminder=True,
                )
                rows.append(
                    NewMessage(
                        dedupe_key=key,
                        purpose="drill",
                        priority=priority(drill["kind"]),
                        content=content,
                        user_id=target["member_key"],
                        instruction=to_json(DrillReminderCheck(run["id"], target["member_key"])),
                    )
                )
        if rows:
            with self.storage.transaction():
                added = self.storage.enqueue(rows, iso(now))
            self.metrics.reminder("drill", "enqueued", added)
            self.on_enqueue()

    def before_reminder(
        self, row: OutboxRow, check: DrillReminderCheck, content: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A drill reminder goes only while it is still needed: not after an answer, not after
        the deadline, not for a run that was aborted."""
        run = self.storage.run(check.run_id)
        needed = (
            run is not None
            and run["status"] == "running"
            and parse_iso(run["deadline_at"]) > self.clock.now()
            and not any(
                a["member_key"] == check.member and a["question"] == "safety"
                for a in self.storage.answers(run["id"])
            )
        )
        if not needed:
            self.metrics.reminder("drill", "cancelled")
            return None
        return content

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
                        content=messages.drill_aborted(drill["kind"], drill["title"]),
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
            self._to_coordinator(
                drill, f"summary:{run_id}", messages.drill_summary(drill["kind"], drill["title"], summary)
            )
            now = self.clock.now()
            data = webhooks.drill_summary_data(drill, run, summary)
            hooks = webhooks.webhook_messages(
                self.config(), "drill_summary", data, now, key=f"drill_summary:{run_id}"
            )
            self.storage.enqueue(hooks, iso(now))
        self.on_enqueue()
        return True

    # -- answers and results (see answers.py and results.py) ------------------------------------
    def answer(self, member: Member, data: str, *, via: str | None = None) -> dict[str, Any] | None:
        reply = answers.answer(self.storage, self.clock, self.bot_secret, member, data, via=via)
        if reply is not None:
            self.metrics.drill_answer("answer")
        return reply

    def comment(self, member: Member, text: str) -> dict[str, Any] | None:
        reply = answers.comment(self.storage, self.clock, member, text)
        if reply is not None:
            self.metrics.drill_answer("comment")
        return reply

    def typed(self, member: Member, text: str) -> dict[str, Any] | None:
        """What a target of an open roll-call typed 1:1: an answer when it says so clearly, else
        a comment after their answer, else a pointer to the buttons. None: no drill of theirs
        is open and they answered nothing recently (the text is not the drill's)."""
        reply = answers.typed(self.storage, self.clock, self.bot_secret, member, text)
        if reply is not None:
            self.metrics.drill_answer("answer")
            return reply
        return self.comment(member, text) or answers.pointer(self.storage, member)

    def proxy(
        self, run_id: int, member_key: str, *, safety: str, arrival: str, comment: str, recorded_by: str
    ) -> None:
        """Record answers on a target's behalf (代理回答); DrillError (Japanese) when refused."""
        answers.proxy(
            self.storage,
            self.clock,
            run_id,
            member_key,
            safety=safety,
            arrival=arrival,
            comment=comment,
            recorded_by=recorded_by,
        )
        self.metrics.drill_answer("proxy")

    def resend(self, run_id: int, member_key: str) -> bool:
        """再送: ask a target again whose question failed for good (未達), as a new outbox row
        (the failed one stays as the record). False when the run is not running or the person
        is not 未達."""
        run = self.storage.run(run_id)
        drill = self.storage.drill(run["drill_id"]) if run is not None else None
        if run is None or drill is None or run["status"] != "running":
            return False
        if member_key not in results.undelivered(self.storage, run_id):
            return False
        tries = sum(1 for r in self.storage.run_questions(run_id) if r["user_id"] == member_key)
        now = self.clock.now()
        content = answers.question(
            self.bot_secret, drill, run_id, "safety", parse_iso(run["deadline_at"]), first=True
        )
        with self.storage.transaction():
            added = self.storage.enqueue(
                [
                    NewMessage(
                        dedupe_key=f"drill:{run_id}:ask:{member_key}:resend{tries}",
                        purpose="drill",
                        priority=priority(drill["kind"]),
                        content=content,
                        user_id=member_key,
                    )
                ],
                iso(now),
            )
        self.on_enqueue()
        return added == 1

    def people(self, run_id: int) -> list[dict[str, Any]]:
        return results.people(self.storage, self.config(), run_id)

    def priority_of(self, data: str) -> int:
        return answers.priority_of(self.storage, self.bot_secret, data)

    def refusal(self, data: str) -> dict[str, Any]:
        return answers.refusal(self.storage, self.bot_secret, data)

    def current_answers(self, run_id: int) -> dict[str, dict[str, str]]:
        return results.current_answers(self.storage, run_id)

    def summary(self, run_id: int) -> dict[str, Any]:
        return results.summary(self.storage, self.config(), run_id)

    def answer_curve(self, run_id: int) -> list[dict[str, Any]]:
        return results.answer_curve(self.storage, run_id)

    def csv(self, run_id: int) -> bytes:
        return results.csv(self.storage, self.config(), run_id)

    def public(self, drill: sqlite3.Row) -> dict[str, Any]:
        return results.public(self.storage, drill)
