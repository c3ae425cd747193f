"""Drill results people can file (issue 11, points 6 and 7), through the Flask test client on a
fixed clock with LINE WORKS faked at the requests boundary: one CSV row per target, 未達 apart
from 未回答 with its reason and a 再送, 代理回答 marked and audited, typed answers during an open
drill, the recurrence picker, and a drill whose state and head count agree with its run."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from hotline import messages
from hotline.config import Member
from hotline.domain import audit
from hotline.domain.drills import Targets
from tests.support.bot import TOKEN, Bot
from tests.support.drill_pages import BASE, create, post_new, tap, type_text
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import UWAJIMA, members, room
from tests.support.web import add_account, csrf_of, login

AT = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # 09:00 JST, the day after T0
COORDINATOR = "kunren-1"


@pytest.fixture
def client(bot: Bot) -> FlaskClient:
    add_account(bot, COORDINATOR, "coordinator")
    assert login(bot.client, username=COORDINATOR).status_code == 302
    return bot.client


def view(client: FlaskClient, drill_id: int) -> dict[str, Any]:
    response = client.get(f"{BASE}/{drill_id}.json")
    assert response.status_code == 200
    result: dict[str, Any] = json.loads(response.data)
    return result


def post(client: FlaskClient, drill_id: int, action: str, **fields: Any) -> Any:
    page = client.get(f"{BASE}/{drill_id}")
    return client.post(f"{BASE}/{drill_id}/{action}", data={"csrf_token": csrf_of(page.text), **fields})


def fired(client: FlaskClient, bot: Bot) -> tuple[int, int]:
    """宇和島市's five staff asked at 09:00 JST through the form: (drill id, run id)."""
    drill_id = create(client)
    bot.clock.current = AT
    (run_id,) = bot.hotline.drills.run_due()
    bot.drain()
    return drill_id, run_id


def csv_rows(client: FlaskClient, run_id: int) -> list[list[str]]:
    response = client.get(f"{BASE}/runs/{run_id}.csv")
    assert response.status_code == 200 and response.data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def sent_to(lw: FakeLineWorks, person: Member) -> list[dict[str, Any]]:
    """Everything the person got 1:1 (questions to their key, replies to their userId)."""
    return [c for _, t, c in lw.sent if t in (person.key, uid(person))]


def texts_to(lw: FakeLineWorks, person: Member) -> list[str]:
    return [str(c.get("text") or c.get("contentText") or "") for c in sent_to(lw, person)]


def audited(bot: Bot, action: str) -> list[dict[str, Any]]:
    return [e for e in audit.entries(bot.hotline.storage) if e["action"] == action]


# -- the CSV: one row per target --------------------------------------------------------------------


