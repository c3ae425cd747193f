"""What goes wrong on a bad night: odd input, a failed lookup, a crash between steps, a
very long report. Each case must lose nothing and tell people what happened."""

from __future__ import annotations

import json

import responses

from hotline.domain.acknowledgements import sign_postback
from tests.support.bot import API, Bot, message_event
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import REPORT, UWAJIMA, member, room


def outbox_rows(bot: Bot, channel_id: str) -> list[dict[str, object]]:
    with bot.hotline.storage.transaction() as conn:
        rows = conn.execute("SELECT purpose, status FROM outbox WHERE channel_id = ?", (channel_id,))
        return [dict(row) for row in rows.fetchall() if row["purpose"] in ("report", "ack_button")]


def relayed(lw: FakeLineWorks, needle: str) -> set[str]:
    return {
        t
        for kind, t, c in lw.sent
        if kind == "channel" and needle in (c.get("contentText") or c.get("text") or "")
    }


def test_an_event_with_a_broken_character_does_not_block_the_reports_behind_it(
    bot: Bot, lw: FakeLineWorks
) -> None:
    poster = member(bot.config, UWAJIMA)
    body = json.dumps(message_event(uid(poster), {"type": "text", "text": "第一報 土砂崩れ \ud83d 3か所"}))
    assert bot.post_event(body.encode()).status_code == 200
    bot.say(uid(member(bot.config, "384844")), "第一報 町内で停電")
    bot.drain()
    assert len(relayed(lw, "土砂崩れ")) == 3  # the broken character is replaced, the report goes
    assert len(relayed(lw, "町内で停電")) == 2
    assert bot.hotline.storage.inbox_counts() == {"done": 2}


def test_a_very_long_report_goes_whole_then_a_button_in_every_room(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), "第一報 " + "被害状況を確認中。" * 400)
    bot.drain()
    rooms = lw.to_channels()
    assert len(rooms) == 3
    for text, button in rooms.values():
        # the report as text, as much as a message holds, then the ack button right after it:
        # no quick reply, which nothing documents for multi-user rooms
        assert text["type"] == "text" and len(text["text"]) == 2000 and "quickReply" not in text
        assert text["text"].endswith("（以下省略。全文は本部の記録にあります）")
        assert button["type"] == "button_template" and "quickReply" not in button
        assert button["contentText"].startswith("上の宇和島市の第一報（03:12 受信）を読んだら")
        action = button["actions"][0]
        assert action["type"] == "message" and action["postback"].startswith("ack:1:")


def test_a_long_reports_button_waits_for_its_text(bot: Bot, lw: FakeLineWorks) -> None:
    group = room(bot.config, "group-team1")
    lw.fail[group] = [500]  # the text to this room must be tried again
    bot.say(uid(member(bot.config, UWAJIMA)), "第一報 " + "停電。" * 400)
    bot.drain()
    assert group not in lw.to_channels()  # the button did not go ahead of the text
    assert all(len(sent) == 2 for sent in lw.to_channels().values())
    bot.clock.advance(seconds=5)
    bot.drain()
    bot.clock.advance(seconds=5)
    bot.drain()
    assert [c["type"] for c in lw.to_channels()[group]] == ["text", "button_template"]


def test_a_long_reports_button_is_not_sent_when_its_text_failed(bot: Bot, lw: FakeLineWorks) -> None:
    group = room(bot.config, "group-team1")
    lw.fail[group] = [404]
    bot.say(uid(member(bot.config, UWAJIMA)), "第一報 " + "停電。" * 400)
    bot.drain()
    assert group not in lw.to_channels()
    statuses = {r["purpose"]: r["status"] for r in outbox_rows(bot, group)}
    assert statuses == {"report": "failed", "ack_button": "cancelled"}


def test_a_failed_directory_lookup_is_tried_again_later(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, "384844")  # known only by e-mail: needs the users API
    lw.users_forbidden = True
    bot.say(uid(poster), "第一報 停電")
    bot.drain()
    assert len(bot.hotline.storage.refusals("stranger")) == 1
    lw.users_forbidden = False  # the administrator grants the scope
    bot.clock.advance(minutes=11)
    bot.say(uid(poster), "第一報 停電が続いています")
    bot.drain()
    assert len(relayed(lw, "停電が続いています")) == 2


