"""The edits of `[earthquake]` and `[tsunami]` (what JMA's telegrams start, docs/CONFIG.md)
made on the settings page, and the validator's problems with them in Japanese.

kind / action / key / values (`Change`):
  earthquake       update (key None; values any of min_intensity and the RESPONSE fields)
  tsunami          update (key None; values any of categories and the RESPONSE fields)
  earthquake_area  add / update (key = the 地震情報／細分区域 code; values municipalities),
                   remove (key = the code)
  tsunami_region   the same for a 津波予報区 code and its coastal municipalities

A missing `[earthquake]` or `[tsunami]` table is added at the end of the file. Values are
written as given (minutes typed as digits become numbers, lists may be one string of codes
or words separated by commas or spaces): whether they are right is the validator's call, with
the start-up rules, and `message` says what it found wrong in Japanese.

`changes.Draft.apply` dispatches these kinds here (`EDITS`), handing over its `refuse`: this
module cannot import `changes` (which imports it; hotline's packages have no import cycles), so
it sees the draft and the change through the small protocols below.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import tomlkit
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

from hotline.config.editing import layout
from hotline.config.files import COUNTERPARTS_FILE
from hotline.config.loader import Problem
from hotline.config.model import INTENSITIES, MUNICIPALITY_ROLES, TSUNAMI_CATEGORIES, JmaResponse

RESPONSE = tuple(field.name for field in dataclasses.fields(JmaResponse))  # the keys both tables take
TABLES = {"earthquake": "areas", "tsunami": "regions"}  # the trigger's table -> its code table
AREA_KINDS = {"earthquake_area": "earthquake", "tsunami_region": "tsunami"}
KINDS = (*TABLES, *AREA_KINDS)
FIELDS = {
    "earthquake": {"min_intensity", *RESPONSE},
    "tsunami": {"categories", *RESPONSE},
    "earthquake_area": {"municipalities"},
    "tsunami_region": {"municipalities"},
}
LABELS = {
    "min_intensity": "震度の下限",
    "roll_call_roles": "実参集で尋ねる役職",
    "roll_call_supporters": "支援市町の職員への参集確認",
    "ask_first_report": "副市町長への第一報の依頼",
    "notify_rooms": "市町の関係トークルームへの通知",
    "drill_on_jma_drill": "気象庁の訓練電文での【訓練】",
    "deadline_minutes": "参集確認の締切（分）",
    "remind_minutes": "リマインド（分）",
    "categories": "動く津波の種類",
    "areas": "地域（地震情報／細分区域）",
    "regions": "津波予報区",
}
CODE_LABELS = {"earthquake": "地域コード（地震情報／細分区域）", "tsunami": "津波予報区コード"}
_SPLIT = re.compile(r"[\s,、，]+")
_INTENSITY_CHOICES = "・".join(level.replace("-", "弱").replace("+", "強") for level in INTENSITIES)


# -- the edits ------------------------------------------------------------------------------------


class Draft(Protocol):
    """What this module uses of `changes.Draft`: the documents of one save."""

    @property
    def main(self) -> TOMLDocument: ...

    def names(self) -> dict[str, str]: ...


class Change(Protocol):
    """What this module uses of `changes.Change`."""

    @property
    def kind(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def key(self) -> str | None: ...
    @property
    def values(self) -> Mapping[str, Any]: ...


# changes._refuse: (form field, Japanese message, found, expected) -> the Refusal to raise
Refuse = Callable[[str, str, str, str], Exception]


def edit_trigger(draft: Draft, change: Change, refuse: Refuse) -> None:
    """`[earthquake]` or `[tsunami]` update: each value given replaces the key's value, in
    its place and with its comment."""
    if change.action != "update":
        raise refuse("", f"{change.kind} は変更（update）だけができます", repr(change.action), "update")
    table = _table(draft, refuse, change.kind)
    for key, value in change.values.items():
        layout.set_value(table, key, tomlkit.item(_typed(key, value)))


def edit_codes(draft: Draft, change: Change, refuse: Refuse) -> None:
    """An area (地震情報／細分区域) or 津波予報区 of `[earthquake.areas]` / `[tsunami.regions]`
    and the municipalities it maps to: added, changed or removed."""
    trigger = AREA_KINDS[change.kind]
    code = str(change.key or "").strip()
    codes = _table(draft, refuse, trigger, TABLES[trigger])
    label = CODE_LABELS[trigger]
    if change.action == "add" and code in codes:
        raise refuse("code", f"{label} {code} は既に登録されています", f"{code} exists", "a new code")
    if change.action != "add" and code not in codes:
        raise refuse("code", f"{label} {code} は登録されていません", f"no {code}", "a registered code")
    if change.action == "remove":
        del codes[code]
        return
    municipalities = _words(change.values.get("municipalities", []))
    names = draft.names()
    old = layout.key_item(codes, code)
    before = [str(value) for value in codes.get(code, [])] if old is not None else []
    new = layout.codes_array(municipalities, old, names)
    opening = re.match(r"^\[[ \t]*(#[^\n]*)\n", old.as_string()) if old is not None else None
    if opening:  # `622 = [  # 愛媛県南予: 宇和島・…` keeps its comment, with the towns brought up to date
        said = _towns_said(opening.group(1), before, municipalities, names)
        new = layout.parsed_item(new.as_string().replace("[\n", f"[  {layout.comment_text(said)}\n", 1))
    comment = _towns_said(layout.key_comment(codes, code), before, municipalities, names)
    layout.set_value(codes, code, new)
    layout.set_comment(codes, code, comment)


EDITS: Mapping[str, Callable[[Draft, Change, Refuse], None]] = {
    "earthquake": edit_trigger,
    "tsunami": edit_trigger,
    "earthquake_area": edit_codes,
    "tsunami_region": edit_codes,
}


def _towns_said(comment: str, before: Sequence[str], after: Sequence[str], names: Mapping[str, str]) -> str:
    """A comment that lists the towns (`# 愛媛県東予: 今治・新居浜・西条`) listing the new ones,
    written the same way (with or without 市・町); any other comment stays as it is."""
    match = re.match(r"^(#[^:：]*[:：]\s*)(\S+)$", comment)
    said = match.group(2).split("・") if match else []
    if (
        not match
        or len(said) != len(before)
        or not all(names.get(code, "").startswith(word) for code, word in zip(before, said, strict=True))
    ):
        return comment
    short = any(word != names.get(code) for code, word in zip(before, said, strict=True))
    words = [names.get(code, code) for code in after]
    if short:
        words = [word[:-1] if word.endswith(("市", "町", "村")) and len(word) > 2 else word for word in words]
    return match.group(1) + "・".join(words)


def _table(draft: Draft, refuse: Refuse, trigger: str, sub: str | None = None) -> Table:
    """`[trigger]` (or `[trigger.sub]`), added at the end of the file when missing."""
    main = draft.main
    if trigger not in main:
        main.add(tomlkit.nl())
        main.add(trigger, tomlkit.table())
    table = main[trigger]
    if not isinstance(table, Table):  # `earthquake = {...}` written inline by hand
        raise refuse(
            "", f"[{trigger}] が表の形で書かれていないため、画面からは変更できません", "inline", "[table]"
        )
    if sub is None:
        return table
    if sub not in table:
        table.append(sub, tomlkit.table())
    found = table[sub]
    if not isinstance(found, Table):
        raise refuse(
            "",
            f"[{trigger}.{sub}] が表の形で書かれていないため、画面からは変更できません",
            "inline",
            "[table]",
        )
    return found


def _typed(key: str, value: Any) -> Any:
    """A form's text as the TOML value the validator expects (what it cannot read as such is
    written as it came, for the validator to refuse with the start-up rules)."""
    if key in ("roll_call_roles", "categories"):
        return _words(value)
    if key == "remind_minutes":
        return [_number(word) for word in _words(value)]
    if key == "deadline_minutes":
        return _number(value)
    return value


def _words(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [word for word in _SPLIT.split(value) if word]
    if isinstance(value, Sequence):
        return [word.strip() if isinstance(word, str) else word for word in value]
    return [value]


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


# -- the validator's problems ---------------------------------------------------------------------


def is_jma(problem: Problem) -> bool:
    return problem.file == COUNTERPARTS_FILE and problem.where.split(".")[0] in TABLES


def form_field(problem: Problem) -> str:
    """The field of the settings page a problem is about: the key of `[earthquake]` /
    `[tsunami]`, or for an area "code" (the area code itself) or "municipalities"."""
    parts = [part for part in re.split(r"\.|\[\d+\]", problem.where) if part]
    if len(parts) >= 3 and parts[1] in TABLES.values():
        return "code" if problem.expected.startswith("a 3-digit") else "municipalities"
    return parts[1] if len(parts) > 1 else ""


def message(problem: Problem) -> str | None:
    """A problem with `[earthquake]` / `[tsunami]` in Japanese; None for one the general
    explanations say well (an unknown municipality code, with the municipality's name)."""
    if not is_jma(problem) or problem.found.startswith("unknown municipality code"):
        return None
    trigger = problem.where.split(".")[0]
    field = form_field(problem)
    found = problem.found
    if found.startswith("unknown key "):
        return f"{found.removeprefix('unknown key ')} という項目は使えません"
    if field == "code":
        return f"{CODE_LABELS[trigger]}は3桁の数字で入力してください（入力: {_shown(found)}）"
    if field == "municipalities":
        if problem.expected == "a 6-digit municipality code":
            return f"市町コードは6桁の数字で入力してください（入力: {_shown(found)}）"
        return "市町を選んでください"
    if field == "min_intensity":
        return f"震度の下限は震度 {_INTENSITY_CHOICES} のいずれかです（入力: {_shown(found)}）"
    if field == "roll_call_roles":
        return (
            "実参集で尋ねる役職は "
            + "・".join(label for label, _ in MUNICIPALITY_ROLES.values())
            + " から選んでください"
        )
    if field == "categories":
        kinds = "・".join(reversed(TSUNAMI_CATEGORIES))
        return f"動く津波の種類は {kinds} から選んでください（入力: {_shown(found)}）"
    if field == "deadline_minutes":
        return f"参集確認の締切は 5〜1440 分の整数で入力してください（入力: {_shown(found)}）"
    if field == "remind_minutes":
        return "リマインドは締切より前の分数を「10, 20」のように入力してください"
    if field in ("roll_call_supporters", "ask_first_report", "notify_rooms", "drill_on_jma_drill"):
        return f"{LABELS[field]}はオンかオフで指定してください"
    return f"{LABELS.get(field, '気象庁の電文の設定')}が正しくありません（{problem.where}: {_shown(found)}）"


def _shown(found: str) -> str:
    """What the validator found, as an administrator reads it (its words for an empty value
    are English)."""
    return "空欄" if found in ("nothing", "an empty string", "an empty list") else found
