"""What follows each attempt of a report's (or an HQ instruction's) room copies: the poster's
receipt and notices, and, with the mail fallback on, the mails of the towns a room that failed
for good leaves without it, brought forward to now. The runtime calls it after every attempt
and from the sweep; the handlers and the form call it once the rows are committed, because a
room without a channel id failed as it was enqueued and no attempt will come for it."""

from __future__ import annotations

import logging

from hotline.domain.reports.fallback import ReportMail
from hotline.domain.reports.receipts import Receipts

log = logging.getLogger(__name__)


def follow_up(receipts: Receipts, mail: ReportMail | None, report_id: int) -> None:
    receipts.after_delivery(report_id)
    if mail is not None:
        try:
            mail.after_delivery(report_id)
        except Exception:  # the mails still go after their wait; the sweep tries again
            log.exception("bringing the mails of report %s forward failed", report_id)
