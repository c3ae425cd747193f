"""Hostile input that is not a forgery: a spreadsheet formula planted in a report, control
characters in names and keys, a line break smuggled into a TOML comment, a broken character
in an id. Each is refused or made harmless, at once, and nothing else changes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import tomlkit

from hotline.cli import main as cli
from hotline.config import COUNTERPARTS_FILE, load
from hotline.config.editing import Change, apply, layout
from hotline.domain.csvexport import to_csv
from tests.support.bot import Bot, message_event
from tests.support.config_files import copy_config, files
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import UWAJIMA, member, room
from tests.support.web import add_account, login

FORMULA = "=cmd|' /C calc'!A0"


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM, so that Excel reads the Japanese
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


# -- CSV exports ---------------------------------------------------------------------------------


def test_a_formula_planted_in_a_report_stays_text_in_the_chronology_csv(bot: Bot, lw: FakeLineWorks) -> None:
    bot.say(uid(member(bot.config, UWAJIMA)), f"第一報 {FORMULA}", room(bot.config, "group-team1"))
    bot.drain()
    add_account(bot)
    login(bot.client)
    response = bot.client.get("/dashboard/incidents/1.csv")
    assert response.status_code == 200
    cells = [cell for row in csv_rows(response.data)[1:] for cell in row]
    assert "'" + FORMULA in cells  # shown as the text it is, the apostrophe hidden by Excel
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_no_exported_cell_starts_like_a_formula(start: str) -> None:
    rows = csv_rows(to_csv(["a", "b", "c"], [[f"{start}SUM(A1)", 7, -3]]))
    assert rows[1] == [f"'{start}SUM(A1)", "7", "-3"]  # numbers stay numbers


# -- names, titles and keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('name = "宇和島市"', 'name = "宇和島市\\t"', "municipalities[2].name"),
        ('name = "宇和島市"', 'name = "宇和\\u202e島市"', "municipalities[2].name"),
        ('code = "382035"', 'code = "382035\\n"', "municipalities[2].code"),
        ('id = "team1"', 'id = "team1\\r"', "groups[0].id"),
    ],
)
def test_control_characters_in_names_and_keys_are_refused_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, where: str
) -> None:
    root = copy_config(tmp_path / "config")
    text = (root / COUNTERPARTS_FILE).read_text(encoding="utf-8")
    assert old in text
    (root / COUNTERPARTS_FILE).write_text(text.replace(old, new, 1), encoding="utf-8")
    assert cli.main(["--config", str(root), "check"]) == 1
    captured = capsys.readouterr()
    out = captured.out + captured.err
    line = 1 + text[: text.index(old)].count("\n")
    assert f"counterparts.toml:{line}: {where}: found a control character" in out
    assert "expected text without control characters" in out


def test_a_control_character_in_a_room_title_is_refused(tmp_path: Path) -> None:
    root = copy_config(tmp_path / "config")
    path = root / "rooms" / "hq.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('title = "', 'title = "\\n', 1), encoding="utf-8")
    with pytest.raises(Exception) as refused:
        load(root)
    assert "rooms/hq.toml:" in str(refused.value) and "control character (U+000A)" in str(refused.value)


def test_a_rename_cannot_smuggle_an_hq_member_through_a_comment(tmp_path: Path) -> None:
    """The attack: rename a town to a name holding a line break and `[[hq.members]]`, then make
    an edit that writes that name into a comment (a new counterpart entry's `# 新居浜市`)."""
    root = copy_config(tmp_path / "config")
    before = files(root)
    evil = (
        '新居浜市\n[[hq.members]]\nname = "侵入者"\nrole = "hq_staff"\n'
        'email = "evil@attacker.example"\nuser_id = ""\n#'
    )
    outcome = apply(
        root,
        [
            Change("municipality", "update", "382051", {"name": evil}),
            Change("counterpart", "remove", "384020"),
            Change("counterpart", "add", "384020", {"primary": "382019", "secondary": ["382051"]}),
        ],
    )
    assert not outcome.ok and files(root) == before  # refused, nothing written
    assert [(p.field, p.message) for p in outcome.problems] == [
        ("name", "市町名に改行・タブなどの制御文字は使えません")
    ]
    assert "evil@attacker.example" not in {m.email for m in load(root).hq_members}


def test_a_comment_is_always_one_line() -> None:
    document = tomlkit.parse('primary = "382019"  # 松山市\nsecondary = []\n')
    layout.set_comment(document, "primary", '# 松山市\n[[hq.members]]\nname = "侵入者"')
    text = tomlkit.dumps(document)
    assert text.count("\n") == 2 and tomlkit.parse(text).unwrap() == {"primary": "382019", "secondary": []}


# -- ids from callbacks --------------------------------------------------------------------------


def test_a_broken_character_in_a_user_id_is_handled_at_the_first_try(bot: Bot, lw: FakeLineWorks) -> None:
    event = message_event(
        "u-\ud83d-x", {"type": "text", "text": "第一報 停電"}, room(bot.config, "group-team1")
    )
    body = json.dumps({**event, "issuedTime": "2026-11-20T18:12:00.000Z"}).encode()
    assert bot.post_event(body).status_code == 200
    bot.hotline.process_inbox_once()  # one pass: decided, not kept for a retry
    assert bot.hotline.storage.inbox_counts() == {"done": 1}  # a stranger, answered politely
    (refusal,) = bot.hotline.storage.refusals("stranger")
    assert refusal["user_id"] == "u-\ufffd-x"
    bot.drain()
    assert not any("【要確認】" in t for t in lw.texts_to(room(bot.config, "hq")))
