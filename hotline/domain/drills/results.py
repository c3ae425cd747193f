"""What a run produced and how a drill is shown: the summary (answer rate, safety counts,
arrival forecast per municipality, the silent, the unreached), each target's row (`people`),
the answer curve, the CSV of one row per target, and a drill as the API, pages and command
line see it.

未達 is not 未回答: a target whose question failed for good (the outbox row is `failed`, e.g.
the user does not exist) is counted as 未達 with the reason the sender recorded, never among
the silent, until a 再送 reaches them or they answer."""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
from datetime import datetime
from typing import Any

from hotline import messages
from hotline.clock import jst_text, parse_iso
from hotline.config import Config
from hotline.domain.csvexport import to_csv
from hotline.domain.drills.model import ARRIVAL_MINUTES, SAFETY
from hotline.storage import Storage


def current_answers(storage: Storage, run_id: int) -> dict[str, dict[str, str]]:
    """member -> question -> latest answer (history stays in the table)."""
    out: dict[str, dict[str, str]] = {}
    for a in storage.answers(run_id):
        out.setdefault(a["member_key"], {})[a["question"]] = a["answer"]
    return out


def undelivered(storage: Storage, run_id: int) -> dict[str, str]:
    """member -> why the question never reached them (未達), for the targets whose latest
    question (the first one or its 再送) failed for good; the outbox row keeps the reason."""
    latest: dict[str, sqlite3.Row] = {}
    for row in storage.run_questions(run_id):  # oldest first: a 再送 replaces the earlier row
        if row["user_id"]:
            latest[row["user_id"]] = row
    return {
        key: messages.drill_undelivered_reason(row["error"])
        for key, row in latest.items()
        if row["status"] == "failed"
    }


def mail_status(storage: Storage, run_id: int) -> dict[str, str]:
    """member -> the status of the newest fallback mail of the run's question to them
    (pending / sending / sent / failed); members no mail went to are absent."""
    out: dict[str, str] = {}
    for row in storage.run_mails(run_id):  # oldest first: the newest wins
        key = json.loads(row["content"]).get("member") or row["dedupe_key"].split(":", 3)[-1]
        out[str(key)] = row["status"]
    return out


MAIL_STATUS = {"pending": "送信待ち", "sending": "送信中", "sent": "送信済", "failed": "送信失敗"}


def people(storage: Storage, config: Config, run_id: int) -> list[dict[str, Any]]:
    """One entry per target, answered or not, in the order they were asked: the latest
    answers, when they first answered, their comments, who recorded an answer for them
    (代理回答), why the question did not reach them (未達), whether they answered by mail and
    the status of the question's fallback mail to them."""
    run = storage.run(run_id)
    fired = parse_iso(run["fired_at"]) if run is not None and run["fired_at"] else None
    deadline = parse_iso(run["deadline_at"]) if run is not None and run["deadline_at"] else None
    failed = undelivered(storage, run_id)
    mailed = mail_status(storage, run_id)
    mine: dict[str, list[sqlite3.Row]] = {}
    for a in storage.answers(run_id):
        mine.setdefault(a["member_key"], []).append(a)
    out = []
    for t in storage.targets(run_id):
        answers = mine.get(t["member_key"], [])
        current = {a["question"]: a for a in answers if a["question"] != "comment"}
        first = next((a for a in answers if a["question"] == "safety"), None)
        answered_at = parse_iso(first["answered_at"]) if first is not None else None
        code = t["municipality_code"] or ""
        person = config.member_by_identity(t["member_key"])
        role = t["role_title"] or (config.role_label(person) if person is not None else "")
        out.append(
            {
                "key": t["member_key"],
                "name": t["name"],
                "code": code or "hq",
                "town": config.municipalities[code].name if code in config.municipalities else config.hq_name,
                "role": role,
                "safety": current["safety"]["answer"] if "safety" in current else None,
                "arrival": current["arrival"]["answer"] if "arrival" in current else None,
                "answeredAt": answered_at,
                "minutes": (answered_at - fired).total_seconds() / 60 if answered_at and fired else None,
                "lateMinutes": (
                    (answered_at - deadline).total_seconds() / 60
                    if answered_at and deadline and first is not None and first["late"]
                    else None
                ),
                "comments": [a["answer"] for a in answers if a["question"] == "comment"],
                "proxyBy": next((a["recorded_by"] for a in reversed(answers) if a["recorded_by"]), None),
                "undelivered": None if first is not None else failed.get(t["member_key"]),
                # answered on the page of a fallback mail's link (drill_answers.via, m010)
                "byMail": any(a["via"] == "mail" for a in answers),
                "mail": mailed.get(t["member_key"]),  # the question's fallback mail: its status
            }
        )
    return out


