"""`hotline backup` and `hotline restore`: copies of the database, and taking over from the
replica (docs/OPERATIONS.md is the runbook these commands are part of)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from hotline.clock import Clock, iso
from hotline.config.settings import Replication, SettingsError
from hotline.runtime import replication
from hotline.storage import Storage
from hotline.storage.copies import CopyError, copy_file


def add_copy_commands(sub: Any) -> None:
    database = {
        "default": os.environ.get("HOTLINE_DATABASE", "var/hotline.sqlite3"),
        "type": Path,
        "help": "the bot's database (default: $HOTLINE_DATABASE or var/hotline.sqlite3)",
    }
    backup = sub.add_parser(
        "backup", help="copy the database consistently while the bot runs (SQLite's online backup)"
    )
    backup.add_argument("path", type=Path, help="the new file, or a folder to put a dated file in")
    backup.add_argument("--database", **database)
    restore = sub.add_parser(
        "restore", help="bring the database back into a new file: from the replica (take-over) or a backup"
    )
    source = restore.add_mutually_exclusive_group(required=True)
    source.add_argument("--replica", metavar="URL", help="the replica, as in HOTLINE_REPLICA_URL")
    source.add_argument("--backup", metavar="FILE", type=Path, help="a file made by hotline backup")
    restore.add_argument("--database", **database)


def run(args: argparse.Namespace) -> int:
    try:
        return _backup(args) if args.command == "backup" else _restore(args)
    except (SettingsError, CopyError) as exc:
        print(f"hotline {args.command}: {exc}", file=sys.stderr)
        return 1


def _backup(args: argparse.Namespace) -> int:
    target: Path = args.path
    if target.is_dir():
        target = target / f"hotline-{Clock().now().strftime('%Y%m%dT%H%M%SZ')}.sqlite3"
    if target.exists():
        raise CopyError(f"{target} already exists: nothing was changed")
    if not target.parent.is_dir():
        raise CopyError(f"the folder {target.parent} does not exist")
    if not args.database.exists():
        raise CopyError(f"--database {args.database} does not exist")
    storage = Storage(args.database)
    try:
        storage.backup_to(target)
    finally:
        storage.close()
    print(f"backup written: {target} ({target.stat().st_size:,} bytes, integrity checked)")
    return 0


def _restore(args: argparse.Namespace) -> int:
    database: Path = args.database
    if args.backup is not None:
        replication.refuse_existing(database.resolve())
        if not args.backup.is_file():
            raise CopyError(f"--backup {args.backup} is not a file")
        database.parent.mkdir(parents=True, exist_ok=True)
        copy_file(args.backup, database)
        print(
            f"restored {args.backup} into {database}. Start hotline with HOTLINE_DATABASE={database}: "
            "messages that were waiting when the backup was made are sent then. With "
            "HOTLINE_REPLICA_URL, give it a new, empty replica location: the current one holds "
            "newer data, and hotline refuses to start a backup copy on it."
        )
        return 0
    program = replication.find_litestream(
        Replication(url=args.replica, litestream=os.environ.get("HOTLINE_LITESTREAM_BIN", "").strip())
    )
    restored = replication.restore(args.replica, database, program, Clock())
    newest = restored.newest
    print(
        f"restored {restored.database} from {args.replica} ({replication.describe(restored.previous)}).\n"
        f"newest event received: {newest['event'] or '-'}; newest message queued: "
        f"{newest['message'] or '-'} (UTC; now {iso(Clock().now())}).\n"
        f"this database is now the replica's primary ({replication.describe(restored.generation)}):\n"
        "the old primary refuses to start, and stops if it still runs and reaches the replica.\n"
        "next: switch LINE WORKS' callback URL (or the proxy) to this machine, then start hotline "
        f"with HOTLINE_DATABASE={restored.database} and HOTLINE_REPLICA_URL={args.replica}.\n"
        "messages still waiting are sent at start; a message the old primary sent in its last "
        "seconds may arrive twice."
    )
    return 0
