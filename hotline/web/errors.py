"""What every URL of the app answers when nothing else does: the Japanese error pages and the
favicon.

The page blueprints put their own errors through hotline/web/auth's guard (`protect`); this
module covers the rest, the app level: an unknown address anywhere (`/`, `/dashboard/nope`), a
wrong method (GET /callback), an error in /api, /healthz or /metrics, and a crash anywhere.
A person's browser gets a Japanese HTML page with a way back to the dashboard; a machine (the
API, the LINE WORKS callback, a script asking for JSON) gets JSON whose `error` is the same
Japanese sentence, and `description` the technical detail for a developer, if any.

/favicon.ico is here too: browsers ask every site for it, and a 404 on every page load hid the
real ones in the access log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response, render_template, request, send_file
from werkzeug.exceptions import HTTPException, InternalServerError

from hotline.web import auth

MESSAGES = {
    400: "リクエストが正しくありません。",
    401: "ログインするか、正しいトークンを付けてください。",
    403: "この操作はできません。",
    404: "ページが見つかりません。アドレスをお確かめください。",
    405: "この方法ではアクセスできません。",
    413: "送られたデータが大きすぎます。",
    429: "しばらく待ってから、もう一度お試しください。",
    500: (
        "サーバーでエラーが起きました。しばらくしてからもう一度お試しください。"
        "続くときは管理者に連絡してください。"
    ),
    503: "ただいま利用できません。しばらくしてからもう一度お試しください。",
}
# Addresses that machines call: they get JSON, whatever they accept.
JSON_PREFIXES = ("/api/", "/callback", "/healthz", "/metrics")
FAVICON = Path(__file__).resolve().parent / "static" / "favicon.svg"


def wants_json() -> bool:
    """JSON for the machines' addresses, the polled `.json` documents, and any client that
    prefers JSON to HTML; an HTML page for a browser."""
    path = request.path
    if path.startswith(JSON_PREFIXES) or path == "/api" or path.endswith(".json"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def message_for(code: int) -> str:
    if code in MESSAGES:
        return MESSAGES[code]
    return MESSAGES[500] if code >= 500 else "リクエストを処理できませんでした。"


def handle(exc: HTTPException) -> Any:
    """An HTTP error at the app level (no blueprint's guard took it), in Japanese."""
    code = exc.code or 500
    message = message_for(code)
    if wants_json():
        body: dict[str, Any] = {"error": message}
        # The technical detail, for a developer; never for a crash (it could tell too much).
        if code < 500 and exc.description and exc.description != type(exc).description:
            body["description"] = exc.description
        response = auth.json_response(body, code)
    else:
        response = Response(render_template("dashboard_error.html", code=code, message=message), status=code)
        auth.security_headers(response)
    # A 405 names the methods that would work, as werkzeug's own answer does.
    response.headers.extend([(k, v) for k, v in exc.get_headers() if k.lower() == "allow"])
    return response


def crashed(exc: InternalServerError) -> Any:
    """An unexpected exception (Flask has logged it with its traceback): the 500 page."""
    return handle(exc)


def favicon() -> Response:
    response = send_file(FAVICON, mimetype="image/svg+xml", max_age=86400)
    return auth.security_headers(response)  # Cache-Control: the app sets no-store on everything


def init_app(app: Flask) -> None:
    """Register the app-level error handlers and /favicon.ico."""
    app.register_error_handler(HTTPException, handle)
    app.register_error_handler(InternalServerError, crashed)
    app.add_url_rule("/favicon.ico", "favicon", favicon)