def summary(storage: Storage, config: Config, run_id: int) -> dict[str, Any]:
    """Answer rate, safety counts, arrival forecast per municipality, the silent (未回答) and
    those the question never reached (未達, with the reason), answers recorded for someone."""
    run = storage.run(run_id)
    targets = storage.targets(run_id)
    answers = storage.answers(run_id)
    current = current_answers(storage, run_id)
    failed = undelivered(storage, run_id)
    fired = parse_iso(run["fired_at"]) if run and run["fired_at"] else None
    first_answer: dict[str, datetime] = {}
    anyone: set[str] = set()  # answered the safety question at all, late or not
    for a in answers:
        if a["question"] == "safety":
            anyone.add(a["member_key"])
            if not a["late"]:
                first_answer.setdefault(a["member_key"], parse_iso(a["answered_at"]))
    lost = {t["member_key"]: failed[t["member_key"]] for t in targets if t["member_key"] in failed}
    for key in anyone:
        lost.pop(key, None)  # it reached them after all (a 再送, or they answered another way)
    answered = [t for t in targets if t["member_key"] in first_answer]
    towns: dict[str, dict[str, Any]] = {}
    for t in targets:
        code = t["municipality_code"] or "hq"
        name = config.municipalities[code].name if code in config.municipalities else config.hq_name
        town = towns.setdefault(
            code,
            {
                "code": code,
                "name": name,
                "targets": 0,
                "answered": 0,
                "undelivered": 0,
                "by30": 0,
                "by60": 0,
                "by180": 0,
                "cannot": 0,
            },
        )
        town["targets"] += 1
        mine = current.get(t["member_key"], {})
        if t["member_key"] in first_answer:
            town["answered"] += 1
        if t["member_key"] in lost:
            town["undelivered"] += 1
        minutes = ARRIVAL_MINUTES.get(mine.get("arrival", ""), -1)
        if minutes is None:
            town["cannot"] += 1
        elif minutes >= 0:
            for limit in (30, 60, 180):
                if minutes <= limit:
                    town[f"by{limit}"] += 1
    safety = {choice: 0 for choice in SAFETY}
    for mine in current.values():
        if mine.get("safety") in safety:
            safety[mine["safety"]] += 1
    delays = sorted((at - fired).total_seconds() / 60 for at in first_answer.values()) if fired else []
    return {
        "targets": len(targets),
        "answered": len(answered),
        "answerRate": round(len(answered) / len(targets), 3) if targets else 0.0,
        "lateAnswers": sum(1 for a in answers if a["late"]),
        "safety": safety,
        "medianMinutesToAnswer": round(statistics.median(delays), 1) if delays else None,
        "municipalities": list(towns.values()),
        "silent": [
            t["name"] for t in targets if t["member_key"] not in first_answer and t["member_key"] not in lost
        ],
        "undelivered": [
            {"key": t["member_key"], "name": t["name"], "reason": lost[t["member_key"]]}
            for t in targets
            if t["member_key"] in lost
        ],
        "proxyAnswers": len({a["member_key"] for a in answers if a["recorded_by"]}),
    }


def answer_curve(storage: Storage, run_id: int) -> list[dict[str, Any]]:
    """Answer rate over time: one point per on-time answer (for the live chart)."""
    run = storage.run(run_id)
    targets = len(storage.targets(run_id))
    if run is None or not run["fired_at"] or not targets:
        return []
    fired = parse_iso(run["fired_at"])
    seen: set[str] = set()
    points = [{"minutes": 0.0, "rate": 0.0}]
    for a in storage.answers(run_id):
        if a["question"] == "safety" and not a["late"] and a["member_key"] not in seen:
            seen.add(a["member_key"])
            points.append(
                {
                    "minutes": round((parse_iso(a["answered_at"]) - fired).total_seconds() / 60, 2),
                    "rate": round(len(seen) / targets, 3),
                }
            )
    return points


CSV_HEADER = [
    "市町",
    "役職",
    "氏名",
    "安否",
    "参集見込み",
    "回答時刻",
    "遅れ",
    "コメント",
    "未達",
    "代理回答",
    "回答経路",
    "質問のメール",
]


def _channel(person: dict[str, Any]) -> str:
    """How the answers came (回答経路): by mail, as 代理回答, else LINE WORKS; "" when none."""
    if person["byMail"]:
        return "メール"
    if person["proxyBy"]:
        return "代理回答"
    return "LINE WORKS" if person["answeredAt"] or person["comments"] else ""


def csv(storage: Storage, config: Config, run_id: int) -> bytes:
    """One row per target, answered or not (UTF-8 with a BOM so that Excel reads Japanese):
    the latest answers, when they first answered (JST), how late after the deadline, every
    comment, why the question did not reach them (未達) and who recorded it for them."""
    rows = []
    for p in people(storage, config, run_id):
        late = p["lateMinutes"]
        rows.append(
            [
                p["town"],
                p["role"],
                p["name"],
                p["safety"] or ("" if p["undelivered"] else "未回答"),
                p["arrival"] or "",
                jst_text(p["answeredAt"], "%Y-%m-%d %H:%M:%S") if p["answeredAt"] else "",
                f"締め切り後 {math.ceil(late)}分" if late is not None else "",
                " / ".join(p["comments"]),
                p["undelivered"] or "",
                f"代理回答（{p['proxyBy']}）" if p["proxyBy"] else "",
                _channel(p),
                MAIL_STATUS.get(p["mail"] or "", ""),
            ]
        )
    # A comment such as =HYPERLINK(...) stays text when Excel opens the file (csvexport).
    return to_csv(CSV_HEADER, rows)


def public(storage: Storage, drill: sqlite3.Row) -> dict[str, Any]:
    """A drill as the API shows it: an unannounced drill's moment stays hidden until fired."""
    runs = storage.runs(drill["id"])
    hidden = drill["schedule"] == "window" and not runs
    return {
        "id": drill["id"],
        "title": drill["title"],
        "kind": drill["kind"],
        "schedule": drill["schedule"],
        "runAt": None if hidden else drill["run_at"],
        "cron": drill["cron"],
        "window": {"start": drill["window_start"], "end": drill["window_end"]}
        if drill["window_start"]
        else None,
        "status": drill["status"],
        "targets": json.loads(drill["targets"]),
        "deadlineMinutes": drill["deadline_minutes"],
        "remindMinutes": json.loads(drill["remind_minutes"]),
        "runs": [
            {
                "id": r["id"],
                "scheduledFor": r["scheduled_for"],
                "firedAt": r["fired_at"],
                "deadlineAt": r["deadline_at"],
                "status": r["status"],
            }
            for r in runs
        ],
    }
