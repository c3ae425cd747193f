"""Storage: every SQL statement, behind one facade (`Storage`), one module per aggregate.

The inbox (events received) and the outbox (messages to send) are rows: a callback is a
durable inbox row before the 200 goes back, and every message the bot will send is an outbox
row before any attempt to send it.

Modules: `connection` (the per-thread connection, pragmas, write lock, `transaction()`),
`inbox`, `inbox_writer` (the door's group commit), `outbox` (with `OutboxRow`, `NewMessage`,
the `PRIORITY_*`), `reports` (incidents, reports, uploads), `identities`, `acks`, `boards`,
`drills`, `refusals`, `accounts` (accounts and the audit log), `copies` (online backup, replica
generation, the fence file), `schema` (version 1, frozen), `migrations`, and `facade`
(`Storage`, composed of the per-aggregate mixins; see its docstring for why mixins).

sqlite-utils, and where hand-written SQL stays:
- Schema versions are sqlite-utils 4's `Migrations` (`migrations.py`): ordered, recorded by
  name in `_sqlite_migrations` together with their changes, applied at `Storage()` under
  BEGIN IMMEDIATE so concurrently starting processes take turns. sqlite-utils 4 has this
  built in; simonw's sqlite-migrate package is now a deprecated re-export of it, so it is not
  used. Its `Database` runs on Storage's own connection and honours the open transaction
  (nested work becomes savepoints), so a migration commits or rolls back as one.
- New schema changes use sqlite-utils where it says it better: `table.add_column`,
  `table.transform` for what ALTER TABLE cannot do (migrations run inside a transaction with
  foreign_keys=ON: read sqlite-utils' "foreign keys and transactions" before transforming a
  table others refer to), and introspection (`table.columns`) to check that an existing
  database really is version 1 before adopting it.
- Version 1 itself stays the hand-written DDL that code before migrations ran (`schema.py`):
  an existing database holds exactly that text, and sqlite-utils' `create()` could not
  reproduce it (column collation, table-level UNIQUE constraints), so fresh and adopted
  databases would differ.
- Every runtime query stays hand-written SQL: the outbox claims and marks are conditional
  UPDATEs whose WHERE clauses are the concurrency control, inbox finishing and drill-run
  changes likewise, and transactions are explicit BEGIN IMMEDIATE behind an in-process write
  lock. A query builder would hide exactly the parts that must be read exactly.
"""

from hotline.storage.facade import Storage
from hotline.storage.inbox_writer import InboxBusy, InboxWriter
from hotline.storage.outbox import (
    PRIORITY_DRILL,
    PRIORITY_MAIL,
    PRIORITY_NOTICE,
    PRIORITY_REAL_CALL,
    PRIORITY_RECEIPT,
    PRIORITY_REMINDER,
    PRIORITY_REPLY,
    PRIORITY_REPORT,
    NewMessage,
    OutboxRow,
)

__all__ = [
    "PRIORITY_DRILL",
    "PRIORITY_MAIL",
    "PRIORITY_NOTICE",
    "PRIORITY_REAL_CALL",
    "PRIORITY_RECEIPT",
    "PRIORITY_REMINDER",
    "PRIORITY_REPLY",
    "PRIORITY_REPORT",
    "InboxBusy",
    "InboxWriter",
    "NewMessage",
    "OutboxRow",
    "Storage",
]
