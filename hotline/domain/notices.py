"""Notices to the prefectural HQ's rooms: the one place that turns a notice into outbox rows,
one per HQ room with a channel (a feed outage, a room that cannot be reached, mails and webhook
calls that failed)."""

from __future__ import annotations

from typing import Any

from hotline.config import Config
from hotline.config.counterparts import hq_rooms
from hotline.storage import PRIORITY_NOTICE, NewMessage


def to_hq_rooms(
    config: Config,
    key: str,
    content: dict[str, Any],
    *,
    report_id: int | None = None,
    skip_room: str | None = None,
) -> list[NewMessage]:
    """One notice row per HQ room (but `skip_room`), deduplicated as `{key}:{room key}`;
    [] when HQ has no room to be told in."""
    return [
        NewMessage(
            dedupe_key=f"{key}:{room.key}",
            purpose="notice",
            priority=PRIORITY_NOTICE,
            content=dict(content),
            channel_id=room.channel_id,
            room_key=room.key,
            report_id=report_id,
        )
        for room in hq_rooms(config)
        if room.channel_id and room.key != skip_room
    ]
