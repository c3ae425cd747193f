"""What the mail fallbacks of reports (`reports/fallback.py`) and roll-call questions
(`drills/fallback.py`) share: their wiring, the wait, and bringing waiting mails forward.

Both enqueue their mails as outbox rows when the report is relayed or the run fires, due after
`HOTLINE_MAIL_FALLBACK_MINUTES`, and decide just before each goes whether it is still needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from hotline import messages as msg
from hotline.clock import Clock, iso
from hotline.config import Config
from hotline.domain.links import LinkSigner
from hotline.storage import Storage


class MailFallback:
    def __init__(
        self,
        storage: Storage,
        config: Callable[[], Config],
        clock: Clock,
        signer: LinkSigner,
        *,
        after: timedelta,
        on_enqueue: Callable[[], None] = lambda: None,
    ) -> None:
        self.storage = storage
        self.config = config
        self.clock = clock
        self.signer = signer  # the links in mails (domain.links)
        self.after = after  # how long LINE WORKS may take before the mail goes
        self.on_enqueue = on_enqueue

    @property
    def minutes(self) -> float:
        return self.after.total_seconds() / 60

    def due(self) -> str:
        """When a mail enqueued now goes, if still needed."""
        return iso(self.clock.now() + self.after)

    def bring_forward(self, message_ids: Sequence[int]) -> int:
        """Waiting mails go now (their LINE WORKS message failed for good)."""
        if not message_ids:
            return 0
        with self.storage.transaction():
            moved = self.storage.bring_forward(message_ids, iso(self.clock.now()))
        if moved:
            self.on_enqueue()
        return moved


def mail_content(
    *, to: str, subject: str, text: str, member: str, name: str, municipality: str | None
) -> dict[str, Any]:
    """A mail row's content, as the links page and the dashboard read it (ISSUE 15's contract):
    the address, the mail, and whom it is for (member key, name, municipality code; None for HQ)."""
    return {
        "to": to,
        "subject": subject,
        "text": text,
        "member": member,
        "name": name,
        "municipality": municipality,
    }


def with_first_line(content: dict[str, Any], line: str) -> dict[str, Any]:
    """A LINE WORKS message's content with `line` before its text (a button template's
    contentText or a text message's text), cut to the limit of its kind."""
    marked = dict(content)
    if "contentText" in marked:
        marked["contentText"] = (line + str(marked["contentText"]))[: msg.BUTTON_TEXT_LIMIT]
    elif "text" in marked:
        marked["text"] = (line + str(marked["text"]))[: msg.TEXT_LIMIT]
    return marked
