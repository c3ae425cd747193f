"""Signed postbacks: the data behind the bot's buttons, `kind:field:...:<mac>`.

A tapped button sends its postback back to the callback, where anyone could have written
it. So every postback the bot makes ends with a short HMAC-SHA256 (12 hex digits) of
everything before it, keyed with the bot secret: a hand-made postback, or one from another
bot (another prefecture's), does not verify. Acknowledgements (`ack:<report>:<mac>`) and
drill answers (`drill:<run>:<question>:<choice>:<mac>`) both use it.

The strings must never change: buttons already sent to people keep working only while the
same fields give the same postback.
"""

from __future__ import annotations

import hashlib
import hmac

MAC_LENGTH = 12


def sign(secret: str, kind: str, *fields: str | int) -> str:
    """`kind:field:...:<mac>`; fields must not contain ':'."""
    body = ":".join([kind, *(str(f) for f in fields)])
    return f"{body}:{_mac(secret, body)}"


def verify(secret: str, data: str) -> bool:
    """Whether the last field of `data` is the bot's MAC of everything before it. Reading
    the fields (and refusing malformed ones) is the caller's part."""
    body, colon, given = data.rpartition(":")
    if not colon:
        return False
    return hmac.compare_digest(given.encode(), _mac(secret, body).encode())


def _mac(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:MAC_LENGTH]
