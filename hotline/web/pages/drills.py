"""The drill coordinator's pages (`/dashboard/drills`): the list of drills, the creation form
with its confirmation step, each drill's live page, and the history of closed runs.

They sit behind the login (hotline/web/auth's `protect`: CSRF token, security headers, error
page, escaped JSON). Every account may look; only coordinators and administrators may create,
fire, cancel or abort (the form and every POST), and each such action is written to the audit
log. Every POST needs the session's CSRF token. The drill
page polls `/dashboard/drills/<id>.json`; static/drills.js rebuilds the live sections from it
with `textContent` and draws the answer-rate chart as inline SVG.

An unannounced drill's moment (`drills.run_at` for schedule "window") is never read here:
such a drill shows its window, and once it has fired, the time its run fired.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from hotline.clock import jst_text, parse_iso
from hotline.config import MUNICIPALITY_ROLES, Config
from hotline.domain import audit
from hotline.domain.drills import (
    ARRIVAL,
    SAFETY,
    DrillError,
    Targets,
    next_fire,
    schedule,
    send_minutes,
    send_time_text,
)
from hotline.domain.drills.results import MAIL_STATUS
from hotline.runtime.service import Hotline
from hotline.web import auth
from hotline.web.context import POLL_INTERVAL_MS, TO_THE_MINUTE, current_hotline
from hotline.web.pages.drill_form import (
    CRON_EXAMPLE,
    CRON_EXAMPLE_MEANING,
    KIND_LABELS,
    REPEAT_NTH,
    REPEAT_WEEKDAYS,
    DrillForm,
    validate,
)

DRILL_STATUS_LABELS = {"scheduled": "予定", "cancelled": "取り消し済み", "done": "実施済み"}
RUN_STATUS_LABELS = {
    "running": "実施中",
    "closed": "締め切り済み",
    "aborted": "中止",
    "missed": "未実施（サーバー停止中）",
}
JSON_ENDPOINTS = frozenset({"drills.drill_json"})
ACTING_ROLE = "coordinator"  # creating, firing, cancelling, aborting: coordinators and admins
ACTION_ENDPOINTS = frozenset(
    {"drills.new", "drills.abort_run", "drills.cancel", "drills.fire", "drills.proxy", "drills.resend"}
)

drills = Blueprint("drills", __name__, url_prefix="/dashboard/drills")
auth.protect(
    drills, None, acting_role=ACTING_ROLE, acting_endpoints=ACTION_ENDPOINTS, json_endpoints=JSON_ENDPOINTS
)  # None: every account may look


def role_labels() -> dict[str, str]:
    """Municipal roles with their Japanese titles (副市長・副町長 where cities and towns differ)."""
    return {
        role: city if city == town else f"{city}・{town}" for role, (city, town) in MUNICIPALITY_ROLES.items()
    }


def _for_this_account(view: dict[str, Any]) -> dict[str, Any]:
    """A viewer sees the drill without its buttons (the routes refuse them anyway)."""
    if not auth.may(ACTING_ROLE):
        view["actions"].update(abortRunId=None, cancel=False, fire=False, resend=False)
        view["proxy"] = None
    return view


def _audit_drill(action: str, drill_id: int, before: dict[str, Any] | None) -> None:
    after = audit.drill_snapshot(current_hotline().drills, drill_id)
    auth.audit_here(action, f"drill:{drill_id}", before, after)


# -- formatting ---------------------------------------------------------------------------------


def _when(value: datetime | str | None, fmt: str = TO_THE_MINUTE) -> str:
    """A moment or a stored UTC stamp as JST text for people, to the minute unless told
    ('' for none)."""
    return jst_text(value, fmt)


def _rate_text(answered: int, targets: int, rate: float) -> str:
    return f"{answered}/{targets}人（{rate * 100:.0f}%）"


def _median_text(minutes: float | None) -> str:
    return "—" if minutes is None else f"{minutes:g}分"


def _estimate_text(count: int, per_minute_limit: int) -> str:
    return f"対象 {count}人・送信に{send_time_text(send_minutes(count, per_minute_limit))}"


def _next_cron(cron: str, now: datetime) -> str:
    """The next fire time as the drill runner computes it (crontab weekdays: 1 = Monday)."""
    try:
        moment = next_fire(cron, now)
    except ValueError:
        return ""
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else ""


def _targets_text(config: Config, targets: Mapping[str, list[str]]) -> str:
    parts = []
    if targets.get("municipalities"):
        names = [
            config.municipalities[c].name if c in config.municipalities else c
            for c in targets["municipalities"]
        ]
        parts.append("市町: " + "、".join(names))
    if targets.get("roles"):
        labels = role_labels()
        parts.append("役職: " + "、".join(labels.get(r, r) for r in targets["roles"]))
    if targets.get("rooms"):
        titles = {room.key: room.title for room in config.rooms}
        parts.append("部屋: " + "、".join(titles.get(k, k) for k in targets["rooms"]))
    if targets.get("members"):
        parts.append(f"個別指定 {len(targets['members'])}人")
    return " ／ ".join(parts) or "—"


def _schedule_text(drill: sqlite3.Row, runs: list[sqlite3.Row], now: datetime) -> str:
    """When the drill happens, in JST. An unannounced drill shows only its window (and, once
    fired, when its run fired): its drawn moment is never shown."""
    fired = [r for r in runs if r["fired_at"]]
    schedule = drill["schedule"]
    if schedule == "window":
        text = f"抜き打ち {_when(drill['window_start'])}〜{_when(drill['window_end'])} のどこか"
        if fired:
            text += f"（{_when(fired[0]['fired_at'])} に実施）"
        return text
    if schedule == "cron":
        text = _recurrence_text(drill["cron"])
        if drill["status"] == "scheduled":
            upcoming = _next_cron(drill["cron"], now)
            if upcoming:
                text += f"（次回 {upcoming}）"
        return text
    if schedule == "now":
        return f"今すぐ（{_when(fired[0]['fired_at'])} に実施）" if fired else "今すぐ（まもなく開始）"
    return _when(drill["run_at"])


def _recurrence_text(cron: str) -> str:
    """「繰り返し 毎月第1月曜日 9:00」 for what the form's picker writes, else the crontab as typed."""
    described = schedule.describe(cron)
    return f"繰り返し {described}" if described else f"繰り返し「{cron}」"


