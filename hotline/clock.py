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
