"""Acknowledgements (確認): the 「確認しました」 tap, typed words, and who has acknowledged.

LINE WORKS' bot API has no read status for talk messages (lineworks-api.md §9), so hotline
records explicit acknowledgements. The postback of every report's button carries the report
id and a short HMAC made with the bot secret (hotline.postbacks), so a postback for another
bot's (another prefecture's) report, or a hand-made one, is refused and recorded, never counted.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hotline import postbacks
from hotline.clock import parse_iso
from hotline.config import Config, Member
from hotline.config.counterparts import linked_municipalities, room_members
from hotline.config.model import Room
from hotline.messages import ACK_WORDS
from hotline.storage import Storage

_POSTBACK_RE = re.compile(r"^ack:(\d{1,12}):([0-9a-f]{12})$")


def sign_postback(secret: str, report_id: int) -> str:
    """`ack:<report>:<mac>` (see hotline.postbacks)."""
    return postbacks.sign(secret, "ack", report_id)


@dataclass(frozen=True)
class PostbackCheck:
    report_id: int | None
    problem: str | None  # None when valid


def verify_postback(secret: str, data: str) -> PostbackCheck:
    """Check a postback string; says what is wrong when it is not a valid ack of ours."""
    if not data.startswith("ack:"):
        return PostbackCheck(None, "not an acknowledgement postback")
    match = _POSTBACK_RE.match(data)
    if not match:
        return PostbackCheck(None, "malformed acknowledgement postback")
    report_id = int(match.group(1))
    if not postbacks.verify(secret, data):
        return PostbackCheck(report_id, "acknowledgement postback with a bad signature")
    return PostbackCheck(report_id, None)


def is_ack_word(text: str) -> bool:
    """Whether a typed message is one of the acknowledgement words (see messages.ACK_WORDS)."""
    word = unicodedata.normalize("NFKC", text).strip().rstrip("。.!！ ")
    return word in ACK_WORDS


def member_for_user_id(storage: Storage, config: Config, user_id: str) -> Member | None:
    """The member behind a userId without calling LINE WORKS (config, then the cache)."""
    member = config.member_by_identity(user_id)
    if member is None:
        cached = storage.identity(user_id)
        if cached is not None and cached["email"]:
            member = config.member_by_identity(cached["email"])
    return member


def relation(config: Config, stricken: str, code: str) -> str:
    """How municipality `code` relates to a report from `stricken`."""
    if code == stricken:
        return "stricken"
    assignment = config.counterparts.get(stricken)
    if assignment is not None and code == assignment.primary:
        return "primary"
    if assignment is not None and code in assignment.secondary:
        return "secondary"
    return "group"


RELATION_LABELS = {
    "stricken": "被災市町",
    "primary": "一次支援市",
    "secondary": "二次支援市町",
    "group": "同じグループ",
}


def _minutes(start: str, end: str | None) -> float | None:
    if end is None:
        return None
    return round((parse_iso(end) - parse_iso(start)).total_seconds() / 60, 1)


# -- each town's state for a report: the dashboard's overview (towns x reports) ----------------

ACKNOWLEDGED = "acknowledged"  # someone of the town acknowledged
UNACKNOWLEDGED = "unacknowledged"  # delivered, nobody has acknowledged yet
PENDING = "pending"  # not delivered yet, still being sent or retried
UNDELIVERED = "undelivered"  # every room that reaches the town failed (or there is none)
SOURCE = "source"  # the reporting town itself: not expected to acknowledge its own report
HQ = "hq"  # the key of the prefectural HQ beside the municipality codes


def town_state(*, source: bool, acknowledged: bool, delivery: str) -> str:
    """One cell of the overview; `delivery` is "sent", PENDING or UNDELIVERED."""
    if source:
        return SOURCE
    if acknowledged:
        return ACKNOWLEDGED
    return UNACKNOWLEDGED if delivery == "sent" else delivery


def _reached_by(room: Room, config: Config) -> list[str]:
    """The municipality codes (and HQ) whose members a room reaches (cf. room_members)."""
    if room.link == "hq":
        return [HQ]
    if room.link == "municipality":
        return [room.target or ""]
    return [*config.groups[room.target or ""].municipalities, HQ]


def _deliveries_by_town(
    config: Config, deliveries: Sequence[sqlite3.Row], rooms: dict[str, list[str]] | None = None
) -> dict[str, str]:
    """Per municipality code (and HQ): "sent" when a room reaching it got the report, else
    PENDING while one is still being sent or retried, else UNDELIVERED (absent). `rooms`:
    each room key's codes (_reached_by), when the caller has them already."""
    if rooms is None:
        rooms = {room.key: _reached_by(room, config) for room in config.rooms}
    out: dict[str, str] = {}
    for row in deliveries:
        status = row["status"]
        if status == "sent":
            found = "sent"
        elif status in ("pending", "sending"):
            found = PENDING
        else:
            continue
        for code in rooms.get(row["room_key"] or "", ()):
            if out.get(code) != "sent":
                out[code] = found
    return out