def test_a_crash_between_sending_and_the_receipt_is_followed_up_by_the_sweep(
    bot: Bot, lw: FakeLineWorks
) -> None:
    poster = member(bot.config, UWAJIMA)
    lw.fail[room(bot.config, "municipality-382035")] = [403]

    def crash(report_id: int) -> None:
        raise RuntimeError("killed here")

    bot.hotline.sender.after_delivery = crash
    bot.say(uid(poster), REPORT, room(bot.config, "group-team1"))
    bot.drain()
    assert lw.texts_to(room(bot.config, "group-team1")) == [
        t for t in lw.texts_to(room(bot.config, "group-team1")) if "【第一報】" in t
    ]  # no receipt yet
    bot.hotline.sweep()
    bot.drain()
    assert lw.texts_to(room(bot.config, "group-team1"))[-1].startswith(
        "第一報（03:12）は3か所中2か所に届きました。"
    )
    assert sum(t.startswith("【配信失敗】") for t in lw.texts_to(room(bot.config, "hq"))) == 1
    bot.hotline.sweep()
    bot.drain()
    assert sum(t.startswith("【配信失敗】") for t in lw.texts_to(room(bot.config, "hq"))) == 1  # once


def test_the_poster_hears_when_a_retried_room_arrives_even_if_another_failed(
    bot: Bot, lw: FakeLineWorks
) -> None:
    poster = member(bot.config, UWAJIMA)
    lw.fail[room(bot.config, "hq")] = [500]
    lw.fail[room(bot.config, "municipality-382035")] = [404]
    bot.say(uid(poster), REPORT)
    bot.drain()
    bot.clock.advance(seconds=5)
    bot.drain()
    texts = lw.texts_to(uid(poster))
    assert texts[0].startswith("第一報（03:12）は3か所中1か所に届きました。")
    assert texts[-1] == "再送していた第一報（03:12）が「愛媛県災害対策本部 ホットライン」に届きました。"


def test_a_typed_word_acknowledges_only_the_newest_report_in_that_room(bot: Bot, lw: FakeLineWorks) -> None:
    """One 了解 is one acknowledgement, of the report people answer: the newest in the room
    (issue 11; it used to count for every report of the incident)."""
    poster = member(bot.config, UWAJIMA)
    group = room(bot.config, "group-team1")
    bot.say(uid(poster), REPORT, group)
    bot.say(uid(poster), "第二報 避難所開設", group)
    bot.drain()
    bot.say(uid(member(bot.config, "382027")), "了解しました", group)
    bot.drain()
    assert [a["municipality_code"] for a in bot.hotline.storage.acks(1)] == []
    assert [a["municipality_code"] for a in bot.hotline.storage.acks(2)] == ["382027"]


def test_typing_kakunin_to_the_bot_after_a_reminder_acknowledges_that_report(
    bot: Bot, lw: FakeLineWorks
) -> None:
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT, room(bot.config, "group-team1"))
    bot.drain()
    bot.clock.advance(minutes=10)
    bot.hotline.reminders.run_due()
    bot.drain()
    matsuno = member(bot.config, "384844")
    bot.say(uid(matsuno), "確認しました")
    bot.drain()
    assert [(a["municipality_code"], a["via"]) for a in bot.hotline.storage.acks(1)] == [("384844", "word")]
    assert sign_postback(bot.hotline.settings.credentials.bot_secret, 1)  # the button works too


def test_a_photo_from_a_colleague_of_the_poster_joins_the_towns_report(bot: Bot, lw: FakeLineWorks) -> None:
    download = f"{API}/bots/2000001/attachments/src-2"
    lw.rsps.add(responses.GET, download, status=302, headers={"Location": "https://files.lw.test/p2"})
    lw.rsps.add(responses.GET, "https://files.lw.test/p2", body=b"\x89PNG")
    lw.rsps.add(
        responses.POST,
        f"{API}/bots/2000001/attachments",
        json={"fileId": "up-2", "uploadUrl": "https://upload.lw.test/u/2"},
    )
    lw.rsps.add(responses.POST, "https://upload.lw.test/u/2", json={})
    group = room(bot.config, "group-team1")
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT, group)
    bot.drain()
    staff = member(bot.config, UWAJIMA, "staff")
    bot.post_event(message_event(uid(staff), {"type": "image", "fileId": "src-2"}, group))
    bot.drain()
    assert {t for _, t, c in lw.sent if c.get("type") == "image"} == {
        room(bot.config, k) for k in ("group-team1", "municipality-382035", "hq")
    }
    attachment = bot.hotline.storage.reports_of_incident(1)[-1]
    assert attachment["kind"] == "attachment" and attachment["poster_name"] == staff.name
