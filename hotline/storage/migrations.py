"""Recorded, ordered schema migrations, applied when `Storage` opens a database.

The bookkeeping is sqlite-utils' `Migrations` (built into sqlite-utils 4; simonw's separate
sqlite-migrate package is now only a deprecated re-export of it): each migration is a
function, applied in the order it is registered below, and recorded by name in the
`_sqlite_migrations` table in the same transaction as its changes. A migration's name is its
identity in every database that recorded it: never rename, reorder or edit one that has
shipped; add a new one at the end.

Concurrency: `migrate` applies the pending ones inside `Storage.transaction()`, i.e. under
BEGIN IMMEDIATE, which SQLite grants to one connection at a time across processes. A second
process starting at the same moment waits for the first (the busy timeout), then finds nothing
pending. A database with nothing pending is opened without taking the write lock at all.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlite_utils import Database, Migrations

from hotline.clock import iso, parse_iso
from hotline.storage.connection import Connection
from hotline.storage.schema import SCHEMA_V1
from hotline.storage.telegrams import TELEGRAMS_SCHEMA

MIGRATIONS = Migrations("hotline")


class SchemaError(RuntimeError):
    """The database is not one hotline can adopt (its tables differ from a known version)."""


@MIGRATIONS(name="m001_schema_of_640e222")
def schema_of_640e222(db: Database) -> None:
    """Version 1: the schema as it was before migrations were recorded.

    Creates it in a new database; a database created by earlier code already holds it (every
    statement is IF NOT EXISTS), and is adopted as version 1 once its columns are checked."""
    db.executescript(SCHEMA_V1)
    _check_columns(db, SCHEMA_V1)


@MIGRATIONS(name="m002_outbox_instruction")
def outbox_instruction(db: Database) -> None:
    """Instructions for the sender get their own column, out of the message content.

    They travelled inside `content` under "hotline", a key LINE WORKS never received (the
    sender removed it before sending). Rows already stored move it to `instruction`."""
    db.table("outbox").add_column("instruction", str)  # nullable TEXT, JSON
    moved = []
    for row in db.query("SELECT id, content FROM outbox WHERE content LIKE '%\"hotline\"%'"):
        content = json.loads(row["content"])
        if not isinstance(content, dict) or "hotline" not in content:
            continue  # the word inside a text, not the key
        instruction = content.pop("hotline")
        moved.append(
            (
                json.dumps(content, ensure_ascii=False),
                None if instruction is None else json.dumps(instruction, ensure_ascii=False),
                row["id"],
            )
        )
    # Hand-written: one statement for all rows (table.update would look each row up first).
    db.conn.executemany("UPDATE outbox SET content = ?, instruction = ? WHERE id = ?", moved)


@MIGRATIONS(name="m003_inbox_body_hash")
def inbox_body_hash(db: Database) -> None:
    """Each inbox row gets the SHA-256 of its body, indexed, so that a replayed callback (a
    signed body LINE WORKS already delivered; it sends no event id) is found in one lookup.

    The dispatcher fills it in as it takes each row. Rows received in the ten minutes before
    the newest one get theirs here, so a body replayed right after an upgrade is still known;
    older ones never need it (the replay window is ten minutes, `inbound.dispatcher`)."""
    db.table("inbox").add_column("body_hash", str)
    db.conn.execute("CREATE INDEX IF NOT EXISTS inbox_body_hash ON inbox(body_hash)")
    newest = db.conn.execute("SELECT max(received_at) FROM inbox").fetchone()[0]
    if newest is None:
        return
    since = iso(parse_iso(newest) - timedelta(minutes=10))
    rows = db.conn.execute("SELECT id, body FROM inbox WHERE received_at >= ?", (since,)).fetchall()
    db.conn.executemany(
        "UPDATE inbox SET body_hash = ? WHERE id = ?",
        [(body_sha256(body), inbox_id) for inbox_id, body in rows],
    )


def body_sha256(body: str) -> str:
    """The hash replays are recognised by: SHA-256 of the stored body's UTF-8 bytes. The door
    stores the raw bytes decoded as UTF-8, so two deliveries of the same bytes hash alike."""
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


@MIGRATIONS(name="m004_replica_generation")
def replica_generation(db: Database) -> None:
    """The replica generation this database writes to (storage/copies.py): at most one row."""
    db.table("replica_generation").create(
        {"id": int, "generation": str, "since": str, "how": str},
        pk="id",
        not_null={"generation", "since", "how"},
    )


@MIGRATIONS(name="m005_jma_telegrams")
def jma_telegrams(db: Database) -> None:
    """JMA telegrams as rows before anything acts on them, what they started per town, who
    their roll-calls asked, and the feed poller's state (storage/telegrams.py).

    Statement by statement: sqlite3's executescript() would COMMIT the migration's transaction
    first, and this one must commit together with its record in _sqlite_migrations."""
    for statement in TELEGRAMS_SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def migrate(storage: Connection) -> list[str]:
    """Apply every pending migration; returns the names applied (none when up to date)."""
    db = _database(storage)
    if not MIGRATIONS.pending(db):
        return []
    with storage.transaction():
        # Looked at again under the write lock: another process may have just applied them.
        names = [m.name for m in MIGRATIONS.pending(db)]
        MIGRATIONS.apply(db)
    return names


def applied(storage: Connection) -> list[str]:
    """The names of the migrations this database has recorded, in the order applied."""
    return [m.name for m in MIGRATIONS.applied(_database(storage))]


def _database(storage: Connection) -> Database:
    # On this thread's own connection, so the migrations join Storage.transaction(). No
    # plugins, and no PRAGMA recursive_triggers: the connection stays as Connection set it.
    return Database(storage._conn(), recursive_triggers=False, execute_plugins=False)


def _check_columns(db: Database, schema: str) -> None:
    """Refuse a database whose tables differ in columns from `schema` (one made by code older
    than the schema, say): better a clear error at start than a failed query later."""
    reference = Database(memory=True, recursive_triggers=False, execute_plugins=False)
    try:
        reference.executescript(schema)
        problems = []
        for name in reference.table_names():
            want, have = _columns(reference, name), _columns(db, name)
            missing = [c for c in want if c not in have]
            extra = [c for c in have if c not in want]
            changed = [c for c in want if c in have and have[c] != want[c]]
            for what, columns in (("missing", missing), ("unexpected", extra), ("different", changed)):
                if columns:
                    problems.append(f"{name}: {what} {', '.join(columns)}")
    finally:
        reference.close()
    if problems:
        raise SchemaError("the database is not at schema version 1 (" + "; ".join(problems) + ")")


def _columns(db: Database, table: str) -> dict[str, tuple[str, bool, Any, int]]:
    """Each column's type, NOT NULL, default and place in the primary key, by name."""
    return {
        c.name: (c.type.upper(), bool(c.notnull), c.default_value, c.is_pk) for c in db.table(table).columns
    }


