"""The emulator's talk page in real headless chromium (Debian's /usr/bin/chromium)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from playwright.sync_api import Browser, Page, expect

from lineworks_emulator import Emulator
from tests.support.emulator import (
    BOT_ID,
    CHANNEL,
    FakeClock,
    Receiver,
    auth,
    make_jwt,
    make_seed,
    request_token,
    wait_until,
)

UI_TIMEOUT_MS = 10_000
HANAKO, TARO = "u-hanako-0001", "u-taro-0002"


@pytest.fixture
def setup() -> Iterator[tuple[Emulator, Receiver, requests.Session, str]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    clock = FakeClock()
    emu = Emulator(make_seed(public.decode()), clock=clock)
    emu.start()
    receiver = Receiver()
    emu.set_callback_url(receiver.url)
    http = requests.Session()
    http.trust_env = False
    token = request_token(http, emu, make_jwt(private, clock.now)).json()["access_token"]
    try:
        yield emu, receiver, http, token
    finally:
        http.close()
        receiver.close()
        emu.stop()


def open_as(browser: Browser, base: str, user_id: str) -> Page:
    """A fresh browser context where ``user_id`` has picked themselves and opened the room."""
    page = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo").new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(base + "/")
    page.get_by_test_id("user-select").select_option(user_id)
    page.locator(f'[data-testid="room-item"][data-channel-id="{CHANNEL}"]').click()
    expect(page.get_by_test_id("room-title")).to_have_text("南予グループ")
    return page


def test_two_people_in_the_talk_page(
    browser: Browser, setup: tuple[Emulator, Receiver, requests.Session, str]
) -> None:
    emu, receiver, http, token = setup
    assert emu.base_url is not None
    expect.set_options(timeout=UI_TIMEOUT_MS)

    # Person A picks themselves, opens the room and posts a first report.
    page_a = open_as(browser, emu.base_url, HANAKO)
    select = page_a.get_by_test_id("user-select")
    assert "宇和島 花子（副市長）" in select.inner_text()
    report = "第一報：宇和島市で浸水被害 <b>至急</b>"
    page_a.get_by_test_id("message-input").fill(report)
    page_a.get_by_test_id("send-button").click()
    mine = page_a.locator(f'[data-testid="message"][data-sender="{HANAKO}"]')
    expect(mine).to_have_count(1)
    expect(mine.get_by_test_id("bubble")).to_have_text(report)  # escaped, not parsed as HTML
    assert emu.drain_callbacks(5)

    def event_types() -> list[tuple[str, Any]]:
        return [(e["type"], e.get("content")) for e in receiver.events()]

    assert event_types() == [("message", {"type": "text", "text": report})]

    # The bot answers in the room with a button template.
    content = {
        "type": "button_template",
        "contentText": '<m userId="all"> 【訓練】第一報を受信しました。確認してください。',
        "actions": [
            {"type": "message", "label": "確認しました", "postback": "ack:inc-1"},
            {"type": "uri", "label": "詳細", "uri": "https://example.org/inc-1"},
        ],
    }
    resp = http.post(
        f"{emu.api_base_url}/bots/{BOT_ID}/channels/{CHANNEL}/messages",
        json={"content": content},
        headers=auth(token),
        timeout=10,
    )
    assert resp.status_code == 201
    bot_msg_a = page_a.locator('[data-testid="message"][data-sender="bot"]')
    expect(bot_msg_a).to_have_count(1)  # A's page picks it up by polling
    expect(bot_msg_a.get_by_test_id("bubble")).to_contain_text("@All 【訓練】第一報を受信しました")

    # Person B opens the room and taps the button.
    page_b = open_as(browser, emu.base_url, TARO)
    bot_msg_b = page_b.locator('[data-testid="message"][data-sender="bot"]')
    expect(bot_msg_b.get_by_test_id("sender")).to_have_text("hotline bot")
    bot_msg_b.get_by_test_id("action-button").filter(has_text="確認しました").click()
    taro_says = page_b.locator(f'[data-testid="message"][data-sender="{TARO}"]')
    expect(taro_says.get_by_test_id("bubble")).to_have_text("確認しました")

    def ack_delivered() -> bool:
        for cb in emu.snapshot()["callbacks"]:
            ev = cb["event"]
            if ev["type"] == "message" and ev["content"].get("postback") == "ack:inc-1":
                assert ev["source"] == {"userId": TARO, "channelId": CHANNEL, "domainId": 40029600}
                assert ev["content"] == {
                    "type": "text",
                    "text": "確認しました",
                    "postback": "ack:inc-1",
                }
                assert cb["status"] == 200
                return True
        return False

    wait_until(ack_delivered, timeout=10)
    raw = [json.loads(body) for body, _ in receiver.received]
    assert [e["type"] for e in raw] == ["message", "message"]

    # Read counts: B opened the room, so A sees 「既読 1」 on the first report; both people
    # have seen the bot's message.
    expect(mine.get_by_test_id("read-count")).to_have_text("既読 1")
    expect(bot_msg_b.get_by_test_id("read-count")).to_have_text("既読 2")
    expect(bot_msg_b.get_by_test_id("time")).to_have_text(
        wait_until(lambda: emu.snapshot()["rooms"][0]["messages"][1]["hhmm"])
    )
    page_a.context.close()
    page_b.context.close()


def test_quick_reply_chip_sends_postback(
    browser: Browser, setup: tuple[Emulator, Receiver, requests.Session, str]
) -> None:
    emu, receiver, http, token = setup
    assert emu.base_url is not None
    expect.set_options(timeout=UI_TIMEOUT_MS)
    content = {
        "type": "text",
        "text": "【訓練】職員参集確認：安否を選んでください",
        "quickReply": {
            "items": [
                {
                    "action": {
                        "type": "postback",
                        "label": "無事・出勤可",
                        "data": "rollcall:r1:ok",
                        "displayText": "無事です。出勤できます",
                    }
                }
            ]
        },
    }
    resp = http.post(
        f"{emu.api_base_url}/bots/{BOT_ID}/users/{TARO}/messages",
        json={"content": content},
        headers=auth(token),
        timeout=10,
    )
    assert resp.status_code == 201
    page = browser.new_context(locale="ja-JP").new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(emu.base_url + "/?user=" + TARO)
    page.locator('[data-testid="room-item"][data-room-key="dm:u-taro-0002"]').click()
    page.get_by_test_id("quick-reply").filter(has_text="無事・出勤可").click()
    taro_says = page.locator(f'[data-testid="message"][data-sender="{TARO}"]')
    expect(taro_says.get_by_test_id("bubble")).to_have_text("無事です。出勤できます")
    expect(page.get_by_test_id("quick-reply")).to_have_count(0)
    assert emu.drain_callbacks(5)
    events = receiver.events()
    assert len(events) == 1
    assert events[0]["type"] == "postback"
    assert events[0]["data"] == "rollcall:r1:ok"
    # bot-callback-postback: source.channelId is required, in a 1:1 room too
    source = events[0]["source"]
    assert (source["userId"], source["domainId"]) == (TARO, 40029600) and source["channelId"]
    page.context.close()
