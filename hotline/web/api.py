"""The read API (`/api/...`: incidents, reports and their acknowledgements, drills, drill
CSVs) and the health check (`/healthz`).

The API answers a bearer token (HOTLINE_API_TOKEN) or a dashboard session of any role (with
the CSRF header for a change); its errors are JSON, like the rest of the app's outside the
pages.
"""

from __future__ import annotations

import hmac
import sqlite3
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from hotline.config.counterparts import linked_municipalities
from hotline.domain import acknowledgements, recipients
from hotline.runtime.service import Hotline
from hotline.web import auth
from hotline.web.callback import door
from hotline.web.context import current_hotline

api = Blueprint("api", __name__, url_prefix="/api")


# Served by the door's blueprint (endpoint door.healthz, as monitoring knows it): like the
# callback it needs no token to say whether hotline is up; what the door and the workers have
# queued, the counters and the configuration's problems are shown only with the API token.
@door.get("/healthz")
def healthz() -> Any:
    """Up (200, {"status": "ok"}) or down (503, without the database); with the bearer token
    also the queues, the counters and whether the configuration files were taken."""
    hotline = current_hotline()
    detailed = _bearer_token_given()
    try:
        inbox = hotline.storage.inbox_counts()
        outbox = hotline.storage.outbox_counts()
    except sqlite3.Error:
        if detailed:
            return jsonify(status="error", detail="database unavailable"), 503
        return jsonify(status="error"), 503
    if not detailed:
        return jsonify(status="ok")
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


def _bearer_token_given() -> bool:
    """Whether the request carries `Authorization: Bearer <HOTLINE_API_TOKEN>` (compared in
    constant time)."""
    expected = current_hotline().settings.api_token
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


@api.before_request
def require_token() -> None:
    if _bearer_token_given():
        return
    if auth.session_allows_api():  # a person logged in to the dashboard (any role)
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
    # the towns the report was relayed to (frozen with it; recipients), not today's
    linked = (
        [town.code for town in recipients.of_report(hotline.storage, config, row).towns]
        if row["kind"] != "attachment"
        else linked_municipalities(config, row["municipality_code"])
    )
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
    hotline = current_hotline()
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
    hotline = current_hotline()
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
    hotline = current_hotline()
    row = hotline.storage.report(report_id)
    if row is None:
        abort(404, f"report {report_id} does not exist")
    return jsonify(_report_json(hotline, row, full=True))


@api.get("/reports/<int:report_id>/acks")
def report_acks(report_id: int) -> Any:
    hotline = current_hotline()
    result = acknowledgements.matrix(hotline.storage, hotline.config(), report_id)
    if result is None:
        abort(404, f"report {report_id} does not exist")
    return jsonify(result)


@api.get("/drills")
def drills() -> Any:
    hotline = current_hotline()
    return jsonify(drills=[hotline.drills.public(d) for d in hotline.storage.drills()])


@api.get("/drills/<int:drill_id>")
def drill(drill_id: int) -> Any:
    hotline = current_hotline()
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
                "recordedBy": a["recorded_by"],  # 代理回答: the coordinator who recorded it
            }
            for a in hotline.storage.answers(run["id"])
        ]
        run["summary"] = hotline.drills.summary(run["id"]) if run["firedAt"] else None
        run["answerCurve"] = hotline.drills.answer_curve(run["id"])
    return jsonify(out)


@api.get("/drill-runs/<int:run_id>.csv")
def drill_csv(run_id: int) -> Any:
    hotline = current_hotline()
    if hotline.storage.run(run_id) is None:
        abort(404, f"drill run {run_id} does not exist")
    return Response(
        hotline.drills.csv(run_id),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=drill-run-{run_id}.csv"},
    )
