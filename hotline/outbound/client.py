"""The LINE WORKS API 2.0 client: the one seam every outbound call passes through.

`LineWorksClient._call` sets the timeout, paces each API operation by its own budget,
attaches the service-account token (renewed before expiry and once on a 401), reads the
rate-limit headers and turns error bodies into `LineWorksError`, which says whether a retry
can help. Nothing else in hotline talks to LINE WORKS.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any
from urllib.parse import quote

import jwt
import requests
import requests.adapters

from hotline.config.settings import Credentials, load_private_key
from hotline.metrics import Metrics
from hotline.outbound.ratelimit import RateLimiter, default_limits
from hotline.outbound.transport import DeliveryError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
JWT_LIFETIME = 3600  # LINE WORKS caps the assertion at 60 minutes (UNCONFIRMED wording; safe)
RENEW_MARGIN = 300  # renew the access token this many seconds before it expires
MAX_PAGES = 1000  # a list API that keeps answering a nextCursor is not followed for ever

# The scopes each call accepts (any one is enough), as the API reference pages list them.
BOT_SCOPES = frozenset({"bot", "bot.message"})
BOT_READ_SCOPES = frozenset({"bot", "bot.message", "bot.read"})
USER_SCOPES = frozenset({"user", "user.read", "directory", "directory.read"})
BOARD_WRITE_SCOPES = frozenset({"board"})
BOARD_READ_SCOPES = frozenset({"board", "board.read"})

# Why LINE WORKS refused a call with 403 (LineWorksError.reason).
MISSING_SCOPE = "missing_scope"  # the access token lacks the scope the API needs
NOT_IN_ROOM = "not_in_room"  # a room the bot is no longer in (removed, or the room is gone)


class LineWorksError(DeliveryError):
    """A failed LINE WORKS call. `retryable` says whether trying again later can help; `reason`
    is MISSING_SCOPE, NOT_IN_ROOM or "" (see _forbidden_reason)."""


@dataclass(frozen=True)
class Download:
    """A received attachment's bytes with what its HTTP answer said about them."""

    data: bytes
    filename: str | None  # from Content-Disposition, None when the answer names no file
    content_type: str  # the media type without parameters ("" when none was sent)


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
        # What the token endpoint said it granted (its `scope` field); until it says, what we
        # asked for (LW_API_SCOPE). Used to tell a missing scope from other 403s.
        self.granted_scopes = _scopes(credentials.scope)
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
        if isinstance(body.get("scope"), str) and body["scope"].strip():
            self.granted_scopes = _scopes(body["scope"])
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
        scopes: frozenset[str] = frozenset(),
        room: str | None = None,
    ) -> requests.Response:
        """One call. `scopes`: those the API accepts (any one is enough); `room`: the channelId
        the call is about. Both only explain a 403 (see `_forbidden_reason`)."""
        if paced:
            # A due token renewal first: the budget is counted from `acquire`, so the call must
            # leave right after it, not one token round trip later (ratelimit.py).
            self.token()
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
        reason = ""
        if response.status_code == 403:
            reason = self._forbidden_reason(op, description, scopes, room)
        raise LineWorksError(
            f"{op}: {response.status_code} {code} {description}".strip(),
            status=response.status_code,
            code=code,
            retryable=retryable,
            reason=reason,
        )

    def _forbidden_reason(self, op: str, description: str, scopes: frozenset[str], room: str | None) -> str:
        """Why a 403: a missing scope, or a room the bot is not in; logged so an operator knows
        which one to fix. LINE WORKS answers `FORBIDDEN` for both (lineworks-api.md §8) and its
        descriptions are not documented, so the scopes we were granted decide first; the word
        "scope" in the description also counts."""
        granted = " ".join(sorted(self.granted_scopes)) or "(none)"
        if (scopes and not scopes & self.granted_scopes) or "scope" in description.lower():
            log.error(
                "%s refused (403): the access token lacks the scope this API needs (one of %s; "
                "granted: %s). Add it to LW_API_SCOPE and to the app in the Developer Console.",
                op,
                " ".join(sorted(scopes)) or "?",
                granted,
            )
            return MISSING_SCOPE
        if room is not None:
            log.warning("%s refused (403): the bot is not in room %s (removed from it?)", op, room)
            return NOT_IN_ROOM
        log.warning("%s refused (403) with the scopes %s granted", op, granted)
        return ""

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
            scopes=BOT_SCOPES,
            room=channel_id,
        )

    def send_to_user(self, user_id: str, content: dict[str, Any]) -> None:
        self._call(
            "send_user",
            "POST",
            self._url(f"{self._bot}/users/{quote(user_id, safe='')}/messages"),
            json={"content": content},
            scopes=BOT_SCOPES,
        )

    def get_user(self, user_id_or_email: str) -> dict[str, Any]:
        response = self._call(
            "users", "GET", self._url(f"/users/{quote(user_id_or_email, safe='')}"), scopes=USER_SCOPES
        )
        result: dict[str, Any] = response.json()
        return result

    def create_channel(self, members: list[str], title: str) -> str:
        response = self._call(
            "create_channel",
            "POST",
            self._url(f"{self._bot}/channels"),
            json={"members": members, "title": title},
            scopes=BOT_SCOPES,
        )
        return str(response.json()["channelId"])

    def channel_members(self, channel_id: str) -> list[str]:
        members: list[str] = []
        cursor: str | None = None
        while True:
            url = self._url(f"{self._bot}/channels/{quote(channel_id, safe='')}/members?count=100")
            if cursor:
                url += f"&cursor={quote(cursor, safe='')}"
            body = self._call("channel_members", "GET", url, scopes=BOT_READ_SCOPES, room=channel_id).json()
            members.extend(body.get("members", []))
            cursor = (body.get("responseMetaData") or {}).get("nextCursor")
            if not cursor:
                return members

    def download(self, file_id: str) -> Download:
        """Fetch a received attachment: 302 to the real URL, which we GET with the token again
        (whether the download host needs it is UNCONFIRMED; sending it is harmless)."""
        first = self._call(
            "attachments",
            "GET",
            self._url(f"{self._bot}/attachments/{quote(file_id, safe='')}"),
            allow_redirects=False,
            scopes=BOT_SCOPES,
        )
        location = first.headers.get("Location")
        if first.status_code not in (301, 302, 303, 307, 308) or not location:
            return _download(first)
        return _download(self._call("download", "GET", location, paced=False, scopes=BOT_SCOPES))

    def upload(self, file_name: str, data: bytes) -> str:
        """Upload bytes for sending by fileId; returns the fileId."""
        init = self._call(
            "attachments",
            "POST",
            self._url(f"{self._bot}/attachments"),
            json={"fileName": file_name},
            scopes=BOT_SCOPES,
        ).json()
        self._call(
            "upload",
            "POST",
            str(init["uploadUrl"]),
            files={"Filedata": (file_name, data)},
            data={"resourceName": file_name},
            paced=False,
            scopes=BOT_SCOPES,
        )
        return str(init["fileId"])

    def create_board_post(self, board_id: str, title: str, body_html: str, must_read_until: str) -> str:
        """Post to a board as a must-read post; returns the postId.

        `must_read_until` is a date, YYYY-MM-DD, at most 30 days ahead (board-post-create:
        `mustReadEndDate`, format date). The answer is 201 with `postId` as an int64."""
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
            scopes=BOARD_WRITE_SCOPES,
        )
        return str(response.json()["postId"])

    def board_readers(self, board_id: str, post_id: str) -> list[tuple[str, bool]]:
        """(userId, isRead) for every member the post is for; deleted accounts are skipped.

        board-post-reader-list documents no query parameter (up to 5000 readers an answer):
        the first page is asked for bare, the next ones with `cursor` set to the answer's
        `responseMetaData.nextCursor`, until an answer has none."""
        readers: list[tuple[str, bool]] = []
        base = self._url(f"/boards/{quote(board_id, safe='')}/posts/{quote(post_id, safe='')}/readers")
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            url = f"{base}?cursor={quote(cursor, safe='')}" if cursor else base
            body = self._call("boards", "GET", url, scopes=BOARD_READ_SCOPES).json()
            for reader in body.get("readers") or []:
                if isinstance(reader, dict) and reader.get("userId"):  # null for deleted accounts
                    readers.append((str(reader["userId"]), bool(reader.get("isRead"))))
            following = (body.get("responseMetaData") or {}).get("nextCursor")
            if not following or following == cursor:
                return readers
            cursor = str(following)
        log.warning("readers of post %s: stopped after %d pages", post_id, MAX_PAGES)
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


