"""Real read receipts where LINE WORKS offers them: a board (掲示板).

Talk messages have no read status in the bot API (lineworks-api.md §9), but board posts do.
When `[board] board_id` is configured, every first report is also posted there as a
must-read post (an outbox row enqueued by `reports.relay`, posted by `create_post`), and
`poll_readers` fetches who has read each recent post, within the board API's 60 calls/min
budget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from hotline.clock import Clock, iso
from hotline.outbound.client import LineWorksClient, LineWorksError
from hotline.outbound.instructions import BoardPost
from hotline.storage import OutboxRow, Storage

log = logging.getLogger(__name__)

POLL_WINDOW = timedelta(hours=24)  # posts older than this are not polled any more
POSTS_PER_RUN = 20  # with one run a minute, a third of the 60/min board budget


def poll_readers(
    storage: Storage,
    client: LineWorksClient,
    clock: Clock,
    limit: int = POSTS_PER_RUN,
    resolve: Callable[[str], object] = lambda user_id: None,
) -> int:
    """Refresh the readers of the least recently polled recent posts; returns posts polled.
    `resolve` maps a userId not seen before to a member (through the cached users API), so
    that readers known only by e-mail in the configuration are recognised."""
    polled = 0
    for post in storage.board_posts_to_poll(iso(clock.now() - POLL_WINDOW), limit):
        try:
            readers = client.board_readers(post["board_id"], post["post_id"])
        except LineWorksError as exc:
            log.warning("board readers of post %s not fetched: %s", post["post_id"], exc)
            if exc.status == 429:
                break  # the budget is spent: the next run continues
            continue
        for user_id, _ in readers:
            if storage.identity(user_id) is None:
                try:
                    resolve(user_id)
                except Exception:  # an unresolved reader only shows as unknown
                    log.warning("reader %s not resolved", user_id)
        with storage.transaction():
            storage.save_board_readers(post["report_id"], readers, iso(clock.now()))
        polled += 1
    return polled


def create_post(
    storage: Storage, client: LineWorksClient, clock: Clock, row: OutboxRow, post: BoardPost
) -> None:
    """The outbox row of a first report's board post: create the must-read post and keep its
    id, so that its readers can be polled."""
    if row.report_id is None:
        raise LineWorksError("board post without a report", retryable=False)
    post_id = client.create_board_post(post.board_id, post.title, post.body, post.must_read_until)
    storage.save_board_post(row.report_id, post.board_id, post_id, iso(clock.now()))
