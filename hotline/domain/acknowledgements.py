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

from hotline import messages, postbacks
from hotline.clock import parse_iso
from hotline.config import Config, Member
from hotline.domain import recipients
from hotline.domain.recipients import HQ, RELATION_LABELS, Person, Recipients, relation

__all__ = ["HQ", "RELATION_LABELS", "relation"]  # kept here for their earlier importers
from hotline.messages import ACK_WORDS, NO_ROOM_FOR_PERSON
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


def town_state(*, source: bool, acknowledged: bool, delivery: str) -> str:
    """One cell of the overview; `delivery` is "sent", PENDING or UNDELIVERED."""
    if source:
        return SOURCE
    if acknowledged:
        return ACKNOWLEDGED
    return UNACKNOWLEDGED if delivery == "sent" else delivery


def _deliveries_by_town(sent_to: Recipients, deliveries: Sequence[sqlite3.Row]) -> dict[str, str]:
    """Per municipality code (and HQ): "sent" when a room reaching it got the report, else
    PENDING while one is still being sent or retried, else UNDELIVERED (absent). The rooms
    reach the towns they reached when the report was relayed (`recipients`)."""
    rooms = {room.key: room.reaches for room in sent_to.rooms}
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


def _failures(sent_to: Recipients, deliveries: Sequence[sqlite3.Row]) -> dict[str, str]:
    """Per member key: why the report never reached the person (the reasons of the rooms that
    failed for good), for those no room reached and none is still trying. A failed room that
    was sent again (再送) counts by its newest row."""
    latest: dict[str, sqlite3.Row] = {}
    for row in deliveries:  # in id order: the newest row per room wins
        latest[row["room_key"] or ""] = row
    reached: set[str] = set()
    reasons: dict[str, list[str]] = {}
    for room in sent_to.rooms:
        newest = latest.get(room.key)
        if newest is None:
            continue
        for key in room.members:
            if newest["status"] in ("sent", "pending", "sending"):
                reached.add(key)
            elif newest["status"] == "failed":
                reasons.setdefault(key, []).append(newest["error"] or "送信できませんでした")
    return {key: "、".join(dict.fromkeys(why)) for key, why in reasons.items() if key not in reached}


