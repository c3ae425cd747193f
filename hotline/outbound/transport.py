"""The seam every outbound channel plugs into: LINE WORKS (the client), mail, webhooks.

An outbox row names its channel (`outbox.channel`). The sender sends `lineworks` rows through
the LINE WORKS client itself and hands every other row to the `Transport` the runtime
registered for its channel. A transport paces itself (`room`: how many sends it allows now)
and reports a failed send with `DeliveryError`, saying whether trying again later can help;
the sender then retries with backoff or marks the row failed, as for LINE WORKS.
"""

from __future__ import annotations

from typing import Any, Protocol

from hotline.storage import OutboxRow


class DeliveryError(Exception):
    """A failed send on any channel. `retryable` says whether trying again later can help;
    `japanese` is the reason people are shown when it failed for good (a LINE WORKS error
    leaves it empty: its status and code are explained by `messages.failure_reason`)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        retryable: bool,
        retry_after: float | None = None,
        reason: str = "",
        japanese: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.reason = reason
        self.japanese = japanese


class Transport(Protocol):
    """A channel other than LINE WORKS (mail, webhooks)."""

    def room(self) -> int:
        """How many sends this channel allows right now (its own pacing); 0 makes rows wait."""
        ...

    def send(self, row: OutboxRow, content: dict[str, Any]) -> None:
        """Deliver one row's content to `row.address`; raises DeliveryError on failure."""
        ...
