"""The mail fallback of roll-call questions, against a real SMTP server on 127.0.0.1: a target
whose question failed for good (未達), or has not arrived within 3 minutes, gets it by mail
with a link to answer; those whose question arrived get nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hotline.domain.drills import Targets
from lineworks_emulator.mailbox import Mailbox
from tests.support.bot import Bot
from tests.support.fake_lineworks import FakeLineWorks
from tests.support.mail import choices, link_in, recipients
from tests.support.sample import UWAJIMA, member

AT = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # 09:00 JST


def fire(bot: Bot) -> int:
    bot.hotline.drills.create(
        title="11月 参集訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=AT
    )
    bot.clock.current = AT
    (run_id,) = bot.hotline.drills.run_due()
    bot.drain()
    return run_id


def test_a_question_that_failed_for_good_goes_by_mail_at_once_with_an_answer_link(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    person = member(mail_bot.config, UWAJIMA, "disaster_head")
    lw.fail[person.key] = [403]
    run_id = fire(mail_bot)
    assert mailbox.messages() == []
    mail_bot.hotline.drills.run_due()  # the scheduler's next look (every 10 s) sees the 未達
    mail_bot.drain()
    [mail] = mailbox.messages()
    assert mail.rcpt_tos == (person.email,)
    assert mail.subject == "【訓練】【メール代替】参集確認「11月 参集訓練」"
    assert mail.text.startswith(f"{person.name} 様\n\n【訓練】11月 参集訓練\n職員参集の確認です。10:00までに")
    assert "LINE WORKSで質問を届けられませんでした" in mail.text
    link = link_in(mail, mail_bot.clock.now())
    assert (link.kind, link.subject, link.member) == ("drill", run_id, person.key)
    # The others got their question on LINE WORKS: no mail for them when their time comes.
    mail_bot.clock.advance(minutes=3)
    mail_bot.hotline.drills.run_due()
    mail_bot.drain()
    assert len(mailbox.messages()) == 1


def test_a_question_still_not_delivered_after_3_minutes_goes_by_mail(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    person = member(mail_bot.config, UWAJIMA, "staff")
    lw.fail[person.key] = [500] * 40
    fire(mail_bot)
    mail_bot.clock.advance(minutes=2)
    mail_bot.hotline.drills.run_due()
    mail_bot.drain()
    assert mailbox.messages() == []
    mail_bot.clock.advance(minutes=1)
    mail_bot.hotline.drills.run_due()
    mail_bot.drain()
    assert recipients(mailbox.messages()) == [person.email]
    assert "LINE WORKSで質問が3分たっても届いていません（再送中です）。" in mailbox.messages()[0].text


def test_a_question_that_arrives_after_its_mail_says_so_or_is_not_sent_once_answered(
    mail_bot: Bot, lw: FakeLineWorks, mailbox: Mailbox
) -> None:
    late, answered = (
        member(mail_bot.config, UWAJIMA, "staff"),
        member(mail_bot.config, UWAJIMA, "disaster_head"),
    )
    lw.fail[late.key] = [500] * 40
    lw.fail[answered.key] = [500] * 40
    fire(mail_bot)
    mail_bot.clock.advance(minutes=3)
    mail_bot.hotline.drills.run_due()
    mail_bot.drain()
    assert sorted(recipients(mailbox.messages())) == sorted([late.email, answered.email])
    # One of them answers from the mail's link, in a browser, while LINE WORKS is still down.
    mail = next(m for m in mailbox.messages() if answered.email in m.rcpt_tos)
    url = re.search(r"https?://\S+(/m/\S+)", mail.text)
    assert url
    page = mail_bot.client.get(url.group(1))
    choice = next(iter(choices(page.text).values()))
    assert "回答を記録しました" in mail_bot.client.post(url.group(1), data={"answer": choice}).text

    lw.fail[late.key] = []  # LINE WORKS is back
    lw.fail[answered.key] = []
    mail_bot.clock.advance(minutes=2)
    mail_bot.drain()
    (question,) = lw.texts_to(late.key)
    assert question.startswith(
        "【遅れて届きました】LINE WORKSで届けられなかったため、09:03にメールで送りました。\n"
    )
    assert "11月 参集訓練" in question
    assert lw.texts_to(answered.key) == []  # answered from the mail: the question is not needed
