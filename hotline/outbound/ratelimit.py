"""Pacing: how fast each LINE WORKS API operation may be called, per operation.

LINE WORKS counts calls per operation per minute for the whole domain (lineworks-api.md §8).
Its rate-limits page says the figure is a peak value, and only a stream sustained for 30
minutes or more should stay at about half of it:

    「Rate Limit は、ピーク時を想定した Limit 値です。30 分以上連続して API 呼び出しを行う場合は、
    Limit 値の半分以下を目安に使用してください。」

So each operation is sent at up to `peak_share` (0.9) of its limit while it has been busy for
less than 30 minutes, then at half for as long as it stays busy, and at the peak again after a
quiet spell:

- **busy**: the operation made at least a quarter of its limit's calls in the last minute
  (60 of 240, 15 of 60). That is half of what the rule allows a sustained stream, so a stream
  that could matter to LINE WORKS counts, from its first minute; a trickle does not (a few
  report fan-outs, replies, board-reader polls), so it never starts the 30-minute clock that
  would halve the next roll-call. The threshold must stay below half: a stream capped at half
  has to go on counting as busy, or it would jump back to the peak after a few minutes.
- **a run**: from the moment an operation becomes busy until a quiet spell. Short lulls
  (fewer than `QUIET_SPELL` minutes not busy) do not end it: pausing a minute is not a way
  round the rule.
- **quiet spell**: 5 minutes in a row without being busy. Long enough to be a break in the
  stream rather than a dip (five of LINE WORKS' minutes), short enough that the next roll-call
  of the same disaster (reminders come 10 minutes or more later) goes at the peak again.

How the limit is counted is **UNCONFIRMED** (fixed minutes, or a sliding 60-s window, aligned
to whose clock). The limiter is safe under all of them: it keeps the time of each call and lets
a call go only while fewer than the budget were made in the last 61 seconds, so no window of
60 seconds anywhere, fixed or sliding, ever holds more than the budget. The extra second and
the 10 % below the limit are the margin for what our clock cannot see: the time a request
spends on the wire differs from call to call (a token renewal before the first, say), so calls
61 s apart here may land closer together there. Bursts are allowed up to the budget, so a
fan-out to every room of a prefecture goes at once.

The client takes one call's budget here before every request; the sender claims no more rows
of an operation than its `room()`, so a spent operation never blocks the others and, when
budget frees, the highest-priority row waiting is the one claimed.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

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

PEAK_SHARE = 0.9  # of the limit, while a run is younger than SUSTAINED_AFTER
SUSTAINED_SHARE = 0.5  # 「Limit 値の半分以下」
SUSTAINED_AFTER = 30.0  # minutes of a run: 「30 分以上連続して」
QUIET_SPELL = 5.0  # minutes in a row without being busy end a run
BUSY_SHARE = 0.25  # of the limit, in the last minute: the operation is busy
GUARD = 1.0  # seconds added to the minute each budget is counted over (see the docstring)


@dataclass
class _Operation:
    """What the limiter knows about one API operation."""

    limit: int
    calls: deque[float] = field(default_factory=deque)  # times of the calls in the last window
    run_started: float | None = None  # when the current run began (None: never busy yet)
    busy_until: float = -math.inf  # the op stays busy until then, unless more calls come
    paused_until: float = -math.inf  # after a 429


class RateLimiter:
    """A budget per API operation over a sliding window, at the peak or the sustained rate."""

    def __init__(
        self,
        limits: dict[str, int],
        *,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        default_limit: int = 60,
        peak_share: float = PEAK_SHARE,
    ) -> None:
        if not 0 < peak_share <= 1:
            raise ValueError(f"peak_share must be in (0, 1], not {peak_share}")
        self.limits = dict(limits)
        self.default_limit = default_limit
        self.peak_share = peak_share
        self.minute = 60.0 * time_scale  # LINE WORKS' minute (shrunk by the benchmarks)
        self.window = (60.0 + GUARD) * time_scale  # the span each budget is counted over
        self.clock = clock
        self._lock = threading.Condition()
        self._ops: dict[str, _Operation] = {}

    # -- the rule -------------------------------------------------------------------------
    def _op(self, op: str) -> _Operation:
        state = self._ops.get(op)
        if state is None:
            state = self._ops[op] = _Operation(self.limits.get(op, self.default_limit))
        return state

    def _sustained(self, state: _Operation, now: float) -> bool:
        """Whether `now` falls in a run that has lasted SUSTAINED_AFTER minutes."""
        if state.run_started is None or now - state.busy_until >= QUIET_SPELL * self.minute:
            return False  # never busy, or the last run ended with a quiet spell
        return now - state.run_started >= SUSTAINED_AFTER * self.minute

    def _budget(self, state: _Operation, now: float) -> int:
        """Calls allowed in any window now: the peak or the sustained budget."""
        share = SUSTAINED_SHARE if self._sustained(state, now) else self.peak_share
        return max(1, math.floor(state.limit * min(share, self.peak_share)))

    def _wait(self, state: _Operation, now: float) -> float:
        """Seconds until a call could go (0: now)."""
        while state.calls and state.calls[0] <= now - self.window:
            state.calls.popleft()
        if state.paused_until > now:
            return state.paused_until - now
        budget = self._budget(state, now)
        if len(state.calls) < budget:
            return 0.0
        # The window must first lose enough calls that one more fits: the oldest of the
        # `budget` most recent ones leaves it last.
        return max(state.calls[-budget] + self.window - now, 1e-6)

    def _record(self, state: _Operation, now: float) -> None:
        """Count a call made `now`, and follow the operation's run."""
        was_busy_until = state.busy_until
        state.calls.append(now)
        threshold = max(1, math.ceil(state.limit * BUSY_SHARE))
        if len(state.calls) < threshold:
            return
        busy_until = state.calls[-threshold] + self.minute  # when this minute's calls thin out
        if busy_until <= now:
            return  # not busy: fewer than `threshold` calls in the last minute
        if state.run_started is None or now - was_busy_until >= QUIET_SPELL * self.minute:
            state.run_started = now  # busy after a quiet spell: a new run
        state.busy_until = busy_until

    # -- what the client and the sender call -----------------------------------------------
    def available(self, op: str) -> bool:
        """Whether a call of `op` could go now."""
        return self.room(op) > 0

    def room(self, op: str) -> int:
        """How many calls of `op` could go now, one after the other (0 while paused). The
        sender claims no more rows than this, so rows never queue inside `acquire` behind
        the budget, where a higher-priority row arriving later could not overtake them."""
        with self._lock:
            state = self._op(op)
            now = self.clock()
            if self._wait(state, now) > 0.0:
                return 0
            return self._budget(state, now) - len(state.calls)

    def acquire(self, op: str, timeout: float = 600.0) -> bool:
        """Take one call's budget, waiting for it up to `timeout` seconds (0: do not wait)."""
        deadline = self.clock() + timeout
        with self._lock:
            state = self._op(op)
            while True:
                now = self.clock()
                wait = self._wait(state, now)
                if wait == 0.0:
                    self._record(state, now)
                    return True
                if now + wait > deadline:
                    return False
                self._lock.wait(min(wait, 1.0))

    def pause(self, op: str, seconds: float) -> None:
        """Stop `op` for `seconds`: LINE WORKS answered 429 and says when its count resets."""
        with self._lock:
            state = self._op(op)
            state.paused_until = max(state.paused_until, self.clock() + seconds)


def default_limits(per_minute: int) -> dict[str, int]:
    limits = {op: per_minute for op in PLAN_OPERATIONS}
    limits.update(FIXED_LIMITS)
    return limits


def send_minutes(calls: int, per_minute: int, peak_share: float = PEAK_SHARE) -> float:
    """Minutes `calls` calls of one operation take from a quiet start, by the rule above:
    the peak budget per window for SUSTAINED_AFTER minutes, then the sustained one."""
    window_minutes = (60.0 + GUARD) / 60.0
    peak = max(1, math.floor(per_minute * peak_share)) / window_minutes
    sustained = max(1, math.floor(per_minute * min(SUSTAINED_SHARE, peak_share))) / window_minutes
    at_peak = peak * SUSTAINED_AFTER
    if calls <= at_peak:
        return calls / peak
    return SUSTAINED_AFTER + (calls - at_peak) / sustained
