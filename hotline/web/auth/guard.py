"""The guard that every page blueprint is put behind (`protect`): the login and the role, the
CSRF check on every change, the security headers, and the Japanese error pages (or JSON, for
the routes that the pages' scripts poll).

A visitor without a login is sent to the login page, which brings them back afterwards; an
account without the role gets a 403 in Japanese; the role check comes before the CSRF check,
so a visitor is never shown a CSRF error instead of the login page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from hotline.web.auth.session import SAFE_METHODS, check_csrf, current_account

FORBIDDEN_MESSAGES = {
    "coordinator": "この操作は訓練担当か管理者のアカウントでしかできません。",
    "admin": "この画面と操作は管理者のアカウントでしかできません。",
}
CSRF_MESSAGE = "フォームの有効期限が切れたか、不正な送信です。ページを開き直して、もう一度お試しください。"
GENERIC_ERRORS = {
    400: "リクエストが正しくありません。",
    401: "ログインしてください。",
    403: "この操作はできません。",
    404: "ページが見つかりません。",
    405: "この方法ではアクセスできません。",
    429: "しばらく待ってから、もう一度お試しください。",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

View = TypeVar("View", bound=Callable[..., Any])
OPEN_TO_ALL = "hotline_open_to_all"  # the mark `open_to_all` leaves (kept by functools.wraps)


def open_to_all(view: View) -> View:
    """Let visitors without a login through `protect`'s guard to this view (the login page,
    which checks the CSRF token itself, after the throttle). A mark on the function, so that a
    wrapper made with functools.wraps (the login throttle's) is open too."""
    setattr(view, OPEN_TO_ALL, True)
    return view


def protect(
    blueprint: Blueprint,
    role: str | None,
    *,
    acting_role: str | None = None,
    acting_endpoints: Collection[str] = (),
    json_endpoints: Collection[str] = (),
) -> None:
    """Put a blueprint of pages behind the login, CSRF on every change, the security headers
    and the Japanese error pages.

    `role`: the least role that may open the pages (None: any logged-in account).
    `acting_role`: the least role for every change (any POST) and for the `acting_endpoints`
    (pages that only lead to a change, such as a creation form).
    `json_endpoints`: the endpoints that answer JSON (polled by scripts): refusals and errors in JSON too.
    The blueprint's static files and the views marked `open_to_all` need no login."""
    static = f"{blueprint.name}.static"

    def needed() -> str | None:
        if acting_role is not None and (
            request.method not in SAFE_METHODS or request.endpoint in acting_endpoints
        ):
            return acting_role
        return role

    def guard() -> Any:
        if request.endpoint == static or getattr(
            current_app.view_functions.get(request.endpoint or ""), OPEN_TO_ALL, False
        ):
            return None
        refused = login_required(as_json=request.endpoint in json_endpoints, role=needed())
        if refused is not None:
            return refused
        if request.method not in SAFE_METHODS:
            check_csrf()
        return None

    def error(exc: HTTPException) -> Any:
        return error_response(exc, as_json=request.endpoint in json_endpoints)

    blueprint.before_request(guard)
    blueprint.after_request(security_headers)
    blueprint.register_error_handler(HTTPException, error)


def login_required(*, as_json: bool, role: str | None = None) -> BaseResponse | None:
    """None when logged in (with `role` or a higher one, when given); else a 401 JSON (for the
    polled routes) or a redirect to the login page that comes back here; or, for an account
    without the role, a 403 with a Japanese message."""
    account = current_account()
    if account is None:
        if as_json:
            return json_response({"error": "ログインしてください。"}, 401)
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    if role is not None and not account.may(role):
        message = FORBIDDEN_MESSAGES.get(role, GENERIC_ERRORS[403])
        if as_json:
            return json_response({"error": message}, 403)
        return Response(render_template("dashboard_error.html", code=403, message=message), status=403)
    return None


def security_headers(response: Response) -> Response:
    """The pages' CSP and friends. `nosniff` and `Cache-Control: no-store` are the app's, on
    every response (web/app.py)."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def error_response(exc: HTTPException, *, as_json: bool) -> Any:
    """A Japanese error page (or JSON for the polled routes) for an HTTP error."""
    code = exc.code or 500
    if isinstance(exc, CSRFError):
        message = CSRF_MESSAGE
    elif _is_japanese(exc.description):
        message = exc.description or ""
    else:
        message = GENERIC_ERRORS.get(code, "エラーです。")
    if as_json:
        return json_response({"error": message}, code)
    return render_template("dashboard_error.html", code=code, message=message), code


def _is_japanese(text: str | None) -> bool:
    return bool(text) and any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text or "")


def json_response(data: Any, status: int = 200) -> Response:
    """JSON with <, > and & escaped, so that no report text reads as markup even if sniffed."""
    body = (
        json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    return Response(body, status=status, mimetype="application/json")
