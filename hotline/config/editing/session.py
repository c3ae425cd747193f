"""One save: the configuration files read, the changes made, the result validated with
the start-up rules, and written only when valid.

Every save goes through `apply(root, changes)`:

1. The changes are made with tomlkit on the parsed documents (counterparts.toml and the
   room files concerned; see `changes` and `layout`).
2. The edited files are written into a temporary copy of the configuration folder and
   validated there by `hotline.config.load()`: the same rules as at start-up.
3. If anything is wrong, nothing is written; the problems come back, each mapped to the form
   field to highlight, with a message in Japanese for people and the original `Problem`
   (see `explain`).
4. Otherwise each changed file is replaced atomically (`hotline.config.files.write_atomically`:
   a crash mid-write leaves the old file, never half a file; a removed room file is unlinked)
   and the new, validated `Config` is returned. The caller then calls
   `Hotline.reload_config()` so the running bot uses it at once (the file watcher would also
   pick it up within seconds).

A form carries the `snapshot()` it was shown with; `apply(expected_snapshot=...)` refuses a
save made on files that changed since (optimistic: nobody holds a lock while a form is
open). Saves in one process take turns (`_lock`); the file watcher and `hotline check` only
read.

Several files cannot be replaced in one atomic step. When a save touches more than one file,
they are written in an order whose every intermediate state is itself valid when such an
order exists (e.g. a new group goes into counterparts.toml before its room file; a room
stops referring to a group before the group is removed). When none exists (two rooms
swapping channelIds), a crash between two replaces can leave a combination of old and new
files that does not validate: the running bot keeps its last good configuration
(`reload_config` refuses it and shows the problems), and `hotline check` names them.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
import stat
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tomlkit.exceptions import TOMLKitError

from hotline.config.editing.changes import Change, Draft, Refusal
from hotline.config.editing.explain import (
    FieldProblem,
    explain,
    explain_layout,
    explain_stale,
    explain_undo_broken,
    explain_undo_stale,
)
from hotline.config.files import COUNTERPARTS_FILE, ROOMS_DIR, config_files, write_atomically
from hotline.config.loader import ConfigError, load
from hotline.config.model import Config

_lock = threading.Lock()  # one save at a time in this process


@dataclass(frozen=True)
class Outcome:
    ok: bool
    problems: tuple[FieldProblem, ...]
    config: Config | None  # the new validated configuration when ok
    diff: str  # unified diff of the files changed (for the audit log); "" when refused
    files: tuple[str, ...]  # relative paths written or removed, in the order they were
    snapshot: str  # `snapshot()` of the files now on disk


def snapshot(root: str | Path) -> str:
    """A digest of the configuration files: give it back to `apply(expected_snapshot=...)` to
    refuse a save made from a form that was shown before someone else's change."""
    return _digest(_read(Path(root)))


def apply(root: str | Path, changes: Sequence[Change], *, expected_snapshot: str | None = None) -> Outcome:
    """Make `changes` (in order, all or nothing) to the configuration under `root`, validate
    the result with the start-up rules, and write it only when it is valid. See the module
    docstring. An OSError while writing (disk full, a crash simulated in tests) is raised:
    the file being written is then unchanged, files written before it in the same save are
    new (in an order chosen so that this state is valid when possible)."""
    root = Path(root)
    with _lock:
        before = _read(root)
        current = _digest(before)
        if expected_snapshot is not None and expected_snapshot != current:
            return _refused([explain_stale()], current)
        draft = Draft(before)
        for index, change in enumerate(changes):
            try:
                draft.apply(change)
            except Refusal as refusal:
                return _refused(
                    [FieldProblem(refusal.field, refusal.message, refusal.problem, index)], current
                )
            except TOMLKitError as exc:  # a hand-written layout tomlkit cannot edit in place
                return _refused([explain_layout(exc, index)], current)
        changed = draft.changed()
        if not changed:
            try:
                config = load(root)
            except ConfigError as exc:
                return _refused(explain(draft, exc.problems), current)
            return Outcome(True, (), config, "", (), current)
        with tempfile.TemporaryDirectory(prefix="hotline-config-") as scratch:
            try:
                config = load(_materialize(Path(scratch), before, changed))
            except ConfigError as exc:
                return _refused(explain(draft, exc.problems), current)
        order = _write_order(before, changed)
        _write(root, order, changed)
        after = {rel: text for rel, text in before.items() if rel not in changed}
        after.update({rel: text for rel, text in changed.items() if text is not None})
        return Outcome(True, (), _rooted(config, root), _diff(before, changed), tuple(order), _digest(after))


