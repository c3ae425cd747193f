"""The edits themselves: each `Change` (a web form's or the CLI's) made on the tomlkit
documents of one save (`Draft`), or refused with a reason (`Refusal`) when it cannot be
made at all. Whether the result is a valid configuration is the validator's call, made
afterwards by `session.apply`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table
from tomlkit.toml_document import TOMLDocument

from hotline.config.editing import jma, layout
from hotline.config.files import COUNTERPARTS_FILE, ROOMS_DIR
from hotline.config.model import HQ_ROLES, MUNICIPALITY_ROLES, ROOM_LINKS, Problem, names_a_town

KINDS = ("municipality", "member", "group", "counterpart", "room", *jma.KINDS)
ACTIONS = ("add", "update", "remove")
HQ_KEY = "hq"  # Change.key for adding a member to the HQ

# the fields each kind accepts in Change.values
_FIELDS = {
    "municipality": {"code", "name", "members"},
    "member": {"name", "role", "email", "user_id", "phone", "order", "municipality"},
    "group": {"id", "name", "municipalities"},
    "counterpart": {"primary", "secondary"},
    "room": {"title", "link", "group", "municipality", "channel_id"},
    **jma.FIELDS,
}
_MEMBER_KEYS = ("name", "role", "email", "user_id")
_ROOM_STEM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ROLE_LABELS = {label for pair in MUNICIPALITY_ROLES.values() for label in pair} | set(HQ_ROLES.values())

# The fields in Japanese: in refusals here and in the explanations of `explain`.
LABELS = {
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
    "phone": "電話番号",
}


@dataclass(frozen=True)
class Change:
    """One edit, as a web form or the CLI expresses it.

    kind / action / key:
      municipality  add (values code, name, members: [{name, role, email, user_id}, ...]),
                    update (key = code; values name, code), remove (key = code)
      member        add (key = municipality code or "hq"; values name, role, email,
                    user_id, phone, order), update (key = the member's e-mail or userId;
                    values any of name, role, email, user_id, phone, order, municipality — a code or "hq",
                    to transfer the person), remove (key = e-mail or userId)
      group         add (values id, name, municipalities), update (key = group id; values
                    id, name, municipalities), remove (key = group id)
      counterpart   add / update (key = the stricken municipality's code; values primary,
                    secondary), remove (key = stricken code)
      earthquake, tsunami, earthquake_area, tsunami_region: see hotline/config/editing/jma.py
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


