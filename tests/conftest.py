"""Shared fixtures: the sample configuration, throwaway credentials, a hotline on a temp
database with a fixed clock, LINE WORKS faked at the requests boundary, and a headless browser.

The helpers these fixtures build on live in tests/support/, which test modules import directly;
no test module imports this file or another test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from playwright.sync_api import Browser

from hotline import config as config_module
from hotline.clock import FixedClock
from hotline.config import Config
from hotline.config.settings import Credentials, Mail, Settings
from hotline.demo import make_keys
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from lineworks_emulator.mailbox import Mailbox
from tests.support.bot import API, AUTH, BOT_ID, ROOT, T0, TOKEN, Bot
from tests.support.browser import launch_chromium
from tests.support.fake_lineworks import FakeLineWorks
from tests.support.mail import PUBLIC_URL, SECRET_KEY, SENDER


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium for the browser tests (fails, never skips, when missing)."""
    with launch_chromium() as launched:
        yield launched


@pytest.fixture(scope="session")
def keypair() -> tuple[str, str]:
    return make_keys()


@pytest.fixture(scope="session")
def sample_config() -> Config:
    return config_module.load(ROOT)


@pytest.fixture
def credentials(keypair: tuple[str, str]) -> Credentials:
    return Credentials(
        client_id="client-1",
        client_secret="client-secret-XYZ",
        service_account="svc.serviceaccount@tenant.example",
        private_key_pem=keypair[0],
        bot_id=BOT_ID,
        bot_secret="bot-secret-ABC123",
        api_base_url=API,
        auth_url=AUTH,
    )


@pytest.fixture
def bot(tmp_path: Path, credentials: Credentials, sample_config: Config) -> Iterator[Bot]:
    clock = FixedClock(T0)
    settings = Settings(
        credentials=credentials, api_token=TOKEN, config_dir=ROOT, database=tmp_path / "t.sqlite3"
    )
    hotline = Hotline(settings, sample_config, clock=clock)
    app = create_app(hotline)
    yield Bot(hotline, app.test_client(), clock, sample_config)
    hotline.sender.shutdown()


@pytest.fixture
def lw(sample_config: Config) -> Iterator[FakeLineWorks]:
    """LINE WORKS faked at the requests boundary (test_dashboard.py overrides it with a simpler one)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeLineWorks(rsps, sample_config)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it accepts."""
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def mail_bot(
    tmp_path: Path, credentials: Credentials, sample_config: Config, mailbox: Mailbox
) -> Iterator[Bot]:
    """The `bot`, with the mail fallback on: HOTLINE_SMTP_URL pointing at `mailbox`, 3 minutes."""
    clock = FixedClock(T0)
    # per_minute: more than these tests send, so that the pacing of the real minute never shows
    mail = Mail("smtp", mailbox.host, mailbox.port, "", "", SENDER, PUBLIC_URL, per_minute=1000)
    settings = Settings(
        credentials=credentials,
        api_token=TOKEN,
        config_dir=ROOT,
        database=tmp_path / "t.sqlite3",
        secret_key=SECRET_KEY,
        mail=mail,
    )
    hotline = Hotline(settings, sample_config, clock=clock)
    yield Bot(hotline, create_app(hotline).test_client(), clock, sample_config)
    hotline.sender.shutdown()
