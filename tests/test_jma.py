"""JMA earthquake and tsunami telegrams (出典: 気象庁, tests/fixtures/jma) start the response on
their own: a real roll-call, notices and a request for the 第一報 per town at the threshold;
once per event, extended and never repeated; cancelled with everyone told; a JMA drill never
real. Telegrams are stored as the poller stores them and LINE WORKS is faked at the requests
boundary; the clock is fixed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from hotline.clock import FixedClock, iso
from hotline.config import Config
from hotline.config.counterparts import supporters_of
from hotline.config.settings import Credentials, Settings
from hotline.domain import incidents
from hotline.domain.earthquakes.model import Place
from hotline.inbound.jma import TelegramError, parse_feed, parse_telegram
from hotline.inbound.jma.intake import process_pending
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from tests.support.bot import T0, TOKEN, Bot
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.jma import fixture, jma_config, receive, text_of
from tests.support.sample import member, room
from tests.support.web import add_account, login

SAIJO = "382060"
AINAN = "385069"
UWAJIMA = "382035"
# 輪島市 (172049), added to a test configuration under an Ehime-shaped code, since the loader
# refuses another prefecture's codes: its City 1720400 in the Noto VXSE53 is read as 3899900.
WAJIMA = "389994"
SAIJO_QUAKE = "32-35_06_04_100915_VXSE53.xml"  # 2008 Iwate; 西条市 at 震度1
SAIJO_CANCEL = "32-35_06_06_100915_VXSE53.xml"  # 取消 of it
DRILL_TSUNAMI = "32-39_12_02_191025_VTSE41.xml"  # Status 訓練: 大津波警報 on both Ehime coasts


def make_bot(tmp_path: Path, credentials: Credentials, config: Config) -> Bot:
    settings = Settings(
        credentials=credentials, api_token=TOKEN, config_dir=config.root, database=tmp_path / "jma.sqlite3"
    )
    hotline = Hotline(settings, config, clock=FixedClock(T0))
    return Bot(hotline, create_app(hotline).test_client(), hotline.clock, config)  # type: ignore[arg-type]


@pytest.fixture
def jma_bot(tmp_path: Path, credentials: Credentials, sample_config: Config) -> Iterator[Bot]:
    bot = make_bot(tmp_path, credentials, sample_config)
    yield bot
    bot.hotline.sender.shutdown()


def notices(lw: FakeLineWorks, channel: str) -> list[str]:
    return [t for t in lw.texts_to(channel) if t.startswith("【自動・気象庁】")]


def sent_texts(lw: FakeLineWorks) -> list[tuple[str, str, str]]:
    return [(kind, target, text_of(content)) for kind, target, content in lw.sent]


def roll_call_questions(lw: FakeLineWorks) -> Counter[str]:
    return Counter(
        target for kind, target, text in sent_texts(lw) if kind == "user" and "職員参集の確認" in text
    )


def test_each_kind_of_telegram_is_read_from_the_real_fixtures() -> None:
    quake = parse_telegram(fixture(SAIJO_QUAKE))
    assert (quake.kind, quake.status, quake.info_type, quake.event_id, quake.serial) == (
        "VXSE53",
        "通常",
        "発表",
        "20080614084350",
        "2",
    )
    assert quake.max_intensity == "6+" and quake.hypocentre == "岩手県内陸南部"
    assert ("3820600", "西条市", "1") in {(c.code, c.name, c.intensity) for c in quake.cities}
    flash = parse_telegram(fixture("32-35_01_01_100806_VXSE51.xml"))
    assert flash.kind == "VXSE51" and not flash.cities
    assert ("442", "静岡県中部", "6-") in {(a.code, a.name, a.intensity) for a in flash.areas}
    tsunami = parse_telegram(fixture(DRILL_TSUNAMI))
    assert tsunami.kind == "VTSE41" and tsunami.status == "訓練"
    assert ("600", "愛媛県宇和海沿岸", "大津波警報") in {
        (i.code, i.name, i.category) for i in tsunami.tsunami
    }
    assert parse_telegram(fixture(SAIJO_CANCEL)).info_type == "取消"
    entries = parse_feed(fixture("noto2024-eqvol.xml"))
    assert [e.kind for e in entries] == [
        "VXSE51",
        "VXSE53",
        "VXSE51",
        "VXSE53",
    ]  # oldest first, others left alone
    with pytest.raises(TelegramError):
        parse_telegram(fixture("noto2024-eqvol.xml"))


def test_a_quake_at_the_threshold_starts_a_real_roll_call_notices_and_asks_for_the_first_report(
    jma_bot: Bot, lw: FakeLineWorks
) -> None:
    (outcome,) = receive(jma_bot.hotline, SAIJO_QUAKE)
    jma_bot.drain()
    assert outcome.status == "done"
    config = jma_bot.config
    hq = lw.texts_to(room(config, "hq"))
    assert len(hq) >= 1
    notice = next(t for t in hq if t.startswith("【自動・気象庁】"))
    assert notice.startswith("【自動・気象庁】震度1 西条市（6月14日 08:43 発生）")
    assert "・西条市 震度1" in notice and "【実参集】参集確認（西条市の職員 4人に1:1で送信）" in notice
    # the town's linked rooms (its group's room) hear it too
    assert any(t.startswith("【自動・気象庁】") for t in lw.texts_to(room(config, "group-team2")))
    saijo = config.municipalities[SAIJO].members
    assert set(roll_call_questions(lw)) == {m.key for m in saijo}
    assert all(
        "【実参集】" in t and "【訓練】" not in t for k, _, t in sent_texts(lw) if k == "user" and "参集" in t
    )
    deputy = member(config, SAIJO)
    assert any("「第一報」で始めて" in t for t in lw.texts_to(deputy.key))
    assert not any("【訓練】" in t for _, _, t in sent_texts(lw))


def test_the_first_report_asked_for_joins_the_incident_the_telegram_opened_and_its_chronology(
    jma_bot: Bot, lw: FakeLineWorks
) -> None:
    receive(jma_bot.hotline, SAIJO_QUAKE)
    jma_bot.drain()
    deputy = member(jma_bot.config, SAIJO)
    jma_bot.say(uid(deputy), "第一報 庁舎被害なし、停電あり")
    jma_bot.drain()
    storage = jma_bot.hotline.storage
    (incident,) = [i for i in storage.incidents() if i["municipality_code"] == SAIJO]
    assert incident["opened_by"] == "気象庁"
    timeline = incidents.timeline(storage, jma_bot.config, incident["id"])
    kinds = [e["kind"] for e in timeline]
    assert "jma" in kinds and "report" in kinds
    jma = next(e for e in timeline if e["kind"] == "jma")
    assert "震源・震度に関する情報" in jma["title"] and "西条市 震度1" in jma["detail"]


def test_a_cancellation_tells_everyone_who_got_an_automatic_message_and_stops_the_reminders(
    jma_bot: Bot, lw: FakeLineWorks
) -> None:
    receive(jma_bot.hotline, SAIJO_QUAKE)
    jma_bot.drain()
    told = {
        (kind, target)
        for kind, target, text in sent_texts(lw)
        if "【自動・気象庁】" in text or "参集" in text
    }
    before = len(lw.sent)
    (outcome,) = receive(jma_bot.hotline, SAIJO_CANCEL)
    jma_bot.drain()
    assert outcome.status == "done" and outcome.reason.startswith("取消")
    cancels = [(kind, target) for kind, target, text in sent_texts(lw)[before:] if "取消" in text]
    assert set(cancels) >= told  # every room and person that heard anything automatic
    assert len(cancels) == len(set(cancels))  # each once
    # The roll-call's reminders (10 and 20 minutes) never go.
    jma_bot.clock.current = T0 + timedelta(minutes=25)
    jma_bot.hotline.drills.run_due()
    jma_bot.drain()
    assert not [t for _, _, t in sent_texts(lw) if "まだ回答がありません" in t]
    assert jma_bot.hotline.storage.runs(status="running") == []


def test_a_cancellation_before_the_questions_went_out_stops_them(jma_bot: Bot, lw: FakeLineWorks) -> None:
    receive(jma_bot.hotline, SAIJO_QUAKE, SAIJO_CANCEL)  # both in one poll, before any send
    jma_bot.drain()
    assert roll_call_questions(lw) == Counter()
    assert not [t for _, _, t in sent_texts(lw) if "開始しました" in t]  # nor the coordinator's notice
    assert any(t.startswith("【自動・気象庁】取消") for t in lw.texts_to(room(jma_bot.config, "hq")))


def test_a_jma_drill_telegram_is_recorded_and_ignored_by_default(
    tmp_path: Path, credentials: Credentials, lw: FakeLineWorks
) -> None:
    config = jma_config(
        tmp_path / "cfg", '[tsunami]\ncategories = ["大津波警報"]\n[tsunami.regions]\n600 = ["382035"]\n'
    )
    bot = make_bot(tmp_path, credentials, config)
    (outcome,) = receive(bot.hotline, DRILL_TSUNAMI)
    bot.drain()
    assert outcome.status == "ignored" and "訓練" in outcome.reason
    assert lw.sent == [] and bot.hotline.storage.drills() == []
    (row,) = bot.hotline.storage.telegrams()
    assert row["status"] == "ignored" and row["control_status"] == "訓練"


def test_a_jma_drill_telegram_can_never_produce_a_message_without_the_drill_label(
    jma_bot: Bot, lw: FakeLineWorks
) -> None:
    # The sample sets drill_on_jma_drill = true for [tsunami]: the drill runs to its end.
    (outcome,) = receive(jma_bot.hotline, DRILL_TSUNAMI)
    jma_bot.drain()
    assert outcome.status == "done"
    for minutes in (11, 21, 61):  # reminders, then the deadline and its summary
        jma_bot.clock.current = T0 + timedelta(minutes=minutes)
        jma_bot.hotline.drills.run_due()
        jma_bot.drain()
    texts = [text for _, _, text in sent_texts(lw)]
    assert len(texts) > 20
    assert all(text.startswith("【訓練】") for text in texts), [
        t for t in texts if not t.startswith("【訓練】")
    ]
    assert not any("【実参集】" in text for text in texts)
    assert {d["kind"] for d in jma_bot.hotline.storage.drills()} == {"drill"}
    assert [i for i in jma_bot.hotline.storage.incidents()] == []  # a drill opens no real incident


def noto_config(folder: Path) -> Config:
    """Noto telegrams reaching Ehime through a test configuration: area 390 (能登, 6+) is mapped
    to 愛南町, 391 (加賀, 5+) to 輪島市 (added here, so that its City code in the VXSE53 raises
    it to 6+), and the tsunami regions 360 (能登, 大津波警報) and 361 (加賀, 津波警報) to 愛南町
    and 宇和島市. Supporters are called in too: 愛南町 and 宇和島市 share 新居浜市 and 今治市."""
    wajima = (
        f'[[municipalities]]\ncode = "{WAJIMA}"\nname = "輪島市"\n'
        '[[municipalities.members]]\nname = "輪島 一郎"\nrole = "deputy_mayor"\n'
        'email = "fuku@wajima.example"\nuser_id = ""\n'
    )
    return jma_config(
        folder,
        wajima + '[earthquake]\nmin_intensity = "5+"\nroll_call_supporters = true\n'
        f'[earthquake.areas]\n390 = ["385069"]\n391 = ["{WAJIMA}"]\n'
        '[tsunami]\ncategories = ["大津波警報", "津波警報"]\nroll_call_supporters = true\n'
        '[tsunami.regions]\n360 = ["385069"]\n361 = ["382035"]\n',
    )


def test_one_event_is_extended_as_it_grows_and_nobody_is_asked_twice(
    tmp_path: Path, credentials: Credentials, lw: FakeLineWorks
) -> None:
    config = noto_config(tmp_path / "cfg")
    bot = make_bot(tmp_path, credentials, config)
    hq = room(config, "hq")
    receive(bot.hotline, "noto2024-IntensityReportL.xml")  # 震度速報: 愛南町 6+, 輪島市 5+
    bot.drain()
    first = notices(lw, hq)[-1]
    assert first.startswith("【自動・気象庁】震度6強 愛南町ほか1市町（1月1日 16:10 発生）")
    receive(bot.hotline, "noto2024-TsunamiAlarm.xml")  # adds 宇和島市, 大津波警報 for 愛南町
    bot.drain()
    second = notices(lw, hq)[-1]
    assert "続報" in second and "・宇和島市 津波警報（新たに対象）" in second
    assert "・愛南町 大津波警報（なしから変更）" in second
    # 震源・震度情報: 輪島市 raised to 6+ by its City (its code as the test configuration has it)
    wajima_city = fixture("noto2024-WInfoL.xml").replace(b"<Code>1720400</Code>", b"<Code>3899900</Code>")
    bot.hotline.storage.store_telegram(
        "http://127.0.0.1/data/noto2024-WInfoL.xml", "test", "", wajima_city, iso(bot.hotline.clock.now())
    )
    process_pending(bot.hotline.storage, bot.hotline.earthquakes, bot.hotline.clock)
    bot.drain()
    third = notices(lw, hq)[-1]
    assert "・輪島市 震度6強（震度5強から変更）" in third
    receive(bot.hotline, "noto2024-canceledTsunamiAlarm.xml")  # lifted: nothing new to start
    bot.drain()
    assert notices(lw, hq)[-1] == third
    asked = roll_call_questions(lw)
    towns = {AINAN, UWAJIMA, WAJIMA, *supporters_of(config, AINAN), *supporters_of(config, UWAJIMA)}
    everyone = {
        m.key
        for code in towns
        for m in config.municipalities[code].members
        if m.role != "mayor"  # not among the roles called in
    }
    assert set(asked) == everyone and set(asked.values()) == {1}  # each asked exactly once
    assert len(bot.hotline.storage.drills()) == 2  # 愛南町 and 輪島市, then 宇和島市
    bot.hotline.sender.shutdown()


def test_duplicate_and_out_of_order_entries_act_once(
    tmp_path: Path, credentials: Credentials, lw: FakeLineWorks
) -> None:
    bot = make_bot(tmp_path, credentials, noto_config(tmp_path / "cfg"))
    receive(bot.hotline, "noto2024-IntensityReportL.xml")
    (again,) = receive(bot.hotline, "noto2024-IntensityReportL.xml", url="http://127.0.0.1/elsewhere.xml")
    assert again.status == "ignored" and "同じ電文" in again.reason
    # The lifting (2 January) arrives before the warning (1 January) it follows.
    receive(bot.hotline, "noto2024-canceledTsunamiAlarm.xml")
    (late,) = receive(bot.hotline, "noto2024-TsunamiAlarm.xml")
    assert late.status == "ignored" and "順序" in late.reason
    bot.drain()
    assert len(bot.hotline.storage.drills()) == 1
    assert len([t for t in lw.texts_to(room(bot.config, "hq")) if t.startswith("【自動・気象庁】")]) == 1
    bot.hotline.sender.shutdown()


def test_a_quake_below_the_threshold_is_recorded_with_its_towns_and_starts_nothing(
    tmp_path: Path, credentials: Credentials, lw: FakeLineWorks
) -> None:
    bot = make_bot(
        tmp_path, credentials, jma_config(tmp_path / "cfg", '[earthquake]\nmin_intensity = "5-"\n')
    )
    (outcome,) = receive(bot.hotline, SAIJO_QUAKE)
    bot.drain()
    assert outcome.status == "done" and "新たな対象なし" in outcome.reason
    assert lw.sent == []
    (row,) = bot.hotline.storage.telegrams()
    assert '"382060": "1"' in row["towns"]
    bot.hotline.sender.shutdown()


def test_the_telegrams_page_lists_each_telegram_with_the_intensity_per_configured_town(
    jma_bot: Bot, lw: FakeLineWorks
) -> None:
    receive(jma_bot.hotline, SAIJO_QUAKE, DRILL_TSUNAMI)
    receive(jma_bot.hotline, "", url="http://127.0.0.1/data/empty.xml")  # not XML: refused
    add_account(jma_bot, "viewer", role="viewer")
    login(jma_bot.client, username="viewer")
    page = jma_bot.client.get("/dashboard/telegrams/")
    assert page.status_code == 200
    html = page.text
    assert "震源・震度に関する情報" in html and "西条市" in html and "震度1" in html
    assert "【訓練】" in html and "大津波警報" in html and "宇和島市" in html
    assert "拒否（不正な電文）" in html and "malformed XML" in html
    assert "HOTLINE_JMA_FEED_URL が未設定" in html
    # The incident the telegram opened (no report yet) shows on the dashboard with the telegram.
    (incident,) = jma_bot.hotline.storage.incidents()
    assert "西条市" in jma_bot.client.get("/dashboard/").text
    page = jma_bot.client.get(f"/dashboard/incidents/{incident['id']}")
    assert page.status_code == 200 and "気象庁の電文" in page.text and "震源・震度に関する情報" in page.text
    assert jma_bot.client.get(f"/dashboard/incidents/{incident['id']}.json").status_code == 200
    assert (
        jma_bot.client.get("/api/incidents", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    )


def test_a_correction_updates_what_was_said_without_asking_again(jma_bot: Bot, lw: FakeLineWorks) -> None:
    """No real 訂正 telegram is among the fixtures: this one is the real 32-35_06_04 as parsed,
    with the corrected values a 訂正 of it would carry (domain objects, the XML left untouched)."""
    receive(jma_bot.hotline, SAIJO_QUAKE)
    jma_bot.drain()
    asked_before = roll_call_questions(lw)
    original = parse_telegram(fixture(SAIJO_QUAKE))
    corrected = replace(
        original,
        info_type="訂正",
        serial="3",
        report_at=original.report_at + timedelta(minutes=5),
        cities=(Place("3820600", "西条市", "3"),),
    )
    storage = jma_bot.hotline.storage
    row_id = storage.store_telegram("http://127.0.0.1/data/correction.xml", "t", "", b"-", iso(T0))
    assert row_id is not None
    outcome = jma_bot.hotline.earthquakes.act(row_id, corrected)
    jma_bot.drain()
    assert outcome.status == "done"
    notice = notices(lw, room(jma_bot.config, "hq"))[-1]
    assert "（訂正）" in notice and "・西条市 震度3（震度1から変更）" in notice
    assert roll_call_questions(lw) == asked_before  # nobody asked again
