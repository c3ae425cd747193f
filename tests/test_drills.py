"""Roll-call drills with a fixed clock: scheduling, recurrence, the unannounced window,
restart recovery, missed fires, reminders only to the silent, late answers, abort,
drill/real separation and the CSV export."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hotline.config import Config, Member
from hotline.domain.drills import DrillError, Targets
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from tests.support.bot import TOKEN, Bot, message_event
from tests.support.drill_pages import fire_drill
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import members, room

UWAJIMA = "382035"
AT = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # 09:00 JST, the day after T0


def sent_to(lw: FakeLineWorks, person: Member) -> list[dict[str, Any]]:
    return [c for kind, target, c in lw.sent if kind == "user" and target == person.key]


def text_of(content: dict[str, Any]) -> str:
    return str(content.get("contentText") or content.get("text") or "")


def tap(bot: Bot, lw: FakeLineWorks, person: Member, choice: str) -> None:
    """Tap the button labelled `choice` in the newest question the person received."""
    for content in reversed(sent_to(lw, person)):
        for action in content.get("actions", []):
            if action["label"] == choice:
                bot.post_event(
                    message_event(
                        uid(person), {"type": "text", "text": choice, "postback": action["postback"]}
                    )
                )
                bot.drain()
                return
    raise AssertionError(f"{person.name} has no button {choice}")


def start_drill(bot: Bot) -> int:
    """The usual drill: 宇和島市's staff, at AT; fired and its questions sent."""
    return fire_drill(bot, AT)


def hq_texts(bot: Bot, lw: FakeLineWorks) -> list[str]:
    return lw.texts_to(room(bot.config, "hq"))


