"""Pacing by LINE WORKS' rule: the peak limit for up to 30 minutes of continuous calls, half of
it after that, the peak again after a quiet spell; never more than the limit in any minute.

A fixed clock drives the limiter through simulated minutes; nothing is timed or slept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from hotline.clock import FixedClock, iso
from hotline.config.settings import Credentials, SettingsError, from_env
from hotline.outbound.client import LineWorksClient, LineWorksError
from hotline.outbound.ratelimit import RateLimiter, default_limits, send_minutes
from hotline.storage import PRIORITY_DRILL, PRIORITY_REAL_CALL, NewMessage
from tests.support.bot import TOKEN, Bot, credentials_env
from tests.support.fake_lineworks import FakeLineWorks

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
STEP = 0.25  # seconds between two looks at the limiter


class Stream:
    """Someone with an endless queue of `op` calls, sending whenever the limiter lets them."""

    def __init__(self, per_minute: int, op: str = "send_user") -> None:
        self.clock = FixedClock(T0)
        self.limiter = RateLimiter(default_limits(per_minute), clock=self.clock.monotonic)
        self.op = op
        self.calls: list[float] = []  # seconds since T0

    @property
    def t(self) -> float:
        return self.clock.monotonic() - T0.timestamp()

    def run(self, minutes: float, *, demand_per_minute: float | None = None) -> None:
        """Send for `minutes`: as fast as allowed, or `demand_per_minute` calls spread evenly."""
        end = self.t + minutes * 60
        owed = 0.0
        while self.t < end - 1e-9:
            if demand_per_minute is None:
                while self.limiter.acquire(self.op, timeout=0):
                    self.calls.append(self.t)
            else:
                owed += demand_per_minute * STEP / 60
                while owed >= 1 and self.limiter.acquire(self.op, timeout=0):
                    self.calls.append(self.t)
                    owed -= 1
            self.clock.advance(seconds=STEP)

    def idle(self, minutes: float) -> None:
        self.clock.advance(minutes=minutes)

    def between(self, start_minute: float, end_minute: float) -> int:
        return sum(1 for c in self.calls if start_minute * 60 <= c < end_minute * 60)

    def busiest_window(self, from_minute: float = 0.0) -> int:
        return busiest_window([c for c in self.calls if c >= from_minute * 60])


def busiest_window(calls: list[float]) -> int:
    """The most calls in any 60-s window [t, t + 60): wherever LINE WORKS' minute starts."""
    most, j = 0, 0
    for i, c in enumerate(calls):
        while calls[j] <= c - 60:
            j += 1
        most = max(most, i - j + 1)
    return most


@pytest.mark.parametrize("limit", [240, 60], ids=["paid-240", "free-60"])
def test_a_continuous_stream_goes_at_the_peak_for_30_minutes_then_at_half(limit: int) -> None:
    stream = Stream(limit)
    stream.run(minutes=40)
    for minute in range(30):
        assert stream.between(minute, minute + 1) >= 0.85 * limit, minute
    assert stream.between(0, 30) / 30 >= 0.85 * limit
    assert stream.busiest_window() <= limit  # any 60 s, wherever LINE WORKS' minute starts
    assert stream.busiest_window(from_minute=30) <= 0.5 * limit
    for minute in range(31, 40):  # still sending, at half
        assert stream.between(minute, minute + 1) >= 0.45 * limit, minute


def test_after_a_quiet_spell_the_peak_comes_back_but_a_short_pause_does_not_bring_it() -> None:
    stream = Stream(240)
    stream.run(minutes=35)
    stream.idle(minutes=2)  # a lull, not a quiet spell: the stream is still 'continuous'
    stream.run(minutes=3)
    assert stream.busiest_window(from_minute=37) <= 120
    stream.idle(minutes=6)  # the last minute's calls are gone after 1 more: 5 quiet minutes
    resumed = stream.t / 60
    stream.run(minutes=10)
    assert stream.between(resumed, resumed + 1) >= 0.85 * 240
    assert stream.between(resumed, resumed + 10) / 10 >= 0.85 * 240
    assert stream.busiest_window() <= 240


def test_a_trickle_does_not_start_the_30_minute_clock() -> None:
    # A report fan-out to 25 rooms every minute for an hour is not 'continuous calls' near the
    # limit: the roll-call fired after it still goes at the peak.
    stream = Stream(240)
    stream.run(minutes=60, demand_per_minute=25)
    assert stream.between(0, 60) >= 59 * 25
    fired = stream.t / 60
    stream.run(minutes=5)
    assert stream.between(fired, fired + 5) / 5 >= 0.85 * 240


def test_a_stream_under_half_for_30_minutes_is_held_to_half_afterwards() -> None:
    stream = Stream(240)
    stream.run(minutes=31, demand_per_minute=100)  # busy (over a quarter), under half
    assert stream.busiest_window() <= 101
    fired = stream.t / 60
    stream.run(minutes=5)  # now as fast as allowed: it has been continuous for 30 minutes
    assert stream.busiest_window(from_minute=fired) <= 120


def test_the_peak_share_is_configurable() -> None:
    clock = FixedClock(T0)
    limiter = RateLimiter(default_limits(240), clock=clock.monotonic, peak_share=0.8)
    sent = 0
    while limiter.acquire("send_channel", timeout=0):
        sent += 1
    assert sent == 192
    with pytest.raises(ValueError):
        RateLimiter(default_limits(240), peak_share=1.5)


