"""What a run produced and how a drill is shown: the summary (answer rate, safety counts,
arrival forecast per municipality, the silent), the answer curve, the CSV of every answer,
and a drill as the API, pages and command line see it."""

from __future__ import annotations

import json
import sqlite3
import statistics
from datetime import datetime
from typing import Any

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


def summary(storage: Storage, config: Config, run_id: int) -> dict[str, Any]:
    """Answer rate, safety counts, arrival forecast per municipality, the silent."""
    run = storage.run(run_id)
    targets = storage.targets(run_id)
    answers = storage.answers(run_id)
    current = current_answers(storage, run_id)
    fired = parse_iso(run["fired_at"]) if run and run["fired_at"] else None
    first_answer: dict[str, datetime] = {}
    for a in answers:
        if a["question"] == "safety" and not a["late"]:
            first_answer.setdefault(a["member_key"], parse_iso(a["answered_at"]))
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
        "silent": [t["name"] for t in targets if t["member_key"] not in first_answer],
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


def csv(storage: Storage, config: Config, run_id: int) -> bytes:
    """Every answer, history included, UTF-8 with a BOM so that Excel reads Japanese."""
    names = {t["member_key"]: (t["name"], t["municipality_code"] or "") for t in storage.targets(run_id)}
    labels = {"safety": "安否", "arrival": "参集", "comment": "コメント"}
    rows = []
    for a in storage.answers(run_id):
        name, code = names.get(a["member_key"], (a["member_key"], ""))
        town = config.municipalities[code].name if code in config.municipalities else config.hq_name
        rows.append(
            [
                town,
                name,
                labels[a["question"]],
                a["answer"],
                jst_text(a["answered_at"]),
                "はい" if a["late"] else "",
            ]
        )
    # A comment such as =HYPERLINK(...) stays text when Excel opens the file (csvexport).
    return to_csv(["市町", "氏名", "質問", "回答", "回答日時（日本時間）", "締め切り後"], rows)


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
