"""The mail settings: HOTLINE_SMTP_URL turns the mail fallback on, and start-up refuses a
malformed one, or one without HOTLINE_MAIL_FROM, HOTLINE_PUBLIC_URL or a fixed
HOTLINE_SECRET_KEY, by name; the password is never shown, not even in an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotline.config import Config
from hotline.config import settings as settings_module
from hotline.config.settings import SettingsError
from hotline.demo.stack import ROOT, free_port
from hotline.runtime.service import Hotline
from tests.support.bot import credentials_env
from tests.support.processes import run_py

STRONG = "x7Qp" * 8
PASSWORD = "Pa55-w0rd-of-the-relay"


@pytest.fixture
def env(keypair: tuple[str, str], tmp_path: Path) -> dict[str, str]:
    """A valid production environment with mail on."""
    return {
        **credentials_env(keypair[0]),
        "HOTLINE_API_TOKEN": STRONG,
        "HOTLINE_DATABASE": str(tmp_path / "s.sqlite3"),
        "HOTLINE_PORT": str(free_port()),
        "HOTLINE_CONFIG_DIR": str(ROOT),
        "HOTLINE_SECRET_KEY": STRONG[::-1],
        "HOTLINE_SMTP_URL": f"smtp://hotline%40pref.example:{PASSWORD}@smtp.pref.example",
        "HOTLINE_MAIL_FROM": "hotline@pref.example",
        "HOTLINE_PUBLIC_URL": "https://hotline.pref.example/",
    }


def test_the_smtp_url_gives_server_login_and_the_fallback_its_defaults(env: dict[str, str]) -> None:
    mail = settings_module.from_env(env).mail
    assert mail is not None
    assert (mail.scheme, mail.host, mail.port, mail.username, mail.password) == (
        "smtp",
        "smtp.pref.example",
        587,
        "hotline@pref.example",
        PASSWORD,
    )
    assert (mail.sender, mail.public_url, mail.fallback_minutes, mail.per_minute) == (
        "hotline@pref.example",
        "https://hotline.pref.example",
        3.0,
        30,
    )
    assert PASSWORD not in repr(settings_module.from_env(env))
    tls = settings_module.from_env(
        {**env, "HOTLINE_SMTP_URL": "smtps://u:p@mail.example", "HOTLINE_MAIL_FALLBACK_MINUTES": "5"}
    )
    assert tls.mail is not None and (tls.mail.scheme, tls.mail.port, tls.mail.fallback_minutes) == (
        "smtps",
        465,
        5.0,
    )


def test_without_an_smtp_url_there_is_no_mail(env: dict[str, str], sample_config: Config) -> None:
    plain = {k: v for k, v in env.items() if k != "HOTLINE_SMTP_URL"}
    settings = settings_module.from_env(plain)
    assert settings.mail is None
    hotline = Hotline(settings, sample_config)
    assert "mail" not in hotline.transports and hotline.reports.mail is None
    hotline.sender.shutdown()
    on = Hotline(settings_module.from_env(env), sample_config)
    assert "mail" in on.transports and on.reports.mail is not None and on.drills.mail is not None
    on.sender.shutdown()


BAD = [
    ("HOTLINE_SMTP_URL", "mail.pref.example:587"),
    ("HOTLINE_SMTP_URL", f"http://u:{PASSWORD}@mail.pref.example"),
    ("HOTLINE_SMTP_URL", f"smtp://u:{PASSWORD}@mail.pref.example:port"),
    ("HOTLINE_SMTP_URL", f"smtp://u:{PASSWORD}@"),
    ("HOTLINE_SMTP_URL", f"smtp://u:{PASSWORD}@mail.pref.example/inbox"),
    ("HOTLINE_MAIL_FROM", ""),
    ("HOTLINE_MAIL_FROM", "hotline"),
    ("HOTLINE_MAIL_FROM", "防災ホットライン <hotline@pref.example.jp>"),  # a display name: no From
    ("HOTLINE_MAIL_FROM", "hotline@pref example.jp"),
    ("HOTLINE_MAIL_FROM", "@"),
    ("HOTLINE_PUBLIC_URL", ""),
    ("HOTLINE_PUBLIC_URL", "hotline.pref.example"),
    ("HOTLINE_PUBLIC_URL", "http://hotline.pref.example"),  # the links' tokens in the clear
    ("HOTLINE_SECRET_KEY", ""),
    ("HOTLINE_MAIL_FALLBACK_MINUTES", "three"),
    ("HOTLINE_MAIL_FALLBACK_MINUTES", "0"),
    ("HOTLINE_MAIL_FALLBACK_MINUTES", "100000"),
    ("HOTLINE_MAIL_PER_MINUTE", "-1"),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_malformed_or_missing_mail_setting_is_refused_by_name(
    env: dict[str, str], name: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=name) as refused:
        settings_module.from_env({**env, name: value})
    assert PASSWORD not in str(refused.value)


def test_start_up_stops_on_a_malformed_smtp_url_naming_it_and_never_its_password(env: dict[str, str]) -> None:
    done = run_py({**os.environ, **env, "HOTLINE_SMTP_URL": f"smtp://u:{PASSWORD}@mail.pref.example:port"})
    assert done.returncode == 2, done.stderr
    assert "hotline cannot start" in done.stderr and "HOTLINE_SMTP_URL" in done.stderr
    assert PASSWORD not in done.stderr
