#!/usr/bin/env python3
"""Retake the README's screenshots (docs/*.png) in headless Chromium against the demo stack.

    .venv/bin/python scripts/screenshots.py        # after `make run` has built .venv once

Starts what `make run` starts (hotline with the LINE WORKS emulator, its demo mail server and
the sample Ehime configuration, on a throwaway database), posts a first and a second report from
宇和島市, has some supporters tap 「確認しました」, runs a drill with a few answers, then
photographs the incident list (as a new 第一報 from 西予市 arrives), the incident page, the
drill's live page and the incident list on a phone. Then the bot is taken out of the group room
and a third report goes by mail: the demo mailbox page and the mail's link on a phone; last, HQ
sends an instruction and a town answers: the instruction's page. Needs Debian's chromium and a Japanese font
(scripts/ensure-chromium, scripts/ensure-cjk-fonts). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # hotline and the emulator, from this checkout

import requests  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from hotline import config as config_module  # noqa: E402
from hotline.config import Config, Member  # noqa: E402
from hotline.demo import demo_user_id  # noqa: E402
from hotline.demo.stack import LiveStack, wait_until  # noqa: E402
from hotline.domain import accounts  # noqa: E402

DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
UWAJIMA, IMABARI, SEIYO, NIIHAMA = "382035", "382027", "382141", "382051"
USERNAME, PASSWORD = "honbu", "screenshot-password-1"
DRILL = "宇和島市 参集訓練（定例）"


def room(config: Config, key: str) -> str:
    return next(r.channel_id for r in config.rooms if r.key == key)


def relayed(live: LiveStack, channel: str, words: str) -> dict[str, Any] | None:
    return next(
        (
            s
            for s in live.sent()
            if s["channelId"] == channel
            and s["content"]["type"] == "button_template"
            and words in (s["content"].get("contentText") or "")
        ),
        None,
    )


def tap(
    live: LiveStack, member: Member, channel: str | None, message: dict[str, Any], action: int = 0
) -> None:
    response = requests.post(
        f"{live.base}/_emulator/tap",
        json={"userId": demo_user_id(member), "channelId": channel, "seq": message["seq"], "action": action},
        timeout=10,
    )
    response.raise_for_status()


def question(live: LiveStack, member: Member) -> dict[str, Any] | None:
    return next(
        (
            s
            for s in live.sent()
            if s["userId"] == demo_user_id(member)
            and s["content"].get("type") == "button_template"
            and DRILL in (s["content"].get("contentText") or "")
        ),
        None,
    )


def reports(live: LiveStack, config: Config) -> None:
    """A first and a second report from 宇和島市; two supporters acknowledge the first, one the second."""
    group = room(config, "group-team1")
    deputy = config.municipalities[UWAJIMA].members[0]
    live.say(deputy, "第一報 午前3時頃から大雨、市内3か所で土砂崩れ。人的被害は確認中。", group)
    first = wait_until(lambda: relayed(live, group, "土砂崩れ"), message="the first report")
    for code in (NIIHAMA, IMABARI):
        tap(live, config.municipalities[code].members[0], group, first)
    live.say(deputy, "第二報 避難所を2か所開設。吉田町で孤立集落あり（約40世帯）。", group)
    second = wait_until(lambda: relayed(live, group, "孤立集落"), message="the second report")
    tap(live, config.municipalities[IMABARI].members[1], group, second)


def drill(page: Page, live: LiveStack, config: Config) -> int:
    page.goto(f"{live.url}/dashboard/drills/new")
    page.get_by_test_id("title-input").fill(DRILL)
    page.get_by_test_id(f"municipality-{UWAJIMA}").check()
    page.get_by_test_id("confirm-button").click()
    page.get_by_test_id("create-button").click()
    drill_id = int(page.get_by_test_id("drill").get_attribute("data-drill-id") or 0)
    live.hotline.drills.run_due()
    wait_until(lambda: live.hotline.storage.runs(drill_id), message="the drill to fire")
    people = config.municipalities[UWAJIMA].members[:3]
    for member, safety in zip(people, (0, 0, 1), strict=True):  # 無事, 無事, 軽傷
        asked = wait_until(partial(question, live, member), message="the question reaching a person")
        tap(live, member, None, asked, safety)
    return drill_id


def photograph(browser: Browser, live: LiveStack, config: Config) -> None:
    context = browser.new_context(
        locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1200, "height": 760}
    )
    page = context.new_page()
    page.goto(f"{live.url}/dashboard/login")
    page.get_by_test_id("username-input").fill(USERNAME)
    page.get_by_test_id("password-input").fill(PASSWORD)
    page.get_by_test_id("login-button").click()
    expect(page.get_by_test_id("live-status")).to_have_text("自動更新中")

    # A new 第一報 arrives while HQ watches the list.
    seiyo = config.municipalities[SEIYO].members[0]
    live.say(seiyo, "第一報 国道197号で落石、通行止め。けが人なし。", room(config, "group-team2"))
    expect(page.get_by_test_id("new-reports")).to_be_visible(timeout=10_000)
    page.screenshot(path=str(DOCS / "dashboard.png"))

    page.get_by_test_id("incident-link").filter(has_text="宇和島市").click()
    expect(page.get_by_test_id("live-status")).to_have_text("自動更新中")
    page.screenshot(path=str(DOCS / "incident.png"))

    drill_id = drill(page, live, config)
    page.goto(f"{live.url}/dashboard/drills/{drill_id}")
    chart = page.get_by_test_id("answer-chart-svg")
    expect(chart).to_have_attribute("data-points", "3", timeout=10_000)
    page.screenshot(path=str(DOCS / "drill.png"))

    phone = browser.new_context(
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        storage_state=context.storage_state(),  # the same login
    )
    small = phone.new_page()
    small.goto(f"{live.url}/dashboard/")
    expect(small.get_by_test_id("live-status")).to_have_text("自動更新中")
    small.screenshot(path=str(DOCS / "phone.png"))
    small.get_by_test_id("incident-link").filter(has_text="宇和島市").click()
    expect(small.get_by_test_id("live-status")).to_have_text("自動更新中")
    small.get_by_test_id("incident").locator(".report").first.scroll_into_view_if_needed()
    small.screenshot(path=str(DOCS / "phone-incident.png"))

    # LINE WORKS cannot deliver to the group room: the supporters get the report by mail.
    group = room(config, "group-team1")
    live.faults(remove_bot_from=[group])
    deputy = config.municipalities[UWAJIMA].members[0]
    live.say(deputy, "第三報 吉田町の孤立集落へ通じる市道が復旧。", group)
    imabari = config.municipalities[IMABARI].members[0]
    mail = wait_until(
        lambda: next((m for m in live.mailbox.messages() if imabari.email in m.rcpt_tos), None),
        message="the fallback mail",
    )
    page.goto(f"{live.base}/mail")
    expect(page.get_by_test_id("mail").first).to_be_visible()
    page.screenshot(path=str(DOCS / "mailbox.png"))
    link = next(word for word in mail.text.split() if "/m/" in word)
    mailed = browser.new_context(
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
    ).new_page()
    mailed.goto(link)
    expect(mailed.get_by_test_id("ack-button")).to_be_visible()
    mailed.screenshot(path=str(DOCS / "mail-link.png"))
    live.faults(remove_bot_from=[])

    # HQ sends an instruction; 西予市 answers in its room.
    hq = config.hq_members[0]
    live.say(
        hq,
        "【指示】宛先: 宇和島市、西予市\n避難所の開設状況を15時までに報告してください。",
        room(config, "hq"),
    )
    (instruction,) = wait_until(lambda: live.hotline.storage.instructions(), message="the instruction")
    seiyo = config.municipalities[SEIYO].members[0]
    live.say(seiyo, "【回答】避難所2か所を開設。避難者は約30人。", room(config, "group-team2"))
    page.goto(f"{live.url}/dashboard/instructions/{instruction['id']}")
    expect(page.get_by_test_id(f"town-{SEIYO}").get_by_test_id("state")).to_have_text(
        "確認済", timeout=10_000
    )
    page.screenshot(path=str(DOCS / "instruction.png"), full_page=True)


def main() -> None:
    config = config_module.load(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        live = LiveStack(config, Path(tmp) / "screenshots.sqlite3", with_mail=True)
        try:
            reports(live, config)
            now = live.hotline.clock.now()
            accounts.create(live.hotline.storage, USERNAME, PASSWORD, "admin", by="screenshots", at=now)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
                )
                try:
                    photograph(browser, live, config)
                finally:
                    browser.close()
        finally:
            live.stop()
    for name in (
        "dashboard",
        "incident",
        "drill",
        "phone",
        "phone-incident",
        "mailbox",
        "mail-link",
        "instruction",
    ):
        print(DOCS / f"{name}.png")


if __name__ == "__main__":
    main()
