"""The dashboard's instruction pages through the Flask test client, on a fixed clock: the form
(coordinators and administrators only, CSRF, bad input sends nothing), the page per instruction
with each addressed town's 確認済 / 未確認 / 配信中 / 未達, and the box beside the incidents.

LINE WORKS is faked at the requests boundary (tests/support/fake_lineworks.FakeLineWorks)."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient

from hotline.domain.acknowledgements import sign_postback
from lineworks_emulator.mailbox import Mailbox
from tests.support.bot import Bot, message_event
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.mail import recipients
from tests.support.sample import UWAJIMA, member, room
from tests.support.web import add_account, csrf_of, login

BASE = "/dashboard/instructions"
SEIYO = "382141"
OZU = "382078"  # 大洲市: only the team3 group room reaches it
TEXT = "避難所の開設状況を15時までに報告してください。"


def logged_in(bot: Bot, role: str) -> FlaskClient:
    add_account(bot, f"{role}-1", role)
    assert login(bot.client, username=f"{role}-1").status_code == 302
    return bot.client


def form_id_of(html: str) -> str:
    found = re.search(r'name="form_id" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def send(client: FlaskClient, csrf: bool = True, **fields: Any) -> Any:
    """Open the form and submit it with `fields` (with the form's one-time id unless given; a
    viewer, who may not open the form, submits the dashboard's token and a fresh id)."""
    form = client.get(f"{BASE}/new")
    page = form.text if form.status_code == 200 else client.get("/dashboard/").text
    token = csrf_of(page)
    data: dict[str, Any] = {
        "kind": "instruction",
        "to": "towns",
        "text": TEXT,
        "form_id": form_id_of(page) if form.status_code == 200 else str(uuid.uuid4()),
        **fields,
    }
    if csrf:
        data["csrf_token"] = token
    return client.post(f"{BASE}/", data=data)


def sent_texts(lw: FakeLineWorks) -> list[str]:
    return [c.get("contentText") or c.get("text") or "" for _, _, c in lw.sent]


def town_states(html: str) -> dict[str, str]:
    found = re.findall(
        r'data-testid="town-(\d+)">\s*<th class="town">[^<]*</th>\s*<td class="state \w+" '
        r'data-testid="state">([^<（]*)',
        html,
    )
    return dict(found)


def test_a_coordinator_sends_an_instruction_to_chosen_towns_from_the_form(
    bot: Bot, lw: FakeLineWorks
) -> None:
    client = logged_in(bot, "coordinator")
    form = client.get(f"{BASE}/new")
    assert form.status_code == 200 and "県本部からの指示・依頼を送る" in form.text
    response = send(client, municipality=[UWAJIMA, SEIYO])
    assert response.status_code == 302
    page_url = response.headers["Location"]
    bot.drain()
    for key in ("group-team1", "group-team2", f"municipality-{UWAJIMA}", f"municipality-{SEIYO}"):
        (content,) = [c for kind, t, c in lw.sent if t == room(bot.config, key)]
        assert content["contentText"].startswith(
            "【指示】愛媛県災害対策本部 （ダッシュボードから coordinator-1）"
        )
        assert TEXT in content["contentText"] and content["actions"][0]["label"] == "確認しました"
    # no poster in LINE WORKS: the HQ room gets the receipt
    (receipt,) = lw.texts_to(room(bot.config, "hq"))
    assert receipt.startswith("指示の宛先（2市町）: 宇和島市、西予市")
    page = client.get(page_url)
    assert "避難所の開設状況" in page.text and "（ダッシュボードから coordinator-1）" in page.text
    assert town_states(page.text) == {UWAJIMA: "未確認", SEIYO: "未確認"}
    (entry,) = [e for e in bot.hotline.storage.audit_entries(10) if e["action"] == "instruction_send"]
    assert entry["who"] == "coordinator-1"


def test_the_page_shows_each_towns_state_acknowledged_silent_pending_undelivered(
    bot: Bot, lw: FakeLineWorks
) -> None:
    client = logged_in(bot, "admin")
    url = send(client, municipality=[UWAJIMA, SEIYO, OZU]).headers["Location"]
    assert set(town_states(client.get(url).text).values()) == {"配信中"}  # not sent yet
    lw.fail[room(bot.config, "group-team1")] = [404]
    lw.fail[room(bot.config, f"municipality-{UWAJIMA}")] = [404]
    bot.drain()
    (instruction,) = bot.hotline.storage.instructions()
    tap = {"type": "text", "text": "確認しました"}
    tap["postback"] = sign_postback(bot.hotline.settings.credentials.bot_secret, instruction["id"])
    bot.post_event(message_event(uid(member(bot.config, SEIYO)), tap, room(bot.config, "group-team2")))
    bot.drain()
    page = client.get(url).text
    assert town_states(page) == {UWAJIMA: "未達", SEIYO: "確認済", OZU: "未確認"}
    assert "副市長" in page and "（ボタン）" in page


def test_a_viewer_may_look_but_not_send(bot: Bot, lw: FakeLineWorks) -> None:
    client = logged_in(bot, "viewer")
    assert client.get(f"{BASE}/").status_code == 200
    assert client.get(f"{BASE}/new").status_code == 403
    refused = send(client, municipality=[UWAJIMA])
    assert refused.status_code == 403 and "訓練担当か管理者" in refused.text
    bot.drain()
    assert bot.hotline.storage.instructions() == [] and lw.sent == []


def test_without_a_login_the_form_leads_to_the_login_page(bot: Bot, lw: FakeLineWorks) -> None:
    response = bot.client.post(f"{BASE}/", data={"kind": "instruction", "to": "all", "text": TEXT})
    assert response.status_code == 302 and "/dashboard/login" in response.headers["Location"]
    assert bot.hotline.storage.instructions() == []


def test_a_post_without_the_csrf_token_sends_nothing(bot: Bot, lw: FakeLineWorks) -> None:
    client = logged_in(bot, "coordinator")
    response = send(client, csrf=False, to="all")
    assert response.status_code == 400 and "不正な送信です" in response.text
    bot.drain()
    assert bot.hotline.storage.instructions() == [] and lw.sent == []


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"text": "  "}, "内容を書いてください。"),
        ({"kind": "order"}, "種別（指示・依頼）を選んでください。"),
        ({"to": "everyone"}, "宛先（全市町・グループ・市町）を選んでください。"),
        ({"municipality": []}, "宛先の市町を1つ以上選んでください。"),
        ({"municipality": ["999999"]}, "不明な市町です。"),
        ({"to": "groups", "group": ["team9"]}, "不明なグループです。"),
        ({"text": "あ" * 1501}, "内容は1500文字以内にしてください（いま1501文字）。"),
    ],
)
def test_bad_input_is_refused_in_japanese_and_sends_nothing(
    bot: Bot, lw: FakeLineWorks, fields: dict[str, Any], error: str
) -> None:
    client = logged_in(bot, "coordinator")
    response = send(client, **{"municipality": [UWAJIMA], **fields})
    assert response.status_code == 400 and error in response.text
    bot.drain()
    assert bot.hotline.storage.instructions() == [] and lw.sent == []


