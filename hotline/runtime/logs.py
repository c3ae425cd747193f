"""Logging for the processes hotline runs (run.py and the `hotline` command): readable text
lines by default, or one JSON object per line with HOTLINE_LOG_FORMAT=json, for a log
collector (journald, Fluent Bit, Loki, ...) to index without parsing text.

The JSON entry has a fixed set of fields: time (ISO 8601 with milliseconds and the zone
offset), level, logger, message and, when there is one, exception (the formatted traceback).
The message is formatted as the text line formats it, and a record's extra attributes are
never added, so an entry carries exactly what the text line carries: hotline's messages never
contain a secret (tests/test_faults.py checks both formats), and the JSON adds no other way
for one to get in.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in a message are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            # The server's zone with its offset, like the text format's local time, but explicit.
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Log to standard error in `log_format` ("text" or "json", checked by
    config.settings.log_format_from_env). Like logging.basicConfig, it does nothing when
    logging was set up already."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
