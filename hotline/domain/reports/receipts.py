"""After each delivery attempt: the poster's receipt, arrival notices, failure notices.

The poster gets one receipt once every room has been tried (delivered / retrying / failed);
later she hears when each retried room gets the report; every room that cannot be reached is
told to her and to HQ once. Flags on the rows make each message go once, so `after_delivery`
is safe to call any number of times: the sweep calls it again for reports whose follow-up a
crash may have interrupted. These messages are outbox rows too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from hotline import messages as msg
from hotline.clock import Clock, iso, parse_iso
from hotline.config import Config
from hotline.config.counterparts import hq_rooms
from hotline.domain import recipients
from hotline.domain.notices import to_hq_rooms
from hotline.domain.recipients import HQ
from hotline.storage import PRIORITY_NOTICE, PRIORITY_RECEIPT, NewMessage, Storage
from hotline.storage.instructions import INSTRUCTION_KINDS


class Receipts:
    def __init__(
        self,
        storage: Storage,
        config: Callable[[], Config],
        clock: Clock,
        *,
        on_enqueue: Callable[[], None] = lambda: None,
    ) -> None:
        self.storage = storage
        self.config = config
        self.clock = clock
        self.on_enqueue = on_enqueue

    def after_delivery(self, report_id: int) -> None:
        """Send what the report's delivery state calls for now (see the module doc)."""
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
        if report["municipality_code"] == HQ:  # an HQ instruction (domain/instructions)
            town_name = config.hq_name
        now = iso(self.clock.now())
        by_form = not (report["source_channel_id"] or report["poster_user_id"])
        # The poster, where she wrote; an instruction sent from the dashboard has no poster in
        # LINE WORKS: the HQ rooms get what the poster would.
        posters = (
            [{"channel_id": room.channel_id, "user_id": None} for room in hq_rooms(config) if room.channel_id]
            if by_form
            else [
                {
                    "channel_id": report["source_channel_id"],
                    "user_id": None if report["source_channel_id"] else report["poster_user_id"],
                }
            ]
        )

        def to_poster(key: str, purpose: str, priority: int, content: dict[str, object]) -> list[NewMessage]:
            return [
                NewMessage(
                    dedupe_key=key + (f":{n}" if n else ""),
                    purpose=purpose,
                    priority=priority,
                    content=content,
                    report_id=report_id,
                    **where,
                )
                for n, where in enumerate(posters)
            ]

        out: list[NewMessage] = []
        with self.storage.transaction():
            told_poster: set[int] = set()
            if self.storage.mark_report_flag(report_id, "receipt_sent"):
                attachments = [report["label"].split("・", 1)[1]] if report["kind"] == "attachment" else []
                content = msg.receipt(
                    report["label"],
                    created,
                    sent,
                    retrying,
                    [(title(r), r["error"] or "") for r in failed_rows],
                    attachments,
                )
                if report["kind"] in INSTRUCTION_KINDS:
                    content = _with_addressees(self.storage, config, report, content)
                out.extend(to_poster(f"receipt:{report_id}", "receipt", PRIORITY_RECEIPT, content))
                told_poster = {r["id"] for r in failed_rows}
                # She was told these are being retried: she will hear when each arrives.
                self.storage.mark_told_retrying([r["id"] for r in rows if r["status"] == "pending"])
            for r in rows:
                if (
                    r["status"] == "sent"
                    and r["told_retrying"] == 1
                    and self.storage.mark_arrival_told(r["id"])
                ):
                    content = msg.arrived(report["label"], created, title(r))
                    out.extend(to_poster(f"arrived:{r['id']}", "notice", PRIORITY_NOTICE, content))
            for r in failed_rows:
                if not self.storage.mark_failure_notified(r["id"]):
                    continue  # told already
                notice = msg.delivery_failed(report["label"], town_name, created, title(r), r["error"] or "")
                if r["id"] not in told_poster and not by_form:  # by form: HQ is told just below
                    out.extend(to_poster(f"failed:{r['id']}:poster", "notice", PRIORITY_NOTICE, notice))
                out.extend(_hq_notices(config, r, notice, report_id))
            added = self.storage.enqueue(out, now)
        if added:
            self.on_enqueue()


def _hq_notices(
    config: Config, failed: sqlite3.Row, notice: dict[str, object], report_id: int
) -> list[NewMessage]:
    """HQ hears of every room that cannot be reached; if the HQ room itself is the one that
    failed, HQ staff are told one by one instead."""
    rooms = to_hq_rooms(
        config, f"failed:{failed['id']}:hq", notice, report_id=report_id, skip_room=failed["room_key"]
    )
    if rooms:
        return rooms
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


def _with_addressees(
    storage: Storage, config: Config, report: sqlite3.Row, receipt: dict[str, object]
) -> dict[str, object]:
    """An instruction's receipt starts with the towns it was addressed to (as frozen when it
    was sent) and any that no room reaches; the rooms follow as in a report's receipt."""
    sent_to = recipients.of_report(storage, config, report)
    reached = {code for room in sent_to.rooms for code in room.reaches}
    head = msg.instruction_receipt_head(
        report["label"],
        [t.name for t in sent_to.towns],
        [t.name for t in sent_to.towns if t.code not in reached],
    )
    return msg.text(f"{head}\n{receipt['text']}")
