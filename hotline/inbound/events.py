"""Callback events: turning a stored body into a plain object.

Nothing here trusts the body: every field is type-checked, and a body that is not a
LINE WORKS event becomes `BadEvent` (stored as rejected, never a crash). JSON may carry lone
surrogates ("\\ud83d") that SQLite and UTF-8 cannot hold: every string of the event (ids,
postback data, text, file names) has them replaced with U+FFFD before anyone sees it, so such
an event is handled at the first try instead of failing on every write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT = 10_000  # LINE WORKS caps text far lower; anything longer is not from LINE WORKS


class BadEvent(ValueError):
    """The body is not an event hotline can act on; the message says why (for the record)."""


@dataclass(frozen=True)
class Event:
    type: str
    user_id: str | None
    channel_id: str | None  # None in a 1:1 room with the bot
    issued_time: str | None
    content: dict[str, Any] = field(default_factory=dict)
    data: str | None = None  # postback events

    @property
    def content_type(self) -> str | None:
        value = self.content.get("type")
        return value if isinstance(value, str) else None

    @property
    def text(self) -> str:
        value = self.content.get("text")
        return value if isinstance(value, str) else ""

    @property
    def postback(self) -> str | None:
        value = self.content.get("postback")
        return value if isinstance(value, str) else None


def scrub(value: Any) -> Any:
    """`value` (parsed JSON) with every lone surrogate in its strings and keys replaced by
    U+FFFD; surrogate pairs JSON spelt as two escapes are joined by json.loads already."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


def _opt_str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 256:
        raise BadEvent(f"{name} is not a short string")
    return value


def parse(body: str) -> Event:
    """Parse a stored callback body; raise BadEvent with the reason when it is not usable."""
    try:
        raw = scrub(json.loads(body))
    except (ValueError, RecursionError) as exc:
        raise BadEvent(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise BadEvent("not a JSON object")
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise BadEvent("no event type")
    source = raw.get("source", {})
    if not isinstance(source, dict):
        raise BadEvent("source is not an object")
    content = raw.get("content", {})
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise BadEvent("content is not an object")
    text = content.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
        raise BadEvent("content.text is not a string of sane length")
    data = raw.get("data")
    if data is not None and (not isinstance(data, str) or len(data) > 1000):
        raise BadEvent("data is not a short string")
    issued = raw.get("issuedTime")
    return Event(
        type=kind,
        user_id=_opt_str(source.get("userId"), "source.userId"),
        channel_id=_opt_str(source.get("channelId"), "source.channelId"),
        issued_time=issued if isinstance(issued, str) else None,
        content=content,
        data=data,
    )
