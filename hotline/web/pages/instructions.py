"""HQ instructions and requests on the dashboard (`/dashboard/instructions`): the list, the form
that sends one to all towns, groups or chosen towns, and a page per instruction with each
addressed town's state (確認済 / 未確認 / 配信中 / 未達) and the towns' answers.

Every account may look; coordinators and administrators may send (hotline/web/auth's
`protect`, CSRF on the POST). The form sends through `domain.instructions.Instructions.send`,
the same place as an HQ member's 【指示】 in the chat; a bad form sends nothing and says why.
Each form shown carries a one-time id (`form_id`, a uuid4): the same form submitted twice sends
the instruction once and leads to its page.

The page shows the rooms and towns as the instruction froze them (`recipients.of_report`), so a
later rename or removal in the configuration does not rewrite it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from hotline import messages as msg
from hotline.clock import jst_text
from hotline.config import Config
from hotline.domain import acknowledgements, recipients
from hotline.domain.acknowledgements import ACKNOWLEDGED, PENDING, UNACKNOWLEDGED, UNDELIVERED
from hotline.domain.instructions import ANSWER_KIND, Sender, resolve
from hotline.domain.recipients import Recipients
from hotline.runtime.service import Hotline
from hotline.storage.instructions import INSTRUCTION_KINDS
from hotline.web import auth
from hotline.web.context import POLL_INTERVAL_MS, TO_THE_MINUTE, current_hotline

ACTING_ROLE = "coordinator"
TEXT_LIMIT = 1500  # the instruction's text; with its header and 宛先 it stays one LINE WORKS text
LIST_SIZE = 100
STATE_LABELS = {ACKNOWLEDGED: "確認済", UNACKNOWLEDGED: "未確認", PENDING: "配信中", UNDELIVERED: "未達"}
VIA_LABELS = {"tap": "ボタン", "word": "書き込み", "reply": "回答", "mail": "メール"}

instructions = Blueprint("instructions", __name__, url_prefix="/dashboard/instructions")
auth.protect(instructions, None, acting_role=ACTING_ROLE, acting_endpoints={"instructions.new"})


# -- view models ------------------------------------------------------------------------------


def _when(value: str | None) -> str:
    return jst_text(value, TO_THE_MINUTE) if value else ""


def _addressed(row: sqlite3.Row) -> str:
    return str(json.loads(row["content"] or "{}").get("to", ""))


def recent(hotline: Hotline, limit: int = LIST_SIZE) -> list[dict[str, Any]]:
    """The latest instructions with how many addressed towns have acknowledged: the list page
    and the incident list's box beside the incidents."""
    config = hotline.config()
    rows = hotline.storage.instructions(limit)
    states = acknowledgements.report_states(hotline.storage, config, rows)
    return [
        {
            "id": row["id"],
            "url": url_for("instructions.page", instruction_id=row["id"]),
            "label": row["label"],
            "sentAt": _when(row["created_at"]),
            "sender": " ".join(p for p in (row["poster_role"], row["poster_name"]) if p),
            "to": _addressed(row),
            "text": row["text"],
            "ackText": f"{state['acknowledged']}/{state['expected']}市町",
            "silent": bool(state["silent"]),
            "answers": row["answer_count"],
        }
        for row, state in zip(rows, states, strict=True)
    ]


def _page_view(hotline: Hotline, instruction_id: int) -> dict[str, Any]:
    storage = hotline.storage
    config = hotline.config()
    row = storage.report(instruction_id)
    if row is None or row["kind"] not in INSTRUCTION_KINDS:
        abort(404, "この指示・依頼は見つかりません。")
    result = acknowledgements.matrix(storage, config, instruction_id)
    assert result is not None
    sent_to = recipients.of_report(storage, config, row)
    answers = storage.answers_to(instruction_id)
    by_town: dict[str, int] = {}
    for answer in answers:
        by_town[answer["municipality_code"]] = by_town.get(answer["municipality_code"], 0) + 1
    towns = []
    for town in result["municipalities"]:
        acked = [m for m in town["members"] if m["acknowledgedAt"]]
        towns.append(
            {
                "code": town["code"],
                "name": town["name"],
                "state": town["state"],
                "stateLabel": STATE_LABELS.get(town["state"], town["state"]),
                "firstAckAt": _when(town["firstAckAt"]),
                "minutes": "" if town["minutesToAck"] is None else f"{town['minutesToAck']:g}分",
                "who": "、".join(
                    f"{m['role']} {m['name']}（{VIA_LABELS.get(m['via'], m['via'])}）" for m in acked
                ),
                "failure": town["failure"] or "",
                "answers": by_town.get(town["code"], 0),
            }
        )
    deliveries = [
        {
            "room": _room_title(sent_to, d["room_key"]),
            "status": {"sent": "送信済", "failed": "未達", "cancelled": "取消"}.get(d["status"], "配信中"),
            "at": _when(d["sent_at"]),
            "error": d["error"] or "",
        }
        for d in storage.deliveries(instruction_id)
    ]
    summary = result["summary"]
    return {
        "id": instruction_id,
        # the instruction's thread: its chronology (sends, acknowledgements, answers) as CSV
        "csvUrl": url_for("dashboard.incident_csv", incident_id=row["incident_id"]),
        "label": row["label"],
        "updatedAt": jst_text(hotline.clock.now()),
        "sentAt": _when(row["created_at"]),
        "sender": " ".join(p for p in (row["poster_role"], row["poster_name"]) if p),
        "to": _addressed(row),
        "text": row["text"],
        "towns": towns,
        "count": "{}/{}市町が確認済".format(
            summary["municipalitiesExpectedAcknowledged"], summary["municipalitiesExpected"]
        ),
        "deliveries": deliveries,
        "answers": [
            {
                "id": a["id"],
                "at": _when(a["created_at"]),
                "town": _town_name(sent_to, config, a["municipality_code"]),
                "who": f"{a['poster_role']} {a['poster_name']}",
                "label": a["label"],
                "text": a["text"],
                "incidentUrl": url_for("dashboard.incident_page", incident_id=a["incident_id"])
                if a["kind"] != ANSWER_KIND  # a report that answered it: its incident
                else "",
            }
            for a in answers
        ],
    }


