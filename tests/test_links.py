"""A mail's link is good for what it says, for three days, and only as signed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hotline.domain.links import LINK_LIFETIME, LinkError, LinkSigner

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
SECRET = "s" * 40


def _token(url: str) -> str:
    prefix = "https://hotline.example.jp/m/"
    assert url.startswith(prefix)
    return url.removeprefix(prefix)


def test_a_link_reads_back_as_what_it_was_made_for() -> None:
    signer = LinkSigner(SECRET, "https://hotline.example.jp/")
    link = signer.read(_token(signer.url("ack", 12, "uwajima-deputy", NOW)), NOW + timedelta(hours=1))
    assert (link.kind, link.subject, link.member) == ("ack", 12, "uwajima-deputy")


def test_an_altered_or_foreign_link_is_refused() -> None:
    signer = LinkSigner(SECRET, "https://hotline.example.jp")
    token = _token(signer.url("drill", 3, "a", NOW))
    with pytest.raises(LinkError) as tampered:
        signer.read(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), NOW)
    assert not tampered.value.expired
    with pytest.raises(LinkError):
        LinkSigner("t" * 40, "https://hotline.example.jp").read(token, NOW)


def test_a_link_expires_after_its_lifetime() -> None:
    signer = LinkSigner(SECRET, "https://hotline.example.jp")
    token = _token(signer.url("ack", 1, "a", NOW))
    signer.read(token, NOW + LINK_LIFETIME - timedelta(seconds=1))
    with pytest.raises(LinkError) as late:
        signer.read(token, NOW + LINK_LIFETIME)
    assert late.value.expired