def _scopes(text: str) -> frozenset[str]:
    """Scopes as the token endpoint and LW_API_SCOPE write them (space- or comma-separated)."""
    return frozenset(part for part in text.replace(",", " ").split() if part)


def _download(response: requests.Response) -> Download:
    media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return Download(
        response.content,
        content_disposition_filename(response.headers.get("Content-Disposition")),
        media_type,
    )


def content_disposition_filename(header: str | None) -> str | None:
    """The file name a Content-Disposition header gives, safe to reuse as a name, or None.

    Parsed by the standard library's `email.message.Message` (RFC 2231 parameters, which
    RFC 5987/6266 adopt for HTTP: `filename*=UTF-8''%E5%86%99%E7%9C%9F.jpg`, quoting,
    backslash escapes, `;` inside quotes). werkzeug's parse_options_header would do too, but the
    core must not import the web framework. `filename*` wins over `filename` when both are
    present (RFC 6266 §4.3); a plain `filename` sent as raw UTF-8 (which HTTP clients decode as
    Latin-1) is read back as UTF-8. Only the last path segment is kept and control characters
    are dropped, so a name can never climb out of a folder or break a line."""
    if not header:
        return None
    message = Message()
    try:
        message["Content-Disposition"] = header
        params = message.get_params(header="content-disposition", failobj=[]) or []
    except (ValueError, LookupError):
        return None
    plain: str | None = None
    extended: str | None = None
    for key, value in params[1:]:  # the first is the disposition type itself
        if key.lower() != "filename":
            continue
        if isinstance(value, tuple):  # filename*=charset'lang'percent-encoded
            try:
                extended = collapse_rfc2231_value(value, errors="replace")
            except LookupError:  # an unknown charset
                continue
        else:
            plain = _latin1_as_utf8(collapse_rfc2231_value(value))
    return safe_filename(extended if extended else plain)


def _latin1_as_utf8(text: str) -> str:
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def safe_filename(name: str | None) -> str | None:
    """`name` without folders or control characters, at most 200 characters; None when empty."""
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    if len(name) > 200:  # keep the extension
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name or None


def extension_for(content_type: str) -> str:
    """ ".jpg" for image/jpeg, and so on; "" when the type says nothing we know."""
    if not content_type or content_type == "application/octet-stream":
        return ""
    return mimetypes.guess_extension(content_type, strict=False) or ""
