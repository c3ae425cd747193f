"""Real read receipts from a board: each first report is posted there as a must-read post,
and its readers list, polled through the emulator, shows who has read it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from hotline.config import Config
from hotline.demo import demo_user_id
from hotline.demo.stack import LiveStack, wait_until


@pytest.fixture
def live(tmp_path: Path, sample_config: Config) -> Iterator[LiveStack]:
    assert sample_config.board_id, "the sample configures a board"
    stack = LiveStack(sample_config, tmp_path / "board.sqlite3")
    yield stack
    stack.stop()


def test_first_report_is_posted_to_the_board_and_readers_are_polled(
    live: LiveStack, sample_config: Config
) -> None:
    group = next(r for r in sample_config.rooms if r.key == "group-team1")
    live.say(sample_config.municipalities["382035"].members[0], "第一報 市内で断水", group.channel_id)
    posts = wait_until(lambda: live.state()["posts"], message="the board post")
    assert posts[0]["boardId"] == sample_config.board_id
    assert posts[0]["title"].startswith("【第一報】宇和島市")

    reader = sample_config.municipalities["384844"].members[0]  # no user_id: resolved by the poll
    requests.post(
        f"{live.base}/_emulator/boards/read",
        json={"boardId": posts[0]["boardId"], "postId": posts[0]["postId"], "userId": demo_user_id(reader)},
        timeout=10,
    ).raise_for_status()
    hq_head = sample_config.hq_members[0]
    requests.post(
        f"{live.base}/_emulator/boards/read",
        json={"boardId": posts[0]["boardId"], "postId": posts[0]["postId"], "userId": demo_user_id(hq_head)},
        timeout=10,
    ).raise_for_status()
    # The emulator shows the post as it answers 201; hotline stores its id a moment later.
    wait_until(lambda: live.hotline.poll_board() == 1, message="the readers poll")

    matrix = live.api("/api/reports/1/acks")
    towns = {t["code"]: t for t in matrix["municipalities"]}
    assert matrix["board"]["polledAt"]
    assert towns["384844"]["members"][0]["read"] is True
    assert towns["384844"]["members"][1]["read"] is False
    assert matrix["hq"]["members"][0]["read"] is True
    assert matrix["summary"]["membersRead"] == 2


def test_without_a_board_everything_else_works(tmp_path: Path, sample_config: Config) -> None:
    stack = LiveStack(replace(sample_config, board_id=""), tmp_path / "noboard.sqlite3")
    try:
        group = next(r for r in sample_config.rooms if r.key == "group-team1")
        stack.say(sample_config.municipalities["382035"].members[0], "第一報 掲示板なし", group.channel_id)
        wait_until(
            lambda: (
                sum(1 for s in stack.sent() if "掲示板なし" in (s["content"].get("contentText") or "")) == 3
            ),
            message="the relay",
        )
        assert stack.state()["posts"] == []
        assert stack.hotline.poll_board() == 0
        assert stack.api("/api/reports/1/acks")["board"] is None
    finally:
        stack.stop()


def test_readers_are_polled_page_by_page_with_no_undocumented_parameter(
    live: LiveStack, sample_config: Config
) -> None:
    # The emulator refuses what the readers reference does not document (a `count`, say) and
    # pages by nextCursor: 40 readers an answer makes the poll follow the cursor twice (within
    # the board API's budget of 60 calls a minute).
    live.faults(readers_page_size=40)
    group = next(r for r in sample_config.rooms if r.key == "group-team1")
    live.say(sample_config.municipalities["382035"].members[0], "第一報 停電", group.channel_id)
    post = wait_until(lambda: live.state()["posts"], message="the board post")[0]
    last = sample_config.municipalities["384844"].members[1]  # far down the users: a later page
    requests.post(
        f"{live.base}/_emulator/boards/read",
        json={"boardId": post["boardId"], "postId": post["postId"], "userId": demo_user_id(last)},
        timeout=10,
    ).raise_for_status()
    # polled once hotline has stored the post's id (the emulator may answer a moment before)
    wait_until(lambda: live.hotline.poll_board() == 1, message="the readers poll")
    assert live.state()["calls"]["boards"] >= 4  # the post, then three pages of readers
    towns = {t["code"]: t for t in live.api("/api/reports/1/acks")["municipalities"]}
    assert [m["read"] for m in towns["384844"]["members"]] == [False, True, False, False]
