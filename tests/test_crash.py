"""kill -9 a real hotline process while reports are being relayed: after each restart every
accepted report still reaches every linked room, with at most one duplicate per room."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from hotline.config import Config
from hotline.counterparts import linked_rooms
from hotline.storage import Storage
from tests.live import EmulatorSide, HotlineProcess, free_port, hotline_env, wait_until

TOWNS = ["382035", "384844", "385069", "382141", "382043", "384429", "382078", "384224"]


def copies(side: EmulatorSide, tag: str) -> Counter[str]:
    """How many times the report tagged `tag` arrived in each room."""
    return Counter(
        s["channelId"]
        for s in side.sent()
        if s["channelId"]
        and s["content"].get("type") == "button_template"
        and s["content"]["contentText"].endswith(tag)
    )


def test_reports_survive_kill_9_mid_relay(tmp_path: Path, sample_config: Config) -> None:
    rng = random.Random(20261121)
    side = EmulatorSide(sample_config)
    port = free_port()
    database = tmp_path / "crash.sqlite3"
    process = HotlineProcess(hotline_env(side, database, port), tmp_path / "hotline.log")
    interrupted = unfinished = 0
    side.emulator.set_callback_url(f"http://127.0.0.1:{port}/callback")
    # Slow LINE WORKS down so that a kill lands while sends are in flight.
    side.faults(latency_ms=150)
    accepted: dict[str, str] = {}  # tag -> municipality code
    try:
        n = 0
        for _round in range(4):
            process.start()
            for _ in range(6):
                code = TOWNS[n % len(TOWNS)]
                tag = f"[試験{n:03d}]"
                poster = sample_config.municipalities[code].members[0]
                if side.say(poster, f"第一報 停電と断水 {tag}")["status"] == 200:
                    accepted[tag] = code
                n += 1
            # Kill at a random moment while relays are under way.
            target = rng.randint(1, 8)
            before = len(side.sent())
            wait_until(lambda before=before, target=target: len(side.sent()) >= before + target, 30, "sends")
            process.kill9()
            # What the dead process left unfinished: the restart must finish it.
            db = Storage(database)
            outbox, inbox = db.outbox_counts(), db.inbox_counts()
            interrupted += outbox.get("sending", 0)  # caught between "sent" and "marked"
            unfinished += outbox.get("pending", 0) + inbox.get("new", 0)
            db.close()
        process.start()

        def all_delivered() -> bool:
            return all(
                set(copies(side, tag)) == {r.channel_id for r in linked_rooms(sample_config, code)}
                for tag, code in accepted.items()
            )

        wait_until(all_delivered, 90, "every accepted report in every linked room")
        assert len(accepted) == 24
        assert interrupted + unfinished > 0, "no kill landed while work was outstanding"
        # A duplicate can only come from a row a kill caught between "sent" and "marked": at
        # most one extra copy per such interruption, and none for any other row.
        db = Storage(database)
        reports = [r for i in db.incidents() for r in db.reports_of_incident(i["id"])]
        report_ids = {r["text"].split(" ")[-1]: r["id"] for r in reports}
        interruptions = {
            (d["report_id"], d["channel_id"]): d["interrupted"]
            for r in reports
            for d in db.deliveries(r["id"])
        }
        db.close()
        for tag in accepted:
            for channel_id, count in copies(side, tag).items():
                assert count <= 1 + interruptions[(report_ids[tag], channel_id)], (tag, channel_id, count)
    finally:
        process.stop()
        side.stop()
