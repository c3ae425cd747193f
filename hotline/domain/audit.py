"""The audit log: who changed what and when, with the before/after difference.

Every change made by a person goes through `record`: logins and logouts, account changes,
drill changes (from the pages and the command line), and later configuration edits. An entry
keeps the state before and after as JSON and a unified diff of the two, so an administrator can
read what changed without comparing by eye. Passwords and password hashes never enter it:
callers pass the public view of what they changed (`accounts.Account.public()`).
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
) -> int:
    """Append one entry; returns its id. `before` / `after` are JSON-able (None: nothing)."""
    moment = at if at is not None else Clock().now()
    return storage.add_audit(
        iso(moment),
        who,
        action,
        target,
        None if before is None else json.dumps(before, ensure_ascii=False, sort_keys=True, default=str),
        None if after is None else json.dumps(after, ensure_ascii=False, sort_keys=True, default=str),
        diff(before, after),
        address,
    )


def entries(storage: Storage, limit: int | None = None) -> list[dict[str, Any]]:
    """Entries newest first, ready to show: JST time, Japanese action label, parsed JSON."""
    return [_entry(row) for row in storage.audit_entries(limit)]


def _entry(row: sqlite3.Row) -> dict[str, Any]:
    return {
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
