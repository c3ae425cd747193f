"""One turn of the feed poller: fetch the feed (If-Modified-Since), store every new VXSE51,
VXSE53 and VTSE41 telegram as a row (each URL fetched once), then act on what is stored.

The runtime's scheduler calls `FeedPoller.run_once` every HOTLINE_JMA_POLL_SECONDS; tests call
it directly with a fixed clock.
"""

from __future__ import annotations

import logging

from hotline.clock import Clock, iso
from hotline.domain.earthquakes import Earthquakes, FeedHealth, Outcome
from hotline.inbound.jma.intake import process_pending
from hotline.inbound.jma.parser import TelegramError, parse_feed
from hotline.outbound.jma_feed import FeedError, JmaFeedClient
from hotline.storage import Storage

log = logging.getLogger(__name__)


class FeedPoller:
    def __init__(
        self,
        url: str,
        storage: Storage,
        client: JmaFeedClient,
        earthquakes: Earthquakes,
        health: FeedHealth,
        clock: Clock,
    ) -> None:
        self.url = url
        self.storage = storage
        self.client = client
        self.earthquakes = earthquakes
        self.health = health
        self.clock = clock

    def fetch(self) -> int:
        """Store the feed's new telegrams; returns how many. Failures are told to `health`."""
        state = self.storage.feed_state(self.url)
        try:
            fetched = self.client.feed(self.url, state["last_modified"] if state is not None else None)
            if fetched is None:  # 304: nothing new
                self.health.succeeded(self.url)
                return 0
            entries = parse_feed(fetched.body)
            stored = 0
            for entry in entries:
                if self.storage.has_telegram(entry.url):
                    continue
                body = self.client.telegram(entry.url)
                if self.storage.store_telegram(
                    entry.url, entry.title, entry.updated, body, iso(self.clock.now())
                ):
                    stored += 1
        except (FeedError, TelegramError) as exc:
            log.warning("JMA feed %s: %s", self.url, exc)
            self.health.failed(self.url, str(exc))
            return 0
        # Last-Modified is kept only once every entry is stored: a failure half-way re-reads it.
        self.health.succeeded(self.url, fetched.last_modified)
        return stored

    def run_once(self) -> list[Outcome]:
        self.fetch()
        return process_pending(self.storage, self.earthquakes, self.clock)
