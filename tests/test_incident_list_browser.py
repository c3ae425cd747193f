"""The incident list in real headless Chromium against a live stack: a new 第一報 from another
town appears without a reload, the tab's title counts it until HQ marks it read, and the two
opt-in alerts (a beep, desktop notifications) turn on with a button press."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hotline.config import Config
from hotline.demo.stack import LiveStack, wait_until
from tests.support.browser import logged_in_page

UWAJIMA = "382035"
IMABARI = "382027"
POLL_DEADLINE_S = 5.0  # the issue: the list refreshes itself within 5 s
BASE_TITLE = "災害一覧 - 県災害対策本部ダッシュボード"

# Counts the desktop notifications the page shows (the browser's own popup cannot be read).
COUNT_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  class Counted extends Real {
    constructor(title, options) { super(title, options); window.__notifications.push(title); }
  }
  window.Notification = Counted;
})();
"""


@pytest.fixture
def live(tmp_path: Path, sample_config: Config) -> Iterator[LiveStack]:
    stack = LiveStack(sample_config, tmp_path / "list.sqlite3")
    yield stack
    stack.stop()


def group_channel(config: Config) -> str:
    return next(r.channel_id for r in config.rooms if r.key == "group-team1")


def first_report(live: LiveStack, config: Config, code: str, text: str) -> int:
    """A member of town `code` posts `text` in the group room; the incident's id once stored."""
    member = config.municipalities[code].members[0]
    assert live.say(member, text, group_channel(config))["status"] == 200

    def stored() -> int | None:
        return next(
            (row["id"] for row in live.hotline.storage.incidents() if row["municipality_code"] == code), None
        )

    found: int = wait_until(stored, message=f"the incident of {code}")
    return found


def within_poll(page: Page, testid: str) -> float:
    """Seconds until the element `testid` is on the page (Playwright polls it against the
    deadline); fails after POLL_DEADLINE_S."""
    start = time.monotonic()
    page.get_by_test_id(testid).wait_for(state="attached", timeout=POLL_DEADLINE_S * 1000)
    return time.monotonic() - start


def test_a_new_first_report_appears_without_reload_and_counts_in_the_title(
    live: LiveStack, browser: Browser, sample_config: Config
) -> None:
    first_report(live, sample_config, UWAJIMA, "第一報 大雨で土砂崩れ、人的被害確認中")
    page = logged_in_page(browser, live.url, live.hotline.storage, live.hotline.clock.now())
    expect(page.get_by_test_id("incident-link")).to_have_text(["宇和島市"])
    expect(page.get_by_test_id("live-status")).to_have_text("自動更新中")
    expect(page).to_have_title(BASE_TITLE)
    expect(page.get_by_test_id("new-reports")).to_be_hidden()
    page.evaluate("window.__notReloaded = true")

    incident = first_report(live, sample_config, IMABARI, "第一報 今治市で河川が氾濫、避難指示")
    within_poll(page, f"incident-{incident}")

    expect(page.get_by_test_id("incident-link")).to_have_text(["今治市", "宇和島市"])
    row = page.get_by_test_id(f"incident-{incident}")
    expect(row).to_have_class(re.compile(r"\bnew\b"))
    expect(row.get_by_test_id("new-badge")).to_have_text("新着")
    expect(row.get_by_test_id("ack-summary")).to_contain_text("市町")
    expect(page).to_have_title(f"(1) {BASE_TITLE}")
    alert = page.get_by_test_id("new-reports")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("今治市")
    assert page.evaluate("window.__notReloaded") is True

    # HQ has seen it: the count leaves the title, the row its badge.
    page.get_by_test_id("mark-read").click()
    expect(page).to_have_title(BASE_TITLE)
    expect(alert).to_be_hidden()
    expect(row.get_by_test_id("new-badge")).to_have_count(0)


def test_sound_and_desktop_notifications_turn_on_with_a_button_and_fire_on_a_new_report(
    live: LiveStack, browser: Browser, sample_config: Config
) -> None:
    page = logged_in_page(browser, live.url, live.hotline.storage, live.hotline.clock.now())
    page.add_init_script(COUNT_NOTIFICATIONS)
    page.reload()
    expect(page.get_by_test_id("no-incidents")).to_be_visible()

    sound = page.get_by_test_id("sound-button")
    expect(sound).to_have_attribute("aria-pressed", "false")
    sound.click()
    expect(sound).to_have_attribute("aria-pressed", "true")
    expect(sound).to_contain_text("通知音：オン")
    list_root = page.get_by_test_id("incident-list")
    expect(list_root).to_have_attribute("data-beeps", "1")  # the test beep on the press

    notify = page.get_by_test_id("notify-button")
    expect(notify).to_have_attribute("aria-pressed", "false")
    page.context.grant_permissions(["notifications"], origin=live.url)  # the user says yes
    notify.click()
    expect(notify).to_have_attribute("aria-pressed", "true")
    expect(notify).to_have_text("デスクトップ通知：オン")

    incident = first_report(live, sample_config, IMABARI, "第一報 今治市で河川が氾濫、避難指示")
    within_poll(page, f"incident-{incident}")
    expect(list_root).to_have_attribute("data-beeps", "2")
    assert page.evaluate("window.__notifications") == ["新しい第一報: 今治市"]
    expect(page.get_by_test_id("no-incidents")).to_be_hidden()