def report_states(storage: Storage, config: Config, reports: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
    """For each report, each linked municipality's state (and HQ's), without the members:
    what the overview and the incident list need. The counts leave the reporting town out."""
    code_of = {m.key: (m.municipality_code or HQ) for m in config.all_members()}
    rooms = {room.key: _reached_by(room, config) for room in config.rooms}
    out: list[dict[str, Any]] = []
    for report in reports:
        acked = {code_of.get(a["member_key"]) for a in storage.acks(report["id"])}
        delivery = _deliveries_by_town(config, storage.deliveries(report["id"]), rooms)
        towns = [
            (
                code,
                town_state(
                    source=code == report["municipality_code"],
                    acknowledged=code in acked,
                    delivery=delivery.get(code, UNDELIVERED),
                ),
            )
            for code in linked_municipalities(config, report["municipality_code"])
            if code in config.municipalities
        ]
        expected = [state for _, state in towns if state != SOURCE]
        out.append(
            {
                "reportId": report["id"],
                "towns": towns,
                "hq": town_state(
                    source=False, acknowledged=HQ in acked, delivery=delivery.get(HQ, UNDELIVERED)
                ),
                "expected": len(expected),
                "acknowledged": expected.count(ACKNOWLEDGED),
                "undelivered": expected.count(UNDELIVERED),
                "silent": [code for code, state in towns if state in (UNACKNOWLEDGED, PENDING, UNDELIVERED)],
            }
        )
    return out


def matrix(storage: Storage, config: Config, report_id: int) -> dict[str, Any] | None:
    """Who has the report: per linked municipality and per member, delivered / read (board) /
    acknowledged, and how long acknowledging took. None for an unknown report."""
    report = storage.report(report_id)
    if report is None:
        return None
    created = report["created_at"]
    deliveries = storage.deliveries(report_id)
    sent_rooms = {d["room_key"]: d["sent_at"] for d in deliveries if d["status"] == "sent"}
    delivered_at: dict[str, str] = {}
    for room in config.rooms:
        if room.key in sent_rooms:
            for person in room_members(config, room):
                at = sent_rooms[room.key]
                if person.key not in delivered_at or at < delivered_at[person.key]:
                    delivered_at[person.key] = at
    delivery = _deliveries_by_town(config, deliveries)
    acks: dict[str, sqlite3.Row] = {a["member_key"]: a for a in storage.acks(report_id)}
    post = storage.board_post(report_id)
    reads: dict[str, bool] = {}
    for row in storage.board_reads(report_id):
        reader = member_for_user_id(storage, config, row["user_id"])
        if reader is not None:
            reads[reader.key] = bool(row["is_read"])

    def member_json(person: Member) -> dict[str, Any]:
        ack = acks.get(person.key)
        return {
            "name": person.name,
            "role": config.role_label(person),
            "key": person.key,
            "delivered": person.key in delivered_at,
            "deliveredAt": delivered_at.get(person.key),
            # Board readers: None without a board post or before the first poll.
            "read": reads.get(person.key, False) if post is not None and post["polled_at"] else None,
            "acknowledgedAt": ack["acked_at"] if ack else None,
            "via": ack["via"] if ack else None,
            "minutesToAck": _minutes(created, ack["acked_at"] if ack else None),
        }

    towns: list[dict[str, Any]] = []
    for code in linked_municipalities(config, report["municipality_code"]):
        muni = config.municipalities[code]
        members: list[dict[str, Any]] = [member_json(m) for m in muni.members]
        times = sorted(m["acknowledgedAt"] for m in members if m["acknowledgedAt"])
        towns.append(
            {
                "code": code,
                "name": muni.name,
                "relation": relation(config, report["municipality_code"], code),
                "state": town_state(
                    source=code == report["municipality_code"],
                    acknowledged=bool(times),
                    delivery=delivery.get(code, UNDELIVERED),
                ),
                "acknowledged": bool(times),
                "firstAckAt": times[0] if times else None,
                "minutesToAck": _minutes(created, times[0] if times else None),
                "members": members,
            }
        )
    hq_members = [member_json(m) for m in config.hq_members]
    hq_acknowledged = any(m["acknowledgedAt"] for m in hq_members)
    everyone: list[dict[str, Any]] = [m for t in towns for m in t["members"]] + hq_members
    expected = [t for t in towns if t["state"] != SOURCE]
    return {
        "reportId": report_id,
        "label": report["label"],
        "municipality": {
            "code": report["municipality_code"],
            "name": config.municipalities[report["municipality_code"]].name
            if report["municipality_code"] in config.municipalities
            else None,
        },
        "createdAt": created,
        "board": {"postId": post["post_id"], "polledAt": post["polled_at"]} if post is not None else None,
        "municipalities": towns,
        "hq": {
            "acknowledged": hq_acknowledged,
            "state": town_state(
                source=False, acknowledged=hq_acknowledged, delivery=delivery.get(HQ, UNDELIVERED)
            ),
            "members": hq_members,
        },
        "summary": {
            "municipalitiesLinked": len(towns),
            "municipalitiesAcknowledged": sum(1 for t in towns if t["acknowledged"]),
            # the reporting town does not acknowledge its own report: these leave it out
            "municipalitiesExpected": len(expected),
            "municipalitiesExpectedAcknowledged": sum(1 for t in expected if t["state"] == ACKNOWLEDGED),
            "municipalitiesUndelivered": sum(1 for t in expected if t["state"] == UNDELIVERED),
            "membersLinked": len(everyone),
            "membersDelivered": sum(1 for m in everyone if m["delivered"]),
            "membersRead": sum(1 for m in everyone if m["read"]),
            "membersAcknowledged": sum(1 for m in everyone if m["acknowledgedAt"]),
        },
    }
