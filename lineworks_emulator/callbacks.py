"""Callback (webhook) delivery of the emulator, as LINE WORKS does it (demos/tests only).

One background thread delivers events in order, once: a failed delivery is recorded and
never retried (lineworks-api.md §7).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

JSON = dict[str, Any]


def sign(secret: str, body: bytes) -> str:
    """``X-WORKS-Signature``: base64(HMAC-SHA256(bot secret, raw body))."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass
class Delivery:
    """One queued callback; ``done`` is set once it was attempted."""

    event: JSON
    done: threading.Event = field(default_factory=threading.Event)
    status: int | None = None
    error: str | None = None
    seq: int | None = None


class CallbackDispatcher:
    """Queue + single worker thread that POSTs events to the bot's callback URL."""

    def __init__(
        self,
        *,
        bot_id: str,
        bot_secret: str,
        get_url: Callable[[], str | None],
        get_timeout: Callable[[], float],
        record: Callable[[JSON, int | None, str | None], int],
    ) -> None:
        self._bot_id = bot_id
        self._secret = bot_secret
        self._get_url = get_url
        self._get_timeout = get_timeout
        self._record = record
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._cond = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self._session.trust_env = False  # talk straight to 127.0.0.1, never via a proxy

    def submit(self, event: JSON) -> Delivery:
        """Queue an event for delivery (in submission order)."""
        job = Delivery(event)
        with self._cond:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="emulator-callbacks", daemon=True)
                self._thread.start()
            self._queue.put(job)
        return job

    def drain(self, timeout: float) -> bool:
        """Wait until every queued callback was attempted; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)

    def stop(self) -> None:
        """Stop the worker after the queued deliveries."""
        with self._cond:
            thread = self._thread
            self._thread = None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)
        self._session.close()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._deliver(job)
            except Exception as exc:
                job.error = f"emulator error: {exc!r}"
            finally:
                try:
                    job.seq = self._record(job.event, job.status, job.error)
                finally:
                    job.done.set()
                    with self._cond:
                        self._pending -= 1
                        self._cond.notify_all()

    def _deliver(self, job: Delivery) -> None:
        url = self._get_url()
        if not url:
            job.error = "no callback URL configured"
            return
        body = json.dumps(job.event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "X-WORKS-BotId": self._bot_id,
            "X-WORKS-Signature": sign(self._secret, body),
        }
        timeout = self._get_timeout()
        try:
            resp = self._session.post(url, data=body, headers=headers, timeout=timeout)
        except requests.Timeout:
            job.error = "timeout"
        except requests.RequestException as exc:
            job.error = f"{type(exc).__name__}: {exc}"
        else:
            job.status = resp.status_code
            resp.close()
