"""The relay: turn a stored event into reports and outbox rows, and tell the poster how it went.

`Relay.handle` runs for one inbox row. Outbound lookups it needs (who is this userId?) happen
first; then one transaction records the report, enqueues one outbox row per linked room and
marks the inbox row done, so a crash at any point either leaves the event to be processed
again or has everything needed to deliver it.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hotline import messages as msg
from hotline.clock import Clock, iso, jst, parse_iso
from hotline.config import Config, Member
from hotline.config.counterparts import hq_rooms, linked_rooms
from hotline.domain.acknowledgements import is_ack_word, sign_postback, verify_postback
from hotline.domain.drills import Drills
from hotline.inbound.events import BadEvent, Event, parse
from hotline.outbound.client import LineWorksClient, LineWorksError
from hotline.storage import (
    PRIORITY_DRILL,
    PRIORITY_NOTICE,
    PRIORITY_RECEIPT,
    PRIORITY_REPLY,
    PRIORITY_REPORT,
    NewMessage,
    Storage,
)

log = logging.getLogger(__name__)

_KANJI_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_TRIGGER_RE = re.compile(
    r"^\s*[#＃]?\s*【?\s*(?:第\s*(?P<n>[0-9]+|[一二三四五六七八九十]+)\s*報|(?P<cont>続報))"
    r"(?P<sep>\s*】?[\s:：、,，。]*)"
)
# After 第一報 / 続報, a particle means the word is being talked about, not a report:
# 「第一報は届きましたか」「続報をお待ちしています」.
_NOT_A_REPORT = ("は", "を", "の", "が", "も", "へ", "と", "に", "や", "って", "について", "として")


@dataclass(frozen=True)
class Trigger:
    number: int | None  # 1 for 第一報, N for 第N報, None for 続報
    label: str
    body: str

    @property
    def is_first(self) -> bool:
        return self.number == 1


def _kanji_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_KANJI_DIGITS.get(tens, 1) * 10) + _KANJI_DIGITS.get(ones, 0)
    return _KANJI_DIGITS.get(text, 0)


def parse_trigger(text: str) -> Trigger | None:
    """Recognise 第一報 / 【第一報】 / #第一報 / 第1報 / 第N報 / 続報 at the start of a message."""
    normal = unicodedata.normalize("NFKC", text)
    match = _TRIGGER_RE.match(normal)
    if not match:
        return None
    rest = normal[match.end() :]
    if not match.group("sep") and rest.startswith(_NOT_A_REPORT):
        return None  # no separator, and a particle follows: talk about reports
    body = rest.strip()
    if match.group("cont"):
        return Trigger(None, "続報", body)
    number = _kanji_number(match.group("n"))
    if number < 1:
        return None
    label = "第一報" if number == 1 else f"第{number}報"
    return Trigger(number, label, body)


IDENTITY_RETRY = timedelta(minutes=10)
MAX_EVENT_FAILURES = 5


class RetryLater(Exception):
    """The event cannot be processed now (LINE WORKS unreachable); keep it and try again."""