def _status(drill: sqlite3.Row, runs: list[sqlite3.Row]) -> tuple[str, str]:
    """The drill's state as people read it. A one-off drill whose only run was aborted (or
    missed) reads as that run does (中止), never 実施済み."""
    if any(r["status"] == "running" for r in runs):
        return "running", RUN_STATUS_LABELS["running"]
    if drill["status"] == "scheduled" and drill["schedule"] == "now" and not runs:
        return "starting", "まもなく開始"
    if drill["status"] == "done" and runs and runs[-1]["status"] in ("aborted", "missed"):
        return runs[-1]["status"], RUN_STATUS_LABELS[runs[-1]["status"]]
    return drill["status"], DRILL_STATUS_LABELS.get(drill["status"], drill["status"])


# -- view models (the pages and the JSON share them) --------------------------------------------


def _run_row(hotline: Hotline, run: sqlite3.Row) -> dict[str, Any]:
    fired = bool(run["fired_at"])
    summary = hotline.drills.summary(run["id"]) if fired else None
    return {
        "id": run["id"],
        "status": run["status"],
        "statusLabel": RUN_STATUS_LABELS.get(run["status"], run["status"]),
        "firedAt": _when(run["fired_at"]) if fired else f"（予定 {_when(run['scheduled_for'])}）",
        "deadlineAt": _when(run["deadline_at"]),
        "rate": (
            _rate_text(summary["answered"], summary["targets"], summary["answerRate"]) if summary else "—"
        ),
        "median": _median_text(summary["medianMinutesToAnswer"]) if summary else "—",
        "csvUrl": url_for("drills.run_csv", run_id=run["id"]) if fired else None,
    }


