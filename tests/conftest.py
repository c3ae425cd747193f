"""Shared fixtures: the sample configuration, throwaway credentials, a hotline on a temp
database with a fixed clock, and a signer that signs callbacks the way LINE WORKS does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser

from hotline import config as config_module
from hotline.clock import FixedClock
from hotline.config import Config
from hotline.config.settings import Credentials, Settings
from hotline.demo import make_keys
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from tests.support.browser import launch_chromium

ROOT = Path(__file__).resolve().parent.parent
API = "https://lw.test/v1.0"
AUTH = "https://auth.lw.test/oauth2/v2.0/token"
BOT_ID = "2000001"

# 03:12 JST on 21 November 2026
T0 = datetime(2026, 11, 20, 18, 12, tzinfo=UTC)


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


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Bot:
    """A hotline under test, driven step by step (no background threads, no sleeping)."""

    hotline: Hotline
    client: FlaskClient
    clock: FixedClock
    config: Config

    def post_event(self, event: dict[str, Any] | bytes, *, secret: str | None = None) -> Any:
        body = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
        secret = secret or self.hotline.settings.credentials.bot_secret
        return self.client.post(
            "/callback",
            data=body,
            headers={
                "Content-Type": "application/json; charset=UTF-8",
                "X-WORKS-BotId": BOT_ID,
                "X-WORKS-Signature": sign(secret, body),
            },
        )

    def say(self, user_id: str, text: str, channel_id: str | None = None) -> Any:
        return self.post_event(message_event(user_id, {"type": "text", "text": text}, channel_id))

    def drain(self, rounds: int = 20) -> None:
        """Process every stored event and send everything due now, like the workers would."""
        for _ in range(rounds):
            self.hotline.process_inbox_once()
            claimed = self.hotline.sender.run_once()
            assert self.hotline.sender.idle.wait(10), "sender did not finish"
            if not claimed and not self.hotline.storage.pending_events():
                return


def message_event(user_id: str, content: dict[str, Any], channel_id: str | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {"userId": user_id, "domainId": 40029600}
    if channel_id:
        source["channelId"] = channel_id
    return {"type": "message", "source": source, "issuedTime": "2026-11-20T18:12:00.000Z", "content": content}


@pytest.fixture
def bot(tmp_path: Path, credentials: Credentials, sample_config: Config) -> Iterator[Bot]:
    clock = FixedClock(T0)
    settings = Settings(
        credentials=credentials, api_token="api-token-123", config_dir=ROOT, database=tmp_path / "t.sqlite3"
    )
    hotline = Hotline(settings, sample_config, clock=clock)
    app = create_app(hotline)
    yield Bot(hotline, app.test_client(), clock, sample_config)
    hotline.sender.shutdown()
