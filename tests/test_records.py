"""An incident as a record HQ can sign: what each report was sent to is frozen with it (later
configuration edits never change a past matrix, API answer, chronology or CSV); an incident is
closed with a note and reopened, audited and in the chronology; a delivery that failed for
good shows as 未達 with its reason and can be sent again (再送)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from hotline import config as config_module
from hotline.config import COUNTERPARTS_FILE
from hotline.domain import acknowledgements, incidents
from hotline.domain.acknowledgements import sign_postback
from hotline.storage import Storage
from tests.support.bot import ROOT, TOKEN, Bot, message_event
from tests.support.config_files import copy_config
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import REPORT, UWAJIMA, member, room
from tests.support.web import add_account, csrf_of, login

IMABARI = "382027"  # 宇和島市's secondary supporter in the sample, its primary after the edit
NIIHAMA = "382051"  # 宇和島市's primary supporter in the sample
API = {"Authorization": f"Bearer {TOKEN}"}
FIXTURE = Path(__file__).parent / "fixtures" / "db-v1-640e222.sqlite3"
NEW_MEMBER = """
[[municipalities.members]]  # 担当職員（後から追加）
name = "越智 新"
role = "staff"
email = "bosai.tanto3@imabari.example"
user_id = ""
"""


def relay_first_report(bot: Bot) -> None:
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT, room(bot.config, "group-team1"))
    bot.drain()


def tap(bot: Bot, code: str, report_id: int) -> None:
    content = {
        "type": "text",
        "text": "確認しました",
        "postback": sign_postback(bot.hotline.settings.credentials.bot_secret, report_id),
    }
    bot.post_event(message_event(uid(member(bot.config, code)), content, room(bot.config, "group-team1")))
    bot.drain()


def as_admin(bot: Bot, role: str = "admin") -> FlaskClient:
    add_account(bot, "hq-admin", role)
    client = bot.client.application.test_client()
    assert login(client).status_code == 302
    return client


def record_of_report_1(bot: Bot, client: FlaskClient) -> dict[str, Any]:
    """Everything HQ reads about report 1: the matrix (API), the report (API), the incident page's
    data, the chronology, its CSV and the print page."""
    return {
        "acks": client.get("/api/reports/1/acks", headers=API).get_json(),
        "report": client.get("/api/reports/1", headers=API).get_json(),
        "incident": client.get("/dashboard/incidents/1.json").get_json(),
        "chronology": incidents.timeline(bot.hotline.storage, bot.hotline.config(), 1),
        "csv": client.get("/dashboard/incidents/1.csv").data,
        "print": client.get("/dashboard/incidents/1/print").text,
    }


def edited_config(tmp_path: Path) -> Path:
    """The sample with members and supporters edited: a member added to 今治市 and one removed,
    宇和島市's primary and secondary supporters swapped, the group room renamed."""
    folder = copy_config(tmp_path / "edited")
    path = folder / COUNTERPARTS_FILE
    text = path.read_text(encoding="utf-8")
    removed = """
[[municipalities.members]]  # 担当職員
name = "矢野 拓也"
role = "staff"
email = "bosai.tanto@imabari.example"
user_id = ""
"""
    assert removed in text
    text = text.replace(removed, NEW_MEMBER)
    before = (
        'stricken = "382035"  # 宇和島市\nprimary = "382051"  # 新居浜市（一次支援市）\n'
        'secondary = ["382027", "383562"]'
    )
    assert before in text
    text = text.replace(
        before, 'stricken = "382035"  # 宇和島市\nprimary = "382027"\nsecondary = ["382051", "383562"]'
    )
    path.write_text(text, encoding="utf-8")
    group_room = folder / "rooms" / "group-team1.toml"
    group_room.write_text(
        group_room.read_text(encoding="utf-8").replace(
            'title = "チームえひめ 第1グループ ホットライン"', 'title = "第1グループ（改称後）"'
        ),
        encoding="utf-8",
    )
    return folder


def test_a_past_report_keeps_what_it_was_sent_to_after_members_and_supporters_change(
    bot: Bot, lw: FakeLineWorks, tmp_path: Path
) -> None:
    relay_first_report(bot)
    bot.clock.advance(minutes=2)
    tap(bot, IMABARI, 1)
    client = as_admin(bot)
    before = record_of_report_1(bot, client)
    towns = {t["code"]: t for t in before["acks"]["municipalities"]}
    assert towns[IMABARI]["relation"] == "secondary" and towns[NIIHAMA]["relation"] == "primary"
    assert before["acks"]["frozen"] is True

    bot.hotline.replace_config(config_module.load(edited_config(tmp_path)))

    after_edit = record_of_report_1(bot, client)
    for key, value in before.items():
        assert after_edit[key] == value, key

    # a new report is sent to the configuration of its own moment
    bot.clock.advance(minutes=5)
    bot.say(uid(member(bot.config, UWAJIMA)), "第2報 避難所を開設", room(bot.config, "group-team1"))
    bot.drain()
    after: dict[str, Any] = client.get("/api/reports/2/acks", headers=API).get_json()
    towns = {t["code"]: t for t in after["municipalities"]}
    assert towns[IMABARI]["relation"] == "primary" and towns[NIIHAMA]["relation"] == "secondary"
    names = [m["name"] for m in towns[IMABARI]["members"]]
    assert "越智 新" in names and "矢野 拓也" not in names
    assert client.get("/api/reports/1/acks", headers=API).get_json() == before["acks"]
    chronology = incidents.timeline(bot.hotline.storage, bot.hotline.config(), 1)
    titles = [e["title"] for e in chronology if e["kind"] == "delivery"]
    assert "配信: チームえひめ 第1グループ ホットライン" in titles and "配信: 第1グループ（改称後）" in titles


