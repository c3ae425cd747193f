"""An HQ instruction's page stays current while it is open, in real headless Chromium against a
live stack: HQ sends 【指示】 in its room, opens the instruction's page, and sees the town's
answer arrive and the town turn 確認済 without reloading (static/instructions.js)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from hotline.config import Config
from hotline.demo.stack import LiveStack, wait_until
from tests.support.browser import logged_in_page
from tests.support.sample import UWAJIMA, member


@pytest.fixture
def live(tmp_path: Path, sample_config: Config) -> Iterator[LiveStack]:
    stack = LiveStack(sample_config, tmp_path / "instruction.sqlite3")
    yield stack
    stack.stop()


def test_the_open_instruction_page_shows_the_towns_answer_without_a_reload(
    live: LiveStack, browser: Browser, sample_config: Config
) -> None:
    hq_room = next(r.channel_id for r in sample_config.rooms if r.link == "hq")
    hq = sample_config.hq_members[0]
    said = live.say(hq, "【指示】宛先: 宇和島市\n避難所の開設状況を15時までに報告してください。", hq_room)
    assert said["status"] == 200
    storage = live.hotline.storage
    (instruction,) = wait_until(lambda: storage.instructions(), message="the instruction")
    town_room = next(r.channel_id for r in sample_config.rooms if r.key == "group-team1")
    wait_until(
        lambda: [d for d in storage.deliveries(instruction["id"]) if d["status"] == "sent"],
        message="the instruction in the towns' rooms",
    )

    page = logged_in_page(browser, live.url, storage, live.hotline.clock.now())
    page.goto(f"{live.url}/dashboard/instructions/{instruction['id']}")
    town = page.get_by_test_id(f"town-{UWAJIMA}")
    expect(town.get_by_test_id("state")).to_have_text("未確認")
    expect(page.get_by_test_id("no-answers")).to_be_visible()

    answer = "【回答】避難所3か所を開設済み <b>太字</b>"
    assert live.say(member(sample_config, UWAJIMA), answer, town_room)["status"] == 200

    # the open page, polling its JSON, redraws the town and the answers
    expect(town.get_by_test_id("state")).to_have_text("確認済")
    expect(page.get_by_test_id("answers")).to_contain_text("避難所3か所を開設済み <b>太字</b>")  # text
    expect(page.get_by_test_id("instruction-count")).to_have_text("1/1市町が確認済")
    expect(page.get_by_test_id("live-status")).to_have_text("自動更新中")


def test_the_forms_send_button_is_disabled_once_pressed(live: LiveStack, browser: Browser) -> None:
    """A second press has nothing to send: the button says 送信中… and cannot be pressed (the
    server sends a form once anyway; the form's one-time id)."""
    storage = live.hotline.storage
    page = logged_in_page(browser, live.url, storage, live.hotline.clock.now(), role="coordinator")
    page.goto(f"{live.url}/dashboard/instructions/new")
    page.get_by_test_id("text-input").fill("避難所の開設状況を報告してください。")
    # hold the page here (the submit is still seen by the page's own script) to look at the button
    page.evaluate("document.addEventListener('submit', function (e) { e.preventDefault(); }, true)")
    button = page.get_by_test_id("send-button")
    button.click()
    expect(button).to_be_disabled()
    expect(button).to_have_text("送信中…")
    assert storage.instructions() == []
