"""The mailbox page ``/mail`` and its control API (demos/tests only).

What the demo's mail server (``mailbox.Mailbox``) accepted, for a newcomer to read: hotline's
fallback mails with their links, newest first. The page is rendered here (Jinja escapes every
mail's text) and refreshes itself; the JSON is for tests and scripts:

- ``GET  /mail``                   the page 「受信メール（デモ用）」
- ``GET  /_emulator/mail``         ``{mails: [...newest first], refusals: [421, ...]}``
- ``GET|POST /_emulator/mail/faults`` ``{refuse_next: N, permanent: bool}`` refuses the next N
  messages with 421 (try later) or, when permanent, 550; answers ``{refusals}``, the codes the
  next messages will get. ``POST /_emulator/reset`` clears both the mails and the refusals.

Without a mailbox (``Emulator(seed)`` alone) the page says so and the JSON routes answer 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, render_template, request

from .api import error, ok
from .state import JST

if TYPE_CHECKING:
    from . import Emulator
    from .mailbox import Mail, Mailbox

MAX_REFUSALS = 1000  # more than a test or a demo needs; a typo such as 1e9 is refused

# An http(s) address as hotline writes it in a mail (the /m/ links: URL-safe tokens). ASCII only,
# so the Japanese text right after a link is not taken into it.
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_TRAILING = ".,;:!?'\")]"  # punctuation that ends a sentence rather than the address


@dataclass(frozen=True)
class Part:
    """A piece of a mail's text: plain, or an address shown as a link (`href` set)."""

    text: str
    href: str | None = None


def linked_parts(text: str) -> list[Part]:
    """Split `text` into plain pieces and http(s) addresses, in order."""
    parts: list[Part] = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group().rstrip(_TRAILING)
        if not re.fullmatch(r"https?://.+", url):
            continue
        start, end = match.start(), match.start() + len(url)
        if start > last:
            parts.append(Part(text[last:start]))
        parts.append(Part(url, url))
        last = end
    if last < len(text):
        parts.append(Part(text[last:]))
    return parts


def _view(seq: int, mail: Mail) -> dict[str, Any]:
    received = datetime.fromtimestamp(mail.received_at, JST)
    return {
        "seq": seq,
        "received": received.strftime("%Y-%m-%d %H:%M:%S"),
        "received_iso": received.isoformat(timespec="seconds"),
        "sender": mail.sender,
        "to": mail.to or ", ".join(mail.rcpt_tos),
        "subject": mail.subject,
        "parts": linked_parts(mail.text),
    }


def create_mail_blueprint(emu: Emulator) -> Blueprint:
    """The mailbox page and ``/_emulator/mail...``, showing ``emu.mailbox``."""
    bp = Blueprint("mail", __name__, template_folder="templates")

    def mailbox() -> Mailbox | Response:
        if emu.mailbox is None:
            return error(404, "NOT_FOUND", "this emulator has no mailbox (Emulator(seed, mailbox=...))")
        return emu.mailbox

    @bp.get("/mail")
    def mail_page() -> Response:
        box = emu.mailbox
        mails = [] if box is None else list(enumerate(box.messages(), start=1))
        html = render_template(
            "mailbox.html",
            connected=box is not None,
            smtp_url=box.url if box is not None else "",
            mails=[_view(seq, mail) for seq, mail in reversed(mails)],
            refusals=[] if box is None else box.refusals(),
        )
        resp = Response(html, mimetype="text/html")
        resp.headers["Content-Security-Policy"] = "default-src 'self'; object-src 'none'; base-uri 'none'"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @bp.get("/_emulator/mail")
    def mail_json() -> Response:
        box = mailbox()
        if isinstance(box, Response):
            return box
        return ok({"mails": box.as_json()[::-1], "refusals": box.refusals()})

    @bp.get("/_emulator/mail/faults")
    def get_mail_faults() -> Response:
        box = mailbox()
        if isinstance(box, Response):
            return box
        return ok({"refusals": box.refusals()})

    @bp.post("/_emulator/mail/faults")
    def set_mail_faults() -> Response:
        box = mailbox()
        if isinstance(box, Response):
            return box
        body = request.get_json(silent=True)
        body = body if isinstance(body, dict) else {}
        unknown = sorted(set(body) - {"refuse_next", "permanent"})
        count, permanent = body.get("refuse_next"), body.get("permanent", False)
        if unknown:
            return error(400, "INVALID_PARAMETER", f"unknown mail fault switch: {', '.join(unknown)}")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_REFUSALS:
            return error(400, "INVALID_PARAMETER", f"refuse_next must be a whole number 0..{MAX_REFUSALS}")
        if not isinstance(permanent, bool):
            return error(400, "INVALID_PARAMETER", "permanent must be true (550) or false (421)")
        box.refuse_next(count, permanent=permanent)
        return ok({"refusals": box.refusals()})

    return bp
