"""(1) Fan-out latency: a first report to K linked rooms, from the callback's 200 to the last room.

hotline runs in this process (waitress, the real worker loops, the production sender); the
emulator adds LATENCY_MS to every API call. The baseline sends the same content to the same K
rooms one after another through `LineWorksClient.send_to_channel`, as the official samples do.
Both are timed by the emulator's own clock: "delivered" is the moment the message is stored in
the room. One round trip (RTT) is the median duration of a single `send_to_channel` call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hotline.config.counterparts import linked_rooms
from hotline.demo import demo_user_id
from hotline.outbound.client import LineWorksClient
from hotline.outbound.ratelimit import RateLimiter, default_limits

from .common import (
    STRICKEN,
    EmulatorSide,
    Figure,
    InProcessHotline,
    deputy,
    iso_epoch,
    median,
    percentile,
    post_report,
    sent_count,
    standard_config,
    wait_for_sends,
)

LATENCY_MS = 150
# Both rate limiters (hotline's and the emulator's) run 20 x faster, so that each run's calls
# have left the budget's window (3.05 s) soon after it: every run measures a first report after
# a quiet spell.
TIME_SCALE = 0.05


def fanout_once(side: EmulatorSide, hotline_config: Any, k: int, tag: str) -> tuple[float, dict[str, Any]]:
    """Post a 第一報 from the stricken town with K rooms; seconds from the 200 to the last room."""
    poster = deputy(hotline_config, STRICKEN[k])
    marker = f"ベンチ計測{tag}"
    start = sent_count(side)
    t200 = post_report(side, poster, f"第一報 {marker} 土砂崩れ3か所、人的被害確認中")

    def is_copy(s: dict[str, Any]) -> bool:
        return s["op"] == "send_channel" and marker in str(s["content"].get("contentText", ""))

    copies = wait_for_sends(side, start, is_copy, k, 60)
    # the receipt to the poster comes after every room was tried: wait for it, so that the
    # next run starts with nothing in flight
    wait_for_sends(side, start, lambda s: s["userId"] == demo_user_id(poster), 1, 60)
    last = max(iso_epoch(s["time"]) for s in copies)
    return last - t200, copies[0]["content"]


def sequential_once(
    side: EmulatorSide, client: LineWorksClient, channels: list[str], content: dict[str, Any]
) -> tuple[float, list[float]]:
    """The baseline: the same K sends one after another. Returns (seconds to the last room,
    the duration of each call)."""
    start = sent_count(side)
    t0 = time.time()
    calls = []
    for channel in channels:
        began = time.perf_counter()
        client.send_to_channel(channel, content)
        calls.append(time.perf_counter() - began)
    sent = wait_for_sends(side, start, lambda s: s["op"] == "send_channel", len(channels), 30)
    return max(iso_epoch(s["time"]) for s in sent) - t0, calls


def run(work: Path, reps: int, log: list[str]) -> tuple[list[Figure], dict[str, Any]]:
    config = standard_config(work / "config-fanout", members_per_town=3)
    side = EmulatorSide(config)
    side.faults(latency_ms=LATENCY_MS, time_scale=TIME_SCALE)
    stack = InProcessHotline(
        side, config, work / "config-fanout", work / "fanout.sqlite3", rate_time_scale=TIME_SCALE
    )
    client = LineWorksClient(
        side.credentials, limiter=RateLimiter(default_limits(240), time_scale=TIME_SCALE)
    )
    hotline_times: dict[int, list[float]] = {k: [] for k in STRICKEN}
    sequential_times: dict[int, list[float]] = {k: [] for k in STRICKEN}
    rtts: list[float] = []
    try:
        client.token()
        fanout_once(side, config, 5, "warm-up")  # hotline's token, connections, first queries
        for rep in range(reps):
            for k, code in STRICKEN.items():
                took, content = fanout_once(side, config, k, f"{k}-{rep}")
                hotline_times[k].append(took)
                time.sleep(0.8)  # the bucket refills (K tokens at 40/s)
                channels = [r.channel_id for r in linked_rooms(config, code) if r.channel_id]
                took, calls = sequential_once(side, client, channels, content)
                sequential_times[k].append(took)
                rtts.extend(calls)
                time.sleep(0.8)
            log.append(
                f"  fan-out rep {rep + 1}/{reps}: "
                + ", ".join(f"K={k} {hotline_times[k][-1] * 1000:.0f} ms" for k in STRICKEN)
            )
    finally:
        stack.stop()
        side.stop()
    rtt = median(rtts)
    limit = 1.5 * rtt
    figures = [
        Figure(
            "fanout.rtt",
            "One API round trip (send_to_channel, median)",
            rtt * 1000,
            "ms",
            target=f"emulator latency {LATENCY_MS} ms",
        )
    ]
    for k in STRICKEN:
        mine, theirs = hotline_times[k], sequential_times[k]
        figures.append(
            Figure(
                f"fanout.k{k}.median",
                f"Fan-out K={k}, 200 -> last room (median of {len(mine)})",
                median(mine) * 1000,
                "ms",
                baseline=median(theirs) * 1000,
                baseline_label="sequential send_to_channel",
                target=f"<= 1.5 x RTT = {limit * 1000:.0f} ms",
                passed=median(mine) <= limit,
            )
        )
        figures.append(
            Figure(
                f"fanout.k{k}.p95",
                f"Fan-out K={k}, 200 -> last room (p95 of {len(mine)})",
                percentile(mine, 95) * 1000,
                "ms",
                baseline=percentile(theirs, 95) * 1000,
                baseline_label="sequential send_to_channel",
                target=f"<= 1.5 x RTT = {limit * 1000:.0f} ms",
                passed=percentile(mine, 95) <= limit,
            )
        )
    raw = {
        "latencyMs": LATENCY_MS,
        "timeScale": TIME_SCALE,
        "rttMs": [round(x * 1000, 1) for x in rtts],
        "hotlineMs": {k: [round(x * 1000, 1) for x in v] for k, v in hotline_times.items()},
        "sequentialMs": {k: [round(x * 1000, 1) for x in v] for k, v in sequential_times.items()},
    }
    return figures, raw
