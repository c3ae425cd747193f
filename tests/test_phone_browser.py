"""Every dashboard page on a phone (375×812, an iPhone's CSS pixels) in real headless Chromium
against a live stack: none scrolls sideways (wide tables scroll inside their card), and the menu
stays a compact row of whole words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hotline.config import Config
from hotline.demo.stack import LiveStack, wait_until
from tests.support.browser import logged_in_page

PHONE = {"width": 375, "height": 812}
UWAJIMA = "382035"
KUMAKOGEN = "383864"


@pytest.fixture
def live(tmp_path: Path, sample_config: Config) -> Iterator[LiveStack]:
    stack = LiveStack(sample_config, tmp_path / "phone.sqlite3")
    yield stack
    stack.stop()


def page_width(page: Page) -> int:
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width


def create_drill(page: Page, live: LiveStack) -> int:
    """A 今すぐ drill for 宇和島市 through the form on the phone, fired; its id."""
    page.goto(f"{live.url}/dashboard/drills/new")
    page.get_by_test_id("title-input").fill("スマートフォンでの訓練")
    page.get_by_test_id(f"municipality-{UWAJIMA}").check()
    page.get_by_test_id("confirm-button").click()
    page.get_by_test_id("create-button").click()
    expect(page.get_by_test_id("flash")).to_contain_text("を作成しました。")
    drill_id = int(page.get_by_test_id("drill").get_attribute("data-drill-id") or 0)
    live.hotline.drills.run_due()
    wait_until(lambda: live.hotline.storage.runs(drill_id), message="the drill to fire")
    return drill_id


def test_every_dashboard_page_fits_a_phone_without_sideways_scrolling(
    live: LiveStack, browser: Browser, sample_config: Config
) -> None:
    deputy = sample_config.municipalities[UWAJIMA].members[0]
    group = next(r.channel_id for r in sample_config.rooms if r.key == "group-team1")
    assert (
        live.say(deputy, "第一報 午前3時頃から大雨、市内3か所で土砂崩れ、人的被害確認中", group)["status"]
        == 200
    )
    incident = wait_until(lambda: live.hotline.storage.incidents(), message="the incident")[0]["id"]
    hq = next(r.channel_id for r in sample_config.rooms if r.key == "hq")
    live.say(sample_config.hq_members[0], "【指示】宛先: 宇和島市\n避難所の開設状況を報告してください", hq)
    instruction = wait_until(lambda: live.hotline.storage.instructions(), message="the instruction")[0]["id"]

    page = logged_in_page(browser, live.url, live.hotline.storage, live.hotline.clock.now(), viewport=PHONE)
    # The menu: each link on one line (not a column of single characters), all of it on screen.
    for link in page.locator(".topnav a").all():
        box = link.bounding_box()
        assert box is not None and box["height"] < 30, link.text_content()
    drill = create_drill(page, live)

    pages = {
        "incidents": "/dashboard/",
        "incident": f"/dashboard/incidents/{incident}",
        "print": f"/dashboard/incidents/{incident}/print",
        "drills": "/dashboard/drills/",
        "drill live page": f"/dashboard/drills/{drill}",
        "drill creation": "/dashboard/drills/new",
        "drill history": "/dashboard/drills/history",
        "config": "/dashboard/admin/config/",
        "municipality": f"/dashboard/admin/config/municipalities/{KUMAKOGEN}",
        "groups": "/dashboard/admin/config/groups",
        "rooms": "/dashboard/admin/config/rooms",
        "accounts": "/dashboard/admin/accounts",
        "audit": "/dashboard/admin/audit",
        "instructions": "/dashboard/instructions/",
        "instruction form": "/dashboard/instructions/new",
        "instruction": f"/dashboard/instructions/{instruction}",
    }
    widths = {}
    failed: list[str] = []  # every resource a page asked for (the favicon too) must be there
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    for name, path in pages.items():
        page.goto(f"{live.url}{path}")
        page.wait_for_load_state("load")
        widths[name] = page_width(page)
    # The incident page: its matrix scrolls in its card, but who and 確認 stay on screen.
    page.goto(f"{live.url}/dashboard/incidents/{incident}")
    town = page.get_by_test_id(f"muni-{UWAJIMA}").first
    for cell in (town.locator("td.name"), town.get_by_test_id("ack-cell")):
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], cell
    page.context.clear_cookies()
    page.goto(f"{live.url}/dashboard/login")
    widths["login"] = page_width(page)
    too_wide = {name: width for name, width in widths.items() if width > PHONE["width"]}
    assert too_wide == {}, f"pages wider than a phone: {too_wide}"
    assert failed == []