def _live(hotline: Hotline, run: sqlite3.Row, people: list[dict[str, Any]]) -> dict[str, Any]:
    """The live view of one fired run: rate, chart data, safety, forecast, the silent, the
    unreached (未達) and the answers recorded for someone (代理回答); `people`: the run's
    targets (results.people)."""
    s = hotline.drills.summary(run["id"])
    fired = parse_iso(run["fired_at"])
    deadline_minutes = (parse_iso(run["deadline_at"]) - fired).total_seconds() / 60
    curve = hotline.drills.answer_curve(run["id"])
    elapsed: float | None = None
    if run["status"] == "running":
        elapsed = min(deadline_minutes, max(0.0, (hotline.clock.now() - fired).total_seconds() / 60))
    elif run["status"] == "closed":
        elapsed = deadline_minutes
    towns = s["municipalities"]
    total = {
        key: sum(t[key] for t in towns) for key in ("targets", "answered", "by30", "by60", "by180", "cannot")
    }
    return {
        "runId": run["id"],
        "status": run["status"],
        "statusLabel": RUN_STATUS_LABELS.get(run["status"], run["status"]),
        "running": run["status"] == "running",
        "firedAt": _when(run["fired_at"], "%Y-%m-%d %H:%M:%S"),
        "deadlineAt": _when(run["deadline_at"]),
        "targets": s["targets"],
        "answered": s["answered"],
        "answerRate": s["answerRate"],
        "rateText": _rate_text(s["answered"], s["targets"], s["answerRate"]),
        "lateAnswers": s["lateAnswers"],
        "median": _median_text(s["medianMinutesToAnswer"]),
        "safety": [{"label": label, "count": s["safety"].get(label, 0)} for label in SAFETY],
        "forecast": [
            {
                "code": t["code"],
                "name": t["name"],
                "cells": [f"{t['answered']}/{t['targets']}", t["by30"], t["by60"], t["by180"], t["cannot"]],
            }
            for t in towns
        ],
        "forecastTotal": [
            f"{total['answered']}/{total['targets']}",
            total["by30"],
            total["by60"],
            total["by180"],
            total["cannot"],
        ],
        "silent": s["silent"],
        "undelivered": s["undelivered"],
        "proxied": [{"name": p["name"], "by": p["proxyBy"]} for p in people if p["proxyBy"]],
        # which channel reached whom: the question's fallback mails, and answers by mail
        "mailed": [
            {"name": p["name"], "status": MAIL_STATUS.get(p["mail"], p["mail"])} for p in people if p["mail"]
        ],
        "byMail": [p["name"] for p in people if p["byMail"]],
        "curve": curve,
        "elapsedMinutes": None if elapsed is None else round(elapsed, 2),
        "deadlineMinutes": round(deadline_minutes, 2),
        "csvUrl": url_for("drills.run_csv", run_id=run["id"]),
    }


def drill_view(hotline: Hotline, drill_id: int) -> dict[str, Any] | None:
    """Everything the drill page shows; None for an unknown drill."""
    drill = hotline.storage.drill(drill_id)
    if drill is None:
        return None
    config = hotline.config()
    now = hotline.clock.now()
    runs = hotline.storage.runs(drill_id)
    status, status_label = _status(drill, runs)
    targets = json.loads(drill["targets"])
    resolved = Targets(**{k: tuple(v) for k, v in targets.items()}).resolve(config)
    running = next((r for r in reversed(runs) if r["status"] == "running"), None)
    shown = running or next((r for r in reversed(runs) if r["fired_at"]), None)
    # 対象 N人 is the shown run's own list, fixed when it fired, so the drill and its run say
    # the same number; the configuration of today may have gained or lost people since.
    asked = hotline.drills.people(shown["id"]) if shown is not None else None
    count = len(asked) if asked is not None else len(resolved)
    note = ""
    if asked is not None and len(resolved) != len(asked):
        note = (
            f"この回の実施時の人数です。現在の設定では{len(resolved)}人"
            "（実施後に職員の登録が変わったため。次の実施からはこの人数です）"
        )
    return {
        "drill": {
            "id": drill["id"],
            "title": drill["title"],
            "kind": drill["kind"],
            "kindLabel": KIND_LABELS.get(drill["kind"], drill["kind"]),
            "schedule": _schedule_text(drill, runs, now),
            "status": status,
            "statusLabel": status_label,
            "targets": _targets_text(config, targets),
            "estimate": _estimate_text(count, hotline.settings.per_minute_limit),
            "targetCount": count,
            "targetsNote": note,
            "deadlineMinutes": drill["deadline_minutes"],
            "remindMinutes": "、".join(f"{m}分後" for m in json.loads(drill["remind_minutes"])) or "なし",
            "createdAt": _when(drill["created_at"]),
            "createdBy": drill["created_by"],
        },
        "actions": {
            "abortRunId": running["id"] if running else None,
            "abortConfirm": "実施中の回を中止し、対象者全員に中止を知らせます。よろしいですか？",
            "cancelConfirm": "この予定を取り消します。取り消した訓練は実施されません。よろしいですか？",
            "fireConfirm": (
                "【実参集】として、対象者全員にいま参集確認を送ります。訓練ではありません。よろしいですか？"
                if drill["kind"] == "real"
                else "【訓練】として、対象者全員にいま質問を送ります。よろしいですか？"
            ),
            "cancel": drill["status"] == "scheduled",
            "fire": running is None and drill["status"] != "cancelled",
            "resend": running is not None,
            "resendConfirm": "この人にもう一度質問を送ります。よろしいですか？",
        },
        "proxy": (
            _proxy_form(shown, asked)
            if shown is not None and asked is not None and shown["status"] in ("running", "closed")
            else None
        ),
        "runs": [_run_row(hotline, r) for r in reversed(runs)],
        "live": _live(hotline, shown, asked) if shown is not None and asked is not None else None,
        "updatedAt": _when(now, "%Y-%m-%d %H:%M:%S"),
    }


