"""The drill coordinator in real headless Chromium against a live stack (the emulator over
HTTP, hotline in this process): log in, create a 今すぐ drill for 宇和島市 through the form,
open its live page, and watch an answer arrive without reloading: the rate, the chart, the
silent list. Then 今すぐ実施 and 中止 with their confirm dialogs, and the history chart."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from hotline.config import Config, Member
from hotline.demo import demo_user_id
from hotline.demo.stack import LiveStack, wait_until
from hotline.domain import accounts

UI_TIMEOUT_MS = 10_000
UWAJIMA = "382035"
USERNAME = "kunren-1"
PASSWORD = "correct horse battery staple"
TITLE = "宇和島市 参集訓練 <b>太字</b>"


@pytest.fixture
def live(tmp_path: Path, sample_config: Config) -> Iterator[LiveStack]:
    stack = LiveStack(sample_config, tmp_path / "drills.sqlite3")
    yield stack
    stack.stop()


def log_in(browser: Browser, live: LiveStack) -> Page:
    context = browser.new_context(
        locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1200, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{live.url}/dashboard/drills/")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    accounts.create(
        live.hotline.storage, USERNAME, PASSWORD, "coordinator", by="test", at=live.hotline.clock.now()
    )
    page.get_by_test_id("username-input").fill(USERNAME)
    page.get_by_test_id("password-input").fill(PASSWORD)
    page.get_by_test_id("login-button").click()
    expect(page.get_by_role("heading", name="職員参集訓練")).to_be_visible()
    return page


def question_for(live: LiveStack, member: Member) -> dict[str, Any] | None:
    """The drill's first question as the emulator logged it for this person."""
    return next(
        (
            s
            for s in live.sent()
            if s["userId"] == demo_user_id(member)
            and s["content"].get("type") == "button_template"
            and "宇和島市 参集訓練" in (s["content"].get("contentText") or "")
        ),
        None,
    )


def test_coordinator_creates_a_drill_and_watches_an_answer_arrive(
    live: LiveStack, browser: Browser, sample_config: Config, tmp_path: Path
) -> None:
    people = list(sample_config.municipalities[UWAJIMA].members)
    person = people[1]
    page = log_in(browser, live)

    # Create: 宇和島市, 今すぐ; the confirmation step shows the count and the send time.
    page.get_by_test_id("new-drill-link").click()
    page.get_by_test_id("title-input").fill(TITLE)
    page.get_by_test_id(f"municipality-{UWAJIMA}").check()
    expect(page.get_by_test_id("when-now")).to_be_checked()
    expect(page.get_by_test_id("confirm-real")).to_be_hidden()  # shown only when 実参集 is chosen
    page.get_by_test_id("kind-real").check()
    expect(page.get_by_test_id("confirm-real")).to_be_visible()
    page.get_by_test_id("kind-drill").check()
    page.get_by_test_id("confirm-button").click()
    expect(page.get_by_test_id("estimate")).to_have_text(f"対象 {len(people)}人・送信に1分以内")
    expect(page.get_by_test_id("confirm-title")).to_have_text(TITLE)
    page.get_by_test_id("create-button").click()

    # The drill's page, before it has fired.
    expect(page.get_by_test_id("drill-title")).to_contain_text(TITLE)  # markup shown as text
    expect(page.get_by_test_id("flash")).to_contain_text("を作成しました。")
    expect(page.get_by_test_id("live-status")).to_have_text("自動更新中")
    drill_id = int(page.get_by_test_id("drill").get_attribute("data-drill-id") or 0)
    page.evaluate("window.__notReloaded = true")

    # It fires (the scheduler may beat us to it; nothing fires twice).
    live.hotline.drills.run_due()
    (run,) = wait_until(lambda: live.hotline.storage.runs(drill_id), message="the drill to fire")
    live_run = page.get_by_test_id("live-run")
    expect(live_run).to_have_attribute("data-run-id", str(run["id"]))
    rate = page.get_by_test_id("answer-rate")
    expect(rate).to_have_text(f"0/{len(people)}人（0%）")
    expect(page.get_by_test_id("answer-chart-svg")).to_be_visible()
    points = page.get_by_test_id("chart-point")
    expect(points).to_have_count(0)
    silent = page.get_by_test_id("silent-person")
    expect(silent).to_have_count(len(people))
    expect(silent.filter(has_text=person.name)).to_have_count(1)
    expect(page.get_by_test_id("abort-button")).to_be_visible()

    # One target answers 無事 through the emulator.
    question = wait_until(lambda: question_for(live, person), message="the question reaching the person")
    assert [a["label"] for a in question["content"]["actions"]] == ["無事", "軽傷", "重傷"]
    tap = requests.post(
        f"{live.base}/_emulator/tap",
        json={"userId": demo_user_id(person), "channelId": None, "seq": question["seq"], "action": 0},
        timeout=10,
    )
    assert tap.status_code == 200, tap.text

    # The page follows without a reload: rate, chart, safety, the silent list.
    expect(rate).to_have_text(f"1/{len(people)}人（20%）")
    expect(points).to_have_count(1)
    expect(page.get_by_test_id("answer-chart-svg")).to_have_attribute("data-points", "1")
    expect(page.get_by_test_id("safety-1")).to_contain_text("無事 1人")
    expect(silent).to_have_count(len(people) - 1)
    expect(silent.filter(has_text=person.name)).to_have_count(0)
    expect(page.get_by_test_id(f"forecast-{UWAJIMA}")).to_contain_text(f"1/{len(people)}")
    assert page.evaluate("window.__notReloaded") is True
    page.screenshot(path=str(tmp_path / "drill.png"), full_page=True)

    # Closed at its deadline (here: now): the page says so, and the history charts the run.
    assert live.hotline.drills.close(run["id"])
    expect(page.get_by_test_id("run-status")).to_have_text("締め切り済み")
    expect(page.get_by_test_id("abort-button")).to_have_count(0)
    assert page.evaluate("window.__notReloaded") is True

    # 今すぐ実施 (a button the page rebuilt from the JSON) asks first; dismissed, nothing happens.
    fire = page.get_by_test_id("fire-button")
    page.once("dialog", lambda dialog: dialog.dismiss())
    fire.click()
    expect(page.get_by_test_id("run-status")).to_have_text("締め切り済み")
    assert len(live.hotline.storage.runs(drill_id)) == 1
    page.once("dialog", lambda dialog: dialog.accept())
    fire.click()
    expect(page.get_by_test_id("flash")).to_have_text("開始しました。対象者に質問を送っています。")
    expect(page.get_by_test_id("run-status")).to_have_text("実施中")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("abort-button").click()
    expect(page.get_by_test_id("flash")).to_have_text("中止しました。対象者全員に中止を知らせます。")
    expect(page.get_by_test_id("run-status")).to_have_text("中止")
    assert [r["status"] for r in live.hotline.storage.runs(drill_id)] == ["closed", "aborted"]

    page.goto(f"{live.url}/dashboard/drills/history")
    expect(page.get_by_test_id("history-bar")).to_have_count(1)
    expect(page.get_by_test_id(f"history-run-{run['id']}")).to_contain_text("1/5人（20%）")


