"""The stored telegrams, parsed and handed to the triggers, oldest first.

Like the inbox: a telegram is a `new` row before anything acts on it; a hostile or malformed
one is marked `refused` with the reason (and nothing else happens); a failure while acting
leaves it `new`, so the next turn (or the next start after a crash) acts on it again, and the
triggers' own records make sure nobody is asked twice.
"""

from __future__ import annotations

import logging

from hotline.clock import Clock, iso
from hotline.domain.earthquakes import Earthquakes, Outcome
from hotline.inbound.jma.parser import TelegramError, parse_telegram
from hotline.storage import Storage

log = logging.getLogger(__name__)


def process_pending(storage: Storage, earthquakes: Earthquakes, clock: Clock) -> list[Outcome]:
    """Act on every stored telegram not yet processed; returns what each led to."""
    outcomes = []
    for row in storage.pending_telegrams():
        try:
            telegram = parse_telegram(bytes(row["body"]))
        except TelegramError as exc:
            log.warning("JMA telegram %s (%s) refused: %s", row["id"], row["url"], exc)
            with storage.transaction():
                storage.finish_telegram(row["id"], "refused", iso(clock.now()), str(exc))
            outcomes.append(Outcome("refused", str(exc)))
            continue
        try:
            outcome = earthquakes.act(row["id"], telegram)
        except Exception:  # stays 'new': tried again at the next turn
            log.exception("JMA telegram %s could not be acted on; trying again later", row["id"])
            continue
        log.info("JMA telegram %s %s %s: %s", row["id"], telegram.kind, outcome.status, outcome.reason)
        outcomes.append(outcome)
    return outcomes
