"""The HQ dashboard (`/dashboard`): incidents, who has acknowledged each report, the
chronology, and the exports (CSV, printable page).

Every account may look (the guard is hotline/web/auth's `protect`). Every page is rendered on
the server with Jinja (autoescaped); the incident page then polls
`/dashboard/incidents/<id>.json` and rebuilds its tables from the same view model with
`textContent`, so the markup that JavaScript produces matches what the server produced.

The incident page shows at once the overview (each linked town's state for every report) and
the latest report's full matrix; an older report's matrix is fetched when it is opened
(`/dashboard/incidents/<id>/reports/<report>.json`) and then polled with the rest
(`?open=<ids>`). A big incident (50 reports x 100 people) is 5,000 member rows per poll
otherwise. The print page has every matrix.

The blueprint also serves the static files every page uses (`dashboard.static`) and, from
hotline/web/auth, the login and logout pages (`dashboard.login`, `dashboard.logout`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from hotline.clock import iso, jst_text
from hotline.config import Config
from hotline.domain import acknowledgements, incidents, recipients
from hotline.domain.acknowledgements import (
    ACKNOWLEDGED,
    HQ,
    PENDING,
    RELATION_LABELS,
    SOURCE,
    UNACKNOWLEDGED,
    UNDELIVERED,
)
from hotline.domain.incidents import KIND_LABELS
from hotline.runtime.service import Hotline
from hotline.web import auth
from hotline.web.context import POLL_INTERVAL_MS, current_hotline
from hotline.web.pages import instructions

STATUS_LABELS = {"open": "対応中", "closed": "終了"}
ACTING_ROLE = "coordinator"  # closing, reopening, 再送: coordinators and admins
# A town's state for a report, in the overview's cells and the matrix (acknowledgements.town_state)
STATE_LABELS = {
    ACKNOWLEDGED: "確認済",
    UNACKNOWLEDGED: "未確認",
    PENDING: "配信中",
    UNDELIVERED: "未達",
    SOURCE: "報告元",
}
SILENT_STATES = frozenset({UNACKNOWLEDGED, PENDING, UNDELIVERED})
MAX_OPENED = 100  # older reports whose matrices one poll may ask for
# The incident page's chronology: its latest entries (a long incident has thousands, one per
# delivery and acknowledgement, 96 % of each poll); the print page and the CSV have them all.
TIMELINE_SHOWN = 200
INSTRUCTIONS_SHOWN = 10  # HQ's latest instructions, beside the incidents (web/pages/instructions.py)
JSON_ENDPOINTS = frozenset({"dashboard.incident_json", "dashboard.report_json", "dashboard.incidents_json"})
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


@lru_cache(maxsize=16384)
def _jst(value: str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """jst_text, remembered: a big incident repeats the same stamps thousands of times (every
    member of a room shares its delivery time), and parsing them was a third of the page."""
    return jst_text(value, fmt)


def _short(value: str | None) -> str:
    """'11/21 03:12:05' in JST for table cells."""
    return _jst(value, "%m/%d %H:%M:%S")


def _minutes(value: float | None) -> str:
    return "" if value is None else f"（{value:g}分）"


def _ack_text(acked_at: str | None, minutes: float | None, via: str | None = None) -> str:
    if not acked_at:
        return "未確認"
    return f"{ACKED_BY_MAIL if via == 'mail' else '✓'} {_short(acked_at)}{_minutes(minutes)}"


def _member_row(person: dict[str, Any], group: str, mails: Mails) -> dict[str, Any]:
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
            _delivery_text(person),
            "—" if read is None else ("✓" if read else "未読"),
            # not reached is not unanswered (未達 is not 未回答)
            STATE_LABELS[UNDELIVERED]
            if person["delivery"] == UNDELIVERED and not person["acknowledgedAt"]
            else _ack_text(person["acknowledgedAt"], person["minutesToAck"], person["via"]),
            _mail_text(mails.get(person["key"])),
        ],
    }


def _delivery_text(person: dict[str, Any]) -> str:
    """配信 cell: when it arrived, 配信中 while being sent or retried, else 未達 and why."""
    if person["delivered"]:
        return f"✓ {_short(person['deliveredAt'])}"
    if person["delivery"] == PENDING:
        return STATE_LABELS[PENDING]
    return (
        f"{STATE_LABELS[UNDELIVERED]}（{person['failure']}）"
        if person["failure"]
        else STATE_LABELS[UNDELIVERED]
    )


def _count(members: list[dict[str, Any]], key: str) -> str:
    return f"{sum(1 for m in members if m[key])}/{len(members)}名"


def _read_count(members: list[dict[str, Any]]) -> str:
    if all(m["read"] is None for m in members):
        return "—"
    return _count(members, "read")


def _matrix_rows(result: dict[str, Any], config: Config, mails: Mails | None = None) -> list[dict[str, Any]]:
    """Flat table rows for one report's acknowledgement matrix: each linked municipality,
    then its members; then HQ and its members. Cell texts are final (JST, Japanese); the
    sixth cell is the fallback mail (shown when the report has any)."""
    mails = mails or {}
    rows: list[dict[str, Any]] = []
    for town in result["municipalities"]:
        state = town["state"]
        silent = state in SILENT_STATES
        if town["acknowledged"]:
            ack = _ack_text(town["firstAckAt"], town["minutesToAck"], _first_via(town["members"]))
        else:
            ack = "未確認（報告元）" if state == SOURCE else STATE_LABELS[state]
            if state == UNDELIVERED and town["failure"]:
                ack += f"（{town['failure']}）"
        rows.append(
            {
                "type": "municipality",
                "testid": f"muni-{town['code']}",
                "group": town["code"],
                "acknowledged": town["acknowledged"],
                "classes": ["municipality", state]
                + (["silent"] if silent else [])
                + (["acknowledged"] if town["acknowledged"] else []),
                "cells": [
                    town["name"],
                    RELATION_LABELS.get(town["relation"], town["relation"]),
                    _count(town["members"], "delivered"),
                    _read_count(town["members"]),
                    ack,
                    _mail_count(town["members"], mails),
                ],
            }
        )
        rows.extend(_member_row(person, town["code"], mails) for person in town["members"])
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
                hq["name"] or config.hq_name,
                "県災害対策本部",
                _count(hq["members"], "delivered"),
                _read_count(hq["members"]),
                _ack_text(hq_times[0], None, _first_via(hq["members"]))
                if hq_times
                else STATE_LABELS[hq["state"]],
                _mail_count(hq["members"], mails),
            ],
        }
    )
    rows.extend(_member_row(person, "hq", mails) for person in hq["members"])
    return rows


# -- which channel reached whom: the fallback mails (outbox rows of channel 'mail') ------------

ACKED_BY_MAIL = "確認（メール）"
MAIL_LABELS = {"pending": "送信待ち", "sending": "送信中", "sent": "送信済", "failed": "送信失敗"}
Mails = dict[str, sqlite3.Row]  # member key -> the newest fallback mail of a report to them


def _mails_by_report(hotline: Hotline, report_ids: list[int]) -> dict[int, Mails]:
    """Per report, per member key, its newest fallback mail (purpose mail_report; the mail
    fallback writes `member` into each row's content)."""
    out: dict[int, Mails] = {}
    for row in hotline.storage.report_mails(report_ids):  # oldest first: the newest wins
        key = json.loads(row["content"]).get("member") or row["dedupe_key"].split(":", 3)[-1]
        out.setdefault(row["report_id"], {})[str(key)] = row
    return out


def _mail_text(row: sqlite3.Row | None) -> str:
    """メール cell: sent (when), waiting or being sent, failed (why), or — (none went)."""
    if row is None:
        return "—"
    label = MAIL_LABELS.get(row["status"], str(row["status"]))
    if row["status"] == "sent":
        return f"{label} {_short(row['sent_at'])}"
    if row["status"] == "failed" and row["error"]:
        return f"{label}（{row['error']}）"
    return str(label)


def _mail_count(members: list[dict[str, Any]], mails: Mails) -> str:
    sent = sum(1 for m in members if m["key"] in mails and mails[m["key"]]["status"] == "sent")
    tried = sum(1 for m in members if m["key"] in mails)
    return f"送信済 {sent}/{tried}名" if tried else "—"


def _first_via(members: list[dict[str, Any]]) -> str | None:
    """How the first acknowledgement of a town came (tap, word, mail)."""
    acked = sorted((m["acknowledgedAt"], m["via"]) for m in members if m["acknowledgedAt"])
    return acked[0][1] if acked else None


def _overview_mail_text(state: str, acks: list[sqlite3.Row], mails: list[sqlite3.Row]) -> str:
    """An overview cell says when mail did the work: acknowledged only through mail links
    (確認（メール）), or not reached by LINE WORKS but mailed (未達・メール送信済)."""
    if state == ACKNOWLEDGED:
        return ACKED_BY_MAIL if acks and all(a["via"] == "mail" for a in acks) else STATE_LABELS[state]
    if state in (UNDELIVERED, PENDING) and any(m["status"] == "sent" for m in mails):
        return f"{STATE_LABELS[state]}・メール送信済"
    return STATE_LABELS[state]


def _summary(config: Config, states: dict[str, Any], result: dict[str, Any] | None) -> dict[str, Any]:
    """The line above a report's matrix (and in an older report's heading): towns that have
    acknowledged out of those expected to (the reporting town is not), the undelivered, the
    silent by name; with the matrix, also the people it reached and who acknowledged."""
    text = f"確認済みの市町 {states['acknowledged']}/{states['expected']}"
    if states["undelivered"]:
        text += f"　未達 {states['undelivered']}"
    if result is not None:
        people = result["summary"]
        text += f"　配信 {people['membersDelivered']}/{people['membersLinked']}名"
        text += f"　確認 {people['membersAcknowledged']}名"
    names = states["names"]  # as the report was relayed (recipients)
    return {
        "text": text,
        "silent": [names.get(code) or _town_name(config, code) for code in states["silent"]],
    }


def _town_name(config: Config, code: str) -> str:
    muni = config.municipalities.get(code)
    return muni.name if muni else code


def _report_view(
    hotline: Hotline,
    config: Config,
    report: sqlite3.Row,
    states: dict[str, Any],
    *,
    with_matrix: bool,
    mails: Mails | None = None,
) -> dict[str, Any]:
    """A text report: its heading, text and summary; its matrix rows only `with_matrix` (the
    latest report, an opened older one, the print page), else None. `mails`: its fallback
    mails by member (the matrix's メール column shows when there is any)."""
    result = acknowledgements.matrix(hotline.storage, config, report["id"]) if with_matrix else None
    return {
        **_report_head(config, report, states["names"]),
        "summary": _summary(config, states, result),
        "matrix": None
        if result is None
        else {"rows": _matrix_rows(result, config, mails), "mail": bool(mails)},
    }


def _report_head(config: Config, report: sqlite3.Row, names: dict[str, str] | None = None) -> dict[str, Any]:
    town = (names or {}).get(report["municipality_code"]) or _town_name(config, report["municipality_code"])
    return {
        "id": report["id"],
        "kind": report["kind"],
        "label": report["label"],
        "poster": f"{town} {report['poster_role']} {report['poster_name']}",
        "createdAt": _jst(report["created_at"]),
        "text": report["text"],
        "summary": None,
        "matrix": None,
    }


def _overview(
    config: Config,
    reports: list[sqlite3.Row],
    states: list[dict[str, Any]],
    acks: list[sqlite3.Row] | None = None,
    mails: dict[int, Mails] | None = None,
) -> dict[str, Any]:
    """Towns x reports, newest report first: each cell the town's state for that report
    (確認済 / 未確認 / 配信中 / 未達 / 報告元; None when the report was not for the town), and
    where mail did the work, that too (確認（メール）, 未達・メール送信済)."""
    by_town: dict[tuple[int, str], list[sqlite3.Row]] = {}
    for a in acks or []:
        by_town.setdefault((a["report_id"], a["municipality_code"] or HQ), []).append(a)
    mailed: dict[tuple[int, str], list[sqlite3.Row]] = {}
    for report_id, by_member in (mails or {}).items():
        for row in by_member.values():
            code = json.loads(row["content"]).get("municipality") or HQ
            mailed.setdefault((report_id, code), []).append(row)
    order: dict[str, str] = {}  # code: name, as the newest report naming it was relayed
    by_report: list[dict[str, str]] = []
    for found in states:
        cells = dict(found["towns"])
        by_report.append(cells)
        for code in cells:
            order.setdefault(code, found["names"].get(code) or _town_name(config, code))
    columns = [
        {
            "id": report["id"],
            "label": report["label"],
            "createdAt": _jst(report["created_at"], "%m/%d %H:%M"),
            "count": f"{found['acknowledged']}/{found['expected']}",
            "latest": n == 0,
        }
        for n, (report, found) in enumerate(zip(reports, states, strict=True))
    ]

    def cell(report_id: int, code: str, state: str | None) -> dict[str, str]:
        if not state:
            return {"state": "none", "text": "—"}
        key = (report_id, code)
        return {"state": state, "text": _overview_mail_text(state, by_town.get(key, []), mailed.get(key, []))}

    ids = [report["id"] for report in reports]
    rows = [
        {
            "testid": f"overview-{code}",
            "name": name,
            "cells": [cell(i, code, cells.get(code)) for i, cells in zip(ids, by_report, strict=True)],
        }
        for code, name in order.items()
    ]
    rows.append(
        {
            "testid": "overview-hq",
            "name": config.hq_name,
            "cells": [cell(i, HQ, found["hq"]) for i, found in zip(ids, states, strict=True)],
        }
    )
    return {"columns": columns, "rows": rows}


def _incident_head(
    config: Config, row: sqlite3.Row, events: list[sqlite3.Row] | None = None
) -> dict[str, Any]:
    closing = next((e for e in reversed(events or []) if e["action"] == "close"), None)
    return {
        # the note, who and when of the latest closing (None while open)
        "closing": {"note": closing["note"], "by": closing["by"], "at": _jst(closing["at"])}
        if closing is not None and row["status"] == "closed"
        else None,
        "id": row["id"],
        "municipality": _town_name(config, row["municipality_code"]),
        "municipalityCode": row["municipality_code"],
        "openedAt": _jst(row["opened_at"]),
        "status": row["status"],
        "statusLabel": STATUS_LABELS.get(row["status"], row["status"]),
    }


def _timeline_view(hotline: Hotline, config: Config, incident_id: int, latest: int | None) -> dict[str, Any]:
    """The chronology (its `latest` entries only, when given) and how many entries it has."""
    entries = incidents.timeline(hotline.storage, config, incident_id)
    out: list[dict[str, Any]] = []
    for e in entries[-latest:] if latest else entries:
        kind = str(e["kind"])
        out.append(
            {
                "at": _jst(e["at"]),
                "kind": kind,
                "kindLabel": KIND_LABELS.get(kind, kind),
                "reportId": e["reportId"],
                "title": e["title"],
                "detail": e["detail"],
            }
        )
    return {"timeline": out, "timelineTotal": len(entries)}


def _undelivered(hotline: Hotline, config: Config, reports: list[sqlite3.Row]) -> list[dict[str, Any]]:
    """Per report, the rooms whose newest delivery failed for good (未達), with why: what the
    再送 button sends again."""
    out: list[dict[str, Any]] = []
    sent_to = recipients.of_incident(hotline.storage, config, reports)
    for report in reports:
        titles = {room.key: room.title for room in sent_to[report["id"]].rooms}
        latest: dict[str, sqlite3.Row] = {}
        for row in hotline.storage.deliveries(report["id"]):
            latest[row["room_key"] or ""] = row
        rooms = [
            {"room": titles.get(key) or _room_title(config, key), "error": row["error"] or ""}
            for key, row in latest.items()
            if row["status"] == "failed"
        ]
        if rooms:
            out.append({"reportId": report["id"], "label": report["label"], "rooms": rooms})
    return out


def _room_title(config: Config, key: str) -> str:
    return next((room.title for room in config.rooms if room.key == key), key)


def _text_reports(rows: list[sqlite3.Row]) -> list[sqlite3.Row]:
    """The reports that have a matrix (attachments are in the chronology), newest first."""
    return [r for r in reversed(rows) if r["kind"] != "attachment"]


def incident_view(
    hotline: Hotline, incident_id: int, *, opened: Collection[int] = (), record: bool = False
) -> dict[str, Any] | None:
    """Everything the incident page shows; None for an unknown incident.

    The overview covers every report; the latest report comes with its matrix, and so do the
    older reports whose ids are in `opened` (open on the page). The chronology is its latest
    TIMELINE_SHOWN entries (`timelineTotal` says how many there are). The `record` (the print
    page) has every matrix, every entry and every report in order, attachments too."""
    config = hotline.config()
    row = hotline.storage.incident(incident_id)
    if row is None or row["municipality_code"] == recipients.HQ:  # an instruction's thread: its own page
        return None
    everything = hotline.storage.reports_of_incident(incident_id)
    reports = _text_reports(everything)
    states = acknowledgements.report_states(hotline.storage, config, reports)
    mails = _mails_by_report(hotline, [r["id"] for r in reports])
    views = [
        _report_view(
            hotline,
            config,
            report,
            found,
            with_matrix=n == 0 or record or report["id"] in opened,
            mails=mails.get(report["id"]),
        )
        for n, (report, found) in enumerate(zip(reports, states, strict=True))
    ]
    timeline = _timeline_view(hotline, config, incident_id, None if record else TIMELINE_SHOWN)
    view: dict[str, Any] = {
        "incident": _incident_head(config, row, hotline.storage.incident_events(incident_id)),
        "undelivered": _undelivered(hotline, config, reports),
        "overview": _overview(config, reports, states, hotline.storage.acks_of_incident(incident_id), mails),
        "latest": views[0] if views else None,
        "older": views[1:],
        **timeline,
        "updatedAt": jst_text(hotline.clock.now()),
    }
    if record:
        by_id = {v["id"]: v for v in views}
        view["record"] = [by_id.get(r["id"]) or _report_head(config, r) for r in everything]
    return view


def report_view(hotline: Hotline, incident_id: int, report_id: int) -> dict[str, Any] | None:
    """One report of the incident with its matrix (an older report opened on the page); None
    when the incident has no such text report."""
    config = hotline.config()
    report = hotline.storage.report(report_id)
    if report is None or report["incident_id"] != incident_id or report["kind"] == "attachment":
        return None
    (states,) = acknowledgements.report_states(hotline.storage, config, [report])
    mails = _mails_by_report(hotline, [report_id]).get(report_id)
    return _report_view(hotline, config, report, states, with_matrix=True, mails=mails)


def _incident_or_404(incident_id: int, **shown: Any) -> dict[str, Any]:
    view = incident_view(current_hotline(), incident_id, **shown)
    if view is None:
        abort(404, f"災害（ID {incident_id}）は見つかりません。")
    return view


def _opened(value: str) -> set[int]:
    """`?open=12,15`: the older reports the page shows opened (ids; anything else ignored)."""
    return {int(part) for part in value.split(",")[:MAX_OPENED] if part.strip().isdigit()}


# -- pages ------------------------------------------------------------------------------------


def incident_list(hotline: Hotline) -> list[dict[str, Any]]:
    """The incident list's rows, newest first, with their cell texts final (JST, Japanese): the
    page renders them and its script rebuilds them from `/dashboard/incidents.json`."""
    config = hotline.config()
    rows = hotline.storage.incidents()
    latest: dict[int, sqlite3.Row] = {}
    for row in rows:
        texts = _text_reports(hotline.storage.reports_of_incident(row["id"]))
        if texts:
            latest[row["id"]] = texts[0]
    states = {
        found["reportId"]: found
        for found in acknowledgements.report_states(hotline.storage, config, list(latest.values()))
    }
    items: list[dict[str, Any]] = []
    for row in rows:
        report = latest.get(row["id"])
        found = states[report["id"]] if report is not None else None
        last_at = _jst(row["last_report_at"])
        if report is not None and found is not None:
            silent = len(found["silent"])
            latest_text = f"{report['label']}（{last_at}）"
            ack_text = f"{found['acknowledged']}/{found['expected']} 市町" + (
                f"（未確認 {silent}）" if silent else ""
            )
        else:
            silent, latest_text, ack_text = 0, "—", "—"
        items.append(
            {
                **_incident_head(config, row),
                "url": url_for("dashboard.incident_page", incident_id=row["id"]),
                "reportCount": row["report_count"],
                "lastReportAt": last_at,
                "latestText": latest_text,
                "ackText": ack_text,
                "silent": silent,
            }
        )
    return items


@dashboard.get("/")
def index() -> Any:
    hotline = current_hotline()
    return render_template(
        "dashboard_incidents.html",
        incidents=incident_list(hotline),
        instructions=instructions.recent(hotline, INSTRUCTIONS_SHOWN),  # beside the incidents
        poll_ms=POLL_INTERVAL_MS,
    )


@dashboard.get("/incidents.json")
def incidents_json() -> Response:
    """What the incident list polls: its rows, so that a new 第一報 shows without a reload."""
    hotline = current_hotline()
    return auth.json_response(
        {"incidents": incident_list(hotline), "updatedAt": jst_text(hotline.clock.now())}
    )


@dashboard.get("/incidents/<int:incident_id>")
def incident_page(incident_id: int) -> Any:
    view = _incident_or_404(incident_id)
    return render_template("dashboard_incident.html", view=view, poll_ms=POLL_INTERVAL_MS)


@dashboard.get("/incidents/<int:incident_id>.json")
def incident_json(incident_id: int) -> Response:
    """What the incident page polls; `?open=<ids>` adds the matrices of the older reports
    that are open on the page, so they stay live too."""
    return auth.json_response(_incident_or_404(incident_id, opened=_opened(request.args.get("open", ""))))


@dashboard.get("/incidents/<int:incident_id>/reports/<int:report_id>.json")
def report_json(incident_id: int, report_id: int) -> Response:
    """An older report's matrix, fetched when it is opened on the incident page."""
    hotline = current_hotline()
    view = report_view(hotline, incident_id, report_id)
    if view is None:
        abort(404, f"災害（ID {incident_id}）の報告（ID {report_id}）は見つかりません。")
    return auth.json_response({"report": view, "updatedAt": jst_text(hotline.clock.now())})


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
    """The record: the overview and every report with its full matrix, oldest first."""
    view = _incident_or_404(incident_id, record=True)
    return render_template("dashboard_print.html", view=view)


# -- actions (coordinators and admins): close, reopen, 再送 --------------------------------------


def _refused() -> Any:
    """The guard's 403 for an account below ACTING_ROLE (the dashboard's guard lets any
    account POST, for the logout)."""
    return auth.login_required(as_json=False, role=ACTING_ROLE)


def _back(incident_id: int) -> Any:
    return redirect(url_for("dashboard.incident_page", incident_id=incident_id))


def _who() -> str:
    account = auth.current_account()
    return account.username if account else "?"


@dashboard.post("/incidents/<int:incident_id>/close")
def close_incident(incident_id: int) -> Any:
    """終了, with a closing note (required); audited and in the chronology."""
    return _lifecycle(incident_id, "close", "この災害を終了しました。")


@dashboard.post("/incidents/<int:incident_id>/reopen")
def reopen_incident(incident_id: int) -> Any:
    """再開 (the reason is optional); audited and in the chronology."""
    return _lifecycle(incident_id, "reopen", "この災害を再開しました（対応中）。")


def _lifecycle(incident_id: int, action: str, done: str) -> Any:
    if (refused := _refused()) is not None:
        return refused
    hotline = current_hotline()
    if hotline.storage.incident(incident_id) is None:
        abort(404, f"災害（ID {incident_id}）は見つかりません。")
    note = request.form.get("note", "")
    change = incidents.close if action == "close" else incidents.reopen
    try:
        change(hotline.storage, incident_id, by=_who(), note=note, at=iso(hotline.clock.now()))
    except incidents.LifecycleError as problem:
        flash(str(problem), "error")
        return _back(incident_id)
    before, after = ("open", "closed") if action == "close" else ("closed", "open")
    auth.audit_here(
        f"incident_{action}",
        f"incident {incident_id}",
        {"status": before},
        {"status": after, "note": note.strip()},
    )
    flash(done, "ok")
    return _back(incident_id)


@dashboard.post("/incidents/<int:incident_id>/reports/<int:report_id>/resend")
def resend_report(incident_id: int, report_id: int) -> Any:
    """再送: the rooms whose delivery of the report failed for good get it again (new outbox
    rows; the failed ones stay as history); audited."""
    if (refused := _refused()) is not None:
        return refused
    hotline = current_hotline()
    report = hotline.storage.report(report_id)
    if report is None or report["incident_id"] != incident_id:
        abort(404, f"災害（ID {incident_id}）の報告（ID {report_id}）は見つかりません。")
    rooms = hotline.reports.resend_failed(report_id)
    if not rooms:
        flash("再送する配信はありません（未達の配信がありません）。", "error")
        return _back(incident_id)
    titles = [_room_title(hotline.config(), key) for key in rooms]
    auth.audit_here("report_resend", f"report {report_id}", None, {"rooms": titles})
    flash(f"{report['label']}を再送します: " + "、".join(titles), "ok")
    return _back(incident_id)
