"""(6) The dashboard: the acknowledgement matrix and the incident page of a large incident.

One incident from a town linked to 20 municipalities x 5 members (+ 3 HQ staff), with 50
reports (第一報 and 第2報..第50報) relayed to 21 rooms, every delivery sent, about 60 % of the
people acknowledging each report. The database is built through hotline's own relay (the
inbox worker, run by hand) in this process; nothing is sent. Timed in this process, without
sockets: `acknowledgements.matrix` for all 50 reports, `dashboard.incident_view` (the data
behind the page and its JSON), and the routes `/dashboard/incidents/<id>.json` and
`/dashboard/incidents/<id>` (their view functions in a request context, response body
included; the login check is a before_request hook and is skipped), the page again with the
remembered JST texts forgotten before each run (a first view), an older report's matrix as
the page fetches it when opened, and the print page (every matrix). Baselines: the database
reads the matrices need, and `/healthz` through Flask's test client (the framework floor).
The incident page's target is 100 ms (issue 14).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hotline.clock import iso
from hotline.config.counterparts import linked_municipalities
from hotline.config.settings import Settings
from hotline.demo import DEMO_DOMAIN_ID, make_credentials
from hotline.domain import acknowledgements
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from hotline.web.pages.dashboard import _jst, incident_view

from .common import API_TOKEN, Figure, Town, median, percentile, with_check_digit, write_config

REPORTS = 50
TOWNS = 20
MEMBERS = 5
STRICKEN = with_check_digit("39300")
SUPPORTERS = [with_check_digit(f"393{i:02d}") for i in range(1, TOWNS)]


def build(work: Path) -> tuple[Hotline, int, list[int]]:
    root = work / "config-dashboard"
    towns = [Town(STRICKEN, "被災市", MEMBERS, room=True)]
    towns += [Town(code, f"応援町{i + 1:02d}", MEMBERS, room=True) for i, code in enumerate(SUPPORTERS)]
    config = write_config(root, towns, {STRICKEN: SUPPORTERS})
    assert len(linked_municipalities(config, STRICKEN)) == TOWNS
    credentials, _ = make_credentials()
    settings = Settings(
        credentials=credentials, api_token=API_TOKEN, config_dir=root, database=work / "dashboard.sqlite3"
    )
    hotline = Hotline(settings, config)  # worker loops not started: nothing is sent
    storage = hotline.storage
    poster = config.municipalities[STRICKEN].members[0]
    start = datetime.now(UTC) - timedelta(hours=3)
    for n in range(1, REPORTS + 1):
        label = "第一報" if n == 1 else f"第{n}報"
        event = {
            "type": "message",
            "source": {"userId": poster.user_id, "domainId": DEMO_DOMAIN_ID},
            "issuedTime": iso(start),
            "content": {
                "type": "text",
                "text": f"{label} 被害状況の報告 その{n}。道路2か所通行止め、避難所3か所開設",
            },
        }
        storage.store_event(json.dumps(event, ensure_ascii=False), iso(start))
        hotline.process_inbox_once()
    incident_id = storage.incidents()[0]["id"]
    report_ids = [r["id"] for r in storage.reports_of_incident(incident_id)]
    assert len(report_ids) == REPORTS, report_ids
    # every room got every report: mark the deliveries sent, then let the relay add receipts
    now = iso(datetime.now(UTC))
    for row in storage.due_messages(now, limit=100_000):
        storage.claim(row.id, now)
        storage.mark_sent(row.id, now)
    for report_id in report_ids:
        hotline.receipts.after_delivery(report_id)
    for row in storage.due_messages(now, limit=100_000):
        storage.claim(row.id, now)
        storage.mark_sent(row.id, now)
    rng = random.Random(11)
    channels = {room.target: room.channel_id for room in config.rooms if room.link == "municipality"}
    people = [(m, code) for code in [STRICKEN, *SUPPORTERS] for m in config.municipalities[code].members]
    with storage.transaction():
        for i, report_id in enumerate(report_ids):
            for member, code in people:
                if rng.random() < 0.6:
                    at = iso(start + timedelta(minutes=i * 3 + rng.random() * 30))
                    storage.record_ack(report_id, member.key, member.user_id, code, channels[code], "tap", at)
    return hotline, incident_id, report_ids


def timed(action: Callable[[], Any], reps: int) -> list[float]:
    action()  # warm-up (templates compiled, pages cached)
    out = []
    for _ in range(reps):
        began = time.perf_counter()
        action()
        out.append(time.perf_counter() - began)
    return out


def run(work: Path, reps: int, log: list[str]) -> tuple[list[Figure], dict[str, Any]]:
    hotline, incident_id, report_ids = build(work)
    storage, config = hotline.storage, hotline.config()
    app = create_app(hotline)
    client = app.test_client()

    def matrices() -> None:
        for report_id in report_ids:
            acknowledgements.matrix(storage, config, report_id)

    def reads_only() -> None:
        for report_id in report_ids:
            storage.report(report_id)
            storage.deliveries(report_id)
            storage.acks(report_id)
            storage.board_post(report_id)
            storage.board_reads(report_id)

    def view(endpoint: str, path: str, *, cold: bool = False, **args: int) -> Callable[[], Any]:
        """The route's view function in a request context: what the server does for the page
        after the login check (a before_request hook, skipped here; logins are per account).
        `cold`: forget the remembered JST texts first (the first view after a start)."""

        def action() -> int:
            if cold:
                _jst.cache_clear()
            with app.test_request_context(path):
                result: Any = app.view_functions[endpoint](incident_id=incident_id, **args)
                response = app.make_response(result)
                body = response.get_data()
                assert response.status_code == 200, (path, response.status_code)
                return len(body)

        return action

    def healthz() -> None:
        assert client.get("/healthz").status_code == 200

    times = {
        "matrix": timed(matrices, reps),
        "reads": timed(reads_only, reps),
        "view": timed(lambda: incident_view(hotline, incident_id), reps),
        "json": timed(
            json_view := view("dashboard.incident_json", f"/dashboard/incidents/{incident_id}.json"), reps
        ),
        "page": timed(
            page_view := view("dashboard.incident_page", f"/dashboard/incidents/{incident_id}"), reps
        ),
        "pageCold": timed(
            view("dashboard.incident_page", f"/dashboard/incidents/{incident_id}", cold=True), reps
        ),
        "older": timed(
            older_view := view(
                "dashboard.report_json",
                f"/dashboard/incidents/{incident_id}/reports/{report_ids[0]}.json",
                report_id=report_ids[0],
            ),
            reps,
        ),
        "print": timed(
            print_view := view("dashboard.incident_print", f"/dashboard/incidents/{incident_id}/print"), reps
        ),
        "healthz": timed(healthz, reps),
    }
    size, page_size, older_size, print_size = json_view(), page_view(), older_view(), print_view()
    acks = sum(len(storage.acks(r)) for r in report_ids)
    storage.close()
    log.append("  dashboard: " + ", ".join(f"{k} {median(v) * 1000:.1f} ms" for k, v in times.items()))

    def ms(key: str) -> float:
        return median(times[key]) * 1000

    target = 200.0
    page_target = 100.0  # issue 14: the incident page of 50 reports x 100 people
    figures = [
        Figure(
            "dashboard.matrix50",
            f"Acknowledgement matrix, all {REPORTS} reports (median of {reps})",
            ms("matrix"),
            "ms",
            baseline=ms("reads"),
            baseline_label="its database reads alone",
            target="< 200 ms",
            passed=ms("matrix") < target,
        ),
        Figure(
            "dashboard.view",
            "incident_view (the page's data), 50 reports",
            ms("view"),
            "ms",
            baseline=ms("matrix"),
            baseline_label="the 50 matrices alone",
            target="< 200 ms",
            passed=ms("view") < target,
        ),
        *[
            Figure(
                f"dashboard.{key}",
                label,
                ms(key),
                "ms",
                baseline=ms("healthz"),
                baseline_label="GET /healthz, same client",
                target="<= 100 ms",
                passed=ms(key) <= page_target,
                note=note,
            )
            for key, label, note in (
                (
                    "json",
                    "/dashboard/incidents/<id>.json (view + body)",
                    f"{size // 1024} KiB of JSON; p95 {percentile(times['json'], 95) * 1000:.0f} ms",
                ),
                (
                    "page",
                    "/dashboard/incidents/<id> HTML (view + body)",
                    f"{page_size // 1024} KiB of HTML; p95 {percentile(times['page'], 95) * 1000:.0f} ms",
                ),
                ("pageCold", "the same, JST texts not yet remembered (first view)", ""),
                (
                    "older",
                    "an older report opened: .../reports/<id>.json",
                    f"{older_size // 1024} KiB of JSON",
                ),
            )
        ],
        Figure(
            "dashboard.print",
            "/dashboard/incidents/<id>/print, every matrix",
            ms("print"),
            "ms",
            baseline=ms("page"),
            baseline_label="the incident page",
            note=f"{print_size // 1024} KiB of HTML (all 50 matrices, for the record)",
        ),
    ]
    raw = {
        "reports": REPORTS,
        "municipalities": TOWNS,
        "membersPerTown": MEMBERS,
        "acks": acks,
        "jsonBytes": size,
        "htmlBytes": page_size,
        "olderReportBytes": older_size,
        "printBytes": print_size,
        "medianMs": {k: round(median(v) * 1000, 2) for k, v in times.items()},
    }
    return figures, raw
