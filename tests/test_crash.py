"""kill -9 a real hotline process while reports are being relayed: after each restart every
accepted report still reaches every linked room, with at most one duplicate per room."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from hotline.clock import Clock
from hotline.config import MUNICIPALITY_ROLES, Config
from hotline.config.counterparts import linked_rooms
from hotline.demo import demo_user_id
from hotline.demo.stack import EmulatorSide, HotlineProcess, free_port, hotline_env, wait_until
from hotline.domain.drills import Drills, Targets
from hotline.storage import Storage
from tests.support.processes import arrivals

TOWNS = ["382035", "384844", "385069", "382141", "382043", "384429", "382078", "384224"]


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
        for _round in range(5):
            process.start()
            for _ in range(10):
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
                set(arrivals(side, tag)) == {r.channel_id for r in linked_rooms(sample_config, code)}
                for tag, code in accepted.items()
            )

        wait_until(all_delivered, 90, "every accepted report in every linked room")
        assert len(accepted) == 50
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
            for channel_id, count in arrivals(side, tag).items():
                assert count <= 1 + interruptions[(report_ids[tag], channel_id)], (tag, channel_id, count)
    finally:
        process.stop()
        side.stop()


def test_a_drill_survives_kill_9_mid_send(tmp_path: Path, sample_config: Config) -> None:
    side = EmulatorSide(sample_config)
    port = free_port()
    database = tmp_path / "drill.sqlite3"
    drills = Drills(Storage(database), lambda: sample_config, Clock(), bot_secret="")
    drill_id = drills.create(
        title="停電訓練", targets=Targets(roles=tuple(MUNICIPALITY_ROLES)), created_by="test"
    )
    people = Targets(roles=tuple(MUNICIPALITY_ROLES)).resolve(sample_config)
    user_ids = {demo_user_id(p): p.key for p in people}  # LINE WORKS reports userIds
    process = HotlineProcess(hotline_env(side, database, port), tmp_path / "hotline.log")
    side.emulator.set_callback_url(f"http://127.0.0.1:{port}/callback")
    side.faults(latency_ms=100)

    def asked() -> Counter[str]:
        return Counter(
            s["userId"]
            for s in side.sent()
            if s["userId"] and "停電訓練" in (s["content"].get("contentText") or "")
        )

    try:
        for target in (10, 40):
            process.start()  # fires the due drill at start-up
            wait_until(lambda target=target: sum(asked().values()) >= target, 30, "questions going out")
            process.kill9()
        process.start()
        wait_until(lambda: set(asked()) >= set(user_ids), 60, "every target asked")
        runs = drills.storage.runs(drill_id)
        assert len(runs) == 1  # no double roll-call
        interrupted = {r["user_id"]: r["interrupted"] for r in drills.storage.outbox_of_run(runs[0]["id"])}
        for user_id, count in asked().items():
            assert 1 <= count <= 1 + interrupted.get(user_ids[user_id], 0), (user_ids[user_id], count)
    finally:
        process.stop()
        side.stop()