def test_the_recurrence_picker_and_a_chart_in_whole_minutes(live: LiveStack, browser: Browser) -> None:
    page = log_in(browser, live)

    # 毎月・第1・月曜日・09:00 with the picker: the confirmation reads in Japanese, the drill
    # stores the crontab (crontab weekday 1 = Monday), and the raw field stays folded away.
    page.get_by_test_id("new-drill-link").click()
    page.get_by_test_id("title-input").fill("月例 参集訓練")
    page.get_by_test_id(f"municipality-{UWAJIMA}").check()
    page.get_by_test_id("when-cron").check()
    expect(page.get_by_test_id("cron-input")).to_be_hidden()  # inside 詳細指定, closed
    page.get_by_test_id("repeat-monthly").check()
    page.get_by_test_id("repeat-nth").select_option(label="第1")
    page.get_by_test_id("repeat-weekday").select_option(label="月曜日")
    page.get_by_test_id("repeat-time").fill("09:00")
    page.get_by_test_id("confirm-button").click()
    expect(page.get_by_test_id("confirm-when")).to_contain_text("繰り返し 毎月第1月曜日 9:00（次回 ")
    expect(page.get_by_test_id("confirm-when")).not_to_contain_text("1-7")
    page.get_by_test_id("create-button").click()
    expect(page.get_by_test_id("drill-schedule")).to_contain_text("繰り返し 毎月第1月曜日 9:00")
    drill_id = int(page.get_by_test_id("drill").get_attribute("data-drill-id") or 0)
    drill = live.hotline.storage.drill(drill_id)
    assert drill is not None and drill["cron"] == "0 9 1-7 * 1"

    # Fired now: seconds into the run, the time axis counts whole minutes (it showed 0.2, 0.4…).
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("fire-button").click()
    expect(page.get_by_test_id("answer-chart-svg")).to_be_visible()
    ticks = page.locator("#answer-chart .tick.x").all_text_contents()
    assert ticks and all(re.fullmatch(r"\d+", t) for t in ticks), ticks
