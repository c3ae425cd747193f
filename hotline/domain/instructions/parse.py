"""Recognising an HQ instruction (【指示】 / 【依頼】), its addressees, and a town's 【回答】.

The chat syntax, kept small for a phone at night:

    【指示】宛先: 宇和島市、松野町
    避難所の開設状況を15時までに報告してください。

The 宛先 line is optional (without it: every town); it names towns (name or code), counterpart
groups (name, with or without its spaces, or id) or 全市町, separated by 、 or commas. The
marker needs its brackets, so talk about instructions (「指示を待っています」) or HQ chatter
(「依頼: 資料お願いします」) is not one.

A town's answer may name the instruction by the number its message shows (「指示 #7」):

    【回答】#7 被害はありません。

(`answer_ref`; 「【回答】7 …」 too, when 7 is an instruction to the town).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from hotline import messages as msg
from hotline.config import Config

_MARKER_RE = re.compile(r"^\s*[#＃]?\s*【\s*(?P<b>指示|依頼|回答)\s*】")
# 「#7 …」, 「#7被害なし」 or 「7 …」 (NFKC: full-width ＃７ too); a bare number needs a space or
# line after it, so 「120名が避難」 is text
_REF_RE = re.compile(r"^(?:#\s*(?P<hash>[0-9]{1,12})|(?P<id>[0-9]{1,12})(?=\s|$))")
_ADDRESS_RE = re.compile(r"^宛先\s*:\s*(?P<names>[^\n]*)(?:\n|$)")
_SEPARATORS = re.compile(r"[、,・/]+")
_ALL = frozenset({msg.ALL_TOWNS, "全て", "すべて", "全部", "全域", "全市町村"})
KINDS = {"指示": "instruction", "依頼": "request", "回答": "answer"}


@dataclass(frozen=True)
class Draft:
    """What a message asks: `kind` instruction | request | answer, the 宛先 names as written
    (empty: every town; always empty for an answer) and the text after them."""

    kind: str
    names: tuple[str, ...]
    body: str

    @property
    def label(self) -> str:
        return msg.ANSWER_LABEL if self.kind == "answer" else msg.INSTRUCTION_LABELS[self.kind]


@dataclass(frozen=True)
class Addressees:
    codes: tuple[str, ...]  # municipality codes, in the configuration's order
    text: str  # how the instruction names them: 全市町, or the names as resolved
    unknown: tuple[str, ...]  # names that matched no town or group (then nothing is sent)


def parse(text: str) -> Draft | None:
    """The instruction, request or answer a message starts with; None for anything else."""
    normal = unicodedata.normalize("NFKC", text)
    match = _MARKER_RE.match(normal)
    if match is None:
        return None
    kind = KINDS[match.group("b")]
    rest = normal[match.end() :].lstrip(" \t\u3000:")
    names: tuple[str, ...] = ()
    if kind != "answer":
        rest = rest.lstrip()
        address = _ADDRESS_RE.match(rest)
        if address is not None:
            names = tuple(n.strip() for n in _SEPARATORS.split(address.group("names")) if n.strip())
            rest = rest[address.end() :]
    return Draft(kind, names, rest.strip())


def answer_ref(body: str) -> tuple[int | None, bool, str]:
    """The instruction number an answer's text starts with: (the number, whether it was
    written with 「#」, the text after it); (None, False, body) when it starts with none."""
    match = _REF_RE.match(body)
    if match is None:
        return None, False, body
    hashed = match.group("hash") is not None
    number = int(match.group("hash") if hashed else match.group("id"))
    return number, hashed, body[match.end() :].lstrip(" \t\n:、,").strip()


def _squash(value: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value))


def resolve(config: Config, names: tuple[str, ...] | list[str]) -> Addressees:
    """The towns `names` address: no names (or 全市町) is every town; a group is its towns."""
    if not names or any(_squash(n) in _ALL for n in names):
        return Addressees(tuple(config.municipalities), msg.ALL_TOWNS, ())
    by_name = {_squash(m.name): code for code, m in config.municipalities.items()}
    groups = {_squash(g.name): g for g in config.groups.values()} | {g.id: g for g in config.groups.values()}
    chosen: set[str] = set()
    shown: list[str] = []
    unknown: list[str] = []

    def one(name: str) -> bool:
        key = _squash(name)
        code = key if key in config.municipalities else by_name.get(key)
        if code is not None:
            chosen.add(code)
            shown.append(config.municipalities[code].name)
            return True
        # a group by its name, its id, or the end of its name (「第1グループ」) when only one ends so
        group = groups.get(key)
        if group is None and len(key) > 1:
            ending = {g.id: g for n, g in groups.items() if n.endswith(key)}
            group = next(iter(ending.values())) if len(ending) == 1 else None
        if group is None:
            return False
        chosen.update(group.municipalities)
        shown.append(group.name)
        return True

    for name in names:
        # 「チームえひめ 第1グループ」 is one name with a space; 「宇和島市 松野町」 is two
        if not one(name):
            unknown.extend(part for part in name.split() if not one(part))
    codes = tuple(code for code in config.municipalities if code in chosen)
    return Addressees(codes, "、".join(dict.fromkeys(shown)), tuple(unknown))