def _proxy_form(run: sqlite3.Row, people: list[dict[str, Any]]) -> dict[str, Any]:
    """The 代理回答 form's choices: the run's targets and the questions' choices."""
    return {
        "runId": run["id"],
        "people": [
            {"key": p["key"], "label": " ".join(x for x in (p["town"], p["role"], p["name"]) if x)}
            for p in people
        ],
        "safety": list(SAFETY),
        "arrival": list(ARRIVAL),
    }


def _list_item(hotline: Hotline, drill: sqlite3.Row, now: datetime) -> dict[str, Any]:
    runs = hotline.storage.runs(drill["id"])
    status, status_label = _status(drill, runs)
    last = runs[-1] if runs else None
    last_text = "—"
    if last is not None:
        row = _run_row(hotline, last)
        last_text = row["rate"] if last["fired_at"] else row["statusLabel"]
        if last["fired_at"] and last["status"] != "closed":
            last_text += f"（{row['statusLabel']}）"
    return {
        "id": drill["id"],
        "title": drill["title"],
        "kind": drill["kind"],
        "kindLabel": KIND_LABELS.get(drill["kind"], drill["kind"]),
        "schedule": _schedule_text(drill, runs, now),
        "status": status,
        "statusLabel": status_label,
        "lastRun": last_text,
    }


# -- the creation form --------------------------------------------------------------------------


def _preview(hotline: Hotline, config: Config, form: DrillForm, definition: dict[str, Any]) -> dict[str, Any]:
    people = form.targets().resolve(config)
    towns: dict[str, int] = {}
    for person in people:
        muni = config.municipalities.get(person.municipality_code or "")
        name = muni.name if muni is not None else config.hq_name
        towns[name] = towns.get(name, 0) + 1
    if "at" in definition:
        when = _when(definition["at"])
    elif "cron" in definition:
        upcoming = _next_cron(definition["cron"], hotline.clock.now())
        when = f"{_recurrence_text(definition['cron'])}（次回 {upcoming}）"
    elif "window" in definition:
        start, end = definition["window"]
        when = f"抜き打ち {_when(start)}〜{_when(end)} のどこか（実施時刻は表示されません）"
    else:
        when = "今すぐ（作成後、10秒ほどで開始します）"
    return {
        "count": len(people),
        "estimate": _estimate_text(len(people), hotline.settings.per_minute_limit),
        "towns": sorted(towns.items(), key=lambda kv: -kv[1]),
        "when": when,
        "kindLabel": KIND_LABELS[form.kind],
        "targets": _targets_text(
            config, {"municipalities": form.municipality, "roles": form.role, "rooms": form.room}
        ),
        "deadline": f"{definition['deadline_minutes']}分後",
        "remind": "、".join(f"{m}分後" for m in definition["remind_minutes"]) or "なし",
    }


def _form_page(form: DrillForm, *, error: str | None = None, preview: dict[str, Any] | None = None) -> Any:
    config = current_hotline().config()
    return render_template(
        "drill_new.html",
        form=form,
        error=error,
        preview=preview,
        municipalities=list(config.municipalities.values()),
        roles=role_labels(),
        rooms=list(config.rooms),
        report_rooms=[r for r in config.rooms if r.channel_id],
        cron_example=CRON_EXAMPLE,
        cron_example_meaning=CRON_EXAMPLE_MEANING,
        repeat_nth=REPEAT_NTH,
        repeat_weekdays=REPEAT_WEEKDAYS,
    )


# -- pages --------------------------------------------------------------------------------------


