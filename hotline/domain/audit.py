"""The audit log: who changed what and when, with the before/after difference.

Every change made by a person goes through `record`: logins and logouts, account changes,
drill changes (from the pages and the command line), and configuration edits. An entry keeps
the state before and after as JSON and a diff, so an administrator can read what changed
without comparing by eye: for a configuration edit the diff is the unified diff of the TOML
files themselves (the changed lines as they are in the files, shown line by line), for
accounts and drills the page shows a table of the fields that changed (`fields`). Passwords
and password hashes never enter it: callers pass the public view of what they changed
(`accounts.Account.public()`).
"""

from __future__ import annotations

import difflib
import json
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hotline.clock import Clock, iso
from hotline.domain.csvexport import to_csv
from hotline.domain.incidents import local_time
from hotline.storage import Storage

if TYPE_CHECKING:
    from hotline.domain.drills import Drills

CONFIG_KINDS = {
    "municipality": "市町",
    "member": "職員",
    "group": "グループ",
    "counterpart": "支援の割当て",
    "room": "トークルーム",
    "earthquake": "地震の自動対応",
    "earthquake_area": "地震の地域と市町",
    "tsunami": "津波の自動対応",
    "tsunami_region": "津波予報区と市町",
}
CONFIG_ACTIONS = {"add": "追加", "update": "変更", "remove": "削除", "sync": "LINE WORKS と同期"}
CONFIG_UNDO = "config.undo"  # an administrator undid a configuration change (see config.editing.revert)


def action_label(action: str) -> str:
    """Japanese for an audit action; config edits are named config.<kind>.<action>."""
    if action.startswith("config."):
        parts = action.split(".")
        if len(parts) == 3:
            return f"設定: {CONFIG_KINDS.get(parts[1], parts[1])}の{CONFIG_ACTIONS.get(parts[2], parts[2])}"
    return ACTION_LABELS.get(action, action)


ACTION_LABELS = {
    "login": "ログイン",
    "login_failed": "ログイン失敗",
    "logout": "ログアウト",
    "account_create": "アカウント作成",
    "account_role": "権限の変更",
    "account_disable": "アカウントの無効化",
    "account_enable": "アカウントの再有効化",
    "account_password": "パスワードの変更",
    "drill_create": "訓練の作成",
    "drill_cancel": "訓練の取り消し",
    "drill_abort": "訓練の中止",
    "drill_fire": "訓練の実施",
    "drill_request": "訓練の実施依頼",
    "drill_proxy_answer": "訓練の代理回答",
    "drill_resend": "訓練の質問の再送",
    "config_edit": "設定の変更",
    "incident_close": "災害の終了",
    "incident_reopen": "災害の再開",
    "report_resend": "報告の再送",
    "instruction_send": "指示・依頼の送信",
    CONFIG_UNDO: "設定: 変更を元に戻す",
}
# The fields of accounts and drills in the audit page's table, in this order; others follow.
FIELD_LABELS = {
    "username": "ユーザー名",
    "role": "権限",
    "active": "有効",
    "title": "訓練名",
    "kind": "種類",
    "status": "状態",
    "schedule": "日時・繰り返し",
    "scheduledFor": "予定日時",
    "runAt": "実施日時",
    "cron": "繰り返し（cron）",
    "window": "実施時間帯",
    "start": "開始",
    "end": "終了",
    "targets": "対象",
    "deadlineMinutes": "回答期限（分）",
    "deadlineAt": "回答期限",
    "remindMinutes": "リマインド（分）",
    "firedAt": "実施した日時",
    "runs": "実施回",
    "id": "番号",
}
CSV_HEADER = ["日時（日本時間）", "操作者", "操作", "対象", "接続元", "変更前", "変更後", "差分"]


