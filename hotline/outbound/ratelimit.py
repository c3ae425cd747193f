"""Pacing: a token bucket per LINE WORKS API operation.

LINE WORKS counts calls per operation per minute for the whole domain (lineworks-api.md §8).
The client takes one call's budget here before every request; the sender asks `available()`
before claiming a row, so a spent operation never blocks the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Per-minute limits per API operation (lineworks-api.md §8). Sends use the plan's figure.
FIXED_LIMITS = {"create_channel": 10, "boards": 60}
PLAN_OPERATIONS = (
    "send_user",
    "send_channel",
    "channel_get",
    "channel_members",
    "attachments",
    "users",
)


class RateLimiter:
    """A token bucket per API operation.

    LINE WORKS counts calls per operation per minute for the whole domain, and asks that
    calls sustained for 30 minutes or more stay at half the limit. A bucket of capacity
    limit/2 refilled at limit/2 per minute never exceeds `limit` in any one-minute window and
    sustains exactly half: safe under both rules, and a 25-room fan-out still goes at once.
    """

    def __init__(
        self,
        limits: dict[str, int],
        *,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        default_limit: int = 60,
    ) -> None:
        self.limits = dict(limits)
        self.window = 60.0 * time_scale
        self.clock = clock
        self.default_limit = default_limit
        self._lock = threading.Condition()
        self._tokens: dict[str, float] = {}
        self._updated: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}

    def capacity(self, op: str) -> float:
        return max(1.0, self.limits.get(op, self.default_limit) / 2)

    def rate(self, op: str) -> float:
        """Sustained calls per second allowed for `op`."""
        return self.limits.get(op, self.default_limit) / 2 / self.window

    def _refill(self, op: str, now: float) -> float:
        cap = self.capacity(op)
        tokens = self._tokens.get(op, cap)
        last = self._updated.get(op, now)
        tokens = min(cap, tokens + (now - last) * self.rate(op))
        self._tokens[op] = tokens
        self._updated[op] = now
        return tokens

    def available(self, op: str) -> bool:
        """Whether a call of `op` could go now (used to pick what to claim next)."""
        with self._lock:
            now = self.clock()
            if self._paused_until.get(op, 0.0) > now:
                return False
            return self._refill(op, now) >= 1.0

    def acquire(self, op: str, timeout: float = 600.0) -> bool:
        """Take one call's budget, waiting for it up to `timeout` seconds."""
        deadline = self.clock() + timeout
        with self._lock:
            while True:
                now = self.clock()
                paused = self._paused_until.get(op, 0.0)
                if paused <= now and self._refill(op, now) >= 1.0:
                    self._tokens[op] -= 1.0
                    return True
                wait = max(paused - now, (1.0 - self._tokens.get(op, 0.0)) / self.rate(op))
                if now + wait > deadline:
                    return False
                self._lock.wait(min(wait, 1.0))

    def pause(self, op: str, seconds: float) -> None:
        """Stop `op` for `seconds` (after a 429) and empty its bucket."""
        with self._lock:
            now = self.clock()
            self._paused_until[op] = max(self._paused_until.get(op, 0.0), now + seconds)
            self._tokens[op] = 0.0
            self._updated[op] = now + seconds


def default_limits(per_minute: int) -> dict[str, int]:
    limits = {op: per_minute for op in PLAN_OPERATIONS}
    limits.update(FIXED_LIMITS)
    return limits
