"""`/metrics` as a monitoring person reads it: scraped in Prometheus' text format after real
traffic against the fake LINE WORKS, and asserted on the numbers one would alert on (429s,
messages waiting or given up, rejections at the door, silence from LINE WORKS)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from hotline.config.counterparts import linked_municipalities
from hotline.domain.drills import Targets
from hotline.outbound.client import LineWorksError
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from tests.support.bot import TOKEN, Bot, message_event
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import REPORT, UWAJIMA, member, members, room
from tests.support.web import add_account, login


class Scrape:
    """One scrape of /metrics with the bearer token, parsed with prometheus_client's parser."""

    def __init__(self, bot: Bot, client: FlaskClient | None = None) -> None:
        client = client or bot.client
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def __call__(self, name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        assert key in self.samples, f"no sample {name}{labels}"
        return self.samples[key]


def first_report(bot: Bot) -> None:
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT, room(bot.config, "group-team1"))
    bot.drain()


def test_a_429_counts_once_for_send_channel_and_the_report_waits_in_the_outbox(
    bot: Bot, lw: FakeLineWorks
) -> None:
    lw.fail[room(bot.config, "hq")] = [429]  # with rateLimit-reset: 1
    first_report(bot)
    metrics = Scrape(bot)
    assert metrics("hotline_lineworks_calls_total", operation="send_channel", code="429") == 1
    assert metrics("hotline_send_attempts_total", operation="send_channel", outcome="retry") == 1
    assert metrics("hotline_send_attempts_total", operation="send_channel", outcome="failed") == 0
    assert metrics("hotline_outbox_messages", status="pending", priority="report") == 1
    assert metrics("hotline_outbox_messages", status="sent", priority="report") == 2

    bot.clock.advance(seconds=2)  # past the reset: the retry goes
    bot.drain()
    metrics = Scrape(bot)
    assert metrics("hotline_outbox_messages", status="pending", priority="report") == 0
    assert metrics("hotline_outbox_messages", status="sent", priority="report") == 3
    assert metrics("hotline_lineworks_calls_total", operation="send_channel", code="429") == 1
    assert metrics("hotline_lineworks_calls_total", operation="send_channel", code="201") >= 3


def test_a_404_is_a_failure_given_up_for_good(bot: Bot, lw: FakeLineWorks) -> None:
    lw.fail[room(bot.config, "municipality-382035")] = [404]  # the bot was removed from the room
    first_report(bot)
    metrics = Scrape(bot)
    assert metrics("hotline_lineworks_calls_total", operation="send_channel", code="404") == 1
    assert metrics("hotline_send_attempts_total", operation="send_channel", outcome="failed") == 1
    assert metrics("hotline_send_attempts_total", operation="send_channel", outcome="retry") == 0
    assert metrics("hotline_outbox_messages", status="failed", priority="report") == 1
    assert metrics("hotline_outbox_messages", status="pending", priority="report") == 0


def test_metrics_need_the_api_token_or_a_login(bot: Bot, lw: FakeLineWorks) -> None:
    anonymous = bot.client.application.test_client()
    assert anonymous.get("/metrics").status_code == 401
    assert anonymous.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    with_token = anonymous.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert with_token.status_code == 200
    assert with_token.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert with_token.headers["Cache-Control"] == "no-store"
    assert "hotline_outbox_messages" in with_token.text
    add_account(bot, "etsuran-1", role="viewer")
    viewer = bot.client.application.test_client()
    assert login(viewer, username="etsuran-1").status_code == 302
    assert viewer.get("/metrics").status_code == 200


def test_openmetrics_is_served_when_the_scraper_asks_for_it(bot: Bot) -> None:
    response = bot.client.get(
        "/metrics",
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/openmetrics-text; version=1.0.0"},
    )
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_seconds_since_lineworks_last_answered(bot: Bot, lw: FakeLineWorks) -> None:
    since = "hotline_lineworks_seconds_since_success"
    assert Scrape(bot)(since) == 0
    bot.clock.advance(seconds=30)
    assert Scrape(bot)(since) == 30  # nothing sent yet: counted from the start
    first_report(bot)
    assert Scrape(bot)(since) == 0
    bot.clock.advance(minutes=5)
    hq = room(bot.config, "hq")
    lw.fail[hq] = [500]
    with pytest.raises(LineWorksError):
        bot.hotline.client.send_to_channel(hq, {"type": "text", "text": "x"})
    metrics = Scrape(bot)
    assert metrics(since) == 300  # an error answer is no success
    assert metrics("hotline_lineworks_calls_total", operation="send_channel", code="500") == 1


def test_rejections_at_the_door_by_reason(bot: Bot) -> None:
    event = message_event("uid-x", {"type": "text", "text": "第一報"})
    assert bot.post_event(event, secret="not-the-bot-secret").status_code == 401
    assert bot.post_event(event, secret="not-the-bot-secret").status_code == 401
    assert bot.post_event(b"not json").status_code == 200  # signed, kept as rejected
    metrics = Scrape(bot)
    assert metrics("hotline_callback_rejections_total", reason="signature") == 2
    assert metrics("hotline_callback_rejections_total", reason="body") == 1
    assert metrics("hotline_inbox_events", status="rejected") == 1


