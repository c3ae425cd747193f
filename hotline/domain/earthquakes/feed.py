"""Whether HQ knows that JMA's feed is unreachable: told once after 10 minutes of failures,
told again once when it answers. The state is a row (`jma_feed`), so a restart during an
outage neither forgets it nor announces it twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from hotline import messages
from hotline.clock import Clock, iso, parse_iso
from hotline.config import Config
from hotline.domain.notices import to_hq_rooms
from hotline.storage import Storage

OUTAGE_AFTER = timedelta(minutes=10)


class FeedHealth:
    def __init__(
        self,
        storage: Storage,
        config: Callable[[], Config],
        clock: Clock,
        *,
        on_enqueue: Callable[[], None] = lambda: None,
    ) -> None:
        self.storage = storage
        self.config = config
        self.clock = clock
        self.on_enqueue = on_enqueue

    def failed(self, url: str, error: str) -> None:
        now = self.clock.now()
        state = self.storage.feed_state(url)
        since = state["failing_since"] if state is not None else None
        if since is None:
            self.storage.save_feed_state(url, failing_since=iso(now), last_error=error)
            return
        self.storage.save_feed_state(url, last_error=error)
        if now - parse_iso(since) >= OUTAGE_AFTER and not (state and state["outage_told"]):
            with self.storage.transaction():
                self._to_hq(f"jmafeed:down:{since}", messages.jma_feed_down(parse_iso(since)))
                self.storage.save_feed_state(url, outage_told=1)
            self.on_enqueue()

    def succeeded(self, url: str, last_modified: str | None = None) -> None:
        now = self.clock.now()
        state = self.storage.feed_state(url)
        fields: dict[str, object] = {"last_ok_at": iso(now), "failing_since": None, "outage_told": 0}
        if last_modified is not None:
            fields["last_modified"] = last_modified
        with self.storage.transaction():
            if state is not None and state["failing_since"] and state["outage_told"]:
                since = state["failing_since"]
                self._to_hq(f"jmafeed:back:{since}", messages.jma_feed_back(parse_iso(since), now))
            self.storage.save_feed_state(url, **fields)
        self.on_enqueue()

    def _to_hq(self, key: str, content: dict[str, object]) -> None:
        self.storage.enqueue(to_hq_rooms(self.config(), key, content), iso(self.clock.now()))
