"""Group commit at the door: callbacks arriving together are stored by one transaction, and each
is answered 200 only once the commit holding its own row has reached the disk.

Observed from outside hotline: a second SQLite connection sees the rows, and the database's
write-ahead log shows how many transactions were committed (tests/support/wal.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from hotline.demo.stack import wait_until
from tests.support.bot import BOT_ID, TOKEN, Bot, message_event, sign
from tests.support.wal import wal_commits

CALLBACKS = 8


def door_metrics(bot: Bot) -> tuple[float, float]:
    """(commits, callbacks stored) as /metrics shows them."""
    response = bot.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    values = {s.name: s.value for f in text_string_to_metric_families(response.text) for s in f.samples}
    return values["hotline_callback_commits_total"], values["hotline_callbacks_stored_total"]


def post(app: Flask, event: dict[str, Any], secret: str) -> int:
    body = json.dumps(event, ensure_ascii=False).encode()
    headers = {"X-WORKS-BotId": BOT_ID, "X-WORKS-Signature": sign(secret, body)}
    return app.test_client().post("/callback", data=body, headers=headers).status_code


def rows_with(database: Path, marker: str) -> int:
    with sqlite3.connect(database) as other:
        return int(
            other.execute("SELECT count(*) FROM inbox WHERE body LIKE ?", (f"%{marker}%",)).fetchone()[0]
        )


@pytest.fixture
def other_writer(bot: Bot) -> Iterator[sqlite3.Connection]:
    """Another process's connection to the bot's database, to hold its write lock."""
    other = sqlite3.connect(bot.hotline.settings.database, isolation_level=None, check_same_thread=False)
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


def test_callbacks_arriving_together_share_one_commit_and_each_200_waits_for_its_row(
    bot: Bot, other_writer: sqlite3.Connection
) -> None:
    database = bot.hotline.settings.database
    bot.hotline.storage.busy_timeout_ms = 30_000  # the request threads' connections wait out the lock
    secret = bot.hotline.settings.credentials.bot_secret
    app = bot.client.application
    salt, before = wal_commits(database)
    seen_at_200: dict[int, int] = {}  # callback -> its rows visible to another connection at its 200

    def noted(i: int) -> Any:
        def note(answer: Future[int]) -> None:
            seen_at_200[i] = rows_with(database, f"集合{i}番")

        return note

    other_writer.execute("BEGIN IMMEDIATE")  # another process is writing: no commit can happen
    with ThreadPoolExecutor(CALLBACKS) as pool:
        answers = []
        try:
            for i in range(CALLBACKS):
                event = message_event(f"u{i}", {"type": "text", "text": f"集合{i}番 了解"})
                answer = pool.submit(post, app, event, secret)
                answer.add_done_callback(noted(i))
                answers.append(answer)
            # Every callback has arrived and waits for the one commit to come.
            wait_until(
                lambda: bot.hotline.inbox_writer.queued() == CALLBACKS, 10, "all callbacks at the door"
            )
            assert not any(a.done() for a in answers)  # no 200 while nothing is committed
            assert rows_with(database, "集合") == 0
        finally:
            other_writer.execute("ROLLBACK")
        statuses = [a.result(timeout=30) for a in answers]
    assert statuses == [200] * CALLBACKS
    assert seen_at_200 == dict.fromkeys(range(CALLBACKS), 1)  # each row durable before its 200
    assert rows_with(database, "集合") == CALLBACKS
    salt_after, after = wal_commits(database)
    assert salt_after == salt
    assert after - before == 1  # one transaction, one fsync, for all eight
    assert door_metrics(bot) == (1, CALLBACKS)  # what monitoring sees on /metrics


def test_when_the_shared_commit_fails_every_callback_in_it_gets_503(
    bot: Bot, other_writer: sqlite3.Connection
) -> None:
    bot.hotline.storage.busy_timeout_ms = 50
    secret = bot.hotline.settings.credentials.bot_secret
    app = bot.client.application
    other_writer.execute("BEGIN EXCLUSIVE")  # locked for longer than the door waits
    with ThreadPoolExecutor(CALLBACKS) as pool:
        events = [message_event(f"u{i}", {"type": "text", "text": f"第一報 {i}"}) for i in range(CALLBACKS)]
        statuses = list(pool.map(lambda e: post(app, e, secret), events))
    assert statuses == [503] * CALLBACKS  # never a silent 200
    assert bot.hotline.counters["store_failed"] == CALLBACKS
    other_writer.execute("ROLLBACK")
    assert rows_with(bot.hotline.settings.database, "第一報") == 0
    assert post(app, events[0], secret) == 200
    assert bot.hotline.storage.inbox_counts() == {"new": 1}


def test_an_idle_door_commits_each_callback_at_once(bot: Bot) -> None:
    database = bot.hotline.settings.database
    _, before = wal_commits(database)
    for i in range(3):
        assert bot.say(f"u{i}", f"了解 {i}").status_code == 200
        assert rows_with(database, f"了解 {i}") == 1
    assert wal_commits(database)[1] - before == 3
    assert door_metrics(bot) == (3, 3)


def test_a_full_door_queue_answers_503_at_once_rather_than_queueing_without_end(
    bot: Bot, other_writer: sqlite3.Connection
) -> None:
    bot.hotline.storage.busy_timeout_ms = 30_000
    bot.hotline.inbox_writer.max_queue = 1
    secret = bot.hotline.settings.credentials.bot_secret
    app = bot.client.application
    first = message_event("u1", {"type": "text", "text": "第一報 一件目"})
    other_writer.execute("BEGIN IMMEDIATE")
    with ThreadPoolExecutor(1) as pool:
        try:
            waiting = pool.submit(post, app, first, secret)
            wait_until(lambda: bot.hotline.inbox_writer.queued() == 1, 10, "the first callback at the door")
            assert post(app, message_event("u2", {"type": "text", "text": "第一報 二件目"}), secret) == 503
        finally:
            other_writer.execute("ROLLBACK")
        assert waiting.result(timeout=30) == 200
    assert bot.hotline.counters["store_failed"] == 1
    assert rows_with(bot.hotline.settings.database, "第一報") == 1