def test_a_drill_fires_once_at_its_time_and_asks_every_target(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    drill_id = drills.create(
        title="11月 参集訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="test", at=AT
    )
    bot.clock.current = AT - timedelta(seconds=1)
    assert drills.run_due() == []
    bot.clock.current = AT
    assert len(drills.run_due()) == 1
    assert drills.run_due() == []  # nothing fires twice
    bot.drain()
    for person in members(bot.config):
        (question,) = sent_to(lw, person)
        assert text_of(question).startswith(
            "【訓練】11月 参集訓練\n職員参集の確認です。10:00までに回答してください。"
        )
        assert [a["label"] for a in question["actions"]] == ["無事", "軽傷", "重傷"]
    notice = hq_texts(bot, lw)[-1]
    assert notice.startswith(
        "【訓練】「11月 参集訓練」を開始しました（09:00）。対象 5人、送信には1分以内かかります。"
    )
    assert drills.public(drills.storage.drill(drill_id))["runs"][0]["status"] == "running"


def test_send_time_estimate_uses_the_peak_rate_for_30_minutes_then_half() -> None:
    from hotline.domain.drills import send_minutes

    assert send_minutes(2000, 240) == pytest.approx(9.4)  # 216 per 61 s
    assert send_minutes(2000, 60) == pytest.approx(43.8)  # 30 min at 54 per 61 s, then 30


def test_answers_are_taps_history_is_kept_and_late_answers_marked(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    run_id = start_drill(bot)
    deputy, head = members(bot.config)[:2]
    bot.clock.advance(minutes=3)
    tap(bot, lw, deputy, "無事")
    assert [a["label"] for a in sent_to(lw, deputy)[-1]["actions"]][:2] == ["すぐ参集可", "30分以内"]
    tap(bot, lw, deputy, "30分以内")
    assert text_of(sent_to(lw, deputy)[-1]).startswith("【訓練】回答を受け付けました: 無事・30分以内")
    tap(bot, lw, deputy, "すぐ参集可")  # changed her mind: the history keeps both
    bot.post_event(message_event(uid(deputy), {"type": "text", "text": "車で向かいます"}))
    bot.drain()
    bot.clock.advance(minutes=70)  # past the 60-minute deadline
    drills.run_due()
    tap(bot, lw, head, "軽傷")
    answers = [
        (a["member_key"], a["question"], a["answer"], a["late"]) for a in drills.storage.answers(run_id)
    ]
    assert answers == [
        (deputy.key, "safety", "無事", 0),
        (deputy.key, "arrival", "30分以内", 0),
        (deputy.key, "arrival", "すぐ参集可", 0),
        (deputy.key, "comment", "車で向かいます", 0),
        (head.key, "safety", "軽傷", 1),
    ]
    assert "締め切り後の回答" not in text_of(sent_to(lw, head)[-1])  # asked the 2nd question first
    summary = drills.summary(run_id)
    assert summary["answered"] == 1 and summary["lateAnswers"] == 1
    assert summary["safety"] == {"無事": 1, "軽傷": 1, "重傷": 0}


def test_reminders_go_only_to_the_silent_and_stop_at_the_deadline(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    drills.create(
        title="訓練",
        targets=Targets(municipalities=(UWAJIMA,)),
        created_by="t",
        at=AT,
        remind_minutes=(10, 20),
    )
    bot.clock.current = AT
    drills.run_due()
    bot.drain()
    people = members(bot.config)
    tap(bot, lw, people[0], "無事")
    bot.clock.advance(minutes=10)
    drills.run_due()
    bot.drain()

    def reminded(person: Member) -> int:
        return sum(1 for c in sent_to(lw, person) if "まだ回答がありません" in text_of(c))

    assert reminded(people[0]) == 0
    assert all(reminded(p) == 1 for p in people[1:])
    tap(bot, lw, people[1], "無事")
    bot.clock.advance(minutes=10)
    drills.run_due()
    bot.drain()
    assert reminded(people[1]) == 1 and all(reminded(p) == 2 for p in people[2:])
    bot.clock.advance(minutes=41)  # deadline passed: closed, no more reminders
    drills.run_due()
    bot.drain()
    assert all(reminded(p) == 2 for p in people[2:])
    summary = hq_texts(bot, lw)[-1]
    assert summary.startswith("【訓練】「訓練」の結果\n回答率 2/5人（40%）")
    assert "未回答: " + "、".join(p.name for p in people[2:]) in summary


def test_a_queued_reminder_is_dropped_if_the_person_answers_first(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    drills.create(title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=AT)
    bot.clock.current = AT
    drills.run_due()
    bot.drain()
    bot.clock.advance(minutes=10)
    drills.run_due()  # reminders queued, not yet sent
    person = members(bot.config)[2]
    question = sent_to(lw, person)[0]
    bot.post_event(
        message_event(
            uid(person), {"type": "text", "text": "無事", "postback": question["actions"][0]["postback"]}
        )
    )
    bot.drain()
    assert not any("まだ回答がありません" in text_of(c) for c in sent_to(lw, person))


def test_recurring_drill_fires_on_the_first_monday_at_nine_jst(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    drills.create(
        title="月例訓練", targets=Targets(roles=("deputy_mayor",)), created_by="t", cron="0 9 1-7 * mon"
    )
    first_monday = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # 09:00 JST
    bot.clock.current = first_monday - timedelta(minutes=1)
    assert drills.run_due() == []
    bot.clock.current = first_monday
    assert len(drills.run_due()) == 1
    bot.clock.advance(minutes=61)
    assert drills.run_due() == []
    bot.clock.current = datetime(2027, 1, 4, 0, 0, tzinfo=UTC)
    assert len(drills.run_due()) == 1
    bot.drain()
    deputies = [m.members[0] for m in bot.config.municipalities.values()]
    assert all(len([c for c in sent_to(lw, d) if "【訓練】月例訓練" in text_of(c)]) == 2 for d in deputies)


def test_unannounced_drill_hides_its_moment_until_it_fires(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    drills.rng = random.Random(7)
    start, end = AT, AT + timedelta(hours=8)
    drill_id = drills.create(
        title="抜き打ち訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", window=(start, end)
    )
    shown = drills.public(drills.storage.drill(drill_id))
    assert shown["runAt"] is None and shown["window"]["start"] == "2026-11-21T00:00:00.000Z"
    api = bot.client.get(f"/api/drills/{drill_id}", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert api["runAt"] is None
    fired_at = None
    for minute in range(0, 8 * 60 + 1, 5):
        bot.clock.current = start + timedelta(minutes=minute)
        if drills.run_due():
            fired_at = bot.clock.current
            break
    assert fired_at is not None and start < fired_at <= end
    shown = drills.public(drills.storage.drill(drill_id))
    assert (
        shown["runAt"] is not None
        and start <= datetime.fromisoformat(shown["runAt"].replace("Z", "+00:00")) <= end
    )


def test_a_restart_restores_schedules_and_nothing_fires_twice(
    bot: Bot, lw: FakeLineWorks, sample_config: Config
) -> None:
    bot.hotline.drills.create(title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=AT)
    bot.hotline.sender.shutdown()
    restarted = Hotline(bot.hotline.settings, sample_config, clock=bot.clock)  # same database
    bot.clock.current = AT + timedelta(minutes=2)  # came back up two minutes late: within grace
    assert len(restarted.drills.run_due()) == 1
    again = Hotline(bot.hotline.settings, sample_config, clock=bot.clock)
    assert again.drills.run_due() == []
    Bot(again, create_app(again).test_client(), bot.clock, sample_config).drain()
    assert all(len(sent_to(lw, p)) == 1 for p in members(sample_config))
    restarted.sender.shutdown()
    again.sender.shutdown()


def test_a_fire_time_missed_beyond_the_grace_is_recorded_and_reported(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    drill_id = drills.create(title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=AT)
    bot.clock.current = AT + timedelta(minutes=16)  # the server was down at 09:00
    assert drills.run_due() == []
    bot.drain()
    assert [r["status"] for r in drills.storage.runs(drill_id)] == ["missed"]
    assert all(sent_to(lw, p) == [] for p in members(bot.config))
    assert "サーバーが停止していたため実施できませんでした" in hq_texts(bot, lw)[-1]


def test_abort_tells_every_target_and_cancels_what_was_not_sent(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    drills.create(title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=AT)
    bot.clock.current = AT
    (run_id,) = drills.run_due()  # queued, not sent
    assert drills.abort(run_id)
    bot.drain()
    for person in members(bot.config):
        texts = [text_of(c) for c in sent_to(lw, person)]
        assert texts == ["【訓練】「訓練」は中止されました。回答は不要です。"]
    assert not drills.abort(run_id)


def test_a_real_roll_call_never_says_drill_and_answers_stay_out_of_reports(
    bot: Bot, lw: FakeLineWorks
) -> None:
    drills = bot.hotline.drills
    drills.create(
        title="震度6弱 職員参集", kind="real", targets=Targets(municipalities=(UWAJIMA,)), created_by="t"
    )
    (run_id,) = drills.run_due()  # no time given: now
    bot.drain()
    person = members(bot.config)[0]
    tap(bot, lw, person, "無事")
    tap(bot, lw, person, "1時間以内")
    texts = [text_of(c) for c in sent_to(lw, person)] + hq_texts(bot, lw)
    assert all(t.startswith("【実参集】") or "【実参集】" in t for t in texts)
    assert not any("【訓練】" in t for t in texts)
    assert bot.hotline.storage.incidents() == [] and bot.hotline.storage.acks(1) == []
    assert drills.summary(run_id)["municipalities"][0]["by60"] == 1


def test_bad_definitions_are_refused_in_japanese(bot: Bot) -> None:
    drills = bot.hotline.drills
    with pytest.raises(DrillError, match="対象に見つからない"):
        drills.create(title="x", targets=Targets(municipalities=("999999",)), created_by="t", at=AT)
    with pytest.raises(DrillError, match="読めません"):
        drills.create(
            title="x", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", cron="every monday"
        )
    with pytest.raises(DrillError, match="過去の日時"):
        drills.create(
            title="x", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=AT - timedelta(days=3)
        )
    assert drills.storage.drills() == []


def test_forged_answer_is_refused(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    drills.create(title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=AT)
    bot.clock.current = AT
    (run_id,) = drills.run_due()
    person = bot.config.municipalities["384844"].members[0]  # not a target
    bot.post_event(
        message_event(
            uid(person), {"type": "text", "text": "無事", "postback": f"drill:{run_id}:safety:0:000000000000"}
        )
    )
    bot.drain()
    assert drills.storage.answers(run_id) == []
    assert len(bot.hotline.storage.refusals("bad_drill_answer")) == 1


def test_csv_export_has_every_answer_with_a_bom(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    run_id = start_drill(bot)
    tap(bot, lw, members(bot.config)[0], "重傷")
    data = drills.csv(run_id)
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].split(",") == [
        *("市町", "役職", "氏名", "安否", "参集見込み", "回答時刻", "遅れ", "コメント", "未達", "代理回答"),
        *("回答経路", "質問のメール"),
    ]
    name = members(bot.config)[0].name
    assert lines[1] == f"宇和島市,副市長,{name},重傷,,2026-11-21 09:00:00,,,,,LINE WORKS,"


def test_a_real_target_with_a_tampered_answer_is_refused_and_told(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    run_id = start_drill(bot)
    person = members(bot.config)[0]
    good = sent_to(lw, person)[0]["actions"][0]["postback"]
    tampered = good[:-1] + ("0" if good[-1] != "0" else "1")
    bot.post_event(message_event(uid(person), {"type": "text", "text": "無事", "postback": tampered}))
    bot.drain()
    assert drills.storage.answers(run_id) == []
    assert "この回答は受け付けられませんでした" in text_of(sent_to(lw, person)[-1])


def test_text_long_after_an_answer_is_not_taken_as_a_drill_comment(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    run_id = start_drill(bot)
    person = members(bot.config)[0]
    tap(bot, lw, person, "無事")
    bot.clock.advance(minutes=61)  # the run has closed: no drill is open for them any more
    drills.run_due()
    bot.post_event(message_event(uid(person), {"type": "text", "text": "市役所が停電しています"}))
    bot.drain()
    assert [a["question"] for a in drills.storage.answers(run_id)] == ["safety"]
    assert "第一報" in text_of(sent_to(lw, person)[-1])  # the help text, not 【訓練】


def test_a_real_roll_call_goes_out_before_a_queued_drill(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    drills.create(title="訓練", targets=Targets(roles=("deputy_mayor", "disaster_head")), created_by="t")
    drills.run_due()  # 40 drill questions queued, not sent
    drills.create(title="実参集", kind="real", targets=Targets(municipalities=(UWAJIMA,)), created_by="t")
    drills.run_due()
    bot.hotline.sender.threads = 1  # one at a time, so the order is the queue's
    bot.drain()
    first = [text_of(c) for _, _, c in lw.sent[:5]]
    assert all(t.startswith("【実参集】") for t in first), first


def test_crontab_weekday_numbers_mean_what_crontab_says(bot: Bot) -> None:
    drills = bot.hotline.drills
    drills.create(
        title="月曜訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", cron="0 9 * * 1"
    )
    monday = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # Monday 23 November, 09:00 JST
    bot.clock.current = monday - timedelta(minutes=1)
    assert drills.run_due() == []
    bot.clock.current = monday
    assert len(drills.run_due()) == 1


def test_a_drill_is_not_fired_again_while_its_run_is_still_open(bot: Bot) -> None:
    drills = bot.hotline.drills
    drill_id = drills.create(title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=AT)
    bot.clock.current = AT
    assert len(drills.run_due()) == 1
    assert drills.fire(drill_id) is None
    assert not drills.request_now(drill_id)


def test_a_missed_one_off_drill_can_be_run_again(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    drill_id = drills.create(title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=AT)
    bot.clock.current = AT + timedelta(hours=1)
    drills.run_due()
    assert drills.storage.drill(drill_id)["status"] == "done"
    assert drills.request_now(drill_id)
    assert len(drills.run_due()) == 1


def test_one_broken_drill_does_not_stop_the_others(bot: Bot) -> None:
    drills = bot.hotline.drills
    broken = drills.create(title="部屋", targets=Targets(rooms=("hq",)), created_by="t", at=AT)
    drills.storage.set_drill(broken, targets='{"rooms": ["gone"], "municipalities": 5}')
    drills.create(title="正常", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=AT)
    bot.clock.current = AT
    assert len(drills.run_due()) == 1


def test_csv_cells_that_look_like_formulas_stay_text(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    run_id = start_drill(bot)
    person = members(bot.config)[0]
    tap(bot, lw, person, "無事")
    bot.post_event(message_event(uid(person), {"type": "text", "text": '=HYPERLINK("http://x","y")'}))
    bot.drain()
    assert "'=HYPERLINK" in drills.csv(run_id).decode("utf-8-sig")
