"""The configuration pages (`/dashboard/admin/config`): municipalities and their members,
counterpart groups and assignments, and talk rooms, edited by prefecture administrators.

Every save goes through `hotline.config.editing.apply` (all or nothing, validated with the
start-up rules, comments kept), with the snapshot of the files the form was shown on, so a
form left open while someone else saved is refused instead of undoing their change. A refused
save re-renders the same page (400) with each problem next to its field and the submitted
values kept; a good one reloads the running bot's configuration, writes the audit log (with
the diff of the files) and redirects (PRG). Only administrators may open them
(hotline/web/auth's `protect`: login, CSRF check, security headers, error page).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for

from hotline.config import HQ_ROLES, MUNICIPALITY_ROLES, ROOM_LINKS, Config, Member, Municipality, Room
from hotline.config import editing as config_edit
from hotline.config.editing import Change, FieldProblem, Outcome
from hotline.config.editing.explain import warning_message
from hotline.domain import directory
from hotline.outbound.client import LineWorksError
from hotline.web import auth
from hotline.web.context import current_hotline
from hotline.web.pages import config_save
from hotline.web.pages.confirm import unconfirmed

ADMIN_ROLE = "admin"
STALE_MESSAGE = "ほかの人が先に変更しました。開き直してください。"
INVITE_MESSAGE = (
    "LINE WORKS の API では既存のトークルームにメンバーを追加できません。"
    "LINE WORKS アプリで部屋のメニューから招待してください"
)
LINK_LABELS = {"hq": "県本部", "group": "グループ", "municipality": "市町"}
_MAX_FIELD = 200  # longer form values are cut (the validator judges the rest)

config_pages = Blueprint("config", __name__, url_prefix="/dashboard/admin/config")

auth.protect(config_pages, ADMIN_ROLE)


def _config() -> Config:
    """The running configuration, after picking up any hand edit of the files."""
    hotline = current_hotline()
    hotline.check_config_files()
    return hotline.config()


def _snapshot() -> str:
    return config_edit.snapshot(current_hotline().settings.config_dir)


def _form(*names: str) -> dict[str, str]:
    return {name: request.form.get(name, "").strip()[:_MAX_FIELD] for name in names}


def _codes(name: str) -> list[str]:
    return [code.strip()[:_MAX_FIELD] for code in request.form.getlist(name) if code.strip()]


# -- views of the configuration -----------------------------------------------------------------


def role_options(municipality: Municipality | None) -> list[tuple[str, str]]:
    """(value, Japanese label) of the roles a member may have (市長 or 町長 as fits)."""
    if municipality is None:
        return list(HQ_ROLES.items())
    index = 1 if municipality.is_town else 0
    return [(role, labels[index]) for role, labels in MUNICIPALITY_ROLES.items()]


def member_key(member: Member) -> str:
    """How the configuration edits find a member: the e-mail, or the userId when there is none."""
    return member.email or member.user_id


def _town_label(config: Config, code: str) -> str:
    municipality = config.municipalities.get(code)
    return f"{municipality.name}（{code}）" if municipality else code


def _room_target(config: Config, room: Room) -> str:
    if room.link == "group" and room.target:
        group = config.groups.get(room.target)
        return f"グループ: {group.name if group else room.target}"
    if room.link == "municipality" and room.target:
        return f"市町: {_town_label(config, room.target)}"
    return LINK_LABELS.get(room.link, room.link)


def _common(config: Config) -> dict[str, Any]:
    return {
        "config": config,
        "config_warnings": [warning_message(w) for w in config.warnings],
        "towns": sorted(config.municipalities.values(), key=lambda m: m.code),
        "town_label": lambda code: _town_label(config, code),
        "snapshot": _snapshot(),
        "link_labels": LINK_LABELS,
        "links": ROOM_LINKS,
    }


# -- what an audit entry or a confirmation names, in Japanese -------------------------------------


def town_target(config: Config, code: str) -> str:
    """「市町 宇和島市（382035）」: a municipality as the audit log names it."""
    return f"市町 {_town_label(config, code)}"


def member_target(config: Config, code: str, name: str, key: str) -> str:
    """「職員 越智 直樹（fukushicho@matsuyama.example）・松山市」, or ・県本部 for HQ staff."""
    where = config.hq_name if code == HQ else _town_label(config, code)
    return f"職員 {name}（{key}）・{where}" if name else f"職員 {key}・{where}"


def group_target(config: Config, gid: str) -> str:
    group = config.groups.get(gid)
    return f"グループ {group.name}（{gid}）" if group else f"グループ {gid}"


def counterpart_target(config: Config, code: str) -> str:
    return f"支援の割当て {_town_label(config, code)}"


def room_target(config: Config, key: str, title: str = "") -> str:
    room = next((r for r in config.rooms if r.key == key), None)
    title = title or (room.title if room else "")
    return f"トークルーム {title}（rooms/{key}.toml）" if title else f"トークルーム rooms/{key}.toml"


# -- saving -------------------------------------------------------------------------------------


def _message(problem: FieldProblem) -> str:
    return STALE_MESSAGE if problem.problem.where == "(snapshot)" else problem.message


def _errors(outcome: Outcome) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for problem in outcome.problems:
        out.setdefault(problem.field, []).append(_message(problem))
    return out


def _save(changes: Sequence[Change], target: str) -> Outcome:
    """Apply `changes` with the form's snapshot (`config_save.save`)."""
    record = {"changes": [_change_view(change) for change in changes]}
    return config_save.save(changes, target, request.form.get("snapshot", ""), record)


