"""An incident as a record: its chronology (クロノロジー) and its export.

Records of a disaster are public documents; the timeline lists, with times, every report,
attachment, delivery, failure, receipt, reminder and acknowledgement.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from hotline.clock import jst_text
from hotline.config import Config
from hotline.domain import recipients
from hotline.domain.csvexport import to_csv
from hotline.domain.earthquakes.model import KINDS
from hotline.domain.earthquakes.response import level_text
from hotline.domain.recipients import HQ
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
    "mail_report": "メール代替",  # the report by e-mail: LINE WORKS did not bring it (reports.fallback)
    # not outbox purposes: the chronology's entries for JMA telegrams and what they started
    "jma": "気象庁の電文",
    "jma-notice": "自動通知（気象庁）",
}
# An incident's lifecycle in the chronology (incident_events.action)
LIFECYCLE_LABELS = {"close": "終了", "reopen": "再開"}
# A chronology entry's kind (種別) as a person reads it, on the page and in the CSV: the outbox
# rows by purpose, except that a "report" entry is the report itself and a "delivery" its relay.
KIND_LABELS = {
    **PURPOSE_LABELS,
    "report": "報告",
    "delivery": PURPOSE_LABELS["report"],
    "attachment": "添付",
    "ack": "確認",
    **LIFECYCLE_LABELS,
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
    """Every event of the incident in time order: {at, kind, reportId, title, detail}.

    Names (towns, rooms, people) are those each report was relayed to (`recipients`), so a
    later configuration edit never rewrites the chronology; only what no report froze (a
    report relayed before recipients were recorded) is looked up in today's configuration."""
    reports = storage.reports_of_incident(incident_id)
    by_id = {r["id"]: r for r in reports}
    sent_to = recipients.of_incident(storage, config, [r for r in reports if r["kind"] != "attachment"])
    # an attachment follows its report: same rooms, same people
    for r in reports:
        if r["kind"] == "attachment" and r["parent_report_id"] in sent_to:
            sent_to[r["id"]] = sent_to[r["parent_report_id"]]
    titles = {room.key: room.title for room in config.rooms}  # for rows no report froze
    frozen_titles = {
        report_id: {room.key: room.title for room in found.rooms} for report_id, found in sent_to.items()
    }

    def town_name(report_id: int | None, code: str | None) -> str:
        found = sent_to.get(report_id or 0)
        name = found.town_name(code or HQ) if found is not None else None
        if name:
            return name
        if code is None:
            return config.hq_name
        muni = config.municipalities.get(code)
        return muni.name if muni else code

    def person_name(report_id: int | None, identity: str) -> str | None:
        found = sent_to.get(report_id or 0)
        if found is not None:
            person = found.person_by_identity(identity)
            if person is None:  # a userId the configuration did not name: its cached e-mail
                cached = storage.identity(identity)
                person = found.person_by_identity(identity, cached["email"] if cached is not None else None)
            if person is not None:
                return person.name
        member = config.member_by_identity(identity)
        return member.name if member else None

    entries: list[dict[str, Any]] = []
    names = _PersonNames(storage, config, reports)
    by_channel = {room.channel_id: room.key for room in config.rooms if room.channel_id}
    for report in reports:
        town = town_name(report["id"], report["municipality_code"])
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
        waiting = (
            row["status"] == "pending" and row["attempts"] == 0 and row["next_attempt_at"] > row["created_at"]
        )
        if row["channel"] == "mail" and (row["status"] == "cancelled" or waiting):
            continue  # a fallback mail that waits its turn, or was not needed, is no event of the record
        if row["status"] in ("pending", "sending"):
            at, state = row["created_at"], STATUS_LABELS[row["status"]]
        else:
            at, state = row["sent_at"] or row["created_at"], STATUS_LABELS.get(row["status"], row["status"])
        # A row without a room key (a receipt in the room the poster wrote in) is placed by its
        # channel; its title is then the frozen one like any room's.
        key = row["room_key"] or by_channel.get(row["channel_id"] or "", "")
        where = frozen_titles.get(row["report_id"] or 0, {}).get(key) or titles.get(key, key) if key else ""
        # A receipt goes to the poster, in the room they posted in or 1:1: name them either way.
        # Anyone else by the name the report froze, else by `_PersonNames` (never a raw userId).
        if row["purpose"] == "receipt":
            who = names.poster(row["report_id"])
        elif row["user_id"]:
            who = person_name(row["report_id"], row["user_id"]) or names.of(row["user_id"])
        elif row["channel"] == "mail":
            who = f"{json.loads(row['content']).get('name') or ''} {row['address'] or ''}".strip()
        else:
            who = ""
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
        name = person_name(ack["report_id"], ack["member_key"]) or ack["member_key"]
        who = f"{town_name(ack['report_id'], ack['municipality_code'])} {name}"
        acked = by_id.get(ack["report_id"])
        entries.append(
            {
                "at": ack["acked_at"],
                "kind": "ack",
                "reportId": ack["report_id"],
                "title": f"確認: {who}",
                # reply: a town's answer to an HQ instruction (domain/instructions)
                "detail": {"tap": "ボタン", "reply": "回答", "mail": "メール"}.get(ack["via"], "書き込み")
                + (f"（{acked['label']}）" if acked is not None else ""),
            }
        )
    for event in storage.incident_events(incident_id):
        entries.append(
            {
                "at": event["at"],
                "kind": event["action"],
                "reportId": None,
                "title": f"{LIFECYCLE_LABELS.get(event['action'], event['action'])}: {event['by']}",
                "detail": event["note"],
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


# -- lifecycle: 対応中 (open) → 終了 (closed) with a note, and reopened -------------------------

NOTE_LIMIT = 1000


class LifecycleError(ValueError):
    """A close or reopen that cannot be done (the message is Japanese, for the page)."""


def close(storage: Storage, incident_id: int, *, by: str, note: str, at: str) -> None:
    """Close an open incident with a closing note (required), recorded in its chronology.
    After closing, a 第一報 from the town opens a new incident and a 続報 reopens this one
    (`reopen_for_followup`)."""
    note = note.strip()
    if not note:
        raise LifecycleError("終了の理由・引き継ぎ事項（終了メモ）を書いてください。")
    if len(note) > NOTE_LIMIT:
        raise LifecycleError(f"終了メモは{NOTE_LIMIT}文字以内で書いてください。")
    with storage.transaction():
        if not storage.set_incident_status(incident_id, "closed", "open"):
            raise LifecycleError("この災害は対応中ではありません（すでに終了しています）。")
        storage.add_incident_event(incident_id, "close", at, by, note)


def reopen(storage: Storage, incident_id: int, *, by: str, note: str, at: str) -> None:
    """Reopen a closed incident (the note, the reason, is optional). Refused while the town
    has another incident open: a newer 第一報 started it, and reports join that one."""
    note = note.strip()
    if len(note) > NOTE_LIMIT:
        raise LifecycleError(f"再開の理由は{NOTE_LIMIT}文字以内で書いてください。")
    with storage.transaction():
        row = storage.incident(incident_id)
        if row is None or row["status"] != "closed":
            raise LifecycleError("この災害は終了していません。")
        other = storage.open_incident(row["municipality_code"])
        if other is not None:
            raise LifecycleError(
                f"この市町には対応中の災害（ID {other['id']}）があります。先にそちらを終了してください。"
            )
        storage.set_incident_status(incident_id, "open", "closed")
        storage.add_incident_event(incident_id, "reopen", at, by, note)


def reopen_for_followup(storage: Storage, code: str, *, by: str, at: str) -> int | None:
    """A 続報 from a town with no open incident reopens the town's newest incident (HQ closed
    it, and the town is still reporting on the same disaster): the follow-up stays in the same
    record, and the chronology says it was reopened and by whom. Returns its id; None when the
    town never had one (the 続報 then opens a new incident, as a 第一報 would). Joins the
    caller's transaction."""
    latest = storage.latest_incident(code)
    if latest is None or not storage.set_incident_status(latest["id"], "open", "closed"):
        return None
    storage.add_incident_event(latest["id"], "reopen", at, by, REOPENED_BY_FOLLOWUP)
    return int(latest["id"])


REOPENED_BY_FOLLOWUP = "終了後に続報が届いたため、自動で再開しました"
SUPERSEDED = "同じ市町から新しい第一報が届いたため、新しい災害として記録を分けました"
