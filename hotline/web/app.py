"""The web layer: the callback door, the read API and the health check.

The callback view is deliberately thin: check the size, verify the signature over the raw
bytes, store the body as an inbox row, answer 200. Parsing and everything slow happen in the
inbox worker, because LINE WORKS never re-sends a callback that failed or timed out.
"""

from __future__ import annotations

import hmac
import json
import logging
import sqlite3
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from hotline.clock import iso
from hotline.config.counterparts import linked_municipalities
from hotline.domain import acknowledgements
from hotline.inbound.signature import signature_valid
from hotline.runtime.service import Hotline
from hotline.web.pages import admin as admin_pages
from hotline.web.pages import config as config_pages
from hotline.web.pages import dashboard as dashboard_module
from hotline.web.pages import drills as drill_pages

log = logging.getLogger(__name__)

STORE_ATTEMPTS = 3  # the database may be briefly locked by another process

door = Blueprint("door", __name__)
api = Blueprint("api", __name__, url_prefix="/api")


def _hotline() -> Hotline:
    hotline: Hotline = current_app.extensions["hotline"]
    return hotline


@door.post("/callback")
def callback() -> tuple[str, int]:
    hotline = _hotline()
    credentials = hotline.settings.credentials
    body = request.get_data(cache=False)  # raw bytes: the signature covers exactly these
    bot_id = request.headers.get("X-WORKS-BotId", "")
    signature = request.headers.get("X-WORKS-Signature")
    if not signature_valid(credentials.bot_secret, body, signature) or not hmac.compare_digest(
        bot_id.encode(), credentials.bot_id.encode()
    ):
        hotline.counters["rejected_signature"] += 1
        return "invalid signature", 401
    text = body.decode("utf-8", "replace")
    # Classify only; the worker does the real parsing. A signed body that is not JSON is kept
    # as 'rejected' and answered 200: LINE WORKS would not re-send it anyway, and a 4xx to a
    # signed delivery would only fill its error log. The row is the evidence for an operator.
    try:
        json.loads(text)
        status, reason = "new", None
    except (ValueError, RecursionError):
        status, reason = "rejected", "not JSON"
    now = iso(hotline.clock.now())
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            hotline.storage.store_event(text, now, status=status, reason=reason)
            break
        except sqlite3.OperationalError as exc:
            log.warning("storing callback failed (attempt %d): %s", attempt, exc)
            if attempt == STORE_ATTEMPTS:
                # Not stored: say so with a 503 so the failure is visible in LINE WORKS' log,
                # never a silent 200.
                hotline.counters["store_failed"] += 1
                return "storage unavailable", 503
    if status == "new":
        hotline.wake_inbox()
    else:
        hotline.counters["rejected_body"] += 1
    return "", 200


@door.get("/healthz")
def healthz() -> Any:
    hotline = _hotline()
    try:
        inbox = hotline.storage.inbox_counts()
        outbox = hotline.storage.outbox_counts()
    except sqlite3.Error:
        return jsonify(status="error", detail="database unavailable"), 503
    return jsonify(
        status="ok",
        inbox=inbox,
        outbox=outbox,
        counters=dict(hotline.counters),
        # A refused hand edit: the last good configuration is running.
        config={
            "status": "refused_edit" if hotline.config_problems else "ok",
            "problems": [str(p) for p in hotline.config_problems],
        },
    )


@api.before_request
def require_token() -> None:
    expected = _hotline().settings.api_token
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if given and hmac.compare_digest(given.encode(), expected.encode()):
        return
    if dashboard_module.session_allows_api():  # a person logged in to the dashboard (any role)
        return
    abort(401, "a valid bearer token or a dashboard login is required")


def _delivery_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "room": row["room_key"],
        "channelId": row["channel_id"],
        "status": row["status"],
        "attempts": row["attempts"],
        "sentAt": row["sent_at"] if row["status"] == "sent" else None,
        "error": row["error"],
    }


def _report_json(hotline: Hotline, row: sqlite3.Row, *, full: bool) -> dict[str, Any]:
    config = hotline.config()
    muni = config.municipalities.get(row["municipality_code"])
    out: dict[str, Any] = {
        "id": row["id"],
        "incidentId": row["incident_id"],
        "kind": row["kind"],
        "label": row["label"],
        "municipality": {"code": row["municipality_code"], "name": muni.name if muni else None},
        "poster": {
            "name": row["poster_name"],
            "role": row["poster_role"],
            "userId": row["poster_user_id"],
        },
        "text": row["text"],
        "createdAt": row["created_at"],
    }
    deliveries = hotline.storage.deliveries(row["id"])
    out["deliverySummary"] = {
        status: sum(1 for d in deliveries if d["status"] == status)
        for status in ("sent", "pending", "sending", "failed")
    }
    acks = [dict(a) for a in hotline.storage.acks(row["id"])]
    linked = linked_municipalities(config, row["municipality_code"])
    acked = hotline.storage.acked_municipalities(row["id"])
    out["acknowledgements"] = {
        "municipalitiesAcknowledged": sum(1 for code in linked if code in acked),
        "municipalitiesLinked": len(linked),
        "people": len(acks),
    }
    if full:
        out["deliveries"] = [_delivery_json(d) for d in deliveries]
        out["acknowledgedBy"] = [
            {
                "userId": a["user_id"],
                "municipality": a["municipality_code"],
                "via": a["via"],
                "at": a["acked_at"],
                "channelId": a["channel_id"],
            }
            for a in acks
        ]
    return out


