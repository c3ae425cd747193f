"""Copies of the database: the online backup (`hotline backup`), the replica generation this
database belongs to, and the fence file that says which generation is the replica's primary.

The replica itself is Litestream's (runtime/replication.py). What is here is the SQL around it:
- `replica_generation`: one row in hotline's database naming the generation of the replica it
  writes to. `hotline restore` gives the restored database a new one; a backup copy has none.
- the fence: a tiny SQLite file of its own, shipped to `<replica>/fence` by Litestream, listing
  every generation that became primary, newest last. The newest is the only one allowed to run.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from hotline.storage.connection import Connection


class CopyError(RuntimeError):
    """A copy that could not be made or checked; nothing was left at the target."""


@dataclass(frozen=True)
class Generation:
    """One primary term of a replica: who started writing to `<replica>/generations/<id>`."""

    id: str
    since: str  # ISO UTC
    how: str  # "first start" or "take-over from <generation>"
    host: str = ""
    database: str = ""


class CopyRecords(Connection):
    def replica_generation(self) -> str | None:
        row = self._conn().execute("SELECT generation FROM replica_generation WHERE id = 1").fetchone()
        return str(row[0]) if row else None

    def set_replica_generation(self, generation: Generation) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO replica_generation (id, generation, since, how) VALUES (1, ?, ?, ?)",
                (generation.id, generation.since, generation.how),
            )

    def newest_activity(self) -> dict[str, str | None]:
        """When the newest event arrived and the newest message was queued: after a restore,
        how far the copy reaches."""
        conn = self._conn()
        return {
            "event": conn.execute("SELECT max(received_at) FROM inbox").fetchone()[0],
            "message": conn.execute("SELECT max(created_at) FROM outbox").fetchone()[0],
        }

    def backup_to(self, target: Path) -> None:
        """A consistent copy of the whole database in the new file `target`, while the bot keeps
        writing. SQLite's online backup API copies every page in one step, inside one read
        transaction, so the copy is the database as of one commit (in WAL mode writers go on).
        The copy is a single file (journal_mode=DELETE), checked with integrity_check, and
        belongs to no replica generation: started as it is, it can never pass for the primary
        of a replica. It appears at `target` only when complete."""
        _copy(self._conn(), target)


def copy_file(source: Path, target: Path) -> None:
    """`hotline restore --backup`: the same checked copy from a backup file (read only)."""
    conn = sqlite3.connect(_read_only(source), uri=True)
    try:
        _copy(conn, target)
    except sqlite3.DatabaseError as exc:
        raise CopyError(f"{source} is not a hotline database ({exc})") from None
    finally:
        conn.close()


def _copy(conn: sqlite3.Connection, target: Path) -> None:
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    dest = sqlite3.connect(partial, isolation_level=None)
    try:
        conn.backup(dest)  # pages=-1: all at once, one consistent snapshot of the source
        if dest.execute("SELECT 1 FROM sqlite_master WHERE name = 'replica_generation'").fetchone():
            dest.execute("DELETE FROM replica_generation")
        dest.execute("PRAGMA journal_mode=DELETE")
        problems = [row[0] for row in dest.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise CopyError(f"the copy failed SQLite's integrity check: {'; '.join(problems[:5])}")
    except BaseException:
        dest.close()
        partial.unlink(missing_ok=True)
        raise
    dest.close()
    _fsync(partial)
    os.replace(partial, target)
    _fsync(target.parent)


def _read_only(path: Path) -> str:
    return f"{path.resolve().as_uri()}?mode=ro"  # as_uri percent-encodes what a URI cannot hold


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


FENCE_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    since TEXT NOT NULL,
    how TEXT NOT NULL,
    host TEXT NOT NULL,
    database TEXT NOT NULL
);
"""


def read_fence(path: Path) -> list[Generation]:
    """Every generation the fence file lists, oldest first."""
    conn = sqlite3.connect(_read_only(path), uri=True)
    try:
        rows = conn.execute("SELECT id, since, how, host, database FROM generations ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [Generation(*row) for row in rows]


def append_fence(path: Path, generation: Generation) -> None:
    """Add `generation` as the newest primary in the fence file at `path` (created if new).
    WAL mode, because Litestream ships the file's WAL."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(FENCE_SCHEMA)
        conn.execute(
            "INSERT INTO generations (id, since, how, host, database) VALUES (?, ?, ?, ?, ?)",
            (generation.id, generation.since, generation.how, generation.host, generation.database),
        )
    finally:
        conn.close()
