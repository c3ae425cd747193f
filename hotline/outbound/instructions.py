"""What the sender must do for a row besides sending its content, typed per purpose.

An outbox row's `content` is exactly what goes to LINE WORKS. When a row needs more (a photo
to upload first, a board post instead of a message, a last look before a reminder goes), its
producer attaches one of these instructions; it is stored as JSON in `outbox.instruction` and
given back to the handler the runtime registered for its type (see `Sender`). The sender
itself knows nothing of reports, boards, reminders or drills.

Rows stored before migration 2 carried these under `content["hotline"]` with the legacy keys
(`uploadOf`, `boardPost`, `reminderFor`, `escalationFor`, `drillReminder`); the migration moved
them into `outbox.instruction` unchanged, so `from_json` reads both shapes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class UploadAttachment:
    """Download the reporter's photo or file once, upload it once, fill in `fileId`."""

    report_id: int
    kind: str = "upload"


@dataclass(frozen=True)
class BoardPost:
    """Create a must-read board post instead of sending a message."""

    board_id: str
    title: str
    body: str
    must_read_until: str  # YYYY-MM-DD, at most 30 days ahead (lineworks-api.md §9)
    kind: str = "board_post"


@dataclass(frozen=True)
class AfterReport:
    """Send this only after the report's own message reached the same room (the ack button
    that follows a report too long for one message); cancelled if that message failed."""

    report_id: int
    room_key: str
    kind: str = "after_report"


@dataclass(frozen=True)
class ReminderCheck:
    """Send this reminder only if the town has still not acknowledged the report."""

    report_id: int
    municipality: str
    kind: str = "reminder"


@dataclass(frozen=True)
class EscalationCheck:
    """Send this HQ escalation only if towns are still silent, listing them as they are now.
    `minutes`: the alert's moment after the report, which says whom each chain names (0 in
    rows written before escalation chains: the policy's hq_after_minutes)."""

    report_id: int
    minutes: int = 0
    kind: str = "escalation"


@dataclass(frozen=True)
class DrillReminderCheck:
    """Send this drill reminder only if the person has still not answered and the run is open."""

    run_id: int
    member: str
    kind: str = "drill_reminder"


@dataclass(frozen=True)
class MailFallbackCheck:
    """Mail this report to the person only if no room reaching their town (`town`: a
    municipality code, or "hq") has got it by now; the text says why (domain.reports.fallback)."""

    report_id: int
    member: str
    town: str
    kind: str = "mail_report"


@dataclass(frozen=True)
class LateMark:
    """A report's room copy: when the report already went by mail to people of this room,
    say first that it arrives late (domain.reports.fallback)."""

    report_id: int
    room_key: str
    kind: str = "late_mark"


@dataclass(frozen=True)
class MailDrillCheck:
    """Mail the roll-call question only while its LINE WORKS message is 未達 and the person
    has not answered in an open run (domain.drills.fallback)."""

    run_id: int
    member: str
    kind: str = "mail_drill"


@dataclass(frozen=True)
class DrillLateMark:
    """A roll-call question to a person: when it already went by mail, say first that it
    arrives late, or cancel it if they answered from the mail (domain.drills.fallback)."""

    run_id: int
    member: str
    kind: str = "drill_late_mark"


Instruction = (
    UploadAttachment
    | BoardPost
    | AfterReport
    | ReminderCheck
    | EscalationCheck
    | DrillReminderCheck
    | MailFallbackCheck
    | LateMark
    | MailDrillCheck
    | DrillLateMark
)

_BY_KIND: dict[str, type[Instruction]] = {
    cls.kind: cls
    for cls in (
        UploadAttachment,
        BoardPost,
        AfterReport,
        ReminderCheck,
        EscalationCheck,
        DrillReminderCheck,
        MailFallbackCheck,
        LateMark,
        MailDrillCheck,
        DrillLateMark,
    )
}


def to_json(instruction: Instruction) -> dict[str, Any]:
    return asdict(instruction)


def from_json(data: dict[str, Any] | None) -> Instruction | None:
    """The instruction stored with a row (None for a plain message). Raises ValueError for
    a shape no version of hotline wrote."""
    if not data:
        return None
    kind = data.get("kind")
    if isinstance(kind, str) and kind in _BY_KIND:
        fields = {k: v for k, v in data.items() if k != "kind"}
        return _BY_KIND[kind](**fields)
    return _legacy(data)


def _legacy(data: dict[str, Any]) -> Instruction:
    if "uploadOf" in data:
        return UploadAttachment(int(data["uploadOf"]))
    if "boardPost" in data:
        post = data["boardPost"]
        return BoardPost(
            str(post["boardId"]), str(post["title"]), str(post["body"]), str(post["mustReadUntil"])
        )
    if "reminderFor" in data:
        target = data["reminderFor"]
        return ReminderCheck(int(target["reportId"]), str(target["municipality"]))
    if "escalationFor" in data:
        return EscalationCheck(int(data["escalationFor"]))
    if "drillReminder" in data:
        target = data["drillReminder"]
        return DrillReminderCheck(int(target["runId"]), str(target["member"]))
    raise ValueError(f"unknown outbox instruction: {sorted(data)}")
