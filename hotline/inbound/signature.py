"""The callback signature: the one check made before a callback body is even parsed."""

from __future__ import annotations

import base64
import hashlib
import hmac


def signature_valid(secret: str, body: bytes, signature: str | None) -> bool:
    """X-WORKS-Signature: base64 HMAC-SHA256 of the raw body with the bot secret,
    compared in constant time."""
    if not signature:
        return False
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    return hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace"))
