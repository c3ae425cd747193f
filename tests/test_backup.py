"""`hotline backup PATH` copies the running database consistently (SQLite's online backup API),
and `hotline restore --backup` brings a copy back into a working bot (docs/OPERATIONS.md)."""

from __future__ import annotations

import threading
from pathlib import Path

from hotline.config import Config
from hotline.config.counterparts import linked_rooms
from hotline.demo.stack import EmulatorSide, HotlineProcess, free_port, hotline_env, wait_until
from hotline.storage import Storage
from tests.support.processes import hotline_cli

TOWNS = ["382035", "384844", "385069", "382141"]


def test_a_backup_taken_while_reports_pour_in_is_consistent_and_restores_into_a_working_bot(
    tmp_path: Path, sample_config: Config
) -> None:
    side = EmulatorSide(sample_config)
    database = tmp_path / "live" / "hotline.sqlite3"
    # LINE WORKS' one-minute rate windows shrunk, so that the waiting messages go in seconds
    env = {**hotline_env(side, database, free_port()), "HOTLINE_RATE_TIME_SCALE": "0.1"}
    original = HotlineProcess(env, tmp_path / "original.log")
    side.emulator.set_callback_url(f"http://127.0.0.1:{original.port}/callback")
    side.faults(latency_ms=300)  # messages wait in the outbox while the copies are made
    posted: dict[str, str] = {}  # tag -> municipality
    done = threading.Event()

    def towns_report() -> None:
        n = 0
        while not done.is_set() and n < 60:
            code = TOWNS[n % len(TOWNS)]
            tag = f"[控{n:03d}]"
            if (
                side.say(sample_config.municipalities[code].members[0], f"第一報 土砂崩れ {tag}")["status"]
                == 200
            ):
                posted[tag] = code
            n += 1
            done.wait(0.05)  # towns post over time (load shaping, nothing waited for)

    writer = threading.Thread(target=towns_report)
    backups = [tmp_path / "backups" / f"{i}.sqlite3" for i in range(3)]
    backups[0].parent.mkdir()
    restored_process: HotlineProcess | None = None
    try:
        original.start()
        writer.start()
        for backup in backups:
            wait_until(lambda backup=backup: len(posted) >= 5 * (1 + backups.index(backup)), 30, "reports")
            made = hotline_cli("backup", str(backup), "--database", str(database), env=env)
            assert made.returncode == 0, made.stderr
        done.set()
        writer.join(30)
        original.stop()

        # Each copy is the database as of one commit: a report is never there without the
        # message to each of its rooms (they are written in one transaction).
        for backup in backups:
            copy = Storage(backup)
            for incident in copy.incidents():
                for report in copy.reports_of_incident(incident["id"]):
                    code = next(c for t, c in posted.items() if report["text"].endswith(t))
                    rooms = {d["channel_id"] for d in copy.deliveries(report["id"])}
                    assert rooms == {r.channel_id for r in linked_rooms(sample_config, code)}
            copy.close()

        # Restore the last copy into a new file and run the bot on it: what was waiting in the
        # copy's outbox goes out.
        last = Storage(backups[-1])
        in_copy = [
            r["text"].split(" ")[-1] for i in last.incidents() for r in last.reports_of_incident(i["id"])
        ]
        last.close()
        assert in_copy and unsent(backups[-1]) > 0, "the copy should hold reports and messages not yet sent"
        restored = tmp_path / "restored" / "hotline.sqlite3"
        back = hotline_cli("restore", "--backup", str(backups[-1]), "--database", str(restored), env=env)
        assert back.returncode == 0, back.stderr
        side.faults(latency_ms=0)
        restored_process = HotlineProcess(
            {**env, "HOTLINE_DATABASE": str(restored), "HOTLINE_PORT": str(free_port())},
            tmp_path / "restored.log",
        )
        restored_process.start()
        wait_until(lambda: unsent(restored) == 0, 30, "the restored bot sending what was waiting")
        for tag in in_copy:
            rooms = {s["channelId"] for s in side.sent() if tag in (s["content"].get("contentText") or "")}
            assert rooms >= {r.channel_id for r in linked_rooms(sample_config, posted[tag])}, tag
    finally:
        done.set()
        if writer.is_alive():
            writer.join(30)
        original.stop()
        if restored_process is not None:
            restored_process.stop()
        side.stop()


def unsent(database: Path) -> int:
    """LINE WORKS messages waiting (not the fallback mails, which wait their 3 minutes by design)."""
    storage = Storage(database)
    try:
        with storage.transaction() as conn:
            query = (
                "SELECT count(*) FROM outbox WHERE channel = 'lineworks' AND status IN ('pending', 'sending')"
            )
            return int(conn.execute(query).fetchone()[0])
    finally:
        storage.close()


def test_backup_never_overwrites_and_restore_never_replaces_a_database(tmp_path: Path) -> None:
    database = tmp_path / "hotline.sqlite3"
    Storage(database).close()
    existing = tmp_path / "taken.sqlite3"
    existing.write_bytes(b"someone else's file")
    env = {"HOTLINE_DATABASE": str(database), "PATH": "/usr/bin:/bin"}
    refused = hotline_cli("backup", str(existing), env=env)
    assert refused.returncode == 1 and "already exists" in refused.stderr
    assert existing.read_bytes() == b"someone else's file"
    dated = hotline_cli("backup", str(tmp_path), env=env)  # a folder: a dated file inside
    assert dated.returncode == 0, dated.stderr
    assert len(list(tmp_path.glob("hotline-*.sqlite3"))) == 1
    replaced = hotline_cli("restore", "--backup", str(next(tmp_path.glob("hotline-*.sqlite3"))), env=env)
    assert replaced.returncode == 1 and "already exist" in replaced.stderr
    not_a_db = hotline_cli(
        "restore", "--backup", str(existing), "--database", str(tmp_path / "new.sqlite3"), env=env
    )
    assert not_a_db.returncode == 1 and "not a hotline database" in not_a_db.stderr
    assert not (tmp_path / "new.sqlite3").exists()
