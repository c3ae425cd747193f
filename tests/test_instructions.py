"""HQ instructions and requests (県本部からの指示・依頼) through the callback and the fake LINE WORKS,
with a fixed clock: who may send one, where it goes, per-town acknowledgement, reminders and
HQ escalation, the towns' answers (【回答】 or a report) linked to it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import requests

from hotline.config import Config, Member
from hotline.demo import demo_user_id
from hotline.demo.stack import LiveStack, wait_until
from hotline.domain.acknowledgements import ACKNOWLEDGED, UNACKNOWLEDGED, report_states, sign_postback
from lineworks_emulator.mailbox import Mailbox
from tests.support.bot import Bot, message_event
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.mail import recipients
from tests.support.sample import REPORT, UWAJIMA, member, room

SEIYO = "382141"  # 西予市: a group room (team2) and a room of its own
MATSUNO = "384844"  # 松野町: in team1 with 宇和島市, no room of its own
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
INSTRUCTION = "【指示】宛先: 宇和島市、西予市\n避難所の開設状況を15時までに報告してください。"


def hq(config: Config) -> Member:
    return config.hq_members[0]


def instruct(bot: Bot, text: str = INSTRUCTION, who: Member | None = None, where: str | None = "hq") -> None:
    channel = room(bot.config, where) if where else None
    bot.say(uid(who or hq(bot.config)), text, channel)
    bot.drain()


def instruction_id(bot: Bot) -> int:
    rows = bot.hotline.storage.instructions()
    assert len(rows) == 1
    return int(rows[0]["id"])


def buttons_to(lw: FakeLineWorks, channel: str) -> list[dict[str, Any]]:
    return [c for kind, target, c in lw.sent if kind == "channel" and target == channel]


def tap(bot: Bot, who: Member, report_id: int, channel: str) -> None:
    content = {
        "type": "text",
        "text": "確認しました",
        "postback": sign_postback(bot.hotline.settings.credentials.bot_secret, report_id),
    }
    bot.post_event(message_event(uid(who), content, channel))
    bot.drain()


def states(bot: Bot, report_id: int) -> dict[str, str]:
    report = bot.hotline.storage.report(report_id)
    assert report is not None
    (found,) = report_states(bot.hotline.storage, bot.config, [report])
    return dict(found["towns"])


def test_an_hq_instruction_reaches_every_addressed_towns_rooms_with_the_button(
    bot: Bot, lw: FakeLineWorks
) -> None:
    instruct(bot)
    rooms = {"group-team1", "group-team2", f"municipality-{UWAJIMA}", f"municipality-{SEIYO}"}
    for key in rooms:
        (sent,) = buttons_to(lw, room(bot.config, key))
        assert sent["type"] == "button_template"
        assert sent["contentText"].startswith("【指示】愛媛県災害対策本部 本部長 大政 誠")
        assert "宛先: 宇和島市、西予市" in sent["contentText"]
        assert "避難所の開設状況を15時までに報告してください。" in sent["contentText"]
        assert sent["actions"][0]["label"] == "確認しました"
    # the HQ room is not a destination: it gets the sender's receipt, naming towns and rooms
    (receipt,) = buttons_to(lw, room(bot.config, "hq"))
    assert receipt["text"].startswith("指示の宛先（2市町）: 宇和島市、西予市")
    assert "4か所すべてに届きました" in receipt["text"]
    assert "チームえひめ 第1グループ ホットライン" in receipt["text"]
    # only the addressed towns are expected to acknowledge; the others in the group rooms are not
    assert states(bot, instruction_id(bot)) == {UWAJIMA: UNACKNOWLEDGED, SEIYO: UNACKNOWLEDGED}


def test_a_group_or_no_addressee_line_addresses_the_groups_towns_or_every_town(
    bot: Bot, lw: FakeLineWorks
) -> None:
    instruct(bot, "【依頼】宛先: 第1グループ\n被害状況を報告してください。")
    instruct(bot, "【指示】 全職員の参集状況を報告してください。", where=None)  # 1:1, no 宛先
    group, everyone = bot.hotline.storage.instructions()[::-1]
    assert group["label"] == "依頼"
    assert sorted(states(bot, group["id"])) == sorted(bot.config.groups["team1"].municipalities)
    assert sorted(states(bot, everyone["id"])) == sorted(bot.config.municipalities)
    (receipt,) = [c for kind, target, c in lw.sent if kind == "user" and target == uid(hq(bot.config))]
    assert receipt["text"].startswith(f"指示の宛先（{len(bot.config.municipalities)}市町）")


def test_a_town_member_cannot_send_an_instruction_and_nothing_is_sent(bot: Bot, lw: FakeLineWorks) -> None:
    deputy = member(bot.config, UWAJIMA)
    instruct(bot, INSTRUCTION, who=deputy, where="group-team1")
    assert bot.hotline.storage.instructions() == []
    (refusal,) = buttons_to(lw, room(bot.config, "group-team1"))
    assert refusal["text"].startswith(
        "「【指示】」は県災害対策本部の登録者だけが送れます。この投稿はどこにも送っていません。"
    )
    assert [c for _, t, c in lw.sent if t != room(bot.config, "group-team1")] == []
    assert len(bot.hotline.storage.refusals("instruction_not_hq")) == 1


def test_a_strangers_instruction_is_refused_and_sends_nothing(bot: Bot, lw: FakeLineWorks) -> None:
    bot.say("uid-nobody", INSTRUCTION)
    bot.drain()
    assert bot.hotline.storage.instructions() == []
    assert [t for kind, t, _ in lw.sent] == ["uid-nobody"]  # only the answer: whom to ask
    assert lw.texts_to("uid-nobody")[0].startswith("このアカウントはホットラインに登録されていないため")
    assert len(bot.hotline.storage.refusals("stranger")) == 1


def test_unknown_addressees_or_an_empty_instruction_send_nothing(bot: Bot, lw: FakeLineWorks) -> None:
    instruct(bot, "【指示】宛先: 宇和島市、東京都\n報告してください。")
    instruct(bot, "【指示】宛先: 宇和島市")
    assert bot.hotline.storage.instructions() == []
    unknown, empty = (c["text"] for c in buttons_to(lw, room(bot.config, "hq")))
    assert "「東京都」が市町名・グループ名として見つかりませんでした" in unknown
    assert empty.startswith("「【指示】」の後に内容を書いて")


def test_a_tap_counts_for_the_tappers_town_only(bot: Bot, lw: FakeLineWorks) -> None:
    instruct(bot)
    instruction = instruction_id(bot)
    tap(bot, member(bot.config, SEIYO), instruction, room(bot.config, "group-team2"))
    assert states(bot, instruction) == {UWAJIMA: UNACKNOWLEDGED, SEIYO: ACKNOWLEDGED}
    confirmation = lw.texts_to(uid(member(bot.config, SEIYO)))[-1]
    assert confirmation.startswith("愛媛県災害対策本部の指示（")
    assert "への確認を記録しました" in confirmation


def test_the_silent_town_is_reminded_and_hq_is_told_after_the_delays(bot: Bot, lw: FakeLineWorks) -> None:
    instruct(bot)
    instruction = instruction_id(bot)
    tap(bot, member(bot.config, SEIYO), instruction, room(bot.config, f"municipality-{SEIYO}"))
    bot.clock.advance(minutes=10)
    bot.hotline.reminders.run_due()
    bot.drain()
    reminded = {t for kind, t, c in lw.sent if kind == "user" and "【確認のお願い】" in str(c)}
    assert reminded == {m.key for m in bot.config.municipalities[UWAJIMA].members}  # Seiyo acknowledged
    reminder = lw.texts_to(member(bot.config, UWAJIMA).key)[-1]
    assert reminder.startswith(
        f"【確認のお願い】愛媛県災害対策本部の指示 #{instruction}（03:12）がまだ確認されていません。"
    )
    bot.clock.advance(minutes=10)
    bot.hotline.reminders.run_due()
    bot.drain()
    escalation = lw.texts_to(room(bot.config, "hq"))[-1]
    assert escalation.startswith(
        f"【未確認】愛媛県災害対策本部の指示 #{instruction}（03:12）を20分たっても"
        "確認していない市町: 宇和島市\n"
    )


def test_an_answer_from_a_town_is_linked_reaches_hq_and_counts_as_its_acknowledgement(
    bot: Bot, lw: FakeLineWorks
) -> None:
    instruct(bot)
    instruction = instruction_id(bot)
    bot.clock.advance(minutes=5)
    deputy = member(bot.config, UWAJIMA)
    bot.say(
        uid(deputy), "【回答】避難所3か所を開設済み、避難者120名", room(bot.config, f"municipality-{UWAJIMA}")
    )
    bot.drain()
    (answer,) = bot.hotline.storage.answers_to(instruction)
    assert (answer["kind"], answer["municipality_code"], answer["text"]) == (
        "reply",
        UWAJIMA,
        "避難所3か所を開設済み、避難者120名",
    )
    seen_by_hq = buttons_to(lw, room(bot.config, "hq"))[-1]
    assert seen_by_hq["contentText"].startswith("【回答】宇和島市 副市長 兵頭 浩二")
    assert f"（県本部の指示 #{instruction}（11月21日 03:12）への回答）" in seen_by_hq["contentText"]
    assert states(bot, instruction)[UWAJIMA] == ACKNOWLEDGED
    # the town's poster gets a receipt, as for a report
    receipt = lw.texts_to(room(bot.config, f"municipality-{UWAJIMA}"))[-1]
    assert receipt.startswith("回答（03:17）は1か所すべてに届きました。")


def test_a_report_while_an_instruction_is_open_is_linked_to_it(bot: Bot, lw: FakeLineWorks) -> None:
    instruct(bot)
    instruction = instruction_id(bot)
    bot.say(uid(member(bot.config, SEIYO)), "第一報 避難所2か所開設", room(bot.config, "group-team2"))
    bot.drain()
    (linked,) = bot.hotline.storage.answers_to(instruction)
    assert linked["label"] == "第一報" and linked["municipality_code"] == SEIYO
    assert states(bot, instruction)[SEIYO] == ACKNOWLEDGED
    # still a report of its own, relayed as ever (the HQ room among its rooms)
    assert any("第一報" in c.get("contentText", "") for c in buttons_to(lw, room(bot.config, "hq")))


def test_an_answer_without_an_open_instruction_goes_nowhere(bot: Bot, lw: FakeLineWorks) -> None:
    instruct(bot, "【指示】宛先: 西予市\n報告してください。")
    channel = room(bot.config, f"municipality-{UWAJIMA}")
    bot.say(uid(member(bot.config, UWAJIMA)), "【回答】開設済み", channel)
    bot.drain()
    assert bot.hotline.storage.answers_to(instruction_id(bot)) == []
    assert lw.texts_to(channel)[-1].startswith("回答先の県本部からの指示・依頼")
    assert not any("開設済み" in t for t in lw.texts_to(room(bot.config, "hq")))


def answer(bot: Bot, text: str, code: str = UWAJIMA) -> None:
    bot.say(uid(member(bot.config, code)), text, room(bot.config, f"municipality-{code}"))
    bot.drain()


def test_the_instruction_shows_its_number_and_an_answer_naming_it_is_filed_under_it(
    bot: Bot, lw: FakeLineWorks
) -> None:
    """HQ sent A to every town, then B to group 1: 宇和島市 answering A by its number is filed
    under A (not under B, the newest), and B keeps waiting for the town."""
    instruct(bot, "【指示】全職員の参集状況を報告してください。")
    instruct(bot, "【依頼】宛先: 第1グループ\n被害状況を報告してください。")
    b, a = (row["id"] for row in bot.hotline.storage.instructions())
    (shown,) = [c["contentText"] for c in buttons_to(lw, room(bot.config, f"municipality-{UWAJIMA}"))][:1]
    assert f"指示 #{a}　宛先: 全市町" in shown
    assert f"回答は「【回答】#{a}」で始めて" in shown and f"例: 【回答】#{a} 被害はありません" in shown
    answer(bot, f"【回答】#{a} 全職員参集済み")
    (filed,) = bot.hotline.storage.answers_to(a)
    assert filed["text"] == "全職員参集済み"
    assert bot.hotline.storage.answers_to(b) == []
    assert states(bot, a)[UWAJIMA] == ACKNOWLEDGED and states(bot, b)[UWAJIMA] == UNACKNOWLEDGED
    assert f"（県本部の指示 #{a}（" in buttons_to(lw, room(bot.config, "hq"))[-1]["contentText"]
    # the bare number works too (full-width, as a phone may type it)
    answer(bot, f"【回答】{str(b).translate(FULL_WIDTH)}　被害なし")
    (to_b,) = bot.hotline.storage.answers_to(b)
    assert to_b["text"] == "被害なし"


def test_an_answer_without_a_number_goes_to_the_newest_instruction_the_town_has_not_answered(
    bot: Bot, lw: FakeLineWorks
) -> None:
    instruct(bot, "【指示】全職員の参集状況を報告してください。")
    instruct(bot, "【依頼】宛先: 第1グループ\n被害状況を報告してください。")
    b, a = (row["id"] for row in bot.hotline.storage.instructions())
    tap(bot, member(bot.config, UWAJIMA), b, room(bot.config, f"municipality-{UWAJIMA}"))
    answer(bot, "【回答】全職員参集済み")  # B is acknowledged: this answers A
    assert [r["text"] for r in bot.hotline.storage.answers_to(a)] == ["全職員参集済み"]
    assert bot.hotline.storage.answers_to(b) == []
    answer(bot, "【回答】120 名が避難しています")  # both answered: the newest; 120 is no number of one
    assert [r["text"] for r in bot.hotline.storage.answers_to(b)] == ["120 名が避難しています"]
    # a report is linked to an instruction by the same rule: 西予市 (not in group 1) has only A
    bot.say(uid(member(bot.config, SEIYO)), "第一報 避難所2か所開設", room(bot.config, "group-team2"))
    bot.drain()
    assert [r["label"] for r in bot.hotline.storage.answers_to(a)] == ["回答", "第一報"]


def test_an_answer_naming_no_instruction_to_the_town_goes_nowhere_and_says_why(
    bot: Bot, lw: FakeLineWorks
) -> None:
    instruct(bot, "【指示】宛先: 西予市\n報告してください。")
    to_seiyo = instruction_id(bot)
    channel = room(bot.config, f"municipality-{UWAJIMA}")
    for number in (to_seiyo, 99):
        answer(bot, f"【回答】#{number} 被害なし")
        assert lw.texts_to(channel)[-1].startswith(
            f"#{number} は、この市町に届いている県本部からの指示・依頼"
        )
    assert bot.hotline.storage.answers_to(to_seiyo) == []
    assert not any("被害なし" in str(c) for c in buttons_to(lw, room(bot.config, "hq")))


def test_colon_forms_are_hq_chatter_not_instructions(bot: Bot, lw: FakeLineWorks) -> None:
    for text in ("依頼: 資料お願いします", "指示: 会議は15時から", "指示：会議は15時から"):
        instruct(bot, text)
    assert bot.hotline.storage.instructions() == []
    towns = {room(bot.config, r.key) for r in bot.config.rooms if r.link != "hq"}
    assert [t for _, t, _ in lw.sent if t in towns] == []


def test_an_hq_members_instruction_in_a_towns_room_is_not_sent_and_says_where_to_send_it(
    bot: Bot, lw: FakeLineWorks
) -> None:
    instruct(bot, INSTRUCTION, where="group-team1")
    assert bot.hotline.storage.instructions() == []
    group = room(bot.config, "group-team1")
    assert [t for _, t, _ in lw.sent] == [group]  # only the answer, where it was written
    assert lw.texts_to(group)[-1] == (
        "「【指示】」は県本部のトークルームか、ボットとの1対1のトークで送ってください。"
        "このトークルームでの投稿はどこにも送っていません。"
    )


def without_channel(bot: Bot, keys: set[str] | None = None) -> None:
    """The rooms `keys` (None: every room) have no channel id yet: their rows fail at once."""
    config = bot.hotline.config()
    rooms = tuple(replace(r, channel_id="") if keys is None or r.key in keys else r for r in config.rooms)
    bot.hotline.replace_config(replace(config, rooms=rooms))


def test_an_instruction_no_room_can_take_goes_by_mail_at_once(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    """宇和島市's rooms have no channel id: nothing will ever try them, so the mails go now rather
    than after the 3 minutes' wait."""
    without_channel(mail_bot, {"group-team1", f"municipality-{UWAJIMA}"})
    instruct(mail_bot, "【指示】宛先: 宇和島市\n避難所の開設状況を報告してください。")
    uwajima = {m.email for m in mail_bot.config.municipalities[UWAJIMA].members if m.email}
    assert sorted(recipients(mailbox.messages())) == sorted(uwajima)