@api.get("/incidents")
def incidents() -> Any:
    hotline = _hotline()
    config = hotline.config()
    rows = hotline.storage.incidents()
    return jsonify(
        incidents=[
            {
                "id": r["id"],
                "municipality": {
                    "code": r["municipality_code"],
                    "name": m.name if (m := config.municipalities.get(r["municipality_code"])) else None,
                },
                "openedAt": r["opened_at"],
                "status": r["status"],
                "reportCount": r["report_count"],
                "lastReportAt": r["last_report_at"],
            }
            for r in rows
        ]
    )


@api.get("/incidents/<int:incident_id>")
def incident(incident_id: int) -> Any:
    hotline = _hotline()
    row = hotline.storage.incident(incident_id)
    if row is None:
        abort(404, f"incident {incident_id} does not exist")
    reports = [_report_json(hotline, r, full=False) for r in hotline.storage.reports_of_incident(incident_id)]
    return jsonify(
        id=row["id"],
        municipality=row["municipality_code"],
        openedAt=row["opened_at"],
        status=row["status"],
        reports=reports,
    )


@api.get("/reports/<int:report_id>")
def report(report_id: int) -> Any:
    hotline = _hotline()
    row = hotline.storage.report(report_id)
    if row is None:
        abort(404, f"report {report_id} does not exist")
    return jsonify(_report_json(hotline, row, full=True))


@api.get("/reports/<int:report_id>/acks")
def report_acks(report_id: int) -> Any:
    hotline = _hotline()
    result = acknowledgements.matrix(hotline.storage, hotline.config(), report_id)
    if result is None:
        abort(404, f"report {report_id} does not exist")
    return jsonify(result)


@api.get("/drills")
def drills() -> Any:
    hotline = _hotline()
    return jsonify(drills=[hotline.drills.public(d) for d in hotline.storage.drills()])


@api.get("/drills/<int:drill_id>")
def drill(drill_id: int) -> Any:
    hotline = _hotline()
    row = hotline.storage.drill(drill_id)
    if row is None:
        abort(404, f"drill {drill_id} does not exist")
    out = hotline.drills.public(row)
    for run in out["runs"]:
        run["targets"] = [
            {"member": t["member_key"], "name": t["name"], "municipality": t["municipality_code"]}
            for t in hotline.storage.targets(run["id"])
        ]
        run["answers"] = [
            {
                "member": a["member_key"],
                "question": a["question"],
                "answer": a["answer"],
                "at": a["answered_at"],
                "late": bool(a["late"]),
            }
            for a in hotline.storage.answers(run["id"])
        ]
        run["summary"] = hotline.drills.summary(run["id"]) if run["firedAt"] else None
        run["answerCurve"] = hotline.drills.answer_curve(run["id"])
    return jsonify(out)


@api.get("/drill-runs/<int:run_id>.csv")
def drill_csv(run_id: int) -> Any:
    hotline = _hotline()
    if hotline.storage.run(run_id) is None:
        abort(404, f"drill run {run_id} does not exist")
    return Response(
        hotline.drills.csv(run_id),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=drill-run-{run_id}.csv"},
    )


def _json_error(exc: HTTPException) -> Any:
    response = jsonify(error=exc.name, description=exc.description)
    response.status_code = exc.code or 500
    return response


def create_app(hotline: Hotline) -> Flask:
    """The Flask app for one running hotline."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = hotline.settings.max_body_bytes  # larger bodies: 413
    app.extensions["hotline"] = hotline
    app.secret_key = hotline.settings.secret_key  # signs the dashboard's session cookie
    app.session_interface = dashboard_module.DashboardSessionInterface()  # Secure over HTTPS
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=12)  # signed cookies expire
    # Flask-WTF CSRF: checked by the dashboard blueprints' guards after the login check (so a
    # visitor without a session is sent to the login page, not shown a CSRF error); valid for
    # the session's life, so a drill page left open for hours can still abort its drill.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    dashboard_module.csrf.init_app(app)
    app.register_blueprint(door)
    app.register_blueprint(api)
    app.register_blueprint(dashboard_module.dashboard)
    app.register_blueprint(drill_pages.drills)
    app.register_blueprint(admin_pages.admin)
    app.register_blueprint(config_pages.config_pages)
    app.register_error_handler(HTTPException, _json_error)
    return app