def test_a_report_relayed_before_recipients_were_recorded_is_shown_from_the_running_configuration(
    tmp_path: Path, sample_config: config_module.Config
) -> None:
    copy = tmp_path / "old.sqlite3"
    shutil.copyfile(FIXTURE, copy)
    storage = Storage(copy)
    try:
        found = acknowledgements.matrix(storage, sample_config, 1)
        assert found is not None and found["frozen"] is False
        assert [t["code"] for t in found["municipalities"]][:1] and found["municipality"][
            "name"
        ] == "宇和島市"
        assert sum(1 for t in found["municipalities"] if t["acknowledged"]) == 1
        assert incidents.timeline(storage, sample_config, 1)
    finally:
        storage.close()
    assert ROOT.exists()


# -- the incident's lifecycle -------------------------------------------------------------------


def post(client: FlaskClient, url: str, **form: str) -> Any:
    token = csrf_of(client.get("/dashboard/incidents/1").text)
    return client.post(url, data={"csrf_token": token, **form})


def test_a_coordinator_closes_with_a_note_and_reopens_audited_and_in_the_chronology(
    bot: Bot, lw: FakeLineWorks
) -> None:
    relay_first_report(bot)
    client = as_admin(bot, "coordinator")
    page = client.get("/dashboard/incidents/1").text
    assert 'data-testid="close-button"' in page
    refused = post(client, "/dashboard/incidents/1/close", note="  ")
    assert refused.status_code == 302 and bot.hotline.storage.incident(1)["status"] == "open"
    assert "終了メモ" in client.get("/dashboard/incidents/1").text

    bot.clock.advance(minutes=30)
    assert (
        post(client, "/dashboard/incidents/1/close", note="全員の安否確認済み。県の応援は不要").status_code
        == 302
    )
    page = client.get("/dashboard/incidents/1").text
    assert bot.hotline.storage.incident(1)["status"] == "closed"
    assert "終了メモ（2026-11-21 03:42:00 hq-admin）: 全員の安否確認済み。県の応援は不要" in page
    assert 'data-testid="reopen-button"' in page

    bot.clock.advance(minutes=5)
    assert post(client, "/dashboard/incidents/1/reopen", note="余震で被害拡大").status_code == 302
    assert bot.hotline.storage.incident(1)["status"] == "open"
    entries = [
        (e["kind"], e["title"], e["detail"]) for e in incidents.timeline(bot.hotline.storage, bot.config, 1)
    ]
    assert entries[-2:] == [
        ("close", "終了: hq-admin", "全員の安否確認済み。県の応援は不要"),
        ("reopen", "再開: hq-admin", "余震で被害拡大"),
    ]
    audited = [(r["action"], r["target"]) for r in bot.hotline.storage.audit_entries()]
    assert ("incident_close", "incident 1") in audited and ("incident_reopen", "incident 1") in audited


def test_a_viewer_is_offered_no_lifecycle_or_resend_buttons(bot: Bot, lw: FakeLineWorks) -> None:
    lw.fail[room(bot.config, "group-team1")] = [404]
    relay_first_report(bot)
    client = as_admin(bot, "viewer")
    page = client.get("/dashboard/incidents/1").text
    assert 'data-testid="undelivered"' in page
    assert 'data-testid="close-button"' not in page and 'data-testid="resend-1"' not in page
    assert post(client, "/dashboard/incidents/1/close", note="x").status_code == 403
    assert bot.hotline.storage.incident(1)["status"] == "open"


