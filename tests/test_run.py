"""`python run.py` as a user starts it: the demo works with no credentials; production mode
refuses a broken configuration or a missing credential, says why, and never exposes the
emulator."""

from __future__ import annotations

import os
import re
import shutil
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import requests

from hotline.config import Config
from hotline.config.settings import from_env
from hotline.demo import demo_user_id
from hotline.demo.stack import ROOT, EmulatorSide, HotlineProcess, free_port, hotline_env, wait_until


@contextmanager
def demo(tmp_path: Path) -> Iterator[str]:
    """`python run.py --demo` as `make run` starts it; yields its banner, stops it afterwards."""
    log = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LW_", "HOTLINE_"))}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "run.py",
                "--demo",
                "--port",
                str(free_port()),
                "--emulator-port",
                str(free_port()),
            ],
            cwd=ROOT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield wait_until(lambda: "終了するには" in log.read_text() and log.read_text(), 60, "the demo banner")
    finally:
        proc.terminate()
        proc.wait(10)


def test_demo_mode_prints_both_addresses_and_relays_a_report(tmp_path: Path, sample_config: Config) -> None:
    with demo(tmp_path) as text:
        talk = re.search(r"トーク画面.*?(http://127\.0\.0\.1:\d+)/", text)
        hotline = re.search(r"hotline（本体）:\s+(http://127\.0\.0\.1:\d+)/healthz", text)
        assert talk and hotline, text
        assert requests.get(hotline.group(1) + "/healthz", timeout=5).json()["status"] == "ok"
        # The banner's demo administrator logs in to the dashboard.
        account = re.search(r"ユーザー名 (\S+) / パスワード (\S+)", text)
        assert account, text
        browser = requests.Session()
        form = browser.get(hotline.group(1) + "/dashboard/login", timeout=5).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token
        logged_in = browser.post(
            hotline.group(1) + "/dashboard/login",
            data={"username": account.group(1), "password": account.group(2), "csrf_token": token.group(1)},
            timeout=10,
        )
        assert logged_in.url.endswith("/dashboard/") and "災害一覧" in logged_in.text
        assert "トーク" in requests.get(talk.group(1) + "/", timeout=5).text
        group = next(r for r in sample_config.rooms if r.key == "group-team1")
        poster = sample_config.municipalities["382035"].members[0]
        act = requests.post(
            talk.group(1) + "/_emulator/act",
            json={
                "userId": demo_user_id(poster),
                "channelId": group.channel_id,
                "content": {"type": "text", "text": "第一報 デモの報告"},
            },
            timeout=30,
        )
        assert act.json()["status"] == 200

        def relayed() -> set[str]:
            sent = requests.get(talk.group(1) + "/_emulator/state", timeout=5).json()["sent"]
            return {s["channelId"] for s in sent if "デモの報告" in (s["content"].get("contentText") or "")}

        assert len(wait_until(lambda: len(relayed()) == 3 and relayed(), 30, "the relay")) == 3


def send_mail(smtp_url: str, sender: str, subject: str) -> None:
    """What hotline's mail fallback does with HOTLINE_SMTP_URL: one message over SMTP."""
    address = urlsplit(smtp_url)
    assert address.scheme == "smtp" and address.hostname == "127.0.0.1" and address.port, smtp_url
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "fukushicho@uwajima.example", subject
    message.set_content("LINE WORKS で届かなかったため、メールでお送りします。")
    with smtplib.SMTP(address.hostname, address.port or 25, timeout=5) as smtp:
        smtp.send_message(message)


def test_demo_banner_names_the_mailbox_page_where_mail_to_the_demo_mail_server_shows(
    tmp_path: Path,
) -> None:
    with demo(tmp_path) as text:
        mailbox = re.search(r"受信メール（デモ用メールサーバー）:\s+(http://127\.0\.0\.1:\d+/mail)\n", text)
        smtp = re.search(r"メール送信先（SMTP、デモ用）:\s+(smtp://127\.0\.0\.1:\d+)\n", text)
        assert mailbox and smtp, text
        assert "まだメールは届いていません。" in requests.get(mailbox.group(1), timeout=5).text

        send_mail(smtp.group(1), "hotline@demo.invalid", "【第一報・メール代替】宇和島市")

        page = requests.get(mailbox.group(1), timeout=5).text
        assert "受信メール（デモ用）" in page and "【第一報・メール代替】宇和島市" in page


def test_the_stack_gives_hotline_its_mailbox_and_the_address_its_mail_links_point_at(
    tmp_path: Path, sample_config: Config
) -> None:
    side = EmulatorSide(sample_config)
    other = EmulatorSide(sample_config)
    try:
        port = free_port()
        env = hotline_env(side, tmp_path / "m.sqlite3", port)
        assert env["HOTLINE_PUBLIC_URL"] == f"http://127.0.0.1:{port}"
        assert env["HOTLINE_MAIL_FROM"] == "hotline@demo.invalid"
        # hotline accepts the demo's secret key, and it is the same for every stack, so a test
        # can sign and read the links in the mails of a hotline process it started.
        other_env = hotline_env(other, tmp_path / "o.sqlite3", port)
        assert from_env(env).secret_key == env["HOTLINE_SECRET_KEY"] == other_env["HOTLINE_SECRET_KEY"]

        send_mail(env["HOTLINE_SMTP_URL"], env["HOTLINE_MAIL_FROM"], "【訓練】参集確認")

        [mail] = requests.get(f"{side.base}/_emulator/mail", timeout=5).json()["mails"]
        assert (mail["from"], mail["subject"]) == ("hotline@demo.invalid", "【訓練】参集確認")
        assert "【訓練】参集確認" in requests.get(f"{side.base}/mail", timeout=5).text
        assert requests.get(f"{other.base}/_emulator/mail", timeout=5).json()["mails"] == []
    finally:
        side.stop()
        other.stop()


def run_production(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_production_refuses_a_broken_configuration_and_says_where(
    tmp_path: Path, sample_config: Config
) -> None:
    side = EmulatorSide(sample_config)
    try:
        shutil.copy(ROOT / "counterparts.toml", tmp_path / "counterparts.toml")
        shutil.copytree(ROOT / "rooms", tmp_path / "rooms")
        (tmp_path / "rooms" / "hq.toml").write_text('title = "本部"\nlink = "hq"\nchannel_id = 5\n')
        env = {
            **os.environ,
            **hotline_env(side, tmp_path / "x.sqlite3", free_port()),
            "HOTLINE_CONFIG_DIR": str(tmp_path),
        }
        done = run_production(env)
        assert done.returncode == 2
        assert "hotline cannot start" in done.stderr and "rooms/hq.toml:3: channel_id" in done.stderr

        del env["LW_API_BOT_SECRET"]
        done = run_production(env)
        assert done.returncode == 2 and "LW_API_BOT_SECRET is not set" in done.stderr
    finally:
        side.stop()


def test_production_mode_does_not_expose_the_emulator(tmp_path: Path, sample_config: Config) -> None:
    side = EmulatorSide(sample_config)
    port = free_port()
    process = HotlineProcess(hotline_env(side, tmp_path / "p.sqlite3", port), tmp_path / "p.log")
    try:
        process.start()
        base = f"http://127.0.0.1:{port}"
        for path in ("/", "/_emulator/state", "/v1.0/users/x", "/oauth2/v2.0/token"):
            assert requests.get(base + path, timeout=5).status_code in (404, 405), path
        assert requests.get(base + "/healthz", timeout=5).status_code == 200
    finally:
        process.stop()
        side.stop()
