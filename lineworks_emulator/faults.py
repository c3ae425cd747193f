"""Fault switches and per-operation rate limits of the emulator (demos/tests only)."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Limits per minute (lineworks-api.md §8).
PLAN_LIMITS = {"paid": 240, "free": 60}
FIXED_LIMITS = {"create_channel": 10, "boards": 60}

OPERATIONS = (
    "token",
    "send_user",
    "send_channel",
    "create_channel",
    "channel_get",
    "channel_members",
    "channel_leave",
    "attachments",
    "users",
    "boards",
)


class FaultError(ValueError):
    """An invalid fault switch value sent to ``POST /_emulator/faults``."""


@dataclass
class Faults:
    """Current fault switches. Mutate only through :meth:`update` / :meth:`reset`."""

    latency_ms: float = 0.0
    plan: str = "paid"
    time_scale: float = 1.0
    rate_limits: dict[str, int] = field(default_factory=dict)
    error_500_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    burst_429: int = 0
    token_ttl_seconds: int = 86400
    remove_bot_from: list[str] = field(default_factory=list)
    random_seed: int | None = None
    callback_timeout_seconds: float = 5.0
    readers_page_size: int = 5000  # board readers per answer (maxItems 5000); tests shrink it
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def as_json(self) -> dict[str, Any]:
        """The switches as JSON (what ``GET /_emulator/faults`` returns)."""
        return {
            "latency_ms": self.latency_ms,
            "plan": self.plan,
            "time_scale": self.time_scale,
            "rate_limits": dict(self.rate_limits),
            "error_500_rate": self.error_500_rate,
            "timeout_rate": self.timeout_rate,
            "timeout_seconds": self.timeout_seconds,
            "burst_429": self.burst_429,
            "token_ttl_seconds": self.token_ttl_seconds,
            "remove_bot_from": list(self.remove_bot_from),
            "random_seed": self.random_seed,
            "callback_timeout_seconds": self.callback_timeout_seconds,
            "readers_page_size": self.readers_page_size,
        }

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; raises FaultError (and changes nothing) on a bad value.

        ``expire_tokens_now`` is not a switch and is handled by the caller.
        """
        new = dict(self.as_json())
        for key, value in changes.items():
            if key == "expire_tokens_now":
                continue
            if key not in new:
                raise FaultError(f"unknown fault switch {key!r}")
            new[key] = value
        checked = _check(new)
        if "random_seed" in changes:
            self.rng = random.Random(checked["random_seed"])  # noqa: S311 - fault injection
        for key, value in checked.items():
            setattr(self, key, value)

    def limit_for(self, op: str) -> int:
        """Requests per window allowed for one API operation."""
        if op in self.rate_limits:
            return self.rate_limits[op]
        if op in FIXED_LIMITS:
            return FIXED_LIMITS[op]
        return PLAN_LIMITS[self.plan]

    @property
    def window_seconds(self) -> float:
        """Length of a rate-limit window: one minute scaled by ``time_scale``."""
        return 60.0 * self.time_scale


def _number(value: Any, key: str, *, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{key} must be a number")
    if value < low or (high is not None and value > high):
        raise FaultError(f"{key} out of range")
    return float(value)


def _check(new: dict[str, Any]) -> dict[str, Any]:
    out = dict(new)
    out["latency_ms"] = _number(new["latency_ms"], "latency_ms", low=0)
    if new["plan"] not in PLAN_LIMITS:
        raise FaultError("plan must be 'paid' or 'free'")
    scale = _number(new["time_scale"], "time_scale", low=0)
    if scale <= 0:
        raise FaultError("time_scale must be > 0")
    out["time_scale"] = scale
    limits = new["rate_limits"]
    if not isinstance(limits, dict):
        raise FaultError("rate_limits must be an object")
    for op, limit in limits.items():
        if op not in OPERATIONS:
            raise FaultError(f"rate_limits: unknown operation {op!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise FaultError(f"rate_limits.{op} must be a non-negative integer")
    out["rate_limits"] = dict(limits)
    out["error_500_rate"] = _number(new["error_500_rate"], "error_500_rate", low=0, high=1)
    out["timeout_rate"] = _number(new["timeout_rate"], "timeout_rate", low=0, high=1)
    out["timeout_seconds"] = _number(new["timeout_seconds"], "timeout_seconds", low=0)
    out["burst_429"] = int(_number(new["burst_429"], "burst_429", low=0))
    out["token_ttl_seconds"] = int(_number(new["token_ttl_seconds"], "token_ttl_seconds", low=1))
    removed = new["remove_bot_from"]
    if not isinstance(removed, list) or not all(isinstance(c, str) for c in removed):
        raise FaultError("remove_bot_from must be a list of channelIds")
    out["remove_bot_from"] = list(removed)
    seed = new["random_seed"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaultError("random_seed must be an integer or null")
    out["callback_timeout_seconds"] = _number(
        new["callback_timeout_seconds"], "callback_timeout_seconds", low=0.01
    )
    out["readers_page_size"] = int(_number(new["readers_page_size"], "readers_page_size", low=1, high=5000))
    return out


@dataclass
class RateDecision:
    """Outcome of one rate-limit check, with the values for the ``rateLimit-*`` headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        """The documented rate-limit response headers."""
        return {
            "rateLimit-limit": str(self.limit),
            "rateLimit-remaining": str(self.remaining),
            "rateLimit-reset": str(self.reset_seconds),
        }


class RateLimiter:
    """Fixed-window counter per API operation (tenant-wide, like LINE WORKS)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def reset(self) -> None:
        """Forget all windows."""
        with self._lock:
            self._windows.clear()

    def hit(self, op: str, limit: int, window: float) -> RateDecision:
        """Count one call of ``op`` and say whether it is within the limit."""
        now = self._clock()
        with self._lock:
            start, used = self._windows.get(op, (now, 0))
            if now >= start + window or now < start:
                start, used = now, 0
            allowed = used < limit
            if allowed:
                used += 1
            self._windows[op] = (start, used)
        reset = max(0, math.ceil(start + window - now))
        return RateDecision(allowed, limit, max(0, limit - used), reset)
