"""The dashboard shows which channel reached whom: per person and town, LINE WORKS delivered,
the fallback mail sent (over real SMTP to a local mail server), and 確認（メール） for an
acknowledgement made on the page of the mail's link; on the drill page, questions sent by mail
and answers given by mail. A report that went by LINE WORKS alone shows no mail column."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from hotline.domain.drills import SAFETY
from hotline.domain.links import LinkSigner
from lineworks_emulator.mailbox import Mailbox
from tests.support.bot import Bot
from tests.support.drill_pages import fire_drill
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.mail import mail_rows, transport_to
from tests.support.sample import REPORT, UWAJIMA, member, members, room
from tests.support.web import add_account, login

IMABARI = "382027"  # reached by the group room only
NIIHAMA = "382051"  # likewise
AT = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)


@pytest.fixture
def box(bot: Bot) -> Iterator[Mailbox]:
    mailbox = Mailbox()
    mailbox.start()
    bot.hotline.transports["mail"] = transport_to(mailbox)
    yield mailbox
    mailbox.stop()


def admin(bot: Bot) -> FlaskClient:
    add_account(bot)
    client = bot.client.application.test_client()
    login(client)
    return client


def link(bot: Bot, kind: str, subject: int, key: str) -> str:
    return LinkSigner(bot.hotline.settings.secret_key, "").url(kind, subject, key, bot.clock.now())


def rows_by_id(client: FlaskClient) -> dict[str, dict[str, Any]]:
    view = client.get("/dashboard/incidents/1.json").get_json()
    return {r["testid"]: r for r in view["latest"]["matrix"]["rows"]}


def overview(client: FlaskClient, code: str) -> str:
    view = client.get("/dashboard/incidents/1.json").get_json()
    (row,) = [r for r in view["overview"]["rows"] if r["testid"] == f"overview-{code}"]
    return str(row["cells"][0]["text"])


def test_the_incident_page_shows_mail_sent_and_acknowledged_by_mail(
    bot: Bot, lw: FakeLineWorks, box: Mailbox
) -> None:
    lw.fail[room(bot.config, "group-team1")] = [404]  # LINE WORKS never reaches 今治 or 新居浜
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT, room(bot.config, "group-team1"))
    bot.drain()
    imabari, niihama = members(bot.config, IMABARI), members(bot.config, NIIHAMA)
    mail_rows(bot, imabari + niihama, report_id=1)
    assert sorted(m.rcpt_tos[0] for m in box.messages()) == sorted(p.email for p in imabari + niihama)
    client = admin(bot)
    assert bot.client.post(link(bot, "ack", 1, imabari[0].key)).status_code == 200

    rows = rows_by_id(client)
    pressed = rows[f"member-{imabari[0].key}"]["cells"]
    assert pressed[2].startswith("未達") and pressed[4].startswith("確認（メール） 11/21 03:12")
    assert re.fullmatch(r"送信済 11/21 03:12:\d\d", pressed[5])
    other = rows[f"member-{imabari[1].key}"]["cells"]
    assert other[4] == "未達" and other[5].startswith("送信済")
    town = rows[f"muni-{IMABARI}"]["cells"]
    assert town[4].startswith("確認（メール）") and town[5] == f"送信済 {len(imabari)}/{len(imabari)}名"
    assert rows[f"member-{member(bot.config, UWAJIMA).key}"]["cells"][5] == "—"  # LINE WORKS only
    assert overview(client, IMABARI) == "確認（メール）"
    assert overview(client, NIIHAMA) == "未達・メール送信済"
    page = client.get("/dashboard/incidents/1").text
    assert "<th>メール</th>" in page and "確認（メール）" in page
    assert "確認（メール）" in client.get("/dashboard/incidents/1/print").text


def test_a_report_that_went_by_line_works_alone_has_no_mail_column(bot: Bot, lw: FakeLineWorks) -> None:
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT, room(bot.config, "group-team1"))
    bot.drain()
    imabari = member(bot.config, IMABARI)
    bot.say(uid(imabari), "確認", room(bot.config, "group-team1"))
    bot.drain()
    client = admin(bot)
    view = client.get("/dashboard/incidents/1.json").get_json()
    assert view["latest"]["matrix"]["mail"] is False
    assert overview(client, IMABARI) == "確認済"
    assert "<th>メール</th>" not in client.get("/dashboard/incidents/1").text


def test_the_drill_page_shows_questions_sent_and_answers_given_by_mail(
    bot: Bot, lw: FakeLineWorks, box: Mailbox
) -> None:
    run_id = fire_drill(bot, AT)
    drill_id = bot.hotline.storage.run(run_id)["drill_id"]
    people = members(bot.config)
    mail_rows(bot, people[:2], run_id=run_id)
    url = link(bot, "drill", run_id, people[0].key)
    safety = re.search(r'name="answer" value="([^"]+)"[^>]*>' + SAFETY[0], bot.client.get(url).text)
    assert safety is not None
    bot.client.post(url, data={"answer": safety.group(1)})

    client = admin(bot)
    live = client.get(f"/dashboard/drills/{drill_id}.json").get_json()["live"]
    assert live["mailed"] == [{"name": p.name, "status": "送信済"} for p in people[:2]]
    assert live["byMail"] == [people[0].name]
    page = client.get(f"/dashboard/drills/{drill_id}").text
    assert 'data-testid="mailed-count">2人' in page and 'data-testid="by-mail-count">1人' in page
    csv = client.get(f"/dashboard/drills/runs/{run_id}.csv").data.decode("utf-8-sig").splitlines()
    assert csv[1].endswith(",メール,送信済") and csv[2].endswith(",,送信済")