def test_after_closing_a_followup_reopens_the_incident_and_a_first_report_opens_a_new_one(
    bot: Bot, lw: FakeLineWorks
) -> None:
    relay_first_report(bot)
    client = as_admin(bot)
    post(client, "/dashboard/incidents/1/close", note="収束")
    bot.clock.advance(minutes=10)
    bot.say(
        uid(member(bot.config, UWAJIMA)), "続報 土砂崩れが1か所増えました", room(bot.config, "group-team1")
    )
    bot.drain()
    assert bot.hotline.storage.report(2)["incident_id"] == 1
    assert bot.hotline.storage.incident(1)["status"] == "open"
    reopened = [e for e in incidents.timeline(bot.hotline.storage, bot.config, 1) if e["kind"] == "reopen"]
    assert [(e["title"], e["detail"]) for e in reopened] == [
        ("再開: 宇和島市 副市長 兵頭 浩二", "終了後に続報が届いたため、自動で再開しました")
    ]
    assert ("incident_reopen", "incident 1") in [
        (r["action"], r["target"]) for r in bot.hotline.storage.audit_entries()
    ]

    bot.say(uid(member(bot.config, UWAJIMA)), "第一報 別の地区で浸水", room(bot.config, "group-team1"))
    bot.drain()
    assert bot.hotline.storage.report(3)["incident_id"] == 2
    assert bot.hotline.storage.incident(1)["status"] == "closed"
    closed = [e for e in incidents.timeline(bot.hotline.storage, bot.config, 1) if e["kind"] == "close"]
    assert closed[-1]["detail"] == incidents.SUPERSEDED


# -- 未達 is not 未回答, and 再送 -----------------------------------------------------------------


def test_a_room_that_failed_for_good_shows_its_people_as_undelivered_with_why_and_resend_reaches_them(
    bot: Bot, lw: FakeLineWorks
) -> None:
    group = room(bot.config, "group-team1")  # 今治市 is reached by the group room only
    lw.fail[group] = [404]
    relay_first_report(bot)
    client = as_admin(bot)
    why = "トークルームが見つかりません（削除されたか、ボットが参加していません）"

    found: dict[str, Any] = client.get("/api/reports/1/acks", headers=API).get_json()
    towns = {t["code"]: t for t in found["municipalities"]}
    imabari = towns[IMABARI]["members"]
    assert {(m["delivery"], m["failure"]) for m in imabari} == {("undelivered", why)}
    assert towns[IMABARI]["state"] == "undelivered" and towns[IMABARI]["failure"] == why
    assert {m["delivery"] for m in towns[UWAJIMA]["members"]} == {"sent"}  # its own room got it
    rows = client.get("/dashboard/incidents/1.json").get_json()["latest"]["matrix"]["rows"]
    cells = [(r["cells"][2], r["cells"][4]) for r in rows if r["group"] == IMABARI and r["type"] == "member"]
    assert cells and set(cells) == {(f"未達（{why}）", "未達")}  # not 未確認: they never got it
    assert [r["cells"][4] for r in rows if r["testid"] == f"muni-{IMABARI}"] == [f"未達（{why}）"]
    page = client.get("/dashboard/incidents/1").text
    assert f"{why}" in page and 'data-testid="resend-1"' in page
    sent_before = len(lw.to_channels().get(group, []))

    bot.clock.advance(minutes=3)
    assert post(client, "/dashboard/incidents/1/reports/1/resend").status_code == 302
    bot.drain()
    assert len(lw.to_channels()[group]) == sent_before + 1
    tried = [d for d in bot.hotline.storage.deliveries(1) if d["room_key"] == "group-team1"]
    assert [d["status"] for d in tried] == ["failed", "sent"]  # the failure stays as history
    found = client.get("/api/reports/1/acks", headers=API).get_json()
    towns = {t["code"]: t for t in found["municipalities"]}
    assert all(m["delivery"] == "sent" and m["failure"] is None for m in towns[IMABARI]["members"])
    assert 'data-testid="undelivered"' not in client.get("/dashboard/incidents/1").text
    audited = [r for r in bot.hotline.storage.audit_entries() if r["action"] == "report_resend"]
    assert len(audited) == 1 and audited[0]["target"] == "report 1"
    assert post(client, "/dashboard/incidents/1/reports/1/resend").status_code == 302
    assert len([d for d in bot.hotline.storage.deliveries(1) if d["room_key"] == "group-team1"]) == 2


def test_reminders_chase_the_towns_a_report_was_sent_to_not_a_supporter_added_later(
    bot: Bot, lw: FakeLineWorks, tmp_path: Path
) -> None:
    relay_first_report(bot)
    folder = copy_config(tmp_path / "added")
    path = folder / COUNTERPARTS_FILE
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        'primary = "382051"  # 新居浜市（一次支援市）\nsecondary = ["382027", "383562"]',
        'primary = "382051"  # 新居浜市（一次支援市）\nsecondary = ["382027", "383562", "382019"]',
        1,
    )
    path.write_text(text, encoding="utf-8")
    bot.hotline.replace_config(config_module.load(folder))
    bot.clock.advance(minutes=11)
    assert bot.hotline.reminders.run_due() > 0
    bot.drain()
    matsuyama = {m.key for m in bot.hotline.config().municipalities["382019"].members}
    reminded = {target for kind, target, _ in lw.sent if kind == "user"}  # 1:1, by member key
    assert member(bot.config, IMABARI).key in reminded and not reminded & matsuyama
