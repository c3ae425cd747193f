"""(3) Pacing at the rate limit, (4) priority of a real report during a roll-call, and (5, second
half) the server's memory meanwhile.

hotline runs as `python run.py` (production mode) in its own process; the emulator enforces
LINE WORKS' per-minute limits (paid plan: 240 calls per operation per minute) and adds 150 ms
to every call. Time is scaled on both sides by the same factor (emulator fault `time_scale`,
hotline `HOTLINE_RATE_TIME_SCALE`): with 0.05 one "minute" window is 3 s, so hotline's sustained
budget (half the limit per window, `lineworks.RateLimiter`) is 120 / 3 s = 40 sends/s and the
peak limit 80/s. A roll-call to 2,000 staff (20 towns x 100) is created and fired with
`Drills.create` + `Drills.run_due` on the server's database; the server sends it.

While the roll-call saturates the send_user budget, a 第一報 to K = 25 rooms is posted three
times; its fan-out (200 -> last room) is compared with the same report on the same idle
server just before, and with a first-in-first-out sender (the report's rows behind the drill
rows still queued when it arrived: queue / achieved rate + the idle fan-out).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hotline.clock import Clock
from hotline.config.counterparts import hq_rooms
from hotline.domain.drills import Drills, Targets
from hotline.outbound.client import LineWorksClient
from hotline.outbound.ratelimit import RateLimiter, default_limits

from .common import (
    SUPPORTERS,
    EmulatorSide,
    Figure,
    SubprocessHotline,
    iso_epoch,
    median,
    sent_count,
    sent_since,
    standard_config,
    wait_until,
)
from .fanout import fanout_once

TIME_SCALE = 0.05
LATENCY_MS = 150
LIMIT = 240  # per operation per (scaled) minute, paid plan
WINDOW = 60 * TIME_SCALE
ALLOWED = LIMIT / 2 / WINDOW  # hotline's sustained budget, sends/s
PEAK = LIMIT / WINDOW
SLOT = 1 / ALLOWED  # one pacing slot
DRILL_TOWNS = SUPPORTERS[:20]
PROBES_AT = (500, 1000, 1500)  # drill questions delivered when a report is posted
QUESTION_MARK = "職員参集の確認です"


def _is_question(s: dict[str, Any]) -> bool:
    return s["op"] == "send_user" and QUESTION_MARK in str(s["content"].get("contentText", ""))


def measure_rtt(side: EmulatorSide, channel: str, calls: int = 5) -> float:
    client = LineWorksClient(
        side.credentials, limiter=RateLimiter(default_limits(LIMIT), time_scale=TIME_SCALE)
    )
    client.token()
    durations = []
    for _ in range(calls):
        began = time.perf_counter()
        client.send_to_channel(channel, {"type": "text", "text": "ベンチ: 往復時間の計測"})
        durations.append(time.perf_counter() - began)
    return median(durations)


def run(work: Path, log: list[str]) -> tuple[list[Figure], dict[str, Any]]:
    config_dir = work / "config-pacing"
    config = standard_config(config_dir, members_per_town=100)
    side = EmulatorSide(config)
    side.faults(latency_ms=LATENCY_MS, time_scale=TIME_SCALE)
    server = SubprocessHotline(
        side, config_dir, work / "pacing.sqlite3", work / "hotline-pacing.log", rate_time_scale=TIME_SCALE
    )
    idle: list[float] = []
    busy: list[float] = []
    fifo: list[float] = []
    queued: list[int] = []
    try:
        fanout_once(side, config, 5, "pacing-warm-up")
        rtt = measure_rtt(side, str(hq_rooms(config)[0].channel_id))
        for i in range(3):
            time.sleep(1.0)  # the bucket refills
            idle.append(fanout_once(side, config, 25, f"idle-{i}")[0])
        log.append(f"  pacing: idle fan-out K=25 {median(idle) * 1000:.0f} ms; firing the roll-call...")
        time.sleep(1.0)
        start = sent_count(side)
        drills = Drills(server.storage, lambda: config, Clock(), bot_secret=side.credentials.bot_secret)
        drill_id = drills.create(
            title="ベンチ参集訓練", targets=Targets(municipalities=tuple(DRILL_TOWNS)), created_by="bench"
        )
        fired_at = time.time()
        drills.run_due()
        run_id = wait_until(lambda: server.storage.runs(drill_id), 30, "the drill run")[0]["id"]
        targets = {t["member_key"] for t in server.storage.targets(run_id)}

        def delivered() -> int:
            return sum(1 for s in sent_since(side, start) if _is_question(s))

        for i, threshold in enumerate(PROBES_AT):
            wait_until(lambda t=threshold: delivered() >= t, 300, f"{threshold} drill questions")  # type: ignore[misc]
            waiting = server.storage.outbox_counts().get("pending", 0)
            took = fanout_once(side, config, 25, f"busy-{i}")[0]
            busy.append(took)
            queued.append(waiting)
            log.append(
                f"  pacing: {threshold} questions out, {waiting} queued: report fan-out {took * 1000:.0f} ms"
            )
        wait_until(lambda: delivered() >= len(targets), 600, "every drill question")
        time.sleep(1.0)  # anything still in flight (duplicates would show up here)
        sent = sent_since(side, start)
        with side.emulator.state.lock:
            rejected = dict(side.emulator.state.rejected)
        outbox = server.storage.outbox_counts()
        peak_rss = server.peak_rss_mb()
    finally:
        server.stop()
        side.stop()

    questions = [s for s in sent if _is_question(s)]
    per_person: dict[str, int] = {}
    for s in questions:
        per_person[s["userId"]] = per_person.get(s["userId"], 0) + 1
    missing = len(targets - set(per_person))
    duplicates = sum(n - 1 for n in per_person.values() if n > 1)
    strangers = len(set(per_person) - targets)
    q_times = sorted(iso_epoch(s["time"]) for s in questions)
    user_times = sorted(iso_epoch(s["time"]) for s in sent if s["op"] == "send_user")
    # steady state: from 5 s after the first question (the bucket's initial burst is spent)
    steady = [t for t in user_times if t >= q_times[0] + 5.0]
    steady_rate = (len(steady) - 1) / (steady[-1] - steady[0])
    overall_rate = len(questions) / (q_times[-1] - fired_at)
    peak_window = 0
    j = 0
    for i, t in enumerate(user_times):
        while user_times[j] <= t - WINDOW:
            j += 1
        peak_window = max(peak_window, i - j + 1)
    calls = len(user_times)
    idle_ms = median(idle) * 1000
    busy_ms = median(busy) * 1000
    fifo = [q / steady_rate + median(idle) for q in queued]
    allowance = idle_ms + (SLOT + rtt) * 1000
    figures = [
        Figure(
            "pacing.steady_rate",
            "Roll-call to 2,000: steady send rate",
            steady_rate,
            "sends/s",
            baseline=ALLOWED,
            baseline_label="allowed: limit/2 per window",
            target=">= 0.9 x allowed",
            passed=steady_rate >= 0.9 * ALLOWED,
        ),
        Figure(
            "pacing.overall_rate",
            "Roll-call to 2,000: fire -> last question",
            overall_rate,
            "sends/s",
            baseline=PEAK,
            baseline_label="peak limit per window",
            target="<= peak limit",
            passed=overall_rate <= PEAK,
            note=f"{len(questions)} questions in {q_times[-1] - fired_at:.1f} s",
        ),
        Figure(
            "pacing.peak_window",
            f"Most send_user calls in any {WINDOW:.0f} s window",
            float(peak_window),
            "calls",
            baseline=float(LIMIT),
            baseline_label="limit per window",
            target=f"<= {LIMIT}",
            passed=peak_window <= LIMIT,
        ),
        Figure(
            "pacing.429",
            "429s met during the roll-call",
            float(rejected.get("429", 0)),
            "responses",
            baseline=float(calls),
            baseline_label="send_user calls",
            target="no storm (<= 1% of calls)",
            passed=rejected.get("429", 0) <= 0.01 * calls,
        ),
        Figure(
            "pacing.lost",
            "Staff without their question / duplicates",
            float(missing),
            "people",
            baseline=float(len(targets)),
            baseline_label="targets",
            target="0 lost, <= 1 duplicate each",
            passed=missing == 0 and strangers == 0 and all(n <= 2 for n in per_person.values()),
            note=f"{duplicates} duplicates; outbox {outbox}",
        ),
        Figure(
            "priority.busy_fanout",
            f"Fan-out K=25 during the roll-call (median of {len(busy)})",
            busy_ms,
            "ms",
            baseline=median(fifo) * 1000,
            baseline_label="FIFO sender (queue / rate)",
            target=f"<= idle + slot + RTT = {allowance:.0f} ms",
            passed=busy_ms <= allowance,
            note=f"idle {idle_ms:.0f} ms on the same server; slot {SLOT * 1000:.0f} ms; queue {queued}",
        ),
        Figure(
            "priority.excess_slots",
            "Extra delay during the roll-call, in pacing slots",
            (busy_ms - idle_ms) / (SLOT * 1000),
            "slots",
            target="<= 1 slot + 1 RTT",
            passed=busy_ms - idle_ms <= (SLOT + rtt) * 1000,
            note=f"at real time (slot {60 / (LIMIT / 2) * 1000:.0f} ms) that is "
            f"{(busy_ms - idle_ms) / (SLOT * 1000) * 60 / (LIMIT / 2):.1f} s",
        ),
        Figure(
            "memory.pacing",
            "Peak RSS of the server during the roll-call (VmHWM)",
            peak_rss,
            "MB",
            target="< 200 MB",
            passed=peak_rss < 200,
        ),
    ]
    raw = {
        "server": "python run.py (production mode) in a subprocess",
        "timeScale": TIME_SCALE,
        "latencyMs": LATENCY_MS,
        "windowSeconds": WINDOW,
        "allowedPerSecond": ALLOWED,
        "peakPerSecond": PEAK,
        "slotMs": SLOT * 1000,
        "rttMs": round(rtt * 1000, 1),
        "targets": len(targets),
        "questions": len(questions),
        "missing": missing,
        "duplicates": duplicates,
        "rejected": rejected,
        "sendUserCalls": calls,
        "outbox": outbox,
        "idleFanoutMs": [round(x * 1000, 1) for x in idle],
        "busyFanoutMs": [round(x * 1000, 1) for x in busy],
        "queuedAtPost": queued,
        "fifoEstimateMs": [round(x * 1000, 1) for x in fifo],
        "fireToLastQuestionSeconds": round(q_times[-1] - fired_at, 2),
    }
    return figures, raw


def run_realtime(work: Path, log: list[str], probes: int = 3) -> tuple[list[Figure], dict[str, Any]]:
    """(4) again at real time (time scale 1: a pacing slot is 500 ms, longer than the sender's
    50 ms poll and than a round trip, which the scaled run cannot show). The roll-call is only
    started: once its burst is spent the send_user budget is saturated, and the report is
    posted `probes` times, 3 s apart."""
    config_dir = work / "config-realtime"
    config = standard_config(config_dir, members_per_town=100)
    side = EmulatorSide(config)
    side.faults(latency_ms=LATENCY_MS, time_scale=1.0)
    server = SubprocessHotline(side, config_dir, work / "realtime.sqlite3", work / "hotline-realtime.log")
    idle: list[float] = []
    busy: list[float] = []
    sending: list[int] = []
    try:
        fanout_once(side, config, 5, "realtime-warm-up")
        for i in range(2):  # the bucket holds 120: two 25-room reports fit without waiting
            time.sleep(1.0)
            idle.append(fanout_once(side, config, 25, f"rt-idle-{i}")[0])
        start = sent_count(side)
        drills = Drills(server.storage, lambda: config, Clock(), bot_secret=side.credentials.bot_secret)
        drills.create(
            title="ベンチ参集訓練（実時間）",
            targets=Targets(municipalities=tuple(DRILL_TOWNS)),
            created_by="bench",
        )
        drills.run_due()
        # the bucket's 120 are spent within a couple of seconds; then 2 sends/s
        wait_until(lambda: sum(1 for s in sent_since(side, start) if _is_question(s)) >= 125, 60, "the burst")
        for i in range(probes):
            time.sleep(3.0)
            sending.append(server.storage.outbox_counts().get("sending", 0))
            busy.append(fanout_once(side, config, 25, f"rt-busy-{i}")[0])
        log.append(
            f"  priority at real time: idle {median(idle) * 1000:.0f} ms, "
            f"during the roll-call {median(busy) * 1000:.0f} ms"
        )
        peak_rss = server.peak_rss_mb()
    finally:
        server.stop()
        side.stop()
    slot = 60 / (LIMIT / 2)
    allowance = median(idle) + slot + LATENCY_MS / 1000
    figures = [
        Figure(
            "priority.realtime_busy_fanout",
            f"Fan-out K=25 during a roll-call, real time (median of {len(busy)})",
            median(busy) * 1000,
            "ms",
            baseline=median(idle) * 1000,
            baseline_label="same server, idle",
            target=f"<= idle + slot + RTT = {allowance * 1000:.0f} ms",
            passed=median(busy) <= allowance,
            note=f"slot {slot * 1000:.0f} ms; rows being sent when posted {sending}",
        )
    ]
    raw = {
        "timeScale": 1.0,
        "idleFanoutMs": [round(x * 1000, 1) for x in idle],
        "busyFanoutMs": [round(x * 1000, 1) for x in busy],
        "sendingWhenPosted": sending,
        "peakRssMb": round(peak_rss, 1),
    }
    return figures, raw
