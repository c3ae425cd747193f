"""The webhook transport: POSTs an outbox row's JSON body, signed, to the webhook it names.

A row of channel 'webhook' carries the event's body (`domain/webhooks.py`) and, as its
address, the name of a `[[webhooks]]` entry; the URL and the secret are read from the running
configuration at each attempt, so a corrected URL or a rotated secret applies to the retries.

The signature is LINE WORKS' own scheme for its callbacks (X-WORKS-Signature), so a receiver
that verifies those can verify these: `X-Hotline-Signature` is the base64 of HMAC-SHA256 of the
raw body bytes with the webhook's secret. The body carries `sent_at` (this attempt), so the
signature also covers the moment; a receiver refuses old ones and drops repeated `id`s
(docs/WEBHOOKS.md has a receiver).

Outcomes: 2xx sent; 5xx, 408, 429, timeouts and connection errors retried by the sender with
backoff (Retry-After honoured); any other answer fails for good with a Japanese reason (3xx
too: redirects are not followed, so a signed body never goes to an address nobody configured).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import requests

from hotline import messages as msg
from hotline.clock import Clock, jst
from hotline.config import Config
from hotline.outbound.transport import DeliveryError
from hotline.storage import OutboxRow

SIGNATURE_HEADER = "X-Hotline-Signature"
EVENT_HEADER = "X-Hotline-Event"
DELIVERY_HEADER = "X-Hotline-Delivery"  # the event's id, the same on every retry
TIMESTAMP_HEADER = "X-Hotline-Timestamp"  # this attempt, Unix seconds (also `sent_at` in the body)
TIMEOUT = 10.0  # seconds to connect and to read the answer
PER_MINUTE = 120  # POSTs per minute over all webhooks: a burst of events never floods a receiver
RETRYABLE_STATUSES = frozenset({408, 425, 429})
MAX_RETRY_AFTER = 600.0


def signature(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)): what `X-Hotline-Signature` carries."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class WebhookTransport:
    """`Transport` for channel 'webhook' (see `outbound/transport.py`)."""

    def __init__(
        self,
        config: Callable[[], Config],
        clock: Clock,
        *,
        timeout: float = TIMEOUT,
        per_minute: int = PER_MINUTE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.clock = clock
        self.timeout = timeout
        self.per_minute = per_minute
        self.monotonic = monotonic
        self._sent: deque[float] = deque()  # moments of the POSTs of the last minute
        self._lock = threading.Lock()

    def room(self) -> int:
        with self._lock:
            self._forget(self.monotonic())
            return max(0, self.per_minute - len(self._sent))

    def _forget(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= 60.0:
            self._sent.popleft()

    def send(self, row: OutboxRow, content: dict[str, Any]) -> None:
        hook = self.config().webhook(row.address or "")
        if hook is None:
            raise DeliveryError(
                f"webhook {row.address!r} is not configured",
                retryable=False,
                japanese=msg.WEBHOOK_NOT_CONFIGURED.format(name=row.address),
            )
        now = self.clock.now()
        body = json.dumps(
            {**content, "sent_at": jst(now).isoformat(timespec="seconds")},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "hotline-webhooks/1",
            EVENT_HEADER: str(content.get("event", "")),
            DELIVERY_HEADER: str(content.get("id", "")),
            TIMESTAMP_HEADER: str(int(now.timestamp())),
            SIGNATURE_HEADER: signature(hook.secret, body),
        }
        with self._lock:
            self._sent.append(self.monotonic())
        try:
            answer = requests.post(
                hook.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.Timeout:
            raise DeliveryError(f"webhook {hook.name}: timed out", retryable=True) from None
        except requests.RequestException as exc:
            # the exception text may carry the URL; the log gets its type only
            raise DeliveryError(f"webhook {hook.name}: {type(exc).__name__}", retryable=True) from None
        status = answer.status_code
        if 200 <= status < 300:
            return
        retryable = status >= 500 or status in RETRYABLE_STATUSES
        raise DeliveryError(
            f"webhook {hook.name}: HTTP {status}",
            status=status,
            retryable=retryable,
            retry_after=_retry_after(answer) if retryable else None,
            japanese="" if retryable else msg.webhook_refused(hook.name, status),
        )


def _retry_after(answer: requests.Response) -> float | None:
    """Retry-After in seconds when the receiver gives one (a date form is ignored)."""
    try:
        value = float(answer.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return min(max(value, 0.0), MAX_RETRY_AFTER)