@drills.get("/")
def index() -> Any:
    hotline = current_hotline()
    now = hotline.clock.now()
    items = [_list_item(hotline, d, now) for d in hotline.storage.drills()]
    return render_template("drill_list.html", drills=items)


@drills.route("/new", methods=["GET", "POST"])
def new() -> Any:
    if request.method == "GET":
        return _form_page(DrillForm())
    hotline = current_hotline()
    config = hotline.config()
    form = DrillForm.from_form(request.form)
    step = request.form.get("step", "confirm")
    if step == "edit":
        return _form_page(form)
    try:
        definition = form.definition(config)
        if step != "create":
            validate(hotline, definition)
            return _form_page(form, preview=_preview(hotline, config, form, definition))
        drill_id = hotline.drills.create(**definition)
    except DrillError as exc:
        return _form_page(form, error=str(exc)), 400
    _audit_drill("drill_create", drill_id, None)
    flash(f"「{form.title.strip()}」を作成しました。", "ok")
    return redirect(url_for("drills.page", drill_id=drill_id))


@drills.get("/<int:drill_id>")
def page(drill_id: int) -> Any:
    view = _for_this_account(_view_or_404(drill_id))
    return render_template("drill_page.html", view=view, poll_ms=POLL_INTERVAL_MS)


@drills.get("/<int:drill_id>.json")
def drill_json(drill_id: int) -> Response:
    return auth.json_response(_for_this_account(_view_or_404(drill_id)))


def _view_or_404(drill_id: int) -> dict[str, Any]:
    view = drill_view(current_hotline(), drill_id)
    if view is None:
        abort(404, f"訓練（ID {drill_id}）は見つかりません。")
    return view


def _drill_or_404(drill_id: int) -> sqlite3.Row:
    drill = current_hotline().storage.drill(drill_id)
    if drill is None:
        abort(404, f"訓練（ID {drill_id}）は見つかりません。")
    return drill


@drills.post("/<int:drill_id>/abort")
def abort_run(drill_id: int) -> Any:
    hotline = current_hotline()
    _drill_or_404(drill_id)
    before = audit.drill_snapshot(hotline.drills, drill_id)
    running = [r for r in hotline.storage.runs(drill_id, status="running")]
    wanted = request.form.get("run_id", "")
    run = next((r for r in running if str(r["id"]) == wanted), None)
    if run is not None and hotline.drills.abort(run["id"]):
        _audit_drill("drill_abort", drill_id, before)
        flash("中止しました。対象者全員に中止を知らせます。", "ok")
    else:
        flash("中止できませんでした（実施中ではありません）。", "error")
    return redirect(url_for("drills.page", drill_id=drill_id))


@drills.post("/<int:drill_id>/cancel")
def cancel(drill_id: int) -> Any:
    _drill_or_404(drill_id)
    before = audit.drill_snapshot(current_hotline().drills, drill_id)
    if current_hotline().drills.cancel(drill_id):
        _audit_drill("drill_cancel", drill_id, before)
        flash("予定を取り消しました。この訓練はもう実施されません。", "ok")
    else:
        flash("取り消せませんでした（予定の訓練ではありません）。", "error")
    return redirect(url_for("drills.page", drill_id=drill_id))


@drills.post("/<int:drill_id>/fire")
def fire(drill_id: int) -> Any:
    hotline = current_hotline()
    drill = _drill_or_404(drill_id)
    before = audit.drill_snapshot(hotline.drills, drill_id)
    if drill["status"] == "cancelled":
        flash("取り消した訓練は実施できません。新しく作成してください。", "error")
    elif hotline.storage.runs(drill_id, status="running"):
        flash("実施中の回があります。終わってから実施してください。", "error")
    elif hotline.drills.fire(drill_id) is None:
        flash("実施できませんでした。少し待ってから、もう一度お試しください。", "error")
    else:
        _audit_drill("drill_fire", drill_id, before)
        flash("開始しました。対象者に質問を送っています。", "ok")
    return redirect(url_for("drills.page", drill_id=drill_id))


def _answers_of(run_id: int, member_key: str) -> list[dict[str, Any]]:
    """One person's answers in a run, for the audit log's before and after."""
    return [
        {"question": a["question"], "answer": a["answer"], "recordedBy": a["recorded_by"]}
        for a in current_hotline().storage.answers_of(run_id, member_key)
    ]


