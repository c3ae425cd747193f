"""Relayed photos and files: downloaded from the reporter's message once, uploaded once.

An attachment goes to every room its report reached; each of those outbox rows carries an
`UploadAttachment` instruction, and `prepare` fills in the `fileId` just before the row is
sent. The first row to get here downloads and uploads; the others (sent in parallel) wait on
the same per-report lock and reuse the stored fileId.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from hotline.clock import Clock, iso
from hotline.outbound.client import LineWorksClient, LineWorksError
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
                data, name = self.client.download(str(source["fileId"]))
                name = str(source.get("fileName") or name or "photo.jpg")
                if "." not in name:
                    name += ".jpg" if content.get("type") == "image" else ".bin"
                file_id = self.client.upload(name, data)
                self.storage.save_upload(report_id, file_id, iso(self.clock.now()))
        content["fileId"] = file_id
        return content
