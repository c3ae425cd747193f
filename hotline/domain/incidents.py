"""An incident as a record: its chronology (クロノロジー) and its export.

Records of a disaster are public documents; the timeline lists, with times, every report,
attachment, delivery, failure, receipt, reminder and acknowledgement.
"""

from __future__ import annotations

import sqlite3
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
# A chronology entry's kind (種別) as a person reads it, on the page and in the CSV: the outbox
# rows by purpose, except that a "report" entry is the report itself and a "delivery" its relay.
KIND_LABELS = {
    **PURPOSE_LABELS,
    "report": "報告",
    "delivery": PURPOSE_LABELS["report"],
    "attachment": "添付",
    "ack": "確認",
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
    reports = storage.reports_of_incident(incident_id)
    names = _PersonNames(storage, config, reports)
    by_channel = {room.channel_id: room.title for room in config.rooms}
    for report in reports:
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
        where = titles.get(row["room_key"] or "", row["room_key"] or "") or by_channel.get(
            row["channel_id"], ""
        )
        # A receipt goes to the poster, in the room they posted in or 1:1: name them either way.
        who = names.poster(row["report_id"]) if row["purpose"] == "receipt" else names.of(row["user_id"])
        target = f"{who}（{where}）" if who and where else (who or where)
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


class _PersonNames:
    """The names of the people messages went to, for the record: never a raw LINE WORKS userId.
    A report's poster by the report (a receipt goes to them); anyone else by a configured
    member's userId, else the incident's poster with that userId (not always configured by it),
    else who the directory said it was (the identities table), else a placeholder."""

    UNKNOWN = "（氏名不明の相手）"

    def __init__(self, storage: Storage, config: Config, reports: list[sqlite3.Row]) -> None:
        self._storage, self._config = storage, config
        self._known: dict[str, str] = {str(r["poster_user_id"]): str(r["poster_name"]) for r in reports}
        self._posters: dict[int, str] = {int(r["id"]): str(r["poster_name"]) for r in reports}

    def poster(self, report_id: int | None) -> str:
        return self._posters.get(report_id or 0, "")

    def of(self, user_id: str | None) -> str:
        if not user_id:
            return ""
        person = self._config.member_by_identity(user_id)
        if person is not None:
            return person.name
        if user_id not in self._known:
            self._known[user_id] = self._looked_up(user_id)
        return self._known[user_id]

    def _looked_up(self, user_id: str) -> str:
        row = self._storage.identity(user_id)
        if row is None:
            return self.UNKNOWN
        member = self._config.member_by_identity(row["email"]) if row["email"] else None
        return member.name if member else str(row["name"] or self.UNKNOWN)


def _kind_label(entry: dict[str, Any]) -> str:
    kind: str = entry["kind"]
    return KIND_LABELS.get(kind, kind)


def timeline_csv(entries: list[dict[str, Any]]) -> bytes:
    """The timeline as CSV (`csvexport`: a BOM for Excel, report texts never run as formulas)."""
    return to_csv(
        ["日時（日本時間）", "種別", "報告ID", "内容", "詳細"],
        (
            [local_time(e["at"]), _kind_label(e), e["reportId"] or "", e["title"], e["detail"]]
            for e in entries
        ),
    )
