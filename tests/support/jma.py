"""JMA telegrams for tests: the real fixtures (出典: 気象庁, tests/fixtures/jma), a sample
configuration with other [earthquake] / [tsunami] tables, and a hotline fed telegrams the way
the poller stores them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hotline import config as config_module
from hotline.clock import iso
from hotline.config import COUNTERPARTS_FILE, Config
from hotline.inbound.jma.intake import process_pending
from hotline.runtime.service import Hotline
from tests.support.bot import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "jma"
JMA_SECTION = "\n# ---------------------------------------------------------------------------\n# 気象庁の"
JMA_SECTION_END = "# (end of [earthquake] / [tsunami])\n"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def jma_config(folder: Path, tables: str) -> Config:
    """The sample configuration with its [earthquake] / [tsunami] tables replaced by `tables`."""
    folder.mkdir(exist_ok=True)
    text = (ROOT / COUNTERPARTS_FILE).read_text(encoding="utf-8")
    assert JMA_SECTION in text and JMA_SECTION_END in text, "the sample's JMA tables moved: see this helper"
    before, rest = text.split(JMA_SECTION, 1)
    after = rest.split(JMA_SECTION_END, 1)[1]
    # `tables` go at the end (TOML allows a table, or one more [[municipalities]], after the rest)
    (folder / COUNTERPARTS_FILE).write_text(before + "\n" + after + "\n" + tables, encoding="utf-8")
    shutil.copytree(ROOT / "rooms", folder / "rooms", dirs_exist_ok=True)
    return config_module.load(folder)


def receive(hotline: Hotline, *names: str, url: str | None = None) -> list[Any]:
    """Store each fixture as the poller would (raw bytes, before anything acts), then act."""
    for name in names:
        now = iso(hotline.clock.now())
        body = fixture(name) if name else b"not xml"
        hotline.storage.store_telegram(url or f"http://127.0.0.1/data/{name}", "test", "", body, now)
    return process_pending(hotline.storage, hotline.earthquakes, hotline.clock)


def text_of(content: dict[str, Any]) -> str:
    return str(content.get("contentText") or content.get("text") or "")
