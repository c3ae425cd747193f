"""The LINE WORKS API 2.0 client: the one seam every outbound call passes through.

`LineWorksClient._call` sets the timeout, paces each API operation by its own budget,
attaches the service-account token (renewed before expiry and once on a 401), reads the
rate-limit headers and turns error bodies into `LineWorksError`, which says whether a retry
can help. Nothing else in hotline talks to LINE WORKS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jwt
import requests
import requests.adapters

from hotline.config.settings import Credentials, load_private_key
from hotline.metrics import Metrics
from hotline.outbound.ratelimit import RateLimiter, default_limits

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
JWT_LIFETIME = 3600  # LINE WORKS caps the assertion at 60 minutes (UNCONFIRMED wording; safe)
RENEW_MARGIN = 300  # renew the access token this many seconds before it expires


class LineWorksError(Exception):
    """A failed call. `retryable` says whether trying again later can help."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class _Token:
    value: str = field(repr=False)
    expires_at: float


class LineWorksClient:
    """Calls LINE WORKS for one bot. Thread-safe."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        read_timeout: float = READ_TIMEOUT,
        pool_size: int = 32,
        metrics: Metrics | None = None,
    ) -> None:
        self.credentials = credentials
        self.metrics = metrics or Metrics()  # calls, statuses, token renewals (/metrics)
        self.timeout = (min(CONNECT_TIMEOUT, read_timeout), read_timeout)
        self._key = load_private_key(credentials.private_key_pem, "LW_API_PRIVATEKEY")
        self.limiter = limiter or RateLimiter(default_limits(240))
        if session is None:
            session = requests.Session()
            # One kept-alive connection per sending thread: requests' default pool of 10
            # would drop connections and redo the TLS handshake on every fan-out.
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        self.clock = clock
        self._token: _Token | None = None
        self._token_lock = threading.Lock()
        self.last_rate_headers: dict[str, dict[str, str]] = {}

    # -- auth ---------------------------------------------------------------------------
    def _assertion(self) -> str:
        now = int(self.clock())
        claims = {
            "iss": self.credentials.client_id,
            "sub": self.credentials.service_account,
            "iat": now,
            "exp": now + JWT_LIFETIME,
        }
        return jwt.encode(claims, self._key, algorithm="RS256")

    def _fetch_token(self) -> _Token:
        form = {
            "assertion": self._assertion(),
            # Sent plain: the official Python sample double-escapes this (lineworks-api.md §1).
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
            "scope": self.credentials.scope,
        }
        try:
            response = self.session.post(self.credentials.auth_url, data=form, timeout=self.timeout)
        except requests.RequestException as exc:
            self.metrics.token_renewal(issued=False)
            raise LineWorksError(
                f"token endpoint unreachable ({type(exc).__name__})", code="AUTH", retryable=True
            ) from None
        if response.status_code != 200:
            self.metrics.token_renewal(issued=False)
            # A rejected credential is a configuration problem an operator can fix: keep the
            # messages waiting (retryable) rather than failing them for good.
            raise LineWorksError(
                f"token endpoint answered {response.status_code}: {_error_text(response)}",
                status=response.status_code,
                code="AUTH",
                retryable=True,
            )
        body = response.json()
        ttl = int(body.get("expires_in", 3600))  # some tenants send it as a string
        log.info("access token issued, valid %d s", ttl)
        self.metrics.token_renewal(issued=True)
        margin = min(RENEW_MARGIN, ttl / 10)
        return _Token(str(body["access_token"]), self.clock() + ttl - margin)

    def token(self, *, renew: bool = False, stale: str | None = None) -> str:
        with self._token_lock:
            current = self._token
            expired = current is None or current.expires_at <= self.clock()
            # Renew only if nobody renewed since the caller saw the stale token.
            if expired or (renew and current is not None and current.value == stale):
                self._token = self._fetch_token()
            assert self._token is not None
            return self._token.value

    # -- the seam -----------------------------------------------------------------------
    def _call(
        self,
        op: str,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        allow_redirects: bool = True,
        paced: bool = True,
    ) -> requests.Response:
        if paced and not self.limiter.acquire(op):
            raise LineWorksError(f"{op}: no rate budget in time", code="PACING", retryable=True)
        for attempt in (1, 2):
            token = self.token()
            headers = {"Authorization": f"Bearer {token}"}
            started = time.monotonic()
            try:
                response = self.session.request(
                    method,
                    url,
                    json=json,
                    data=data,
                    files=files,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=allow_redirects,
                )
            except requests.Timeout:
                self.metrics.lineworks_call(op, "timeout")
                # The call may or may not have been carried out: a retry can duplicate, never lose.
                raise LineWorksError(f"{op}: timed out", code="TIMEOUT", retryable=True) from None
            except requests.RequestException as exc:
                self.metrics.lineworks_call(op, "network")
                raise LineWorksError(
                    f"{op}: network error ({type(exc).__name__})", code="NETWORK", retryable=True
                ) from None
            log.debug(
                "%s %s -> %s in %.0f ms",
                op,
                method,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            self.metrics.lineworks_call(op, response.status_code)
            self._note_rate_headers(op, response)
            if response.status_code == 401 and attempt == 1:
                self.token(renew=True, stale=token)
                continue
            break
        if response.status_code < 400:
            return response
        code, description = _error_body(response)
        if response.status_code == 429:
            reset = _header_float(response, "rateLimit-reset")
            known = reset is not None and reset > 0
            self.limiter.pause(op, reset if known and reset is not None else 2.0)
            raise LineWorksError(
                f"{op}: rate limited ({description})",
                status=429,
                code=code,
                retryable=True,
                # No reset header (none is documented as always present): the sender's
                # exponential backoff applies instead.
                retry_after=reset if known else None,
            )
        retryable = response.status_code >= 500 or response.status_code == 401
        raise LineWorksError(
            f"{op}: {response.status_code} {code} {description}".strip(),
            status=response.status_code,
            code=code,
            retryable=retryable,
        )

    def _note_rate_headers(self, op: str, response: requests.Response) -> None:
        # Header names are case-insensitive; the "used" header's spelling is UNCONFIRMED,
        # so we keep whatever rateLimit-* headers arrive and depend only on -reset.
        found = {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("ratelimit-")}
        if found:
            self.last_rate_headers[op] = found

    def _url(self, path: str) -> str:
        return f"{self.credentials.api_base_url}{path}"

    @property
    def _bot(self) -> str:
        return f"/bots/{quote(self.credentials.bot_id, safe='')}"

    # -- operations ---------------------------------------------------------------------
    def send_to_channel(self, channel_id: str, content: dict[str, Any]) -> None:
        self._call(
            "send_channel",
            "POST",
            self._url(f"{self._bot}/channels/{quote(channel_id, safe='')}/messages"),
            json={"content": content},
        )

    def send_to_user(self, user_id: str, content: dict[str, Any]) -> None:
        self._call(
            "send_user",
            "POST",
            self._url(f"{self._bot}/users/{quote(user_id, safe='')}/messages"),
            json={"content": content},
        )

    def get_user(self, user_id_or_email: str) -> dict[str, Any]:
        response = self._call("users", "GET", self._url(f"/users/{quote(user_id_or_email, safe='')}"))
        result: dict[str, Any] = response.json()
        return result

    def create_channel(self, members: list[str], title: str) -> str:
        response = self._call(
            "create_channel",
            "POST",
            self._url(f"{self._bot}/channels"),
            json={"members": members, "title": title},
        )
        return str(response.json()["channelId"])

    def channel_members(self, channel_id: str) -> list[str]:
        members: list[str] = []
        cursor: str | None = None
        while True:
            url = self._url(f"{self._bot}/channels/{quote(channel_id, safe='')}/members?count=100")
            if cursor:
                url += f"&cursor={quote(cursor, safe='')}"
            body = self._call("channel_members", "GET", url).json()
            members.extend(body.get("members", []))
            cursor = (body.get("responseMetaData") or {}).get("nextCursor")
            if not cursor:
                return members

    def download(self, file_id: str) -> tuple[bytes, str]:
        """Fetch a received attachment: 302 to the real URL, which we GET with the token again
        (whether the download host needs it is UNCONFIRMED; sending it is harmless)."""
        first = self._call(
            "attachments",
            "GET",
            self._url(f"{self._bot}/attachments/{quote(file_id, safe='')}"),
            allow_redirects=False,
        )
        location = first.headers.get("Location")
        if first.status_code not in (301, 302, 303, 307, 308) or not location:
            body = first.content
            return body, _filename(first, file_id)
        second = self._call("download", "GET", location, paced=False)
        return second.content, _filename(second, file_id)

    def upload(self, file_name: str, data: bytes) -> str:
        """Upload bytes for sending by fileId; returns the fileId."""
        init = self._call(
            "attachments",
            "POST",
            self._url(f"{self._bot}/attachments"),
            json={"fileName": file_name},
        ).json()
        self._call(
            "upload",
            "POST",
            str(init["uploadUrl"]),
            files={"Filedata": (file_name, data)},
            data={"resourceName": file_name},
            paced=False,
        )
        return str(init["fileId"])

    def create_board_post(self, board_id: str, title: str, body_html: str, must_read_until: str) -> str:
        """Post to a board as a must-read post; returns the postId.

        The format of mustReadEndDate is UNCONFIRMED (lineworks-api.md §9 gives only "≤30
        days"); we send a date as YYYY-MM-DD, which the documented examples suggest."""
        response = self._call(
            "boards",
            "POST",
            self._url(f"/boards/{quote(board_id, safe='')}/posts"),
            json={
                "title": title[:200],
                "body": body_html,
                "enableComment": False,
                "sendNotifications": True,
                "mustReadEndDate": must_read_until,
            },
        )
        return str(response.json()["postId"])

    def board_readers(self, board_id: str, post_id: str) -> list[tuple[str, bool]]:
        """(userId, isRead) for every member the post is for; deleted accounts are skipped."""
        readers: list[tuple[str, bool]] = []
        cursor: str | None = None
        while True:
            url = self._url(
                f"/boards/{quote(board_id, safe='')}/posts/{quote(post_id, safe='')}/readers?count=5000"
            )
            if cursor:
                url += f"&cursor={quote(cursor, safe='')}"
            body = self._call("boards", "GET", url).json()
            for reader in body.get("readers", []):
                if reader.get("userId"):  # null for deleted accounts
                    readers.append((str(reader["userId"]), bool(reader.get("isRead"))))
            cursor = (body.get("responseMetaData") or {}).get("nextCursor")
            if not cursor:
                return readers


def _error_body(response: requests.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if isinstance(body, dict):
        return str(body.get("code", "")), str(body.get("description", ""))[:300]
    return "", str(body)[:200]


def _error_text(response: requests.Response) -> str:
    code, description = _error_body(response)
    return f"{code} {description}".strip()


def _header_float(response: requests.Response, name: str) -> float | None:
    value = response.headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _filename(response: requests.Response, fallback: str) -> str:
    disposition = response.headers.get("Content-Disposition", "")
    if "filename=" in disposition:
        return disposition.split("filename=", 1)[1].strip('"; ')
    return fallback
