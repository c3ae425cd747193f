"""The login throttle, with Flask-Limiter: failed logins slow down the account name they were
tried on and, far more generously, the address they came from.

- Per account name (`PER_NAME`): after 5 failures in a minute, or 20 in an hour, that name
  waits (429, `Retry-After`, a Japanese message) until the oldest failure leaves the window,
  whoever asks and from wherever. Names that match no account are counted alike, so the answer
  does not tell which names exist.
- Per client address (`PER_ADDRESS`): 100 failures in an hour, against one address spraying
  many names. Behind a proxy the address is the real client's only with
  HOTLINE_TRUSTED_PROXIES (werkzeug's ProxyFix, web/app.py).

Only failures count (`deduct_when`: the login answered 401) and nothing is cleared by a
success, so one account's success never clears another's failures, and one person's typos
never lock out the others who share an address (an office, a proxy). A wrong CSRF token (400)
counts for nothing.

The counts are in this process's memory (`memory://`): hotline runs as one waitress process,
so one process sees every login; a restart forgets them. Keys are a hash of the lower-cased
name, so a password typed into the name field is never kept or logged in clear.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded

PER_NAME = "5 per minute;20 per hour"  # failed logins per account name, then it waits
PER_ADDRESS = "100 per hour"  # failed logins per client address (many names from one place)
NAME_FIELD_LIMIT = 100  # the login form's name is cut here before anything else reads it

NAME_WAIT = (
    "ログインの失敗が続いたため、このユーザー名ではしばらくログインできません。"
    "約{minutes}分後に、もう一度お試しください。"
)
ADDRESS_WAIT = (
    "この接続元からのログインの失敗が多すぎるため、しばらくログインできません。"
    "約{minutes}分後に、もう一度お試しください。"
)

View = TypeVar("View", bound=Callable[..., Any])


def _typed_name() -> str:
    """The account name of this login form, as the accounts table compares it (stripped,
    case-insensitive), cut to NAME_FIELD_LIMIT characters."""
    return request.form.get("username", "")[:NAME_FIELD_LIMIT].strip().lower()


def _name_key() -> str:
    return "name:" + hashlib.sha256(_typed_name().encode("utf-8", "replace")).hexdigest()[:32]


def _address_key() -> str:
    return "address:" + (request.remote_addr or "unknown")


def _failed(response: Response) -> bool:
    return response.status_code == 401


def install(app: Flask) -> Limiter:
    """The login limiter of `app` (one per app, counting in this process's memory)."""
    limiter = Limiter(
        _address_key,
        app=app,
        storage_uri="memory://",
        strategy="moving-window",  # a failure counts for exactly one window, never a cliff
        headers_enabled=False,  # the 429 page sets Retry-After itself
    )
    app.register_error_handler(RateLimitExceeded, _too_many)
    return limiter


def limited(limiter: Limiter, login_view: View, refuse: Callable[[str], Response]) -> View:
    """`login_view` behind both limits: checked before it runs (POST only), a failure counted
    after it answered 401. A refused login gets `refuse(message)` with Retry-After added."""

    def breach(message: str) -> Callable[[RequestLimit], Response]:
        def wait_page(limit: RequestLimit) -> Response:
            wait = max(1, math.ceil(limit.window.reset_time - time.time()))
            response = refuse(message.format(minutes=(wait + 59) // 60))
            response.headers["Retry-After"] = str(wait)
            return response

        return wait_page

    by_address = limiter.limit(
        PER_ADDRESS,
        key_func=_address_key,
        methods=["POST"],
        deduct_when=_failed,
        on_breach=breach(ADDRESS_WAIT),
    )
    by_name = limiter.limit(
        PER_NAME, key_func=_name_key, methods=["POST"], deduct_when=_failed, on_breach=breach(NAME_WAIT)
    )
    return cast(View, by_address(by_name(login_view)))


def _too_many(exc: RateLimitExceeded) -> Any:
    """The page `limited`'s `refuse` made (the blueprint's generic error page would drop
    Retry-After)."""
    return exc.get_response()
