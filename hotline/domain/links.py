"""Signed, expiring links that let a person act from a mail without logging in.

A fallback mail (the report or the drill question that LINE WORKS could not deliver) carries
a link to a page with one button: acknowledge the report, or answer the drill. The link holds
what it is for and whom (`Link`), signed with HOTLINE_SECRET_KEY by itsdangerous, so it
cannot be forged or altered; it expires at a time written inside it, checked against
hotline's clock (so tests use the fixed one). Opening the page changes nothing; only its
button (a POST) does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from hotline.clock import iso, parse_iso

LINK_LIFETIME = timedelta(days=3)
_SALT = "hotline.mail-link.v1"
KINDS = ("ack", "drill")  # acknowledge a report; answer a drill run


class LinkError(ValueError):
    """A link that is not ours, was altered, or has expired (`expired` says which)."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class Link:
    kind: str  # "ack": subject is a report id; "drill": a drill run id
    subject: int
    member: str  # the person's member key in the configuration (as recipients froze it)
    expires_at: str  # ISO time


class LinkSigner:
    def __init__(self, secret: str, public_url: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_SALT)
        self.public_url = public_url.rstrip("/")

    def token(self, link: Link) -> str:
        if link.kind not in KINDS:
            raise ValueError(f"unknown link kind {link.kind!r}")
        return self._serializer.dumps([link.kind, link.subject, link.member, link.expires_at])

    def url(self, kind: str, subject: int, member: str, now: datetime) -> str:
        """The address to put in a mail; valid for LINK_LIFETIME from now."""
        link = Link(kind, subject, member, iso(now + LINK_LIFETIME))
        return f"{self.public_url}/m/{self.token(link)}"

    def read(self, token: str, now: datetime) -> Link:
        """The link a token stands for; LinkError when forged, altered or expired."""
        try:
            kind, subject, member, expires_at = self._serializer.loads(token)
        except (BadSignature, ValueError, TypeError) as exc:
            raise LinkError("not a valid link") from exc
        if kind not in KINDS or not isinstance(subject, int) or not isinstance(member, str):
            raise LinkError("not a valid link")
        if now >= parse_iso(str(expires_at)):
            raise LinkError("the link has expired", expired=True)
        return Link(kind, subject, member, str(expires_at))