@MIGRATIONS(name="m006_report_recipients")
def report_recipients(db: Database) -> None:
    """What each report was sent to, frozen at relay time (domain.recipients): its rooms (with
    the towns and people each reaches), each linked town with its relation to the reporter, and
    the people expected to acknowledge. Reports relayed before this have no rows; they are shown
    from the running configuration, as before."""
    db.table("report_recipients").create(
        {
            "id": int,
            "report_id": int,
            "kind": str,  # room | town | member
            "key": str,  # room key, municipality code (or "hq"), member key
            "name": str,  # room title, town name, person's name
            "municipality_code": str,  # a member's town (NULL for HQ staff)
            "relation": str,  # a town's: stricken | primary | secondary | group | hq
            "role": str,  # a member's Japanese title at the time
            "detail": str,  # JSON: a room's reaches/members, a member's town/userId/email
        },
        pk="id",
        not_null={"report_id", "kind", "key", "name"},
        foreign_keys=[("report_id", "reports", "id")],
    )
    db.table("report_recipients").create_index(["report_id"])


@MIGRATIONS(name="m007_incident_events")
def incident_events(db: Database) -> None:
    """An incident's lifecycle (closed with a note, reopened), for the chronology; the status
    itself stays in incidents.status (open | closed)."""
    db.table("incident_events").create(
        {"id": int, "incident_id": int, "action": str, "at": str, "by": str, "note": str},
        pk="id",
        not_null={"incident_id", "action", "at", "by", "note"},
        foreign_keys=[("incident_id", "incidents", "id")],
    )
    db.table("incident_events").create_index(["incident_id"])


@MIGRATIONS(name="m008_drill_proxy_answers")
def drill_proxy_answers(db: Database) -> None:
    """A drill answer may be recorded on someone's behalf (代理回答) by a coordinator on the
    drill page: `recorded_by` holds that coordinator's account name; NULL means the person
    answered themselves (every answer stored before this migration).

    A run's target also keeps the title of their role as it was when the run fired
    (`role_title`, e.g. 副市長), for the results people file; NULL for runs fired before."""
    db.table("drill_answers").add_column("recorded_by", str)
    db.table("drill_targets").add_column("role_title", str)


@MIGRATIONS(name="m009_outbox_channel")
def outbox_channel(db: Database) -> None:
    """An outbox row may go by another channel than LINE WORKS: `channel` names the transport
    the sender hands it to ('lineworks' for every row stored before this migration, 'mail',
    'webhook'), and `address` is where it goes on that channel (an e-mail address, a webhook's
    name); NULL for LINE WORKS rows, which keep channel_id / user_id."""
    db.table("outbox").add_column("channel", str, not_null_default="lineworks")
    db.table("outbox").add_column("address", str)


@MIGRATIONS(name="m010_drill_answer_via")
def drill_answer_via(db: Database) -> None:
    """A drill answer says how it came: 'mail' when the person answered on the page a fallback
    mail's signed link opens (`/m/<token>`); NULL for every other answer (a LINE WORKS tap or
    typed text, or a 代理回答, which `recorded_by` marks), and for every answer stored before."""
    db.table("drill_answers").add_column("via", str)


@MIGRATIONS(name="m011_instructions")
def instructions(db: Database) -> None:
    """HQ's instructions and requests (指示・依頼) are rows of `reports` (kind 'instruction' or
    'request', municipality_code 'hq', each in a thread of its own: an `incidents` row whose
    municipality_code is 'hq'), so acknowledgements, recipients, reminders, escalation, the
    overview and the CSV work for them unchanged (domain/instructions). A town's answer
    (【回答】, kind 'reply') or a report sent while an instruction to its town is open names the
    instruction in `reply_to`; NULL for every report stored before this migration."""
    db.table("reports").add_column("reply_to", int)
    db.table("reports").create_index(["reply_to"])


@MIGRATIONS(name="m012_instruction_form_id")
def instruction_form_id(db: Database) -> None:
    """An instruction sent from the dashboard's form keeps the form's one-time id (a uuid4 made
    when the form was shown) in `form_id`, unique, so that the same form submitted twice (a
    double click, a resent POST) sends it once; NULL for every other report and for every
    instruction stored before this migration."""
    db.table("reports").add_column("form_id", str)
    db.table("reports").create_index(["form_id"], unique=True)
