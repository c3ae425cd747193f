"""An incident as a record: its chronology (クロノロジー) and its export.

Records of a disaster are public documents; the timeline lists, with times, every report,
attachment, delivery, failure, receipt, reminder and acknowledgement.
"""

from __future__ import annotations

import json
from typing import Any

from hotline.clock import jst_text
from hotline.config import Config
from hotline.domain.csvexport import to_csv
from hotline.domain.earthquakes.model import KINDS
from hotline.domain.earthquakes.response import level_text
from hotline.storage import Storage

PURPOSE_LABELS = {
    "report": "配信",
    "ack_button": "確認ボタン（長い報告の後）",
    "receipt": "受付確認（報告者へ）",
    "notice": "お知らせ",
    "reply": "返信",
    "reminder": "確認の催促",
    "escalation": "未確認の本部報告",
    "board": "掲示板への掲載",
    # not outbox purposes: the chronology's entries for JMA telegrams and what they started
    "jma": "気象庁の電文",
    "jma-notice": "自動通知（気象庁）",
}
STATUS_LABELS = {
    "sent": "送信済",
    "failed": "失敗",
    "pending": "送信待ち",
    "sending": "送信中",
    "cancelled": "取消",
}


def local_time(value: str | None) -> str:
    """'2026-11-21 03:12:05' in JST, for people and exports."""
    return jst_text(value)


def timeline(storage: Storage, config: Config, incident_id: int) -> list[dict[str, Any]]:
    """Every event of the incident in time order: {at, kind, reportId, title, detail}."""
    titles = {room.key: room.title for room in config.rooms}
    entries: list[dict[str, Any]] = []
    for report in storage.reports_of_incident(incident_id):
        muni = config.municipalities.get(report["municipality_code"])
        town = muni.name if muni else report["municipality_code"]
        entries.append(
            {
                "at": report["created_at"],
                "kind": "attachment" if report["kind"] == "attachment" else "report",
                "reportId": report["id"],
                "title": f"{report['label']}（{town} {report['poster_role']} {report['poster_name']}）",
                "detail": report["text"],
            }
        )
    for row in storage.outbox_of_incident(incident_id):
        if row["status"] in ("pending", "sending"):
            at, state = row["created_at"], STATUS_LABELS[row["status"]]
        else:
            at, state = row["sent_at"] or row["created_at"], STATUS_LABELS.get(row["status"], row["status"])
        where = (
            titles.get(row["room_key"] or "", row["room_key"] or "")
            if row["channel_id"] or row["room_key"]
            else ""
        )
        person = config.member_by_identity(row["user_id"]) if row["user_id"] else None
        target = where or (person.name if person else (row["user_id"] or ""))
        detail = state + (f"（{row['error']}）" if row["error"] and row["status"] != "sent" else "")
        if row["attempts"] > 1:
            detail += f" 試行{row['attempts']}回"
        entries.append(
            {
                "at": at,
                "kind": "delivery"
                if row["purpose"] == "report"
                else row["purpose"],  # a delivery, not the report
                "reportId": row["report_id"],
                "title": f"{PURPOSE_LABELS.get(row['purpose'], row['purpose'])}: {target}",
                "detail": detail,
            }
        )
    for ack in storage.acks_of_incident(incident_id):
        person = config.member_by_identity(ack["member_key"])
        muni = config.municipalities.get(ack["municipality_code"] or "")
        who = f"{muni.name if muni else config.hq_name} {person.name if person else ack['member_key']}"
        entries.append(
            {
                "at": ack["acked_at"],
                "kind": "ack",
                "reportId": ack["report_id"],
                "title": f"確認: {who}",
                "detail": "ボタン" if ack["via"] == "tap" else "書き込み",
            }
        )
    entries.extend(_telegrams(storage, config, incident_id))
    entries.sort(key=lambda e: (e["at"], e["reportId"] or 0))
    return entries


def _telegrams(storage: Storage, config: Config, incident_id: int) -> list[dict[str, Any]]:
    """The JMA telegrams of the event that opened or joined the incident, and what hotline sent
    on its own because of them (notices, the request for the 第一報, the cancellation)."""
    entries = []
    for t in storage.telegrams_of_incident(incident_id):
        towns = json.loads(t["towns"] or "{}")
        levels = "、".join(
            f"{config.municipalities[c].name if c in config.municipalities else c} {level_text(v)}"
            for c, v in towns.items()
        )
        label = "" if t["control_status"] == "通常" else f"【{t['control_status']}】"
        entries.append(
            {
                "at": t["received_at"],
                "kind": "jma",
                "reportId": None,
                "title": f"{label}気象庁 {KINDS.get(t['kind'] or '', '電文')}（{t['info_type'] or '-'}）",
                "detail": "；".join(x for x in (levels, t["reason"] or "") if x),
            }
        )
    for row in storage.automatic_messages_of_incident(incident_id):
        person = config.member_by_identity(row["user_id"]) if row["user_id"] else None
        rooms = {room.channel_id: room.title for room in config.rooms}
        target = rooms.get(row["channel_id"] or "", row["channel_id"] or "") or (
            person.name if person else (row["user_id"] or "")
        )
        entries.append(
            {
                "at": row["sent_at"] or row["created_at"],
                "kind": "jma-notice",
                "reportId": None,
                "title": f"自動通知（気象庁）: {target}",
                "detail": STATUS_LABELS.get(row["status"], row["status"]),
            }
        )
    return entries


def timeline_csv(entries: list[dict[str, Any]]) -> bytes:
    """The timeline as CSV (`csvexport`: a BOM for Excel, report texts never run as formulas)."""
    return to_csv(
        ["日時（日本時間）", "種別", "報告ID", "内容", "詳細"],
        ([local_time(e["at"]), e["kind"], e["reportId"] or "", e["title"], e["detail"]] for e in entries),
    )
