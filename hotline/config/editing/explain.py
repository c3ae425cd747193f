"""The validator's problems in Japanese, for the administrator who made the change, each
mapped to the form field to highlight. The validator (`hotline.config.load`) speaks English
with file, line and key path; the same `Problem` rides along in `FieldProblem.problem`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tomlkit.items import AoT

from hotline.config.editing import jma
from hotline.config.editing.changes import HQ_KEY, LABELS, Draft
from hotline.config.files import COUNTERPARTS_FILE, ROOMS_DIR
from hotline.config.loader import NO_GROUP, NO_SUPPORTERS
from hotline.config.model import Problem


@dataclass(frozen=True)
class FieldProblem:
    """One reason a save was refused, for the form that made it."""

    field: str  # the form field to highlight ("email", "municipalities", ...); "" for none
    message: str  # Japanese, for people
    problem: Problem  # the validator's own (English) account, with file, line and key path
    change: int | None = None  # index of the Change that could not be made at all, if known


def explain_stale() -> FieldProblem:
    """The files changed since the form was shown (someone else saved first)."""
    problem = Problem(
        "(configuration)",
        None,
        "(snapshot)",
        "files changed since the form was shown",
        "the configuration the change was made on",
    )
    message = "ほかの人が先に設定を変更しました。画面を読み込み直してから、もう一度変更してください。"
    return FieldProblem("", message, problem)


def explain_undo_stale() -> FieldProblem:
    """An undo refused: the files changed after the change being undone."""
    problem = Problem(
        "(configuration)",
        None,
        "(undo)",
        "files changed since the change being undone",
        "the files exactly as that change left them",
    )
    message = (
        "この変更の後に設定が変更されているため、元に戻せません（後の変更が失われるため）。"
        "新しい変更から順に元に戻すか、設定画面で直接修正してください。"
    )
    return FieldProblem("", message, problem)


def explain_undo_broken(why: str) -> FieldProblem:
    """An undo refused because the recorded difference cannot be applied to the files."""
    problem = Problem(
        "(configuration)", None, "(undo)", f"a diff that cannot be reversed ({why})", "the diff"
    )
    message = (
        "記録された差分を今のファイルに当てはめられないため、元に戻せません。設定画面で直接修正してください。"
    )
    return FieldProblem("", message, problem)


def explain_layout(exc: Exception, change: int) -> FieldProblem:
    """tomlkit could not make change number `change` in the file as it is written by hand."""
    problem = Problem(COUNTERPARTS_FILE, None, "(edit)", f"tomlkit refused the edit ({exc})", "an edit")
    message = "ファイルの書き方のため、この変更は画面からはできません。ファイルを直接編集してください"
    return FieldProblem("", message, problem, change)


def explain(draft: Draft, problems: Sequence[Problem]) -> list[FieldProblem]:
    """The validator's problems with the save in `draft`, for people and form fields."""
    # a malformed e-mail also leaves the person "without an identity": say it once
    identity_fields = {(p.file, p.where) for p in problems if p.where.endswith((".email", ".user_id"))}
    return [
        FieldProblem(_field_of(p), message(draft, p), p)
        for p in problems
        if not (
            p.found == "neither email nor user_id"
            and {(p.file, f"{p.where}.email"), (p.file, f"{p.where}.user_id")} & identity_fields
        )
    ]


