"""Editing the configuration: what the settings page and the CLI call when prefecture
administrators change municipalities, members, counterpart groups, counterpart assignments
and rooms. Framework-free: plain values in, an `Outcome` out.

Every save goes through `apply(root, changes)`:

1. The changes are made with tomlkit on the parsed documents (counterparts.toml and the
   room files concerned), so the comments, order and formatting of everything else are kept:
   a hand-edited file stays readable, and its diff shows only the edited lines.
2. The edited files are written into a temporary copy of the configuration folder and
   validated there by `hotline.config.load()`: the same rules as at start-up.
3. If anything is wrong, nothing is written; the problems come back, each mapped to the form
   field to highlight, with a message in Japanese for people and the original `Problem`.
4. Otherwise each changed file is replaced atomically (`hotline.config.files.write_atomically`: a crash
   mid-write leaves the old file, never half a file; a removed room file is unlinked) and the
   new, validated `Config` is returned. The caller then calls `Hotline.reload_config()` so the
   running bot uses it at once (the file watcher would also pick it up within seconds).

Several files cannot be replaced in one atomic step. When a save touches more than one file,
they are written in an order whose every intermediate state is itself valid when such an
order exists (e.g. a new group goes into counterparts.toml before its room file; a room
stops referring to a group before the group is removed). When none exists (two rooms
swapping channelIds), a crash between two replaces can leave a combination of old and new
files that does not validate: the running bot keeps its last good configuration
(`reload_config` refuses it and shows the problems), and `hotline check` names them.

Comments between entries of an array of tables (`[[municipalities]]`, `[[groups]]`, ...)
are kept with the entry they introduce: the comment lines directly above a header (no blank
line in between) belong to that entry and go when it is removed; everything else (section
banners such as "# Counterpart groups", blank lines) stays where it is. Role comments on
member headers (`[[municipalities.members]]  # 副市長`) and the municipality names commented
next to codes (`primary = "382051"  # 新居浜市（一次支援市）`) are kept up to date.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
import stat
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Comment, Item, Null, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

from hotline.config import (
    COUNTERPARTS_FILE,
    HQ_ROLES,
    MUNICIPALITY_ROLES,
    ROOM_LINKS,
    ROOMS_DIR,
    Config,
    ConfigError,
    Problem,
    load,
)
from hotline.config.files import config_files, write_atomically

KINDS = ("municipality", "member", "group", "counterpart", "room")
ACTIONS = ("add", "update", "remove")
HQ_KEY = "hq"  # Change.key for adding a member to the HQ

# the fields each kind accepts in Change.values
_FIELDS = {
    "municipality": {"code", "name", "members"},
    "member": {"name", "role", "email", "user_id", "order", "municipality"},
    "group": {"id", "name", "municipalities"},
    "counterpart": {"primary", "secondary"},
    "room": {"title", "link", "group", "municipality", "channel_id"},
}
_MEMBER_KEYS = ("name", "role", "email", "user_id")
_ROOM_STEM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ROLE_LABELS = {label for pair in MUNICIPALITY_ROLES.values() for label in pair} | set(HQ_ROLES.values())

_lock = threading.Lock()  # one save at a time in this process


@dataclass(frozen=True)
class Change:
    """One edit, as a web form or the CLI expresses it.

    kind / action / key:
      municipality  add (values code, name, members: [{name, role, email, user_id}, ...]),
                    update (key = code; values name, code), remove (key = code)
      member        add (key = municipality code or "hq"; values name, role, email,
                    user_id, order), update (key = the member's e-mail or userId; values
                    any of name, role, email, user_id, order, municipality — a code or "hq",
                    to transfer the person), remove (key = e-mail or userId)
      group         add (values id, name, municipalities), update (key = group id; values
                    id, name, municipalities), remove (key = group id)
      counterpart   add / update (key = the stricken municipality's code; values primary,
                    secondary), remove (key = stricken code)
      room          add (key = file stem, e.g. "group-nanyo", or None for one derived from
                    the link; values title, link, group | municipality, channel_id),
                    update (key = stem; same values), remove (key = stem: deletes the file)

    Lists written by hand as inline arrays (`members = [{...}]`) are not rewritten: such
    an edit is refused, to be made in the file.

    `order` is the 0-based position in the municipality's (or HQ's) list, the order in which
    reminders reach people (Member.order). Lists (municipalities, secondary) may be given as
    a list of codes or as one string of codes separated by commas or spaces.
    """

    kind: str
    action: str
    key: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldProblem:
    field: str  # the form field to highlight ("email", "municipalities", ...); "" for none
    message: str  # Japanese, for people
    problem: Problem  # the validator's own (English) account, with file, line and key path
    change: int | None = None  # index of the Change that could not be made at all, if known


@dataclass(frozen=True)
class Outcome:
    ok: bool
    problems: tuple[FieldProblem, ...]
    config: Config | None  # the new validated configuration when ok
    diff: str  # unified diff of the files changed (for the audit log); "" when refused
    files: tuple[str, ...]  # relative paths written or removed, in the order they were
    snapshot: str  # `snapshot()` of the files now on disk


class _Refusal(Exception):
    def __init__(self, field: str, message: str, where: str, found: str, expected: str, file: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.problem = Problem(file, None, where, found, expected)


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
            problem = Problem(
                "(configuration)",
                None,
                "(snapshot)",
                "files changed since the form was shown",
                "the configuration the change was made on",
            )
            message = "ほかの人が先に設定を変更しました。画面を読み込み直してから、もう一度変更してください。"
            return _refused([FieldProblem("", message, problem)], current)
        session = _Session(before)
        for index, change in enumerate(changes):
            try:
                session.apply(change)
            except _Refusal as refusal:
                return _refused(
                    [FieldProblem(refusal.field, refusal.message, refusal.problem, index)], current
                )
            except TOMLKitError as exc:  # a hand-written layout tomlkit cannot edit in place
                problem = Problem(
                    COUNTERPARTS_FILE, None, "(edit)", f"tomlkit refused the edit ({exc})", "an edit"
                )
                message = (
                    "ファイルの書き方のため、この変更は画面からはできません。ファイルを直接編集してください"
                )
                return _refused([FieldProblem("", message, problem, index)], current)
        changed = session.changed()
        if not changed:
            try:
                config = load(root)
            except ConfigError as exc:
                return _refused(session.explain(exc.problems), current)
            return Outcome(True, (), config, "", (), current)
        with tempfile.TemporaryDirectory(prefix="hotline-config-") as scratch:
            try:
                config = load(_materialize(Path(scratch), before, changed))
            except ConfigError as exc:
                return _refused(session.explain(exc.problems), current)
        order = _write_order(before, changed)
        _write(root, order, changed)
        after = {rel: text for rel, text in before.items() if rel not in changed}
        after.update({rel: text for rel, text in changed.items() if text is not None})
        return Outcome(True, (), _rooted(config, root), _diff(before, changed), tuple(order), _digest(after))


def _refused(problems: list[FieldProblem], current: str) -> Outcome:
    return Outcome(False, tuple(problems), None, "", (), current)


# --------------------------------------------------------------------------------------
# Files


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


# --------------------------------------------------------------------------------------
# Keeping comments with what they describe. tomlkit keeps the comment and blank lines
# between two headers at the end of the table above; these helpers treat that run of lines
# (a "gap") as text, split it into what stays and what introduces the next entry, and move
# it when entries are added, removed or reordered.

_TRIVIA = (Whitespace, Comment, Null)


def _trailing_start(container: Container) -> int:
    body = container.body
    i = len(body)
    while i > 0 and body[i - 1][0] is None and isinstance(body[i - 1][1], _TRIVIA):
        i -= 1
    return i


def _gap(container: Container | None) -> str:
    if container is None:
        return ""
    return "".join(item.as_string() for _, item in container.body[_trailing_start(container) :])


def _set_gap(container: Container | None, text: str) -> None:
    if container is None:
        return
    body = container.body
    del body[_trailing_start(container) :]
    if text:
        body.extend((None, item) for _, item in tomlkit.parse(text).body)


def _tail(table: Table) -> Container:
    """The container whose trailing lines are rendered right after `table` (and its
    sub-tables): where the gap before whatever follows lives."""
    container = table.value
    while True:
        last = next((item for _, item in reversed(container.body) if not isinstance(item, Null)), None)
        if isinstance(last, AoT) and len(last):
            container = last[-1].value
        elif isinstance(last, Table):
            container = last.value
        else:
            return container


def _end_of(item: Item | None) -> Container | None:
    if isinstance(item, Table):
        return _tail(item)
    if isinstance(item, AoT) and len(item):
        return _tail(item[-1])
    return None  # plain keys or lines before the first header: not a gap we can edit


def _gap_before(container: Container, target: AoT) -> tuple[str, Container | None]:
    """("found", container) when `target` is in `container`'s tree: the container whose
    trailing lines come right before `target`'s first header (None when those lines cannot
    be edited); ("first", None) when `target` opens a header-less super table; ("missing",
    None) otherwise."""
    previous: Item | None = None
    for _, item in container.body:
        if isinstance(item, Null):
            continue
        if item is target:
            return ("first", None) if previous is None else ("found", _end_of(previous))
        children = [item] if isinstance(item, Table) else list(item) if isinstance(item, AoT) else []
        for child in children:
            status, gap = _gap_before(child.value, target)
            if status == "first":
                if isinstance(item, Table) and item.is_super_table():
                    return ("first", None) if previous is None else ("found", _end_of(previous))
                return "found", None
            if status == "found":
                return status, gap
        previous = item
    return "missing", None


def _starts_blank(text: str) -> bool:
    return bool(text) and text.splitlines()[0].strip() == ""


def _split(text: str) -> tuple[str, str]:
    """(what stays, the comment lines directly above the next header)."""
    lines = text.splitlines(keepends=True)
    i = len(lines)
    while i > 0 and lines[i - 1].lstrip().startswith("#"):
        i -= 1
    return "".join(lines[:i]), "".join(lines[i:])


def _join(first: str, second: str) -> str:
    """Two gaps as one, without doubling the blank line between them."""
    if first and first.splitlines()[-1].strip() == "":
        lines = second.splitlines(keepends=True)
        while lines and lines[0].strip() == "":
            lines.pop(0)
        second = "".join(lines)
    return first + second


def _separator(aot: AoT) -> str:
    """A blank line between entries, unless this list is written without them."""
    gaps = [_gap(_tail(table)) for table in list(aot)[:-1]]
    return "" if gaps and not any(_starts_blank(g) for g in gaps) else "\n"


def _remove_entry(document: TOMLDocument, aot: AoT, index: int) -> Table:
    table = aot[index]
    following = _gap(_tail(table))
    before = _tail(aot[index - 1]) if index > 0 else _gap_before(document, aot)[1]
    stays, _introduction = _split(_gap(before))
    if not following and index == len(aot) - 1:
        stays = stays.rstrip(" \t\n")  # nothing follows (end of file): no trailing blank line
        stays += "\n" if stays else ""
    del aot[index]
    if before is not None:
        _set_gap(before, _join(stays, following))
    return table


def _insert_entry(document: TOMLDocument, aot: AoT, index: int, table: Table) -> None:
    count = len(aot)
    separator = _separator(aot)
    if index > 0:
        before = _tail(aot[index - 1])
        following = _gap(before)
        _set_gap(before, separator)
        after = following
    else:
        gap_container = _gap_before(document, aot)[1]
        stays, introduction = _split(_gap(gap_container))
        if gap_container is not None and count:
            _set_gap(gap_container, stays)
            after = separator + introduction
        else:
            after = separator if count else ""
    table.trivia.indent = ""
    if index >= count:
        aot.append(table)
    else:
        aot.insert(index, table)
    _set_gap(_tail(table), after)


def _add_array_of_tables(table: Table, key: str, entry: Table) -> None:
    """Give `table` a new `[[key]]` list holding `entry` (e.g. the first member of a new
    municipality), keeping the lines that followed `table` after the new entry."""
    tail = _tail(table)
    following = _gap(tail)
    if key in table:
        table.remove(key)
    _set_gap(tail, "\n")
    entry.trivia.indent = ""
    aot = tomlkit.aot()
    aot.append(entry)
    table.append(key, aot)
    _set_gap(_tail(entry), following)


# --------------------------------------------------------------------------------------
# Values


def _toml_value(value: Any) -> str:
    return str(tomlkit.item(value).as_string())


def _parsed_item(text: str) -> Item:
    item = tomlkit.parse(f"x = {text}\n").item("x")
    assert isinstance(item, Item)
    return item


def _set_value(table: Table | TOMLDocument, key: str, value: str | Item) -> None:
    """Set `key`, keeping its place and comment; a new key goes after the others (before
    the lines that introduce the next table)."""
    if key in table:
        table[key] = value
        return
    if isinstance(table, Table) and _tail(table) is not table.value:
        table[key] = value  # it has sub-tables: tomlkit puts the key before them
        return
    container = table if isinstance(table, Container) else table.value
    following = _gap(container)
    _set_gap(container, "")
    container.append(key, value)
    _set_gap(container, following)


def _item(table: Table | TOMLDocument, key: str) -> Item | None:
    """The tomlkit item of a plain key (with its comment), None when absent."""
    container = table if isinstance(table, Container) else table.value
    item = container.item(key) if key in container else None
    return item if isinstance(item, Item) else None


def _comment(table: Table | TOMLDocument, key: str) -> str:
    item = _item(table, key)
    return str(item.trivia.comment) if item is not None else ""


def _set_comment(table: Table | TOMLDocument, key: str, comment: str, *, spacing: str = "  ") -> None:
    item = _item(table, key)
    if item is None:
        return
    if comment:
        item.trivia.comment_ws = item.trivia.comment_ws or spacing
        item.trivia.comment = comment if comment.startswith("#") else f"# {comment}"
    else:
        item.trivia.comment_ws = ""
        item.trivia.comment = ""


def _renamed(comment: str, old: str, new: str) -> str:
    """`comment` with the names it mentions brought up to date (unchanged when it does not
    mention them: it says something else, keep it)."""
    return comment.replace(old, new, 1) if old and comment and old in comment else comment


def _codes_array(codes: Sequence[str], old: Item | None, names: Mapping[str, str]) -> Item:
    """A list of codes written like the old one: one code a line with the municipality's name
    as comment (as in the sample), or on one line."""
    old_text = old.as_string() if old is not None else None
    if old_text is not None and "\n" not in old_text:
        return _parsed_item("[" + ", ".join(_toml_value(code) for code in codes) + "]")
    indent, comments = "    ", {}
    for line in (old_text or "").splitlines():
        match = re.match(r'^(\s+)"([^"]*)"\s*,?\s*(#.*)?$', line)
        if match:
            indent = match.group(1)
            if match.group(3):
                comments[match.group(2)] = match.group(3)
    with_comments = old_text is None or bool(comments)
    lines = []
    for code in codes:
        comment = comments.get(code) or (f"# {names[code]}" if with_comments and code in names else "")
        lines.append(f"{indent}{_toml_value(code)}," + (f"  {comment}" if comment else "") + "\n")
    return _parsed_item("[\n" + "".join(lines) + "]")


# --------------------------------------------------------------------------------------
# The edits


def _refuse(
    field: str, message: str, found: str, expected: str, *, where: str = "", file: str = ""
) -> _Refusal:
    return _Refusal(field, message, where or field, found, expected, file or COUNTERPARTS_FILE)


def _not_editable(key: str) -> _Refusal:
    return _refuse(
        key,
        f"{_LABELS.get(key, key)}が [[{key}]] の形で書かれていないため、画面からは変更できません。"
        "ファイルを直接編集してください",
        f"{key} written as an inline array",
        f"[[{key}]] tables",
    )


class _Session:
    """The files of one save being edited: the text before, the tomlkit documents after."""

    def __init__(self, before: Mapping[str, str]) -> None:
        self.before = before
        self.documents: dict[str, TOMLDocument] = {}
        self.removed: set[str] = set()
        self.removed_codes: dict[str, str] = {}  # code -> name of municipalities removed/recoded
        self.removed_groups: set[str] = set()
        self.touched: set[tuple[str, str]] = set()  # (identity, owner) of members added or edited

    # documents -----------------------------------------------------------------------

    def document(self, rel: str) -> TOMLDocument:
        if rel not in self.documents:
            if rel not in self.before:
                raise _refuse("", f"{rel} を読み込めません", "no such file", "a readable file", file=rel)
            try:
                self.documents[rel] = tomlkit.parse(self.before[rel])
            except TOMLKitError as exc:
                raise _refuse(
                    "",
                    f"{rel} の書式（TOML）が正しくありません",
                    f"malformed TOML ({exc})",
                    "valid TOML",
                    file=rel,
                ) from exc
        return self.documents[rel]

    @property
    def main(self) -> TOMLDocument:
        return self.document(COUNTERPARTS_FILE)

    def changed(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {rel: None for rel in self.removed if rel in self.before}
        for rel, document in self.documents.items():
            text = tomlkit.dumps(document)
            if text != self.before.get(rel):
                out[rel] = text
        return out

    def apply(self, change: Change) -> None:
        if change.kind not in KINDS:
            raise _refuse(
                "", f"変更の種類 {change.kind} は扱えません", repr(change.kind), f"one of {list(KINDS)}"
            )
        if change.action not in ACTIONS:
            raise _refuse(
                "", f"操作 {change.action} は扱えません", repr(change.action), f"one of {list(ACTIONS)}"
            )
        for name in change.values:
            if name not in _FIELDS[change.kind]:
                raise _refuse(
                    name, f"{name} という項目は変更できません", repr(name), str(sorted(_FIELDS[change.kind]))
                )
        getattr(self, f"_{change.kind}")(change)
        self.reparse()

    def reparse(self) -> None:
        """Start every step from freshly parsed documents (what a reader of the file sees)."""
        for rel, document in list(self.documents.items()):
            self.documents[rel] = tomlkit.parse(tomlkit.dumps(document))

    # lookups -------------------------------------------------------------------------

    def names(self) -> dict[str, str]:
        """Municipality names by code, as the documents now stand ({} when unreadable)."""
        out: dict[str, str] = {}
        try:
            main = self.main
        except _Refusal:
            return out
        for table in main.get("municipalities", []):
            if isinstance(table, Mapping):
                out[str(table.get("code", ""))] = str(table.get("name", ""))
        return out

    def aot(self, key: str) -> AoT:
        value = self.main.get(key)
        if isinstance(value, AoT):
            return value
        if value:  # e.g. `groups = [{...}]` written by hand: never replace what is there
            raise _not_editable(key)
        aot = tomlkit.aot()
        _set_value(self.main, key, aot)
        found = self.main[key]
        assert isinstance(found, AoT)
        return found

    def entry(self, key: str, field: str, value: str | None, what: str) -> tuple[AoT, int]:
        aot = self.main.get(key)
        if isinstance(aot, AoT) and value is not None:
            for index, table in enumerate(aot):
                if str(table.get(field, "")).strip() == value.strip():
                    return aot, index
        raise _refuse(field, f"{what} {value} は登録されていません", f"no entry with {field} {value!r}", what)

    def member_lists(self) -> Iterator[tuple[str, Table | None, AoT | None]]:
        """(owner key, municipality table or None for HQ, its members list or None)."""
        hq = self.main.get("hq")
        if isinstance(hq, Mapping):
            members = hq.get("members")
            yield HQ_KEY, None, members if isinstance(members, AoT) else None
        for table in self.main.get("municipalities", []):
            if isinstance(table, Table):
                members = table.get("members")
                yield str(table.get("code", "")), table, members if isinstance(members, AoT) else None

    def find_member(self, identity: str | None) -> tuple[str, Table | None, AoT, int]:
        wanted = (identity or "").strip()
        for owner, table, aot in self.member_lists():
            for index, person in enumerate(aot or []):
                email = str(person.get("email", "")).strip().lower()
                user_id = str(person.get("user_id", "")).strip()
                if wanted and (wanted.lower() == email or wanted == user_id):
                    assert aot is not None
                    return owner, table, aot, index
        raise _refuse(
            "email",
            f"{wanted or '（空）'} という人は登録されていません",
            f"no member with e-mail or user_id {wanted!r}",
            "a registered member",
        )

    def owner(self, key: str | None) -> tuple[Table | None, AoT | None]:
        """A municipality's table (by code; None for the HQ) and its members list."""
        for owner, table, aot in self.member_lists():
            if owner == (key or "").strip():
                return table, aot
        raise _refuse(
            "municipality",
            f"市町コード {key} は登録されていません",
            f"unknown municipality code {key}",
            "a code from [[municipalities]] or 'hq'",
        )

    # municipalities ------------------------------------------------------------------

    def _municipality(self, change: Change) -> None:
        values = change.values
        if change.action == "add":
            code = _text(values.get("code", change.key or ""), "code")
            table = tomlkit.table()
            table["code"] = code
            table["name"] = _text(values.get("name", ""), "name")
            aot = self.aot("municipalities")
            _insert_entry(self.main, aot, len(aot), table)
            members = values.get("members") or []
            if not isinstance(members, Sequence) or isinstance(members, str):
                raise _refuse(
                    "members", "メンバーの形式が正しくありません", repr(members), "a list of members"
                )
            for person in members:
                if not isinstance(person, Mapping) or set(person) - set(_FIELDS["member"]):
                    raise _refuse("members", "メンバーの形式が正しくありません", repr(person), "a member")
                self.reparse()
                new = self.main["municipalities"][-1]
                existing = new.get("members")
                self._add_member(new, existing if isinstance(existing, AoT) else None, person)
            return
        aot, index = self.entry("municipalities", "code", change.key, "市町コード")
        table = aot[index]
        if change.action == "remove":
            self.removed_codes[str(table.get("code"))] = str(table.get("name", ""))
            _remove_entry(self.main, aot, index)
            return
        if "name" in values:
            _set_value(table, "name", _text(values["name"], "name"))
        if "code" in values:
            code = _text(values["code"], "code")
            if code != str(table.get("code")):
                self.removed_codes[str(table.get("code"))] = str(table.get("name", ""))
            _set_value(table, "code", code)

    # members -------------------------------------------------------------------------

    def _member(self, change: Change) -> None:
        values = change.values
        if change.action == "add":
            self._add_member(*self.owner(change.key), values)
            return
        owner, municipality, aot, index = self.find_member(change.key)
        if change.action == "remove":
            _remove_entry(self.main, aot, index)
            return
        person = aot[index]
        labelled = _role_label_of(person)
        for key in _MEMBER_KEYS:
            if key in values:
                _set_value(person, key, _text(values[key], key))
        target = _text(values["municipality"], "municipality") if "municipality" in values else owner
        self.touch(person, target)
        if target != owner or "order" in values:
            _remove_entry(self.main, aot, index)
            if target != owner:
                municipality, target_aot = self.owner(target)
            else:
                target_aot = aot
            self._place(municipality, target_aot, person, values.get("order"), labelled=labelled)
        elif labelled:
            _label(person, municipality)

    def _add_member(self, municipality: Table | None, aot: AoT | None, values: Mapping[str, Any]) -> None:
        person = tomlkit.table()
        for key in _MEMBER_KEYS:
            person[key] = _text(values.get(key, ""), key)
        self.touch(person, str(municipality.get("code", "")) if municipality is not None else HQ_KEY)
        # label the header with the role (# 副市長) when the others are labelled
        others = (
            aot if aot else [p for _, town, a in self.member_lists() if town is not None for p in a or []]
        )
        labelled = any(_role_label_of(other) for other in others)
        self._place(municipality, aot, person, values.get("order"), labelled=labelled)

    def touch(self, person: Table, owner: str) -> None:
        for key in ("email", "user_id"):
            identity = str(person.get(key, "")).strip()
            if identity:
                self.touched.add((identity.lower() if key == "email" else identity, owner))

    def _place(
        self, municipality: Table | None, aot: AoT | None, person: Table, order: Any, *, labelled: bool
    ) -> None:
        count = len(aot) if aot is not None else 0
        position = count if order is None or order == "" else _position(order, count)
        if labelled:
            _label(person, municipality)
        if aot is not None:
            _insert_entry(self.main, aot, position, person)
        elif municipality is not None:
            if municipality.get("members"):  # `members = [{...}]` written by hand
                raise _not_editable("members")
            _add_array_of_tables(municipality, "members", person)
        else:
            raise _refuse(
                "municipality", "県本部のメンバー一覧がありません", "no [[hq.members]]", "[[hq.members]]"
            )

    # groups --------------------------------------------------------------------------

    def _group(self, change: Change) -> None:
        values = change.values
        if change.action == "add":
            table = tomlkit.table()
            table["id"] = _text(values.get("id", change.key or ""), "id")
            table["name"] = _text(values.get("name", ""), "name")
            codes = _codes(values.get("municipalities", []), "municipalities")
            table["municipalities"] = _codes_array(codes, None, self.names())
            aot = self.aot("groups")
            _insert_entry(self.main, aot, len(aot), table)
            return
        aot, index = self.entry("groups", "id", change.key, "グループ")
        table = aot[index]
        if change.action == "remove":
            self.removed_groups.add(str(table.get("id")))
            _remove_entry(self.main, aot, index)
            return
        if "id" in values:
            new_id = _text(values["id"], "id")
            if new_id != str(table.get("id")):
                self.removed_groups.add(str(table.get("id")))
            _set_value(table, "id", new_id)
        if "name" in values:
            _set_value(table, "name", _text(values["name"], "name"))
        if "municipalities" in values:
            codes = _codes(values["municipalities"], "municipalities")
            old = _item(table, "municipalities")
            comment = _comment(table, "municipalities")
            _set_value(table, "municipalities", _codes_array(codes, old, self.names()))
            _set_comment(table, "municipalities", comment)

    # counterparts --------------------------------------------------------------------

    def _counterpart(self, change: Change) -> None:
        values = change.values
        names = self.names()
        stricken = _text(change.key or "", "stricken")
        if change.action == "add":
            aot = self.aot("counterparts")
            commented = any(_comment(other, "stricken") for other in aot)
            table = tomlkit.table()
            table["stricken"] = stricken
            table["primary"] = _text(values.get("primary", ""), "primary")
            secondary = _codes(values.get("secondary", []), "secondary")
            table["secondary"] = _codes_array(secondary, _parsed_item("[]"), names)
            if commented:
                for key, codes in (
                    ("stricken", [stricken]),
                    ("primary", [str(table["primary"])]),
                    ("secondary", secondary),
                ):
                    label = "・".join(names[code] for code in codes if code in names)
                    if label:
                        _set_comment(table, key, label)
            _insert_entry(self.main, aot, len(aot), table)
            return
        aot, index = self.entry("counterparts", "stricken", stricken, "被災市町の割当て")
        table = aot[index]
        if change.action == "remove":
            _remove_entry(self.main, aot, index)
            return
        if "primary" in values:
            old_primary = str(table.get("primary", ""))
            primary = _text(values["primary"], "primary")
            comment = _comment(table, "primary")
            _set_value(table, "primary", primary)
            _set_comment(
                table, "primary", _renamed(comment, names.get(old_primary, ""), names.get(primary, primary))
            )
        if "secondary" in values:
            old_codes = [str(code) for code in table.get("secondary", [])]
            codes = _codes(values["secondary"], "secondary")
            old = _item(table, "secondary") or _parsed_item("[]")
            comment = _comment(table, "secondary")
            _set_value(table, "secondary", _codes_array(codes, old, names))
            old_label = "・".join(names.get(code, code) for code in old_codes)
            new_label = "・".join(names.get(code, code) for code in codes)
            _set_comment(table, "secondary", _renamed(comment, old_label, new_label))

    # rooms ---------------------------------------------------------------------------

    def _room(self, change: Change) -> None:
        values = change.values
        stem = change.key
        if change.action == "add" and not stem:
            link = str(values.get("link", ""))
            target = str(values.get(link, "")) if link in ("group", "municipality") else ""
            stem = f"{link}-{target}" if target else link
        if not stem or not _ROOM_STEM_RE.match(stem):
            raise _refuse(
                "key",
                "ルームのファイル名は半角英数字・-・_ で付けてください",
                repr(stem),
                "a file name stem of letters, digits, - and _",
                where="(room file)",
                file=f"{ROOMS_DIR}/",
            )
        rel = f"{ROOMS_DIR}/{stem}.toml"
        exists = rel not in self.removed and (rel in self.documents or rel in self.before)
        if change.action == "add":
            if exists:
                raise _refuse(
                    "key",
                    f"{rel} は既にあります",
                    f"{rel} exists",
                    "a new room file name",
                    where="(room file)",
                    file=rel,
                )
            self.removed.discard(rel)
            lines = [
                f"title = {_toml_value(_text(values.get('title', ''), 'title'))}",
                f"channel_id = {_toml_value(_text(values.get('channel_id', ''), 'channel_id'))}",
                f"link = {_toml_value(_text(values.get('link', ''), 'link'))}",
            ]
            for key in ("group", "municipality"):
                if values.get("link") == key and key in values:
                    code = _text(values[key], key)
                    name = self.names().get(code) if key == "municipality" else None
                    lines.append(f"{key} = {_toml_value(code)}" + (f"  # {name}" if name else ""))
            self.documents[rel] = tomlkit.parse("\n".join(lines) + "\n")
            return
        if not exists:
            raise _refuse(
                "key",
                f"トークルーム {stem} はありません",
                f"no {rel}",
                "an existing room file",
                where="(room file)",
                file=rel,
            )
        if change.action == "remove":
            self.documents.pop(rel, None)
            self.removed.add(rel)
            return
        document = self.document(rel)
        for key in ("title", "channel_id", "link"):
            if key in values:
                _set_value(document, key, _text(values[key], key))
        link = str(document.get("link", ""))
        for key in ("group", "municipality"):
            if link in ROOM_LINKS and key != link and key in document:
                del document[key]
            elif key == link and key in values:
                code = _text(values[key], key)
                old = str(document.get(key, ""))
                comment = _comment(document, key)
                _set_value(document, key, code)
                if key == "municipality":
                    names = self.names()
                    _set_comment(document, key, _renamed(comment, names.get(old, ""), names.get(code, code)))

    # explaining ----------------------------------------------------------------------

    def explain(self, problems: Sequence[Problem]) -> list[FieldProblem]:
        # a malformed e-mail also leaves the person "without an identity": say it once
        identity_fields = {(p.file, p.where) for p in problems if p.where.endswith((".email", ".user_id"))}
        return [
            FieldProblem(_field_of(p), self.message(p), p)
            for p in problems
            if not (
                p.found == "neither email nor user_id"
                and {(p.file, f"{p.where}.email"), (p.file, f"{p.where}.user_id")} & identity_fields
            )
        ]

    def message(self, problem: Problem) -> str:
        """The problem in Japanese, for the administrator who made the change."""
        found, expected, where = problem.found, problem.expected, problem.where
        names = self.names()

        def town(code: str) -> str:
            name = names.get(code) or self.removed_codes.get(code)
            return f"{name}（{code}）" if name else code

        if where == "(syntax)":
            line = f"（{problem.line}行目）" if problem.line else ""
            return f"{problem.file} の書式（TOML）が正しくありません{line}"
        if where == "(file)":
            return f"{problem.file} を読み込めません"
        if where == "(rooms)":
            return (
                '県本部のトークルーム（link = "hq"）が1つもありません。'
                "すべての報告は県本部に届く必要があります"
            )
        match = re.match(r"^(\S+) already registered for (.+) \(line [^)]*\)$", found)
        if match:
            identity, other = match.group(1), match.group(2)
            what = "メールアドレス" if "@" in identity else "ユーザーID（userId）"
            # The validator flags whichever of the two comes later in the file; when that is
            # the person already there, the one being edited is the other: name this one.
            owner, owner_name = self.owner_of(where)
            owners = {who for known, who in self.touched if known == identity}
            if owners and owner not in owners:
                other = owner_name
            return f"この{what}は {other} に登録済みです"
        if found == "neither email nor user_id":
            return "メールアドレスかユーザーID（userId）のどちらかを入力してください"
        match = re.match(r"^unknown municipality code (\S+)$", found)
        if match:
            code = match.group(1)
            if code in self.removed_codes and where.endswith(".stricken"):
                return (
                    f"{town(code)}には支援市町の割当てがあるため、削除やコードの変更はできません。"
                    "先に割当てを削除してください"
                )
            if code in self.removed_codes:
                return (
                    f"{town(code)}は{self.context(problem)}で使われているため、"
                    "削除やコードの変更はできません。先にそちらから外してください"
                )
            return f"市町コード {code} は登録されていません"
        if found.startswith("the stricken town "):
            return "自分自身を支援市町にはできません"
        match = re.match(r"^(\S+) listed twice$", found)
        if match:
            return f"{town(match.group(1))}が支援市町に重複して指定されています"
        match = re.match(r"^(\S+) twice$", found)
        if match:
            return f"{town(match.group(1))}がグループに重複して指定されています"
        match = re.match(r"^duplicate code (\S+)$", found)
        if match:
            return f"市町コード {match.group(1)} は既に登録されています"
        match = re.match(r"^duplicate name (.+)$", found)
        if match:
            return f"市町名 {match.group(1)} は既に登録されています"
        match = re.match(r"^duplicate group id '(.*)'$", found)
        if match:
            return f"グループID {match.group(1)} は既に使われています"
        match = re.match(r"^a second entry for (\S+)$", found)
        if match:
            return f"{town(match.group(1))}の支援市町は既に登録されています"
        match = re.match(r"^unknown group '(.*)'$", found)
        if match:
            if match.group(1) in self.removed_groups:
                return (
                    f"グループ {match.group(1)} はトークルーム（{problem.file}）で使われているため、"
                    "削除やIDの変更はできません。先にルームの連携先を変えるか、ルームを削除してください"
                )
            return f"グループ {match.group(1)} は登録されていません"
        match = re.match(r"^(\S+) already used by (\S+)$", found)
        if match:
            return f"チャンネルID {match.group(1)} が {match.group(2)} と {problem.file} で重複しています"
        label = _label_of(where)
        if found == "an empty list" and where.endswith("members"):
            return "メンバーを1人以上登録してください"
        if found in ("nothing", "an empty string"):
            return f"{label}を入力してください"
        if found.startswith("unknown key "):
            return f"{label} という項目は使えません"
        if expected == "an e-mail address":
            return "メールアドレスの形式が正しくありません"
        if "6-digit" in expected:
            return f"{label}は6桁の数字で入力してください"
        if expected.startswith("a short ASCII id"):
            return "グループIDは半角の英小文字・数字・-・_ で入力してください（32文字まで）"
        if where.endswith("role"):
            return "役職が正しくありません"
        if where == "link":
            return "連携先は hq（県本部）・group（グループ）・municipality（市町）のいずれかです"
        if expected == "a whole number from 1 to 10000":
            return "1〜10000 の整数で入力してください"
        if where.endswith("hq_after_minutes"):
            return "県本部への通知は、市町へのリマインドより後（大きい数）にしてください"
        return f"{label}が正しくありません（{found}; expected {expected}）"

    def owner_of(self, where: str) -> tuple[str, str]:
        """(code or "hq", name) of the municipality or HQ a member's key path is in."""
        if where.startswith("hq."):
            hq = self.main.get("hq")
            return HQ_KEY, str(hq.get("name", "県本部")) if isinstance(hq, Mapping) else "県本部"
        match = re.match(r"^municipalities\[(\d+)\]", where)
        aot = self.main.get("municipalities")
        if match and isinstance(aot, AoT) and int(match.group(1)) < len(aot):
            table = aot[int(match.group(1))]
            return str(table.get("code", "")), str(table.get("name", ""))
        return "", ""

    def context(self, problem: Problem) -> str:
        """Where a reference is, in words: グループ「…」, …の支援市町の割当て, トークルーム …"""
        match = re.match(r"^(groups|counterparts)\[(\d+)\]", problem.where)
        if problem.file == COUNTERPARTS_FILE and match:
            aot = self.main.get(match.group(1))
            index = int(match.group(2))
            if isinstance(aot, AoT) and index < len(aot):
                table = aot[index]
                if match.group(1) == "groups":
                    return f"グループ「{table.get('name', table.get('id', ''))}」"
                stricken = str(table.get("stricken", ""))
                name = self.names().get(stricken) or self.removed_codes.get(stricken) or stricken
                return f"{name}の支援市町の割当て"
        if problem.file.startswith(f"{ROOMS_DIR}/"):
            return f"トークルーム（{problem.file}）"
        return problem.file


