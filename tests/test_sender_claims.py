"""The sender claims a whole pass of rows in one transaction, each claim durable before its
send: one fsync per pass, not one per message (observed in the write-ahead log)."""

from __future__ import annotations

import threading

from hotline.clock import iso
from hotline.storage import PRIORITY_DRILL, NewMessage
from tests.support.bot import Bot
from tests.support.fake_lineworks import FakeLineWorks
from tests.support.wal import wal_commits

ROOMS = 20


def test_a_pass_of_the_sender_claims_its_rows_in_one_commit_before_sending_any(
    bot: Bot, lw: FakeLineWorks
) -> None:
    storage = bot.hotline.storage
    database = bot.hotline.settings.database
    rows = [
        NewMessage(
            f"notice:{i}",
            "notice",
            PRIORITY_DRILL,
            {"type": "text", "text": f"お知らせ {i}"},
            channel_id=f"room-{i}",
        )
        for i in range(ROOMS)
    ]
    with storage.transaction():
        storage.enqueue(rows, iso(bot.clock.now()))
    lw.gate = threading.Barrier(ROOMS + 1)  # every send waits here until the test lets it go
    salt, before = wal_commits(database)
    try:
        assert bot.hotline.sender.run_once() == ROOMS
        # All twenty are held at LINE WORKS' door: nothing has been sent or marked yet.
        assert storage.outbox_counts() == {"sending": ROOMS}
        assert wal_commits(database) == (salt, before + 1)  # the twenty claims: one commit
    except BaseException:
        lw.gate.abort()  # free the senders held at the gate, so that the test can end
        raise
    lw.gate.wait(timeout=10)
    assert bot.hotline.sender.idle.wait(10)
    assert storage.outbox_counts() == {"sent": ROOMS}
    assert len(lw.to_channels()) == ROOMS
