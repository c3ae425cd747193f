"""The relay, end to end through the Flask app and `responses` at the requests boundary:
signed callbacks in, the JSON actually sent to LINE WORKS out."""

from __future__ import annotations

import threading

import pytest
import responses

from hotline.config import Config
from hotline.config.counterparts import linked_rooms
from hotline.domain.reports import parse_trigger
from hotline.storage import PRIORITY_DRILL, NewMessage
from tests.support.bot import API, BOT_ID, TOKEN, Bot, message_event
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import REPORT, UWAJIMA, member, room


def test_first_report_reaches_every_linked_room_and_hq(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, UWAJIMA)
    group_room = room(bot.config, "group-team1")
    assert bot.say(uid(poster), REPORT, group_room).status_code == 200
    bot.drain()

    expected = {room(bot.config, k) for k in ("group-team1", "municipality-382035", "hq")}
    reports = {
        channel: contents[0]
        for channel, contents in lw.to_channels().items()
        if contents[0].get("type") == "button_template"
    }
    assert set(reports) == expected
    for content in reports.values():
        text = content["contentText"]
        assert text.startswith(f"【第一報】宇和島市 副市長 {poster.name}\n11月21日 03:12 受信")
        assert "市内3か所で土砂崩れ、人的被害確認中" in text
        assert content["actions"][0]["label"] == "確認しました"
        assert content["actions"][0]["type"] == "message"  # postback actions are not allowed here
        assert content["actions"][0]["postback"].startswith("ack:")
    # One copy per room, no more.
    assert sum(1 for kind, _, c in lw.sent if c.get("type") == "button_template") == 3
    # The receipt comes back to the room she posted in, naming where it went.
    receipt = lw.texts_to(group_room)[-1]
    assert receipt.startswith("第一報（03:12）は3か所すべてに届きました。")
    assert "愛媛県災害対策本部 ホットライン" in receipt


def test_relay_rule_includes_supporters_rooms_and_both_groups(sample_config: Config) -> None:
    # 松山市 sits in two groups: both group rooms and HQ get its report.
    keys = [r.key for r in linked_rooms(sample_config, "382019")]
    assert keys == ["group-team2", "group-team3", "hq"]
    # 久万高原町's supporters include 西予市, whose own room is therefore linked.
    assert "municipality-382141" in [r.key for r in linked_rooms(sample_config, "383864")]


def test_member_known_only_by_email_is_resolved_through_users_api_once(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, "384844")  # 松野町, no user_id in the config
    assert not poster.user_id
    bot.say(uid(poster), "第一報 町内で停電", room(bot.config, "group-team1"))
    bot.say(uid(poster), "第二報 停電は復旧", room(bot.config, "group-team1"))
    bot.drain()
    assert lw.user_lookups == 1  # the answer is cached
    assert any("【第一報】松野町 副町長" in t for t in lw.texts_to(room(bot.config, "hq")))
    assert any("【第2報】松野町 副町長" in t for t in lw.texts_to(room(bot.config, "hq")))


def test_stranger_is_refused_politely_and_nothing_is_relayed(bot: Bot, lw: FakeLineWorks) -> None:
    group_room = room(bot.config, "group-team1")
    bot.say("uid-nobody", "第一報 いたずら", group_room)
    bot.drain()
    assert [t for _, t, c in lw.sent if c.get("type") == "button_template"] == []
    reply = lw.texts_to(group_room)
    assert len(reply) == 1
    assert "登録されていない" in reply[0] and "防災危機管理課" in reply[0]
    refusals = bot.hotline.storage.refusals("stranger")
    assert [r["user_id"] for r in refusals] == ["uid-nobody"]


def test_followup_joins_the_open_incident_and_is_relayed_the_same_way(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), REPORT)  # 1:1 with the bot
    bot.say(uid(poster), "続報 避難所を2か所開設")
    bot.say(uid(poster), "【第3報】孤立集落なし")
    bot.drain()
    incidents = bot.hotline.storage.incidents()
    assert len(incidents) == 1
    labels = [r["label"] for r in bot.hotline.storage.reports_of_incident(incidents[0]["id"])]
    assert labels == ["第一報", "続報", "第3報"]
    # Queued together, they still arrive in order in every room.
    for key in ("group-team1", "municipality-382035", "hq"):
        texts = lw.texts_to(room(bot.config, key))
        assert [t.split("\n")[0].split("】")[0] for t in texts] == ["【第一報", "【続報", "【第3報"]
    # 1:1 posts get their receipts 1:1.
    assert sum("か所すべてに届きました" in t for t in lw.texts_to(uid(poster))) == 3


def test_a_new_first_report_opens_a_new_incident(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), "第一報 大雨")
    bot.say(uid(poster), "第一報 地震発生")
    bot.drain()
    assert len(bot.hotline.storage.incidents()) == 2


