"""Creating a drill through the coordinator's form (confirm, then create) in the Flask test client."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

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
