"""The demo as a person sees it, in real headless Chromium: a deputy mayor posts a first
report on the talk page, a supporter city's member sees it in the room and taps
「確認しました」, and hotline records the acknowledgement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hotline.config import Config, Member
from hotline.demo import demo_user_id
from hotline.demo.stack import LiveStack, wait_until

UI_TIMEOUT_MS = 15_000


@pytest.fixture
def live(tmp_path: Path, sample_config: Config) -> Iterator[LiveStack]:
    stack = LiveStack(sample_config, tmp_path / "talk.sqlite3")
    yield stack
    stack.stop()


def open_room(browser: Browser, base: str, member: Member, channel_id: str) -> Page:
    page = browser.new_context(
        locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1100, "height": 800}
    )
    tab = page.new_page()
    tab.set_default_timeout(UI_TIMEOUT_MS)
    tab.goto(base + "/")
    tab.get_by_test_id("user-select").select_option(demo_user_id(member))
    tab.locator(f'[data-testid="room-item"][data-channel-id="{channel_id}"]').click()
    return tab


def test_report_typed_on_the_talk_page_is_relayed_and_acknowledged(
    live: LiveStack, browser: Browser, sample_config: Config, tmp_path: Path
) -> None:
    group = next(r for r in sample_config.rooms if r.key == "group-team1")
    deputy = sample_config.municipalities["382035"].members[0]
    supporter = sample_config.municipalities["382027"].members[0]  # 今治市, a secondary supporter

    page = open_room(browser, live.base, deputy, group.channel_id)
    expect(page.get_by_test_id("room-title")).to_have_text(group.title)
    page.get_by_test_id("message-input").fill("第一報 午前3時頃から大雨、市内3か所で土砂崩れ、人的被害確認中")
    page.get_by_test_id("send-button").click()

    # hotline relays it back into the room with the button, and sends her the receipt.
    relayed = page.get_by_test_id("message").filter(has_text="【第一報】宇和島市 副市長")
    expect(relayed).to_have_count(1)
    expect(relayed.get_by_test_id("action-button")).to_have_text("確認しました")
    expect(page.get_by_test_id("message").filter(has_text="3か所すべてに届きました")).to_have_count(1)

    other = open_room(browser, live.base, supporter, group.channel_id)
    report = other.get_by_test_id("message").filter(has_text="【第一報】宇和島市 副市長")
    report.get_by_test_id("action-button").click()
    # The tap shows as her message in the room, as in LINE WORKS...
    expect(other.get_by_test_id("message").filter(has_text="確認しました").last).to_be_visible()
    # ...the first page sees it arrive without a reload...
    expect(page.get_by_test_id("message").filter(has_text=supporter.name)).not_to_have_count(0)
    # ...and hotline has recorded who acknowledged.
    incident = live.api("/api/incidents")["incidents"][0]
    report_id = live.api(f"/api/incidents/{incident['id']}")["reports"][0]["id"]
    acks = wait_until(lambda: live.api(f"/api/reports/{report_id}")["acknowledgedBy"], message="the ack")
    assert [a["municipality"] for a in acks] == ["382027"]
    page.screenshot(path=str(tmp_path / "talk-page.png"))
