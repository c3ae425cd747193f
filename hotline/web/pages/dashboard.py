"""The HQ dashboard (`/dashboard`): incidents, who has acknowledged each report, the
chronology, and the exports (CSV, printable page).

People log in with their own account (hotline/accounts.py: name and scrypt-hashed password);
the signed-cookie session holds the account id, and every request looks the account up again,
so a disabled account or a changed role takes effect at once. `login_required(role=...)` checks
the role (viewer < coordinator < admin). Failed logins are throttled per client address in
memory; logins, failures and logouts go to the audit log. CSRF tokens come from Flask-WTF's
`CSRFProtect`, checked by each blueprint's guard after the login check. Every
page is rendered on the server with Jinja (autoescaped); the incident page then polls
`/dashboard/incidents/<id>.json` and rebuilds its tables from the same view model with
`textContent`, so the markup that JavaScript produces matches what the server produced.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf, validate_csrf
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse
from wtforms.validators import ValidationError

from hotline.clock import iso
from hotline.config import Config
from hotline.domain import accounts, acknowledgements, audit, incidents
from hotline.domain.acknowledgements import RELATION_LABELS
from hotline.domain.incidents import PURPOSE_LABELS, local_time
from hotline.runtime.service import Hotline

SESSION_ACCOUNT = "account_id"  # the logged-in account's id (the role is looked up every request)
SESSION_ROLE = "role"  # the role at login, for information; the database decides
CSRF_HEADER = "X-CSRF-Token"
MAX_FAILURES = 5  # failed logins allowed per address...
FAILURE_WINDOW = 600.0  # ...in this many seconds; then 429 for the rest of the window
MAX_TRACKED_ADDRESSES = 10_000  # bound the throttle's memory under a spray of addresses
POLL_INTERVAL_MS = 2500  # the incident page asks for fresh data this often

STATUS_LABELS = {"open": "対応中", "closed": "終了"}
KIND_LABELS = {
    **PURPOSE_LABELS,  # outbox rows by purpose; but a "report" timeline entry is the report itself
    "report": "報告",
    "delivery": PURPOSE_LABELS["report"],
    "attachment": "添付",
    "ack": "確認",
}
FORBIDDEN_MESSAGES = {
    "coordinator": "この操作は訓練担当か管理者のアカウントでしかできません。",
    "admin": "この画面と操作は管理者のアカウントでしかできません。",
}
LOGIN_ERROR = "ユーザー名またはパスワードが正しくありません。"
DISABLED_ERROR = "このアカウントは無効になっています。管理者に連絡してください。"
UNKNOWN_USER = "（登録のないユーザー名）"  # what the audit log says instead of a mistyped name
CSRF_MESSAGE = "フォームの有効期限が切れたか、不正な送信です。ページを開き直して、もう一度お試しください。"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

csrf = CSRFProtect()  # web.create_app sets it up; the blueprints' guards call csrf.protect()

dashboard = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/dashboard",
    static_folder="../static",  # hotline/web/static; the app itself finds hotline/web/templates
    static_url_path="/static",
)


# -- session, CSRF, throttle -----------------------------------------------------------------


class DashboardSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure whenever the request came over HTTPS.

    Behind a TLS-terminating proxy `request.is_secure` is only true when the app trusts the
    proxy's X-Forwarded-Proto (werkzeug's ProxyFix)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


@dataclass
class LoginThrottle:
    """Failed logins per client address within a sliding window (in memory, per process)."""

    limit: int = MAX_FAILURES
    window: float = FAILURE_WINDOW
    failures: dict[str, deque[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self.failures.get(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, address: str, now: float) -> int:
        """Seconds until this address may try again; 0 when it may try now."""
        with self.lock:
            times = self._recent(address, now)
            if not times:
                self.failures.pop(address, None)
            if len(times) < self.limit:
                return 0
            # Locked until the failure that reached the limit leaves the window.
            return max(1, int(times[-self.limit] + self.window - now + 0.999))

    def fail(self, address: str, now: float) -> None:
        with self.lock:
            if address not in self.failures and len(self.failures) >= MAX_TRACKED_ADDRESSES:
                for key in [k for k in self.failures if not self._recent(k, now)]:
                    del self.failures[key]
                if len(self.failures) >= MAX_TRACKED_ADDRESSES:
                    self.failures.pop(next(iter(self.failures)))
            times = self._recent(address, now)
            times.append(now)
            self.failures[address] = times

    def succeed(self, address: str) -> None:
        with self.lock:
            self.failures.pop(address, None)


@dashboard.record_once
def _setup(state: Any) -> None:
    state.app.extensions["dashboard_throttle"] = LoginThrottle()


def _hotline() -> Hotline:
    hotline: Hotline = current_app.extensions["hotline"]
    return hotline


def _throttle() -> LoginThrottle:
    throttle: LoginThrottle = current_app.extensions["dashboard_throttle"]
    return throttle


def current_account() -> accounts.Account | None:
    """The logged-in, still active account of this request (looked up once per request)."""
    if "account" not in g:
        found = None
        account_id = session.get(SESSION_ACCOUNT)
        if isinstance(account_id, int):
            found = accounts.get(_hotline().storage, account_id)
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


def check_csrf() -> None:
    """Abort with 400 (CSRFError, shown as CSRF_MESSAGE) unless the form carries this session's
    CSRF token (or, for scripts, the X-CSRF-Token header)."""
    csrf.protect()


def audit_here(action: str, target: str, before: Any, after: Any, *, who: str | None = None) -> None:
    """An audit entry for this request: by the logged-in account, from this address, now."""
    account = current_account()
    audit.record(
        _hotline().storage,
        who if who is not None else (account.username if account else UNKNOWN_USER),
        action,
        target,
        before,
        after,
        at=_hotline().clock.now(),
        address=request.remote_addr,
    )


def _safe_next(target: str | None) -> str:
    """Only a path inside the dashboard (never another site) is a place to return to."""
    if target and target.startswith("/dashboard/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.index")


@dashboard.app_context_processor
def _template_globals() -> dict[str, Any]:
    hotline: Hotline | None = current_app.extensions.get("hotline")
    problems = [str(p) for p in hotline.config_problems] if hotline is not None else []
    return {
        "csrf_token": csrf_token,
        "dashboard_logged_in": logged_in,
        "current_account": current_account,
        "may": may,
        "config_problems": problems,
    }


def login_required(*, as_json: bool, role: str | None = None) -> BaseResponse | None:
    """None when logged in (with `role` or a higher one, when given); else a 401 JSON (for the
    polled routes) or a redirect to the login page that comes back here; or, for an account
    without the role, a 403 with a Japanese message. Other blueprints' guards call this too."""
    account = current_account()
    if account is None:
        if as_json:
            return json_response({"error": "ログインしてください。"}, 401)
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    if role is not None and not account.may(role):
        message = FORBIDDEN_MESSAGES.get(role, _GENERIC_ERRORS[403])
        if as_json:
            return json_response({"error": message}, 403)
        return Response(render_template("dashboard_error.html", code=403, message=message), status=403)
    return None


