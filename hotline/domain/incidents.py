"""An incident as a record: its chronology (クロノロジー) and its export.

Records of a disaster are public documents; the timeline lists, with times, every report,
attachment, delivery, failure, receipt, reminder and acknowledgement.
"""

from __future__ import annotations

from typing import Any

from hotline.clock import jst_text
from hotline.config import Config
from hotline.domain.csvexport import to_csv
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
    entries.sort(key=lambda e: (e["at"], e["reportId"] or 0))
    return entries


def timeline_csv(entries: list[dict[str, Any]]) -> bytes:
    """The timeline as CSV (`csvexport`: a BOM for Excel, report texts never run as formulas)."""
    return to_csv(
        ["日時（日本時間）", "種別", "報告ID", "内容", "詳細"],
        ([local_time(e["at"]), e["kind"], e["reportId"] or "", e["title"], e["detail"]] for e in entries),
    )
