"""JMA telegram → automatic response: from the moment a real telegram appears in the feed to
the last roll-call question and the HQ notice reaching LINE WORKS, against the poll interval.

A fresh hotline (LiveStack: waitress and the real worker loops, the emulator on 127.0.0.1) polls
a local feed (hotline.demo.jma_feed) every POLL seconds, the least HOTLINE_JMA_POLL_SECONDS
allows; the telegram is published at a random moment of the poll cycle, so the figure is the
poll wait (0 to POLL s) plus hotline's own work. Two real telegrams (出典: 気象庁): 西条市 at 震度1
(a real roll-call of 4, the sample's demo threshold) and JMA's Nankai drill tsunami warning (a
【訓練】 roll-call of every coastal town's staff, 63 people)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from hotline import config as config_module
from hotline.clock import parse_iso
from hotline.demo.jma_feed import JmaFeedServer
from hotline.demo.stack import LiveStack

from .common import ROOT, Figure, iso_epoch, median, sent_since, wait_until

POLL = 5.0
CASES = {
    "quake": ("32-35_06_04_100915_VXSE53.xml", "震度1 西条市 (real roll-call)"),
    "tsunami": ("32-39_12_02_191025_VTSE41.xml", "drill tsunami warning (【訓練】 roll-call)"),
}


def _once(work: Path, file: str, rng: random.Random) -> dict[str, float]:
    config = config_module.load(ROOT)
    feed = JmaFeedServer()
    feed.start()
    database = work / f"jma-{time.monotonic_ns()}.sqlite3"
    stack = LiveStack(config, database, jma_feed_url=feed.url, jma_poll_seconds=POLL)
    storage = stack.hotline.storage
    try:
        time.sleep(rng.uniform(0, POLL))  # a random moment of the poll cycle
        published = time.time()
        feed.publish(file)

        def done() -> list[dict[str, Any]] | None:
            sent = sent_since(stack, 0)
            runs = [r for d in storage.drills() for r in storage.runs(d["id"])]
            if not runs or not any(s["channelId"] and _notice(s) for s in sent):
                return None
            targets = {t["member_key"] for r in runs for t in storage.targets(r["id"])}
            return sent if len([s for s in sent if _question(s)]) >= len(targets) > 0 else None

        sent = wait_until(done, 60, "the roll-call and the HQ notice")
        hq = {r.channel_id for r in config.rooms if r.link == "hq"}
        notice = min(iso_epoch(s["time"]) for s in sent if s["channelId"] in hq and _notice(s))
        last_question = max(iso_epoch(s["time"]) for s in sent if _question(s))
        (row,) = storage.telegrams()
        stored = parse_iso(row["received_at"]).timestamp()
        return {
            "notice": notice - published,
            "lastQuestion": last_question - published,
            "storedToLastQuestion": last_question - stored,
            "questions": float(sum(1 for s in sent if _question(s))),
        }
    finally:
        stack.stop()
        feed.stop()


def _notice(sent: dict[str, Any]) -> bool:
    return "自動・気象庁" in str(sent["content"])


def _question(sent: dict[str, Any]) -> bool:
    return bool(sent["userId"]) and "職員参集の確認" in str(sent["content"])


def _rounded(values: list[float]) -> list[float]:
    return [round(x, 2) for x in values]


def run(work: Path, reps: int, log: list[str]) -> tuple[list[Figure], dict[str, Any]]:
    rng = random.Random(20261201)
    figures: list[Figure] = []
    details: dict[str, Any] = {"pollSeconds": POLL}
    for key, (file, label) in CASES.items():
        runs = [_once(work, file, rng) for _ in range(reps)]
        details[key] = runs
        last = [r["lastQuestion"] for r in runs]
        notice = [r["notice"] for r in runs]
        own = [r["storedToLastQuestion"] for r in runs]
        log.append(
            f"  {label}: {int(runs[0]['questions'])} questions; last question {_rounded(last)} s, "
            f"HQ notice {_rounded(notice)} s after the telegram appeared (poll {POLL:g} s); "
            f"stored -> last question {_rounded(own)} s"
        )
        for name, values in (("lastQuestion", last), ("notice", notice)):
            what = "last roll-call question" if name == "lastQuestion" else "HQ notice"
            figures.append(
                Figure(
                    key=f"jma.{key}.{name}.max",
                    label=f"JMA {label}: telegram in feed → {what} (worst of {reps})",
                    value=max(values),
                    unit="s",
                    baseline=POLL,
                    baseline_label="poll interval",
                    target=f"≤ poll + 5 s ({POLL + 5:g} s)",
                    passed=max(values) <= POLL + 5,
                    note=f"median {median(values):.2f} s",
                )
            )
        figures.append(
            Figure(
                key=f"jma.{key}.storedToLastQuestion.max",
                label=f"JMA {label}: telegram stored → last roll-call question (hotline's own work)",
                value=max(own),
                unit="s",
                note=f"median {median(own):.2f} s",
            )
        )
    return figures, details
