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
from hotline.storage import PRIORITY_NOTICE, PRIORITY_RECEIPT, NewMessage, Storage


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
                out.extend(_hq_notices(config, r, notice, report_id))
            added = self.storage.enqueue(out, now)
        if added:
            self.on_enqueue()


def _hq_notices(
    config: Config, failed: sqlite3.Row, notice: dict[str, object], report_id: int
) -> list[NewMessage]:
    """HQ hears of every room that cannot be reached; if the HQ room itself is the one that
    failed, HQ staff are told one by one instead."""
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
