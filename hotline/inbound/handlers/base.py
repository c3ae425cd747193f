"""The shape every event handler has, and the questions handlers ask of an event."""

from __future__ import annotations

import logging
from typing import Protocol

from hotline.config import Config
from hotline.domain.reports import Receipts
from hotline.domain.reports.fallback import ReportMail
from hotline.inbound.events import Event

log = logging.getLogger(__name__)


class Handler(Protocol):
    """One kind of event. The dispatcher gives an event to the first handler that matches."""

    def matches(self, event: Event) -> bool: ...

    def handle(self, inbox_id: int, event: Event, config: Config) -> None: ...


def postback_data(event: Event) -> str | None:
    """The data of a button tap: a postback event's `data`, or a message whose content carries
    a quick-reply `postback`. None for anything else."""
    if event.type == "postback":
        return event.data or ""
    if event.type == "message" and event.user_id and event.postback is not None:
        return event.postback
    return None


def text_of(event: Event) -> str | None:
    """The text of a text message from a person (None for anything else)."""
    if event.type == "message" and event.user_id and event.postback is None and event.content_type == "text":
        return event.text
    return None


def after_enqueue(receipts: Receipts, mail: ReportMail | None, report_id: int) -> None:
    """Once a report, an HQ instruction or an answer is committed: what the runtime's
    `Hotline.after_delivery` does after each attempt, because a room without a channel id
    failed as it was enqueued and no attempt will come for it. The poster's receipt may be due,
    and (with the mail fallback, the `mail` the runtime gave `Reports` and `Instructions`) the
    mails of the towns that failed room leaves without it go now, not after the wait."""
    receipts.after_delivery(report_id)
    if mail is not None:
        try:
            mail.after_delivery(report_id)
        except Exception:  # the mails still go after their wait; the sweep tries again
            log.exception("bringing the mails of report %s forward failed", report_id)
