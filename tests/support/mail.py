"""What the mail tests share: the mail settings of the test hotline, and reading the mails that
reached the mailbox (who got one, the link in it)."""

from __future__ import annotations

import re
import threading
from datetime import datetime

from aiosmtpd.smtp import Envelope

from hotline.domain.links import Link, LinkSigner
from lineworks_emulator.mailbox import Mail, Mailbox

SENDER = "hotline@pref-ehime.example"
PUBLIC_URL = "https://hotline.pref-ehime.example"
SECRET_KEY = "mail-tests-secret-key-0123456789abcdef"

LINK = re.compile(re.escape(PUBLIC_URL) + r"/m/(\S+)")


def link_in(mail: Mail, now: datetime) -> Link:
    """The signed link a mail carries, read back as the links page would."""
    found = LINK.search(mail.text)
    assert found, mail.text
    return LinkSigner(SECRET_KEY, "").read(found.group(1), now)


def recipients(mails: list[Mail]) -> list[str]:
    """Every envelope recipient, in the order the mails arrived."""
    return [r for m in mails for r in m.rcpt_tos]


class SlowMailbox(Mailbox):
    """The mailbox taking `delay` seconds to accept each message (like a loaded relay), so that
    a kill -9 lands while mails are going out. It blocks the server's one event loop, so
    messages are accepted one at a time."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self._pause = threading.Event()

    def _accept(self, envelope: Envelope) -> str:
        self._pause.wait(self.delay)
        return super()._accept(envelope)
