"""Logging in and out: `/dashboard/login` (GET shows the form, POST checks the password) and
`/dashboard/logout` (POST).

Failed logins slow down the account name they were tried on and, generously, the client
address (auth/throttle.py, Flask-Limiter); logins, failures and logouts go to the audit log.
Every login starts a fresh session (and CSRF token).

The two views are served by the dashboard's blueprint (`add_login_pages`), so their endpoint
names stay `dashboard.login` and `dashboard.logout`, as the templates and bookmarks know them;
that blueprint's guard (`protect`) lets everyone reach the login page and asks for a login and
the CSRF token to log out.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, g, redirect, render_template, request, session, url_for
from flask.blueprints import BlueprintSetupState

from hotline.domain import accounts
from hotline.web.auth import throttle
from hotline.web.auth.guard import open_to_all
from hotline.web.auth.session import (
    SESSION_ACCOUNT,
    SESSION_ROLE,
    UNKNOWN_USER,
    audit_here,
    check_csrf,
    current_account,
    logged_in,
)
from hotline.web.context import current_hotline

LOGIN_ERROR = "ユーザー名またはパスワードが正しくありません。"
DISABLED_ERROR = "このアカウントは無効になっています。管理者に連絡してください。"


def add_login_pages(blueprint: Blueprint) -> None:
    """Serve the login and logout views at `<blueprint's prefix>/login` and `/logout`; the
    login view behind a login throttle of its own for each app the blueprint is registered on."""
    blueprint.add_url_rule("/logout", view_func=logout, methods=["POST"])

    @blueprint.record_once
    def _login_per_app(state: BlueprintSetupState) -> None:
        assert isinstance(state.app, Flask)
        limiter = throttle.install(state.app)
        view = throttle.limited(limiter, login, _wait_page)
        state.add_url_rule("/login", view_func=view, methods=["GET", "POST"])


def _safe_next(target: str | None) -> str:
    """Only a path inside the dashboard (never another site) is a place to return to."""
    if target and target.startswith("/dashboard/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.index")


@open_to_all
def login() -> Any:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if logged_in():
            return redirect(next_url)
        return _login_page(next_url)
    hotline = current_hotline()
    check_csrf()
    username = request.form.get("username", "")[: throttle.NAME_FIELD_LIMIT]
    try:
        account = accounts.authenticate(hotline.storage, username, request.form.get("password", ""))
    except accounts.LoginFailed as failed:  # the 401 counts against the name and the address
        # A name that matches no account is not written down: it may be a password typed into
        # the wrong field.
        name = failed.account.username if failed.account else UNKNOWN_USER
        audit_here("login_failed", f"account:{name}", None, {"reason": failed.reason}, who=name)
        error = DISABLED_ERROR if failed.reason == "disabled" else LOGIN_ERROR
        return _login_page(next_url, error, username), 401
    accounts.mark_login(hotline.storage, account, hotline.clock.now())
    session.clear()  # a fresh session (and CSRF token) on every login
    g.pop("csrf_token", None)
    g.account = account
    session[SESSION_ACCOUNT] = account.id
    session[SESSION_ROLE] = account.role
    audit_here("login", f"account:{account.username}", None, {"role": account.role})
    return redirect(next_url)


def _login_page(next_url: str, error: str | None = None, username: str = "") -> str:
    return render_template("dashboard_login.html", next_url=next_url, error=error, username=username)


def _wait_page(message: str) -> Response:
    """A throttled login: the form again, saying how long to wait (the throttle adds
    Retry-After)."""
    return Response(_login_page(_safe_next(request.values.get("next")), message), status=429)


def logout() -> Any:
    account = current_account()
    if account is not None:
        audit_here("logout", f"account:{account.username}", None, None)
    session.clear()
    g.account = None
    return redirect(url_for("dashboard.login"))
