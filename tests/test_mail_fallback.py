"""The mail fallback of reports, against a real SMTP server on 127.0.0.1 (aiosmtpd) with LINE
WORKS faked at the requests boundary and a fixed clock: a report that has not reached a town's
rooms within 3 minutes, or that failed for good there, goes by e-mail to that town's people,
saying so and why, with a link to acknowledge; nothing when the rooms got it; the room's copy
that arrives later says it came late; the mail server's 421 is retried and its 550 recorded."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from hotline.clock import iso
from hotline.config import Config
from hotline.config.counterparts import linked_municipalities
from hotline.domain import incidents
from hotline.runtime.service import Hotline
from hotline.storage import Storage
from hotline.web.app import create_app
from lineworks_emulator.mailbox import Mailbox
from tests.support.bot import T0, Bot
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.mail import PUBLIC_URL, SENDER, link_in, recipients
from tests.support.sample import REPORT, UWAJIMA, member, room
from tests.support.web import add_account, login

DOWN = [500] * 40  # LINE WORKS answers 500 to every try for a long while


def supporters(config: Config) -> dict[str, str]:
    """e-mail -> member key of every person of the towns linked to 宇和島市 (not 宇和島市 itself)."""
    return {
        m.email: m.key
        for code in linked_municipalities(config, UWAJIMA)
        if code != UWAJIMA
        for m in config.municipalities[code].members
    }


def report_id(storage: Storage) -> int:
    return int(storage.reports_of_incident(storage.incidents()[0]["id"])[0]["id"])


def mail_rows(bot: Bot) -> list[tuple[str, str, str | None]]:
    with bot.hotline.storage.transaction() as conn:
        rows = conn.execute(
            "SELECT address, status, error FROM outbox WHERE channel = 'mail' ORDER BY id"
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def post_report(bot: Bot) -> None:
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT, room(bot.config, "group-team1"))
    bot.drain()


def test_a_report_not_delivered_within_3_minutes_goes_by_mail_to_the_towns_without_it(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    group = room(mail_bot.config, "group-team1")  # the only room that reaches the supporters
    lw.fail[group] = list(DOWN)
    post_report(mail_bot)
    mail_bot.clock.advance(minutes=2, seconds=59)
    mail_bot.drain()
    assert mailbox.messages() == []  # not before the 3 minutes
    mail_bot.clock.advance(seconds=1)
    mail_bot.drain()

    mails = mailbox.messages()
    people = supporters(mail_bot.config)
    # Every supporter, once; not HQ (its own room got the report) nor 宇和島市 (it wrote it).
    assert sorted(recipients(mails)) == sorted(people)
    first = mails[0]
    assert first.mail_from == SENDER
    assert first.subject == "【メール代替】宇和島市の第一報（03:12 受信）"
    assert first.message.get_content_charset() == "utf-8"
    text = first.text
    assert "【LINE WORKSの代わりにメールでお送りします】" in text
    assert "「チームえひめ 第1グループ" in text and "3分たっても届いていません" in text
    assert "【第一報】宇和島市 副市長" in text and "市内3か所で土砂崩れ、人的被害確認中" in text
    assert f"{PUBLIC_URL}/m/" in text
    for mail in mails:
        link = link_in(mail, mail_bot.clock.now())
        assert (link.kind, link.subject, link.member) == (
            "ack",
            report_id(mail_bot.hotline.storage),
            people[mail.rcpt_tos[0]],
        )
        assert mail.text.startswith(f"{_name(mail_bot.config, mail.rcpt_tos[0])} 様")


def _name(config: Config, email: str) -> str:
    return next(m.name for m in config.all_members() if m.email == email)


def test_no_mail_goes_when_the_rooms_got_the_report_in_time(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    post_report(mail_bot)
    mail_bot.clock.advance(minutes=5)
    mail_bot.drain()
    assert mailbox.messages() == []
    rows = mail_rows(mail_bot)
    # They were waiting, durable: one per supporter and HQ member, each cancelled just before.
    assert len(rows) == len(supporters(mail_bot.config)) + len(mail_bot.config.hq_members)
    assert {(status, error) for _, status, error in rows} == {("cancelled", "送信不要になりました")}
    # Mails that were not needed are no event of the incident's record, nor shown as mails.
    chronology = incidents.timeline(mail_bot.hotline.storage, mail_bot.config, 1)
    assert not [e for e in chronology if e["kind"] == "mail_report"]
    add_account(mail_bot)
    client = mail_bot.client.application.test_client()
    login(client)
    view = client.get("/dashboard/incidents/1.json").get_json()
    assert view["latest"]["matrix"]["mail"] is False  # the dashboard shows no mail column


def test_a_room_that_fails_for_good_sends_its_towns_mail_at_once_saying_why(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    group = room(mail_bot.config, "group-team1")
    lw.fail[group] = [403]  # the bot was removed from the group room
    post_report(mail_bot)  # no waiting: the failure is final
    mails = mailbox.messages()
    # The supporters' only room failed; HQ's people are in the group room too, but their own
    # room got the report, so they get no mail, now or later.
    assert sorted(recipients(mails)) == sorted(supporters(mail_bot.config))
    assert (
        "LINE WORKSのトークルーム「チームえひめ 第1グループ ホットライン」"
        "（ボットがこのトークルームから外されています）に届けられませんでした。"
    ) in mails[0].text
    mail_bot.clock.advance(minutes=3)
    mail_bot.drain()
    assert len(mailbox.messages()) == len(supporters(mail_bot.config))
    # The record says who was reached by mail.
    chronology = incidents.timeline(mail_bot.hotline.storage, mail_bot.config, 1)
    mailed = [e for e in chronology if e["kind"] == "mail_report"]
    deputy = member(mail_bot.config, "382027")
    assert len(mailed) == len(supporters(mail_bot.config))
    assert {"title": f"メール代替: {deputy.name} {deputy.email}", "detail": "送信済"}.items() <= next(
        e for e in mailed if deputy.email in e["title"]
    ).items()


def test_the_room_copy_that_arrives_after_the_mail_says_it_came_late(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    group = room(mail_bot.config, "group-team1")
    lw.fail[group] = list(DOWN)
    post_report(mail_bot)
    mail_bot.clock.advance(minutes=3)
    mail_bot.drain()
    assert mailbox.messages()
    lw.fail[group] = []  # LINE WORKS is back
    mail_bot.clock.advance(minutes=1)
    mail_bot.drain()
    copies = [c for c in lw.to_channels()[group] if c.get("type") == "button_template"]
    assert len(copies) == 1
    assert copies[0]["contentText"].startswith(
        "【遅れて届きました】LINE WORKSで届けられなかったため、03:15にメールで送りました。\n"
        "【第一報】宇和島市"
    )
    assert copies[0]["actions"][0]["label"] == "確認しました"
    on_time = [c for c in lw.to_channels()[room(mail_bot.config, "hq")] if c.get("type") == "button_template"]
    assert on_time[0]["contentText"].startswith("【第一報】")  # HQ's room got it in time: no mark


def test_a_mail_refused_with_421_is_sent_again_and_one_refused_with_550_fails_with_the_reason(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    lw.fail[room(mail_bot.config, "group-team1")] = list(DOWN)
    post_report(mail_bot)
    mailbox.refuse_next(2, permanent=False)
    mail_bot.clock.advance(minutes=3)
    mail_bot.drain()
    people = supporters(mail_bot.config)
    retrying = [(a, e) for a, s, e in mail_rows(mail_bot) if s == "pending"]
    assert len(retrying) == 2 and all(e and e.startswith("SMTP 421") for _, e in retrying)
    assert len(mailbox.messages()) == len(people) - 2
    mail_bot.clock.advance(seconds=10)
    mail_bot.drain()
    assert sorted(recipients(mailbox.messages())) == sorted(people)  # each once, none twice

    # A second report, and the server refuses one of its mails for good.
    mailbox.clear()
    mail_bot.say(
        uid(member(mail_bot.config, UWAJIMA)), "第2報 土砂崩れは5か所に", room(mail_bot.config, "group-team1")
    )
    mail_bot.drain()
    mailbox.refuse_next(1, permanent=True)
    mail_bot.clock.advance(minutes=3)
    mail_bot.drain()
    mail_bot.clock.advance(minutes=1)
    mail_bot.drain()
    failed = [(a, e) for a, s, e in mail_rows(mail_bot) if s == "failed"]
    assert len(failed) == 1
    assert (
        failed[0][1] == "メールサーバーが宛先を受け付けませんでした（550: 宛先のアドレスを確認してください）"
    )
    assert len(mailbox.messages()) == len(people) - 1  # not tried again
    # HQ hears at the next sweep whom neither LINE WORKS nor mail reached, with the number to call
    (address, reason) = failed[0]
    person = next(m for m in mail_bot.config.all_members() if m.email == address)
    town = mail_bot.config.municipalities[person.municipality_code or ""].name
    hq_room = room(mail_bot.config, "hq")
    before = len(lw.to_channels()[hq_room])
    mail_bot.hotline.sweep()
    mail_bot.drain()
    mail_bot.hotline.sweep()  # told once
    mail_bot.drain()
    (told,) = [m["text"] for m in lw.to_channels()[hq_room][before:] if m.get("type") == "text"]
    assert told.startswith("【届かなかった連絡】")
    call = f"（電話 {person.phone}）" if person.phone else ""
    assert f"・{town} {person.name}さん{call}へのメール「【メール代替】宇和島市の第2報" in told
    assert f"（{address}）: {reason}" in told


def test_mail_rows_follow_the_contract_the_links_and_dashboard_read(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    lw.fail[room(mail_bot.config, "group-team1")] = list(DOWN)
    post_report(mail_bot)
    rid = report_id(mail_bot.hotline.storage)
    person = member(mail_bot.config, "382027")  # 今治市's deputy mayor
    with mail_bot.hotline.storage.transaction() as conn:
        row = conn.execute(
            "SELECT * FROM outbox WHERE dedupe_key = ?", (f"mail:report:{rid}:{person.key}",)
        ).fetchone()
    assert (row["channel"], row["address"], row["purpose"], row["report_id"]) == (
        "mail",
        person.email,
        "mail_report",
        rid,
    )
    content = json.loads(row["content"])
    assert {k: content[k] for k in ("to", "member", "name", "municipality")} == {
        "to": person.email,
        "member": person.key,
        "name": person.name,
        "municipality": "382027",
    }
    assert content["subject"] and content["text"]
    assert row["next_attempt_at"] > (T0 + timedelta(minutes=2)).isoformat()


def test_an_hq_instruction_the_towns_rooms_cannot_take_goes_by_mail_to_that_towns_people(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    config = mail_bot.config
    for r in config.rooms:
        if r.link != "hq":
            lw.fail[r.channel_id] = [403]  # the bot was removed from every town and group room
    hq = config.hq_members[0]
    mail_bot.say(
        uid(hq), "【指示】宛先: 宇和島市\n避難所の開設状況を15時までに報告してください。", room(config, "hq")
    )
    mail_bot.drain()
    mails = mailbox.messages()
    uwajima = {m.email for m in config.municipalities[UWAJIMA].members if m.email}
    # The addressed town's people, at once (the failure is final); not HQ, not the other towns.
    assert sorted(recipients(mails)) == sorted(uwajima)
    mail = mails[0]
    assert mail.subject.startswith(f"【メール代替】{config.hq_name}の指示")
    assert "宛先: 宇和島市\n\n避難所の開設状況を15時までに報告してください。" in mail.text
    link = link_in(mail, mail_bot.clock.now())
    assert (link.kind, link.subject) == ("ack", mail_bot.hotline.storage.instructions()[0]["id"])


def test_after_a_restart_without_mail_waiting_mails_are_decided_not_all_failed(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    """HOTLINE_SMTP_URL removed at a restart: a waiting mail whose town got the report is
    cancelled as before; one still needed fails with a Japanese reason, and HQ is told only of
    those, not of people LINE WORKS reached."""
    lw.fail[room(mail_bot.config, "group-team1")] = list(DOWN)
    post_report(mail_bot)
    mail_bot.hotline.sender.shutdown()
    settings = replace(mail_bot.hotline.settings, mail=None)
    restarted = Hotline(settings, mail_bot.config, clock=mail_bot.clock)
    bot = Bot(restarted, create_app(restarted).test_client(), mail_bot.clock, mail_bot.config)
    try:
        bot.clock.advance(minutes=3)
        bot.drain()
        assert mailbox.messages() == []
        rows = mail_rows(bot)
        people = supporters(bot.config)
        failed = {a for a, status, _ in rows if status == "failed"}
        assert failed == set(people)  # their only room never got it
        assert {e for a, s, e in rows if s == "failed"} == {
            "メールの送信が設定されていない（止められた）ため送れませんでした"
        }
        assert {s for a, s, _ in rows if a not in people} == {"cancelled"}  # HQ's room got it
        hq_room = room(bot.config, "hq")
        before = len(lw.to_channels()[hq_room])
        bot.hotline.sweep()
        bot.drain()
        (told,) = [m["text"] for m in lw.to_channels()[hq_room][before:] if m.get("type") == "text"]
        listed = [line for line in told.splitlines() if line.startswith("・")]
        assert 0 < len(listed) < len(people)  # one notice: as many as fit, the rest counted
        assert f"ほか{len(people) - len(listed)}件（メールの分は災害ページのクロノロジーにあります）" in told
        assert len(told) <= 2000 and "以下省略" not in told
    finally:
        restarted.sender.shutdown()


def test_a_mail_a_crash_caught_being_sent_is_sent_again_not_recorded_as_cancelled(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    """A kill -9 between handing a mail to the server and marking it: at the restart the row is
    pending again, and the mail may well have gone. Even if the room has the report by then,
    the mail is sent again (at least once) rather than recorded as never sent."""
    group = room(mail_bot.config, "group-team1")
    lw.fail[group] = list(DOWN)
    post_report(mail_bot)
    storage = mail_bot.hotline.storage
    person = member(mail_bot.config, "382027")
    with storage.transaction() as conn:
        (caught,) = conn.execute(
            "SELECT id FROM outbox WHERE channel = 'mail' AND address = ?", (person.email,)
        ).fetchone()
    with storage.transaction():  # the worker took it, then the process was killed mid-send
        assert storage.claim(caught, iso(mail_bot.clock.now()))
    assert storage.recover_interrupted() == 1  # what start-up does
    lw.fail[group] = []  # LINE WORKS is back: the room gets the report before the mails are due
    mail_bot.clock.advance(minutes=1)
    mail_bot.drain()
    mail_bot.clock.advance(minutes=2)
    mail_bot.drain()
    assert recipients(mailbox.messages()) == [person.email]
    statuses = {a: s for a, s, _ in mail_rows(mail_bot)}
    assert statuses.pop(person.email) == "sent"
    assert set(statuses.values()) == {"cancelled"}
