"""Relaying a report: the report row and one outbox row per linked room, in one transaction.

A 第一報 opens an incident for the town; a 第N報 / 続報 joins the town's open incident. The
rooms are chosen by the relay rule (`config.counterparts.linked_rooms`) at this moment, and the
outbox rows name them, so a later configuration edit never moves a report already relayed.
What the report was sent to (rooms, linked towns and their relation, the people expected to
acknowledge) is frozen in the same transaction (`domain.recipients`).
Photos, files and locations sent soon after a report join it and follow it to the same rooms.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from hotline import messages as msg
from hotline.clock import Clock, iso, jst_text
from hotline.config import Config, Member, Room
from hotline.config.counterparts import linked_rooms
from hotline.domain import audit, incidents, recipients, webhooks
from hotline.domain.acknowledgements import sign_postback
from hotline.domain.earthquakes.model import OPENED_BY
from hotline.domain.reports.fallback import ReportMail
from hotline.domain.reports.trigger import Trigger
from hotline.outbound.client import LineWorksError
from hotline.outbound.instructions import AfterReport, BoardPost, UploadAttachment, to_json
from hotline.storage import PRIORITY_NOTICE, PRIORITY_REPORT, NewMessage, OutboxRow, Storage

log = logging.getLogger(__name__)

ATTACHMENT_KINDS = frozenset({"image", "file", "location", "video", "audio"})


def room_rows(
    report_id: int, rooms: Sequence[Room], content: dict[str, Any], ack_button: dict[str, Any] | None
) -> list[NewMessage]:
    """One outbox row per room for a report (failed at once for a room without a channel id)
    and, for a text too long for a button, its 「確認しました」 button right after it (never
    before: see `Reports.before_ack_button`). HQ's instructions are sent with these too."""
    rows: list[NewMessage] = []
    for room in rooms:
        rows.append(
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
        )
        if ack_button is not None and room.channel_id:
            rows.append(
                NewMessage(
                    dedupe_key=f"ack-button:{report_id}:{room.key}",
                    purpose="ack_button",
                    priority=PRIORITY_REPORT,
                    content=ack_button,
                    channel_id=room.channel_id,
                    room_key=room.key,
                    report_id=report_id,
                    instruction=to_json(AfterReport(report_id, room.key)),
                )
            )
    return rows


