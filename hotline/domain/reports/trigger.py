"""Recognising a report in a message: 第一報 / 【第一報】 / #第一報 / 第1報 / 第N報 / 続報."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_KANJI_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_TRIGGER_RE = re.compile(
    r"^\s*[#＃]?\s*【?\s*(?:第\s*(?P<n>[0-9]+|[一二三四五六七八九十]+)\s*報|(?P<cont>続報))"
    r"(?P<sep>\s*】?[\s:：、,，。]*)"
)
# After 第一報 / 続報, a particle means the word is being talked about, not a report:
# 「第一報は届きましたか」「続報をお待ちしています」.
_NOT_A_REPORT = ("は", "を", "の", "が", "も", "へ", "と", "に", "や", "って", "について", "として")


@dataclass(frozen=True)
class Trigger:
    number: int | None  # 1 for 第一報, N for 第N報, None for 続報
    label: str
    body: str

    @property
    def is_first(self) -> bool:
        return self.number == 1


def _kanji_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_KANJI_DIGITS.get(tens, 1) * 10) + _KANJI_DIGITS.get(ones, 0)
    return _KANJI_DIGITS.get(text, 0)


def parse_trigger(text: str) -> Trigger | None:
    """Recognise 第一報 / 【第一報】 / #第一報 / 第1報 / 第N報 / 続報 at the start of a message."""
    normal = unicodedata.normalize("NFKC", text)
    match = _TRIGGER_RE.match(normal)
    if not match:
        return None
    rest = normal[match.end() :]
    if not match.group("sep") and rest.startswith(_NOT_A_REPORT):
        return None  # no separator, and a particle follows: talk about reports
    body = rest.strip()
    if match.group("cont"):
        return Trigger(None, "続報", body)
    number = _kanji_number(match.group("n"))
    if number < 1:
        return None
    label = "第一報" if number == 1 else f"第{number}報"
    return Trigger(number, label, body)
