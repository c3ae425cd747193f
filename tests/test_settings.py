"""Settings that refuse weak values: short API tokens and session keys, plain-http LINE WORKS
URLs (but for an emulator on the loopback), a mistyped number of trusted proxies. Start-up stops
with a message naming the variable, never showing its value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hotline.config import settings as settings_module
from hotline.config.settings import SettingsError
from hotline.demo.stack import ROOT, free_port
from tests.support.bot import credentials_env

STRONG = "x7Qp" * 8  # 32 characters


@pytest.fixture
def env(keypair: tuple[str, str], tmp_path: Path) -> dict[str, str]:
    """A complete, valid production environment (nothing is contacted: start-up stops first)."""
    return {
        **credentials_env(keypair[0]),
        "HOTLINE_API_TOKEN": STRONG,
        "HOTLINE_DATABASE": str(tmp_path / "s.sqlite3"),
        "HOTLINE_PORT": str(free_port()),
        "HOTLINE_CONFIG_DIR": str(ROOT),
    }


WEAK = [
    ("HOTLINE_API_TOKEN", "a"),
    ("HOTLINE_API_TOKEN", "e2e-token"),
    ("HOTLINE_API_TOKEN", "x" * 31),
    ("HOTLINE_SECRET_KEY", "k"),
    ("LW_API_BASE_URL", "http://www.worksapis.com/v1.0"),
    ("LW_AUTH_URL", "http://auth.worksmobile.com/oauth2/v2.0/token"),
    ("HOTLINE_TRUSTED_PROXIES", "yes"),
]


@pytest.mark.parametrize(("name", "value"), WEAK)
def test_start_up_refuses_a_weak_value_naming_the_variable(
    env: dict[str, str], name: str, value: str
) -> None:
    done = subprocess.run(
        [sys.executable, "run.py"],
        cwd=ROOT,
        env={**os.environ, **env, name: value},
        capture_output=True,
        text=True,
        timeout=30,  # a hotline that starts instead would be killed here, and the test fail
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "hotline cannot start" in done.stderr and name in done.stderr
    if name in ("HOTLINE_API_TOKEN", "HOTLINE_SECRET_KEY") and len(value) > 1:
        assert value not in done.stderr  # a secret is never echoed


def test_a_secret_of_32_characters_is_taken_and_an_unset_key_is_random(env: dict[str, str]) -> None:
    settings = settings_module.from_env({**env, "HOTLINE_SECRET_KEY": STRONG[::-1]})
    assert settings.api_token == STRONG and settings.secret_key == STRONG[::-1]
    one, two = settings_module.from_env(env), settings_module.from_env(env)
    assert len(one.secret_key) >= 32 and one.secret_key != two.secret_key
    with pytest.raises(SettingsError, match="HOTLINE_API_TOKEN is not set"):
        settings_module.from_env({**env, "HOTLINE_API_TOKEN": "  "})
    with pytest.raises(SettingsError, match=r"HOTLINE_SECRET_KEY is too short \(31 characters\)"):
        settings_module.from_env({**env, "HOTLINE_SECRET_KEY": STRONG[:31]})


@pytest.mark.parametrize(
    "url",
    [
        "https://www.worksapis.com/v1.0",
        "https://lw.test:8443/v1.0",
        "http://127.0.0.1:9/v1.0",
        "http://127.8.9.10/v1.0",
        "http://[::1]:9/v1.0",
        "http://localhost:9/v1.0",
    ],
)
def test_https_or_a_loopback_emulator_is_accepted(env: dict[str, str], url: str) -> None:
    credentials = settings_module.from_env({**env, "LW_API_BASE_URL": url, "LW_AUTH_URL": url}).credentials
    assert credentials.api_base_url == url and credentials.auth_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://lw.test/v1.0",
        "http://10.0.0.5/v1.0",
        "http://127.0.0.1.nip.io/v1.0",
        "http://localhost.example/v1.0",
        "ftp://www.worksapis.com/v1.0",
        "https:///v1.0",
        "https://lw.test:port/v1.0",
        "www.worksapis.com/v1.0",
    ],
)
@pytest.mark.parametrize("name", ["LW_API_BASE_URL", "LW_AUTH_URL"])
def test_other_lineworks_urls_are_refused_naming_the_variable(
    env: dict[str, str], name: str, url: str
) -> None:
    with pytest.raises(SettingsError, match=f"^{name} "):
        settings_module.from_env({**env, name: url})


def test_trusted_proxies_is_a_small_number_of_hops(env: dict[str, str]) -> None:
    assert settings_module.from_env(env).trusted_proxies == 0
    for raw, hops in (("0", 0), ("1", 1), (" 2 ", 2)):
        assert settings_module.from_env({**env, "HOTLINE_TRUSTED_PROXIES": raw}).trusted_proxies == hops
    for raw in ("-1", "one", "1.0", "6", "²", "127.0.0.1"):
        with pytest.raises(SettingsError, match="HOTLINE_TRUSTED_PROXIES"):
            settings_module.from_env({**env, "HOTLINE_TRUSTED_PROXIES": raw})
