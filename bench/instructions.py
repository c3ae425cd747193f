"""(8) An HQ instruction (【指示】) to every town of a prefecture of Hokkaido's size (179
municipalities, 14 groups, the configuration bigpref generates), beside the same on an
Ehime-sized one (20 municipalities).

Measured:
- the instruction handled in this process: its stored callback to its outbox rows (one per
  town room and group room: 193 for Hokkaido) and its frozen recipients (every town's people),
  one transaction; repeated, each a new instruction to every town;
- the same instruction through the real sender and the emulator (150 ms per call, the paid
  plan's 240 calls a minute, real time): from hotline's 200 to the HQ member's 1:1 【指示】 to
  the last of its rooms. Unlike bigpref.allRooms (179 rows committed by hand) this is the whole
  path of an instruction, with the rooms of the groups too.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hotline.clock import iso
from hotline.config import Config
from hotline.config.settings import Settings
from hotline.demo import DEMO_DOMAIN_ID, make_credentials
from hotline.domain.instructions import rooms_for
from hotline.outbound.client import LineWorksClient
from hotline.outbound.ratelimit import RateLimiter, default_limits
from hotline.runtime.service import Hotline

from .bigpref import EHIME, LATENCY_MS, ms, write_prefecture
from .common import (
    API_TOKEN,
    EmulatorSide,
    Figure,
    InProcessHotline,
    iso_epoch,
    post_report,
    sent_count,
    wait_for_sends,
)

TEXT = "【指示】\n全市町村へ: 被害状況と避難所の開設状況を報告してください"


def handled(work: Path, root: Path, config: Config, reps: int) -> list[float]:
    """Seconds from a stored 【指示】 callback to its outbox rows (inbox worker, no sending)."""
    credentials, _ = make_credentials()
    settings = Settings(
        credentials=credentials,
        api_token=API_TOKEN,
        config_dir=root,
        database=work / f"instr-{root.name}.sqlite3",
    )
    hotline = Hotline(settings, config)
    boss = config.hq_members[0]
    rooms = len(rooms_for(config, tuple(config.municipalities)))
    times = []
    try:
        for n in range(reps + 1):
            at = iso(datetime.now(UTC))
            event = {
                "type": "message",
                "source": {"userId": boss.user_id, "domainId": DEMO_DOMAIN_ID},
                "issuedTime": at,
                "content": {"type": "text", "text": f"{TEXT} その{n}"},
            }
            began = time.perf_counter()
            hotline.storage.store_event(json.dumps(event, ensure_ascii=False), at)
            hotline.process_inbox_once()
            times.append(time.perf_counter() - began)
            (latest, *_) = hotline.storage.instructions(1)
            assert len(hotline.storage.deliveries(latest["id"])) == rooms
    finally:
        hotline.sender.shutdown()
        hotline.storage.close()
    return times[1:]  # the first also warms the caches


def live(work: Path, root: Path, config: Config, log: list[str]) -> dict[str, Any]:
    """The HQ member's 【指示】 1:1 through the emulator at real time: ms from the 200 to the last
    room, and the round trip of one call for scale."""
    side = EmulatorSide(config)
    side.faults(latency_ms=LATENCY_MS)
    stack = InProcessHotline(side, config, root, work / "instr-live.sqlite3")
    client = LineWorksClient(side.credentials, limiter=RateLimiter(default_limits(240)))
    boss = config.hq_members[0]
    rooms = rooms_for(config, tuple(config.municipalities))
    try:
        client.token()
        rtts = []
        for room in rooms[:8]:
            began = time.perf_counter()
            client.send_to_channel(room.channel_id, {"type": "text", "text": "【ベンチ】往復時間の計測"})
            rtts.append(time.perf_counter() - began)
        start = sent_count(side)
        t200 = post_report(side, boss, f"{TEXT} 計測live")
        sent = wait_for_sends(
            side,
            start,
            lambda s: s["op"] == "send_channel" and "計測live" in str(s["content"]),
            len(rooms),
            180,
        )
        wait_for_sends(side, start, lambda s: s["userId"] == boss.user_id, 1, 60)  # the receipt
        last = max(iso_epoch(s["time"]) for s in sent) - t200
        too_many = dict(side.emulator.state.rejected).get("429", 0)
    finally:
        stack.stop()
        side.stop()
    log.append(f"  instruction to {len(rooms)} rooms: last at {last * 1000:.0f} ms; RTT {ms(rtts):.0f} ms")
    return {"rooms": len(rooms), "last": last, "rtt": rtts, "429": too_many}


def run(work: Path, reps: int, log: list[str]) -> tuple[list[Figure], dict[str, Any]]:
    big_root, small_root = work / "hokkaido-instr", work / "ehime-instr"
    big = write_prefecture(big_root)
    small = write_prefecture(small_root, EHIME, name="愛媛県", code="38")
    big_times = handled(work, big_root, big, reps)
    small_times = handled(work, small_root, small, reps)
    log.append(f"  handled: 179 towns {ms(big_times):.1f} ms, 20 towns {ms(small_times):.1f} ms")
    found = live(work, big_root, big, log)
    rtt = ms(found["rtt"])
    figures = [
        Figure(
            "instructions.handled",
            f"an HQ 【指示】 to all {len(big.municipalities)} towns: stored callback -> its "
            f"{found['rooms']} outbox rows and frozen recipients",
            ms(big_times),
            "ms",
            baseline=ms(small_times),
            baseline_label=f"the same, {len(small.municipalities)} towns",
            target="<= 200 ms",
            passed=ms(big_times) <= 200,
            note=f"median of {len(big_times)}",
        ),
        Figure(
            "instructions.allRooms",
            f"an HQ 【指示】 to all {len(big.municipalities)} towns through the emulator, 200 -> last of "
            f"{found['rooms']} rooms",
            found["last"] * 1000,
            "ms",
            baseline=4 * rtt,
            baseline_label="4 x RTT",
            note=f"RTT {rtt:.0f} ms; {found['429']} x 429",
        ),
    ]
    raw = {
        "handledMs": {
            "big": [round(t * 1000, 2) for t in big_times],
            "small": [round(t * 1000, 2) for t in small_times],
        },
        "rooms": found["rooms"],
        "lastMs": round(found["last"] * 1000),
        "rttMs": [round(x * 1000, 1) for x in found["rtt"]],
        "429": found["429"],
    }
    return figures, raw
