"""What a real tenant does that our emulator used not to: relayed files named from real
download answers (image callbacks carry no name), and a 403 for a missing scope told apart
from a room the bot has left. LINE WORKS is faked at the requests boundary."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import responses

from hotline import messages as msg
from hotline.clock import FixedClock
from hotline.config import Config
from hotline.config.settings import Credentials, Settings
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from tests.support.bot import API, BOT_ID, ROOT, T0, TOKEN, Bot, message_event
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import REPORT, UWAJIMA, member, room

CDN = "https://files.lw.test/abc"
BOTH_NAMES = "inline; filename=\"photo.jpg\"; filename*=UTF-8''%E5%86%99%E7%9C%9F.jpg"


def uploaded_names(lw: FakeLineWorks) -> list[str]:
    return [
        json.loads(call.request.body or b"{}")["fileName"]
        for call in lw.rsps.calls
        if call.request.method == "POST" and call.request.url == f"{API}/bots/{BOT_ID}/attachments"
    ]


@pytest.mark.parametrize(
    ("content", "headers", "name"),
    [
        # both forms: filename* wins (RFC 6266); the naive parse made `photo.jpg"; filename*=...`
        (
            {"type": "image"},
            {"Content-Disposition": BOTH_NAMES, "Content-Type": "image/jpeg"},
            "写真.jpg",
        ),
        # no header at all, as a CDN may answer: the extension comes from the Content-Type,
        # the name is never the fileId (jp1....0.0.0 made a ".0" extension)
        ({"type": "image"}, {"Content-Type": "image/png"}, "photo-2.png"),
        ({"type": "image"}, {"Content-Type": "image/jpeg; charset=binary"}, "photo-2.jpg"),
        ({"type": "file"}, {"Content-Type": "application/pdf"}, "file-2.pdf"),
        # a name with folders keeps only its last part; one without extension gets the type's
        (
            {"type": "file"},
            {
                "Content-Disposition": 'attachment; filename="../../被害状況"',
                "Content-Type": "application/pdf",
            },
            "被害状況.pdf",
        ),
        # a file callback that names its file (UNCONFIRMED field) is believed first
        (
            {"type": "file", "fileName": "避難所一覧.xlsx"},
            {"Content-Type": "application/octet-stream"},
            "避難所一覧.xlsx",
        ),
    ],
)
def test_relayed_attachments_keep_a_real_file_name(
    bot: Bot, lw: FakeLineWorks, content: dict[str, Any], headers: dict[str, str], name: str
) -> None:
    file_id = "jp1.1628695315008671000.1628781715.0.1000001.0.0.0"
    lw.rsps.add(
        responses.GET, f"{API}/bots/{BOT_ID}/attachments/{file_id}", status=302, headers={"Location": CDN}
    )
    lw.rsps.add(responses.GET, CDN, body=b"bytes", headers=headers)
    lw.rsps.add(
        responses.POST,
        f"{API}/bots/{BOT_ID}/attachments",
        json={"fileId": "new-file-9", "uploadUrl": "https://upload.lw.test/u/1"},
    )
    lw.rsps.add(responses.POST, "https://upload.lw.test/u/1", json={})
    poster = member(bot.config, UWAJIMA)
    group = room(bot.config, "group-team1")
    bot.say(uid(poster), REPORT, group)
    bot.drain()
    bot.post_event(message_event(uid(poster), {**content, "fileId": file_id}, group))
    bot.drain()
    assert uploaded_names(lw) == [name]


@pytest.fixture
def scoped_bot(
    request: pytest.FixtureRequest, tmp_path: Path, credentials: Credentials, sample_config: Config
) -> Iterator[Bot]:
    """A bot whose LW_API_SCOPE is the parameter (the token answer names no scope, so the
    client goes by what it asked for)."""
    settings = Settings(
        credentials=replace(credentials, scope=request.param),
        api_token=TOKEN,
        config_dir=ROOT,
        database=tmp_path / "s.sqlite3",
    )
    clock = FixedClock(T0)
    hotline = Hotline(settings, sample_config, clock=clock)
    yield Bot(hotline, create_app(hotline).test_client(), clock, sample_config)
    hotline.sender.shutdown()


@pytest.mark.parametrize(
    ("scoped_bot", "reason", "logged"),
    [
        (
            "user.read board",
            msg.MISSING_SCOPE_REASON,
            "lacks the scope this API needs (one of bot bot.message",
        ),
        ("bot user.read", msg.NOT_IN_ROOM_REASON, "the bot is not in room"),
    ],
    indirect=["scoped_bot"],
)
def test_a_missing_scope_is_not_reported_as_a_room_the_bot_left(
    scoped_bot: Bot, lw: FakeLineWorks, caplog: pytest.LogCaptureFixture, reason: str, logged: str
) -> None:
    bot = scoped_bot
    group = room(bot.config, "group-team1")
    lw.fail[group] = [403]  # {"code": "FORBIDDEN"}, as LINE WORKS answers both
    with caplog.at_level(logging.WARNING, logger="hotline.outbound.client"):
        bot.say(uid(member(bot.config, UWAJIMA)), REPORT, group)
        bot.drain()
    report = bot.client.get("/api/reports/1", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    (delivery,) = [d for d in report["deliveries"] if d["channelId"] == group]
    assert delivery["status"] == "failed" and delivery["error"] == reason
    notices = [t for t in lw.texts_to(room(bot.config, "hq")) if t.startswith("【配信失敗】")]
    assert notices and f"理由: {reason}" in notices[0]
    assert logged in caplog.text