def test_token_renewals_count_the_first_token_and_the_renewal_after_a_401(
    bot: Bot, lw: FakeLineWorks
) -> None:
    first_report(bot)
    assert Scrape(bot)("hotline_lineworks_token_renewals_total", outcome="issued") == 1
    lw.fail[room(bot.config, "hq")] = [401]  # the token was revoked: renewed once, sent again
    bot.say(uid(member(bot.config, UWAJIMA)), "第二報 避難所を開設", room(bot.config, "group-team1"))
    bot.drain()
    metrics = Scrape(bot)
    assert metrics("hotline_lineworks_token_renewals_total", outcome="issued") == 2
    assert metrics("hotline_lineworks_token_renewals_total", outcome="failed") == 0
    assert metrics("hotline_lineworks_calls_total", operation="send_channel", code="401") == 1
    assert metrics("hotline_send_attempts_total", operation="send_channel", outcome="retry") == 0


def test_reminders_enqueued_then_cancelled_by_acknowledgements(bot: Bot, lw: FakeLineWorks) -> None:
    first_report(bot)
    bot.clock.advance(minutes=20)  # past both the town reminders and the HQ escalation
    bot.hotline.reminders.run_due()  # enqueued, not sent yet
    others = [c for c in linked_municipalities(bot.config, UWAJIMA) if c != UWAJIMA]
    chased = sum(len(members(bot.config, code)) for code in others)
    metrics = Scrape(bot)
    assert metrics("hotline_reminders_total", kind="municipality", event="enqueued") == chased
    assert metrics("hotline_reminders_total", kind="escalation", event="enqueued") == 1
    assert metrics("hotline_outbox_messages", status="pending", priority="reminder") == chased + 1
    for code in others:  # every town acknowledges before the reminders go
        bot.say(uid(member(bot.config, code)), "確認しました", room(bot.config, "group-team1"))
    bot.drain()
    metrics = Scrape(bot)
    assert metrics("hotline_reminders_total", kind="municipality", event="cancelled") == chased
    assert metrics("hotline_reminders_total", kind="escalation", event="cancelled") == 1
    assert metrics("hotline_outbox_messages", status="cancelled", priority="reminder") == chased + 1
    assert metrics("hotline_send_attempts_total", operation="send_user", outcome="cancelled") == chased


def test_drill_runs_questions_and_answers(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    at = bot.clock.now() + timedelta(hours=1)
    drills.create(title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=at)
    bot.clock.current = at
    drills.run_due()
    bot.drain()
    targets = members(bot.config, UWAJIMA)
    person = targets[0]
    question = next(c for kind, t, c in lw.sent if kind == "user" and t == person.key)
    tap = question["actions"][0]
    bot.post_event(
        message_event(uid(person), {"type": "text", "text": tap["label"], "postback": tap["postback"]})
    )
    bot.drain()
    # A one-off drill whose moment passed while the server was down is missed, not fired.
    drills.create(title="夜間訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", at=at)
    bot.clock.advance(minutes=30)
    drills.run_due()
    metrics = Scrape(bot)
    assert metrics("hotline_drill_runs_total", outcome="fired") == 1
    assert metrics("hotline_drill_runs_total", outcome="missed") == 1
    assert metrics("hotline_drill_questions_total") == len(targets)
    assert metrics("hotline_drill_answers_total", type="answer") == 1


def test_an_unreadable_database_shows_as_down_and_the_counters_still_answer(
    bot: Bot, lw: FakeLineWorks
) -> None:
    first_report(bot)
    assert Scrape(bot)("hotline_database_up") == 1
    with sqlite3.connect(bot.hotline.settings.database) as other:
        other.execute("DROP TABLE inbox")
    metrics = Scrape(bot)
    assert metrics("hotline_database_up") == 0
    assert metrics("hotline_lineworks_token_renewals_total", outcome="issued") == 1
    assert not any(name == "hotline_outbox_messages" for name, _ in metrics.samples)


def test_each_hotline_counts_only_its_own_calls(bot: Bot, lw: FakeLineWorks) -> None:
    """Two bots in one process (as in these tests) keep separate registries."""
    other = Hotline(bot.hotline.settings, bot.config, clock=bot.clock)  # the same database
    first_report(bot)
    mine, theirs = Scrape(bot), Scrape(bot, create_app(other).test_client())
    assert mine("hotline_send_attempts_total", operation="send_channel", outcome="sent") >= 3
    assert theirs("hotline_send_attempts_total", operation="send_channel", outcome="sent") == 0
    # The queues are read from the database, so both see the same rows.
    assert theirs("hotline_outbox_messages", status="sent", priority="report") == 3
    other.sender.shutdown()
