"""The benchmarks' generated prefecture of Hokkaido's size (bench/bigpref.py) is a valid
configuration: the start-up validation and `hotline check` accept it, its municipality codes
are real-looking (01xxxC with the check digit), and the relay rule reaches what it should. So
the generator cannot rot between benchmark runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bigpref import EHIME, check_digit, write_prefecture
from hotline.cli import main as cli
from hotline.config.counterparts import linked_municipalities, linked_rooms


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("011002", "札幌市"),
        ("012025", "函館市"),
        ("010006", "北海道"),
        ("382035", "宇和島市"),
        ("380008", "愛媛県"),
    ],
)
def test_the_check_digit_is_that_of_real_codes(code: str, name: str) -> None:
    assert check_digit(code[:5]) == code[5], name


def test_the_generated_hokkaido_is_valid_and_hotline_check_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_prefecture(tmp_path)  # loads it: the start-up validation

    assert config.prefecture_name == "北海道" and config.prefecture_code == "010006"
    assert len(config.municipalities) == 179 and len(config.groups) == 14
    for code, town in config.municipalities.items():
        assert len(code) == 6 and code.startswith("01") and code[5] == check_digit(code[:5]), code
        assert len(town.members) == 5 and town.members[0].role == "deputy_mayor"
        assert all(m.user_id for m in town.members)
    links = [room.link for room in config.rooms]
    assert links.count("municipality") == 179 and links.count("group") == 14 and links.count("hq") == 1
    assert {r.target for r in config.rooms if r.link == "municipality"} == set(config.municipalities)
    assert sorted(len(g.municipalities) for g in config.groups.values())[-1] == 24  # 空知

    # A report reaches its group's room, its own and its three supporters' rooms, and HQ.
    for code in config.municipalities:
        assert len(linked_rooms(config, code)) == 6, code
        group = next(g for g in config.groups.values() if code in g.municipalities)
        assert set(linked_municipalities(config, code)) == set(group.municipalities)

    assert cli.main(["--config", str(tmp_path), "check"]) == 0
    assert capsys.readouterr().out.startswith("OK: 北海道, 179 municipalities, 14 groups")


def test_the_ehime_sized_baseline_is_valid(tmp_path: Path) -> None:
    config = write_prefecture(tmp_path, EHIME, name="愛媛県", code="38")
    assert len(config.municipalities) == 20 and len(config.groups) == 3
    assert all(code.startswith("38") and code[5] == check_digit(code[:5]) for code in config.municipalities)
