"""A local stand-in for JMA's feed on 127.0.0.1: the demo's, the tests' and the benchmarks'.

It serves an Atom feed (`/eqvol.xml`, with Last-Modified and 304 for If-Modified-Since) and
the telegrams it links (`/data/<name>`). Nothing is in it until someone publishes one of the
real telegrams in tests/fixtures/jma (出典: 気象庁): from its page (`/`, a button per telegram),
from its JSON control (`POST /_feed/publish {"file": ...}`) or from Python (`publish`).
Fault switches (`faults`) make the feed answer 500 or hang, for the resilience tests.

Like the rest of hotline.demo it runs from a checkout only; hotline itself just gets
HOTLINE_JMA_FEED_URL pointing here.
"""

from __future__ import annotations

import html
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "jma"
TITLES = {
    "VXSE51": "震度速報",
    "VXSE53": "震源・震度に関する情報",
    "VTSE41": "津波警報・注意報・予報a",
}


@dataclass
class Entry:
    name: str  # the file name in /data/
    title: str
    updated: datetime
    body: bytes


class JmaFeedServer:
    def __init__(self, fixtures: Path = FIXTURES) -> None:
        self.fixtures = fixtures
        self.entries: list[Entry] = []
        self.modified = datetime(2000, 1, 1, tzinfo=UTC)
        self.requests: list[tuple[str, str | None]] = []  # (path, If-Modified-Since)
        self.status = 200  # a fault switch: 500 makes the feed fail
        self.delay = 0.0  # a fault switch: seconds before answering (a timeout)
        self.data_delay = 0.0  # seconds before answering for a telegram (slow fetches, for kill -9 tests)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/eqvol.xml"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> str:
        self.thread = threading.Thread(target=self.server.serve_forever, name="jma-feed", daemon=True)
        self.thread.start()
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def samples(self) -> list[str]:
        return sorted(p.name for p in self.fixtures.glob("*.xml") if not p.name.endswith("eqvol.xml"))

    def publish(self, file: str, *, name: str | None = None, body: bytes | None = None) -> str:
        """Put a telegram in the feed: one of the fixtures by file name, or `body` under `name`.
        Returns the URL the feed links it at."""
        if body is None:
            path = self.fixtures / Path(file).name
            if not path.is_file():
                raise FileNotFoundError(file)
            body = path.read_bytes()
        kind = next((k for k in TITLES if k in (name or file)), "VXSE53")
        with self.lock:
            # Last-Modified has a resolution of one second: each publication moves it on by at
            # least one, so If-Modified-Since never hides a telegram published in the same second.
            self.modified = max(
                datetime.now(UTC).replace(microsecond=0), self.modified + timedelta(seconds=1)
            )
            stored = f"{len(self.entries) + 1:04d}_{name or Path(file).name}"
            self.entries.append(Entry(stored, TITLES[kind], self.modified, body))
        return f"{self.base}/data/{stored}"

    def feed(self) -> bytes:
        items = "".join(
            f"<entry><title>{html.escape(e.title)}</title><id>{self.base}/data/{e.name}</id>"
            f"<updated>{e.updated.isoformat()}</updated><author><name>気象庁</name></author>"
            f'<link type="application/xml" href="{self.base}/data/{html.escape(e.name)}"/>'
            '<content type="text"></content></entry>'
            for e in reversed(self.entries)
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<feed xmlns="http://www.w3.org/2005/Atom" lang="ja"><title>高頻度（地震火山）（デモ）</title>'
            f"<updated>{self.modified.isoformat()}</updated><id>{self.url}</id>{items}</feed>"
        ).encode()

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def _page(self) -> bytes:
        published = (
            "".join(f"<li>{html.escape(e.name)}</li>" for e in self.entries) or "<li>（まだありません）</li>"
        )
        buttons = "".join(
            '<form method="post" action="/_feed/publish" style="margin:.3em 0">'
            f'<input type="hidden" name="file" value="{html.escape(n)}">'
            f'<button type="submit">配信する</button> {html.escape(n)}</form>'
            for n in self.samples()
        )
        return (
            '<!doctype html><html lang="ja"><meta charset="utf-8"><title>気象庁フィード（デモ）</title>'
            '<body style="font-family:sans-serif;max-width:52em;margin:2em auto">'
            "<h1>気象庁 防災情報XML フィード（デモ）</h1>"
            "<p>実際の気象庁の電文（出典: 気象庁、tests/fixtures/jma）を、このフィードに載せます。"
            "hotline は次の取得でこれを受け取り、設定（counterparts.toml の [earthquake] / [tsunami]）"
            "に従って自動で通知・参集確認を始めます。西条市が震度1の電文（32-35_06_04）や、"
            "訓練の津波警報（32-39_12_02、【訓練】になります）をお試しください。</p>"
            f'<p>フィード: <a href="/eqvol.xml">{html.escape(self.url)}</a></p>'
            f"<h2>配信済み</h2><ul>{published}</ul><h2>電文を配信する</h2>{buttons}</body></html>"
        ).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path = urlparse(self.path).path
                since = self.headers.get("If-Modified-Since")
                with feed.lock:
                    feed.requests.append((path, since))
                if feed.delay:
                    time.sleep(feed.delay)
                if path == "/":
                    self._send(200, feed._page(), "text/html; charset=utf-8")
                    return
                if feed.status != 200:
                    self._send(feed.status, b"fault", "text/plain")
                    return
                if path == "/eqvol.xml":
                    modified = format_datetime(feed.modified, usegmt=True)
                    if since:
                        try:
                            if parsedate_to_datetime(since) >= feed.modified:
                                self._send(304, b"", "application/xml", {"Last-Modified": modified})
                                return
                        except (TypeError, ValueError):
                            pass
                    self._send(200, feed.feed(), "application/atom+xml", {"Last-Modified": modified})
                    return
                if feed.data_delay:
                    time.sleep(feed.data_delay)
                name = unquote(path.removeprefix("/data/"))
                entry = next((e for e in feed.entries if e.name == name), None)
                if entry is None:
                    self._send(404, b"not found", "text/plain")
                    return
                self._send(200, entry.body, "application/xml")

            def do_POST(self) -> None:
                if urlparse(self.path).path != "/_feed/publish":
                    self._send(404, b"not found", "text/plain")
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
                try:
                    file = parse_qs(raw)["file"][0] if form else str(json.loads(raw)["file"])
                    url = feed.publish(file)
                except (KeyError, ValueError, FileNotFoundError):
                    self._send(400, "電文が見つかりません".encode(), "text/plain; charset=utf-8")
                    return
                if form:
                    self._send(303, b"", "text/plain", {"Location": "/"})
                else:
                    self._send(200, json.dumps({"url": url}).encode(), "application/json")

        return Handler