def _refusal(outcome: Outcome, active: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """What a page needs to show a refused save: the problems by field, a summary at the
    top, and the submitted values (with the form's own snapshot) in the form that failed."""
    return {
        "active": active,
        "values": {**values, "snapshot": request.form.get("snapshot", "")},
        "errors": _errors(outcome),
        "summary": [_message(problem) for problem in outcome.problems],
    }


def _change_view(change: Change) -> dict[str, Any]:
    view = dataclasses.asdict(change)
    view["values"] = dict(change.values)
    return view


# -- the overview ---------------------------------------------------------------------------------


@config_pages.get("/")
def index() -> Any:
    config = _config()
    groups_of: dict[str, list[str]] = {}
    for group in config.groups.values():
        for code in group.municipalities:
            groups_of.setdefault(code, []).append(group.name)
    return render_template(
        "config_index.html",
        groups_of=groups_of,
        room_target=lambda room: _room_target(config, room),
        active="",
        values={},
        errors={},
        summary=[],
        **_common(config),
    )


@config_pages.post("/municipalities")
def add_municipality() -> Any:
    """A new municipality with its first member (a municipality needs at least one)."""
    values = _form("code", "name", "member_name", "member_role", "member_email")
    member = {
        "name": values["member_name"],
        "role": values["member_role"] or "deputy_mayor",
        "email": values["member_email"],
        "user_id": "",
    }
    changes = [
        Change(
            "municipality", "add", None, {"code": values["code"], "name": values["name"], "members": [member]}
        )
    ]
    outcome = _save(changes, f"市町 {values['name']}（{values['code']}）")
    if outcome.ok:
        return redirect(url_for("config.municipality", code=values["code"]))
    config = _config()
    page = _refusal(outcome, "add-municipality", values)
    return render_template(
        "config_index.html",
        groups_of={},
        room_target=lambda room: _room_target(config, room),
        **page,
        **_common(config),
    ), 400


# -- a municipality and its members ---------------------------------------------------------------


HQ = "hq"  # the HQ's members are edited on the same page, under this code


def _municipality_or_404(config: Config, code: str) -> Municipality:
    if code == HQ:
        return Municipality(HQ, config.hq_name, config.hq_members)
    municipality = config.municipalities.get(code)
    if municipality is None:
        abort(404, "市町が見つかりません。")
    return municipality


def _municipality_page(code: str, **extra: Any) -> str:
    config = _config()
    municipality = _municipality_or_404(config, code)
    page: dict[str, Any] = {"active": "", "values": {}, "errors": {}, "summary": []}
    page.update(extra)
    return render_template(
        "config_municipality.html",
        municipality=municipality,
        members=sorted(municipality.members, key=lambda m: m.order),
        roles=role_options(None if code == HQ else municipality),
        role_labels=dict(role_options(None if code == HQ else municipality)),
        is_hq=code == HQ,
        member_key=member_key,
        looked_up=request.args.get("looked_up", ""),
        directory_note=DIRECTORY_NOTES.get(request.args.get("directory", ""), ""),
        directory_found=request.args.get("directory") == "found",
        **page,
        **_common(config),
    )


@config_pages.get("/municipalities/<code>")
def municipality(code: str) -> Any:
    return _municipality_page(code)


@config_pages.post("/municipalities/<code>")
def edit_municipality(code: str) -> Any:
    config = _config()
    town = _municipality_or_404(config, code)
    op = (request.form.getlist("op") or [""])[-1]
    key = request.form.get("member", "")
    members = sorted(town.members, key=lambda m: m.order)
    member = next((m for m in members if member_key(m) == key), None)
    if op not in ("rename", "member_add", "remove") and member is None:
        abort(404, "メンバーが見つかりません。ページを開き直してください。")
    values: dict[str, Any]
    back = url_for("config.municipality", code=code)
    if op == "rename":
        active, values = "rename", _form("name")
        changes = [Change("municipality", "update", code, values)]
        target = town_target(config, code)
    elif op == "remove" and code != HQ:
        active, values = "remove", {}
        target = town_target(config, code)
        page = unconfirmed(target, back, f"{len(town.members)}人のメンバーの登録も削除されます。")
        if page is not None:
            return page
        changes = [Change("municipality", "remove", code)]
        outcome = _save(changes, target)
        if outcome.ok:
            return redirect(url_for("config.index"))
        return _municipality_page(code, **_refusal(outcome, active, values)), 400
    elif op == "member_add":
        active, values = "member-add", _form("name", "role", "email", "user_id", "phone", "order")
        changes = [Change("member", "add", code, values)]
        target = member_target(config, code, values["name"], values["email"] or values["user_id"])
    elif op == "member_update":
        active, values = f"member-{key}", _form("name", "role", "email", "user_id", "phone")
        changes = [Change("member", "update", key, values)]
        target = member_target(config, code, values["name"], key)
    elif op in ("member_up", "member_down"):
        assert member is not None
        position = member.order + (-1 if op == "member_up" else 1)
        active, values = f"member-{key}", {}
        if not 0 <= position < len(members):
            return redirect(back)
        changes = [Change("member", "update", key, {"order": position})]
        target = member_target(config, code, member.name, key)
    elif op == "member_remove":
        assert member is not None
        active, values = f"member-{key}", {}
        target = member_target(config, code, member.name, key)
        page = unconfirmed(target, back)
        if page is not None:
            return page
        changes = [Change("member", "remove", key)]
    else:
        abort(400, "操作が正しくありません。")
    outcome = _save(changes, target)
    if outcome.ok:
        if op == "member_add":
            return redirect(_after_member_add(code, values))
        return redirect(back)
    return _municipality_page(code, **_refusal(outcome, active, values)), 400


def _after_member_add(code: str, values: Mapping[str, str]) -> str:
    """Where to go after adding a member: back to the page, with the directory's answer about
    the e-mail when LINE WORKS could be asked (`directory.lookup`)."""
    if not values.get("email") or values.get("user_id"):
        return url_for("config.municipality", code=code)
    return url_for(
        "config.municipality",
        code=code,
        looked_up=values["email"],
        directory=_directory_answer(values["email"]),
    )


DIRECTORY_NOTES = {
    "found": "LINE WORKS のディレクトリで確認しました。",
    "unknown": (
        "このメールアドレスは LINE WORKS のディレクトリに見つかりません（登録は保存しました）。"
        "アカウントができるまで、この人にはボットからの通知が届きません。"
        "アドレスの誤りでなければ、アカウント作成後に hotline members verify で確かめてください。"
    ),
    "unavailable": (
        "LINE WORKS のディレクトリに問い合わせできなかったため、アカウントの有無は未確認です"
        "（登録は保存しました）。"
    ),
}


def _directory_answer(email: str) -> str:
    """Whether LINE WORKS knows the e-mail of a member just added: "found", "unknown" (404) or
    "unavailable" (no users scope, network, rate budget). Saving never waits on this: a
    prefecture often registers people before their accounts exist, so an unknown address is a
    warning beside the person, not a refusal."""
    try:
        current_hotline().client.get_user(email)
    except LineWorksError as exc:
        return "unknown" if exc.status == 404 else "unavailable"
    return "found"


# -- counterpart groups and assignments -----------------------------------------------------------


def _groups_page(**extra: Any) -> str:
    config = _config()
    page: dict[str, Any] = {"active": "", "values": {}, "errors": {}, "summary": []}
    page.update(extra)
    return render_template("config_groups.html", **page, **_common(config))


@config_pages.get("/groups")
def groups() -> Any:
    return _groups_page()


@config_pages.post("/groups")
def edit_groups() -> Any:
    config = _config()
    op = (request.form.getlist("op") or [""])[-1]
    key = request.form.get("key", "")[:_MAX_FIELD]
    back = url_for("config.groups")
    values: dict[str, Any]
    if op == "group_add":
        values = {**_form("id", "name"), "municipalities": _codes("municipalities")}
        active, change = "group-add", Change("group", "add", None, values)
        target = f"グループ {values['name']}（{values['id']}）"
    elif op == "group_update":
        values = {**_form("name"), "municipalities": _codes("municipalities")}
        active, change = f"group-{key}", Change("group", "update", key, values)
        target = group_target(config, key)
    elif op == "group_remove":
        values = {}
        active, change = f"group-{key}", Change("group", "remove", key)
        target = group_target(config, key)
        page = unconfirmed(
            target, back, "このグループの市町どうしには、第一報がグループとして届かなくなります。"
        )
        if page is not None:
            return page
    elif op == "counterpart_add":
        values = {**_form("stricken", "primary"), "secondary": _codes("secondary")}
        stricken = values.pop("stricken")
        active, change = "counterpart-add", Change("counterpart", "add", stricken, values)
        values["stricken"] = stricken
        target = counterpart_target(config, stricken)
    elif op == "counterpart_update":
        values = {**_form("primary"), "secondary": _codes("secondary")}
        active, change = f"counterpart-{key}", Change("counterpart", "update", key, values)
        target = counterpart_target(config, key)
    elif op == "counterpart_remove":
        values = {}
        active, change = f"counterpart-{key}", Change("counterpart", "remove", key)
        target = counterpart_target(config, key)
        page = unconfirmed(target, back, "この市町の第一報は、支援市町のルームに届かなくなります。")
        if page is not None:
            return page
    else:
        abort(400, "操作が正しくありません。")
    outcome = _save([change], target)
    if outcome.ok:
        return redirect(back)
    return _groups_page(**_refusal(outcome, active, values)), 400


# -- rooms ----------------------------------------------------------------------------------------


def _rooms_page(**extra: Any) -> str:
    config = _config()
    page: dict[str, Any] = {"active": "", "values": {}, "errors": {}, "summary": [], "results": None}
    page.update(extra)
    return render_template(
        "config_rooms.html",
        room_target=lambda room: _room_target(config, room),
        invite_message=INVITE_MESSAGE,
        **page,
        **_common(config),
    )


@config_pages.get("/rooms")
def rooms() -> Any:
    return _rooms_page()


@config_pages.post("/rooms")
def edit_rooms() -> Any:
    config = _config()
    op = (request.form.getlist("op") or [""])[-1]
    key = request.form.get("key", "").strip()[:_MAX_FIELD]
    values: dict[str, Any]
    if op in ("room_add", "room_update"):
        values = _form("title", "link", "group", "municipality", "channel_id")
        if op == "room_add":
            active, change = "room-add", Change("room", "add", key or None, values)
            values = {**values, "key": key}
        else:
            active, change = f"room-{key}", Change("room", "update", key, values)
        target = room_target(config, key or values.get("link", ""), values["title"])
    elif op == "room_remove":
        values = {}
        active, change = f"room-{key}", Change("room", "remove", key)
        target = room_target(config, key)
        page = unconfirmed(
            target,
            url_for("config.rooms"),
            "設定ファイル（rooms/…toml）を削除します。LINE WORKS のトークルーム自体は削除されません。",
        )
        if page is not None:
            return page
    else:
        abort(400, "操作が正しくありません。")
    outcome = _save([change], target)
    if outcome.ok:
        return redirect(url_for("config.rooms"))
    return _rooms_page(**_refusal(outcome, active, values)), 400


@config_pages.post("/rooms/sync")
def sync_rooms() -> Any:
    """Create the rooms without a channelId (written back to their files) and compare the
    members of the others with who should be there."""
    hotline = current_hotline()
    results = directory.sync_rooms(hotline.config(), hotline.client, hotline.storage)
    hotline.reload_config()
    rows = [
        {
            "key": result.room.key,
            "title": result.room.title,
            "created": result.created_channel_id,
            "missing": list(result.missing),
            "unexpected": list(result.unexpected),
            "problem": result.problem,
        }
        for result in results
    ]
    auth.audit_here(
        "config.room.sync",
        "rooms",
        None,
        [row for row in rows if row["created"] or row["missing"] or row["unexpected"] or row["problem"]],
    )
    return _rooms_page(results=rows)