@pytest.mark.parametrize(
    ("text", "label", "body"),
    [
        ("第一報 大雨", "第一報", "大雨"),
        ("【第一報】大雨", "第一報", "大雨"),
        ("#第一報 大雨", "第一報", "大雨"),
        ("＃第一報　大雨", "第一報", "大雨"),
        ("第1報：大雨", "第一報", "大雨"),
        ("第１報 大雨", "第一報", "大雨"),
        ("第二報 続き", "第2報", "続き"),
        ("第十二報 続き", "第12報", "続き"),
        ("続報 続き", "続報", "続き"),
        ("第一報\n1行目\n2行目", "第一報", "1行目\n2行目"),
    ],
)
def test_report_triggers_are_recognised(text: str, label: str, body: str) -> None:
    trigger = parse_trigger(text)
    assert trigger is not None
    assert (trigger.label, trigger.body) == (label, body)


@pytest.mark.parametrize(
    "text",
    [
        "おはようございます",
        "第一報は届きましたか？",
        "続報をお待ちしています",
        "第一報の件で電話します",
        "報告です",
        "",
    ],
)
def test_ordinary_text_is_not_a_report(text: str) -> None:
    assert parse_trigger(text) is None


def test_chatter_in_a_room_is_ignored_and_one_to_one_gets_help(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), "おつかれさまです", room(bot.config, "group-team1"))
    bot.say(uid(poster), "使い方は？")
    bot.drain()
    assert lw.texts_to(room(bot.config, "group-team1")) == []
    assert "第一報" in lw.texts_to(uid(poster))[0]


def test_empty_report_asks_for_the_situation(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), "第一報")
    bot.drain()
    assert bot.hotline.storage.incidents() == []
    assert "状況を書いて" in lw.texts_to(uid(poster))[0]


def test_permanent_failure_is_reported_to_poster_and_hq_once(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, UWAJIMA)
    town_room = room(bot.config, "municipality-382035")
    lw.fail[town_room] = [403]
    group_room = room(bot.config, "group-team1")
    bot.say(uid(poster), REPORT, group_room)
    bot.drain()
    bot.clock.advance(minutes=5)
    bot.drain()
    receipt = lw.texts_to(group_room)[-1]
    assert receipt.startswith(
        "第一報（03:12）は3か所中2か所に届きました。\n届けられなかった送信先: 宇和島市 災害対策"
    )
    assert "ボットがこのトークルームから外されています" in receipt
    hq_notices = [t for t in lw.texts_to(room(bot.config, "hq")) if t.startswith("【配信失敗】")]
    assert len(hq_notices) == 1
    report_id = bot.hotline.storage.reports_of_incident(bot.hotline.storage.incidents()[0]["id"])[0]["id"]
    statuses = {d["room_key"]: d["status"] for d in bot.hotline.storage.deliveries(report_id)}
    assert statuses["municipality-382035"] == "failed"
    assert statuses["hq"] == "sent"
    # failed once, never tried again
    assert sum(1 for d in bot.hotline.storage.deliveries(report_id) if d["attempts"] > 1) == 0


def test_rate_limited_room_is_retried_and_the_poster_told_when_it_arrives(
    bot: Bot, lw: FakeLineWorks
) -> None:
    poster = member(bot.config, UWAJIMA)
    hq_room = room(bot.config, "hq")
    lw.fail[hq_room] = [429, 429, 500]
    bot.say(uid(poster), REPORT)
    bot.drain()
    assert (
        "まだ届いていない送信先（再送中・届いたらお知らせします）: 愛媛県災害対策本部 ホットライン"
        in (lw.texts_to(uid(poster))[0])
    )
    for _ in range(6):
        bot.clock.advance(seconds=30)
        bot.drain()
    assert any(c.get("type") == "button_template" for c in lw.to_channels()[hq_room])
    assert (
        lw.texts_to(uid(poster))[-1]
        == "再送していた第一報（03:12）が「愛媛県災害対策本部 ホットライン」に届きました。"
    )


def test_room_without_channel_id_is_reported_not_silently_skipped(
    bot: Bot, lw: FakeLineWorks, sample_config: Config
) -> None:
    from dataclasses import replace

    rooms = tuple(
        replace(r, channel_id="") if r.key == "municipality-382035" else r for r in sample_config.rooms
    )
    bot.hotline.replace_config(replace(sample_config, rooms=rooms))
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), REPORT)
    bot.drain()
    receipt = lw.texts_to(uid(poster))[0]
    assert "トークルームがまだ作成されていません" in receipt


def test_deliveries_to_rooms_go_out_concurrently(bot: Bot, lw: FakeLineWorks) -> None:
    # Three rooms; each send waits until all three are in flight at once. Sent one after
    # another, the barrier would break and the sends would fail.
    barrier = lw.gate = threading.Barrier(3, timeout=10)
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), REPORT)
    bot.drain()
    assert len(lw.to_channels()) == 3
    assert not barrier.broken