class Refusal(Exception):
    """A change that cannot be made at all, found before validation: the form field, a
    Japanese message and the `Problem` behind it."""

    def __init__(self, field: str, message: str, where: str, found: str, expected: str, file: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.problem = Problem(file, None, where, found, expected)


def _refuse(
    field: str, message: str, found: str, expected: str, *, where: str = "", file: str = ""
) -> Refusal:
    return Refusal(field, message, where or field, found, expected, file or COUNTERPARTS_FILE)


def _not_editable(key: str) -> Refusal:
    return _refuse(
        key,
        f"{LABELS.get(key, key)}が [[{key}]] の形で書かれていないため、画面からは変更できません。"
        "ファイルを直接編集してください",
        f"{key} written as an inline array",
        f"[[{key}]] tables",
    )


def _set_phone(person: Table, value: Any) -> None:
    """The optional phone number: written when given, the key removed when emptied (a file
    without `phone` lines stays as it was)."""
    phone = _text(value, "phone")
    if phone:
        layout.set_value(person, "phone", phone)
    elif "phone" in person:
        del person["phone"]


class Draft:
    """The files of one save being edited: the text before, the tomlkit documents after,
    and what the edits removed or touched (for `explain`)."""

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
        if change.kind in jma.EDITS:  # the JMA kinds, made in jma.py (which cannot import this module)
            jma.EDITS[change.kind](self, change, _refuse)
        else:
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
        except Refusal:
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
        layout.set_value(self.main, key, aot)
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
            layout.insert_entry(self.main, aot, len(aot), table)
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
            layout.remove_entry(self.main, aot, index)
            return
        if "name" in values:
            layout.set_value(table, "name", _text(values["name"], "name"))
        if "code" in values:
            code = _text(values["code"], "code")
            if code != str(table.get("code")):
                self.removed_codes[str(table.get("code"))] = str(table.get("name", ""))
            layout.set_value(table, "code", code)

    # members -------------------------------------------------------------------------

    def _member(self, change: Change) -> None:
        values = change.values
        if change.action == "add":
            self._add_member(*self.owner(change.key), values)
            return
        owner, municipality, aot, index = self.find_member(change.key)
        if change.action == "remove":
            layout.remove_entry(self.main, aot, index)
            return
        person = aot[index]
        labelled = _role_label_of(person)
        for key in _MEMBER_KEYS:
            if key in values:
                layout.set_value(person, key, _text(values[key], key))
        if "phone" in values:
            _set_phone(person, values["phone"])
        target = _text(values["municipality"], "municipality") if "municipality" in values else owner
        self.touch(person, target)
        if target != owner or "order" in values:
            layout.remove_entry(self.main, aot, index)
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
        _set_phone(person, values.get("phone", ""))
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
            layout.insert_entry(self.main, aot, position, person)
        elif municipality is not None:
            if municipality.get("members"):  # `members = [{...}]` written by hand
                raise _not_editable("members")
            layout.add_array_of_tables(municipality, "members", person)
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
            table["municipalities"] = layout.codes_array(codes, None, self.names())
            aot = self.aot("groups")
            layout.insert_entry(self.main, aot, len(aot), table)
            return
        aot, index = self.entry("groups", "id", change.key, "グループ")
        table = aot[index]
        if change.action == "remove":
            self.removed_groups.add(str(table.get("id")))
            layout.remove_entry(self.main, aot, index)
            return
        if "id" in values:
            new_id = _text(values["id"], "id")
            if new_id != str(table.get("id")):
                self.removed_groups.add(str(table.get("id")))
            layout.set_value(table, "id", new_id)
        if "name" in values:
            layout.set_value(table, "name", _text(values["name"], "name"))
        if "municipalities" in values:
            codes = _codes(values["municipalities"], "municipalities")
            old = layout.key_item(table, "municipalities")
            comment = layout.key_comment(table, "municipalities")
            layout.set_value(table, "municipalities", layout.codes_array(codes, old, self.names()))
            layout.set_comment(table, "municipalities", comment)

    # counterparts --------------------------------------------------------------------

    def _counterpart(self, change: Change) -> None:
        values = change.values
        names = self.names()
        stricken = _text(change.key or "", "stricken")
        if change.action == "add":
            aot = self.aot("counterparts")
            commented = any(layout.key_comment(other, "stricken") for other in aot)
            table = tomlkit.table()
            table["stricken"] = stricken
            table["primary"] = _text(values.get("primary", ""), "primary")
            secondary = _codes(values.get("secondary", []), "secondary")
            table["secondary"] = layout.codes_array(secondary, layout.parsed_item("[]"), names)
            if commented:
                for key, codes in (
                    ("stricken", [stricken]),
                    ("primary", [str(table["primary"])]),
                    ("secondary", secondary),
                ):
                    label = "・".join(names[code] for code in codes if code in names)
                    if label:
                        layout.set_comment(table, key, label)
            layout.insert_entry(self.main, aot, len(aot), table)
            return
        aot, index = self.entry("counterparts", "stricken", stricken, "被災市町の割当て")
        table = aot[index]
        if change.action == "remove":
            layout.remove_entry(self.main, aot, index)
            return
        if "primary" in values:
            old_primary = str(table.get("primary", ""))
            primary = _text(values["primary"], "primary")
            comment = layout.key_comment(table, "primary")
            layout.set_value(table, "primary", primary)
            layout.set_comment(
                table,
                "primary",
                layout.renamed(comment, names.get(old_primary, ""), names.get(primary, primary)),
            )
        if "secondary" in values:
            old_codes = [str(code) for code in table.get("secondary", [])]
            codes = _codes(values["secondary"], "secondary")
            old = layout.key_item(table, "secondary") or layout.parsed_item("[]")
            comment = layout.key_comment(table, "secondary")
            layout.set_value(table, "secondary", layout.codes_array(codes, old, names))
            old_label = "・".join(names.get(code, code) for code in old_codes)
            new_label = "・".join(names.get(code, code) for code in codes)
            layout.set_comment(table, "secondary", layout.renamed(comment, old_label, new_label))

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
                f"title = {layout.toml_value(_text(values.get('title', ''), 'title'))}",
                f"channel_id = {layout.toml_value(_text(values.get('channel_id', ''), 'channel_id'))}",
                f"link = {layout.toml_value(_text(values.get('link', ''), 'link'))}",
            ]
            for key in ("group", "municipality"):
                if values.get("link") == key and key in values:
                    code = _text(values[key], key)
                    name = self.names().get(code) if key == "municipality" else None
                    comment = f"  # {layout.comment_text(name)}" if name else ""
                    lines.append(f"{key} = {layout.toml_value(code)}{comment}")
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
                layout.set_value(document, key, _text(values[key], key))
        link = str(document.get("link", ""))
        for key in ("group", "municipality"):
            if link in ROOM_LINKS and key != link and key in document:
                del document[key]
            elif key == link and key in values:
                code = _text(values[key], key)
                old = str(document.get(key, ""))
                comment = layout.key_comment(document, key)
                layout.set_value(document, key, code)
                if key == "municipality":
                    names = self.names()
                    layout.set_comment(
                        document, key, layout.renamed(comment, names.get(old, ""), names.get(code, code))
                    )


def _role_label_of(person: Table) -> bool:
    comment = person.trivia.comment.lstrip("#").strip()
    return comment in _ROLE_LABELS


def _label(person: Table, municipality: Table | None) -> None:
    """Keep the role comment on the member's header (`# 副市長`) in step with the role."""
    role = str(person.get("role", ""))
    if municipality is None:
        label = HQ_ROLES.get(role)
    else:
        town = names_a_town(str(municipality.get("name", "")))
        pair = MUNICIPALITY_ROLES.get(role)
        label = pair[1 if town else 0] if pair else None
    if label:
        person.trivia.comment_ws = person.trivia.comment_ws or "  "
        person.trivia.comment = f"# {label}"


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _refuse(name, f"{LABELS.get(name, name)}は文字で入力してください", repr(value), "a string")
    return value.strip()


def _codes(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [code for code in re.split(r"[\s,、，]+", value) if code]
    if isinstance(value, Sequence) and all(isinstance(code, str) for code in value):
        return [code.strip() for code in value if code.strip()]
    raise _refuse(
        name, f"{LABELS.get(name, name)}は市町コードの一覧で入力してください", repr(value), "a list of codes"
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
