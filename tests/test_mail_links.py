"""The page a fallback mail's link opens (/m/<token>): a person acknowledges a report, or answers
a drill, in a browser without logging in. Opening changes nothing; the button counts once,
exactly like the LINE WORKS button, marked as by mail; an expired link is a 410 that says what
to do, a forged or altered one a 404; the report's text is shown as text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hotline.config import Member
from hotline.domain import acknowledgements
from hotline.domain.drills import SAFETY
from hotline.domain.links import LINK_LIFETIME, LinkSigner
from tests.support.bot import Bot
from tests.support.drill_pages import fire_drill
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.mail import choices
from tests.support.sample import REPORT, UWAJIMA, member, members, room

IMABARI = "382027"  # a secondary supporter of 宇和島市
AT = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # 09:00 JST, the day after T0


def link(bot: Bot, kind: str, subject: int, person: Member, *, secret: str | None = None) -> str:
    """The path of the link the mail helper puts in a mail (public URL left out)."""
    signer = LinkSigner(secret or bot.hotline.settings.secret_key, "")
    return signer.url(kind, subject, person.key, bot.clock.now())


def first_report(bot: Bot, text: str = REPORT) -> int:
    bot.say(uid(member(bot.config, UWAJIMA)), text, room(bot.config, "group-team1"))
    bot.drain()
    return int(bot.hotline.storage.incidents()[0]["id"])


def acks(bot: Bot, report_id: int = 1) -> list[tuple[str, str | None, str]]:
    return [(a["member_key"], a["municipality_code"], a["via"]) for a in bot.hotline.storage.acks(report_id)]


def outbox(bot: Bot) -> list[tuple[Any, ...]]:
    with bot.hotline.storage.transaction() as conn:
        return [tuple(r) for r in conn.execute("SELECT dedupe_key, status FROM outbox ORDER BY id")]


def visible(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_opening_the_link_shows_the_report_and_one_button_and_changes_nothing(
    bot: Bot, lw: FakeLineWorks
) -> None:
    first_report(bot)
    imabari = member(bot.config, IMABARI)
    before = outbox(bot)
    page = bot.client.get(link(bot, "ack", 1, imabari))
    assert page.status_code == 200
    text = visible(page.text)
    assert "宇和島市の第一報" in text and "土砂崩れ" in text
    assert "LINE WORKSで届かなかったため" in text and f"{imabari.name}さん" in text
    assert page.text.count("<button") == 1 and "確認しました</button>" in page.text
    assert 'name="viewport"' in page.text  # laid out for a phone
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert acks(bot) == [] and outbox(bot) == before


def test_the_button_counts_once_like_a_tap_marked_by_mail(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    imabari = member(bot.config, IMABARI)
    url = link(bot, "ack", 1, imabari)

    pressed = bot.client.post(url)
    assert pressed.status_code == 200
    assert "確認を記録しました" in pressed.text and "記録済みです" in visible(pressed.text)
    assert acks(bot) == [(imabari.key, IMABARI, "mail")]
    report = bot.hotline.storage.report(1)
    (state,) = acknowledgements.report_states(bot.hotline.storage, bot.config, [report])
    assert dict(state["towns"])[IMABARI] == acknowledgements.ACKNOWLEDGED  # the overview counts it
    bot.drain()
    # the same 1:1 confirmation as after a tap, saying it came from the mail's link
    assert any(
        "宇和島市の第一報" in t and "への確認を記録しました" in t and "メールのリンク" in t
        for t in lw.texts_to(imabari.key)
    )
    after = outbox(bot)

    again = bot.client.post(url)
    assert again.status_code == 200 and "今回は何も変わっていません" in again.text
    assert "確認を記録しました" not in again.text
    assert acks(bot) == [(imabari.key, IMABARI, "mail")] and outbox(bot) == after


def test_a_town_that_acknowledged_by_mail_is_not_reminded(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    bot.client.post(link(bot, "ack", 1, member(bot.config, IMABARI)))
    bot.clock.advance(minutes=10)
    bot.hotline.reminders.run_due()
    bot.drain()
    reminded = {t for kind, t, c in lw.sent if kind == "user" and "確認のお願い" in c.get("contentText", "")}
    town = {m.key for m in members(bot.config, IMABARI)} | {uid(m) for m in members(bot.config, IMABARI)}
    assert reminded and not reminded & town  # other silent towns are chased, not 今治市


def test_a_tap_before_the_mail_press_is_what_stays_recorded(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    imabari = member(bot.config, IMABARI)
    bot.say(uid(imabari), "確認", room(bot.config, "group-team1"))
    bot.drain()
    page = bot.client.post(link(bot, "ack", 1, imabari))
    assert "記録済み" in page.text
    assert acks(bot) == [(imabari.key, IMABARI, "word")]


def test_an_expired_link_says_what_to_do_and_changes_nothing(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    url = link(bot, "ack", 1, member(bot.config, IMABARI))
    bot.clock.current = bot.clock.now() + LINK_LIFETIME
    before = outbox(bot)
    for answer in (bot.client.get(url), bot.client.post(url)):
        assert answer.status_code == 410
        assert "有効期限が切れています" in answer.text
        assert "LINE WORKS" in answer.text and "電話" in answer.text
    assert acks(bot) == [] and outbox(bot) == before


def test_a_forged_or_altered_link_is_a_404_and_changes_nothing(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    imabari = member(bot.config, IMABARI)
    good = link(bot, "ack", 1, imabari)
    altered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    foreign = link(bot, "ack", 1, imabari, secret="another-prefecture-secret-" + "x" * 20)
    stranger = link(bot, "ack", 1, Member("誰か", "staff", "who@example.jp", "", None, 0))
    unknown_report = link(bot, "ack", 99, imabari)
    before = outbox(bot)
    for url in (altered, foreign, stranger, unknown_report, "/m/not-a-token", "/m/" + "A" * 600):
        for answer in (bot.client.get(url), bot.client.post(url)):
            assert answer.status_code == 404, url
            assert "このリンクは使えません" in answer.text
    assert acks(bot) == [] and outbox(bot) == before


def test_the_report_text_is_shown_as_text_never_as_markup(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot, REPORT + ' <script>alert(1)</script><img src=x onerror="x()">\n2行目')
    page = bot.client.get(link(bot, "ack", 1, member(bot.config, IMABARI)))
    assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


# -- drills ---------------------------------------------------------------------------------------


def start_drill(bot: Bot) -> int:
    return fire_drill(bot, AT)


def test_a_drill_answered_from_the_mail_counts_like_taps_and_shows_in_the_results(
    bot: Bot, lw: FakeLineWorks
) -> None:
    run_id = start_drill(bot)
    person = members(bot.config)[0]
    url = link(bot, "drill", run_id, person)
    drills = bot.hotline.drills

    page = bot.client.get(url)
    assert page.status_code == 200 and "あなたの安否を選んでください" in page.text
    assert list(choices(page.text)) == list(SAFETY)  # the buttons LINE WORKS offers, in order
    assert bot.hotline.storage.answers(run_id) == []

    safe = bot.client.post(url, data={"answer": choices(page.text)[SAFETY[0]]})
    assert "回答を記録しました" in safe.text and "参集（職場に到着）できるのはいつ頃" in safe.text
    arrival = next(iter(choices(safe.text)))
    done = bot.client.post(url, data={"answer": choices(safe.text)[arrival]})
    assert "回答はすべて記録済みです" in done.text
    assert [(a["question"], a["answer"], a["via"]) for a in bot.hotline.storage.answers(run_id)] == [
        ("safety", SAFETY[0], "mail"),
        ("arrival", arrival, "mail"),
    ]
    assert drills.summary(run_id)["answered"] == 1
    (mine,) = [p for p in drills.people(run_id) if p["key"] == person.key]
    assert (mine["safety"], mine["arrival"], mine["byMail"]) == (SAFETY[0], arrival, True)
    assert "メール" in drills.csv(run_id).decode("utf-8-sig").splitlines()[1]

    again = bot.client.post(url, data={"answer": choices(page.text)[SAFETY[1]]})
    assert "今回は何も変わっていません" in again.text
    assert len(bot.hotline.storage.answers(run_id)) == 2


def test_a_drill_link_takes_only_its_own_runs_buttons(bot: Bot, lw: FakeLineWorks) -> None:
    run_id = start_drill(bot)
    person = members(bot.config)[0]
    page = bot.client.get(link(bot, "drill", run_id, person))
    data = choices(page.text)[SAFETY[0]]
    forged = data.replace(f"drill:{run_id}:", f"drill:{run_id + 1}:")
    for value in (forged, "ack:1:000000000000", ""):
        answer = bot.client.post(link(bot, "drill", run_id, person), data={"answer": value})
        assert answer.status_code == 404
    assert bot.hotline.storage.answers(run_id) == []


def safety_button(bot: Bot) -> tuple[int, str, str]:
    """A fired drill, the first target's link and what its first safety button posts."""
    run_id = start_drill(bot)
    url = link(bot, "drill", run_id, members(bot.config)[0])
    return run_id, url, choices(bot.client.get(url).text)[SAFETY[0]]


def test_an_aborted_drill_says_so_and_takes_no_answer(bot: Bot, lw: FakeLineWorks) -> None:
    run_id, url, data = safety_button(bot)
    bot.hotline.drills.abort(run_id)
    answer = bot.client.post(url, data={"answer": data})
    assert answer.status_code == 410 and "中止されました" in answer.text
    assert bot.hotline.storage.answers(run_id) == []


def test_a_late_answer_from_the_mail_is_kept_marked_late(bot: Bot, lw: FakeLineWorks) -> None:
    run_id, url, data = safety_button(bot)
    bot.clock.current = AT + timedelta(hours=2)
    bot.hotline.drills.run_due()
    assert bot.hotline.storage.run(run_id)["status"] == "closed"
    bot.client.post(url, data={"answer": data})
    (answer,) = bot.hotline.storage.answers(run_id)
    assert (answer["via"], answer["late"]) == ("mail", 1)
