"""A writable copy of the sample configuration, and its TOML files as bytes to compare before and after."""

from __future__ import annotations

import shutil
from pathlib import Path

from hotline.config import COUNTERPARTS_FILE
from tests.support.bot import ROOT


def copy_config(folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(ROOT / COUNTERPARTS_FILE, folder / COUNTERPARTS_FILE)
    shutil.copytree(ROOT / "rooms", folder / "rooms")
    return folder


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.toml"))}
