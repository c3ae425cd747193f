"""Relaying a report: the report row and one outbox row per linked room, in one transaction.

A 第一報 opens an incident for the town; a 第N報 / 続報 joins the town's open incident. The
rooms are chosen by the relay rule (`config.counterparts.linked_rooms`) at this moment, and the
outbox rows name them, so a later configuration edit never moves a report already relayed.
Photos, files and locations sent soon after a report join it and follow it to the same rooms.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hotline import messages as msg
from hotline.clock import Clock, iso, jst_text
from hotline.config import Config, Member
from hotline.config.counterparts import linked_rooms
from hotline.domain.acknowledgements import sign_postback
from hotline.domain.earthquakes.model import OPENED_BY
from hotline.domain.reports.trigger import Trigger
from hotline.outbound.client import LineWorksError
from hotline.outbound.instructions import AfterReport, BoardPost, UploadAttachment, to_json
from hotline.storage import PRIORITY_NOTICE, PRIORITY_REPORT, NewMessage, OutboxRow, Storage

log = logging.getLogger(__name__)

ATTACHMENT_KINDS = frozenset({"image", "file", "location", "video", "audio"})


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
            incident = self.storage.open_incident(code)
            if trigger.is_first and not (
                # the incident a JMA telegram opened is the one this 第一報 was asked for
                incident is not None
                and incident["opened_by"] == OPENED_BY
                and not self.storage.reports_of_incident(incident["id"])
            ):
                incident = None
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
            rows: list[NewMessage] = []
            for room in linked_rooms(config, code):
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
                    # A long report's 「確認しました」 comes as a second message right after it
                    # (never before: see `before_ack_button`).
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
            if trigger.is_first and config.board_id:
                rows.append(self._board_post(config, report_id, trigger, town, role, member.name, now_dt))
            self.storage.enqueue(rows, now)
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
                for d in self.storage.deliveries(instruction.report_id)
                if d["room_key"] == instruction.room_key
            ),
            None,
        )
        if text is None or text["status"] in ("failed", "cancelled"):
            return None
        if text["status"] != "sent":
            raise LineWorksError("waiting for the report's text to reach the room first", retryable=True)
        return content

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
