"""Failed logins per client address, in memory: after a few failures an address waits."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

MAX_FAILURES = 5  # failed logins allowed per address...
FAILURE_WINDOW = 600.0  # ...in this many seconds; then 429 for the rest of the window
MAX_TRACKED_ADDRESSES = 10_000  # bound the throttle's memory under a spray of addresses


@dataclass
class LoginThrottle:
    """Failed logins per client address within a sliding window (in memory, per process)."""

    limit: int = MAX_FAILURES
    window: float = FAILURE_WINDOW
    failures: dict[str, deque[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self.failures.get(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, address: str, now: float) -> int:
        """Seconds until this address may try again; 0 when it may try now."""
        with self.lock:
            times = self._recent(address, now)
            if not times:
                self.failures.pop(address, None)
            if len(times) < self.limit:
                return 0
            # Locked until the failure that reached the limit leaves the window.
            return max(1, int(times[-self.limit] + self.window - now + 0.999))

    def fail(self, address: str, now: float) -> None:
        with self.lock:
            if address not in self.failures and len(self.failures) >= MAX_TRACKED_ADDRESSES:
                for key in [k for k in self.failures if not self._recent(k, now)]:
                    del self.failures[key]
                if len(self.failures) >= MAX_TRACKED_ADDRESSES:
                    self.failures.pop(next(iter(self.failures)))
            times = self._recent(address, now)
            times.append(now)
            self.failures[address] = times

    def succeed(self, address: str) -> None:
        with self.lock:
            self.failures.pop(address, None)