def test_a_group_form_addresses_the_groups_towns_and_shows_beside_the_incidents(
    bot: Bot, lw: FakeLineWorks
) -> None:
    client = logged_in(bot, "coordinator")
    assert send(client, kind="request", to="groups", group=["team3"]).status_code == 302
    bot.drain()
    incidents = client.get("/dashboard/").text
    assert 'data-testid="instructions-box"' in incidents and "チームえひめ 第3グループ" in incidents
    assert re.search(r'data-testid="instruction-acks">0/6市町<', incidents)
    # 松山市 is in team3 and team2: team2's room reaches it too
    rooms = {t for _, t, c in lw.sent if "【依頼】" in str(c)}
    assert rooms == {room(bot.config, "group-team3"), room(bot.config, "group-team2")}


def test_the_instructions_record_has_its_deliveries_acknowledgements_and_answers_as_csv(
    bot: Bot, lw: FakeLineWorks
) -> None:
    client = logged_in(bot, "viewer")
    bot.say(uid(bot.config.hq_members[0]), f"【依頼】宛先: 宇和島市\n{TEXT}", room(bot.config, "hq"))
    bot.drain()
    deputy = member(bot.config, UWAJIMA)
    bot.say(uid(deputy), "【回答】避難所3か所を開設済み", room(bot.config, f"municipality-{UWAJIMA}"))
    bot.drain()
    (instruction,) = bot.hotline.storage.instructions()
    page = client.get(f"{BASE}/{instruction['id']}").text
    assert "避難所3か所を開設済み" in page and "副市長 兵頭 浩二（回答）" in page
    csv_url = re.search(r'href="([^"]+)" data-testid="instruction-csv"', page)
    assert csv_url is not None
    rows = client.get(csv_url.group(1)).data.decode("utf-8-sig").splitlines()
    assert rows[1].endswith(f"依頼（愛媛県災害対策本部 本部長 大政 誠）,{TEXT}")
    assert f"確認,{instruction['id']},確認: 宇和島市 兵頭 浩二,回答（依頼）" in "\n".join(rows)
    assert any(r.endswith("回答（宇和島市 副市長 兵頭 浩二）,避難所3か所を開設済み") for r in rows)


