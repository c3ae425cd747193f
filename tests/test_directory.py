"""`hotline members verify` and `hotline rooms sync` against the emulator over HTTP."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.cli import main as cli
from hotline.config import Config, load
from hotline.demo import demo_user_id
from hotline.demo.stack import EmulatorSide, free_port, hotline_env
from lineworks_emulator.state import User
from tests.support.bot import ROOT


@pytest.fixture
def side(sample_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorSide]:
    emulator = EmulatorSide(sample_config)
    for name, value in hotline_env(emulator, tmp_path / "d.sqlite3", free_port()).items():
        monkeypatch.setenv(name, value)
    yield emulator
    emulator.stop()


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    root.mkdir()
    shutil.copy(ROOT / "counterparts.toml", root / "counterparts.toml")
    shutil.copytree(ROOT / "rooms", root / "rooms")
    return root


def test_members_verify_flags_suspended_and_unknown_accounts(
    side: EmulatorSide, sample_config: Config, config_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transferred = sample_config.municipalities["382019"].members[2]
    side.emulator.state.users[demo_user_id(transferred)].is_suspended = True
    text = (config_copy / "counterparts.toml").read_text()
    text = text.replace('email = "bosai@matsuno.example"', 'email = "bosai-new@matsuno.example"')
    (config_copy / "counterparts.toml").write_text(text)
    assert cli.main(["--config", str(config_copy), "members", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"{transferred.name}" in out and "アカウントが停止されています" in out
    assert "bosai-new@matsuno.example" in out and "LINE WORKS に見つかりません" in out
    assert out.strip().endswith("90 members checked, 2 need attention")


def test_members_verify_flags_pending_and_awaiting_accounts(
    side: EmulatorSide, sample_config: Config, config_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # user-get: isPending (登録待ち) and isAwaiting (待機中) accounts cannot receive anything yet
    new_staff, next_month = sample_config.municipalities["382019"].members[1:3]
    side.emulator.state.users[demo_user_id(new_staff)].is_pending = True
    side.emulator.state.users[demo_user_id(next_month)].is_awaiting = True
    assert cli.main(["--config", str(config_copy), "members", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"{new_staff.name}" in out and "アカウントが登録待ちです" in out
    assert f"{next_month.name}" in out and "アカウントが待機中です" in out
    assert out.strip().endswith("90 members checked, 2 need attention")


def test_rooms_sync_creates_a_missing_room_and_writes_its_channel_id_back(
    side: EmulatorSide, config_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new_room = config_copy / "rooms" / "municipality-384844.toml"
    new_room.write_text(
        "# 松野町の災害対策室（これから作る）\n"
        'title = "松野町 災害対策室"\n'
        'channel_id = ""  # 空なら hotline rooms sync で作成\n'
        'link = "municipality"\nmunicipality = "384844"\n'
    )
    assert cli.main(["--config", str(config_copy), "rooms", "sync"]) == 0
    out = capsys.readouterr().out
    assert "作成 rooms/municipality-384844.toml（松野町 災害対策室）" in out
    written = new_room.read_text()
    assert written.startswith("# 松野町の災害対策室（これから作る）\n")  # comments kept
    assert "# 空なら hotline rooms sync で作成" in written
    channel_id = next(r.channel_id for r in load(config_copy).rooms if r.key == "municipality-384844")
    room = next(r for r in side.state()["rooms"] if r["id"] == channel_id)
    assert room["title"] == "松野町 災害対策室" and len(room["members"]) == 4
    # The first message makes it appear in the members' room lists.
    assert any(
        s["channelId"] == channel_id and "hotline ボットが作成しました" in s["content"]["text"]
        for s in side.sent()
    )
    assert not list(new_room.parent.glob(".municipality-384844.toml.*"))  # no temp file left


def test_rooms_sync_reports_who_is_missing_from_an_existing_room(
    side: EmulatorSide, sample_config: Config, config_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (config_copy / "counterparts.toml").read_text()
    # A new HQ member who is not in the LINE WORKS room yet.
    text = text.replace(
        "[[hq.members]]",
        '[[hq.members]]\nname = "新任 花子"\nrole = "hq_staff"\n'
        'email = "hq.new@pref-ehime.example"\nuser_id = "u-new-1"\n\n[[hq.members]]',
        1,
    )
    (config_copy / "counterparts.toml").write_text(text)
    side.emulator.state.users["u-new-1"] = User(
        user_id="u-new-1",
        email="hq.new@pref-ehime.example",
        name="新任 花子",
        org="愛媛県",
        position="本部員",
    )
    assert cli.main(["--config", str(config_copy), "rooms", "sync"]) == 1
    out = capsys.readouterr().out
    assert "差分 rooms/hq.toml" in out and "いない人: 新任 花子" in out
    assert "LINE WORKS アプリで部屋のメニューから招待してください" in out
