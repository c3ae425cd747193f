"""Replayed callbacks: LINE WORKS sends no event id and never re-sends a callback, so a signed
body that comes again is a replay. It is kept (nothing lost) but never acted on twice, and an
event issued long before it arrived is refused and recorded."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from hotline.clock import iso
from tests.support.bot import TOKEN, Bot, message_event
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import REPORT, UWAJIMA, member, room


def inbox(bot: Bot) -> list[tuple[str, str | None]]:
    with bot.hotline.storage.transaction() as conn:
        return [(r["status"], r["reason"]) for r in conn.execute("SELECT * FROM inbox ORDER BY id")]


def report_event(bot: Bot, issued: Any) -> bytes:
    """The signed body of a first report, as LINE WORKS would have sent it at `issued`."""
    event = message_event(uid(member(bot.config, UWAJIMA)), {"type": "text", "text": REPORT})
    event["source"]["channelId"] = room(bot.config, "group-team1")
    return json.dumps({**event, "issuedTime": iso(issued)}, ensure_ascii=False).encode()


def relayed_copies(lw: FakeLineWorks) -> int:
    return sum(1 for kind, _, c in lw.sent if kind == "channel" and c.get("type") == "button_template")


def test_a_replayed_callback_makes_one_report_and_is_kept_as_a_duplicate(bot: Bot, lw: FakeLineWorks) -> None:
    body = report_event(bot, bot.clock.now())
    assert bot.post_event(body).status_code == 200
    bot.drain()
    bot.clock.advance(minutes=4)  # captured, and sent again four minutes later
    assert bot.post_event(body).status_code == 200
    bot.drain()
    assert relayed_copies(lw) == 3  # one report, to its three rooms, once
    incidents = bot.client.get("/api/incidents", headers={"Authorization": f"Bearer {TOKEN}"})
    assert len(incidents.get_json()["incidents"]) == 1
    (first, second) = inbox(bot)
    assert first == ("done", "report 1")
    assert second[0] == "duplicate" and second[1] is not None and "event 1" in second[1]


def test_the_same_words_sent_again_by_a_person_are_a_new_report(bot: Bot, lw: FakeLineWorks) -> None:
    # Not a replay: LINE WORKS stamps each event with its own issuedTime (milliseconds).
    bot.post_event(report_event(bot, bot.clock.now()))
    bot.post_event(report_event(bot, bot.clock.now() + timedelta(milliseconds=1)))
    bot.drain()
    assert [status for status, _ in inbox(bot)] == ["done", "done"]


@pytest.mark.parametrize(("minutes", "refused"), [(9, False), (11, True)])
def test_an_event_issued_long_before_its_arrival_is_refused_and_recorded(
    bot: Bot, lw: FakeLineWorks, minutes: int, refused: bool
) -> None:
    bot.post_event(report_event(bot, bot.clock.now() - timedelta(minutes=minutes)))
    bot.drain()
    ((status, reason),) = inbox(bot)
    if refused:
        assert (status, reason) == ("rejected", "issuedTime too old: not processed")
        (refusal,) = bot.hotline.storage.refusals("stale_event")
        assert refusal["user_id"] == uid(member(bot.config, UWAJIMA))
        assert "11 min before its arrival" in refusal["detail"]
        assert relayed_copies(lw) == 0
    else:
        assert status == "done" and relayed_copies(lw) == 3


def test_a_replay_after_the_window_is_refused_by_its_age(bot: Bot, lw: FakeLineWorks) -> None:
    body = report_event(bot, bot.clock.now())
    bot.post_event(body)
    bot.drain()
    bot.clock.advance(minutes=15)  # the hash window has passed; the issuedTime gives it away
    bot.post_event(body)
    bot.drain()
    assert [status for status, _ in inbox(bot)] == ["done", "rejected"]
    assert relayed_copies(lw) == 3
