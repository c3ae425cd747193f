"""Acknowledgements and reminders, with a fixed clock: taps, typed words, duplicates,
forgeries; reminders only to the silent, deputy mayor first; HQ told who is still silent;
no reminder after an acknowledgement, even across a restart."""

from __future__ import annotations

from typing import Any

import pytest

from hotline.config import Config, Member
from hotline.domain import incidents
from hotline.domain.acknowledgements import sign_postback
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from tests.support.bot import TOKEN, Bot, message_event
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import REPORT, UWAJIMA, member, room

IMABARI = "382027"  # one of 宇和島市's secondary supporters


def first_report(bot: Bot) -> int:
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT, room(bot.config, "group-team1"))
    bot.drain()
    return int(bot.hotline.storage.incidents()[0]["id"])  # incident 1 holds report 1


def tap(bot: Bot, who: Member, report_id: int, channel: str | None = None, data: str | None = None) -> None:
    content = {
        "type": "text",
        "text": "確認しました",
        "postback": data or sign_postback(bot.hotline.settings.credentials.bot_secret, report_id),
    }
    bot.post_event(message_event(uid(who), content, channel))


def acks(bot: Bot, report_id: int = 1) -> list[tuple[str | None, str]]:
    return [(a["municipality_code"], a["via"]) for a in bot.hotline.storage.acks(report_id)]


