"""Sending an HQ instruction or request to the towns, and linking the towns' answers to it.

An instruction is a `reports` row (kind 'instruction' | 'request', municipality_code 'hq') in
a thread of its own, and its delivery is the report machinery unchanged: one outbox row per room
with the signed 「確認しました」 button (`acknowledgements.sign_postback`), what it was sent to
frozen in `report_recipients` (the addressed towns with relation 'addressed', their people, the
rooms), so acknowledgements, the 1:1 reminders to silent towns, the HQ escalation, the overview
(`acknowledgements.report_states`), the matrix and the sender's receipt (`reports.Receipts`)
all work as for a report.

The rooms differ from a report's relay (`config.counterparts.linked_rooms`, which fans a
stricken town's report out to its supporters and HQ): an instruction goes to the rooms where
the addressed towns' people are, that is each addressed town's own rooms and the rooms of every
group with an addressed town in it, never to the HQ rooms (HQ sent it; the sender's receipt
says where it went).

A town answers with 【回答】 in its room or 1:1 (kind 'reply', relayed to the HQ rooms with the
same button, in the instruction's thread), or with a report (第一報 / 第N報 / 続報) while an
instruction to the town is open; either way the answer names the instruction (`reply_to`) and
counts as the town's acknowledgement of it (acks.via = 'reply').
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from hotline import messages as msg
from hotline.clock import Clock, iso, parse_iso
from hotline.config import Config, Member, Room
from hotline.config.counterparts import hq_rooms
from hotline.domain import recipients, webhooks
from hotline.domain.acknowledgements import sign_postback
from hotline.domain.instructions.parse import Addressees
from hotline.domain.recipients import HQ, Recipients, Town
from hotline.domain.reports import room_rows
from hotline.domain.reports.fallback import ReportMail
from hotline.storage import Storage

log = logging.getLogger(__name__)

ANSWER_KIND = "reply"


@dataclass(frozen=True)
class Sender:
    """Who sends an instruction: an HQ member in the chat, or a dashboard account (form)."""

    key: str  # member key, or "account:<name>"
    name: str
    role: str  # Japanese title; "" for a dashboard account
    user_id: str  # "" for a dashboard account: its receipt goes to the HQ rooms
    channel_id: str | None  # where the sender wrote (None: 1:1 or the form)

    @classmethod
    def of_member(cls, config: Config, member: Member, user_id: str, channel_id: str | None) -> Sender:
        return cls(member.key, member.name, config.role_label(member), user_id, channel_id)

    @classmethod
    def of_account(cls, account: str) -> Sender:
        return cls(f"account:{account}", msg.instruction_by_form(account), "", "", None)


@dataclass(frozen=True)
class Sent:
    report_id: int
    towns: tuple[str, ...]  # names of the addressed towns
    rooms: tuple[str, ...]  # titles of the rooms it was enqueued for
    no_room: tuple[str, ...]  # addressed towns that no room reaches
    repeated: bool = False  # the form's one-time id was used already: nothing sent this time


def rooms_for(config: Config, codes: tuple[str, ...]) -> list[Room]:
    """The rooms an instruction to `codes` goes to: each town's own rooms and the rooms of each
    group with one of them in it (in file order); never an HQ room."""
    wanted = set(codes)
    out: list[Room] = []
    for room in config.rooms:
        reaches = (
            {room.target}
            if room.link == "municipality"
            else set(config.groups[room.target or ""].municipalities)
            if room.link == "group"
            else set()
        )
        if wanted & reaches:
            out.append(room)
    return out


def addressed_recipients(config: Config, codes: tuple[str, ...], rooms: list[Room]) -> Recipients:
    """What an instruction is sent to: the addressed towns (relation 'addressed') and their
    people, HQ's people, and the rooms with whom each reaches (frozen with the instruction)."""
    towns = tuple(
        Town(
            code,
            config.municipalities[code].name,
            "addressed",
            tuple(recipients.person_of(config, m) for m in config.municipalities[code].members),
        )
        for code in codes
    )
    return Recipients(towns, _hq(config), tuple(recipients.room_to(config, r) for r in rooms), frozen=False)


def _hq(config: Config) -> Town:
    return Town(HQ, config.hq_name, HQ, tuple(recipients.person_of(config, m) for m in config.hq_members))


def _hq_recipients(config: Config, rooms: list[Room]) -> Recipients:
    """What a town's 【回答】 is sent to: the HQ rooms and HQ's people (no town is expected to
    acknowledge an answer, so nobody is reminded of one)."""
    return Recipients((), _hq(config), tuple(recipients.room_to(config, r) for r in rooms), frozen=False)