def _role_label_of(person: Table) -> bool:
    comment = person.trivia.comment.lstrip("#").strip()
    return comment in _ROLE_LABELS


def _label(person: Table, municipality: Table | None) -> None:
    """Keep the role comment on the member's header (`# 副市長`) in step with the role."""
    role = str(person.get("role", ""))
    if municipality is None:
        label = HQ_ROLES.get(role)
    else:
        town = str(municipality.get("name", "")).endswith(("町", "村"))
        pair = MUNICIPALITY_ROLES.get(role)
        label = pair[1 if town else 0] if pair else None
    if label:
        person.trivia.comment_ws = person.trivia.comment_ws or "  "
        person.trivia.comment = f"# {label}"


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _refuse(name, f"{_LABELS.get(name, name)}は文字で入力してください", repr(value), "a string")
    return value.strip()


def _codes(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [code for code in re.split(r"[\s,、，]+", value) if code]
    if isinstance(value, Sequence) and all(isinstance(code, str) for code in value):
        return [code.strip() for code in value if code.strip()]
    raise _refuse(
        name, f"{_LABELS.get(name, name)}は市町コードの一覧で入力してください", repr(value), "a list of codes"
    )


def _position(value: Any, count: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= count:
        raise _refuse(
            "order",
            f"順番は 0〜{count} の数で指定してください",
            repr(value),
            f"a position from 0 to {count}",
        )
    return value


_LABELS = {
    "name": "名前",
    "role": "役職",
    "email": "メールアドレス",
    "user_id": "ユーザーID（userId）",
    "code": "市町コード",
    "id": "グループID",
    "municipalities": "市町",
    "members": "メンバー",
    "stricken": "被災市町",
    "primary": "一次支援市町",
    "secondary": "二次支援市町",
    "title": "ルーム名",
    "channel_id": "チャンネルID",
    "link": "連携先",
    "group": "グループ",
    "municipality": "市町",
    "contact": "連絡先",
    "board_id": "掲示板ID",
    "order": "順番",
}


def _parts(where: str) -> list[str]:
    return [part for part in re.split(r"\.|\[\d+\]", where) if part]


def _field_of(problem: Problem) -> str:
    """The form field a problem is about: the last key of its path (`email` for
    `municipalities[3].members[1].email`); for a person registered twice, the identity that
    clashed."""
    if problem.where == "(rooms)":
        return "link"
    if problem.where.startswith("("):
        return ""
    match = re.match(r"^(\S+) already registered for ", problem.found)
    if match:
        return "email" if "@" in match.group(1) else "user_id"
    if problem.found == "neither email nor user_id":
        return "email"
    parts = _parts(problem.where)
    return parts[-1] if parts else ""


def _label_of(where: str) -> str:
    parts = _parts(where)
    last = parts[-1] if parts else where
    if last == "name":
        if "members" in parts:
            return "氏名"
        return {"groups": "グループ名", "municipalities": "市町名", "hq": "本部名", "prefecture": "県名"}.get(
            parts[0], "名前"
        )
    return _LABELS.get(last, last)
