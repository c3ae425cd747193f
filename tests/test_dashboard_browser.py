"""The HQ dashboard in real headless Chromium against a live stack: HQ logs in, opens the
incident, sees the silent supporter, and watches it turn acknowledged without reloading; on a
phone, opens an older report (its matrix fetched on demand) and watches it stay live."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from hotline.config import Config
from hotline.demo import demo_user_id
from hotline.demo.stack import LiveStack, wait_until
from hotline.domain import accounts

UI_TIMEOUT_MS = 10_000
UWAJIMA = "382035"
IMABARI = "382027"
USERNAME = "hq-admin"
PASSWORD = "correct horse battery staple"
REPORT = "第一報 午前3時頃から大雨、市内3か所で土砂崩れ、人的被害確認中 <b>太字</b>"


@pytest.fixture
def live(tmp_path: Path, sample_config: Config) -> Iterator[LiveStack]:
    stack = LiveStack(sample_config, tmp_path / "dashboard.sqlite3")
    yield stack
    stack.stop()


def group_channel(config: Config) -> str:
    return next(r.channel_id for r in config.rooms if r.key == "group-team1")


def relayed_report(live: LiveStack, channel_id: str, words: str = "土砂崩れ") -> dict[str, Any] | None:
    """The relayed report (with its 「確認しました」 button) as the emulator logged it."""
    return next(
        (
            s
            for s in live.sent()
            if s["channelId"] == channel_id
            and s["content"]["type"] == "button_template"
            and words in (s["content"].get("contentText") or "")
        ),
        None,
    )


def tap(live: LiveStack, who: str, channel_id: str, relayed: dict[str, Any]) -> None:
    """`who` taps 「確認しました」 under a relayed report in the emulator's room."""
    response = requests.post(
        f"{live.base}/_emulator/tap",
        json={"userId": who, "channelId": channel_id, "seq": relayed["seq"], "action": 0},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def log_in(browser: Browser, live: LiveStack, viewport: dict[str, int] | None = None) -> Page:
    context = browser.new_context(
        locale="ja-JP", timezone_id="Asia/Tokyo", viewport=viewport or {"width": 1200, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{live.url}/dashboard/")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    accounts.create(
        live.hotline.storage, USERNAME, PASSWORD, "viewer", by="test", at=live.hotline.clock.now()
    )
    page.get_by_test_id("username-input").fill(USERNAME)
    page.get_by_test_id("password-input").fill("wrong-password")
    page.get_by_test_id("login-button").click()
    expect(page.get_by_test_id("login-error")).to_have_text("ユーザー名またはパスワードが正しくありません。")
    page.get_by_test_id("password-input").fill(PASSWORD)
    page.get_by_test_id("login-button").click()
    expect(page.get_by_role("heading", name="災害一覧")).to_be_visible()
    return page


def test_hq_watches_a_silent_supporter_acknowledge_without_reloading(
    live: LiveStack, browser: Browser, sample_config: Config, tmp_path: Path
) -> None:
    group = group_channel(sample_config)
    deputy = sample_config.municipalities[UWAJIMA].members[0]
    supporter = sample_config.municipalities[IMABARI].members[0]

    assert live.say(deputy, REPORT, group)["status"] == 200
    relayed = wait_until(lambda: relayed_report(live, group), message="the report relayed to the group room")

    page = log_in(browser, live)
    incident = page.get_by_test_id("incident-link").filter(has_text="宇和島市")
    expect(incident).to_have_count(1)
    incident.click()
    expect(page.get_by_test_id("incident-title")).to_contain_text("宇和島市の災害")
    # The report text is shown as text, markup and all.
    expect(page.get_by_test_id("report-text").first).to_contain_text("<b>太字</b>")

    imabari = page.get_by_test_id(f"muni-{IMABARI}")
    expect(imabari).to_have_count(1)
    expect(imabari).to_have_attribute("data-acknowledged", "false")
    expect(imabari).to_have_class(re.compile(r"\bsilent\b"))
    expect(imabari.get_by_test_id("ack-cell")).to_have_text("未確認")
    acks = page.get_by_test_id("timeline-entry").filter(has_text=f"確認: 今治市 {supporter.name}")
    expect(acks).to_have_count(0)
    # The live updater is running (it reports after its first poll).
    expect(page.get_by_test_id("live-status")).to_have_text("自動更新中")
    page.evaluate("window.__notReloaded = true")

    # 今治市's member taps 「確認しました」 under the relayed report.
    tap(live, demo_user_id(supporter), group, relayed)

    expect(imabari).to_have_attribute("data-acknowledged", "true")
    expect(imabari).not_to_have_class(re.compile(r"\bsilent\b"))
    expect(imabari.get_by_test_id("ack-cell")).to_contain_text("✓")
    expect(acks).to_have_count(1)
    expect(acks).to_contain_text("ボタン")
    expect(page.get_by_test_id(f"member-{supporter.key}").get_by_test_id("ack-cell")).to_contain_text("✓")
    # Other supporters are still silent; and the page was updated in place, not reloaded.
    expect(page.locator("tr.municipality.silent")).not_to_have_count(0)
    assert page.evaluate("window.__notReloaded") is True
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    # The printable page and the CSV link work from the same session.
    page.get_by_test_id("print-link").click()
    expect(page.get_by_test_id(f"muni-{IMABARI}")).to_have_attribute("data-acknowledged", "true")
    expect(page.get_by_text("<b>太字</b>", exact=False).first).to_be_visible()


def test_on_a_phone_hq_opens_an_older_report_and_sees_its_people_live(
    live: LiveStack, browser: Browser, sample_config: Config, tmp_path: Path
) -> None:
    group = group_channel(sample_config)
    deputy = sample_config.municipalities[UWAJIMA].members[0]
    supporter = sample_config.municipalities[IMABARI].members[1]
    assert live.say(deputy, REPORT, group)["status"] == 200
    first = wait_until(lambda: relayed_report(live, group), message="the first report relayed")
    assert live.say(deputy, "第二報 避難所を2か所開設、孤立集落あり", group)["status"] == 200
    second = wait_until(lambda: relayed_report(live, group, "孤立集落"), message="the second report relayed")
    incident = live.hotline.storage.incidents()[0]["id"]
    older, latest = (r["id"] for r in live.api(f"/api/incidents/{incident}")["reports"])

    page = log_in(browser, live, viewport={"width": 320, "height": 700})
    page.get_by_test_id("incident-link").filter(has_text="宇和島市").click()
    # At once: the overview (towns x reports) and the latest report's matrix, not the older one's.
    overview = page.get_by_test_id("overview-table")
    expect(overview).to_be_visible()
    expect(page.get_by_test_id(f"overview-{IMABARI}").locator("td")).to_have_text(["未確認", "未確認"])
    expect(page.get_by_test_id(f"matrix-{latest}")).to_be_visible()
    expect(page.get_by_test_id(f"matrix-{older}")).to_have_count(0)
    expect(page.get_by_test_id("live-status")).to_have_text("自動更新中")
    page.evaluate("window.__notReloaded = true")

    # The older report opens: its matrix is fetched and shows its people.
    page.get_by_test_id(f"open-report-{older}").click()
    matrix = page.get_by_test_id(f"matrix-{older}")
    expect(matrix).to_be_visible()
    person = matrix.get_by_test_id(f"member-{supporter.key}")
    expect(person).to_contain_text(supporter.name)
    expect(person.get_by_test_id("ack-cell")).to_have_text("未確認")

    # 今治市's member acknowledges the FIRST report: the opened matrix and the overview follow.
    tap(live, demo_user_id(supporter), group, first)
    expect(person.get_by_test_id("ack-cell")).to_contain_text("✓")
    expect(matrix.get_by_test_id(f"muni-{IMABARI}")).to_have_attribute("data-acknowledged", "true")
    expect(page.get_by_test_id(f"overview-{IMABARI}").locator("td")).to_have_text(["未確認", "確認済"])
    # ... while the latest report's matrix still waits for 今治市.
    latest_row = page.get_by_test_id(f"matrix-{latest}").get_by_test_id(f"muni-{IMABARI}")
    expect(latest_row).to_have_attribute("data-acknowledged", "false")
    assert page.evaluate("window.__notReloaded") is True
    page.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=True)
    # A phone: a matrix wider than the screen scrolls inside its card; the page does not.
    box = page.get_by_test_id(f"matrix-box-{older}")
    assert box.evaluate("b => b.scrollWidth > b.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    # Closed again, it stays closed when the page next changes.
    page.get_by_test_id(f"open-report-{older}").click()
    tap(live, demo_user_id(supporter), group, second)
    expect(latest_row).to_have_attribute("data-acknowledged", "true")
    expect(page.get_by_test_id(f"report-{older}")).to_have_js_property("open", False)
    expect(matrix).not_to_be_visible()
