"""Launch Debian's chromium through Playwright for browser tests (no browser downloads).

If chromium is missing the test FAILS with a clear message; it is never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from hotline.domain import accounts

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAUNCH_TIMEOUT_MS = 30_000


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Start headless Debian chromium and close it afterwards; fail if it is not installed."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"{CHROMIUM} not found: browser tests need Debian's chromium "
            "(apt-get install chromium); Playwright browser downloads are not used",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            timeout=LAUNCH_TIMEOUT_MS,
        )
        try:
            yield browser
        finally:
            browser.close()


def logged_in_page(
    browser: Browser,
    url: str,
    storage: Any,
    at: Any,
    *,
    role: str = "admin",
    viewport: ViewportSize | None = None,
) -> Page:
    """A new browser context logged in to the dashboard at `url` as a fresh account of `role`
    (created in `storage` at `at`), on the incident list."""
    username, password = f"browser-{role}", "correct horse battery staple"
    accounts.create(storage, username, password, role, by="test", at=at)
    context = browser.new_context(
        locale="ja-JP", timezone_id="Asia/Tokyo", viewport=viewport or {"width": 1200, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{url}/dashboard/login")
    page.get_by_test_id("username-input").fill(username)
    page.get_by_test_id("password-input").fill(password)
    page.get_by_test_id("login-button").click()
    expect(page.get_by_role("heading", name="災害一覧")).to_be_visible()
    return page
