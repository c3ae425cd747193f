"""`Storage`: the one object the rest of hotline holds, composed of one mixin per aggregate.

Why mixins rather than one object per aggregate (`storage.outbox.enqueue(...)`): every caller
keeps calling `storage.enqueue(...)` unchanged, and all aggregates share one connection per
thread and one write lock, so a single `transaction()` spans several of them (a report, its
outbox rows and its inbox row commit together). Each mixin subclasses `Connection`, which
gives it `_conn()` and `transaction()` with full types; the mixins hold no state of their own.
"""

from __future__ import annotations

from pathlib import Path

from hotline.storage.accounts import AccountRecords
from hotline.storage.acks import AckRecords
from hotline.storage.boards import BoardRecords
from hotline.storage.channels import ChannelRecords
from hotline.storage.copies import CopyRecords
from hotline.storage.drills import DrillRecords
from hotline.storage.identities import IdentityRecords
from hotline.storage.inbox import InboxRecords
from hotline.storage.instructions import InstructionRecords
from hotline.storage.migrations import migrate
from hotline.storage.outbox import OutboxRecords
from hotline.storage.recipients import RecipientRecords
from hotline.storage.refusals import RefusalRecords
from hotline.storage.reports import ReportRecords
from hotline.storage.telegrams import TelegramRecords


class Storage(
    InboxRecords,
    OutboxRecords,
    ReportRecords,
    IdentityRecords,
    AckRecords,
    BoardRecords,
    DrillRecords,
    RefusalRecords,
    AccountRecords,
    CopyRecords,
    TelegramRecords,
    RecipientRecords,
    InstructionRecords,
    ChannelRecords,
):
    """The database. Safe to share between threads: each thread gets its own connection."""

    def __init__(
        self, path: str | Path, *, busy_timeout_ms: int = 5000, wal_autocheckpoint: int | None = None
    ) -> None:
        super().__init__(path, busy_timeout_ms=busy_timeout_ms, wal_autocheckpoint=wal_autocheckpoint)
        # Brings any database, new or made by older code, to the current schema (migrations.py).
        migrate(self)
