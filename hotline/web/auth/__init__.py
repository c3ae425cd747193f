"""Login as a part of its own: the session and the logged-in account (session.py), the guard
that puts page blueprints behind the login, the role and the CSRF check (guard.py), the login
throttle (throttle.py) and the login and logout views (views.py).

Page modules import this package, never one another:

    from hotline.web import auth
    auth.protect(blueprint, "admin")
    auth.current_account(), auth.may("coordinator"), auth.audit_here(...), auth.json_response(...)
"""

from hotline.web.auth.guard import (
    CSRF_MESSAGE,
    FORBIDDEN_MESSAGES,
    error_response,
    json_response,
    login_required,
    open_to_all,
    protect,
    security_headers,
)
from hotline.web.auth.session import (
    SAFE_METHODS,
    audit_here,
    check_csrf,
    csrf_token,
    current_account,
    init_app,
    logged_in,
    may,
    session_allows_api,
)
from hotline.web.auth.views import DISABLED_ERROR, LOGIN_ERROR, add_login_pages

__all__ = [
    "CSRF_MESSAGE",
    "DISABLED_ERROR",
    "FORBIDDEN_MESSAGES",
    "LOGIN_ERROR",
    "SAFE_METHODS",
    "add_login_pages",
    "audit_here",
    "check_csrf",
    "csrf_token",
    "current_account",
    "error_response",
    "init_app",
    "json_response",
    "logged_in",
    "login_required",
    "may",
    "open_to_all",
    "protect",
    "security_headers",
    "session_allows_api",
]
