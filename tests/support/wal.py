"""Counting commits from outside: each COMMIT appends exactly one commit frame to the
database's write-ahead log, and synchronous=FULL fsyncs it there, so the frames say how many
transactions (and fsyncs) a piece of work took, whatever the code says about itself."""

from __future__ import annotations

import struct
from pathlib import Path


def wal_commits(database: Path) -> tuple[int, int]:
    """(salt of the current log, its commit frames): one commit frame per committed transaction.

    Format: https://www.sqlite.org/fileformat2.html#walformat (a 32-byte header with the page
    size and two salts, then frames of a 24-byte header and a page; a frame header's second
    field is non-zero only on the frame that commits a transaction)."""
    data = (database.parent / (database.name + "-wal")).read_bytes()
    page_size, salt = struct.unpack(">I", data[8:12])[0], data[16:24]
    commits, offset = 0, 32
    while offset + 24 + page_size <= len(data):
        header = data[offset : offset + 24]
        if header[8:16] != salt:
            break  # frames left over from before the log was last restarted
        if struct.unpack(">I", header[4:8])[0]:
            commits += 1
        offset += 24 + page_size
    return int.from_bytes(salt, "big"), commits
