"""The demo's mailbox as a newcomer sees it, in real headless Chromium: from the talk page's header
to 「受信メール（デモ用）」, where a mail sent over SMTP appears by itself, newest first, its HTML
shown as text and its link opening in a new tab, on a desktop and on a phone."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hotline.config import Config
from hotline.demo.stack import E2E_SECRET_KEY, EmulatorSide
from hotline.domain.links import LinkSigner

UI_TIMEOUT_MS = 15_000
NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


@pytest.fixture
def side(sample_config: Config) -> Iterator[EmulatorSide]:
    emulator = EmulatorSide(sample_config)
    yield emulator
    emulator.stop()


def send(side: EmulatorSide, subject: str, text: str) -> None:
    message = EmailMessage()
    message["From"] = "hotline@demo.invalid"
    message["To"] = "fukushicho@uwajima.example"
    message["Subject"] = subject
    message.set_content(text)
    with smtplib.SMTP(side.mailbox.host, side.mailbox.port, timeout=5) as smtp:
        smtp.send_message(message)


def open_page(browser: Browser, url: str, width: int, height: int) -> tuple[Page, list[str]]:
    context = browser.new_context(
        locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": width, "height": height}
    )
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    return page, errors


def test_a_mail_shows_on_the_mailbox_page_by_itself_escaped_with_its_link_clickable(
    side: EmulatorSide, browser: Browser, tmp_path: Path
) -> None:
    # A link as hotline signs them for a fallback mail (this one leads to the emulator: no hotline here).
    link = LinkSigner(E2E_SECRET_KEY, side.base).url("ack", 12, "fukushicho@uwajima.example", NOW)
    page, errors = open_page(browser, side.base + "/", 1100, 800)
    page.get_by_test_id("mailbox-link").click()
    expect(page.get_by_role("heading", name="受信メール（デモ用）")).to_be_visible()
    expect(page.get_by_test_id("mail-empty")).to_be_visible()

    send(
        side,
        "<b>【第一報・メール代替】</b>宇和島市",
        f"LINE WORKS で届かなかったため、メールでお送りします。\n確認：{link}",
    )
    mails = page.get_by_test_id("mail")
    expect(mails).to_have_count(1)  # without a reload
    send(side, "【訓練】参集確認", "参集できますか。")
    expect(mails).to_have_count(2)
    expect(mails.first.get_by_test_id("mail-subject")).to_have_text("【訓練】参集確認")  # newest first
    first_report = mails.nth(1)
    expect(first_report.get_by_test_id("mail-subject")).to_have_text("<b>【第一報・メール代替】</b>宇和島市")
    expect(first_report.locator("b")).to_have_count(0)
    expect(first_report.get_by_test_id("mail-from")).to_have_text("hotline@demo.invalid")

    with page.expect_popup() as opened:
        first_report.get_by_role("link", name=link).click()
    assert opened.value.url == link
    page.screenshot(path=str(tmp_path / "mailbox-page.png"), full_page=True)

    phone, phone_errors = open_page(browser, side.base + "/mail", 375, 740)
    expect(phone.get_by_test_id("mail")).to_have_count(2)
    expect(phone.get_by_role("link", name=link)).to_be_in_viewport()
    # Nothing wider than the phone: the long link wraps instead of scrolling the page sideways.
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.screenshot(path=str(tmp_path / "mailbox-phone.png"))
    phone.get_by_test_id("talk-link").click()
    expect(phone.get_by_test_id("user-select")).to_be_visible()
    assert errors == phone_errors == []
