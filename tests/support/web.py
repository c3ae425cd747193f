"""Logging in to the dashboard in the Flask test client: a test account, its password, the CSRF field."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from hotline.domain import accounts
from tests.support.bot import Bot

ADMIN = "hq-admin"  # the account these tests log in with
PASSWORD = "correct horse battery staple"  # a test account's password
LOGIN = "/dashboard/login"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def add_account(bot: Bot, username: str = ADMIN, role: str = "admin", password: str = PASSWORD) -> None:
    accounts.create(bot.hotline.storage, username, password, role, by="test", at=bot.clock.now())


def login(client: FlaskClient, password: str = PASSWORD, *, username: str = ADMIN, **extra: str) -> Any:
    page = client.get(LOGIN)
    assert page.status_code == 200
    return client.post(
        LOGIN,
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text), **extra},
    )