class Instructions:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        bot_secret: str,
        on_enqueue: Callable[[], None] = lambda: None,
    ) -> None:
        """Every method takes the configuration to use (the handler's, or the form's), so that
        one event is handled under one configuration even across a reload."""
        self.storage = storage
        self.clock = clock
        self.bot_secret = bot_secret
        self.on_enqueue = on_enqueue
        # the mail fallback (domain/reports/fallback.py), when HOTLINE_SMTP_URL is set: an
        # instruction's addressed towns get it by mail if their rooms do not, as for a report
        self.mail: ReportMail | None = None

    def send(
        self,
        config: Config,
        sender: Sender,
        kind: str,
        to: Addressees,
        text: str,
        *,
        inbox_id: int | None = None,
        form_id: str | None = None,
    ) -> Sent:
        """Record an instruction (kind 'instruction' | 'request') and enqueue it for the rooms
        of the addressed towns, in one transaction (joins the caller's). The one place an
        instruction is sent: chat and form both come here.

        `to` must be resolved without unknown names and `text` non-empty (the callers refuse
        otherwise, sending nothing). `form_id`, the dashboard form's one-time id: when an
        instruction was already sent with it (the form submitted twice), nothing is sent and
        that instruction is returned (`Sent.repeated`)."""
        assert kind in msg.INSTRUCTION_LABELS and to.codes and not to.unknown and text
        label = msg.INSTRUCTION_LABELS[kind]
        now_dt = self.clock.now()
        now = iso(now_dt)
        rooms = rooms_for(config, to.codes)
        with self.storage.transaction():
            earlier = self.storage.instruction_of_form(form_id) if form_id else None
            if earlier is not None:
                return Sent(earlier, (), (), (), repeated=True)
            thread = self.storage.create_instruction_thread(sender.key, now)
            report_id = self.storage.create_report(
                incident_id=thread,
                inbox_id=inbox_id,
                kind=kind,
                label=label,
                municipality_code=HQ,
                text=text,
                content={"to": to.text, "towns": list(to.codes)},
                poster_key=sender.key,
                poster_user_id=sender.user_id,
                poster_name=sender.name,
                poster_role=sender.role,
                source_channel_id=sender.channel_id,
                created_at=now,
            )
            if form_id:
                self.storage.set_form_id(report_id, form_id)
            content, ack_button = msg.report_content(
                label=label,
                town=config.hq_name,
                role=sender.role,
                poster=sender.name,
                created=now_dt,
                text=msg.instruction_body(label, report_id, to.text, text),
                postback=sign_postback(self.bot_secret, report_id),
            )
            sent_to = recipients.store(self.storage, report_id, addressed_recipients(config, to.codes, rooms))
            rows = room_rows(report_id, rooms, content, ack_button)
            if self.mail is not None:  # mails that wait, in case LINE WORKS cannot deliver
                rows = self.mail.with_fallback(rows, report_id, sent_to, recipients.HQ)
            self.storage.enqueue(rows, now)
            data = webhooks.instruction_data(
                config,
                instruction_id=report_id,
                kind=kind,
                label=label,
                sender={"name": sender.name, "title": sender.role},
                addressed=to.text,
                codes=to.codes,
                rooms=[room.title for room in rooms],
                text=text,
                created=now_dt,
            )
            self.storage.enqueue(
                webhooks.webhook_messages(
                    config, "instruction", data, now_dt, key=f"instruction:{report_id}"
                ),
                now,
            )
        reached = {code for room in sent_to.rooms for code in room.reaches}
        log.info("%s %s to %d towns relayed to %d rooms", kind, report_id, len(to.codes), len(rooms))
        return Sent(
            report_id,
            tuple(t.name for t in sent_to.towns),
            tuple(room.title for room in rooms),
            tuple(t.name for t in sent_to.towns if t.code not in reached),
        )

    def open_to(self, config: Config, code: str, instruction_id: int | None = None) -> sqlite3.Row | None:
        """The instruction to the town that its answer is for, among those still open for
        answers (thread open, sent within the reminders' give-up window, 24 hours by default):
        the one numbered `instruction_id` (None when that one is not open to the town); without
        a number the newest the town has not yet acknowledged or answered, else the newest. So a
        town answering an older instruction to every town is not filed under a newer one to its
        group that it has already answered."""
        since = self.clock.now() - timedelta(hours=config.reminders.give_up_after_hours)
        return self.storage.open_instruction_to(code, iso(since), instruction_id)

    def answer(
        self,
        config: Config,
        member: Member,
        instruction: sqlite3.Row,
        text: str,
        *,
        inbox_id: int,
        user_id: str,
        channel_id: str | None,
    ) -> int:
        """Record a town's 【回答】 to `instruction`, relay it to the HQ rooms and count it as the
        town's acknowledgement, in one transaction (joins the caller's). Returns its report id."""
        assert member.municipality_code is not None
        now_dt = self.clock.now()
        now = iso(now_dt)
        code = member.municipality_code
        role = config.role_label(member)
        rooms = hq_rooms(config)
        with self.storage.transaction():
            report_id = self.storage.create_report(
                incident_id=instruction["incident_id"],
                inbox_id=inbox_id,
                kind=ANSWER_KIND,
                label=msg.ANSWER_LABEL,
                municipality_code=code,
                text=text,
                poster_key=member.key,
                poster_user_id=user_id,
                poster_name=member.name,
                poster_role=role,
                source_channel_id=channel_id,
                created_at=now,
                reply_to=instruction["id"],
            )
            content, ack_button = msg.report_content(
                label=msg.ANSWER_LABEL,
                town=config.municipalities[code].name,
                role=role,
                poster=member.name,
                created=now_dt,
                text=msg.answer_body(
                    instruction["label"], instruction["id"], parse_iso(instruction["created_at"]), text
                ),
                postback=sign_postback(self.bot_secret, report_id),
            )
            recipients.store(self.storage, report_id, _hq_recipients(config, rooms))
            self.storage.enqueue(room_rows(report_id, rooms, content, ack_button), now)
            self.storage.record_ack(instruction["id"], member.key, user_id, code, channel_id, "reply", now)
        return report_id

    def link_report(
        self, config: Config, member: Member, report_id: int, user_id: str, channel_id: str | None
    ) -> None:
        """A report (第一報 / 第N報 / 続報) sent while an instruction to the town is open answers
        it: it names the instruction and counts as the town's acknowledgement of it. Joins the
        caller's transaction."""
        if member.municipality_code is None:
            return
        instruction = self.open_to(config, member.municipality_code)
        if instruction is None:
            return
        with self.storage.transaction():
            self.storage.set_reply_to(report_id, instruction["id"])
            self.storage.record_ack(
                instruction["id"],
                member.key,
                user_id,
                member.municipality_code,
                channel_id,
                "reply",
                iso(self.clock.now()),
            )
