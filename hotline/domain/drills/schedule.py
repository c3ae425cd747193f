"""When a drill fires: crontab expressions in JST, their fire times, unannounced windows.

The one place in the domain that imports APScheduler's CronTrigger: the drill runner and the
drill pages both ask this module, so the time a page announces is the time the drill fires.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from hotline.clock import JST, jst

# Schedules that fire once: at a time, at a moment drawn in a window, or as soon as possible.
ONE_OFF = ("once", "window", "now")
MAX_CATCH_UP = 100  # fire times looked at in one pass after a long stop (the rest are later)

_WEEKDAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def crontab(expression: str) -> CronTrigger:
    """A crontab in JST with crontab's weekday numbers (0 or 7 = Sunday, 1 = Monday):
    APScheduler counts 0 as Monday, so numbers are turned into names first.
    Raises ValueError for an expression it cannot read."""
    fields = expression.split()
    if len(fields) == 5:
        fields[4] = re.sub(
            r"\d+",
            lambda m: _WEEKDAY_NAMES[int(m.group())] if int(m.group()) <= 7 else m.group(),
            fields[4],
        )
    return CronTrigger.from_crontab(" ".join(fields), timezone=JST)


# The recurrences the creation form's picker offers, written as crontab (crontab's weekday
# numbers, 0 = Sunday) and read back as Japanese for people. Anything else is shown as written.
WEEKDAY_JA = ("日", "月", "火", "水", "木", "金", "土")
_PICKED_RE = re.compile(r"^(\d{1,2}) (\d{1,2}) (\*|\d{1,2}-\d{1,2}) \* ([0-7]|sun|mon|tue|wed|thu|fri|sat)$")


def weekly(weekday: int, hour: int, minute: int) -> str:
    """毎週○曜日 HH:MM (weekday: 0 = Sunday ... 6 = Saturday)."""
    _check_picked(weekday, hour, minute)
    return f"{minute} {hour} * * {weekday}"


def monthly(nth: int, weekday: int, hour: int, minute: int) -> str:
    """毎月第N○曜日 HH:MM: the weekday that falls on days 1-7 (第1), 8-14 (第2) and so on; 第5
    is days 29-31 (not every month has one). Day and weekday both hold (the schedule's
    CronTrigger needs both, unlike Vixie cron which takes either)."""
    _check_picked(weekday, hour, minute)
    if not 1 <= nth <= 5:
        raise ValueError(nth)
    first = 7 * (nth - 1) + 1
    return f"{minute} {hour} {first}-{min(first + 6, 31)} * {weekday}"


def _check_picked(weekday: int, hour: int, minute: int) -> None:
    if not (0 <= weekday <= 6 and 0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError((weekday, hour, minute))


def describe(expression: str) -> str | None:
    """A recurrence in Japanese (「毎月第1月曜日 9:00」) when it is one the picker writes (a
    weekday by number or by name), None for any other crontab."""
    match = _PICKED_RE.match(" ".join(expression.split()))
    if match is None:
        return None
    minute, hour, days, day = match.groups()
    if int(minute) > 59 or int(hour) > 23:
        return None
    weekday = int(day) % 7 if day.isdigit() else _WEEKDAY_NAMES.index(day)
    at = f"{int(hour)}:{int(minute):02d}"
    if days == "*":
        return f"毎週{WEEKDAY_JA[weekday]}曜日 {at}"
    start, end = (int(d) for d in days.split("-"))
    if start % 7 != 1 or end != min(start + 6, 31):
        return None
    return f"毎月第{start // 7 + 1}{WEEKDAY_JA[weekday]}曜日 {at}"


def next_fire(expression: str, after: datetime) -> datetime | None:
    """The first fire time at or after `after` (in JST), None if there is none.
    Raises ValueError for an expression it cannot read."""
    moment: datetime | None = crontab(expression).get_next_fire_time(None, jst(after))
    return moment


def fire_times(expression: str, after: datetime, until: datetime) -> list[datetime]:
    """Fire times later than `after` and not later than `until`, oldest first, at most
    MAX_CATCH_UP of them (a server stopped for months does not flood the runner)."""
    trigger = crontab(expression)
    times: list[datetime] = []
    moment = trigger.get_next_fire_time(None, jst(after) + timedelta(microseconds=1))
    while moment is not None and moment <= until and len(times) < MAX_CATCH_UP:
        times.append(moment)
        moment = trigger.get_next_fire_time(None, moment + timedelta(seconds=1))
    return times


def draw_moment(start: datetime, end: datetime, rng: random.Random) -> datetime:
    """The moment of an unannounced drill, somewhere in its window; drawn once when the
    drill is defined and kept out of every view until it has fired."""
    return start + (end - start) * rng.random()