def test_the_csv_has_one_row_per_target_answered_or_not(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    people = members(bot.config)
    lw.fail[people[4].key] = [404]  # no such user: the question fails for good
    _, run_id = fired(client, bot)
    bot.clock.advance(minutes=3)
    tap(bot, lw, people[0], "無事")
    tap(bot, lw, people[0], "30分以内")
    type_text(bot, people[0], '=HYPERLINK("http://x","y")')  # a comment after the answer
    bot.clock.current = AT + timedelta(minutes=65)
    bot.hotline.drills.run_due()  # closed at the deadline
    tap(bot, lw, people[1], "軽傷")  # five minutes late

    header, *rows = csv_rows(client, run_id)
    assert header == [
        "市町",
        "役職",
        "氏名",
        "安否",
        "参集見込み",
        "回答時刻",
        "遅れ",
        "コメント",
        "未達",
        "代理回答",
        "回答経路",
        "質問のメール",
    ]
    assert [r[2] for r in rows] == [p.name for p in people]  # everyone, once, in the order asked
    by_name = {r[2]: r for r in rows}
    assert by_name[people[0].name] == [
        "宇和島市",
        "副市長",
        people[0].name,
        "無事",
        "30分以内",
        "2026-11-21 09:03:00",
        "",
        '\'=HYPERLINK("http://x","y")',  # stays text in Excel
        "",
        "",
        "LINE WORKS",
        "",
    ]
    assert by_name[people[1].name][3:7] == ["軽傷", "", "2026-11-21 10:05:00", "締め切り後 5分"]
    assert by_name[people[2].name][3:9] == ["未回答", "", "", "", "", ""]
    assert by_name[people[4].name][3] == "" and by_name[people[4].name][8] == messages.DRILL_USER_NOT_FOUND
    assert [r[1] for r in rows] == [bot.config.role_label(p) for p in people]


# -- 未達 is not 未回答 ----------------------------------------------------------------------------


def test_an_undelivered_question_is_shown_as_such_and_can_be_resent(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    people = members(bot.config)
    lost = people[3]
    lw.fail[lost.key] = [404]
    drill_id, run_id = fired(client, bot)

    live = view(client, drill_id)["live"]
    assert live["undelivered"] == [
        {"key": lost.key, "name": lost.name, "reason": messages.DRILL_USER_NOT_FOUND}
    ]
    assert lost.name not in live["silent"] and len(live["silent"]) == 4  # 未回答 is the other four
    api = client.get(f"/api/drills/{drill_id}", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert api["runs"][0]["summary"]["undelivered"] == live["undelivered"]
    page = client.get(f"{BASE}/{drill_id}").text
    assert 'data-testid="undelivered-count">1人<' in page and messages.DRILL_USER_NOT_FOUND in page
    assert page.count('data-testid="resend-button"') == 1

    # 再送: a new question row goes out; once it arrives and they answer, they are no longer 未達.
    response = post(client, drill_id, "resend", run_id=str(run_id), member_key=lost.key)
    assert response.status_code == 302
    bot.drain()
    assert sum(1 for c in sent_to(lw, lost) if "actions" in c) == 1
    (entry,) = audited(bot, "drill_resend")
    assert (
        entry["who"] == COORDINATOR
        and lost.name in entry["before"]
        and entry["actionLabel"] == "訓練の質問の再送"
    )
    assert view(client, drill_id)["live"]["undelivered"] == []  # the new row was sent
    tap(bot, lw, lost, "無事")
    assert lost.name not in view(client, drill_id)["live"]["silent"]
    # A second 再送 for someone who is not 未達 is refused and changes nothing.
    post(client, drill_id, "resend", run_id=str(run_id), member_key=lost.key)
    assert len(audited(bot, "drill_resend")) == 1


def test_the_coordinators_summary_lists_the_undelivered_apart(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    people = members(bot.config)
    lw.fail[people[2].key] = [404]
    _, run_id = fired(client, bot)
    tap(bot, lw, people[0], "無事")
    bot.clock.current = AT + timedelta(minutes=61)
    bot.hotline.drills.run_due()
    bot.drain()
    (summary,) = [t for t in lw.texts_to(room(bot.config, "hq")) if "の結果" in t]
    silent_line = next(line for line in summary.splitlines() if line.startswith("未回答: "))
    assert people[2].name not in silent_line and people[1].name in silent_line
    assert f"未達（質問が届いていません）: {people[2].name}（{messages.DRILL_USER_NOT_FOUND}）" in summary
    # A later 再送 is refused: the run is closed.
    assert not bot.hotline.drills.resend(run_id, people[2].key)


def test_a_viewer_sees_the_undelivered_without_the_resend_button(bot: Bot, lw: FakeLineWorks) -> None:
    people = members(bot.config)
    lw.fail[people[1].key] = [404]
    drill_id = bot.hotline.drills.create(
        title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=AT
    )
    bot.clock.current = AT
    (run_id,) = bot.hotline.drills.run_due()
    bot.drain()
    add_account(bot, "etsuran", "viewer")
    assert login(bot.client, username="etsuran").status_code == 302
    page = bot.client.get(f"{BASE}/{drill_id}").text
    assert 'data-testid="undelivered-person"' in page
    assert 'data-testid="resend-button"' not in page and 'data-testid="proxy-form"' not in page
    shown = view(bot.client, drill_id)
    assert shown["actions"]["resend"] is False and shown["proxy"] is None
    refused = bot.client.post(
        f"{BASE}/{drill_id}/resend",
        data={"csrf_token": csrf_of(page), "run_id": str(run_id), "member_key": people[1].key},
    )
    assert refused.status_code == 403
    assert not audited(bot, "drill_resend")


# -- 代理回答 -----------------------------------------------------------------------------------------


def test_a_coordinator_records_an_answer_on_someones_behalf(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    people = members(bot.config)
    drill_id, run_id = fired(client, bot)
    bot.clock.advance(minutes=7)
    page = client.get(f"{BASE}/{drill_id}").text
    assert 'data-testid="proxy-form"' in page and people[2].name in page.split("proxy-person")[1]
    response = post(
        client,
        drill_id,
        "proxy",
        run_id=str(run_id),
        member_key=people[2].key,
        safety="軽傷",
        arrival="1時間以内",
        comment="電話で確認",
    )
    assert response.status_code == 302
    live = view(client, drill_id)["live"]
    assert live["rateText"] == "1/5人（20%）" and live["proxied"] == [
        {"name": people[2].name, "by": COORDINATOR}
    ]
    assert people[2].name not in live["silent"]
    assert (
        'data-testid="proxied-person">' + people[2].name + f"（{COORDINATOR} が代理で記録）"
        in client.get(f"{BASE}/{drill_id}").text
    )
    row = next(r for r in csv_rows(client, run_id) if r[2] == people[2].name)
    assert row[3:10] == [
        "軽傷",
        "1時間以内",
        "2026-11-21 09:07:00",
        "",
        "電話で確認",
        "",
        f"代理回答（{COORDINATOR}）",
    ]
    api = client.get(f"/api/drills/{drill_id}", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert {a["recordedBy"] for a in api["runs"][0]["answers"]} == {COORDINATOR}
    assert api["runs"][0]["summary"]["proxyAnswers"] == 1
    (entry,) = audited(bot, "drill_proxy_answer")
    assert entry["who"] == COORDINATOR and entry["target"] == f"drill:{drill_id}"
    assert (
        "軽傷" in entry["after"]
        and "軽傷" not in entry["before"]
        and entry["actionLabel"] == "訓練の代理回答"
    )
    # The coordinator's summary says how many answers were recorded for someone.
    bot.clock.current = AT + timedelta(minutes=61)
    bot.hotline.drills.run_due()
    bot.drain()
    assert any("代理回答 1人" in t for t in lw.texts_to(room(bot.config, "hq")))


def test_a_bad_proxy_answer_is_refused_and_stores_nothing(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    people = members(bot.config)
    drill_id, run_id = fired(client, bot)
    for fields in (
        {"member_key": people[0].key, "safety": "元気"},  # not a choice
        {"member_key": "someone@else.example", "safety": "無事"},  # not a target
        {"member_key": people[0].key},  # nothing to record
    ):
        response = post(client, drill_id, "proxy", run_id=str(run_id), **fields)
        assert response.status_code == 302
        assert "代理回答を記録できませんでした" in client.get(f"{BASE}/{drill_id}").text
    assert bot.hotline.storage.answers(run_id) == [] and not audited(bot, "drill_proxy_answer")


# -- typed answers during an open drill -----------------------------------------------------------


def test_a_typed_answer_during_an_open_drill_is_understood(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    people = members(bot.config)
    drill_id, run_id = fired(client, bot)
    type_text(bot, people[0], "無事です。30分で行けます")
    answers = {(a["member_key"], a["question"]): a["answer"] for a in bot.hotline.storage.answers(run_id)}
    assert answers == {(people[0].key, "safety"): "無事", (people[0].key, "arrival"): "30分以内"}
    reply = texts_to(lw, people[0])[-1]
    assert reply.startswith("【訓練】文章から回答を読み取りました: 無事・30分以内") and "第一報" not in reply

    # Safety alone: recorded, and the arrival question follows with its buttons.
    type_text(bot, people[1], "軽傷です")
    question = sent_to(lw, people[1])[-1]
    assert "安否「軽傷」を受け付けました" in question["contentText"]
    assert [a["label"] for a in question["actions"]][:2] == ["すぐ参集可", "30分以内"]
    type_text(bot, people[1], "１時間半ほどかかります")
    assert bot.hotline.drills.current_answers(run_id)[people[1].key] == {
        "safety": "軽傷",
        "arrival": "3時間以内",
    }

    # Unclear text: a pointer to the buttons, never the help about a 第一報.
    type_text(bot, people[2], "よろしくお願いします")
    reply = texts_to(lw, people[2])[-1]
    assert "ボタンで選んでください" in reply and "第一報" not in reply
    assert people[2].key not in bot.hotline.drills.current_answers(run_id)
    assert view(client, drill_id)["live"]["rateText"] == "2/5人（40%）"


# -- the recurrence picker --------------------------------------------------------------------------


def test_a_typed_ack_word_during_an_open_drill_points_to_the_buttons_not_the_first_report_help(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    """「了解」 is an acknowledgement word; with no reminder to acknowledge, during a roll-call it
    is the drill's: the person is pointed to the question's buttons, never told how to post a
    第一報."""
    people = members(bot.config)
    fired(client, bot)
    type_text(bot, people[2], "了解")
    reply = texts_to(lw, people[2])[-1]
    assert reply == messages.drill_text_not_understood("drill")["text"] and "第一報" not in reply


def test_the_recurrence_picker_writes_the_crontab_and_reads_in_japanese(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    picked = {"when": "cron", "at": "", "repeat": "monthly", "repeat_nth": "1", "repeat_weekday": "1"}
    confirmed = post_new(client, "confirm", repeat_time="09:00", **picked)
    assert (
        'data-testid="confirm-when">繰り返し 毎月第1月曜日 9:00（次回 2026-12-07 09:00）<' in confirmed.text
    )
    assert "1-7" not in confirmed.text.split('data-testid="confirm-when"')[1].split("</dd>")[0]
    drill_id = create(client, repeat_time="09:00", **picked)
    assert bot.hotline.storage.drill(drill_id)["cron"] == "0 9 1-7 * 1"
    assert (
        view(client, drill_id)["drill"]["schedule"] == "繰り返し 毎月第1月曜日 9:00（次回 2026-12-07 09:00）"
    )
    weekly = create(
        client, when="cron", at="", repeat="weekly", repeat_weekday="3", repeat_time="18:30", title="水曜"
    )
    assert bot.hotline.storage.drill(weekly)["cron"] == "30 18 * * 3"
    assert "毎週水曜日 18:30" in client.get(f"{BASE}/").text
    # The raw crontab stays available as the advanced field, shown as written when it is no
    # recurrence the picker offers.
    advanced = create(client, when="cron", at="", repeat="advanced", cron="*/30 8-17 * * 1-5", title="詳細")
    assert bot.hotline.storage.drill(advanced)["cron"] == "*/30 8-17 * * 1-5"
    assert view(client, advanced)["drill"]["schedule"].startswith("繰り返し「*/30 8-17 * * 1-5」")
    bad = post_new(client, "confirm", when="cron", at="", repeat="weekly", repeat_time="25:00")
    assert bad.status_code == 400 and "繰り返しの曜日・第何週・時刻を選び直してください。" in bad.text


# -- consistent statuses and counts -----------------------------------------------------------------


def test_an_aborted_drill_reads_aborted_like_its_run(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    drill_id, run_id = fired(client, bot)
    assert post(client, drill_id, "abort", run_id=str(run_id)).status_code == 302
    shown = view(client, drill_id)
    assert shown["drill"]["statusLabel"] == "中止" and shown["runs"][0]["statusLabel"] == "中止"
    assert shown["live"]["statusLabel"] == "中止"
    listed = client.get(f"{BASE}/").text.split(f'data-testid="drill-{drill_id}"')[1].split("</tr>")[0]
    assert "中止" in listed and "実施済み" not in listed


def test_the_drill_and_its_run_count_the_same_people(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    # The drill once counted today's configuration (10) while its run counted those asked (9):
    # a member added after the run fired. Both now say the run's number, with the reason.
    full = bot.config
    town = full.municipalities[UWAJIMA]
    fewer = replace(
        full, municipalities={**full.municipalities, UWAJIMA: replace(town, members=town.members[:4])}
    )
    bot.hotline.replace_config(fewer)
    drill_id, _ = fired(client, bot)
    bot.hotline.replace_config(full)  # a fifth member was added after it fired
    shown = view(client, drill_id)
    assert shown["live"]["targets"] == 4 and shown["drill"]["targetCount"] == 4
    assert shown["drill"]["estimate"].startswith("対象 4人")
    assert "現在の設定では5人" in shown["drill"]["targetsNote"]
    assert "現在の設定では5人" in client.get(f"{BASE}/{drill_id}").text