def _text(value: Any) -> str:
    """Pretty, stable JSON ('' for nothing) so that diffs show one field per line."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def diff(before: Any, after: Any) -> str:
    """A unified diff of the JSON texts of `before` and `after` ('' when they are equal)."""
    lines = difflib.unified_diff(
        _text(before).splitlines(), _text(after).splitlines(), "変更前", "変更後", lineterm="", n=2
    )
    return "\n".join(lines)


def record(
    storage: Storage,
    who: str,
    action: str,
    target: str,
    before: Any,
    after: Any,
    *,
    at: datetime | None = None,
    address: str | None = None,
    diff_text: str | None = None,
) -> int:
    """Append one entry; returns its id. `before` / `after` are JSON-able (None: nothing).
    `diff_text`: the difference to keep when it is not that of the two JSON texts (a
    configuration edit keeps the unified diff of its TOML files)."""
    moment = at if at is not None else Clock().now()
    return storage.add_audit(
        iso(moment),
        who,
        action,
        target,
        None if before is None else json.dumps(before, ensure_ascii=False, sort_keys=True, default=str),
        None if after is None else json.dumps(after, ensure_ascii=False, sort_keys=True, default=str),
        diff(before, after) if diff_text is None else diff_text,
        address,
    )


def entries(storage: Storage, limit: int | None = None) -> list[dict[str, Any]]:
    """Entries newest first, ready to show: JST time, Japanese action label, parsed JSON."""
    return [_entry(row) for row in storage.audit_entries(limit)]


def _entry(row: sqlite3.Row) -> dict[str, Any]:
    config = row["action"].startswith("config.")
    return {
        "config": config,
        "diffLines": diff_lines(row["diff"]) if config else [],
        "fields": [] if config else fields(_json(row["before"]), _json(row["after"])),
        "undoable": config and undo_state(row) is not None,
        "id": row["id"],
        "at": local_time(row["at"]),
        "who": row["who"],
        "action": row["action"],
        "actionLabel": action_label(row["action"]),
        "target": row["target"],
        "address": row["address"] or "",
        "before": row["before"] or "",
        "after": row["after"] or "",
        "diff": row["diff"],
    }


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def diff_lines(text: str | None) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) for the page to colour: file, hunk, add, del, same."""
    out: list[tuple[str, str]] = []
    for line in (text or "").splitlines():
        if line.startswith(("--- ", "+++ ")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        out.append((kind, line))
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def fields(before: Any, after: Any) -> list[dict[str, str]]:
    """The fields of an account or drill that differ between `before` and `after`, each with
    its Japanese name and both values as text (a new or removed thing shows all its fields)."""
    if not isinstance(before, dict) and not isinstance(after, dict):
        return []
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    keys = [k for k in FIELD_LABELS if k in old or k in new]
    keys += sorted(k for k in {*old, *new} if k not in FIELD_LABELS)
    return [
        {"field": FIELD_LABELS.get(key, key), "before": _shown(old.get(key)), "after": _shown(new.get(key))}
        for key in keys
        if old.get(key) != new.get(key)
    ]


def undo_state(row: sqlite3.Row) -> str | None:
    """The snapshot the files had right after a configuration change (what `revert` checks
    they still have), or None when the entry cannot be undone (not a file change)."""
    if not row["action"].startswith("config.") or row["action"] in (CONFIG_UNDO, "config.room.sync"):
        return None
    after = _json(row["after"])
    if not isinstance(after, dict) or not isinstance(after.get("snapshot"), str) or not row["diff"]:
        return None
    return str(after["snapshot"])


def entry(storage: Storage, entry_id: int) -> sqlite3.Row | None:
    """One entry by id (None when there is none)."""
    return next((row for row in storage.audit_entries() if row["id"] == entry_id), None)


def csv_bytes(storage: Storage) -> bytes:
    """The whole log as CSV, oldest first (`csvexport`: a BOM for Excel, and names, targets and
    values, which come from people, never run as formulas)."""
    return to_csv(
        CSV_HEADER,
        (
            [
                e["at"],
                e["who"],
                e["actionLabel"],
                e["target"],
                e["address"],
                e["before"],
                e["after"],
                e["diff"],
            ]
            for e in reversed(entries(storage))
        ),
    )


def drill_snapshot(drills: Drills, drill_id: int) -> dict[str, Any] | None:
    """A drill as the audit log keeps it: the API's view (an unannounced drill's moment stays
    hidden until it fires) with its runs reduced to id and status."""
    row = drills.storage.drill(drill_id)
    if row is None:
        return None
    shown = drills.public(row)
    shown["runs"] = [{"id": r["id"], "status": r["status"]} for r in shown["runs"]]
    return shown
