"""Time in one place: `Clock.now()` everywhere, a fixed clock in tests, JST for people."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")


class Clock:
    """The real clock. Tests pass a `FixedClock` instead."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds for measuring intervals (rate budgets); never jumps."""
        return time.monotonic()


class FixedClock(Clock):
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.current.timestamp()

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds; sorts as text, which the SQL relies on."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(value: str) -> datetime:
    """Parse our stamps and LINE WORKS' issuedTime (with or without milliseconds)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def jst(moment: datetime) -> datetime:
    return moment.astimezone(JST)


def jst_text(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A moment (or one of our stored UTC stamps) as JST text for people; '' for none.

    The one JST formatter: messages, pages, exports and the chronology all call it, so a
    time reads the same everywhere."""
    if value is None or value == "":
        return ""
    moment = parse_iso(value) if isinstance(value, str) else value
    return jst(moment).strftime(fmt)