@dashboard.before_request
def _require_login() -> Any:
    if request.endpoint in ("dashboard.login", "dashboard.static"):
        return None
    refused = login_required(as_json=request.endpoint == "dashboard.incident_json")
    if refused is None and request.method not in SAFE_METHODS:
        check_csrf()
    return refused


@dashboard.after_request
def _headers(response: Response) -> Response:
    return security_headers(response, cache=request.endpoint == "dashboard.static")


def security_headers(response: Response, *, cache: bool = False) -> Response:
    """The dashboard's CSP and friends; pages (not static files) are never cached."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if not cache:
        response.headers["Cache-Control"] = "no-store"  # incident records stay off shared caches
    return response


@dashboard.errorhandler(HTTPException)
def _error(exc: HTTPException) -> Any:
    return error_response(exc, as_json=request.endpoint == "dashboard.incident_json")


def error_response(exc: HTTPException, *, as_json: bool) -> Any:
    """A Japanese error page (or JSON for the polled routes) for an HTTP error."""
    code = exc.code or 500
    if isinstance(exc, CSRFError):
        message = CSRF_MESSAGE
    elif _is_japanese(exc.description):
        message = exc.description or ""
    else:
        message = _GENERIC_ERRORS.get(code, "エラーです。")
    if as_json:
        return json_response({"error": message}, code)
    return render_template("dashboard_error.html", code=code, message=message), code


_GENERIC_ERRORS = {
    400: "リクエストが正しくありません。",
    401: "ログインしてください。",
    403: "この操作はできません。",
    404: "ページが見つかりません。",
    405: "この方法ではアクセスできません。",
    429: "しばらく待ってから、もう一度お試しください。",
}


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


# -- login ------------------------------------------------------------------------------------


@dashboard.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if logged_in():
            return redirect(next_url)
        return _login_page(next_url)
    hotline = _hotline()
    address = request.remote_addr or "unknown"
    now = hotline.clock.monotonic()
    wait = _throttle().retry_after(address, now)
    if wait:
        message = (
            "ログインの失敗が続いたため、しばらくログインできません。"
            f"約{(wait + 59) // 60}分後に、もう一度お試しください。"
        )
        response = Response(_login_page(next_url, message), status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    check_csrf()
    username = request.form.get("username", "")[:100]
    try:
        account = accounts.authenticate(hotline.storage, username, request.form.get("password", ""))
    except accounts.LoginFailed as failed:
        _throttle().fail(address, now)
        # A name that matches no account is not written down: it may be a password typed into
        # the wrong field.
        name = failed.account.username if failed.account else UNKNOWN_USER
        audit_here("login_failed", f"account:{name}", None, {"reason": failed.reason}, who=name)
        error = DISABLED_ERROR if failed.reason == "disabled" else LOGIN_ERROR
        return _login_page(next_url, error, username), 401
    _throttle().succeed(address)
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


@dashboard.post("/logout")
def logout() -> Any:
    account = current_account()
    if account is not None:
        audit_here("logout", f"account:{account.username}", None, None)
    session.clear()
    g.account = None
    return redirect(url_for("dashboard.login"))


# -- view models (shared by the pages, the JSON and the print view) ---------------------------


def _short(value: str | None) -> str:
    """'11/21 03:12:05' in JST for table cells."""
    full = local_time(value)
    return full[5:].replace("-", "/", 1) if full else ""


def _minutes(value: float | None) -> str:
    return "" if value is None else f"（{value:g}分）"


def _ack_text(acked_at: str | None, minutes: float | None) -> str:
    return f"✓ {_short(acked_at)}{_minutes(minutes)}" if acked_at else "未確認"


def _member_row(person: dict[str, Any], group: str) -> dict[str, Any]:
    read = person["read"]
    return {
        "type": "member",
        "testid": f"member-{person['key']}",
        "group": group,
        "acknowledged": bool(person["acknowledgedAt"]),
        "classes": ["member"] + ([] if person["acknowledgedAt"] else ["unacked"]),
        "cells": [
            person["name"],
            person["role"],
            f"✓ {_short(person['deliveredAt'])}" if person["delivered"] else "未配信",
            "—" if read is None else ("✓" if read else "未読"),
            _ack_text(person["acknowledgedAt"], person["minutesToAck"]),
        ],
    }


def _count(members: list[dict[str, Any]], key: str) -> str:
    return f"{sum(1 for m in members if m[key])}/{len(members)}名"


def _read_count(members: list[dict[str, Any]]) -> str:
    if all(m["read"] is None for m in members):
        return "—"
    return _count(members, "read")


def _matrix_view(result: dict[str, Any], config: Config) -> dict[str, Any]:
    """Flat table rows for one report's acknowledgement matrix: each linked municipality,
    then its members; then HQ and its members. Cell texts are final (JST, Japanese)."""
    rows: list[dict[str, Any]] = []
    for town in result["municipalities"]:
        source = town["relation"] == "stricken"
        silent = not town["acknowledged"] and not source
        if town["acknowledged"]:
            ack = f"✓ {_short(town['firstAckAt'])}{_minutes(town['minutesToAck'])}"
        else:
            ack = "未確認（報告元）" if source else "未確認"
        rows.append(
            {
                "type": "municipality",
                "testid": f"muni-{town['code']}",
                "group": town["code"],
                "acknowledged": town["acknowledged"],
                "classes": ["municipality"]
                + (["silent"] if silent else [])
                + (["source"] if source else [])
                + (["acknowledged"] if town["acknowledged"] else []),
                "cells": [
                    town["name"],
                    RELATION_LABELS.get(town["relation"], town["relation"]),
                    _count(town["members"], "delivered"),
                    _read_count(town["members"]),
                    ack,
                ],
            }
        )
        rows.extend(_member_row(person, town["code"]) for person in town["members"])
    hq = result["hq"]
    hq_times = sorted(m["acknowledgedAt"] for m in hq["members"] if m["acknowledgedAt"])
    rows.append(
        {
            "type": "hq",
            "testid": "hq",
            "group": "hq",
            "acknowledged": hq["acknowledged"],
            "classes": ["municipality", "hq"] + (["acknowledged"] if hq["acknowledged"] else []),
            "cells": [
                config.hq_name,
                "県災害対策本部",
                _count(hq["members"], "delivered"),
                _read_count(hq["members"]),
                f"✓ {_short(hq_times[0])}" if hq_times else "未確認",
            ],
        }
    )
    rows.extend(_member_row(person, "hq") for person in hq["members"])
    summary = result["summary"]
    return {
        "rows": rows,
        "summary": {
            "municipalities": f"{summary['municipalitiesAcknowledged']}/{summary['municipalitiesLinked']}",
            "text": (
                f"確認済みの市町 {summary['municipalitiesAcknowledged']}/{summary['municipalitiesLinked']}"
                f"　配信 {summary['membersDelivered']}/{summary['membersLinked']}名"
                f"　確認 {summary['membersAcknowledged']}名"
            ),
            "silent": [
                r["cells"][0] for r in rows if r["type"] == "municipality" and "silent" in r["classes"]
            ],
        },
    }


def _town_name(config: Config, code: str) -> str:
    muni = config.municipalities.get(code)
    return muni.name if muni else code


def _report_view(hotline: Hotline, config: Config, report: sqlite3.Row) -> dict[str, Any]:
    town = _town_name(config, report["municipality_code"])
    view: dict[str, Any] = {
        "id": report["id"],
        "kind": report["kind"],
        "label": report["label"],
        "poster": f"{town} {report['poster_role']} {report['poster_name']}",
        "createdAt": local_time(report["created_at"]),
        "text": report["text"],
        "matrix": None,
    }
    if report["kind"] != "attachment":
        result = acknowledgements.matrix(hotline.storage, config, report["id"])
        if result is not None:
            view["matrix"] = _matrix_view(result, config)
    return view


def _incident_head(config: Config, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "municipality": _town_name(config, row["municipality_code"]),
        "municipalityCode": row["municipality_code"],
        "openedAt": local_time(row["opened_at"]),
        "status": row["status"],
        "statusLabel": STATUS_LABELS.get(row["status"], row["status"]),
    }


def _timeline_view(hotline: Hotline, config: Config, incident_id: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in incidents.timeline(hotline.storage, config, incident_id):
        kind = str(e["kind"])
        out.append(
            {
                "at": local_time(e["at"]),
                "kind": kind,
                "kindLabel": KIND_LABELS.get(kind, kind),
                "reportId": e["reportId"],
                "title": e["title"],
                "detail": e["detail"],
            }
        )
    return out


def incident_view(hotline: Hotline, incident_id: int) -> dict[str, Any] | None:
    """Everything the incident page shows; None for an unknown incident."""
    config = hotline.config()
    row = hotline.storage.incident(incident_id)
    if row is None:
        return None
    reports = [_report_view(hotline, config, r) for r in hotline.storage.reports_of_incident(incident_id)]
    return {
        "incident": _incident_head(config, row),
        "reports": reports,
        "timeline": _timeline_view(hotline, config, incident_id),
        "updatedAt": local_time(iso(hotline.clock.now())),
    }


def _incident_or_404(incident_id: int) -> dict[str, Any]:
    view = incident_view(_hotline(), incident_id)
    if view is None:
        abort(404, f"災害（ID {incident_id}）は見つかりません。")
    return view


# -- pages ------------------------------------------------------------------------------------


@dashboard.get("/")
def index() -> Any:
    hotline = _hotline()
    config = hotline.config()
    items: list[dict[str, Any]] = []
    for row in hotline.storage.incidents():
        texts = [r for r in hotline.storage.reports_of_incident(row["id"]) if r["kind"] != "attachment"]
        latest = texts[-1] if texts else None
        result = acknowledgements.matrix(hotline.storage, config, latest["id"]) if latest else None
        items.append(
            {
                **_incident_head(config, row),
                "reportCount": row["report_count"],
                "lastReportAt": local_time(row["last_report_at"]),
                "latest": {
                    "label": latest["label"],
                    "acknowledged": result["summary"]["municipalitiesAcknowledged"],
                    "linked": result["summary"]["municipalitiesLinked"],
                    "silent": sum(
                        1
                        for town in result["municipalities"]
                        if not town["acknowledged"] and town["relation"] != "stricken"
                    ),
                }
                if latest is not None and result is not None
                else None,
            }
        )
    return render_template("dashboard_incidents.html", incidents=items)


@dashboard.get("/incidents/<int:incident_id>")
def incident_page(incident_id: int) -> Any:
    view = _incident_or_404(incident_id)
    return render_template("dashboard_incident.html", view=view, poll_ms=POLL_INTERVAL_MS)


@dashboard.get("/incidents/<int:incident_id>.json")
def incident_json(incident_id: int) -> Response:
    return json_response(_incident_or_404(incident_id))


@dashboard.get("/incidents/<int:incident_id>.csv")
def incident_csv(incident_id: int) -> Response:
    hotline = _hotline()
    if hotline.storage.incident(incident_id) is None:
        abort(404, f"災害（ID {incident_id}）は見つかりません。")
    body = incidents.timeline_csv(incidents.timeline(hotline.storage, hotline.config(), incident_id))
    response = Response(body, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f"attachment; filename=incident-{incident_id}.csv"
    return response


@dashboard.get("/incidents/<int:incident_id>/print")
def incident_print(incident_id: int) -> Any:
    view = _incident_or_404(incident_id)
    return render_template("dashboard_print.html", view=view)


def protect(blueprint: Blueprint, role: str) -> None:
    """Put a blueprint of pages behind the login with `role`, CSRF on every change, the
    security headers and the Japanese error pages (the admin and configuration pages)."""

    def guard() -> Any:
        refused = login_required(as_json=False, role=role)
        if refused is not None:
            return refused
        if request.method not in SAFE_METHODS:
            check_csrf()
        return None

    def headers(response: Response) -> Response:
        return security_headers(response)

    def error(exc: HTTPException) -> Any:
        return error_response(exc, as_json=False)

    blueprint.before_request(guard)
    blueprint.after_request(headers)
    blueprint.register_error_handler(HTTPException, error)
