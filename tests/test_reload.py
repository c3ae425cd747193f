"""Hand edits of the configuration are picked up while the bot runs; a broken one is refused,
the last good configuration keeps running, and administrators see why."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hotline.cli import main as cli
from hotline.config import load
from tests.support.bot import ROOT, TOKEN, Bot
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import REPORT, UWAJIMA, member, room
from tests.support.web import add_account, login


@pytest.fixture
def editable(bot: Bot, tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "config"
    root.mkdir()
    shutil.copy(ROOT / "counterparts.toml", root / "counterparts.toml")
    shutil.copytree(ROOT / "rooms", root / "rooms")
    bot.hotline.settings = replace(bot.hotline.settings, config_dir=root)
    bot.hotline.replace_config(load(root))
    bot.hotline.check_config_files()
    yield root


NEW_ROOM = (
    'title = "宇和島市 第二対策室"\nchannel_id = "0b1c2d3e-aaaa-bbbb-cccc-000000000001"\n'
    'link = "municipality"\nmunicipality = "382035"\n'
)


def test_a_valid_hand_edit_is_used_without_a_restart(bot: Bot, lw: FakeLineWorks, editable: Path) -> None:
    (editable / "rooms" / "uwajima-2.toml").write_text(NEW_ROOM)
    assert bot.hotline.check_config_files()
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT)
    bot.drain()
    assert any("【第一報】" in t for t in lw.texts_to("0b1c2d3e-aaaa-bbbb-cccc-000000000001"))
    assert bot.hotline.config_problems == []


def test_a_broken_hand_edit_keeps_the_last_good_configuration_and_is_shown(
    bot: Bot, lw: FakeLineWorks, editable: Path
) -> None:
    (editable / "rooms" / "hq.toml").write_text('title = "本部"\nlink = "hq"\nchannel_id = \n')
    assert bot.hotline.check_config_files()
    assert str(bot.hotline.config_problems[0]).startswith("rooms/hq.toml:3: (syntax)")
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT)
    bot.drain()
    assert any("【第一報】" in t for t in lw.texts_to(room(bot.config, "hq")))  # HQ still reached
    health = bot.client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert health["config"]["status"] == "refused_edit"
    # Administrators see it on every dashboard page.
    add_account(bot)
    assert login(bot.client).status_code == 302
    page = bot.client.get("/dashboard/").get_data(as_text=True)
    assert "設定ファイルの変更を反映できませんでした" in page and "rooms/hq.toml:3" in page
    # Fixing the file clears it.
    shutil.copy(ROOT / "rooms" / "hq.toml", editable / "rooms" / "hq.toml")
    assert bot.hotline.check_config_files()
    assert bot.hotline.config_problems == []
    assert "設定ファイルの変更を反映できませんでした" not in bot.client.get("/dashboard/").get_data(
        as_text=True
    )


def test_reports_in_flight_keep_their_rooms(bot: Bot, lw: FakeLineWorks, editable: Path) -> None:
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT)
    bot.hotline.process_inbox_once()  # enqueued for the rooms of the time
    (editable / "rooms" / "municipality-382035.toml").unlink()
    assert bot.hotline.check_config_files() and bot.hotline.config_problems == []
    bot.drain()
    assert any("【第一報】" in t for t in lw.texts_to(room(bot.config, "municipality-382035")))


def test_hotline_reload_refuses_a_broken_configuration(
    editable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(editable), "reload"]) == 0
    assert "within 5 seconds" in capsys.readouterr().out
    (editable / "rooms" / "hq.toml").write_text('title = "本部"\nlink = "nowhere"\n')
    assert cli.main(["--config", str(editable), "reload"]) == 1
    assert "rooms/hq.toml:2: link" in capsys.readouterr().err
