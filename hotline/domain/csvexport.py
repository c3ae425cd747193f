"""The one way hotline writes CSV: UTF-8 with a BOM (Excel then reads the Japanese), and no
cell a spreadsheet would run as a formula.

Report texts, names, comments and room titles come from people, some of them from outside
the prefecture's network (any member can post a report). A cell such as `=cmd|' /C calc'!A0`
or `=HYPERLINK(...)` would be a formula when HQ opens the chronology in Excel (CSV injection,
OWASP). Every text cell that starts with = + - @, a tab or a carriage return gets a leading
apostrophe, which spreadsheets show as text and do not display. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """`value` as a CSV cell that no spreadsheet runs: text starting like a formula is
    prefixed with an apostrophe; None is empty; numbers are kept."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """The rows as CSV bytes, UTF-8 with a BOM, every cell through `cell`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
