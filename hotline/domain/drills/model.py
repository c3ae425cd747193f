"""The words every drill module shares: the two kinds of roll-call, their outbox priority, the
questions with their choices, and the one error a drill definition can raise.

Its own module so that targets, schedule, answers, results and the runner can all use them
without importing one another in a circle.
"""

from __future__ import annotations

from hotline.messages import DRILL_ARRIVAL_CHOICES, DRILL_SAFETY_CHOICES
from hotline.storage import PRIORITY_DRILL, PRIORITY_REAL_CALL

KINDS = ("drill", "real")  # 職員参集訓練, 実参集

# The choices are worded in hotline.messages (they are button labels) and stored as the
# answers themselves, so the summary counts them by these exact words.
SAFETY = DRILL_SAFETY_CHOICES
ARRIVAL = DRILL_ARRIVAL_CHOICES
# Minutes until on site for each arrival choice, for the arrival forecast (None: cannot come).
ARRIVAL_MINUTES: dict[str, int | None] = dict(zip(ARRIVAL, (0, 30, 60, 180, None), strict=True))
DEFAULT_QUESTIONS = {"safety": list(SAFETY), "arrival": list(ARRIVAL)}


class DrillError(ValueError):
    """A drill definition that cannot be accepted; the message says why (in Japanese)."""


def priority(kind: str) -> int:
    """A real roll-call goes right after reports; a drill after every real message."""
    return PRIORITY_REAL_CALL if kind == "real" else PRIORITY_DRILL
