"""The callback door (`POST /callback`): where LINE WORKS delivers every event.

Deliberately thin: the body size is checked by the app (MAX_CONTENT_LENGTH, 413), then the view
verifies the signature over the raw bytes, stores the body as an inbox row and answers 200 once
that row is committed. Callbacks arriving together share one commit (storage.inbox_writer).
Parsing and everything slow happen in the inbox worker, because LINE WORKS never re-sends a
callback that failed or timed out.
"""

from __future__ import annotations

import hmac
import json
import logging
import sqlite3

from flask import Blueprint, request

from hotline.clock import iso
from hotline.inbound.signature import signature_valid
from hotline.web.context import current_hotline

log = logging.getLogger(__name__)

STORE_ATTEMPTS = 3  # the database may be briefly locked by another process

door = Blueprint("door", __name__)


@door.post("/callback")
def callback() -> tuple[str, int]:
    hotline = current_hotline()
    credentials = hotline.settings.credentials
    body = request.get_data(cache=False)  # raw bytes: the signature covers exactly these
    bot_id = request.headers.get("X-WORKS-BotId", "")
    signature = request.headers.get("X-WORKS-Signature")
    if not signature_valid(credentials.bot_secret, body, signature) or not hmac.compare_digest(
        bot_id.encode(), credentials.bot_id.encode()
    ):
        hotline.counters["rejected_signature"] += 1
        return "invalid signature", 401
    text = body.decode("utf-8", "replace")
    # Classify only; the worker does the real parsing. A signed body that is not JSON is kept
    # as 'rejected' and answered 200: LINE WORKS would not re-send it anyway, and a 4xx to a
    # signed delivery would only fill its error log. The row is the evidence for an operator.
    try:
        json.loads(text)
        status, reason = "new", None
    except (ValueError, RecursionError):
        status, reason = "rejected", "not JSON"
    now = iso(hotline.clock.now())
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            # Committed together with the callbacks arriving meanwhile (storage.inbox_writer.
            # InboxWriter); returns only once the transaction holding this row has committed.
            hotline.inbox_writer.store(text, now, status=status, reason=reason)
            break
        except sqlite3.OperationalError as exc:
            log.warning("storing callback failed (attempt %d): %s", attempt, exc)
            if attempt == STORE_ATTEMPTS:
                # Not stored: say so with a 503 so the failure is visible in LINE WORKS' log,
                # never a silent 200.
                hotline.counters["store_failed"] += 1
                return "storage unavailable", 503
    if status == "new":
        hotline.wake_inbox()
    else:
        hotline.counters["rejected_body"] += 1
    return "", 200
