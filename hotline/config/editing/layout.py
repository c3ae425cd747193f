"""The TOML layout of the configuration files, kept as people wrote it.

Edits are made with tomlkit on the parsed documents, so the comments, order and formatting
of everything else survive: a hand-edited file stays readable, and its diff shows only the
edited lines. These helpers do the parts tomlkit leaves to its caller.

Comments between entries of an array of tables (`[[municipalities]]`, `[[groups]]`, ...)
are kept with the entry they introduce: the comment lines directly above a header (no blank
line in between) belong to that entry and go when it is removed; everything else (section
banners such as "# Counterpart groups", blank lines) stays where it is. A list of codes is
rewritten in the style it had (one code a line with the municipality's name as comment, or
on one line), and comments naming a municipality follow its renaming (`renamed`).

A comment ends at the end of its line, so a line break inside one would start a line of TOML:
a name with a newline and `[[hq.members]]` would add a working HQ member. Every comment written
here goes through `comment_text`, which makes it one line whatever the names in it hold (the
validator refuses such names too; this keeps the file safe even if one slipped past).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.items import AoT, Comment, Item, Null, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

# --------------------------------------------------------------------------------------
# Entries of arrays of tables, with the comments that introduce them. tomlkit keeps the
# comment and blank lines between two headers at the end of the table above; these helpers
# treat that run of lines (a "gap") as text, split it into what stays and what introduces
# the next entry, and move it when entries are added, removed or reordered.

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


def remove_entry(document: TOMLDocument, aot: AoT, index: int) -> Table:
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


def insert_entry(document: TOMLDocument, aot: AoT, index: int, table: Table) -> None:
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


def add_array_of_tables(table: Table, key: str, entry: Table) -> None:
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
# Values, keeping their place and their comments


def toml_value(value: Any) -> str:
    return str(tomlkit.item(value).as_string())


def parsed_item(text: str) -> Item:
    item = tomlkit.parse(f"x = {text}\n").item("x")
    assert isinstance(item, Item)
    return item


def set_value(table: Table | TOMLDocument, key: str, value: str | Item) -> None:
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


def key_item(table: Table | TOMLDocument, key: str) -> Item | None:
    """The tomlkit item of a plain key (with its comment), None when absent."""
    container = table if isinstance(table, Container) else table.value
    item = container.item(key) if key in container else None
    return item if isinstance(item, Item) else None


def key_comment(table: Table | TOMLDocument, key: str) -> str:
    item = key_item(table, key)
    return str(item.trivia.comment) if item is not None else ""


def comment_text(text: str) -> str:
    """`text` on one line: line breaks and other control characters become spaces."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)


def set_comment(table: Table | TOMLDocument, key: str, comment: str, *, spacing: str = "  ") -> None:
    item = key_item(table, key)
    if item is None:
        return
    comment = comment_text(comment)
    if comment:
        item.trivia.comment_ws = item.trivia.comment_ws or spacing
        item.trivia.comment = comment if comment.startswith("#") else f"# {comment}"
    else:
        item.trivia.comment_ws = ""
        item.trivia.comment = ""


def renamed(comment: str, old: str, new: str) -> str:
    """`comment` with the names it mentions brought up to date (unchanged when it does not
    mention them: it says something else, keep it)."""
    return comment.replace(old, new, 1) if old and comment and old in comment else comment


def codes_array(codes: Sequence[str], old: Item | None, names: Mapping[str, str]) -> Item:
    """A list of codes written like the old one: one code a line with the municipality's name
    as comment (as in the sample), or on one line."""
    old_text = old.as_string() if old is not None else None
    if old_text is not None and "\n" not in old_text:
        return parsed_item("[" + ", ".join(toml_value(code) for code in codes) + "]")
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
        comment = comments.get(code) or (
            f"# {comment_text(names[code])}" if with_comments and code in names else ""
        )
        lines.append(f"{indent}{toml_value(code)}," + (f"  {comment}" if comment else "") + "\n")
    return parsed_item("[\n" + "".join(lines) + "]")