def test_the_peak_share_is_read_from_the_environment_and_checked(keypair: tuple[str, str]) -> None:
    env = {**credentials_env(keypair[0]), "HOTLINE_API_TOKEN": TOKEN}
    assert from_env(env).rate_peak_share == 0.9
    assert from_env({**env, "HOTLINE_RATE_PEAK_SHARE": "0.8"}).rate_peak_share == 0.8
    for bad in ("1.5", "0", "fast"):
        with pytest.raises(SettingsError, match="HOTLINE_RATE_PEAK_SHARE"):
            from_env({**env, "HOTLINE_RATE_PEAK_SHARE": bad})


def test_operations_have_their_own_budgets() -> None:
    stream = Stream(240)
    stream.run(minutes=1)
    assert stream.limiter.room("send_user") == 0
    assert stream.limiter.room("send_channel") == 216
    assert stream.limiter.room("create_channel") == 9  # 10 per minute on every plan


@responses.activate
def test_a_429_pauses_the_operation_until_rate_limit_reset(credentials: Credentials) -> None:
    clock = FixedClock(T0)
    limiter = RateLimiter(default_limits(240), clock=clock.monotonic)
    client = LineWorksClient(credentials, limiter=limiter)
    responses.post(credentials.auth_url, json={"access_token": "t", "expires_in": 86400})
    responses.post(
        f"{credentials.api_base_url}/bots/{credentials.bot_id}/channels/room-1/messages",
        status=429,
        json={"code": "TOO_MANY_REQUESTS", "description": "API rate limit exceeded"},
        headers={"rateLimit-reset": "20"},
    )
    with pytest.raises(LineWorksError) as caught:
        client.send_to_channel("room-1", {"type": "text", "text": "第一報"})
    assert caught.value.retryable and caught.value.status == 429
    assert not limiter.available("send_channel")
    assert not limiter.acquire("send_channel", timeout=19)  # would have to wait past the reset
    assert limiter.available("send_user")  # other operations go on
    clock.advance(seconds=19.5)
    assert not limiter.available("send_channel")
    clock.advance(seconds=0.5)
    assert limiter.available("send_channel")


@responses.activate
def test_a_slow_token_renewal_does_not_bunch_calls_at_line_works(credentials: Credentials) -> None:
    clock = FixedClock(T0)
    client = LineWorksClient(
        credentials, limiter=RateLimiter(default_limits(240), clock=clock.monotonic), clock=clock.monotonic
    )
    arrived: list[float] = []

    def token(request: Any) -> tuple[int, dict[str, str], str]:
        clock.advance(seconds=3)  # the token endpoint takes 3 s to answer
        return 200, {}, json.dumps({"access_token": "t", "expires_in": 86400})

    def send(request: Any) -> tuple[int, dict[str, str], str]:
        arrived.append(clock.monotonic() - T0.timestamp())
        return 201, {}, ""

    responses.add_callback(responses.POST, credentials.auth_url, callback=token)
    responses.add_callback(
        responses.POST,
        f"{credentials.api_base_url}/bots/{credentials.bot_id}/users/u-1/messages",
        callback=send,
    )
    while clock.monotonic() - T0.timestamp() < 180:
        while client.limiter.available("send_user"):
            client.send_to_user("u-1", {"type": "text", "text": "職員参集の確認です"})
        clock.advance(seconds=STEP)
    assert busiest_window(arrived) <= 216  # counted as LINE WORKS counts them: on arrival


def test_a_real_roll_call_is_first_when_the_drills_budget_frees(bot: Bot, lw: FakeLineWorks) -> None:
    storage = bot.hotline.storage

    def queue(prefix: str, priority: int, count: int) -> None:
        rows = [
            NewMessage(
                f"{prefix}:{i}",
                "drill",
                priority,
                {"type": "text", "text": f"{prefix}{i}"},
                user_id=f"{prefix}-{i}",
            )
            for i in range(count)
        ]
        storage.enqueue(rows, iso(bot.clock.now()))

    queue("drill", PRIORITY_DRILL, 300)
    bot.drain(rounds=50)
    assert len(lw.sent) == 216  # the minute's peak budget goes at once (the clock stands still)
    queue("real", PRIORITY_REAL_CALL, 20)
    bot.drain(rounds=50)
    assert len(lw.sent) == 216  # nothing overtakes the budget, not even a real roll-call
    bot.hotline.sender.threads = 1  # one at a time, so the order is the sender's choice
    bot.clock.advance(seconds=61)
    bot.drain(rounds=30)
    assert [target for _, target, _ in lw.sent[216:]] == [f"real-{i}" for i in range(20)] + [
        f"drill-{i}" for i in range(216, 226)
    ]


def test_a_roll_call_estimate_follows_the_peak_rate() -> None:
    assert send_minutes(2000, 240) == pytest.approx(9.4, abs=0.05)  # 216 per 61 s
    assert send_minutes(216, 240) == pytest.approx(1.0, abs=0.02)
    assert send_minutes(500, 60) == pytest.approx(9.4, abs=0.05)  # the free plan: 54 per 61 s
    # Past 30 minutes, the rest goes at half: 30 min at 212.5/min, then 118/min.
    assert send_minutes(10_000, 240) == pytest.approx(30 + (10_000 - 216 / 61 * 60 * 30) / (120 / 61 * 60))
