"""Who is asking: the signed session cookie, the logged-in account and its role, the CSRF
token, and the audit entry for what this request does.

People log in with their own account (hotline/domain/accounts.py: name and scrypt-hashed
password); the signed-cookie session holds the account id, and every request looks the account
up again, so a disabled account or a changed role takes effect at once. CSRF tokens come from
Flask-WTF's `CSRFProtect`; the guards (auth/guard.py) check them after the login check.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect, generate_csrf, validate_csrf
from wtforms.validators import ValidationError

from hotline.domain import accounts, audit
from hotline.web.context import current_hotline

SESSION_ACCOUNT = "account_id"  # the logged-in account's id (the role is looked up every request)
SESSION_ROLE = "role"  # the role at login, for information; the database decides
SESSION_LIFETIME = timedelta(hours=12)  # signed cookies expire
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UNKNOWN_USER = "（登録のないユーザー名）"  # what the audit log says instead of a mistyped name

csrf = CSRFProtect()  # init_app sets it up; the guards call csrf.protect()


class DashboardSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure whenever the request came over HTTPS.

    Behind a TLS-terminating proxy `request.is_secure` is only true when the app trusts the
    proxy's X-Forwarded-Proto (werkzeug's ProxyFix)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_app(app: Flask, secret_key: str) -> None:
    """The session cookie and the CSRF check for `app`."""
    app.secret_key = secret_key  # signs the session cookie
    app.session_interface = DashboardSessionInterface()  # Secure over HTTPS
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
    # Flask-WTF CSRF: checked by the blueprints' guards after the login check (so a visitor
    # without a session is sent to the login page, not shown a CSRF error); valid for the
    # session's life, so a drill page left open for hours can still abort its drill.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    csrf.init_app(app)
    app.context_processor(template_globals)


def current_account() -> accounts.Account | None:
    """The logged-in, still active account of this request (looked up once per request)."""
    if "account" not in g:
        found = None
        account_id = session.get(SESSION_ACCOUNT)
        if isinstance(account_id, int):
            found = accounts.get(current_hotline().storage, account_id)
        g.account = found if found is not None and found.active else None
    account: accounts.Account | None = g.account
    return account


def logged_in() -> bool:
    return current_account() is not None


def may(role: str) -> bool:
    """Whether the logged-in account has `role` or a higher one (for templates and views)."""
    account = current_account()
    return account is not None and account.may(role)


def csrf_token() -> str:
    """This session's CSRF token (Flask-WTF's signed token), created on first use."""
    token: str = generate_csrf()
    return token


def check_csrf() -> None:
    """Abort with 400 (CSRFError, shown as CSRF_MESSAGE) unless the form carries this session's
    CSRF token (or, for scripts, the X-CSRF-Token header)."""
    csrf.protect()


def session_allows_api() -> bool:
    """Whether the dashboard session may use this `/api/` request: logged in, and for a method
    that changes something, the session's CSRF token in the X-CSRF-Token header."""
    if not logged_in():
        return False
    if request.method in SAFE_METHODS:
        return True
    try:
        validate_csrf(request.headers.get(CSRF_HEADER))
    except ValidationError:
        return False
    return True


def audit_here(
    action: str, target: str, before: Any, after: Any, *, who: str | None = None, diff: str | None = None
) -> None:
    """An audit entry for this request: by the logged-in account, from this address, now
    (`diff`: see `audit.record`'s diff_text)."""
    account = current_account()
    hotline = current_hotline()
    audit.record(
        hotline.storage,
        who if who is not None else (account.username if account else UNKNOWN_USER),
        action,
        target,
        before,
        after,
        at=hotline.clock.now(),
        address=request.remote_addr,
        diff_text=diff,
    )


def template_globals() -> dict[str, Any]:
    return {
        "csrf_token": csrf_token,
        "dashboard_logged_in": logged_in,
        "current_account": current_account,
        "may": may,
    }