def _room_title(sent_to: Recipients, key: str | None) -> str:
    """The room's title when the instruction was sent."""
    return next((room.title for room in sent_to.rooms if room.key == key), key or "")


def _town_name(sent_to: Recipients, config: Config, code: str) -> str:
    """The answering town's name when the instruction was sent (an addressed town), else
    today's (a town added since), else its code."""
    frozen = next((town.name for town in sent_to.towns if town.code == code), None)
    town = config.municipalities.get(code)
    return frozen or (town.name if town else code)


# -- the form ---------------------------------------------------------------------------------


def _form_choices(config: Config) -> dict[str, Any]:
    return {
        "municipalities": [{"code": c, "name": m.name} for c, m in config.municipalities.items()],
        "groups": [{"id": g.id, "name": g.name} for g in config.groups.values()],
        "kinds": msg.INSTRUCTION_LABELS,
        "limit": TEXT_LIMIT,
    }


def _read_form(config: Config) -> tuple[dict[str, Any], str | None]:
    """The form as entered, and what is wrong with it (None: it can be sent)."""
    form: dict[str, Any] = {
        "kind": request.form.get("kind", ""),
        "to": request.form.get("to", ""),
        "group": request.form.getlist("group"),
        "municipality": request.form.getlist("municipality"),
        "text": request.form.get("text", "").strip(),
        "form_id": request.form.get("form_id", ""),
    }
    if not _is_uuid(form["form_id"]):  # a form from before this check, or made up
        form["form_id"] = _new_form_id()
        return form, "フォームの有効期限が切れています。内容を確かめて、もう一度送ってください。"
    if form["kind"] not in msg.INSTRUCTION_LABELS:
        return form, "種別（指示・依頼）を選んでください。"
    if form["to"] not in ("all", "groups", "towns"):
        return form, "宛先（全市町・グループ・市町）を選んでください。"
    if not form["text"]:
        return form, "内容を書いてください。"
    if len(form["text"]) > TEXT_LIMIT:
        return form, f"内容は{TEXT_LIMIT}文字以内にしてください（いま{len(form['text'])}文字）。"
    if form["to"] == "groups":
        unknown = [g for g in form["group"] if g not in config.groups]
        if not form["group"] or unknown:
            return form, "宛先のグループを1つ以上選んでください。" if not unknown else "不明なグループです。"
    if form["to"] == "towns":
        unknown = [c for c in form["municipality"] if c not in config.municipalities]
        if not form["municipality"] or unknown:
            return form, "宛先の市町を1つ以上選んでください。" if not unknown else "不明な市町です。"
    return form, None


def _new_form_id() -> str:
    return str(uuid.uuid4())


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


@instructions.get("/")
def index() -> str:
    return render_template("instruction_list.html", instructions=recent(current_hotline()))


@instructions.get("/new")
def new() -> str:
    config = current_hotline().config()
    form = {
        "kind": "instruction",
        "to": "all",
        "group": [],
        "municipality": [],
        "text": "",
        "form_id": _new_form_id(),  # one-time: this form sends one instruction at most
    }
    return render_template("instruction_new.html", form=form, error=None, **_form_choices(config))


@instructions.post("/")
def send() -> Any:
    hotline = current_hotline()
    config = hotline.config()
    form, error = _read_form(config)
    if error is not None:
        return render_template("instruction_new.html", form=form, error=error, **_form_choices(config)), 400
    names = (
        [msg.ALL_TOWNS]
        if form["to"] == "all"
        else [config.groups[g].name for g in form["group"]]
        if form["to"] == "groups"
        else list(form["municipality"])
    )
    to = resolve(config, names)
    account = auth.current_account()
    who = account.username if account else "?"
    sender = Sender.of_account(who)
    sent = hotline.instructions.send(config, sender, form["kind"], to, form["text"], form_id=form["form_id"])
    label = msg.INSTRUCTION_LABELS[form["kind"]]
    if sent.repeated:  # the same form submitted again: sent once, its page shown
        flash(f"この{label}はすでに送信済みです（二重に送ってはいません）。")
        return redirect(url_for("instructions.page", instruction_id=sent.report_id))
    hotline.instructions.on_enqueue()
    # rooms with no channel id failed at once: the receipt, and the mails brought forward
    hotline.after_delivery(sent.report_id)
    auth.audit_here(
        "instruction_send",
        f"{label} #{sent.report_id}",
        None,
        {"kind": form["kind"], "to": to.text, "towns": list(sent.towns), "text": form["text"]},
    )
    flash(f"{label}を{len(sent.towns)}市町（トークルーム{len(sent.rooms)}か所）に送りました。")
    if sent.no_room:
        flash("届けるトークルームがない市町: " + "、".join(sent.no_room), "error")
    return redirect(url_for("instructions.page", instruction_id=sent.report_id))


@instructions.get("/<int:instruction_id>")
def page(instruction_id: int) -> str:
    view = _page_view(current_hotline(), instruction_id)
    return render_template("instruction_page.html", view=view, poll_ms=POLL_INTERVAL_MS)


@instructions.get("/<int:instruction_id>.json")
def page_json(instruction_id: int) -> Any:
    """What the open page asks for every POLL_INTERVAL_MS: each town's state, answers, rooms."""
    return auth.json_response(_page_view(current_hotline(), instruction_id))