class Reports:
    def __init__(
        self,
        storage: Storage,
        config: Callable[[], Config],
        clock: Clock,
        *,
        bot_secret: str,
        attachment_window: timedelta = timedelta(minutes=10),
    ) -> None:
        self.storage = storage
        self.config = config
        self.clock = clock
        self.bot_secret = bot_secret
        self.attachment_window = attachment_window
        self.mail: ReportMail | None = None  # the mail fallback, when HOTLINE_SMTP_URL is set

    def relay(
        self,
        config: Config,
        member: Member,
        trigger: Trigger,
        *,
        inbox_id: int,
        user_id: str,
        channel_id: str | None,
    ) -> tuple[int, int]:
        """Record the report of a town member and enqueue it for every linked room (and the
        board). Joins the caller's transaction. Returns the report id and the rows enqueued."""
        assert member.municipality_code is not None
        now_dt = self.clock.now()
        now = iso(now_dt)
        code = member.municipality_code
        town = config.municipalities[code].name
        role = config.role_label(member)
        with self.storage.transaction():
            who = f"{town} {role} {member.name}"
            open_one = self.storage.open_incident(code)
            incident_id: int | None = None
            if trigger.is_first:
                if (
                    # the incident a JMA telegram opened is the one this 第一報 was asked for
                    open_one is not None
                    and open_one["opened_by"] == OPENED_BY
                    and not self.storage.reports_of_incident(open_one["id"])
                ):
                    incident_id = open_one["id"]
                elif open_one is not None:
                    # A new 第一報 starts a new incident; the open one ends, and says why.
                    self.storage.add_incident_event(open_one["id"], "close", now, who, incidents.SUPERSEDED)
            else:
                # A 続報 joins the open incident; after HQ closed it, it reopens it (see
                # incidents.reopen_for_followup and README's operator section).
                incident_id = (
                    open_one["id"]
                    if open_one is not None
                    else incidents.reopen_for_followup(self.storage, code, by=who, at=now)
                )
                if incident_id is not None and open_one is None:
                    audit.record(
                        self.storage,
                        who,
                        "incident_reopen",
                        f"incident {incident_id}",
                        {"status": "closed"},
                        {"status": "open", "note": incidents.REOPENED_BY_FOLLOWUP},
                        at=now_dt,
                    )
            if incident_id is None:
                incident_id = self.storage.create_incident(code, member.key, now)
            report_id = self.storage.create_report(
                incident_id=incident_id,
                inbox_id=inbox_id,
                kind="first" if trigger.is_first else "followup",
                label=trigger.label,
                municipality_code=code,
                text=trigger.body,
                poster_key=member.key,
                poster_user_id=user_id,
                poster_name=member.name,
                poster_role=role,
                source_channel_id=channel_id,
                created_at=now,
            )
            content, ack_button = msg.report_content(
                label=trigger.label,
                town=town,
                role=role,
                poster=member.name,
                created=now_dt,
                text=trigger.body,
                postback=sign_postback(self.bot_secret, report_id),
            )
            # What it is sent to, frozen with the report: later edits never rewrite the record.
            sent_to = recipients.freeze(self.storage, config, report_id, code)
            rows = room_rows(report_id, linked_rooms(config, code), content, ack_button)
            if trigger.is_first and config.board_id:
                rows.append(self._board_post(config, report_id, trigger, town, role, member.name, now_dt))
            if self.mail is not None:  # mails that wait, in case LINE WORKS cannot deliver
                rows = self.mail.with_fallback(rows, report_id, sent_to, code)
            self.storage.enqueue(rows, now)
            # the prefecture's own systems hear of it in the same transaction ([[webhooks]])
            data = webhooks.report_data(
                config,
                report_id=report_id,
                incident_id=incident_id,
                label=trigger.label,
                first=trigger.is_first,
                code=code,
                poster=member,
                text=trigger.body,
                created=now_dt,
                linked=[(t.code, t.relation) for t in sent_to.towns],
            )
            self.storage.enqueue(
                webhooks.webhook_messages(config, "report", data, now_dt, key=f"report:{report_id}"), now
            )
        log.info("report %s from %s relayed to %d rooms", report_id, code, len(rows))
        return report_id, len(rows)

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
        until = jst_text(now + timedelta(days=7), "%Y-%m-%d")
        return NewMessage(
            dedupe_key=f"board:{report_id}",
            purpose="board",
            priority=PRIORITY_NOTICE,
            content={},
            report_id=report_id,
            instruction=to_json(BoardPost(config.board_id, title, body, until)),
        )

    def before_ack_button(
        self, row: OutboxRow, instruction: AfterReport, content: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The ack button of a long report goes only once the report's text reached the room:
        while the text is being retried the button waits (retried like a failed send), and if
        the text failed for good the button is not needed."""
        text = next(
            (
                d
                # the newest row: a room sent again (再送) has the failed one before it
                for d in reversed(self.storage.deliveries(instruction.report_id))
                if d["room_key"] == instruction.room_key
            ),
            None,
        )
        if text is None or text["status"] in ("failed", "cancelled"):
            return None
        if text["status"] != "sent":
            raise LineWorksError("waiting for the report's text to reach the room first", retryable=True)
        return content

    # -- 再送: a delivery that failed for good, sent again on request --------------------------
    def resend_failed(self, report_id: int) -> list[str]:
        """Enqueue the report again for every room whose newest delivery failed for good (未達),
        as a new outbox row: the failed row stays as history (chronology, audit). A room whose
        channel was missing takes today's channel id for its key, if one was set since. A long
        report's 「確認しました」 button follows again. Returns the room keys enqueued."""
        config = self.config()
        channels = {room.key: room.channel_id for room in config.rooms}
        now = iso(self.clock.now())
        with self.storage.transaction():
            by_room: dict[str, list[sqlite3.Row]] = {}
            for row in self.storage.deliveries(report_id):
                by_room.setdefault(row["room_key"] or "", []).append(row)
            buttons = {b["room_key"]: b for b in self.storage.ack_buttons(report_id)}
            rows: list[NewMessage] = []
            for room_key, tried in by_room.items():
                last = tried[-1]
                if last["status"] != "failed":
                    continue
                channel = last["channel_id"] or channels.get(room_key) or None
                rows.append(
                    NewMessage(
                        dedupe_key=f"report:{report_id}:{room_key}:resend{len(tried)}",
                        purpose="report",
                        priority=PRIORITY_REPORT,
                        content=json.loads(last["content"]),
                        channel_id=channel,
                        room_key=room_key,
                        report_id=report_id,
                        status="pending" if channel else "failed",
                        error=None if channel else msg.NO_CHANNEL,
                        instruction=json.loads(last["instruction"]) if last["instruction"] else None,
                    )
                )
                button = buttons.get(room_key)
                if button is not None and channel:
                    rows.append(
                        NewMessage(
                            dedupe_key=f"ack-button:{report_id}:{room_key}:resend{len(tried)}",
                            purpose="ack_button",
                            priority=PRIORITY_REPORT,
                            content=json.loads(button["content"]),
                            channel_id=channel,
                            room_key=room_key,
                            report_id=report_id,
                            instruction=to_json(AfterReport(report_id, room_key)),
                        )
                    )
            self.storage.enqueue(rows, now)
        return [r.room_key or "" for r in rows if r.purpose == "report"]

    # -- attachments ------------------------------------------------------------------------
    def parent_for_attachment(self, member: Member) -> sqlite3.Row | None:
        """The report a photo or file from this member joins: her own latest report, else her
        town's (staff often send the photos while the deputy mayor writes the text)."""
        since = iso(self.clock.now() - self.attachment_window)
        parent = self.storage.latest_report_by(member.key, since)
        if parent is None and member.municipality_code:
            parent = self.storage.latest_report_of_town(member.municipality_code, since)
        return parent

    def relay_attachment(
        self,
        config: Config,
        parent: sqlite3.Row,
        member: Member | None,
        kind: str,
        content: dict[str, Any],
        *,
        inbox_id: int,
        user_id: str,
        channel_id: str | None,
    ) -> int:
        """Record an attachment under its report and enqueue it for the rooms that report was
        relayed to. Joins the caller's transaction; returns the attachment's report id."""
        now = iso(self.clock.now())
        name = msg.ATTACHMENT_NAMES[kind]
        label = f"{parent['label']}・{name}"
        role = config.role_label(member) if member else parent["poster_role"]
        poster = member.name if member else parent["poster_name"]
        with self.storage.transaction():
            report_id = self.storage.create_report(
                incident_id=parent["incident_id"],
                inbox_id=inbox_id,
                parent_report_id=parent["id"],
                kind="attachment",
                label=label,
                municipality_code=parent["municipality_code"],
                text=name,
                content=content,
                poster_key=member.key if member else parent["poster_key"],
                poster_user_id=user_id,
                poster_name=poster,
                poster_role=role,
                source_channel_id=channel_id,
                created_at=now,
            )
            town = config.municipalities.get(parent["municipality_code"])
            header = msg.report_header(
                label, town.name if town else parent["municipality_code"], role, poster
            )
            relayed = msg.attachment_content(kind, content, header=header, file_id=None)
            # The file is downloaded once, uploaded once, and its fileId filled in just before
            # each room's copy is sent (reports.attachments).
            upload = None if kind == "location" else to_json(UploadAttachment(report_id))
            # Attachments follow their report: the same rooms it was relayed to, even if the
            # configuration changed since.
            rows = [
                NewMessage(
                    dedupe_key=f"report:{report_id}:{d['room_key']}",
                    purpose="report",
                    priority=PRIORITY_REPORT,
                    content=relayed,
                    channel_id=d["channel_id"],
                    room_key=d["room_key"],
                    report_id=report_id,
                    status="pending" if d["channel_id"] else "failed",
                    error=None if d["channel_id"] else msg.NO_CHANNEL,
                    instruction=upload,
                )
                for d in self.storage.deliveries(parent["id"])
            ]
            self.storage.enqueue(rows, now)
        return report_id