def test_a_report_no_room_can_take_goes_by_mail_at_once(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    """A report whose every room has no channel id: its towns' mails go at once."""
    without_channel(mail_bot)
    mail_bot.say(uid(member(mail_bot.config, UWAJIMA)), REPORT)
    mail_bot.drain()
    assert mailbox.messages() != []
    assert all("市内3か所で土砂崩れ" in mail.text for mail in mailbox.messages())


def test_instructions_stay_out_of_the_incident_list(bot: Bot, lw: FakeLineWorks) -> None:
    instruct(bot)
    assert bot.hotline.storage.incidents() == []


def test_the_demo_hq_member_posts_an_instruction_in_the_hq_room_through_the_emulator(
    tmp_path: Path, sample_config: Config
) -> None:
    """What `make run` shows: on the emulator's talk page the HQ member types 【指示】 in the HQ
    room; the town's rooms get it with the button, a tap there counts for the town."""
    live = LiveStack(sample_config, tmp_path / "e2e.sqlite3")
    try:
        boss = hq(sample_config)
        town_rooms = {room(sample_config, k) for k in ("group-team1", f"municipality-{UWAJIMA}")}
        result = live.say(
            boss, "【指示】宛先: 宇和島市\n避難所の開設状況を報告してください。", room(sample_config, "hq")
        )
        assert result["status"] == 200

        def relayed() -> dict[str, dict[str, Any]]:
            return {
                s["channelId"]: s
                for s in live.sent()
                if s["content"]["type"] == "button_template" and "【指示】" in s["content"]["contentText"]
            }

        wait_until(lambda: set(relayed()) == town_rooms, message="the instruction in the town's rooms")
        wait_until(
            lambda: any(
                "指示の宛先（1市町）: 宇和島市" in (s["content"].get("text") or "")
                for s in live.sent()
                if s["channelId"] == room(sample_config, "hq")
            ),
            message="the receipt in the HQ room",
        )
        deputy = member(sample_config, UWAJIMA)
        tap = requests.post(
            f"{live.base}/_emulator/tap",
            json={
                "userId": demo_user_id(deputy),
                "channelId": room(sample_config, f"municipality-{UWAJIMA}"),
                "seq": relayed()[room(sample_config, f"municipality-{UWAJIMA}")]["seq"],
                "action": 0,
            },
            timeout=10,
        )
        assert tap.status_code == 200 and tap.json()["status"] == 200
        (instruction,) = live.hotline.storage.instructions()
        wait_until(
            lambda: live.hotline.storage.acked_municipalities(instruction["id"]) == {UWAJIMA},
            message="the town's acknowledgement",
        )
    finally:
        live.stop()
