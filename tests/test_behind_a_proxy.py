"""Behind a TLS-terminating proxy: with HOTLINE_TRUSTED_PROXIES the client's address (audit log,
login throttle: both read request.remote_addr) and scheme (the cookie's Secure flag) come from
the proxy's headers, and only then; every response says `nosniff` and `no-store`; `/healthz`
tells strangers only up or down.

The nginx of docs/DEPLOY.md in front of a real hotline: tests/test_deploy.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from hotline.clock import FixedClock
from hotline.config import Config
from hotline.config.settings import Credentials, Settings
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from tests.support.bot import ROOT, T0, TOKEN, Bot
from tests.support.web import ADMIN, LOGIN, PASSWORD, add_account, csrf_of

CLIENT = "203.0.113.5"  # a person's address, as the proxy saw it
PROXY = "127.0.0.1"  # the proxy, as hotline sees it


@pytest.fixture
def proxied(tmp_path: Path, credentials: Credentials, sample_config: Config) -> Iterator[Bot]:
    """A hotline behind one trusted proxy (HOTLINE_TRUSTED_PROXIES=1), with an admin account."""
    clock = FixedClock(T0)
    settings = Settings(
        credentials=credentials,
        api_token=TOKEN,
        config_dir=ROOT,
        database=tmp_path / "p.sqlite3",
        trusted_proxies=1,
    )
    hotline = Hotline(settings, sample_config, clock=clock)
    bot = Bot(hotline, create_app(hotline).test_client(), clock, sample_config)
    add_account(bot)
    yield bot
    hotline.sender.shutdown()


def _login_via_proxy(client: FlaskClient, forwarded: dict[str, str], password: str = PASSWORD) -> Any:
    """A login as a browser does it through the proxy (the Referer a browser sends, for CSRF's
    same-origin check over https)."""
    headers = {**forwarded, "Referer": "https://localhost/dashboard/login"}
    page = client.get(LOGIN, headers=headers, environ_base={"REMOTE_ADDR": PROXY})
    return client.post(
        LOGIN,
        data={"username": ADMIN, "password": password, "csrf_token": csrf_of(page.text)},
        headers=headers,
        environ_base={"REMOTE_ADDR": PROXY},
    )


def _logged_from(bot: Bot) -> list[str]:
    return [row["address"] for row in bot.hotline.storage.audit_entries() if row["action"] == "login"]


def test_behind_a_trusted_proxy_the_audit_log_has_the_clients_address(proxied: Bot) -> None:
    assert _login_via_proxy(proxied.client, {"X-Forwarded-For": CLIENT}).status_code == 302
    # A client that sends its own X-Forwarded-For: the proxy appends the address it saw, and
    # only that last hop is believed.
    forged = {"X-Forwarded-For": f"198.51.100.1, {CLIENT}"}
    assert _login_via_proxy(proxied.client.application.test_client(), forged).status_code == 302
    assert _logged_from(proxied) == [CLIENT, CLIENT]


def test_without_trusted_proxies_forwarded_headers_are_ignored(bot: Bot) -> None:
    add_account(bot)
    forwarded = {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}
    response = _login_via_proxy(bot.client, forwarded)
    assert response.status_code == 302
    assert "Secure" not in response.headers["Set-Cookie"]
    assert _logged_from(bot) == [PROXY]


def test_the_session_cookie_is_secure_whenever_the_request_came_over_https(proxied: Bot) -> None:
    page = proxied.client.get(LOGIN, headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": CLIENT})
    assert "; Secure" in page.headers["Set-Cookie"]
    response = _login_via_proxy(
        proxied.client.application.test_client(), {"X-Forwarded-Proto": "https", "X-Forwarded-For": CLIENT}
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie
    # Plain http (a health check from the proxy's host): no Secure, or the cookie would be lost.
    plain = proxied.client.application.test_client().get(LOGIN, headers={"X-Forwarded-Proto": "http"})
    assert "Secure" not in plain.headers["Set-Cookie"]


def _every_kind_of_answer(bot: Bot) -> dict[str, Any]:
    client = bot.client
    token = {"Authorization": f"Bearer {TOKEN}"}
    return {
        "callback 200": bot.post_event({"type": "message", "source": {"userId": "u"}, "content": {}}),
        "callback 401": client.post("/callback", data=b"{}", headers={"X-WORKS-Signature": "x"}),
        "callback 413": client.post("/callback", data=b"x" * (bot.hotline.settings.max_body_bytes + 1)),
        "healthz": client.get("/healthz"),
        "healthz with token": client.get("/healthz", headers=token),
        "api 401": client.get("/api/incidents"),
        "api 200": client.get("/api/incidents", headers=token),
        "api 404": client.get("/api/reports/999", headers=token),
        "metrics 401": client.get("/metrics"),
        "metrics": client.get("/metrics", headers=token),
        "login page": client.get(LOGIN),
        "redirect to login": client.get("/dashboard/"),
        "static file": client.get("/static/dashboard.css"),
        "dashboard static file": client.get("/dashboard/static/dashboard.css"),
        "unknown path": client.get("/nothing-here"),
        "wrong method": client.get("/callback"),
    }


def test_every_response_says_nosniff_and_no_store(bot: Bot) -> None:
    answers = _every_kind_of_answer(bot)
    codes = {name: r.status_code for name, r in answers.items()}
    assert codes["callback 413"] == 413 and codes["unknown path"] == 404 and codes["wrong method"] == 405
    assert codes["static file"] == 200 and codes["api 200"] == 200 and codes["callback 200"] == 200
    for name, response in answers.items():
        headers = response.headers
        assert headers.get("X-Content-Type-Options") == "nosniff", name
        assert headers.get("Cache-Control") == "no-store", name


def test_healthz_tells_strangers_only_up_or_down(bot: Bot) -> None:
    bot.post_event(b"not json")  # a rejected body: a counter a stranger must not see
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = bot.client.get("/healthz", headers=headers)
        assert response.status_code == 200 and response.get_json() == {"status": "ok"}, headers
    detailed = bot.client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert detailed["status"] == "ok" and detailed["counters"]["rejected_body"] == 1
    assert detailed["inbox"] == {"rejected": 1} and detailed["config"] == {"status": "ok", "problems": []}
