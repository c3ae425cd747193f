"""Storage: every SQL statement, behind one facade (`Storage`), one module per aggregate.

The inbox (events received) and the outbox (messages to send) are rows: a callback is a
durable inbox row before the 200 goes back, and every message the bot will send is an outbox
row before any attempt to send it.
"""

from hotline.storage.facade import Storage
from hotline.storage.outbox import (
    PRIORITY_DRILL,
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
    "PRIORITY_NOTICE",
    "PRIORITY_REAL_CALL",
    "PRIORITY_RECEIPT",
    "PRIORITY_REMINDER",
    "PRIORITY_REPLY",
    "PRIORITY_REPORT",
    "NewMessage",
    "OutboxRow",
    "Storage",
]
