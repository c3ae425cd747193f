"""The JMA telegrams page (`/dashboard/telegrams`): every telegram received from the feed,
newest first, with what hotline made of it (acted on, recorded only, refused and why) and the
intensity or tsunami category it gave each configured municipality.

Every account may look (hotline/web/auth's `protect`).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, render_template

from hotline.clock import jst_text
from hotline.domain.earthquakes.model import KINDS
from hotline.domain.earthquakes.response import level_text
from hotline.web import auth
from hotline.web.context import TO_THE_MINUTE, current_hotline

PAGE_SIZE = 200
STATUS_LABELS = {
    "new": "処理待ち",
    "done": "処理済み",
    "ignored": "記録のみ",
    "refused": "拒否（不正な電文）",
    "failed": "失敗",
}

telegrams = Blueprint("telegrams", __name__, url_prefix="/dashboard/telegrams")

auth.protect(telegrams, None)  # None: any logged-in account


@telegrams.get("/")
def index() -> str:
    hotline = current_hotline()
    config = hotline.config()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in hotline.storage.telegrams(PAGE_SIZE):
        towns = json.loads(row["towns"] or "{}")
        seen.update(towns)
        rows.append(
            {
                "id": row["id"],
                "receivedAt": jst_text(row["received_at"], TO_THE_MINUTE),
                "kind": KINDS.get(row["kind"] or "", "—"),
                "drill": row["control_status"] not in (None, "通常"),
                "controlStatus": row["control_status"] or "—",
                "infoType": row["info_type"] or "—",
                "eventId": row["event_id"] or "—",
                "originAt": jst_text(row["origin_at"], TO_THE_MINUTE) if row["origin_at"] else "—",
                "status": row["status"],
                "statusLabel": STATUS_LABELS.get(row["status"], row["status"]),
                "reason": row["reason"] or "",
                "towns": {code: level_text(level) for code, level in towns.items()},
            }
        )
    columns = [(code, muni.name) for code, muni in config.municipalities.items() if code in seen]
    feed = hotline.settings.jma_feed_url
    state = hotline.storage.feed_state(feed) if feed else None
    return render_template(
        "telegrams.html",
        telegrams=rows,
        columns=columns,
        feed_url=feed,
        last_ok_at=jst_text(state["last_ok_at"], TO_THE_MINUTE) if state and state["last_ok_at"] else "",
        failing_since=jst_text(state["failing_since"], TO_THE_MINUTE)
        if state and state["failing_since"]
        else "",
        earthquake=config.earthquake,
        tsunami=config.tsunami,
        threshold=level_text(config.earthquake.min_intensity) if config.earthquake else "",
    )
