"""`python run.py` as a user starts it: the demo works with no credentials; production mode
refuses a broken configuration or a missing credential, says why, and never exposes the
emulator."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import requests

from hotline.config import Config
from hotline.demo import demo_user_id
from hotline.demo.stack import ROOT, EmulatorSide, HotlineProcess, free_port, hotline_env, wait_until


def test_demo_mode_prints_both_addresses_and_relays_a_report(tmp_path: Path, sample_config: Config) -> None:
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
        text = wait_until(
            lambda: "終了するには" in log.read_text() and log.read_text(), 60, "the demo banner"
        )
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
    finally:
        proc.terminate()
        proc.wait(10)


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
