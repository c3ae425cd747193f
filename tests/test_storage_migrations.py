"""Schema migrations: a database written before migrations were recorded opens with today's
code, is migrated in place and loses nothing; opening again changes nothing; a new database
ends at the same schema; processes starting together migrate once.

The fixture tests/fixtures/db-v1-640e222.sqlite3 was written by the code of commit 640e222
(the last schema without recorded migrations) through that code's own flows: a 第一報 with its
deliveries, board post and receipt, a photo after it, an acknowledgement, reminders, a
stranger's refusal, a drill run with answers, pending rows (a drill reminder, an escalation)
whose content carries a "hotline" instruction, an account and its audit entry.
tests/fixtures/make_db_v1_640e222.py is the script, with the commands that ran it inside a
`git archive 640e222` checkout. Tests work on copies; the fixture itself is never opened.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hotline.clock import FixedClock
from hotline.config import Config
from hotline.config.settings import Credentials, Settings
from hotline.runtime.service import Hotline
from hotline.storage import Storage
from hotline.storage.migrations import SchemaError, applied
from hotline.storage.schema import SCHEMA_V1
from tests.support.bot import ROOT, TOKEN
from tests.support.fake_lineworks import FakeLineWorks

FIXTURE = Path(__file__).parent / "fixtures" / "db-v1-640e222.sqlite3"
ALL = [
    "m001_schema_of_640e222",
    "m002_outbox_instruction",
    "m003_inbox_body_hash",
    "m004_replica_generation",
    "m005_jma_telegrams",
    "m006_report_recipients",
    "m007_incident_events",
    "m008_drill_proxy_answers",
    "m009_outbox_channel",
    "m010_drill_answer_via",
    "m011_instructions",
    "m012_instruction_form_id",
]
V1_TABLES = [
    "accounts",
    "acks",
    "audit",
    "board_posts",
    "board_reads",
    "drill_answers",
    "drill_runs",
    "drill_targets",
    "drills",
    "identities",
    "inbox",
    "incidents",
    "outbox",
    "refusals",
    "reports",
    "uploads",
]


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    copy = tmp_path / "hotline.sqlite3"
    shutil.copyfile(FIXTURE, copy)
    return copy


def dump(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every hotline table, by table, in rowid order."""
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        return {
            table: [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY rowid")]  # noqa: S608
            for table in V1_TABLES
        }


def schema(path: Path) -> tuple[list[tuple[Any, ...]], dict[str, list[tuple[Any, ...]]]]:
    """sqlite_master (without root pages) and every table's columns."""
    with closing(sqlite3.connect(path)) as conn:
        master = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        tables = [row[1] for row in master if row[0] == "table"]
        columns = {t: conn.execute(f"PRAGMA table_info({t})").fetchall() for t in tables}
    return master, columns


def open_storage(path: Path) -> Storage:
    storage = Storage(path)
    storage.close()
    return storage


def test_the_fixture_is_a_version_1_database() -> None:
    before = dump(FIXTURE)
    assert all(before[t] for t in V1_TABLES if t != "board_reads"), "every kind of record is there"
    with closing(sqlite3.connect(FIXTURE)) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert "_sqlite_migrations" not in names
        outbox_columns = [row[1] for row in conn.execute("PRAGMA table_info(outbox)")]
    assert "instruction" not in outbox_columns
    assert any("hotline" in json.loads(r["content"]) for r in before["outbox"] if r["status"] == "pending")


def test_a_database_from_640e222_is_migrated_in_place_and_keeps_every_row(old_db: Path) -> None:
    before = dump(old_db)
    storage = Storage(old_db)
    assert applied(storage) == ALL
    storage.close()
    after = dump(old_db)

    for table in V1_TABLES:
        if table not in ("outbox", "inbox", "drill_answers", "drill_targets", "reports"):
            assert after[table] == before[table], table
    # migration 11: no report stored before answers an instruction
    # m012: nor was sent by the dashboard's instruction form
    added_to_reports = ("reply_to", "form_id")
    assert [{k: v for k, v in r.items() if k not in added_to_reports} for r in after["reports"]] == before[
        "reports"
    ]
    assert {(r["reply_to"], r["form_id"]) for r in after["reports"]} == {(None, None)}
    # migration 6: drill answers gain who recorded them for someone (none: the person did), and
    # targets the title of their role (unknown for runs fired before)
    # m010: and how they came (none by mail)
    added = ("recorded_by", "via")
    assert [{k: v for k, v in r.items() if k not in added} for r in after["drill_answers"]] == before[
        "drill_answers"
    ]
    assert {(r["recorded_by"], r["via"]) for r in after["drill_answers"]} == {(None, None)}
    assert [{k: v for k, v in r.items() if k != "role_title"} for r in after["drill_targets"]] == before[
        "drill_targets"
    ]
    # migration 3: the rows of the last ten minutes before the newest get the SHA-256 of their
    # body (a replay of one of them after the upgrade is still known); older ones need none
    assert [{k: v for k, v in r.items() if k != "body_hash"} for r in after["inbox"]] == before["inbox"]
    hashes = {r["id"]: r["body_hash"] for r in after["inbox"]}
    recent = {r["id"]: hashlib.sha256(r["body"].encode()).hexdigest() for r in after["inbox"][4:]}
    assert hashes == {1: None, 2: None, 3: None, 4: None, **recent}  # 5 and 6 came at 00:03
    assert [r["id"] for r in after["outbox"]] == [r["id"] for r in before["outbox"]]
    moved = 0
    for old, new in zip(before["outbox"], after["outbox"], strict=True):
        content = json.loads(old["content"])
        instruction = content.pop("hotline", None)
        moved += instruction is not None
        assert json.loads(new["content"]) == content  # only the "hotline" key left it
        assert (None if new["instruction"] is None else json.loads(new["instruction"])) == instruction
        skip = ("content", "instruction", "channel", "address")
        unchanged = {k: v for k, v in new.items() if k not in skip}
        assert unchanged == {k: v for k, v in old.items() if k != "content"}
        # migration 9: every earlier row went by LINE WORKS
        assert (new["channel"], new["address"]) == ("lineworks", None)
    assert moved >= 3  # the board post, the reminders, the pending escalation and drill reminders


def test_migrated_rows_read_back_through_storage(old_db: Path) -> None:
    storage = Storage(old_db)
    (escalation,) = [r for r in storage.due_messages("9999", 100) if r.purpose == "escalation"]
    assert escalation.instruction == {"escalationFor": 1}
    assert "hotline" not in escalation.content and escalation.content["type"] == "text"
    board = storage.deliveries(1)  # the report's relays, untouched by the migration
    assert board and all(json.loads(d["content"])["type"] == "button_template" for d in board)
    assert storage.account_by_name("sato")["role"] == "admin"
    assert [e["action"] for e in storage.audit_entries()] == ["account_create"]
    assert storage.acks(1) and storage.runs() and storage.refusals("stranger")
    storage.close()


def test_opening_twice_is_harmless(old_db: Path) -> None:
    open_storage(old_db)
    migrated, migrated_schema = dump(old_db), schema(old_db)
    storage = Storage(old_db)
    assert applied(storage) == ALL
    storage.close()
    assert dump(old_db) == migrated and schema(old_db) == migrated_schema
    with closing(sqlite3.connect(old_db)) as conn:
        assert conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(ALL)


def test_a_new_database_ends_at_the_same_schema_as_a_migrated_one(old_db: Path, tmp_path: Path) -> None:
    open_storage(old_db)
    fresh = tmp_path / "fresh.sqlite3"
    storage = Storage(fresh)
    assert applied(storage) == ALL
    storage.close()
    assert schema(fresh) == schema(old_db)
    _, columns = schema(fresh)
    assert ("instruction", "TEXT") in [(c[1], c[2]) for c in columns["outbox"]]


@pytest.mark.parametrize("existing", [True, False], ids=["from-640e222", "new"])
def test_processes_starting_together_migrate_once(old_db: Path, tmp_path: Path, existing: bool) -> None:
    path = old_db if existing else tmp_path / "new.sqlite3"
    before = dump(old_db)
    script = "import sys; from hotline.storage import Storage; Storage(sys.argv[1]).close()"
    starts = [subprocess.Popen([sys.executable, "-c", script, str(path)]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in starts] == [0, 0, 0, 0]
    with closing(sqlite3.connect(path)) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert names == ALL
    if existing:
        after = dump(path)
        assert [len(after[t]) for t in V1_TABLES] == [len(before[t]) for t in V1_TABLES]
        assert sum(r["instruction"] is not None for r in after["outbox"]) == sum(
            "hotline" in json.loads(r["content"]) for r in before["outbox"]
        )


def test_a_database_that_is_not_version_1_is_refused_and_left_alone(tmp_path: Path) -> None:
    """Older than 640e222, say: an outbox without told_retrying. Adopting it as version 1
    would only move the failure to the first query that needs the column."""
    lines = [line for line in SCHEMA_V1.splitlines() if not line.lstrip().startswith("told_retrying")]
    older = "\n".join(lines).replace(
        "interrupted INTEGER NOT NULL DEFAULT 0,", "interrupted INTEGER NOT NULL DEFAULT 0"
    )
    assert older != SCHEMA_V1
    path = tmp_path / "older.sqlite3"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(older)
    before = schema(path)
    with pytest.raises(SchemaError, match="outbox: missing told_retrying"):
        Storage(path)
    assert schema(path) == before  # rolled back: no migrations table, no new column


def run_sender(hotline: Hotline) -> None:
    while hotline.sender.run_once():
        assert hotline.sender.idle.wait(10), "sender did not finish"


def hotline_on(path: Path, credentials: Credentials, config: Config, at: datetime) -> Hotline:
    settings = Settings(credentials=credentials, api_token=TOKEN, config_dir=ROOT, database=path)
    return Hotline(settings, config, clock=FixedClock(at))


def test_rows_pending_at_the_upgrade_are_sent_with_their_instructions(
    old_db: Path, credentials: Credentials, sample_config: Config, lw: FakeLineWorks
) -> None:
    """A drill reminder and an HQ escalation were waiting when the old version stopped: the
    new sender still gives them their last look (their instruction now lives in its own
    column) and sends only what LINE WORKS should see."""
    hotline = hotline_on(old_db, credentials, sample_config, datetime(2026, 11, 21, 0, 34, tzinfo=UTC))
    try:
        run_sender(hotline)
    finally:
        hotline.sender.shutdown()
    reminders = [
        (to, c)
        for kind, to, c in lw.sent
        if kind == "user" and "まだ回答がありません" in json.dumps(c, ensure_ascii=False)
    ]
    # Nobody of the four had answered: each gets both pending reminders (10 and 20 minutes).
    people = ["bosai", "bosai.tanto", "jinji", "shicho"]
    assert sorted(to for to, _ in reminders) == sorted(f"{p}@uwajima.example" for p in people * 2)
    assert all("hotline" not in c for _, c in reminders)
    escalations = [c for kind, _, c in lw.sent if kind == "channel" and "【未確認】" in c.get("text", "")]
    assert len(escalations) == 1
    assert "hotline" not in escalations[0]
    assert "今治市" not in escalations[0]["text"]  # it acknowledged: listed as it is now


def test_drill_reminders_pending_at_the_upgrade_are_cancelled_after_the_deadline(
    old_db: Path, credentials: Credentials, sample_config: Config, lw: FakeLineWorks
) -> None:
    hotline = hotline_on(old_db, credentials, sample_config, datetime(2026, 11, 21, 1, 1, tzinfo=UTC))
    try:
        run_sender(hotline)
    finally:
        hotline.sender.shutdown()
    assert not [
        c
        for kind, _, c in lw.sent
        if kind == "user" and "まだ回答がありません" in json.dumps(c, ensure_ascii=False)
    ]
    with closing(sqlite3.connect(old_db)) as conn:
        statuses = {
            s for (s,) in conn.execute("SELECT status FROM outbox WHERE purpose = 'drill' AND id >= 44")
        }
    assert statuses == {"cancelled"}
