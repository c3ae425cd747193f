"""Creating a drill through the coordinator's form (confirm, then create) in the Flask test client,
or directly (fired at a moment), and a target tapping or typing their answers."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask.testing import FlaskClient

from hotline.config import Member
from hotline.domain.drills import Targets
from tests.support.bot import Bot, message_event
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import UWAJIMA
from tests.support.web import csrf_of

BASE = "/dashboard/drills"


def token(client: FlaskClient) -> str:
    return csrf_of(client.get(f"{BASE}/new").text)


def form(**fields: Any) -> dict[str, Any]:
    """A creation form: 宇和島市 on 21 Nov 09:00 JST unless told otherwise."""
    out: dict[str, Any] = {
        "title": "11月 参集訓練",
        "kind": "drill",
        "municipality": [UWAJIMA],
        "when": "at",
        "at": "2026-11-21T09:00",
        "deadline_minutes": "60",
        "remind_minutes": "10,20",
    }
    out.update(fields)
    return out


def post_new(client: FlaskClient, step: str, **fields: Any) -> Any:
    return client.post(f"{BASE}/new", data={**form(**fields), "step": step, "csrf_token": token(client)})


def create(client: FlaskClient, **fields: Any) -> int:
    """Through the form: confirm, then create. Returns the new drill's id."""
    confirmed = post_new(client, "confirm", **fields)
    assert confirmed.status_code == 200, confirmed.text
    response = post_new(client, "create", **fields)
    assert response.status_code == 302, response.text
    match = re.fullmatch(rf"{BASE}/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def tap(bot: Bot, lw: FakeLineWorks, person: Member, choice: str) -> None:
    """Tap `choice` in the newest question the person got 1:1 (as LINE WORKS posts it back)."""
    for _, target, content in reversed(lw.sent):
        if target not in (person.key, uid(person)):
            continue
        for action in content.get("actions", []):
            if action["label"] == choice:
                event = {"type": "text", "text": choice, "postback": action["postback"]}
                assert bot.post_event(message_event(uid(person), event)).status_code == 200
                bot.drain()
                return
    raise AssertionError(f"{person.name} has no button {choice}")


def type_text(bot: Bot, person: Member, text: str) -> None:
    """The person types `text` to the bot 1:1."""
    assert bot.post_event(message_event(uid(person), {"type": "text", "text": text})).status_code == 200
    bot.drain()


def fire_drill(bot: Bot, at: datetime) -> int:
    """The usual drill: 宇和島市's staff, fired at `at` (the clock moves there) and its questions
    sent; the run's id."""
    bot.hotline.drills.create(title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=at)
    bot.clock.current = at
    (run_id,) = bot.hotline.drills.run_due()
    bot.drain()
    return run_id
