"""The configuration pages in real headless Chromium against a live stack on a copy of the
configuration: an administrator adds a member through the form and sees it saved and listed,
then makes a mistake and sees the message next to the field."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hotline.config import load
from hotline.demo.stack import LiveStack
from hotline.domain import accounts
from tests.support.config_files import copy_config, files

UI_TIMEOUT_MS = 10_000
UWAJIMA = "382035"
USERNAME = "hq-admin"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveStack]:
    root = copy_config(tmp_path / "config")
    stack = LiveStack(load(root), tmp_path / "config.sqlite3")
    # LiveStack sets config_dir itself: point the running bot at the copy.
    stack.hotline.settings = dataclasses.replace(stack.hotline.settings, config_dir=root)
    assert stack.hotline.reload_config() == []
    yield stack
    stack.stop()


def log_in(browser: Browser, live: LiveStack) -> Page:
    accounts.create(live.hotline.storage, USERNAME, PASSWORD, "admin", by="test", at=live.hotline.clock.now())
    context = browser.new_context(
        locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1300, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{live.url}/dashboard/")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    page.get_by_test_id("username-input").fill(USERNAME)
    page.get_by_test_id("password-input").fill(PASSWORD)
    page.get_by_test_id("login-button").click()
    expect(page.get_by_role("heading", name="災害一覧")).to_be_visible()
    return page


def test_an_administrator_adds_a_member_and_sees_a_refused_change(browser: Browser, live: LiveStack) -> None:
    page = log_in(browser, live)
    page.get_by_test_id("nav-config").click()
    expect(page.get_by_role("heading", name="設定", exact=True)).to_be_visible()
    page.get_by_test_id(f"edit-municipality-{UWAJIMA}").click()
    expect(page.get_by_role("heading", name=f"宇和島市（{UWAJIMA}）")).to_be_visible()

    page.get_by_test_id("add-name").fill("新居 一郎")
    page.get_by_test_id("add-role").select_option("staff")
    page.get_by_test_id("add-email").fill("new.member@uwajima.example")
    page.get_by_test_id("add-member-button").click()
    expect(page.get_by_test_id("flash")).to_have_text("保存しました（反映済み）")
    expect(page.get_by_test_id("members").locator('input[value="新居 一郎"]')).to_have_count(1)
    assert live.hotline.config().municipalities[UWAJIMA].members[-1].name == "新居 一郎"

    before = files(live.hotline.settings.config_dir)
    taken = live.hotline.config().municipalities["382019"].members[0].email
    page.get_by_test_id("add-name").fill("重複 二郎")
    page.get_by_test_id("add-email").fill(taken)
    page.get_by_test_id("add-member-button").click()
    form = page.get_by_test_id("member-add-form")
    expect(form.get_by_test_id("error-email")).to_contain_text("メールアドレスは")
    expect(form.get_by_test_id("error-email")).to_contain_text("登録済みです")
    expect(page.get_by_test_id("config-summary")).to_be_visible()
    expect(page.get_by_test_id("add-name")).to_have_value("重複 二郎")
    assert files(live.hotline.settings.config_dir) == before


def test_deleting_a_member_asks_for_confirmation_and_works_without_javascript(
    browser: Browser, live: LiveStack
) -> None:
    accounts.create(live.hotline.storage, USERNAME, PASSWORD, "admin", by="test", at=live.hotline.clock.now())
    context = browser.new_context(
        locale="ja-JP", java_script_enabled=False, viewport={"width": 1300, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{live.url}/dashboard/login")
    page.get_by_test_id("username-input").fill(USERNAME)
    page.get_by_test_id("password-input").fill(PASSWORD)
    page.get_by_test_id("login-button").click()
    page.goto(f"{live.url}/dashboard/admin/config/municipalities/{UWAJIMA}")
    root = live.hotline.settings.config_dir
    before = files(root)
    second = live.hotline.config().municipalities[UWAJIMA].members[1]

    row = page.get_by_test_id("member-row").nth(1)
    row.get_by_test_id("member-remove").click()
    expect(page.get_by_test_id("confirm-what")).to_have_text(
        f"職員 {second.name}（{second.email}）・宇和島市（{UWAJIMA}）を削除します。よろしいですか。"
    )
    assert files(root) == before  # asking changed nothing
    page.get_by_test_id("confirm-delete-cancel").click()  # やめる: back, still there
    expect(page.get_by_test_id("members").locator(f'input[value="{second.name}"]')).to_have_count(1)
    assert files(root) == before

    page.get_by_test_id("member-row").nth(1).get_by_test_id("member-remove").click()
    page.get_by_test_id("confirm-delete-button").click()
    expect(page.get_by_test_id("flash")).to_have_text("保存しました（反映済み）")
    expect(page.get_by_test_id("members").locator(f'input[value="{second.name}"]')).to_have_count(0)
    assert second.email not in {m.email for m in live.hotline.config().municipalities[UWAJIMA].members}
    context.close()