def test_the_same_form_submitted_twice_sends_the_instruction_once(bot: Bot, lw: FakeLineWorks) -> None:
    """A double click or a resent POST: the form's one-time id sends it once and shows its page."""
    client = logged_in(bot, "coordinator")
    form = client.get(f"{BASE}/new").text
    data = {
        "csrf_token": csrf_of(form),
        "form_id": form_id_of(form),
        "kind": "instruction",
        "to": "towns",
        "municipality": [UWAJIMA],
        "text": TEXT,
    }
    first = client.post(f"{BASE}/", data=data)
    again = client.post(f"{BASE}/", data=data)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert (
        "この指示はすでに送信済みです（二重に送ってはいません）。"
        in client.get(again.headers["Location"]).text
    )
    bot.drain()
    assert len(bot.hotline.storage.instructions()) == 1
    town_room = room(bot.config, f"municipality-{UWAJIMA}")
    assert len([c for _, t, c in lw.sent if t == town_room]) == 1
    # a new form is a new instruction
    assert send(client, municipality=[UWAJIMA]).headers["Location"] != first.headers["Location"]
    assert len(bot.hotline.storage.instructions()) == 2


def test_a_post_without_the_forms_one_time_id_sends_nothing(bot: Bot, lw: FakeLineWorks) -> None:
    client = logged_in(bot, "coordinator")
    for form_id in ("", "not-a-uuid"):
        response = send(client, municipality=[UWAJIMA], form_id=form_id)
        assert response.status_code == 400
        assert "フォームの有効期限が切れています。内容を確かめて、もう一度送ってください。" in response.text
        assert _is_new_id(form_id_of(response.text))  # the form shown again can be sent
    bot.drain()
    assert bot.hotline.storage.instructions() == [] and lw.sent == []


def _is_new_id(value: str) -> bool:
    return str(uuid.UUID(value)) == value


def test_a_form_instruction_no_room_can_take_goes_by_mail_at_once(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    config = mail_bot.hotline.config()
    blank = {"group-team1", f"municipality-{UWAJIMA}"}
    rooms = tuple(replace(r, channel_id="") if r.key in blank else r for r in config.rooms)
    mail_bot.hotline.replace_config(replace(config, rooms=rooms))
    client = logged_in(mail_bot, "coordinator")
    assert send(client, municipality=[UWAJIMA]).status_code == 302
    mail_bot.drain()  # no time passes: the rooms failed at once, so the mails go now
    uwajima = {m.email for m in mail_bot.config.municipalities[UWAJIMA].members if m.email}
    assert sorted(recipients(mailbox.messages())) == sorted(uwajima)


def test_the_page_keeps_the_rooms_and_towns_as_the_instruction_was_sent(bot: Bot, lw: FakeLineWorks) -> None:
    """A room renamed or removed, a town renamed, after the instruction: its page does not change."""
    client = logged_in(bot, "coordinator")
    url = send(client, municipality=[UWAJIMA]).headers["Location"]
    bot.drain()
    bot.say(
        uid(member(bot.config, UWAJIMA)), "【回答】避難所3か所を開設済み", room(bot.config, "group-team1")
    )
    bot.drain()
    config = bot.hotline.config()
    rooms = tuple(
        replace(r, title="改名したルーム") for r in config.rooms if r.key != f"municipality-{UWAJIMA}"
    )
    towns = {**config.municipalities, UWAJIMA: replace(config.municipalities[UWAJIMA], name="新宇和島市")}
    bot.hotline.replace_config(replace(config, rooms=rooms, municipalities=towns))
    view = client.get(f"{url}.json").get_json()
    assert {d["room"] for d in view["deliveries"]} == {
        "チームえひめ 第1グループ ホットライン",
        "宇和島市 災害対策 連絡ルーム",
    }
    (answered,) = view["answers"]
    assert answered["town"] == "宇和島市"
    assert "改名したルーム" not in client.get(url).text and "新宇和島市" not in client.get(url).text
