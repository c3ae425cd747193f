"""The hotline under test (Bot), driven step by step, and the credentials and clock it runs with."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from hotline.clock import FixedClock, iso
from hotline.config import Config
from hotline.runtime.service import Hotline

# The repository root: the sample configuration the tests load lives here.
ROOT = Path(__file__).resolve().parents[2]
API = "https://lw.test/v1.0"
AUTH = "https://auth.lw.test/oauth2/v2.0/token"
BOT_ID = "2000001"
TOKEN = "api-token-123-of-at-least-32-characters"  # the bot fixture's /api/ bearer token

# 03:12 JST on 21 November 2026
T0 = datetime(2026, 11, 20, 18, 12, tzinfo=UTC)


def credentials_env(private_key_pem: str) -> dict[str, str]:
    """LINE WORKS credentials as the environment carries them (start-up reads nothing else of
    LINE WORKS), for tests of start-up and the command line."""
    return {
        "LW_API_CLIENT_ID": "client-1",
        "LW_API_CLIENT_SECRET": "client-secret",
        "LW_API_SERVICE_ACCOUNT": "svc.serviceaccount@tenant.example",
        "LW_API_PRIVATEKEY": private_key_pem,
        "LW_API_BOT_ID": BOT_ID,
        "LW_API_BOT_SECRET": "bot-secret",
    }


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Bot:
    """A hotline under test, driven step by step (no background threads, no sleeping)."""

    hotline: Hotline
    client: FlaskClient
    clock: FixedClock
    config: Config
    posted: int = field(default=0, repr=False)

    def post_event(self, event: dict[str, Any] | bytes, *, secret: str | None = None) -> Any:
        """POST a signed callback. An event without `issuedTime` gets one like LINE WORKS
        gives: the clock's now, a millisecond later for each event, so that two events are
        never the same body (the same body twice is a replay)."""
        if isinstance(event, dict) and "issuedTime" not in event:
            self.posted += 1
            event = {**event, "issuedTime": iso(self.clock.now() + timedelta(milliseconds=self.posted))}
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
    """A message callback; `Bot.post_event` dates it (issuedTime) by the bot's clock."""
    source: dict[str, Any] = {"userId": user_id, "domainId": 40029600}
    if channel_id:
        source["channelId"] = channel_id
    return {"type": "message", "source": source, "content": content}
