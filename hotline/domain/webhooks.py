"""Outgoing webhooks: the events a prefecture's own systems (a telephony service, the
防災情報システム) are told of, as durable outbox rows.

`webhook_messages` turns one event into one row per configured webhook that subscribes to it
(`[[webhooks]]` in counterparts.toml); the caller enqueues them in the transaction that
records the event, so an event is never told without being recorded nor recorded without
being told. The body is built here, once: every retry POSTs the same event, and only
`sent_at` (the moment of the attempt) differs. The one exception is `escalation`, whose list
of silent towns is brought up to date just before it goes, like the HQ alert it accompanies
(`Reminders.before_escalation`), and which is not sent when every town has acknowledged.
`outbound/webhooks.py` signs and sends it. The payloads are documented in docs/WEBHOOKS.md;
keep them stable (add fields, never rename or remove one).

Events and where they are emitted:
- report: a report relayed (`domain/reports/relay.py`, in the relay's transaction)
- escalation: each HQ alert about silent towns (`domain/reminders.py`)
- drill_summary: a roll-call's results at its deadline (`domain/drills/runner.py: close`)
- jma_trigger: a JMA telegram that started or changed a response (`domain/earthquakes`)
- instruction: an HQ instruction (wired where instructions are sent)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hotline.clock import jst, parse_iso
from hotline.config import Config, Member
from hotline.config.model import WEBHOOK_EVENTS
from hotline.domain.recipients import place_name
from hotline.storage import PRIORITY_NOTICE, NewMessage

CHANNEL = "webhook"
PURPOSE = "webhook"
VERSION = 1  # the payload's shape (docs/WEBHOOKS.md); raised only for a change receivers must know


def webhook_messages(
    config: Config,
    event: str,
    data: Mapping[str, Any],
    now: datetime,
    *,
    key: str,
    instruction: dict[str, Any] | None = None,
) -> list[NewMessage]:
    """The outbox rows telling every webhook subscribed to `event` about it ([] when none is).
    `key` names the event uniquely and stably (`report:12`): it is the body's `id`, which a
    receiver uses to drop a repeated delivery, and the rows' dedupe key, so that emitting the
    same event twice enqueues it once. Raises ValueError for an event no webhook can ask for."""
    if event not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown webhook event {event!r}; expected one of {list(WEBHOOK_EVENTS)}")
    body = {
        "version": VERSION,
        "id": key,
        "event": event,
        "occurred_at": stamp(now),
        "prefecture": {"code": config.prefecture_code, "name": config.prefecture_name},
        "data": dict(data),
    }
    return [
        NewMessage(
            dedupe_key=f"webhook:{hook.name}:{key}",
            purpose=PURPOSE,
            priority=PRIORITY_NOTICE,
            content=body,
            channel=CHANNEL,
            address=hook.name,
            instruction=instruction,
        )
        for hook in config.webhooks
        if event in hook.events
    ]


def stamp(moment: datetime | str) -> str:
    """A moment as the payloads give it: ISO 8601 in JST with its offset, to the second."""
    value = parse_iso(moment) if isinstance(moment, str) else moment
    return jst(value).isoformat(timespec="seconds")


def town(config: Config, code: str) -> dict[str, str]:
    """A municipality as the payloads give it (its code as its name once removed from the files);
    "hq" is the prefectural HQ (the origin of an instruction)."""
    return {"code": code, "name": place_name(config, code)}


def person(config: Config, member: Member) -> dict[str, str]:
    return {
        "name": member.name,
        "role": member.role,
        "title": config.role_label(member),
        "phone": member.phone,
    }


# -- the events' data (docs/WEBHOOKS.md) ------------------------------------------------------


def report_data(
    config: Config,
    *,
    report_id: int,
    incident_id: int,
    label: str,
    first: bool,
    code: str,
    poster: Member,
    text: str,
    created: datetime,
    linked: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """`report`: a 第一報 or follow-up as relayed, with the towns it was relayed to and their
    relation to the reporting town (`linked`: (code, relation) as `domain.recipients` has it)."""
    return {
        "report": {
            "id": report_id,
            "incident_id": incident_id,
            "label": label,
            "kind": "first" if first else "followup",
            "municipality": town(config, code),
            "poster": person(config, poster),
            "text": text,
            "created_at": stamp(created),
        },
        "linked_municipalities": [{**town(config, c), "relation": rel} for c, rel in linked],
    }


def instruction_data(
    config: Config,
    *,
    instruction_id: int,
    kind: str,
    label: str,
    sender: Mapping[str, str],
    addressed: str,
    codes: Sequence[str],
    rooms: Sequence[str],
    text: str,
    created: datetime,
) -> dict[str, Any]:
    """`instruction`: an HQ instruction or request (指示 / 依頼) as sent, with the towns it is
    addressed to (each expected to acknowledge) and the rooms it went to."""
    return {
        "instruction": {
            "id": instruction_id,
            "kind": kind,
            "label": label,
            "sender": dict(sender),
            "addressed": addressed,
            "text": text,
            "created_at": stamp(created),
        },
        "municipalities": [town(config, code) for code in codes],
        "rooms": list(rooms),
    }


def escalation_data(
    config: Config,
    report: sqlite3.Row,
    minutes: int,
    calls: Mapping[str, tuple[Member | None, int]],
) -> dict[str, Any]:
    """`escalation`: the towns still silent `minutes` after a report, each with whom to call
    (`calls`: code -> (member or None, place in its chain or -1 without a chain))."""
    silent = []
    for code, (member, step) in calls.items():
        muni = config.municipalities.get(code)
        chain = len(muni.escalation) if muni is not None else 0
        silent.append(
            {
                **town(config, code),
                "call": None if member is None else person(config, member),
                "chain_step": step + 1 if step >= 0 else None,
                "chain_length": chain or None,
            }
        )
    return {
        "report": {
            "id": report["id"],
            "label": report["label"],
            "municipality": town(config, report["municipality_code"]),
            "created_at": stamp(report["created_at"]),
        },
        "minutes": minutes,
        "silent": silent,
    }


def drill_summary_data(drill: sqlite3.Row, run: sqlite3.Row, summary: Mapping[str, Any]) -> dict[str, Any]:
    """`drill_summary`: a roll-call's figures at its deadline (counts, no names)."""
    return {
        "drill": {"id": drill["id"], "title": drill["title"], "kind": drill["kind"]},
        "run": {"id": run["id"], "fired_at": stamp(run["fired_at"]) if run["fired_at"] else None},
        "targets": summary["targets"],
        "answered": summary["answered"],
        "answer_rate": summary["answerRate"],
        "late_answers": summary["lateAnswers"],
        "undelivered": len(summary["undelivered"]),
        "safety": dict(summary["safety"]),
        "median_minutes_to_answer": summary["medianMinutesToAnswer"],
        "municipalities": [
            {
                "code": t["code"],
                "name": t["name"],
                "targets": t["targets"],
                "answered": t["answered"],
                "undelivered": t["undelivered"],
            }
            for t in summary["municipalities"]
        ],
    }