def test_tap_records_who_acknowledged_and_duplicates_change_nothing(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    imabari = member(bot.config, IMABARI)
    tap(bot, imabari, 1, room(bot.config, "group-team1"))
    tap(bot, imabari, 1, room(bot.config, "group-team1"))
    bot.drain()
    assert acks(bot) == [(IMABARI, "tap")]
    row = bot.hotline.storage.acks(1)[0]
    assert (
        row["channel_id"] == room(bot.config, "group-team1") and row["acked_at"] == "2026-11-20T18:12:00.000Z"
    )


def test_quick_reply_postback_event_also_acknowledges(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    who = member(bot.config, "384844")
    bot.post_event(
        {
            "type": "postback",
            "source": {"userId": uid(who), "channelId": room(bot.config, "group-team1")},
            "data": sign_postback(bot.hotline.settings.credentials.bot_secret, 1),
        }
    )
    bot.drain()
    assert acks(bot) == [("384844", "tap")]


@pytest.mark.parametrize("word", ["確認", "了解しました", "了解です。", "承知しました！", "確認済み"])
def test_typed_words_under_a_report_count(bot: Bot, lw: FakeLineWorks, word: str) -> None:
    first_report(bot)
    bot.say(uid(member(bot.config, IMABARI)), word, room(bot.config, "group-team1"))
    bot.drain()
    assert acks(bot) == [(IMABARI, "word")]


def test_other_chatter_is_not_an_acknowledgement(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    bot.say(
        uid(member(bot.config, IMABARI)), "確認します、少しお待ちください", room(bot.config, "group-team1")
    )
    bot.drain()
    assert acks(bot) == []


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("ack:1:000000000000", "bad signature"),
        ("ack:one:xyz", "malformed"),
        ("ack:99:{sig99}", "unknown report"),
    ],
)
def test_forged_or_stale_postbacks_are_refused_and_recorded(
    bot: Bot, lw: FakeLineWorks, data: str, why: str
) -> None:
    first_report(bot)
    data = data.replace(
        "{sig99}", sign_postback(bot.hotline.settings.credentials.bot_secret, 99).split(":")[2]
    )
    tap(bot, member(bot.config, IMABARI), 1, room(bot.config, "group-team1"), data=data)
    bot.drain()
    assert acks(bot) == []
    refusals = bot.hotline.storage.refusals("forged_ack")
    assert len(refusals) == 1 and why in refusals[0]["detail"]


def test_another_prefectures_postback_is_refused(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    tap(bot, member(bot.config, IMABARI), 1, data=sign_postback("another-bots-secret", 1))
    bot.drain()
    assert acks(bot) == [] and len(bot.hotline.storage.refusals("forged_ack")) == 1


def test_a_strangers_tap_is_refused(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    bot.post_event(
        message_event(
            "uid-nobody",
            {
                "type": "text",
                "text": "確認しました",
                "postback": sign_postback(bot.hotline.settings.credentials.bot_secret, 1),
            },
        )
    )
    bot.drain()
    assert acks(bot) == [] and len(bot.hotline.storage.refusals("stranger_ack")) == 1


def reminders_to(lw: FakeLineWorks, config: Config, code: str) -> list[str]:
    keys = {uid(m): m.name for m in config.municipalities[code].members} | {
        m.email: m.name for m in config.municipalities[code].members
    }
    return [
        keys[t]
        for kind, t, c in lw.sent
        if kind == "user" and t in keys and "確認のお願い" in c.get("contentText", "")
    ]


def run_reminders(bot: Bot) -> None:
    bot.hotline.reminders.run_due()
    bot.drain()


def test_silent_towns_are_reminded_after_ten_minutes_deputy_mayor_first(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    tap(bot, member(bot.config, IMABARI), 1, room(bot.config, "group-team1"))
    bot.drain()
    bot.clock.advance(minutes=9, seconds=59)
    run_reminders(bot)
    assert not any("確認のお願い" in c.get("contentText", "") for _, _, c in lw.sent)
    bot.clock.advance(seconds=1)
    run_reminders(bot)
    matsuno = bot.config.municipalities["384844"]
    assert sorted(reminders_to(lw, bot.config, "384844")) == sorted(m.name for m in matsuno.members)
    # Queued (and so claimed) in the town's order: the deputy mayor's goes first. They are
    # sent in parallel, so arrival order at LINE WORKS is not asserted.
    queued = [
        r["user_id"]
        for r in bot.hotline.storage.outbox_of_incident(1)
        if r["purpose"] == "reminder" and r["dedupe_key"].startswith("remind:1:384844:")
    ]
    assert queued == [m.key for m in matsuno.members]
    assert reminders_to(lw, bot.config, IMABARI) == []  # acknowledged: not chased
    assert reminders_to(lw, bot.config, UWAJIMA) == []  # the reporting town itself
    reminder = next(c for k, t, c in lw.sent if "確認のお願い" in c.get("contentText", ""))
    assert reminder["contentText"].startswith(
        "【確認のお願い】宇和島市の第一報（03:12）がまだ確認されていません。"
    )
    assert reminder["actions"][0]["postback"] == sign_postback(bot.hotline.settings.credentials.bot_secret, 1)
    # Running again sends nothing new.
    count = len(lw.sent)
    run_reminders(bot)
    assert len(lw.sent) == count


def test_hq_hears_which_towns_are_still_silent_and_nothing_once_all_acknowledged(
    bot: Bot, lw: FakeLineWorks
) -> None:
    first_report(bot)
    bot.clock.advance(minutes=10)
    run_reminders(bot)
    hq = room(bot.config, "hq")
    assert not any("【未確認】" in t for t in lw.texts_to(hq))
    from hotline.config.counterparts import linked_municipalities

    others = [c for c in linked_municipalities(bot.config, UWAJIMA) if c != UWAJIMA]
    for code in others[1:]:
        tap(bot, member(bot.config, code), 1)
    bot.drain()
    bot.clock.advance(minutes=10)
    run_reminders(bot)
    escalation = [t for t in lw.texts_to(hq) if t.startswith("【未確認】")]
    assert escalation == [
        "【未確認】宇和島市の第一報（03:12）を20分たっても確認していない市町: 新居浜市\n"
        "電話など別の手段での連絡を検討してください。\n"
        "・新居浜市 副市長 合田 修 0897-00-0001（連絡順 1/3）"
    ]


def test_hq_escalation_gives_a_number_to_call_in_each_silent_town(bot: Bot, lw: FakeLineWorks) -> None:
    """The sample registers a phone for 新居浜市's deputy mayor (first in its escalation chain)
    and for 今治市's 防災担当部長 (its deputy mayor has none); 上島町 has no number at all and
    says so."""
    first_report(bot)
    from hotline.config.counterparts import linked_municipalities

    others = [c for c in linked_municipalities(bot.config, UWAJIMA) if c != UWAJIMA]
    assert [bot.config.municipalities[c].name for c in others[:3]] == ["新居浜市", "今治市", "上島町"]
    for code in others[3:]:
        tap(bot, member(bot.config, code), 1)
    bot.drain()
    bot.clock.advance(minutes=20)
    run_reminders(bot)
    escalation = [t for t in lw.texts_to(room(bot.config, "hq")) if t.startswith("【未確認】")]
    assert len(escalation) == 1
    assert escalation[0].splitlines()[1:] == [
        "電話など別の手段での連絡を検討してください。",
        "・新居浜市 副市長 合田 修 0897-00-0001（連絡順 1/3）",
        "・今治市 防災担当部長 菅 正人 0898-00-0002",
        "・上島町 副町長 渡辺 勝利（電話番号の登録なし）",
    ]


def test_escalation_is_cancelled_when_everyone_acknowledged_before_it_went(
    bot: Bot, lw: FakeLineWorks
) -> None:
    first_report(bot)
    bot.clock.advance(minutes=20)
    bot.hotline.reminders.run_due()  # enqueued, not sent yet
    from hotline.config.counterparts import linked_municipalities

    for code in linked_municipalities(bot.config, UWAJIMA)[1:]:
        tap(bot, member(bot.config, code), 1)
    bot.drain()
    assert not any(t.startswith("【未確認】") for t in lw.texts_to(room(bot.config, "hq")))
    assert not any("確認のお願い" in c.get("contentText", "") for _, _, c in lw.sent)


def test_no_reminder_after_an_acknowledgement_even_across_a_restart(
    bot: Bot, lw: FakeLineWorks, sample_config: Config
) -> None:
    first_report(bot)
    bot.clock.advance(minutes=10)
    bot.hotline.reminders.run_due()  # reminders are rows now, not yet sent
    matsuno = member(bot.config, "384844")
    tap(bot, matsuno, 1)  # stored by the door, not processed: then the process dies
    bot.hotline.sender.shutdown()

    # A new process on the same database.
    restarted = Hotline(bot.hotline.settings, sample_config, clock=bot.clock)
    again = Bot(restarted, create_app(restarted).test_client(), bot.clock, sample_config)
    restarted.storage.recover_interrupted()
    again.drain()
    again.hotline.reminders.run_due()
    again.drain()
    assert reminders_to(lw, sample_config, "384844") == []
    assert len(reminders_to(lw, sample_config, "384887")) == len(
        sample_config.municipalities["384887"].members
    )
    cancelled = [
        r
        for r in restarted.storage.outbox_of_incident(1)
        if r["purpose"] == "reminder" and r["status"] == "cancelled"
    ]
    assert len(cancelled) == len(sample_config.municipalities["384844"].members)
    restarted.sender.shutdown()


def test_matrix_shows_delivered_and_acknowledged_per_member(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    bot.clock.advance(minutes=4)
    imabari = member(bot.config, IMABARI)
    tap(bot, imabari, 1, room(bot.config, "group-team1"))
    bot.drain()
    body: dict[str, Any] = bot.client.get(
        "/api/reports/1/acks", headers={"Authorization": f"Bearer {TOKEN}"}
    ).get_json()
    towns = {t["code"]: t for t in body["municipalities"]}
    assert towns[IMABARI]["acknowledged"] and towns[IMABARI]["relation"] == "secondary"
    assert towns[IMABARI]["minutesToAck"] == 4.0
    deputy = towns[IMABARI]["members"][0]
    assert deputy["delivered"] and deputy["acknowledgedAt"] == "2026-11-20T18:16:00.000Z"
    assert towns["384844"]["acknowledged"] is False
    assert body["summary"]["municipalitiesAcknowledged"] == 1
    assert body["hq"]["members"][0]["delivered"] is True
    incident = bot.client.get("/api/incidents/1", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert incident["reports"][0]["acknowledgements"]["municipalitiesAcknowledged"] == 1


# -- feedback: one confirmation of what was recorded -----------------------------------------


def test_a_tap_is_confirmed_once_to_the_person_and_a_second_tap_is_told_it_was_already_recorded(
    bot: Bot, lw: FakeLineWorks
) -> None:
    first_report(bot)
    group = room(bot.config, "group-team1")
    in_room_before = len(lw.to_channels()[group])
    imabari = member(bot.config, IMABARI)
    tap(bot, imabari, 1, group)
    bot.drain()
    assert lw.texts_to(uid(imabari)) == ["宇和島市の第一報（11月21日 03:12）への確認を記録しました。"]
    bot.clock.advance(minutes=3)
    tap(bot, imabari, 1, group)
    bot.drain()
    assert lw.texts_to(uid(imabari))[1:] == [
        "宇和島市の第一報（11月21日 03:12）への確認は、11月21日 03:12に記録済みです。"
    ]
    # the confirmations go to the person, not into the room of thirty
    assert len(lw.to_channels()[group]) == in_room_before
    assert acks(bot) == [(IMABARI, "tap")]


def test_a_typed_word_counts_for_the_newest_report_of_the_room_only_and_says_which(
    bot: Bot, lw: FakeLineWorks
) -> None:
    first_report(bot)
    bot.clock.advance(minutes=5)
    group = room(bot.config, "group-team1")
    bot.say(uid(member(bot.config, UWAJIMA)), "第2報 避難所を2か所開設", group)
    bot.drain()
    imabari = member(bot.config, IMABARI)
    bot.say(uid(imabari), "了解しました", group)
    bot.drain()
    assert acks(bot, 1) == [] and acks(bot, 2) == [(IMABARI, "word")]
    assert lw.texts_to(uid(imabari)) == [
        "宇和島市の第2報（11月21日 03:17）への確認を記録しました。"
        "（書き込みは、このトークルームの最新の報告1件への確認として記録します）"
    ]
    timeline = incidents.timeline(bot.hotline.storage, bot.config, 1)
    assert [e["title"] for e in timeline if e["kind"] == "ack"] == ["確認: 今治市 村上 真理子"]
