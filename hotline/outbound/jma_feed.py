"""The HTTP fetches of JMA's feed and telegrams: one seam with timeouts, retries and a size cap.

The feed is polled with If-Modified-Since (JMA asks for no more than about one request a
minute, and answers 304 when nothing changed). A 5xx, a timeout or a connection error is
retried a few times with a short backoff; a 4xx is not (retrying cannot help). Either way
`FeedError` says what happened, and the poller tries again at its next turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

USER_AGENT = "hotline (prefectural disaster hotline; JMA disaster XML poller)"
MAX_BYTES = 5_000_000  # larger than any real feed or telegram; a bigger answer is refused


class FeedError(Exception):
    """The feed or a telegram could not be fetched."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Fetched:
    body: bytes
    last_modified: str | None


class JmaFeedClient:
    def __init__(
        self,
        *,
        timeout: tuple[float, float] = (5.0, 15.0),
        retries: int = 2,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.session = session or requests.Session()

    def feed(self, url: str, if_modified_since: str | None) -> Fetched | None:
        """The feed's bytes, or None when it has not changed since `if_modified_since` (304)."""
        headers = {"If-Modified-Since": if_modified_since} if if_modified_since else {}
        return self._get(url, headers)

    def telegram(self, url: str) -> bytes:
        fetched = self._get(url, {})
        if fetched is None:
            raise FeedError(f"{url}: 304 without If-Modified-Since", retryable=True)
        return fetched.body

    def _get(self, url: str, headers: dict[str, str]) -> Fetched | None:
        attempt = 0
        while True:
            try:
                return self._once(url, headers)
            except FeedError as exc:
                if not exc.retryable or attempt >= self.retries:
                    raise
            attempt += 1
            self.sleep(self.backoff * attempt)

    def _once(self, url: str, headers: dict[str, str]) -> Fetched | None:
        try:
            with self.session.get(
                url, headers={"User-Agent": USER_AGENT, **headers}, timeout=self.timeout, stream=True
            ) as response:
                if response.status_code == 304:
                    return None
                if response.status_code >= 500 or response.status_code == 429:
                    raise FeedError(f"{url}: HTTP {response.status_code}", retryable=True)
                if response.status_code != 200:
                    raise FeedError(f"{url}: HTTP {response.status_code}", retryable=False)
                body = b""
                for chunk in response.iter_content(65536):
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise FeedError(f"{url}: larger than {MAX_BYTES} bytes", retryable=False)
                return Fetched(body, response.headers.get("Last-Modified"))
        except requests.Timeout:
            raise FeedError(f"{url}: no answer within {self.timeout[1]} s", retryable=True) from None
        except requests.RequestException as exc:
            raise FeedError(f"{url}: {type(exc).__name__}", retryable=True) from None
