"""The JMA settings: [earthquake] / [tsunami] in counterparts.toml validated with file and line,
HOTLINE_JMA_FEED_URL / HOTLINE_JMA_POLL_SECONDS validated naming the variable, and the feed off
unless configured, so that no test or CI run ever polls the internet."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hotline.config import ConfigError, load
from hotline.config import settings as settings_module
from hotline.config.settings import SettingsError, jma_from_env
from tests.support.bot import ROOT


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "counterparts.toml", tmp_path / "counterparts.toml")
    shutil.copytree(ROOT / "rooms", tmp_path / "rooms")
    return tmp_path


def edit(path: Path, old: str, new: str) -> int:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


def test_the_sample_maps_every_ehime_town_to_one_seismic_area_and_sets_a_reachable_threshold() -> None:
    config = load(ROOT)
    assert config.earthquake is not None and config.tsunami is not None
    areas = config.earthquake.areas
    assert set(areas) == {"620", "621", "622"}  # 愛媛県東予・中予・南予
    placed = [code for codes in areas.values() for code in codes]
    assert sorted(placed) == sorted(config.municipalities)  # each of the 20 exactly once
    assert "382060" in areas["620"]  # 西条市 in 東予, as JMA's own telegram says
    assert config.earthquake.min_intensity == "1"  # the demo threshold: 西条市 is at 震度1 in a sample
    assert set(config.tsunami.regions) == {"600", "601"}  # 宇和海沿岸, 瀬戸内海沿岸


def test_mistakes_in_the_jma_tables_are_listed_with_file_and_line(copy: Path) -> None:
    main = copy / "counterparts.toml"
    level = edit(main, 'min_intensity = "1"', 'min_intensity = "5弱"')
    roles = edit(
        main,
        'roll_call_roles = ["deputy_mayor", "disaster_head"',
        'roll_call_roles = ["deputy", "disaster_head"',
    )
    area = edit(main, '621 = ["382019"', '621 = ["389999"')
    category = edit(
        main, 'categories = ["大津波警報", "津波警報"]', 'categories = ["大津波警報", "津波予報"]'
    )
    with pytest.raises(ConfigError) as info:
        load(copy)
    found = "\n".join(str(p) for p in info.value.problems)
    assert f"counterparts.toml:{level}: earthquake.min_intensity: found '5弱'" in found
    assert f"counterparts.toml:{roles}: earthquake.roll_call_roles" in found
    assert (
        f"counterparts.toml:{area}: earthquake.areas.621[0]: found unknown municipality code 389999" in found
    )
    assert f"counterparts.toml:{category}: tsunami.categories[1]: found '津波予報'" in found


def test_the_feed_is_off_unless_configured_and_bad_values_name_the_variable() -> None:
    assert jma_from_env({}) == ("", 60.0)  # off: nothing polls unless HOTLINE_JMA_FEED_URL is set
    url = settings_module.JMA_FEED_URL
    assert jma_from_env({"HOTLINE_JMA_FEED_URL": url, "HOTLINE_JMA_POLL_SECONDS": "5"}) == (url, 5.0)
    with pytest.raises(SettingsError, match=r"HOTLINE_JMA_POLL_SECONDS=4: expected at least 5"):
        jma_from_env({"HOTLINE_JMA_POLL_SECONDS": "4"})
    with pytest.raises(SettingsError, match="HOTLINE_JMA_POLL_SECONDS='soon' is not a number"):
        jma_from_env({"HOTLINE_JMA_POLL_SECONDS": "soon"})
    with pytest.raises(SettingsError, match="HOTLINE_JMA_FEED_URL='ftp://x': expected an http"):
        jma_from_env({"HOTLINE_JMA_FEED_URL": "ftp://x"})