def report_states(storage: Storage, config: Config, reports: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
    """For each report, each linked municipality's state (and HQ's), without the members:
    what the overview and the incident list need. The counts leave the reporting town out.
    Towns, rooms and names are those the report was relayed to (`recipients`)."""
    sent_to_all = recipients.of_incident(storage, config, reports)
    out: list[dict[str, Any]] = []
    for report in reports:
        sent_to = sent_to_all[report["id"]]
        # acks keep the town the person belonged to when acknowledging (HQ staff: none)
        acked = {a["municipality_code"] or HQ for a in storage.acks(report["id"])}
        delivery = _deliveries_by_town(sent_to, storage.deliveries(report["id"]))
        towns = [
            (
                town.code,
                town_state(
                    source=town.code == report["municipality_code"],
                    acknowledged=town.code in acked,
                    delivery=delivery.get(town.code, UNDELIVERED),
                ),
            )
            for town in sent_to.towns
        ]
        expected = [state for _, state in towns if state != SOURCE]
        out.append(
            {
                "reportId": report["id"],
                "towns": towns,
                "names": {t.code: t.name for t in (*sent_to.towns, sent_to.hq)},
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
    acknowledged, and how long acknowledging took; a person no room reached, with why (未達).
    The towns, relations and people are those the report was relayed to (`recipients`), so a
    later configuration edit never changes a past report's matrix. None for an unknown report."""
    report = storage.report(report_id)
    if report is None:
        return None
    sent_to = recipients.of_report(storage, config, report)
    created = report["created_at"]
    deliveries = storage.deliveries(report_id)
    sent_rooms = {d["room_key"]: d["sent_at"] for d in deliveries if d["status"] == "sent"}
    pending_rooms = {d["room_key"] for d in deliveries if d["status"] in ("pending", "sending")}
    delivered_at: dict[str, str] = {}
    pending: set[str] = set()
    for room in sent_to.rooms:
        for key in room.members:
            if room.key in sent_rooms:
                at = sent_rooms[room.key]
                if key not in delivered_at or at < delivered_at[key]:
                    delivered_at[key] = at
            elif room.key in pending_rooms:
                pending.add(key)
    failures = _failures(sent_to, deliveries)
    delivery = _deliveries_by_town(sent_to, deliveries)
    acks: dict[str, sqlite3.Row] = {a["member_key"]: a for a in storage.acks(report_id)}
    post = storage.board_post(report_id)
    reads: dict[str, bool] = {}
    for row in storage.board_reads(report_id):
        reader = sent_to.person_by_identity(row["user_id"])
        if reader is None:  # a userId the configuration did not name: its cached e-mail
            cached = storage.identity(row["user_id"])
            reader = sent_to.person_by_identity(row["user_id"], cached["email"] if cached else None)
        if reader is not None:
            reads[reader.key] = bool(row["is_read"])

    def member_json(person: Person) -> dict[str, Any]:
        ack = acks.get(person.key)
        delivered = person.key in delivered_at
        return {
            "name": person.name,
            "role": person.role,
            "key": person.key,
            "municipality": person.code,
            "delivered": delivered,
            "deliveredAt": delivered_at.get(person.key),
            # sent / pending (being sent or retried) / undelivered (failed for good: 未達)
            "delivery": "sent" if delivered else (PENDING if person.key in pending else UNDELIVERED),
            "failure": None
            if delivered or person.key in pending
            else failures.get(person.key, NO_ROOM_FOR_PERSON),
            # Board readers: None without a board post or before the first poll.
            "read": reads.get(person.key, False) if post is not None and post["polled_at"] else None,
            "acknowledgedAt": ack["acked_at"] if ack else None,
            "via": ack["via"] if ack else None,
            "minutesToAck": _minutes(created, ack["acked_at"] if ack else None),
        }

    towns: list[dict[str, Any]] = []
    for town in sent_to.towns:
        members: list[dict[str, Any]] = [member_json(m) for m in town.members]
        times = sorted(m["acknowledgedAt"] for m in members if m["acknowledgedAt"])
        towns.append(
            {
                "code": town.code,
                "name": town.name,
                "relation": town.relation,
                "state": town_state(
                    source=town.code == report["municipality_code"],
                    acknowledged=bool(times),
                    delivery=delivery.get(town.code, UNDELIVERED),
                ),
                "acknowledged": bool(times),
                "firstAckAt": times[0] if times else None,
                "minutesToAck": _minutes(created, times[0] if times else None),
                "failure": _town_failure(members),
                "members": members,
            }
        )
    hq_members = [member_json(m) for m in sent_to.hq.members]
    hq_acknowledged = any(m["acknowledgedAt"] for m in hq_members)
    everyone: list[dict[str, Any]] = [m for t in towns for m in t["members"]] + hq_members
    expected = [t for t in towns if t["state"] != SOURCE]
    return {
        "reportId": report_id,
        "label": report["label"],
        "municipality": {
            "code": report["municipality_code"],
            "name": sent_to.town_name(report["municipality_code"]),
        },
        "createdAt": created,
        # False: relayed before recipients were recorded, shown from today's configuration
        "frozen": sent_to.frozen,
        "board": {"postId": post["post_id"], "polledAt": post["polled_at"]} if post is not None else None,
        "municipalities": towns,
        "hq": {
            "name": sent_to.hq.name,
            "acknowledged": hq_acknowledged,
            "state": town_state(
                source=False, acknowledged=hq_acknowledged, delivery=delivery.get(HQ, UNDELIVERED)
            ),
            "failure": _town_failure(hq_members),
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
            "membersUndelivered": sum(1 for m in everyone if m["delivery"] == UNDELIVERED),
            "membersRead": sum(1 for m in everyone if m["read"]),
            "membersAcknowledged": sum(1 for m in everyone if m["acknowledgedAt"]),
        },
    }


def _town_failure(members: list[dict[str, Any]]) -> str | None:
    """Why a town (or HQ) was not reached: its members' reasons, when none was reached."""
    if not members or any(m["delivery"] != UNDELIVERED for m in members):
        return None
    return "、".join(dict.fromkeys(m["failure"] for m in members if m["failure"])) or None


# -- recording one acknowledgement (a tap, a typed word, a mail link's button) ----------------


def record(
    storage: Storage,
    config: Config,
    report: sqlite3.Row,
    *,
    member_key: str,
    user_id: str,
    municipality_code: str | None,
    channel_id: str | None,
    via: str,
    now: str,
) -> tuple[bool, dict[str, Any]]:
    """Store the acknowledgement of the report (once per person) and say what the person is
    told: (new, the confirmation), or (False, when it was already recorded). Called inside the
    caller's transaction, which also enqueues the confirmation. `via`: tap | word | mail;
    `now`: an ISO stamp."""
    town = recipients.of_report(storage, config, report).town_name(report["municipality_code"]) or str(
        report["municipality_code"]
    )
    created = parse_iso(report["created_at"])
    new = storage.record_ack(report["id"], member_key, user_id, municipality_code, channel_id, via, now)
    if new:
        return True, messages.ack_recorded(
            report["label"], town, created, typed_in_room=via == "word" and channel_id is not None, via=via
        )
    earlier = next(a for a in storage.acks(report["id"]) if a["member_key"] == member_key)
    return False, messages.ack_already(report["label"], town, created, parse_iso(earlier["acked_at"]))
