"""The JMA settings page (`/dashboard/admin/config/jma`): what JMA's earthquake and tsunami
telegrams start (`[earthquake]`, `[earthquake.areas]`, `[tsunami]`, `[tsunami.regions]` of
counterparts.toml, docs/CONFIG.md), edited by prefecture administrators.

The same guarantees as the other configuration pages: every save goes through
`hotline.config.editing.apply` (kinds of `hotline/config/editing/jma.py`) with the snapshot of
the files the form was shown on, validated with the start-up rules and written atomically with
its comments kept, or refused with nothing written and each problem in Japanese beside its
field (400). A good save reloads the running bot's configuration, is audited with the diff of
the file and redirects (PRG). Only administrators (hotline/web/auth's `protect`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for

from hotline.config import MUNICIPALITY_ROLES, Config
from hotline.config import editing as config_edit
from hotline.config.editing import Change, Outcome, jma
from hotline.config.model import INTENSITIES, TSUNAMI_CATEGORIES, JmaResponse
from hotline.domain.earthquakes.response import level_text
from hotline.web import auth
from hotline.web.context import current_hotline
from hotline.web.pages import config_save
from hotline.web.pages.confirm import unconfirmed

# The thresholds offered: a prefecture calls its staff in from 震度4 up (a lower one already in
# the file, such as the demo's "1", is offered too, so that saving the form keeps it).
OFFERED_INTENSITIES = ("4", "5-", "5+", "6-", "6+", "7")
SWITCHES = ("roll_call_supporters", "ask_first_report", "notify_rooms", "drill_on_jma_drill")
_MAX_FIELD = 200

jma_settings = Blueprint("jma_settings", __name__, url_prefix="/dashboard/admin/config/jma")

auth.protect(jma_settings, "admin")


def _config() -> Config:
    hotline = current_hotline()
    hotline.check_config_files()  # pick up a hand edit first
    return hotline.config()


def _text(name: str) -> str:
    return request.form.get(name, "").strip()[:_MAX_FIELD]


def _list(name: str) -> list[str]:
    return [value.strip()[:_MAX_FIELD] for value in request.form.getlist(name) if value.strip()]


def _page(**extra: Any) -> str:
    config = _config()
    page: dict[str, Any] = {"active": "", "values": {}, "errors": {}, "summary": []}
    page.update(extra)
    current = config.earthquake.min_intensity if config.earthquake else "5-"
    intensities = [level for level in INTENSITIES if level in OFFERED_INTENSITIES or level == current]
    return render_template(
        "config_jma.html",
        config=config,
        towns=sorted(config.municipalities.values(), key=lambda m: m.code),
        snapshot=config_edit.snapshot(current_hotline().settings.config_dir),
        intensities=[(level, level_text(level)) for level in intensities],
        categories=[(category, category) for category in reversed(TSUNAMI_CATEGORIES)],
        roles=[
            (role, labels[0] if labels[0] == labels[1] else f"{labels[0]}・{labels[1]}")
            for role, labels in MUNICIPALITY_ROLES.items()
        ],
        switches=[(name, jma.LABELS[name]) for name in SWITCHES],
        default_response=JmaResponse(),
        **page,
    )


@jma_settings.get("/")
def page() -> Any:
    return _page()


def _response_values() -> dict[str, Any]:
    """The fields shared by the earthquake and the tsunami forms (JmaResponse)."""
    values: dict[str, Any] = {"roll_call_roles": _list("roll_call_roles")}
    values.update({name: request.form.get(name) == "on" for name in SWITCHES})
    values["deadline_minutes"] = _text("deadline_minutes")
    values["remind_minutes"] = _text("remind_minutes")
    return values


@jma_settings.post("/")
def save() -> Any:
    op = (request.form.getlist("op") or [""])[-1]  # a remove button's op comes after the form's own
    code = _text("code")
    values: dict[str, Any]
    if op in ("earthquake", "tsunami"):
        first = (
            {"min_intensity": _text("min_intensity")}
            if op == "earthquake"
            else {"categories": _list("categories")}
        )
        values = {**first, **_response_values()}
        change, active = Change(op, "update", None, values), op
    elif op.removesuffix("_add") in jma.AREA_KINDS:
        kind = op.removesuffix("_add")
        values = {"municipalities": _list("municipalities")}
        change, active = Change(kind, "add", code, values), f"{kind}-add"
        values = {**values, "code": code}
    elif op.removesuffix("_update") in jma.AREA_KINDS or op.removesuffix("_remove") in jma.AREA_KINDS:
        kind, action = op.rsplit("_", 1)
        values = {"municipalities": _list("municipalities")} if action == "update" else {}
        change, active = Change(kind, action, code, values), f"{kind}-{code}"
        if action == "remove":
            page = unconfirmed(_target(change), url_for("jma_settings.page"))
            if page is not None:
                return page
    else:
        abort(400, "操作が正しくありません。")
    outcome = config_save.save([change], _target(change), _text("snapshot"), {"change": {**values}})
    if not outcome.ok:
        return _page(**_refusal(outcome, active, values)), 400
    return redirect(url_for("jma_settings.page") + f"#{active}")


TARGETS = {
    "earthquake": "地震（気象庁）の設定",
    "tsunami": "津波（気象庁）の設定",
    "earthquake_area": "地震情報の地域コード",
    "tsunami_region": "津波予報区コード",
}


def _target(change: Change) -> str:
    """What the audit log and the confirmation name, in Japanese (「津波予報区コード 601」)."""
    label = TARGETS.get(change.kind, change.kind)
    return f"{label} {change.key}" if change.key else label


def _refusal(outcome: Outcome, active: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The problems beside their fields, a summary at the top, the values as submitted."""
    errors: dict[str, list[str]] = {}
    for problem in outcome.problems:
        field = jma.form_field(problem.problem) if jma.is_jma(problem.problem) else problem.field
        errors.setdefault(field, []).append(problem.message)
    return {
        "active": active,
        "values": {**values, "snapshot": _text("snapshot")},
        "errors": errors,
        "summary": [problem.message for problem in outcome.problems],
    }
