"""A fallback mail's link on a phone, in real headless Chromium against a live stack: the person
opens it at 375 px (nothing scrolls sideways, the one button is big), taps 「確認しました」 and
sees the confirmation; HQ's incident page, open on another phone, turns the person's row to
確認（メール） without a reload, beside the mail that was sent (over SMTP to a local server); an
answer given from a drill question's mail appears on the open drill page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from hotline.config import Config
from hotline.demo.stack import LiveStack, wait_until
from hotline.domain.drills import Targets
from hotline.domain.links import LinkSigner
from lineworks_emulator.mailbox import Mailbox
from tests.support.browser import logged_in_page
from tests.support.mail import enqueue_mails, transport_to
from tests.support.sample import REPORT, UWAJIMA, member, members

PHONE = {"width": 375, "height": 812}
IMABARI = "382027"


@pytest.fixture
def live(tmp_path: Path, sample_config: Config) -> Iterator[LiveStack]:
    stack = LiveStack(sample_config, tmp_path / "mail-link.sqlite3")
    box = Mailbox()
    box.start()
    stack.hotline.transports["mail"] = transport_to(box)
    yield stack
    stack.stop()
    box.stop()


def test_a_person_acknowledges_from_the_mail_on_a_phone_and_hq_sees_it_by_mail(
    live: LiveStack, browser: Browser, sample_config: Config
) -> None:
    group = next(r.channel_id for r in sample_config.rooms if r.key == "group-team1")
    assert live.say(member(sample_config, UWAJIMA), REPORT + " <b>太字</b>", group)["status"] == 200
    storage = live.hotline.storage
    report = wait_until(lambda: storage.report(1), message="the report")
    imabari = member(sample_config, IMABARI)
    enqueue_mails(storage, live.hotline.clock.now(), [imabari], report_id=report["id"])
    wait_until(lambda: [r for r in storage.report_mails([1]) if r["status"] == "sent"], message="the mail")

    hq = logged_in_page(browser, live.url, storage, live.hotline.clock.now(), viewport=PHONE)
    hq.goto(f"{live.url}/dashboard/incidents/1")
    row = hq.get_by_test_id(f"member-{imabari.key}")
    expect(row.get_by_test_id("mail-cell")).to_contain_text("送信済")
    expect(row.get_by_test_id("ack-cell")).to_have_text("未確認")

    url = LinkSigner(live.hotline.settings.secret_key, live.url).url(
        "ack", 1, imabari.key, live.hotline.clock.now()
    )
    phone = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport=PHONE).new_page()
    phone.set_default_timeout(10_000)
    phone.goto(url)
    expect(phone.get_by_test_id("report-title")).to_have_text("宇和島市の第一報")
    expect(phone.get_by_test_id("report-text")).to_contain_text("<b>太字</b>")  # text, not markup
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    button = phone.get_by_test_id("ack-button")
    box = button.bounding_box()
    assert box is not None and box["height"] >= 48 and box["width"] >= 300  # a thumb's target
    assert storage.acks(1) == []  # opening changed nothing

    button.click()
    expect(phone.get_by_test_id("result")).to_contain_text("確認を記録しました")
    expect(phone.get_by_test_id("acked")).to_contain_text("メールから")
    assert [(a["member_key"], a["via"]) for a in storage.acks(1)] == [(imabari.key, "mail")]

    # HQ's page, polling, rebuilds the matrix (static/dashboard.js) with the mail column kept
    expect(row.get_by_test_id("ack-cell")).to_contain_text("確認（メール）")
    expect(row.get_by_test_id("mail-cell")).to_contain_text("送信済")
    expect(hq.get_by_test_id(f"overview-{IMABARI}")).to_contain_text("確認（メール）")


def test_an_answer_from_the_mail_appears_on_the_open_drill_page(
    live: LiveStack, browser: Browser, sample_config: Config
) -> None:
    drills = live.hotline.drills
    now = live.hotline.clock.now()
    towns = Targets(municipalities=(UWAJIMA,))
    drill_id = drills.create(title="メール訓練", targets=towns, created_by="t", at=now)
    (run_id,) = drills.run_due()
    person = members(sample_config)[0]
    enqueue_mails(live.hotline.storage, now, [person], run_id=run_id)
    wait_until(lambda: live.hotline.storage.run_mails(run_id)[0]["status"] == "sent", message="the mail")

    hq = logged_in_page(browser, live.url, live.hotline.storage, now, viewport=PHONE)
    hq.goto(f"{live.url}/dashboard/drills/{drill_id}")
    expect(hq.get_by_test_id("mailed-person")).to_have_text(f"{person.name}（送信済）")
    expect(hq.get_by_test_id("by-mail-list")).to_have_count(0)

    phone = browser.new_context(locale="ja-JP", viewport=PHONE).new_page()
    phone.set_default_timeout(10_000)
    phone.goto(LinkSigner(live.hotline.settings.secret_key, live.url).url("drill", run_id, person.key, now))
    expect(phone.get_by_test_id("drill-title")).to_contain_text("【訓練】メール訓練")
    phone.get_by_test_id("choice").first.click()
    expect(phone.get_by_test_id("result")).to_contain_text("回答を記録しました")
    expect(phone.get_by_test_id("question")).to_contain_text("参集")

    # the drill page, polling, rebuilds its lists (static/drills.js)
    expect(hq.get_by_test_id("by-mail-person")).to_have_text(person.name)
    expect(hq.get_by_test_id("mailed-person")).to_have_text(f"{person.name}（送信済）")


def test_end_to_end_a_room_without_the_bot_a_mail_over_smtp_and_its_link_on_a_phone(
    tmp_path: Path, browser: Browser, sample_config: Config
) -> None:
    """No shortcut: the bot is out of the supporters' group room, so the relay fails for good,
    hotline's own SMTP transport mails 今治市's deputy mayor, and the link in that very mail,
    opened on a phone, records the acknowledgement HQ then sees."""
    live = LiveStack(sample_config, tmp_path / "e2e.sqlite3", with_mail=True)
    try:
        group = next(r.channel_id for r in sample_config.rooms if r.key == "group-team1")
        live.faults(remove_bot_from=[group])
        assert live.say(member(sample_config, UWAJIMA), REPORT, group)["status"] == 200
        imabari = member(sample_config, IMABARI)
        mail = wait_until(
            lambda: next((m for m in live.mailbox.messages() if imabari.email in m.rcpt_tos), None),
            message="the fallback mail to 今治市's deputy mayor",
        )
        assert mail.subject.startswith("【メール代替】宇和島市の第一報")
        assert "ボットがこのトークルームから外されています" in mail.text
        found = re.search(r"(http://127\.0\.0\.1:\d+/m/\S+)", mail.text)
        assert found and found.group(1).startswith(live.url)

        phone = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport=PHONE).new_page()
        phone.set_default_timeout(10_000)
        phone.goto(found.group(1))
        expect(phone.get_by_test_id("report-title")).to_have_text("宇和島市の第一報")
        phone.get_by_test_id("ack-button").click()
        expect(phone.get_by_test_id("result")).to_contain_text("確認を記録しました")
        acks = live.hotline.storage.acks(1)
        assert [(a["member_key"], a["municipality_code"], a["via"]) for a in acks] == [
            (imabari.key, IMABARI, "mail")
        ]
    finally:
        live.stop()