def test_real_reports_go_before_drill_traffic(bot: Bot, lw: FakeLineWorks) -> None:
    storage = bot.hotline.storage
    from hotline.clock import iso

    with storage.transaction():
        storage.enqueue(
            [
                NewMessage(
                    f"drill:{i}",
                    "drill",
                    PRIORITY_DRILL,
                    {"type": "text", "text": f"【訓練】{i}"},
                    user_id=f"uid-drill-{i}",
                )
                for i in range(40)
            ],
            iso(bot.clock.now()),
        )
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), REPORT)
    bot.hotline.process_inbox_once()
    # One send at a time, so that the order sent is the order claimed: with 32 threads the
    # report's rooms and the first drill questions go out together, in any order.
    bot.hotline.sender.threads = 1
    bot.drain()
    first_three = [target for kind, target, _ in lw.sent[:3]]
    assert set(first_three) == {room(bot.config, k) for k in ("group-team1", "municipality-382035", "hq")}


def test_token_is_reused_and_renewed_once_on_401(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), REPORT)
    bot.drain()
    assert lw.tokens == 1
    lw.fail[room(bot.config, "hq")] = [401]
    bot.say(uid(poster), "続報 追加情報")
    bot.drain()
    assert lw.tokens == 2
    assert any("【続報】" in t for t in lw.texts_to(room(bot.config, "hq")))


def test_everything_is_recorded_in_the_read_api(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), REPORT, room(bot.config, "group-team1"))
    bot.drain()
    assert bot.client.get("/api/incidents").status_code == 401
    headers = {"Authorization": f"Bearer {TOKEN}"}
    incidents = bot.client.get("/api/incidents", headers=headers).get_json()["incidents"]
    assert incidents[0]["municipality"] == {"code": UWAJIMA, "name": "宇和島市"}
    incident = bot.client.get(f"/api/incidents/{incidents[0]['id']}", headers=headers).get_json()
    report_id = incident["reports"][0]["id"]
    report = bot.client.get(f"/api/reports/{report_id}", headers=headers).get_json()
    assert report["text"] == REPORT.removeprefix("第一報 ")
    assert report["poster"]["name"] == poster.name
    assert {d["room"]: d["status"] for d in report["deliveries"]} == {
        "group-team1": "sent",
        "municipality-382035": "sent",
        "hq": "sent",
    }
    assert all(d["sentAt"] and d["attempts"] == 1 for d in report["deliveries"])
    assert bot.client.get("/api/reports/999", headers=headers).status_code == 404


def test_photo_after_a_report_goes_to_the_same_rooms(bot: Bot, lw: FakeLineWorks) -> None:
    download = f"{API}/bots/{BOT_ID}/attachments/src-file-1"
    lw.rsps.add(responses.GET, download, status=302, headers={"Location": "https://files.lw.test/abc"})
    lw.rsps.add(responses.GET, "https://files.lw.test/abc", body=b"\x89PNG-bytes")
    lw.rsps.add(
        responses.POST,
        f"{API}/bots/{BOT_ID}/attachments",
        json={"fileId": "new-file-9", "uploadUrl": "https://upload.lw.test/u/1"},
    )
    upload = lw.rsps.add(responses.POST, "https://upload.lw.test/u/1", json={})
    poster = member(bot.config, UWAJIMA)
    group_room = room(bot.config, "group-team1")
    bot.say(uid(poster), REPORT, group_room)
    bot.drain()
    bot.clock.advance(minutes=3)
    bot.post_event(message_event(uid(poster), {"type": "image", "fileId": "src-file-1"}, group_room))
    bot.drain()
    images = [(t, c) for _, t, c in lw.sent if c.get("type") == "image"]
    assert {t for t, _ in images} == {
        room(bot.config, k) for k in ("group-team1", "municipality-382035", "hq")
    }
    assert all(c["fileId"] == "new-file-9" for _, c in images)
    assert upload.call_count == 1  # uploaded once, sent to three rooms
    assert "添付: 写真" in lw.texts_to(group_room)[-1]


def test_photo_long_after_a_report_is_not_relayed(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), REPORT, room(bot.config, "group-team1"))
    bot.drain()
    bot.clock.advance(minutes=30)
    bot.post_event(
        message_event(uid(poster), {"type": "image", "fileId": "f"}, room(bot.config, "group-team1"))
    )
    bot.drain()
    assert not any(c.get("type") == "image" for _, _, c in lw.sent)


def test_location_is_relayed_as_a_map_link(bot: Bot, lw: FakeLineWorks) -> None:
    poster = member(bot.config, UWAJIMA)
    bot.say(uid(poster), REPORT)
    bot.post_event(
        message_event(
            uid(poster),
            {
                "type": "location",
                "address": "愛媛県宇和島市曙町1",
                "latitude": 33.2233,
                "longitude": 132.5606,
            },
        )
    )
    bot.drain()
    links = [c for _, _, c in lw.sent if c.get("type") == "link"]
    assert len(links) == 3
    assert "宇和島市曙町1" in links[0]["contentText"]
    assert links[0]["link"].endswith("q=33.2233,132.5606")
