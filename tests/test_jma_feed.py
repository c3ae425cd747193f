"""The JMA feed over real HTTP on 127.0.0.1 (hotline.demo.jma_feed, serving the real telegrams
of tests/fixtures/jma): If-Modified-Since and 304, each telegram fetched once, 500 and
timeouts retried, HQ told once after 10 minutes unreachable and once when it is back, and
hostile XML refused and recorded without a single outbound request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from hotline.clock import FixedClock, iso
from hotline.config import Config
from hotline.config.settings import Credentials, Settings
from hotline.demo.jma_feed import JmaFeedServer
from hotline.domain.earthquakes import FeedHealth
from hotline.inbound.jma.poller import FeedPoller
from hotline.outbound.jma_feed import JmaFeedClient
from hotline.runtime.service import Hotline
from tests.support.bot import T0, TOKEN

SAIJO_QUAKE = "32-35_06_04_100915_VXSE53.xml"
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Report [
 <!ENTITY a "lol">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
 <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
 <!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">
]>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"><Control><Title>&h;</Title></Control></Report>"""


def external_entity(url: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE Report [<!ENTITY x SYSTEM "{url}">]>'
        '<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"><Control><Title>&x;</Title></Control></Report>'
    ).encode()


@pytest.fixture
def feed() -> Iterator[JmaFeedServer]:
    server = JmaFeedServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hotline(tmp_path: Path, credentials: Credentials, sample_config: Config) -> Iterator[Hotline]:
    settings = Settings(credentials=credentials, api_token=TOKEN, database=tmp_path / "feed.sqlite3")
    running = Hotline(settings, sample_config, clock=FixedClock(T0))
    yield running
    running.sender.shutdown()


def poller(hotline: Hotline, feed: JmaFeedServer, *, timeout: float = 5.0) -> FeedPoller:
    return FeedPoller(
        feed.url,
        hotline.storage,
        JmaFeedClient(timeout=(timeout, timeout), retries=2, sleep=lambda _: None),
        hotline.earthquakes,
        FeedHealth(hotline.storage, hotline.config, hotline.clock),
        hotline.clock,
    )


def hq_notices(hotline: Hotline) -> list[str]:
    rows = hotline.storage.due_messages(iso(hotline.clock.now() + timedelta(days=1)), 1000)
    return [
        r.content["text"]
        for r in rows
        if r.purpose == "notice" and "防災情報XML" in r.content.get("text", "")
    ]


def test_the_feed_is_read_with_if_modified_since_and_each_telegram_fetched_once(
    hotline: Hotline, feed: JmaFeedServer
) -> None:
    jma = poller(hotline, feed)
    telegram_url = feed.publish(SAIJO_QUAKE)
    (outcome,) = jma.run_once()
    assert outcome.status == "done"
    assert jma.run_once() == []  # unchanged: 304
    feed.publish("32-35_01_01_100806_VXSE51.xml")  # a new entry: the feed changed
    jma.run_once()
    jma.run_once()
    feeds = [since for path, since in feed.requests if path == "/eqvol.xml"]
    assert feeds[0] is None and all(feeds[1:])  # every later request carries If-Modified-Since
    assert feed.count(telegram_url.removeprefix(feed.base)) == 1
    assert [r["status"] for r in hotline.storage.telegrams()] == ["done", "done"]


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_an_unreachable_feed_is_retried_and_hq_told_once_after_ten_minutes_and_once_when_back(
    hotline: Hotline, feed: JmaFeedServer, fault: str
) -> None:
    jma = poller(hotline, feed, timeout=0.2)
    if fault == "500":
        feed.status = 500
    else:
        feed.delay = 0.6
    polls = (0, 5, 9, 10, 11, 15)  # minutes after the first failure
    for minute in polls:
        hotline.clock.current = T0 + timedelta(minutes=minute)  # type: ignore[attr-defined]
        jma.run_once()
        assert hq_notices(hotline) == [] or minute >= 10  # not before ten minutes
    assert feed.count("/eqvol.xml") == len(polls) * 3  # each poll tried three times
    down = hq_notices(hotline)
    assert len(down) == len([r for r in hotline.config().rooms if r.link == "hq"])  # once per HQ room
    assert "03:12から接続できません" in down[0]
    feed.status, feed.delay = 200, 0.0
    feed.publish(SAIJO_QUAKE)
    for minute in (16, 17):
        hotline.clock.current = T0 + timedelta(minutes=minute)  # type: ignore[attr-defined]
        jma.run_once()
    back = [t for t in hq_notices(hotline) if "回復しました" in t]
    assert len(back) == len(down) and "03:12〜03:28 接続不可" in back[0]
    assert [r["status"] for r in hotline.storage.telegrams()] == ["done"]  # and the quake came in


def test_billion_laughs_and_external_entity_telegrams_are_refused_and_recorded(
    hotline: Hotline, feed: JmaFeedServer
) -> None:
    jma = poller(hotline, feed)
    feed.publish("", name="laughs_VXSE53.xml", body=BILLION_LAUGHS)
    secret = feed.publish(SAIJO_QUAKE)  # what an external entity would try to read
    spy = secret.removeprefix(feed.base)
    feed.publish("", name="xxe_VXSE53.xml", body=external_entity(secret + "?leak"))
    jma.run_once()
    refused = [r for r in hotline.storage.telegrams() if r["status"] == "refused"]
    assert len(refused) == 2 and all("refused" in r["reason"] for r in refused)
    assert feed.count(spy + "?leak") == 0 and feed.count(spy) == 1  # nothing fetched for the entity
    # the real one published between them was acted on as usual
    assert sorted(r["status"] for r in hotline.storage.telegrams()) == ["done", "refused", "refused"]
