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
