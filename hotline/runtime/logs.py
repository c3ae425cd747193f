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
# Loggers too chatty at INFO for an operator: APScheduler writes two lines for every run of
# every job (each few seconds), which buried hotline's own lines (571 of 596 in a short demo).
# Their warnings and errors still show.
QUIET_LOGGERS = ("apscheduler",)


def local_time(record: logging.LogRecord) -> str:
    """The record's time in the server's zone, with milliseconds and the zone's offset
    (2026-11-21T03:12:05.123+09:00): a log read elsewhere says which zone it is in."""
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """The readable line, its time with the zone's offset (the default had none)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return local_time(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in a message are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": local_time(record),  # the server's zone with its offset, as in the text line
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
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
