"""The configuration's files on disk: which they are, whether they changed, and how a
program replaces one.

counterparts.toml and rooms/*.toml are written by people in an editor, by the settings
pages (`hotline.config.editing`) and by `hotline rooms sync` (a new room's channelId written
back). Both programs go through `write_atomically`, so a crash or a full disk never leaves
half a file for the loader, the file watcher or the person who opens it next.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

COUNTERPARTS_FILE = "counterparts.toml"
ROOMS_DIR = "rooms"


def room_files(root: Path) -> list[Path]:
    """rooms/*.toml under `root`, sorted by name: the order rooms are loaded in."""
    rooms = root / ROOMS_DIR
    return sorted(rooms.glob("*.toml")) if rooms.is_dir() else []


def config_files(root: Path) -> list[Path]:
    """Every file the configuration is read from (counterparts.toml first, even when absent)."""
    return [root / COUNTERPARTS_FILE, *room_files(root)]


def fingerprint(root: str | Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when anyone edits the configuration files: names, sizes, mtimes."""
    root = Path(root)
    out = []
    for file in config_files(root):
        try:
            stat = file.stat()
        except OSError:
            continue
        out.append((str(file.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def write_atomically(path: Path, text: str, *, new_file_mode: int = 0o644) -> None:
    """Replace `path` with `text` (UTF-8, line endings as given): a crash at any moment
    leaves the old file or the new one, never half a file. An existing file keeps its
    permissions; a new one gets `new_file_mode` (the temporary file is created 0600)."""
    mode = (path.stat().st_mode & 0o7777) if path.exists() else new_file_mode
    # The temporary file sits in the same folder, so os.replace is a rename on one file
    # system (atomic); its name does not end in .toml, so the loader never reads it.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
