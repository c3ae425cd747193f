"""HQ hears of a mail or a webhook call that failed for good.

A fallback mail that the mail server refused (550: no such address) means a person got the
report neither in LINE WORKS nor by mail; a webhook the prefecture's system refused means its
telephony service or 防災情報システム never heard of the event. Both are recorded in their
outbox row; this tells the HQ rooms, in Japanese, with the person's phone number when one is
registered. The sweep (every 30 s and at start-up) calls `tell_hq`: each failed row is told
once (`outbox.failure_notified`, set in the transaction that enqueues the notice), and the rows
found in one sweep share one message.
"""

from __future__ import annotations

import json
import sqlite3

from hotline import messages as msg
from hotline.clock import Clock, iso
from hotline.config import Config
from hotline.domain.notices import to_hq_rooms
from hotline.domain.recipients import HQ, place_name
from hotline.storage import Storage


def tell_hq(storage: Storage, config: Config, clock: Clock) -> int:
    """One notice to every HQ room listing the mails and webhook calls that failed for good
    since the last one; returns how many failures it names (0: nothing sent)."""
    if not storage.channel_failures_untold():  # the usual sweep: no write transaction at all
        return 0
    with storage.transaction():
        failed = [r for r in storage.channel_failures_untold() if storage.mark_failure_notified(r["id"])]
        if not failed:
            return 0
        content = msg.channel_failures([_line(config, row) for row in failed])
        key = f"channel-failures:{failed[0]['id']}-{failed[-1]['id']}"
        # without an HQ room the rows stay recorded (chronology, dashboard), told to nobody
        storage.enqueue(to_hq_rooms(config, key, content), iso(clock.now()))
    return len(failed)


def _line(config: Config, row: sqlite3.Row) -> str:
    content = json.loads(row["content"])
    reason = row["error"] or msg.GAVE_UP
    if row["channel"] == "webhook":
        return msg.failed_webhook_line(row["address"] or "", str(content.get("event", "")), reason)
    member = config.member_by_identity(str(content.get("member") or ""))
    town = place_name(config, str(content.get("municipality") or HQ))  # None: an HQ member
    return msg.failed_mail_line(
        town,
        str(content.get("name") or (member.name if member else "")),
        row["address"] or "",
        member.phone if member else "",
        str(content.get("subject") or ""),
        reason,
    )
