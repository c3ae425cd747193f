"""The HQ dashboard (`/dashboard`): incidents, who has acknowledged each report, the
chronology, and the exports (CSV, printable page).

Every account may look (the guard is hotline/web/auth's `protect`). Every page is rendered on
the server with Jinja (autoescaped); the incident page then polls
`/dashboard/incidents/<id>.json` and rebuilds its tables from the same view model with
`textContent`, so the markup that JavaScript produces matches what the server produced.

The blueprint also serves the static files every page uses (`dashboard.static`) and, from
hotline/web/auth, the login and logout pages (`dashboard.login`, `dashboard.logout`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, render_template

from hotline.clock import jst_text
from hotline.config import Config
from hotline.domain import acknowledgements, incidents
from hotline.domain.acknowledgements import RELATION_LABELS
from hotline.domain.incidents import PURPOSE_LABELS
from hotline.runtime.service import Hotline
from hotline.web import auth
from hotline.web.context import POLL_INTERVAL_MS, current_hotline

STATUS_LABELS = {"open": "対応中", "closed": "終了"}
KIND_LABELS = {
    **PURPOSE_LABELS,  # outbox rows by purpose; but a "report" timeline entry is the report itself
    "report": "報告",
    "delivery": PURPOSE_LABELS["report"],
    "attachment": "添付",
    "ack": "確認",
}
JSON_ENDPOINTS = frozenset({"dashboard.incident_json"})
STATIC_FOLDER = Path(__file__).resolve().parent.parent / "static"  # the app finds ../templates itself

dashboard = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/dashboard",
    static_folder=STATIC_FOLDER,
    static_url_path="/static",
)
auth.add_login_pages(dashboard)
auth.protect(dashboard, None, json_endpoints=JSON_ENDPOINTS)  # None: any logged-in account


# -- view models (shared by the pages, the JSON and the print view) ---------------------------


def _short(value: str | None) -> str:
    """'11/21 03:12:05' in JST for table cells."""
    return jst_text(value, "%m/%d %H:%M:%S")


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
        "createdAt": jst_text(report["created_at"]),
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
        "openedAt": jst_text(row["opened_at"]),
        "status": row["status"],
        "statusLabel": STATUS_LABELS.get(row["status"], row["status"]),
    }


def _timeline_view(hotline: Hotline, config: Config, incident_id: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in incidents.timeline(hotline.storage, config, incident_id):
        kind = str(e["kind"])
        out.append(
            {
                "at": jst_text(e["at"]),
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
        "updatedAt": jst_text(hotline.clock.now()),
    }


def _incident_or_404(incident_id: int) -> dict[str, Any]:
    view = incident_view(current_hotline(), incident_id)
    if view is None:
        abort(404, f"災害（ID {incident_id}）は見つかりません。")
    return view


# -- pages ------------------------------------------------------------------------------------


@dashboard.get("/")
def index() -> Any:
    hotline = current_hotline()
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
                "lastReportAt": jst_text(row["last_report_at"]),
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
    return auth.json_response(_incident_or_404(incident_id))


@dashboard.get("/incidents/<int:incident_id>.csv")
def incident_csv(incident_id: int) -> Response:
    hotline = current_hotline()
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
