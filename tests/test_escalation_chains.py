"""Escalation chains: per town, whom HQ calls in order as the town stays silent. The HQ alert
names the chain's person due at its moment, with the number, and a new alert names the next
person when the chain advances. The sample gives 新居浜市 a chain (合田 at 20 min, 伊藤 at
40, 真鍋 at 60) and 伊予市 one; 今治市 has none (its 防災担当部長 has the only number)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hotline.config import ConfigError, load
from hotline.config.counterparts import linked_municipalities
from hotline.config.editing import Change, apply
from hotline.domain.acknowledgements import sign_postback
from tests.support.bot import Bot, message_event
from tests.support.config_files import copy_config
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import REPORT, UWAJIMA, member, room
from tests.support.web import add_account, login

NIIHAMA = "382051"
IMABARI = "382027"


def first_report(bot: Bot) -> None:
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT, room(bot.config, "group-team1"))
    bot.drain()


def acknowledge(bot: Bot, code: str) -> None:
    content = {
        "type": "text",
        "text": "確認しました",
        "postback": sign_postback(bot.hotline.settings.credentials.bot_secret, 1),
    }
    bot.post_event(message_event(uid(member(bot.config, code)), content))
    bot.drain()


def alerts(bot: Bot, lw: FakeLineWorks) -> list[str]:
    return [t for t in lw.texts_to(room(bot.config, "hq")) if t.startswith("【未確認】")]


def at_minute(bot: Bot, minutes: int, start: object) -> None:
    from datetime import datetime, timedelta

    assert isinstance(start, datetime)
    bot.clock.current = start + timedelta(minutes=minutes)
    bot.hotline.reminders.run_due()
    bot.drain()


def test_the_hq_alert_names_the_next_person_of_the_chain_and_the_number_as_time_passes(
    bot: Bot, lw: FakeLineWorks
) -> None:
    start = bot.clock.now()
    first_report(bot)
    for code in linked_municipalities(bot.config, UWAJIMA):
        if code not in (UWAJIMA, NIIHAMA, IMABARI):
            acknowledge(bot, code)
    at_minute(bot, 20, start)
    assert [a.splitlines()[0] for a in alerts(bot, lw)] == [
        "【未確認】宇和島市の第一報（03:12）を20分たっても確認していない市町: 新居浜市、今治市"
    ]
    assert alerts(bot, lw)[0].splitlines()[2:] == [
        "・新居浜市 副市長 合田 修 0897-00-0001（連絡順 1/3）",
        "・今治市 防災担当部長 菅 正人 0898-00-0002",  # no chain: as before chains
    ]
    at_minute(bot, 39, start)
    assert len(alerts(bot, lw)) == 1  # the chain has not advanced: nothing new
    at_minute(bot, 40, start)
    assert len(alerts(bot, lw)) == 2
    assert alerts(bot, lw)[1].splitlines()[0].startswith("【未確認】宇和島市の第一報（03:12）を40分たっても")
    assert alerts(bot, lw)[1].splitlines()[2:] == [
        "・新居浜市 防災担当部長 伊藤 美穂 0897-00-0002（連絡順 2/3）",
        "・今治市 防災担当部長 菅 正人 0898-00-0002",
    ]
    at_minute(bot, 60, start)
    assert alerts(bot, lw)[2].splitlines()[2] == "・新居浜市 人事担当課長 真鍋 剛 0897-00-0003（連絡順 3/3）"
    at_minute(bot, 120, start)
    assert len(alerts(bot, lw)) == 3  # the end of the chain: no more alerts


def test_a_town_that_acknowledges_stops_its_chain(bot: Bot, lw: FakeLineWorks) -> None:
    start = bot.clock.now()
    first_report(bot)
    for code in linked_municipalities(bot.config, UWAJIMA):
        if code not in (UWAJIMA, NIIHAMA):
            acknowledge(bot, code)
    at_minute(bot, 40, start)  # the first run after a pause: one alert, at the chain's 40-min step
    assert [a.splitlines()[2] for a in alerts(bot, lw)] == [
        "・新居浜市 防災担当部長 伊藤 美穂 0897-00-0002（連絡順 2/3）"
    ]
    acknowledge(bot, NIIHAMA)
    at_minute(bot, 60, start)
    assert len(alerts(bot, lw)) == 1


def test_the_municipality_page_shows_the_chain(bot: Bot, lw: FakeLineWorks) -> None:
    add_account(bot)
    login(bot.client)
    page = bot.client.get(f"/dashboard/admin/config/municipalities/{NIIHAMA}").get_data(as_text=True)
    chain = page.split('data-testid="escalation-chain">', 1)[1].split("</ol>", 1)[0]
    assert re.findall(r"<li>(.*?)</li>", chain) == [
        "副市長 合田 修 0897-00-0001（20分後から）",
        "防災担当部長 伊藤 美穂 0897-00-0002（40分後から）",
        "人事担当課長 真鍋 剛 0897-00-0003（60分後から）",
    ]


# -- validated once, with file and line --------------------------------------------------------


@pytest.mark.parametrize(
    ("chain", "found", "expected"),
    [
        (
            'chain = ["合田 修", "nobody@niihama.example"], after_minutes = [20, 40]',
            "municipalities[4].escalation.chain[1]: found 'nobody@niihama.example', not a member of this "
            "municipality",
            "the e-mail, user_id or name of one of its [[municipalities.members]]",
        ),
        (
            'chain = ["合田 修", "近藤 早紀"], after_minutes = [20, 40]',
            "municipalities[4].escalation.chain[1]: found 近藤 早紀 without a phone number",
            'a member with phone = "..." (HQ calls them)',
        ),
        (
            'chain = ["合田 修", "伊藤 美穂"], after_minutes = [20]',
            "municipalities[4].escalation.after_minutes: found [20]",
            "an array of 2 whole numbers of minutes after the report (0 to 10000), one per person in chain",
        ),
        (
            'chain = ["合田 修", "伊藤 美穂"], after_minutes = [40, 20]',
            "municipalities[4].escalation.after_minutes: found [40, 20]",
            "minutes in increasing order (the chain advances)",
        ),
        (
            'chain = ["合田 修", "合田 修"], after_minutes = [20, 40]',
            "municipalities[4].escalation.chain[1]: found 合田 修 twice",
            "each person once in the chain",
        ),
        (
            'chain = ["合田 修"], after_minutes = [20], who = "x"',
            "municipalities[4].escalation.who: found unknown key 'who'",
            "one of ['after_minutes', 'chain']",
        ),
    ],
)
def test_a_broken_chain_is_refused_with_file_and_line(
    tmp_path: Path, chain: str, found: str, expected: str
) -> None:
    root = copy_config(tmp_path / "config")
    main = root / "counterparts.toml"
    text = main.read_text()
    old = 'escalation = { chain = ["合田 修", "伊藤 美穂", "真鍋 剛"], after_minutes = [20, 40, 60] }'
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    main.write_text(text.replace(old, "escalation = { " + chain + " }"))
    with pytest.raises(ConfigError) as info:
        load(root)
    assert [str(p) for p in info.value.problems] == [
        f"counterparts.toml:{line}: {found}; expected {expected}"
    ]


def test_the_settings_pages_refuse_to_remove_someone_in_a_chain_and_say_why_in_japanese(
    tmp_path: Path,
) -> None:
    root = copy_config(tmp_path / "config")
    before = (root / "counterparts.toml").read_bytes()
    outcome = apply(root, [Change("member", "remove", "bosai@niihama.example")])
    assert not outcome.ok and (root / "counterparts.toml").read_bytes() == before
    assert [p.message for p in outcome.problems] == [
        "伊藤 美穂 は県本部が電話する順番（escalation）に入っているため、"
        "削除やメールアドレス・氏名の変更はできません。先に counterparts.toml の escalation を直してください"
    ]
    outcome = apply(root, [Change("member", "update", "bosai@niihama.example", {"phone": ""})])
    assert [p.message for p in outcome.problems] == [
        "伊藤 美穂 は県本部が電話する順番（escalation）に入っているため、電話番号が必要です"
    ]
