"""Structured logs: HOTLINE_LOG_FORMAT=json makes a real hotline process write one JSON object
per line (time with its zone, level, logger, message, exception) and nothing secret; text stays
the default; a value that is neither refuses to start and names the variable."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests

from hotline.cli import main as cli
from hotline.config import Config
from hotline.config.settings import log_format_from_env
from hotline.demo.stack import ROOT, EmulatorSide, HotlineProcess, free_port, hotline_env, wait_until
from hotline.runtime.logs import JsonFormatter


def entries(log: Path) -> list[dict[str, str]]:
    """Every line of the log as JSON (fails on a line that is not one object)."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def relay_a_report(side: EmulatorSide, process: HotlineProcess, port: int, config: Config, text: str) -> None:
    """Start the hotline process and have 宇和島市's deputy mayor post `text` in a group room."""
    process.start()
    side.emulator.set_callback_url(f"http://127.0.0.1:{port}/callback")
    group = next(r for r in config.rooms if r.key == "group-team1")
    side.act(config.municipalities["382035"].members[0], {"type": "text", "text": text}, group.channel_id)


def test_a_running_hotline_logs_one_json_object_per_line(tmp_path: Path, sample_config: Config) -> None:
    side = EmulatorSide(sample_config)
    port, log = free_port(), tmp_path / "hotline.log"
    env = {**hotline_env(side, tmp_path / "j.sqlite3", port), "HOTLINE_LOG_FORMAT": "json"}
    process = HotlineProcess(env, log)
    try:
        relay_a_report(side, process, port, sample_config, "第一報 JSON試験")
        wait_until(lambda: any("relayed to" in e["message"] for e in entries(log)), 30, "the relay")
        assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 401
    finally:
        process.stop()
        side.stop()
    logged = entries(log)
    assert len(logged) >= 2 and len(logged) == len(log.read_text().splitlines())
    for entry in logged:
        assert set(entry) >= {"time", "level", "logger", "message"}
        assert datetime.fromisoformat(entry["time"]).utcoffset() is not None  # the zone is written
    assert any(e["logger"] == "hotline.web.server" and "listening" in e["message"] for e in logged)
    text = log.read_text()
    credentials = side.credentials
    for secret in (credentials.bot_secret, credentials.client_secret, env["HOTLINE_API_TOKEN"]):
        assert secret not in text
    assert credentials.private_key_pem.splitlines()[1] not in text


@pytest.fixture
def json_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("hotline.tests.json")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_an_exception_stays_on_one_line_with_its_traceback(
    json_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_logger
    try:
        {}["channel"]
    except KeyError:
        logger.exception("送信に失敗しました: %s\n次の行", "outbox 7")
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "hotline.tests.json"
    assert entry["message"] == "送信に失敗しました: outbox 7\n次の行"  # Japanese kept as it is
    assert entry["exception"].startswith("Traceback") and "KeyError: 'channel'" in entry["exception"]


def test_text_stays_the_default_and_json_is_chosen_by_name() -> None:
    assert log_format_from_env({}) == "text"
    assert log_format_from_env({"HOTLINE_LOG_FORMAT": " "}) == "text"
    assert log_format_from_env({"HOTLINE_LOG_FORMAT": "JSON"}) == "json"


def test_a_bad_log_format_refuses_to_start_and_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LW_", "HOTLINE_"))}
    done = subprocess.run(
        [sys.executable, "run.py"],
        cwd=ROOT,
        env={**env, "HOTLINE_LOG_FORMAT": "logfmt"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "HOTLINE_LOG_FORMAT='logfmt': expected one of ['json', 'text']" in done.stderr
    assert "LW_API" not in done.stderr  # refused first, before the credentials are read
    monkeypatch.setenv("HOTLINE_LOG_FORMAT", "xml")
    assert cli.main(["--config", str(ROOT), "check"]) == 2
    assert "hotline check: HOTLINE_LOG_FORMAT='xml'" in capsys.readouterr().err


def test_the_text_log_has_hotlines_lines_with_their_zone_and_no_scheduler_chatter(
    tmp_path: Path, sample_config: Config
) -> None:
    side = EmulatorSide(sample_config)
    port, log = free_port(), tmp_path / "hotline.log"
    process = HotlineProcess(hotline_env(side, tmp_path / "t.sqlite3", port), log)  # text: the default
    try:
        relay_a_report(side, process, port, sample_config, "第一報 ログ試験")
        wait_until(lambda: "relayed to" in log.read_text(), 30, "the relay")
    finally:
        process.stop()
        side.stop()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert any("hotline.web.server" in line and "listening" in line for line in lines)
    assert [line for line in lines if "apscheduler" in line and " INFO " in line] == []
    stamp = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) [A-Z]+ ")
    for line in lines:
        if line.startswith((" ", "Traceback")):
            continue  # a traceback's continuation
        found = stamp.match(line)
        assert found, line
        assert datetime.fromisoformat(found.group(1)).utcoffset() is not None
