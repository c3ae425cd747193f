"""Relayed photos and files: downloaded from the reporter's message once, uploaded once.

An attachment goes to every room its report reached; each of those outbox rows carries an
`UploadAttachment` instruction, and `prepare` fills in the `fileId` just before the row is
sent. The first row to get here downloads and uploads; the others (sent in parallel) wait on
the same per-report lock and reuse the stored fileId.

The name the file is uploaded under is what people see in the rooms. Image callbacks carry
only a `fileId` (bot-callback-message), and whether file callbacks carry a `fileName` is
UNCONFIRMED, so the name comes from, in order: the callback's `fileName`, the download's
Content-Disposition, else a plain name with the extension of its Content-Type ("photo-12.jpg",
never the fileId, whose dots would make a ".0" extension).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from hotline.clock import Clock, iso
from hotline.outbound.client import (
    Download,
    LineWorksClient,
    LineWorksError,
    extension_for,
    safe_filename,
)
from hotline.outbound.instructions import UploadAttachment
from hotline.storage import OutboxRow, Storage


class AttachmentUploads:
    def __init__(self, storage: Storage, client: LineWorksClient, clock: Clock) -> None:
        self.storage = storage
        self.client = client
        self.clock = clock
        self._lock = threading.Lock()
        self._locks: dict[int, threading.Lock] = {}

    def prepare(
        self, row: OutboxRow, instruction: UploadAttachment, content: dict[str, Any]
    ) -> dict[str, Any]:
        report_id = instruction.report_id
        with self._lock:
            lock = self._locks.setdefault(report_id, threading.Lock())
        with lock:
            file_id = self.storage.upload_for(report_id)
            if file_id is None:
                report = self.storage.report(report_id)
                if report is None:
                    raise LineWorksError("attachment record missing", retryable=False)
                source = json.loads(report["content"])
                download = self.client.download(str(source["fileId"]))
                name = upload_name(source, download, report_id, image=content.get("type") == "image")
                file_id = self.client.upload(name, download.data)
                self.storage.save_upload(report_id, file_id, iso(self.clock.now()))
        content["fileId"] = file_id
        return content


def upload_name(source: dict[str, Any], download: Download, report_id: int, *, image: bool) -> str:
    """The name to upload a relayed attachment under (see the module docstring)."""
    given = source.get("fileName")
    name = (safe_filename(given) if isinstance(given, str) else None) or download.filename
    if not name:
        name = f"{'photo' if image else 'file'}-{report_id}"
    stem, dot, ext = name.rpartition(".")
    if not (dot and stem and ext.isalnum() and len(ext) <= 10):  # no real extension: add one
        name += extension_for(download.content_type) or (".jpg" if image else ".bin")
    return name