class Relay:
    def __init__(
        self,
        storage: Storage,
        config: Callable[[], Config],
        client: LineWorksClient,
        clock: Clock,
        *,
        bot_secret: str,
        attachment_window: timedelta = timedelta(minutes=10),
        on_enqueue: Callable[[], None] = lambda: None,
        drills: Drills | None = None,
    ) -> None:
        self.drills = drills
        self._failures: dict[int, int] = {}
        self.storage = storage
        self.config = config
        self.client = client
        self.clock = clock
        self.bot_secret = bot_secret
        self.attachment_window = attachment_window
        self.on_enqueue = on_enqueue

    # -- entry point ----------------------------------------------------------------------
    def process_pending(self, limit: int = 100, skip: set[int] | None = None) -> list[int]:
        """Process stored events in order; returns ids that must be retried later. One event
        that cannot be processed never blocks the ones behind it."""
        retry: list[int] = []
        for row in self.storage.pending_events(limit):
            if skip and row["id"] in skip:
                continue
            try:
                self.handle(row["id"], row["body"])
            except RetryLater as exc:
                log.warning("event %s kept for retry: %s", row["id"], exc)
                retry.append(row["id"])
            except Exception:
                log.exception("event %s could not be processed", row["id"])
                self._failures[row["id"]] = self._failures.get(row["id"], 0) + 1
                if self._failures[row["id"]] >= MAX_EVENT_FAILURES:
                    self._give_up(row["id"])
                else:
                    retry.append(row["id"])
        return retry

    def _give_up(self, inbox_id: int) -> None:
        """Mark an event that keeps failing, and tell HQ, so that a person looks at it."""
        now = iso(self.clock.now())
        config = self.config()
        rows = [
            NewMessage(
                dedupe_key=f"inbox-failed:{inbox_id}:{room.key}",
                purpose="notice",
                priority=PRIORITY_NOTICE,
                content=msg.event_failed(inbox_id),
                channel_id=room.channel_id,
                room_key=room.key,
            )
            for room in hq_rooms(config)
            if room.channel_id
        ]
        with self.storage.transaction():
            self.storage.finish_event(inbox_id, "failed", now, "could not be processed; HQ told")
            self.storage.enqueue(rows, now)
        self._failures.pop(inbox_id, None)
        self.on_enqueue()

    def handle(self, inbox_id: int, body: str) -> None:
        now = iso(self.clock.now())
        try:
            event = parse(body)
        except BadEvent as exc:
            self.storage.finish_event(inbox_id, "rejected", now, str(exc))
            return
        config = self.config()
        if event.type == "message":
            self._message(inbox_id, event, config)
        elif event.type == "postback":
            self._ack_postback(inbox_id, event, event.data or "", config)
        else:
            # join / joined / leave / left / begin / end and types LINE WORKS may add later:
            # kept in the inbox for the record; nothing to relay.
            self.storage.finish_event(inbox_id, "done", now, f"{event.type}: nothing to do")

    # -- who is this? ---------------------------------------------------------------------
    def resolve(self, user_id: str, config: Config) -> Member | None:
        """The member behind a userId: from the config, the cached directory lookup, or the
        users API (whose answer is cached). RetryLater when LINE WORKS cannot answer now.
        A lookup that found no e-mail is cached only for IDENTITY_RETRY, so a member whose
        lookup failed once (a scope not yet granted, say) is not refused for good."""
        member = config.member_by_identity(user_id)
        if member is not None:
            return member
        cached = self.storage.identity(user_id)
        now = self.clock.now()
        if cached is None or (
            not cached["email"] and now - parse_iso(cached["resolved_at"]) > IDENTITY_RETRY
        ):
            try:
                user = self.client.get_user(user_id)
            except LineWorksError as exc:
                if exc.retryable:
                    raise RetryLater(str(exc)) from None
                if exc.status != 404:
                    log.error(
                        "users API refused to look up %s: %s (is the user.read scope granted?)", user_id, exc
                    )
                user = {}
            email = str(user.get("email") or "").lower() or None if isinstance(user, dict) else None
            names = user.get("userName") if isinstance(user, dict) else None
            names = names if isinstance(names, dict) else {}
            name = f"{names.get('lastName', '')} {names.get('firstName', '')}".strip() or None
            self.storage.save_identity(user_id, email, name, iso(now))
            cached = self.storage.identity(user_id)
        if cached is not None and cached["email"]:
            return config.member_by_identity(cached["email"])
        return None

    # -- messages -------------------------------------------------------------------------
    def _message(self, inbox_id: int, event: Event, config: Config) -> None:
        now = iso(self.clock.now())
        if not event.user_id:
            self.storage.finish_event(inbox_id, "rejected", now, "message without source.userId")
            return
        if event.postback is not None:
            self._ack_postback(inbox_id, event, event.postback, config)
            return
        kind = event.content_type
        if kind == "text":
            trigger = parse_trigger(event.text)
            if trigger is not None:
                self._report(inbox_id, event, trigger, config)
            elif is_ack_word(event.text):
                self._ack_word(inbox_id, event, config)
            elif event.channel_id is None:
                self._one_to_one_text(inbox_id, event, config)
            else:
                # Ordinary conversation in a room: not for the bot.
                self.storage.finish_event(inbox_id, "done", now, "conversation")
        elif kind in ("image", "file", "location", "video", "audio"):
            self._attachment(inbox_id, event, kind, config)
        else:
            self.storage.finish_event(inbox_id, "done", now, f"message of type {kind}: ignored")

    def _reply(
        self,
        inbox_id: int,
        event: Event,
        content: dict[str, object],
        why: str,
        priority: int = PRIORITY_REPLY,
    ) -> None:
        """Answer the person where they wrote, and finish the event, in one transaction."""
        message = replace(self._reply_message(inbox_id, event, content, why), priority=priority)
        with self.storage.transaction():
            self.storage.enqueue([message], iso(self.clock.now()))
            self.storage.finish_event(inbox_id, "done", iso(self.clock.now()), why)
        self.on_enqueue()

    def _reply_message(self, inbox_id: int, event: Event, content: dict[str, object], why: str) -> NewMessage:
        return NewMessage(
            dedupe_key=f"reply:{inbox_id}",
            purpose="reply",
            priority=PRIORITY_REPLY,
            content=dict(content),
            channel_id=event.channel_id,
            user_id=None if event.channel_id else event.user_id,
        )

    def _report(self, inbox_id: int, event: Event, trigger: Trigger, config: Config) -> None:
        assert event.user_id is not None
        member = self.resolve(event.user_id, config)
        now_dt = self.clock.now()
        now = iso(now_dt)
        if member is None:
            with self.storage.transaction():
                self.storage.record_refusal(
                    "stranger",
                    now,
                    user_id=event.user_id,
                    channel_id=event.channel_id,
                    detail=event.text[:200],
                    inbox_id=inbox_id,
                )
            self._reply(inbox_id, event, msg.stranger(config.hq_contact), "stranger refused")
            return
        if member.municipality_code is None:
            self._reply(inbox_id, event, msg.hq_cannot_report(), "HQ member cannot report")
            return
        if not trigger.body:
            self._reply(inbox_id, event, msg.empty_report(trigger.label), "empty report")
            return
        code = member.municipality_code
        town = config.municipalities[code].name
        role = config.role_label(member)
        with self.storage.transaction():
            incident = None if trigger.is_first else self.storage.open_incident(code)
            incident_id = (
                incident["id"]
                if incident is not None
                else self.storage.create_incident(code, member.key, now)
            )
            report_id = self.storage.create_report(
                incident_id=incident_id,
                inbox_id=inbox_id,
                kind="first" if trigger.is_first else "followup",
                label=trigger.label,
                municipality_code=code,
                text=trigger.body,
                poster_key=member.key,
                poster_user_id=event.user_id,
                poster_name=member.name,
                poster_role=role,
                source_channel_id=event.channel_id,
                created_at=now,
            )
            content = msg.report_content(
                label=trigger.label,
                town=town,
                role=role,
                poster=member.name,
                created=now_dt,
                text=trigger.body,
                postback=sign_postback(self.bot_secret, report_id),
            )
            rows = [
                NewMessage(
                    dedupe_key=f"report:{report_id}:{room.key}",
                    purpose="report",
                    priority=PRIORITY_REPORT,
                    content=content,
                    channel_id=room.channel_id or None,
                    room_key=room.key,
                    report_id=report_id,
                    status="pending" if room.channel_id else "failed",
                    error=None if room.channel_id else msg.NO_CHANNEL,
                )
                for room in linked_rooms(config, code)
            ]
            if trigger.is_first and config.board_id:
                rows.append(self._board_post(config, report_id, trigger, town, role, member.name, now_dt))
            self.storage.enqueue(rows, now)
            self.storage.finish_event(inbox_id, "done", now, f"report {report_id}")
        log.info("report %s from %s relayed to %d rooms", report_id, code, len(rows))
        self.on_enqueue()
        # Rooms with no channelId failed at once: the receipt may already be due.
        self.after_delivery(report_id)

    def _board_post(
        self,
        config: Config,
        report_id: int,
        trigger: Trigger,
        town: str,
        role: str,
        poster: str,
        now: datetime,
    ) -> NewMessage:
        """The must-read board post mirroring a first report (its readers are real read receipts)."""
        title, body = msg.board_post(trigger.label, town, role, poster, now, trigger.body)
        # mustReadEndDate: at most 30 days ahead (lineworks-api.md §9); a week is plenty.
        until = jst(now + timedelta(days=7)).strftime("%Y-%m-%d")
        return NewMessage(
            dedupe_key=f"board:{report_id}",
            purpose="board",
            priority=PRIORITY_NOTICE,
            content={
                "hotline": {
                    "boardPost": {
                        "boardId": config.board_id,
                        "title": title,
                        "body": body,
                        "mustReadUntil": until,
                    }
                }
            },
            report_id=report_id,
        )

    def _attachment(self, inbox_id: int, event: Event, kind: str, config: Config) -> None:
        assert event.user_id is not None
        now_dt = self.clock.now()
        now = iso(now_dt)
        member = self.resolve(event.user_id, config)
        parent = None
        if member is not None:
            since = iso(now_dt - self.attachment_window)
            # Her own latest report, else her town's: staff often send the photos while the
            # deputy mayor writes the text.
            parent = self.storage.latest_report_by(member.key, since)
            if parent is None and member.municipality_code:
                parent = self.storage.latest_report_of_town(member.municipality_code, since)
        if parent is None:
            if event.channel_id is None:
                self._reply(inbox_id, event, msg.help_text(), "attachment without a report")
            else:
                self.storage.finish_event(inbox_id, "done", now, "attachment without a report")
            return
        if kind != "location" and not isinstance(event.content.get("fileId"), str):
            self.storage.finish_event(inbox_id, "rejected", now, f"{kind} without fileId")
            return
        name = msg.ATTACHMENT_NAMES[kind]
        label = f"{parent['label']}・{name}"
        with self.storage.transaction():
            report_id = self.storage.create_report(
                incident_id=parent["incident_id"],
                inbox_id=inbox_id,
                parent_report_id=parent["id"],
                kind="attachment",
                label=label,
                municipality_code=parent["municipality_code"],
                text=name,
                content=event.content,
                poster_key=member.key if member else parent["poster_key"],
                poster_user_id=event.user_id,
                poster_name=member.name if member else parent["poster_name"],
                poster_role=config.role_label(member) if member else parent["poster_role"],
                source_channel_id=event.channel_id,
                created_at=now,
            )
            town = config.municipalities.get(parent["municipality_code"])
            header = msg.report_header(
                label,
                town.name if town else parent["municipality_code"],
                config.role_label(member) if member else parent["poster_role"],
                member.name if member else parent["poster_name"],
            )
            content = msg.attachment_content(kind, event.content, header=header, file_id=None)
            if kind != "location":
                # The sender downloads the file once, uploads it once, and fills in fileId.
                content["hotline"] = {"uploadOf": report_id}
            # Attachments follow their report: the same rooms it was relayed to, even if the
            # configuration changed since.
            rows = [
                NewMessage(
                    dedupe_key=f"report:{report_id}:{d['room_key']}",
                    purpose="report",
                    priority=PRIORITY_REPORT,
                    content=content,
                    channel_id=d["channel_id"],
                    room_key=d["room_key"],
                    report_id=report_id,
                    status="pending" if d["channel_id"] else "failed",
                    error=None if d["channel_id"] else msg.NO_CHANNEL,
                )
                for d in self.storage.deliveries(parent["id"])
            ]
            self.storage.enqueue(rows, now)
            self.storage.finish_event(inbox_id, "done", now, f"attachment {report_id}")
        self.on_enqueue()
        self.after_delivery(report_id)

    # -- acknowledgements --------------------------------------------------------------
    def _ack_postback(self, inbox_id: int, event: Event, data: str, config: Config) -> None:
        now = iso(self.clock.now())
        if data.startswith("drill:") and self.drills is not None:
            self._drill_answer(inbox_id, event, data, config)
            return
        check = verify_postback(self.bot_secret, data)
        if check.problem == "not an acknowledgement postback":
            self.storage.finish_event(inbox_id, "done", now, "postback: not ours")
            return
        report = self.storage.report(check.report_id) if check.report_id else None
        problem = check.problem or (None if report is not None else "acknowledgement of an unknown report")
        if problem is None and not event.user_id:
            problem = "acknowledgement without a userId"
        if problem is not None:
            self._refuse(inbox_id, event, "forged_ack", f"{problem}: {data[:100]}", problem)
            return
        assert report is not None and event.user_id is not None
        self._record_ack(inbox_id, event, [report], "tap", config)

    def _drill_answer(self, inbox_id: int, event: Event, data: str, config: Config) -> None:
        assert self.drills is not None and event.user_id is not None
        member = self.resolve(event.user_id, config)
        reply = self.drills.answer(member, data) if member is not None else None
        if reply is None:
            with self.storage.transaction():
                self.storage.record_refusal(
                    "bad_drill_answer",
                    iso(self.clock.now()),
                    user_id=event.user_id,
                    channel_id=event.channel_id,
                    detail=data[:100],
                    inbox_id=inbox_id,
                )
            reply = self.drills.refusal(data)  # never silence: say why it was not taken
        self._reply(inbox_id, event, reply, "drill answer", priority=self.drills.priority_of(data))

    def _one_to_one_text(self, inbox_id: int, event: Event, config: Config) -> None:
        """Text to the bot that is not a report: a drill comment, else the help text."""
        assert event.user_id is not None
        if self.drills is not None:
            member = self.resolve(event.user_id, config)
            reply = self.drills.comment(member, event.text) if member is not None else None
            if reply is not None:
                self._reply(inbox_id, event, reply, "drill comment", priority=PRIORITY_DRILL)
                return
        self._reply(inbox_id, event, msg.help_text(), "help")

    def _refuse(self, inbox_id: int, event: Event, kind: str, detail: str, reason: str) -> None:
        """Record a refused event (for the record and the dashboard) and finish it."""
        now = iso(self.clock.now())
        with self.storage.transaction():
            self.storage.record_refusal(
                kind,
                now,
                user_id=event.user_id,
                channel_id=event.channel_id,
                detail=detail,
                inbox_id=inbox_id,
            )
            self.storage.finish_event(inbox_id, "rejected", now, reason)

    def _ack_word(self, inbox_id: int, event: Event, config: Config) -> None:
        """A typed 確認 / 了解: in a room, for every report of the newest incident relayed
        there (people answer the latest message, meaning all of it); 1:1, for the report of
        the last reminder the person got."""
        assert event.user_id is not None
        if event.channel_id is not None:
            latest = self.storage.latest_report_in_channel(event.channel_id)
            ids = self.storage.reports_relayed_to(event.channel_id, latest["incident_id"]) if latest else []
        else:
            member = self.resolve(event.user_id, config)
            identities = [event.user_id, *([member.key, member.email] if member else [])]
            last = self.storage.last_reminder_to([i for i in identities if i])
            ids = [last] if last is not None else []
        reports = [r for r in (self.storage.report(i) for i in ids) if r is not None]
        if not reports:
            if event.channel_id is None:
                self._reply(inbox_id, event, msg.help_text(), "help")
            else:
                self.storage.finish_event(inbox_id, "done", iso(self.clock.now()), "ack word, no report")
            return
        self._record_ack(inbox_id, event, reports, "word", config)

    def _record_ack(
        self, inbox_id: int, event: Event, reports: list[sqlite3.Row], via: str, config: Config
    ) -> None:
        assert event.user_id is not None
        now = iso(self.clock.now())
        member = self.resolve(event.user_id, config)
        ids = ", ".join(str(r["id"]) for r in reports)
        if member is None:
            self._refuse(inbox_id, event, "stranger_ack", f"report {ids}", "acknowledgement by a stranger")
            return
        with self.storage.transaction():
            new = [
                self.storage.record_ack(
                    r["id"], member.key, event.user_id, member.municipality_code, event.channel_id, via, now
                )
                for r in reports
            ]
            self.storage.finish_event(
                inbox_id, "done", now, f"ack of report {ids}" + ("" if any(new) else " (again)")
            )

    # -- after each delivery attempt ---------------------------------------------------------
    def after_delivery(self, report_id: int) -> None:
        """Send the poster her receipt once every room has been tried; later, tell her when
        each retried room gets it; tell her and HQ about rooms that cannot be reached.
        Safe to call any number of times (flags make each message go once): the sweep calls
        it again for reports whose follow-up a crash may have interrupted."""
        report = self.storage.report(report_id)
        if report is None:
            return
        rows = self.storage.deliveries(report_id)
        if any(r["status"] == "sending" or (r["status"] == "pending" and r["attempts"] == 0) for r in rows):
            return
        config = self.config()
        titles = {room.key: room.title for room in config.rooms}

        def title(row: sqlite3.Row) -> str:
            return str(titles.get(row["room_key"], row["room_key"]))

        created = parse_iso(report["created_at"])
        sent = [title(r) for r in rows if r["status"] == "sent"]
        retrying = [title(r) for r in rows if r["status"] == "pending"]
        failed_rows = [r for r in rows if r["status"] == "failed"]
        town = config.municipalities.get(report["municipality_code"])
        town_name = town.name if town else report["municipality_code"]
        now = iso(self.clock.now())
        to_poster = {
            "channel_id": report["source_channel_id"],
            "user_id": None if report["source_channel_id"] else report["poster_user_id"],
        }
        out: list[NewMessage] = []
        with self.storage.transaction():
            told_poster: set[int] = set()
            if self.storage.mark_report_flag(report_id, "receipt_sent"):
                attachments = [report["label"].split("・", 1)[1]] if report["kind"] == "attachment" else []
                out.append(
                    NewMessage(
                        dedupe_key=f"receipt:{report_id}",
                        purpose="receipt",
                        priority=PRIORITY_RECEIPT,
                        content=msg.receipt(
                            report["label"],
                            created,
                            sent,
                            retrying,
                            [(title(r), r["error"] or "") for r in failed_rows],
                            attachments,
                        ),
                        report_id=report_id,
                        **to_poster,
                    )
                )
                told_poster = {r["id"] for r in failed_rows}
                # She was told these are being retried: she will hear when each arrives.
                self.storage.mark_told_retrying([r["id"] for r in rows if r["status"] == "pending"])
            for r in rows:
                if (
                    r["status"] == "sent"
                    and r["told_retrying"] == 1
                    and self.storage.mark_arrival_told(r["id"])
                ):
                    out.append(
                        NewMessage(
                            dedupe_key=f"arrived:{r['id']}",
                            purpose="notice",
                            priority=PRIORITY_NOTICE,
                            content=msg.arrived(report["label"], created, title(r)),
                            report_id=report_id,
                            **to_poster,
                        )
                    )
            for r in failed_rows:
                if not self.storage.mark_failure_notified(r["id"]):
                    continue  # told already
                notice = msg.delivery_failed(report["label"], town_name, created, title(r), r["error"] or "")
                if r["id"] not in told_poster:
                    out.append(
                        NewMessage(
                            dedupe_key=f"failed:{r['id']}:poster",
                            purpose="notice",
                            priority=PRIORITY_NOTICE,
                            content=notice,
                            report_id=report_id,
                            **to_poster,
                        )
                    )
                out.extend(self._hq_notices(config, r, notice, report_id))
            added = self.storage.enqueue(out, now)
        if added:
            self.on_enqueue()

    def _hq_notices(
        self, config: Config, failed: sqlite3.Row, notice: dict[str, object], report_id: int
    ) -> list[NewMessage]:
        """HQ hears of every room that cannot be reached; if the HQ room itself is the one
        that failed, HQ staff are told one by one instead."""
        rooms = [room for room in hq_rooms(config) if room.channel_id and room.key != failed["room_key"]]
        if rooms:
            return [
                NewMessage(
                    dedupe_key=f"failed:{failed['id']}:hq:{room.key}",
                    purpose="notice",
                    priority=PRIORITY_NOTICE,
                    content=dict(notice),
                    channel_id=room.channel_id,
                    room_key=room.key,
                    report_id=report_id,
                )
                for room in rooms
            ]
        return [
            NewMessage(
                dedupe_key=f"failed:{failed['id']}:hq:{person.key}",
                purpose="notice",
                priority=PRIORITY_NOTICE,
                content=dict(notice),
                user_id=person.key,
                report_id=report_id,
            )
            for person in config.hq_members
        ]
