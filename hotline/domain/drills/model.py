"""The words every drill module shares: the two kinds of roll-call, their outbox priority, the
questions with their choices, and the one error a drill definition can raise.

Its own module so that targets, schedule, answers, results and the runner can all use them
without importing one another in a circle.
"""

from __future__ import annotations

from hotline.storage import PRIORITY_DRILL, PRIORITY_REAL_CALL

KINDS = ("drill", "real")  # 職員参集訓練, 実参集

# The choices are sent as button labels and stored as the answers themselves, so the
# summary counts them by these exact words.
SAFETY = ("無事", "軽傷", "重傷")
ARRIVAL = ("すぐ参集可", "30分以内", "1時間以内", "3時間以内", "参集不可")
# Minutes until on site, for the arrival forecast (None: cannot come).
ARRIVAL_MINUTES: dict[str, int | None] = {
    "すぐ参集可": 0,
    "30分以内": 30,
    "1時間以内": 60,
    "3時間以内": 180,
    "参集不可": None,
}
DEFAULT_QUESTIONS = {"safety": list(SAFETY), "arrival": list(ARRIVAL)}


class DrillError(ValueError):
    """A drill definition that cannot be accepted; the message says why (in Japanese)."""


def priority(kind: str) -> int:
    """A real roll-call goes right after reports; a drill after every real message."""
    return PRIORITY_REAL_CALL if kind == "real" else PRIORITY_DRILL


def label(kind: str) -> str:
    return "【実参集】" if kind == "real" else "【訓練】"