def _posted_person(drill_id: int) -> tuple[sqlite3.Row | None, str]:
    """The run (of this drill, else None) and the member key a per-person button posted."""
    _drill_or_404(drill_id)
    run = current_hotline().storage.run(request.form.get("run_id", type=int) or 0)
    key = request.form.get("member_key", "")
    return (run if run is not None and run["drill_id"] == drill_id else None), key


@drills.post("/<int:drill_id>/proxy")
def proxy(drill_id: int) -> Any:
    """代理回答: a coordinator records answers a target gave another way (phone, in person)."""
    hotline = current_hotline()
    run, key = _posted_person(drill_id)
    if run is None:
        flash("代理回答を記録できませんでした（実施回が見つかりません）。", "error")
        return redirect(url_for("drills.page", drill_id=drill_id))
    before = _answers_of(run["id"], key)
    account = auth.current_account()
    try:
        hotline.drills.proxy(
            run["id"],
            key,
            safety=request.form.get("safety", ""),
            arrival=request.form.get("arrival", ""),
            comment=request.form.get("comment", "")[:1000],
            recorded_by=account.username if account is not None else "dashboard",
        )
    except DrillError as exc:
        flash(f"代理回答を記録できませんでした: {exc}", "error")
        return redirect(url_for("drills.page", drill_id=drill_id))
    name = next((t["name"] for t in hotline.storage.targets(run["id"]) if t["member_key"] == key), key)
    auth.audit_here(
        "drill_proxy_answer",
        f"drill:{drill_id}",
        {"name": name, "answers": before},
        {"name": name, "answers": _answers_of(run["id"], key)},
    )
    flash(f"{name}さんの回答を代理回答として記録しました。", "ok")
    return redirect(url_for("drills.page", drill_id=drill_id))


@drills.post("/<int:drill_id>/resend")
def resend(drill_id: int) -> Any:
    """再送: ask a target again whose question never reached them (未達)."""
    hotline = current_hotline()
    run, key = _posted_person(drill_id)
    lost = hotline.drills.summary(run["id"])["undelivered"] if run is not None else []
    person = next((u for u in lost if u["key"] == key), None)
    if run is None or person is None or not hotline.drills.resend(run["id"], key):
        flash("再送できませんでした（実施中の回の未達の人だけ再送できます）。", "error")
        return redirect(url_for("drills.page", drill_id=drill_id))
    auth.audit_here(
        "drill_resend",
        f"drill:{drill_id}",
        {"run": run["id"], "name": person["name"], "undelivered": person["reason"]},
        {"run": run["id"], "name": person["name"], "resent": True},
    )
    flash(f"{person['name']}さんに質問を再送します。", "ok")
    return redirect(url_for("drills.page", drill_id=drill_id))


@drills.get("/runs/<int:run_id>.csv")
def run_csv(run_id: int) -> Response:
    hotline = current_hotline()
    run = hotline.storage.run(run_id)
    if run is None or not run["fired_at"]:
        abort(404, f"実施回（ID {run_id}）は見つかりません。")
    response = Response(hotline.drills.csv(run_id), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f"attachment; filename=drill-run-{run_id}.csv"
    return response


@drills.get("/history")
def history() -> Any:
    hotline = current_hotline()
    chosen = request.args.get("drill", type=int)
    titles = {d["id"]: d for d in hotline.storage.drills()}
    rows = []
    for run in hotline.storage.runs(chosen, status="closed"):
        drill = titles.get(run["drill_id"])
        if drill is None or not run["fired_at"]:
            continue
        s = hotline.drills.summary(run["id"])
        rows.append(
            {
                "runId": run["id"],
                "drillId": drill["id"],
                "title": drill["title"],
                "kind": drill["kind"],
                "kindLabel": KIND_LABELS.get(drill["kind"], drill["kind"]),
                "firedAt": _when(run["fired_at"]),
                "short": _when(run["fired_at"], "%m/%d"),
                "sortKey": run["fired_at"],
                "answerRate": s["answerRate"],
                "rateText": _rate_text(s["answered"], s["targets"], s["answerRate"]),
                "median": s["medianMinutesToAnswer"],
                "medianText": _median_text(s["medianMinutesToAnswer"]),
                "safety": "・".join(f"{k}{v}" for k, v in s["safety"].items()),
            }
        )
    rows.sort(key=lambda r: r["sortKey"])
    return render_template(
        "drill_history.html",
        rows=rows,
        drills=list(titles.values()),
        chosen=chosen,
    )