def message(draft: Draft, problem: Problem) -> str:
    """The problem in Japanese, for the administrator who made the change."""
    if (said := jma.message(problem)) is not None:  # [earthquake] / [tsunami]: editing/jma.py
        return said
    found, expected, where = problem.found, problem.expected, problem.where
    names = draft.names()

    def town(code: str) -> str:
        name = names.get(code) or draft.removed_codes.get(code)
        return f"{name}（{code}）" if name else code

    if where == "(syntax)":
        line = f"（{problem.line}行目）" if problem.line else ""
        return f"{problem.file} の書式（TOML）が正しくありません{line}"
    if where == "(file)":
        return f"{problem.file} を読み込めません"
    if where == "(rooms)":
        return (
            '県本部のトークルーム（link = "hq"）が1つもありません。すべての報告は県本部に届く必要があります'
        )
    match = re.match(r"^(\S+) already registered for (.+) \(line [^)]*\)$", found)
    if match:
        identity, other = match.group(1), match.group(2)
        what = "メールアドレス" if "@" in identity else "ユーザーID（userId）"
        # The validator flags whichever of the two comes later in the file; when that is
        # the person already there, the one being edited is the other: name this one.
        owner, owner_name = _owner_of(draft, where)
        owners = {who for known, who in draft.touched if known == identity}
        if owners and owner not in owners:
            other = owner_name
        return f"この{what}は {other} に登録済みです"
    if found == "neither email nor user_id":
        return "メールアドレスかユーザーID（userId）のどちらかを入力してください"
    match = re.match(r"^unknown municipality code (\S+)$", found)
    if match:
        code = match.group(1)
        if code in draft.removed_codes and where.endswith(".stricken"):
            return (
                f"{town(code)}には支援市町の割当てがあるため、削除やコードの変更はできません。"
                "先に割当てを削除してください"
            )
        if code in draft.removed_codes:
            return (
                f"{town(code)}は{_context(draft, problem)}で使われているため、"
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
        if match.group(1) in draft.removed_groups:
            return (
                f"グループ {match.group(1)} はトークルーム（{problem.file}）で使われているため、"
                "削除やIDの変更はできません。先にルームの連携先を変えるか、ルームを削除してください"
            )
        return f"グループ {match.group(1)} は登録されていません"
    match = re.match(r"^(\S+) already used by (\S+)$", found)
    if match:
        return f"チャンネルID {match.group(1)} が {match.group(2)} と {problem.file} で重複しています"
    if ".escalation.chain[" in where and found.endswith(", not a member of this municipality"):
        who = found.removesuffix(", not a member of this municipality").strip("'")
        return (
            f"{who} は県本部が電話する順番（escalation）に入っているため、削除やメールアドレス・氏名の"
            "変更はできません。先に counterparts.toml の escalation を直してください"
        )
    if ".escalation.chain[" in where and found.endswith(" without a phone number"):
        who = found.removesuffix(" without a phone number")
        return f"{who} は県本部が電話する順番（escalation）に入っているため、電話番号が必要です"
    label = _label_of(where)
    if found.startswith("a control character "):
        return f"{label}に改行・タブなどの制御文字は使えません"
    if found == "an empty list" and where.endswith("members"):
        return "メンバーを1人以上登録してください"
    if found in ("nothing", "an empty string"):
        return f"{label}を入力してください"
    if found.startswith("unknown key "):
        return f"{label} という項目は使えません"
    if expected == "an e-mail address":
        return "メールアドレスの形式が正しくありません"
    match = re.match(r"^(\d{6}) with a wrong check digit", found)
    if match:
        what = "県コード" if where.startswith("prefecture") else "市町コード"
        return (
            f"{what} {match.group(1)} は正しくありません（6桁目の検査数字が合いません）。"
            "全国地方公共団体コードを確認してください"
        )
    match = re.match(r"^(\d{6}) of another prefecture", found)
    if match:
        prefecture = draft.main.get("prefecture")
        name = str(prefecture.get("name", "")) if isinstance(prefecture, Mapping) else ""
        digits = match.group(1)
        first = expected.split("starting with ")[-1][:2]
        return f"市町コード {digits} は{name or 'この県'}のコードではありません（{first} で始まるコードです）"
    if where.endswith("phone"):
        return "電話番号の形式が正しくありません（例: 089-912-2000、090-1234-5678、+81-89-912-2000）"
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


def _owner_of(draft: Draft, where: str) -> tuple[str, str]:
    """(code or "hq", name) of the municipality or HQ a member's key path is in."""
    if where.startswith("hq."):
        hq = draft.main.get("hq")
        return HQ_KEY, str(hq.get("name", "県本部")) if isinstance(hq, Mapping) else "県本部"
    match = re.match(r"^municipalities\[(\d+)\]", where)
    aot = draft.main.get("municipalities")
    if match and isinstance(aot, AoT) and int(match.group(1)) < len(aot):
        table = aot[int(match.group(1))]
        return str(table.get("code", "")), str(table.get("name", ""))
    return "", ""


def _context(draft: Draft, problem: Problem) -> str:
    """Where a reference is, in words: グループ「…」, …の支援市町の割当て, トークルーム …"""
    match = re.match(r"^(groups|counterparts)\[(\d+)\]", problem.where)
    if problem.file == COUNTERPARTS_FILE and match:
        aot = draft.main.get(match.group(1))
        index = int(match.group(2))
        if isinstance(aot, AoT) and index < len(aot):
            table = aot[index]
            if match.group(1) == "groups":
                return f"グループ「{table.get('name', table.get('id', ''))}」"
            stricken = str(table.get("stricken", ""))
            name = draft.names().get(stricken) or draft.removed_codes.get(stricken) or stricken
            return f"{name}の支援市町の割当て"
    if problem.file.startswith(f"{ROOMS_DIR}/"):
        return f"トークルーム（{problem.file}）"
    jma = re.match(r"^(earthquake\.areas|tsunami\.regions)\.(\d+)", problem.where)
    if problem.file == COUNTERPARTS_FILE and jma:  # edited on the JMA settings page
        return f"気象庁の電文の設定（{problem.file} の [{jma.group(1)}] {jma.group(2)}）"
    return problem.file


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
    return LABELS.get(last, last)


_WEAK_RE = re.compile(r"^(.+) \((\d{6})\) with (.+)$")


def warning_message(problem: Problem) -> str:
    """A `Config.warnings` entry in Japanese (a town in no group and/or without supporters)."""
    match = _WEAK_RE.match(problem.found)
    if not match:
        return str(problem)
    town, code, missing = match.groups()
    if NO_GROUP in missing and NO_SUPPORTERS in missing:
        return (
            f"{town}（{code}）はどのグループにも入っておらず、支援市町の割当てもありません。"
            "第一報は県本部と自分の市町のルームにしか届きません"
        )
    if NO_GROUP in missing:
        return f"{town}（{code}）はどのグループにも入っていません。グループのルームには第一報が届きません"
    return f"{town}（{code}）には支援市町（一次支援市）の割当てがありません"