def revert(root: str | Path, diff: str, *, expected_snapshot: str) -> Outcome:
    """Undo one earlier save: put back the files as they were before it, from the unified
    diff that save produced (`Outcome.diff`, kept in the audit log). Only when the files are
    still exactly as that save left them (`expected_snapshot` = its `Outcome.snapshot`):
    otherwise a later change would be lost, and the undo is refused (`explain_undo_stale`);
    undoing the later changes first, newest first, makes it possible again. The restored
    files are validated with today's rules and written like any save."""
    root = Path(root)
    with _lock:
        before = _read(root)
        current = _digest(before)
        if expected_snapshot != current:
            return _refused([explain_undo_stale()], current)
        try:
            restored = _unpatch(before, diff)
        except ValueError as exc:
            return _refused([explain_undo_broken(str(exc))], current)
        changed = {rel: text for rel, text in restored.items() if before.get(rel) != text}
        if not changed:
            return _refused([explain_undo_broken("the diff changes nothing")], current)
        with tempfile.TemporaryDirectory(prefix="hotline-config-") as scratch:
            try:
                config = load(_materialize(Path(scratch), before, changed))
            except ConfigError as exc:
                kept = {rel: text for rel, text in {**before, **changed}.items() if text is not None}
                return _refused(explain(Draft(kept), exc.problems), current)
        order = _write_order(before, changed)
        _write(root, order, changed)
        after = {rel: text for rel, text in before.items() if rel not in changed}
        after.update({rel: text for rel, text in changed.items() if text is not None})
        return Outcome(True, (), _rooted(config, root), _diff(before, changed), tuple(order), _digest(after))


_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _unpatch(files: Mapping[str, str], diff: str) -> dict[str, str | None]:
    """The files as they were before the save whose unified diff (`_diff`) is `diff`, given the
    files as that save left them: each changed file with its hunks reversed (None: the save
    created it, so undoing removes it). Raises ValueError when a hunk does not match the text
    (never expected: the caller has checked the snapshot). A file the save left without a final
    line break gets one back (`_lines` adds it to the diff)."""
    out: dict[str, str | None] = {}
    lines = re.split(r"(?<=\n)", diff)
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line:
            index += 1
            continue
        if not (line.startswith("--- ") and index + 1 < len(lines) and lines[index + 1].startswith("+++ ")):
            raise ValueError(f"unexpected diff line {line!r}")
        old_name, new_name = line[4:].strip(), lines[index + 1][4:].strip()
        rel = (new_name if new_name != "/dev/null" else old_name)[2:]
        index += 2
        hunks: list[tuple[int, list[str]]] = []
        while index < len(lines) and lines[index].startswith("@@"):
            match = _HUNK_RE.match(lines[index])
            if not match:
                raise ValueError(f"bad hunk header {lines[index]!r}")
            start, length = int(match.group(3)), int(match.group(4) or "1")
            body: list[str] = []
            index += 1
            while (
                index < len(lines)
                and lines[index][:1] in (" ", "-", "+")
                and not lines[index].startswith(("--- ", "+++ "))
            ):
                body.append(lines[index])
                index += 1
            hunks.append((start - 1 if length else start, body))
        if old_name == "/dev/null":
            out[rel] = None
            continue
        current = _lines(files.get(rel)) if new_name != "/dev/null" else []
        restored: list[str] = []
        position = 0
        for start, body in hunks:
            restored.extend(current[position:start])
            position = start
            for text in body:
                sign, content = text[0], text[1:]
                if sign in " +":
                    if position >= len(current) or current[position] != content:
                        raise ValueError(f"{rel} does not match the diff at line {position + 1}")
                    position += 1
                if sign in " -":
                    restored.append(content)
        restored.extend(current[position:])
        out[rel] = "".join(restored)
    return out


def _refused(problems: list[FieldProblem], current: str) -> Outcome:
    return Outcome(False, tuple(problems), None, "", (), current)


# --------------------------------------------------------------------------------------
# Files: read, tried in a scratch folder, written in a safe order


