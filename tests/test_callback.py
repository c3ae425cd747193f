"""The callback door: verified before parsing, stored before the 200, nothing else."""

from __future__ import annotations

import json

import pytest

from hotline.config import settings as settings_module
from hotline.config.settings import SettingsError
from tests.support.bot import BOT_ID, Bot, message_event, sign


def test_callback_with_bad_signature_is_rejected_and_stored_nowhere(bot: Bot) -> None:
    response = bot.post_event(message_event("u1", {"type": "text", "text": "第一報 x"}), secret="wrong")
    assert response.status_code == 401
    assert bot.hotline.storage.inbox_counts() == {}


def test_callback_without_signature_or_with_another_bot_id_is_rejected(bot: Bot) -> None:
    body = json.dumps(message_event("u1", {"type": "text", "text": "x"})).encode()
    assert bot.client.post("/callback", data=body, headers={"X-WORKS-BotId": BOT_ID}).status_code == 401
    secret = bot.hotline.settings.credentials.bot_secret
    response = bot.client.post(
        "/callback", data=body, headers={"X-WORKS-BotId": "999", "X-WORKS-Signature": sign(secret, body)}
    )
    assert response.status_code == 401
    assert bot.hotline.storage.inbox_counts() == {}
    assert bot.hotline.counters["rejected_signature"] == 2


def test_signed_event_is_stored_before_the_200(bot: Bot) -> None:
    event = {
        **message_event("u1", {"type": "text", "text": "第一報 大雨"}),
        "issuedTime": "2026-11-20T18:12:00.000Z",
    }
    response = bot.post_event(event)
    assert response.status_code == 200
    rows = bot.hotline.storage.pending_events()
    assert len(rows) == 1 and json.loads(rows[0]["body"]) == event


def test_signature_is_checked_over_the_raw_bytes(bot: Bot) -> None:
    # Same JSON, different whitespace: the signature of one does not fit the other.
    body = b'{"type": "message"}'
    secret = bot.hotline.settings.credentials.bot_secret
    response = bot.client.post(
        "/callback",
        data=b'{"type":"message"}',
        headers={"X-WORKS-BotId": BOT_ID, "X-WORKS-Signature": sign(secret, body)},
    )
    assert response.status_code == 401


def test_signed_malformed_json_is_stored_as_rejected_and_answered_200(bot: Bot) -> None:
    assert bot.post_event(b"{not json").status_code == 200
    assert bot.hotline.storage.inbox_counts() == {"rejected": 1}
    assert bot.hotline.counters["rejected_body"] == 1


@pytest.mark.parametrize(
    "event",
    [
        [1, 2, 3],
        {"no": "type"},
        {"type": "message", "source": "x"},
        {"type": "message", "source": {"userId": 5}, "content": {"type": "text", "text": "第一報"}},
        {"type": "message", "source": {"userId": "u"}, "content": {"type": "text", "text": ["第一報"]}},
        {"type": "message", "source": {"userId": "u"}, "content": "text"},
    ],
)
def test_signed_event_of_the_wrong_shape_is_rejected_by_the_worker_without_harm(
    bot: Bot, event: object
) -> None:
    assert bot.post_event(json.dumps(event).encode()).status_code == 200
    bot.drain()
    assert bot.hotline.storage.inbox_counts() == {"rejected": 1}
    assert bot.hotline.storage.incidents() == []


def test_unknown_event_types_are_kept_and_answered_200(bot: Bot) -> None:
    assert bot.post_event({"type": "somethingNew", "source": {"channelId": "c"}}).status_code == 200
    bot.drain()
    assert bot.hotline.storage.inbox_counts() == {"done": 1}


def test_oversized_body_is_refused_with_413(bot: Bot) -> None:
    body = b"x" * (bot.hotline.settings.max_body_bytes + 1)
    secret = bot.hotline.settings.credentials.bot_secret
    response = bot.client.post(
        "/callback", data=body, headers={"X-WORKS-BotId": BOT_ID, "X-WORKS-Signature": sign(secret, body)}
    )
    assert response.status_code == 413
    assert bot.hotline.storage.inbox_counts() == {}


def test_healthz_reports_queues(bot: Bot) -> None:
    body = bot.client.get("/healthz").get_json()
    assert body["status"] == "ok"


def test_missing_credential_names_the_variable(keypair: tuple[str, str]) -> None:
    env = {
        "LW_API_CLIENT_ID": "c",
        "LW_API_CLIENT_SECRET": "s",
        "LW_API_SERVICE_ACCOUNT": "a",
        "LW_API_PRIVATEKEY": keypair[0],
        "LW_API_BOT_ID": "123",
        "LW_API_BOT_SECRET": "b",
        "HOTLINE_API_TOKEN": "t" * 32,
    }
    assert settings_module.from_env(env).credentials.bot_id == "123"
    for name in ("LW_API_CLIENT_ID", "LW_API_BOT_SECRET", "HOTLINE_API_TOKEN"):
        with pytest.raises(SettingsError, match=name):
            settings_module.from_env({k: v for k, v in env.items() if k != name})
    with pytest.raises(SettingsError, match="LW_API_PRIVATEKEY is not a PEM RSA private key"):
        settings_module.from_env({**env, "LW_API_PRIVATEKEY": "-----BEGIN PRIVATE KEY-----\nxx\n"})
    with pytest.raises(SettingsError, match="LW_API_BOT_ID"):
        settings_module.from_env({**env, "LW_API_BOT_ID": "abc"})


def test_secrets_are_not_in_the_settings_repr(keypair: tuple[str, str]) -> None:
    env = {
        "LW_API_CLIENT_ID": "c",
        "LW_API_CLIENT_SECRET": "client-secret-value",
        "LW_API_SERVICE_ACCOUNT": "a",
        "LW_API_PRIVATEKEY": keypair[0],
        "LW_API_BOT_ID": "123",
        "LW_API_BOT_SECRET": "bot-secret-value",
        "HOTLINE_API_TOKEN": "api-token-value-of-thirty-two-chars",
    }
    text = repr(settings_module.from_env(env))
    for secret in ("client-secret-value", "bot-secret-value", "api-token-value", "PRIVATE KEY"):
        assert secret not in text
