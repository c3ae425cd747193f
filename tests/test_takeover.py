"""Lose the primary machine, take over on a standby from the Litestream replica.

The runbook in docs/OPERATIONS.md, step by step: the primary (`python run.py` under
HOTLINE_REPLICA_URL, a file replica here) accepts 50 reports while a roll-call drill runs; it and
its Litestream are killed with SIGKILL at once; `hotline restore` brings the replica back into a
second database path; LINE WORKS' callback URL is switched; a standby starts on another port.
Everything accepted more than one sync interval before the kill must be on the standby and
reach every room, the drill must go on (not start again), and the old primary must refuse to
start. Then the return: the standby stops, the original machine restores from the replica and
takes over again, and the standby refuses to start. The figures (RTO, RPO, duplicates) are
printed: `pytest -s tests/test_takeover.py`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from hotline.clock import Clock
from hotline.config import MUNICIPALITY_ROLES, Config
from hotline.config.counterparts import linked_rooms
from hotline.demo import demo_user_id
from hotline.demo.stack import EmulatorSide, HotlineProcess, free_port, hotline_env, wait_until
from hotline.domain.drills import Drills, Targets
from hotline.storage import Storage
from tests.support.processes import arrivals, hotline_cli, run_py

SYNC = 1.0  # HOTLINE_REPLICA_SYNC_INTERVAL: the promise is "within one interval"
TOWNS = ["382035", "384844", "385069", "382141", "382043", "384429", "382078", "384224"]


def env_for(side: EmulatorSide, database: Path, port: int, replica: str) -> dict[str, str]:
    return {
        **hotline_env(side, database, port),
        "HOTLINE_REPLICA_URL": replica,
        "HOTLINE_REPLICA_SYNC_INTERVAL": f"{SYNC:g}",
        # LINE WORKS' one-minute rate windows shrunk, so that the backlog drains in seconds
        "HOTLINE_RATE_TIME_SCALE": "0.1",
    }


def test_a_standby_restored_from_the_replica_takes_over_when_the_primary_is_lost(
    tmp_path: Path, sample_config: Config
) -> None:
    side = EmulatorSide(sample_config)
    replica = f"file://{tmp_path / 'replica'}"
    primary_db = tmp_path / "primary" / "hotline.sqlite3"
    standby_db = tmp_path / "standby" / "hotline.sqlite3"
    people = {demo_user_id(p) for p in Targets(roles=tuple(MUNICIPALITY_ROLES)).resolve(sample_config)}

    def asked() -> Counter[str]:
        return Counter(
            s["userId"]
            for s in side.sent()
            if s["userId"] and "停電訓練" in (s["content"].get("contentText") or "")
        )

    primary_port, standby_port = free_port(), free_port()
    primary = HotlineProcess(env_for(side, primary_db, primary_port, replica), tmp_path / "primary.log")
    standby = HotlineProcess(env_for(side, standby_db, standby_port, replica), tmp_path / "standby.log")
    side.emulator.set_callback_url(f"http://127.0.0.1:{primary_port}/callback")
    # Each LINE WORKS call takes a second: sends are still in flight and waiting when the
    # machine dies, so the standby has work to resume.
    side.faults(latency_ms=1000)
    pace = threading.Event()
    accepted: dict[str, tuple[str, float]] = {}  # tag -> (municipality, when its 200 came)

    def post_reports(numbers: range) -> None:
        for n in numbers:
            code = TOWNS[n % len(TOWNS)]
            tag = f"[切替{n:03d}]"
            poster = sample_config.municipalities[code].members[0]
            assert side.say(poster, f"第一報 庁舎浸水 {tag}")["status"] == 200
            accepted[tag] = (code, time.monotonic())
            # People post over time (about eight reports a second), so that at the kill most
            # reports are older than one sync interval and the newest are not. This shapes the
            # load; no result is waited for here.
            pace.wait(0.12)

    try:
        primary.start()
        post_reports(range(25))
        # The coordinator starts a roll-call (as `hotline drill create` does); the server fires it.
        drills = Drills(Storage(primary_db), lambda: sample_config, Clock(), bot_secret="")
        drill_id = drills.create(
            title="停電訓練", targets=Targets(roles=tuple(MUNICIPALITY_ROLES)), created_by="test"
        )
        drills.storage.close()
        question = wait_until(
            lambda: next((s for s in side.sent() if s["userId"] in people and "停電訓練" in str(s)), None),
            30,
            "the first drill question",
        )
        choice = question["content"]["actions"][0]  # someone answers the roll-call
        side.act(
            question["userId"], {"type": "text", "text": choice["label"], "postback": choice["postback"]}
        )
        answered_drill = time.monotonic()
        post_reports(range(25, 50))
        assert sum(asked().values()) < len(people), "the drill had finished: nothing left to resume"

        primary.kill9()  # the machine is lost: hotline and Litestream die together
        killed = time.monotonic()

        side.faults(latency_ms=0)  # the slowness only had to keep work in flight at the kill
        # The runbook: restore from the replica on the standby, switch the callback, start.
        restore = hotline_cli("restore", "--replica", replica, "--database", str(standby_db), env=standby.env)
        assert restore.returncode == 0, restore.stderr
        side.emulator.set_callback_url(f"http://127.0.0.1:{standby_port}/callback")
        standby.start()  # returns once /healthz answers 200
        rto = time.monotonic() - killed

        db = Storage(standby_db)
        present = {r["text"].split(" ")[-1] for i in db.incidents() for r in db.reports_of_incident(i["id"])}
        runs = db.runs(drill_id)
        answers = db.answers(runs[0]["id"]) if runs else []
        lost = {tag: killed - at for tag, (_, at) in accepted.items() if tag not in present}
        for tag, (_, at) in accepted.items():
            if killed - at > SYNC:
                assert tag in present, f"{tag} was accepted {killed - at:.2f} s before the kill and is lost"
        if killed - answered_drill > SYNC:
            assert answers, "the drill answer given before the kill is lost"
        assert len(runs) == 1 and runs[0]["status"] == "running", "the drill must go on, not start again"

        def delivered() -> bool:
            return all(
                set(arrivals(side, tag)) >= {r.channel_id for r in linked_rooms(sample_config, code)}
                for tag, (code, _) in accepted.items()
                if tag in present
            )

        wait_until(delivered, 60, "every report on the standby in every linked room")
        wait_until(lambda: set(asked()) >= people, 60, "every drill target asked")
        twice = sum(count - 1 for tag in accepted for count in arrivals(side, tag).values() if count > 1)
        db.close()

        # The old machine comes back as it was: it must not run as a second primary.
        old = run_py(primary.env)
        assert old.returncode == 2, old.stdout + old.stderr
        assert "HOTLINE_REPLICA_URL" in old.stderr and "not the replica's primary" in old.stderr

        # Return to the original machine: a report made on the standby, the standby stopped
        # (Litestream ships the rest), a restore into a new file there, callbacks back.
        poster = sample_config.municipalities[TOWNS[0]].members[0]
        assert side.say(poster, "第一報 待機系で受けた報告 [戻し]")["status"] == 200
        wait_until(lambda: arrivals(side, "[戻し]"), 30, "the standby relaying")
        standby.stop()
        returned_db = primary_db.with_name("hotline-returned.sqlite3")
        back = hotline_cli("restore", "--replica", replica, "--database", str(returned_db), env=primary.env)
        assert back.returncode == 0, back.stderr
        returned = HotlineProcess(
            {**primary.env, "HOTLINE_DATABASE": str(returned_db)}, tmp_path / "returned.log"
        )
        side.emulator.set_callback_url(f"http://127.0.0.1:{primary_port}/callback")
        returned.start()
        db = Storage(returned_db)
        texts = [r["text"] for i in db.incidents() for r in db.reports_of_incident(i["id"])]
        db.close()
        assert "待機系で受けた報告 [戻し]" in texts
        assert run_py(standby.env).returncode == 2  # the standby is no longer the primary
        returned.stop()

        span = (
            f" (accepted {min(lost.values()):.2f}-{max(lost.values()):.2f} s before the kill)" if lost else ""
        )
        print(
            f"\ntake-over figures (sync interval {SYNC:g} s, file replica):\n"
            f"  RTO, kill -> standby /healthz 200 (restore + start): {rto:.1f} s\n"
            f"  reports accepted: {len(accepted)}, on the standby: {len(accepted) - len(lost)}, "
            f"lost: {len(lost)}{span}\n"
            f"  RPO, oldest lost record accepted before the kill: {max(lost.values(), default=0.0):.2f} s\n"
            f"  report copies that arrived twice after the take-over: {twice}\n"
            f"  drill: {len(runs)} run, {sum(asked().values())} questions for {len(people)} people"
        )
    finally:
        primary.stop()
        standby.stop()
        side.stop()