def _read(root: Path) -> dict[str, str]:
    """The text of counterparts.toml and rooms/*.toml, by path relative to `root` (exact
    bytes decoded, so line endings survive); unreadable files are left to the validator."""
    out: dict[str, str] = {}
    for path in config_files(root):
        try:
            out[path.relative_to(root).as_posix()] = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return out


def _digest(files: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + files[rel].encode() + b"\0")
    return digest.hexdigest()


def _materialize(folder: Path, before: Mapping[str, str], changed: Mapping[str, str | None]) -> Path:
    """A configuration folder holding `before` with `changed` applied (None = removed)."""
    (folder / ROOMS_DIR).mkdir(parents=True, exist_ok=True)
    files = {**before, **changed}
    for rel, text in files.items():
        if text is not None:
            (folder / rel).write_bytes(text.encode("utf-8"))
    return folder


def _valid(before: Mapping[str, str], changed: Mapping[str, str | None]) -> bool:
    with tempfile.TemporaryDirectory(prefix="hotline-config-") as scratch:
        try:
            load(_materialize(Path(scratch), before, changed))
        except ConfigError:
            return False
    return True


def _write_order(before: Mapping[str, str], changed: Mapping[str, str | None]) -> list[str]:
    """The order to replace the files in: one whose every intermediate state validates, when
    there is one (see the module docstring)."""
    names = sorted(changed)
    if len(names) < 2:
        return names
    removed = [rel for rel in names if changed[rel] is None]
    rooms = [rel for rel in names if rel != COUNTERPARTS_FILE and changed[rel] is not None]
    main = [COUNTERPARTS_FILE] if COUNTERPARTS_FILE in changed else []
    candidates = [
        removed + main + rooms,
        removed + rooms + main,
        main + removed + rooms,
        rooms + main + removed,
    ]
    for order in candidates:
        if all(_valid(before, {rel: changed[rel] for rel in order[:i]}) for i in range(1, len(order))):
            return order
    return candidates[0]


def _write(root: Path, order: Sequence[str], changed: Mapping[str, str | None]) -> None:
    main = root / COUNTERPARTS_FILE
    default_mode = stat.S_IMODE(main.stat().st_mode) if main.exists() else 0o644
    (root / ROOMS_DIR).mkdir(exist_ok=True)
    for rel in order:
        path = root / rel
        text = changed[rel]
        if text is None:
            path.unlink(missing_ok=True)
            continue
        # a new room file is as readable as counterparts.toml (an existing one keeps its mode)
        write_atomically(path, text, new_file_mode=default_mode)


def _diff(before: Mapping[str, str], changed: Mapping[str, str | None]) -> str:
    """A unified diff like difflib's, but without its "popular line" heuristic, which in a
    file of many `user_id = ""` lines turns moving one member into moving all the others."""
    out: list[str] = []
    for rel in sorted(changed):
        old, new = _lines(before.get(rel)), _lines(changed[rel])
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for number, group in enumerate(matcher.get_grouped_opcodes(3)):
            if number == 0:
                out.append(f"--- {'a/' + rel if rel in before else '/dev/null'}\n")
                out.append(f"+++ {'b/' + rel if changed[rel] is not None else '/dev/null'}\n")
            first, last = group[0], group[-1]
            out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
            for tag, i1, i2, j1, j2 in group:
                if tag == "equal":
                    out.extend(" " + line for line in old[i1:i2])
                    continue
                out.extend("-" + line for line in old[i1:i2])
                out.extend("+" + line for line in new[j1:j2])
    return "".join(out)


def _range(start: int, stop: int) -> str:
    """A hunk range in unified-diff notation (as difflib writes it)."""
    length = stop - start
    beginning = start + 1 if length else start
    return str(beginning) if length == 1 else f"{beginning},{length}"


def _lines(text: str | None) -> list[str]:
    if not text:
        return []
    lines = text.splitlines(keepends=True)
    if not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def _rooted(config: Config, root: Path) -> Config:
    """The config validated in the scratch folder, with its paths pointing at `root`."""
    rooms = tuple(dataclasses.replace(room, path=root / ROOMS_DIR / room.path.name) for room in config.rooms)
    return dataclasses.replace(config, root=root, rooms=rooms)
