"""Editing the configuration (`hotline.config.editing`): each edit on a copy of the sample,
validated like at start-up, refused with reasons and nothing written when invalid, written
back keeping comments and formatting, atomically, and used by the running bot at once."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hotline.clock import FixedClock, iso
from hotline.config import COUNTERPARTS_FILE, Config, load
from hotline.config import editing as config_edit
from hotline.config.editing import Change, Outcome, apply, snapshot
from hotline.config.settings import Credentials, Settings
from hotline.domain.reminders import Reminders
from hotline.runtime.service import Hotline
from tests.support.bot import ROOT, T0

MAIN = COUNTERPARTS_FILE


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(ROOT / MAIN, folder / MAIN)
    shutil.copytree(ROOT / "rooms", folder / "rooms")
    return folder


def files(root: Path) -> dict[str, bytes]:
    """Every file under the configuration folder, byte for byte (temp files included)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def text(root: Path, rel: str = MAIN) -> str:
    return (root / rel).read_text(encoding="utf-8")


def ok(root: Path, *changes: Change) -> Outcome:
    outcome = apply(root, changes)
    assert outcome.ok, [(p.field, p.message, str(p.problem)) for p in outcome.problems]
    assert outcome.config is not None
    return outcome


def refused(root: Path, *changes: Change) -> Outcome:
    """Apply, expect a refusal, and check that nothing at all was written."""
    before = files(root)
    outcome = apply(root, changes)
    assert not outcome.ok and outcome.problems and outcome.config is None and outcome.diff == ""
    assert files(root) == before
    return outcome


def messages(outcome: Outcome) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in outcome.problems]


def diff_lines(outcome: Outcome) -> tuple[list[str], list[str]]:
    lines = [line for line in outcome.diff.splitlines() if not line.startswith(("---", "+++"))]
    return [line[1:] for line in lines if line.startswith("-")], [
        line[1:] for line in lines if line.startswith("+")
    ]


def emails(config: Config, code: str) -> list[str]:
    return [m.email for m in config.municipalities[code].members]


# --------------------------------------------------------------------------------------
# Members


def test_updating_an_email_rewrites_that_one_line_and_keeps_every_comment(root: Path) -> None:
    before = text(root)
    outcome = ok(
        root, Change("member", "update", "bosai@uwajima.example", {"email": "bosai.new@uwajima.example"})
    )
    after = text(root)
    assert diff_lines(outcome) == (
        ['email = "bosai@uwajima.example"'],
        ['email = "bosai.new@uwajima.example"'],
    )
    assert after == before.replace('"bosai@uwajima.example"', '"bosai.new@uwajima.example"')
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#") or "  # " in line]
    assert len(comments) > 60 and all(line in after.splitlines() for line in comments)
    config = load(root)
    assert config.member_by_identity("bosai.new@uwajima.example") is not None
    assert config.member_by_identity("bosai@uwajima.example") is None
    assert outcome.config is not None and outcome.config.member_by_identity("bosai.new@uwajima.example")
    assert outcome.files == (MAIN,) and outcome.snapshot == snapshot(root)


def test_member_can_be_found_by_user_id_and_renamed(root: Path) -> None:
    ok(root, Change("member", "update", "2f6c1e8a-5b3d-4c7e-9a21-6d4b8f0c3e57", {"name": "兵頭 浩"}))
    assert load(root).municipalities["382035"].members[0].name == "兵頭 浩"


def test_adding_a_member_appends_with_a_role_label_and_keeps_the_banner_below(root: Path) -> None:
    outcome = ok(
        root,
        Change(
            "member", "add", "385069", {"name": "新居 一郎", "role": "staff", "email": "new@ainan.example"}
        ),
    )
    config = load(root)
    added = config.municipalities["385069"].members[-1]
    assert (added.name, added.email, added.order) == ("新居 一郎", "new@ainan.example", 5)
    after = text(root)
    block = (
        '[[municipalities.members]]  # 担当職員\nname = "新居 一郎"\nrole = "staff"\n'
        'email = "new@ainan.example"\nuser_id = ""\n\n# -----'
    )
    assert block in after  # the new member sits above the "Counterpart groups" banner
    removed, added_lines = diff_lines(outcome)
    assert removed == [] and len(added_lines) == 6


def test_adding_a_member_at_a_position_and_to_the_hq(root: Path) -> None:
    ok(
        root,
        Change(
            "member",
            "add",
            "382035",
            {"name": "前 一", "role": "staff", "email": "mae@uwajima.example", "order": 0},
        ),
        Change("member", "add", "hq", {"name": "本部 員", "role": "hq_staff", "user_id": "u-hq-new"}),
    )
    config = load(root)
    assert emails(config, "382035")[0] == "mae@uwajima.example"
    assert config.hq_members[-1].user_id == "u-hq-new" and config.hq_members[-1].municipality_code is None
    # the HQ list is followed by the "Municipalities" banner, still in its place
    assert 'user_id = "u-hq-new"\n\n# ----' in text(root)


def test_reordering_members_changes_the_order_reminders_reach_them(root: Path) -> None:
    assert emails(load(root), "382035")[-1] == "shicho@uwajima.example"
    outcome = ok(root, Change("member", "update", "shicho@uwajima.example", {"order": 0}))
    config = load(root)
    assert emails(config, "382035")[:2] == ["shicho@uwajima.example", "fukushicho@uwajima.example"]
    assert [m.order for m in config.municipalities["382035"].members] == [0, 1, 2, 3, 4]
    removed, added = diff_lines(outcome)  # the moved block only, not the whole list
    assert len(removed) == len(added) == 6

    class NoMessagesYet:
        def has_message(self, key: str) -> bool:
            return False

    report = {
        "id": 7,
        "kind": "followup",
        "label": "第1報",
        "municipality_code": "384844",
        "created_at": iso(T0),
        "text": "浸水",
    }
    reminders = Reminders(NoMessagesYet(), lambda: config, FixedClock(T0), bot_secret="s")  # type: ignore[arg-type]
    rows = reminders._reminders(config, report, "382035")
    assert [row.user_id for row in rows] == [m.key for m in config.municipalities["382035"].members]
    assert rows[0].user_id == "shicho@uwajima.example"


def test_changing_a_role_keeps_the_header_label_in_step(root: Path) -> None:
    ok(root, Change("member", "update", "fukuchocho@ainan.example", {"role": "mayor"}))
    assert '[[municipalities.members]]  # 町長\nname = "西村 文夫"\nrole = "mayor"' in text(root)
    assert load(root).municipalities["385069"].members[0].role == "mayor"


def test_removing_members_first_last_and_hq(root: Path) -> None:
    before = text(root)
    ok(
        root,
        Change("member", "remove", "fukushicho@matsuyama.example"),
        Change("member", "remove", "shicho.shien@pref-ehime.example"),
    )
    config = load(root)
    assert emails(config, "382019")[0] == "bosai@matsuyama.example"
    assert [m.email for m in config.hq_members][-1] == "kiki.kanri@pref-ehime.example"
    after = text(root)
    assert "# Municipalities (20 cities and towns)" in after
    for gone in ("越智 直樹", "羽藤 明日香"):
        assert gone in before and gone not in after
    assert '[[municipalities.members]]  # 副市長\nname = "越智 直樹"' not in after
    assert 'name = "松山市"\n\n[[municipalities.members]]  # 防災担当部長' in after


def test_transferring_a_member_to_another_municipality(root: Path) -> None:
    ok(
        root,
        Change("member", "update", "bosai.tanto@uwajima.example", {"municipality": "384844", "order": "1"}),
    )
    config = load(root)
    assert "bosai.tanto@uwajima.example" not in emails(config, "382035")
    assert emails(config, "384844")[1] == "bosai.tanto@uwajima.example"
    person = config.member_by_identity("bosai.tanto@uwajima.example")
    assert person is not None and person.municipality_code == "384844"


def test_member_add_then_remove_gives_back_the_same_file(root: Path) -> None:
    original = files(root)
    for code, position in (("385069", None), ("382035", 0), ("382035", 2), ("hq", None)):
        values: dict[str, Any] = {"name": "往復 太郎", "role": "hq_staff" if code == "hq" else "staff"}
        values["email"] = "round.trip@example.example"
        if position is not None:
            values["order"] = position
        ok(root, Change("member", "add", code, values))
        ok(root, Change("member", "remove", "round.trip@example.example"))
        assert files(root) == original, (code, position)


# --------------------------------------------------------------------------------------
# Municipalities


def test_municipality_add_with_members_then_rename_then_remove(root: Path) -> None:
    original = files(root)
    members = [
        {"name": "新 副町長", "role": "deputy_mayor", "email": "fuku@shin.example"},
        {"name": "新 担当", "role": "staff", "email": "tanto@shin.example", "user_id": ""},
    ]
    ok(root, Change("municipality", "add", None, {"code": "389994", "name": "新町", "members": members}))
    config = load(root)
    assert config.municipalities["389994"].name == "新町"
    assert emails(config, "389994") == ["fuku@shin.example", "tanto@shin.example"]
    assert '[[municipalities.members]]  # 副町長\nname = "新 副町長"' in text(root)
    assert text(root).index('code = "389994"') < text(root).index("# Counterpart groups")
    ok(root, Change("municipality", "update", "389994", {"name": "新村"}))
    assert load(root).municipalities["389994"].name == "新村"
    ok(root, Change("municipality", "update", "389994", {"name": "新町"}))
    ok(root, Change("municipality", "remove", "389994"))
    assert files(root) == original


def test_removing_a_municipality_still_referenced_is_refused_with_where_it_is_used(root: Path) -> None:
    outcome = refused(root, Change("municipality", "remove", "382035"))
    by_field = dict(messages(outcome))
    # 622 and 600: the sample's [earthquake.areas] and [tsunami.regions] (JMA telegrams)
    assert set(by_field) == {"municipalities", "stricken", "municipality", "622", "600"}
    assert "気象庁の電文の設定（counterparts.toml の [earthquake.areas] 622）" in by_field["622"]
    assert by_field["municipalities"].startswith(
        "宇和島市（382035）はグループ「チームえひめ 第1グループ」で使われている"
    )
    assert "削除" in by_field["municipalities"]
    assert by_field["stricken"].startswith("宇和島市（382035）には支援市町の割当てがある")
    assert "トークルーム（rooms/municipality-382035.toml）" in by_field["municipality"]
    assert all(p.problem.found == "unknown municipality code 382035" for p in outcome.problems)


def test_duplicate_municipality_code_and_name_are_refused(root: Path) -> None:
    person = {"name": "重 複", "role": "staff", "email": "dup@dup.example"}
    outcome = refused(
        root, Change("municipality", "add", None, {"code": "382035", "name": "新宇和島", "members": [person]})
    )
    assert ("code", "市町コード 382035 は既に登録されています") in messages(outcome)
    outcome = refused(root, Change("municipality", "update", "382027", {"name": "宇和島市"}))
    assert ("name", "市町名 宇和島市 は既に登録されています") in messages(outcome)


def test_a_municipality_without_members_is_refused(root: Path) -> None:
    outcome = refused(root, Change("municipality", "add", None, {"code": "389994", "name": "新町"}))
    assert messages(outcome) == [("members", "メンバーを入力してください")]


# --------------------------------------------------------------------------------------
# Groups


def test_group_update_of_its_list_shows_only_the_changed_lines(root: Path) -> None:
    codes = ["382019", "382108", "384011", "382078", "384224", "382141"]  # 砥部町 out, 西予市 in
    outcome = ok(root, Change("group", "update", "team3", {"municipalities": codes, "name": "第3"}))
    assert diff_lines(outcome) == (
        ['name = "チームえひめ 第3グループ"', '    "384020",  # 砥部町'],
        ['name = "第3"', '    "382141",  # 西予市'],
    )
    group = load(root).groups["team3"]
    assert group.municipalities == tuple(codes) and group.name == "第3"


def test_group_and_its_room_added_together_then_removed_together(root: Path) -> None:
    original = files(root)
    outcome = ok(
        root,
        Change(
            "group", "add", None, {"id": "nanyo", "name": "南予", "municipalities": "382035, 382043 384429"}
        ),
        Change("room", "add", None, {"title": "南予 ホットライン", "link": "group", "group": "nanyo"}),
    )
    assert outcome.files == (MAIN, "rooms/group-nanyo.toml")  # the group exists before its room
    config = load(root)
    assert config.groups["nanyo"].municipalities == ("382035", "382043", "384429")
    room = next(r for r in config.rooms if r.key == "group-nanyo")
    assert (room.link, room.target, room.channel_id, room.path) == (
        "group",
        "nanyo",
        "",
        root / "rooms/group-nanyo.toml",
    )
    assert '    "382043",  # 八幡浜市\n' in text(root)
    assert "+++ b/rooms/group-nanyo.toml" in outcome.diff and "--- /dev/null" in outcome.diff
    outcome = ok(root, Change("group", "remove", "nanyo"), Change("room", "remove", "group-nanyo"))
    assert outcome.files == ("rooms/group-nanyo.toml", MAIN)  # the room goes before its group
    assert files(root) == original


def test_removing_a_group_takes_its_introducing_comment_and_keeps_the_banner(root: Path) -> None:
    ok(root, Change("group", "remove", "team1"), Change("room", "remove", "group-team1"))
    after = text(root)
    assert "# 東予の市町が宇和島市・松野町・鬼北町・愛南町を支援する。" not in after
    assert "# Counterpart groups (one talk room per group" in after
    banner = "# Counterpart groups (one talk room per group, see rooms/group-*.toml)\n# " + "-" * 75 + "\n\n"
    assert banner + "# 西条市・松山市・東温市・久万高原町が西予市・八幡浜市・伊方町を支援する。\n" in after
    assert "team1" not in load(root).groups and not (root / "rooms/group-team1.toml").exists()


def test_unknown_code_in_a_group_is_refused(root: Path) -> None:
    outcome = refused(root, Change("group", "update", "team1", {"municipalities": ["382027", "389994"]}))
    assert messages(outcome) == [("municipalities", "市町コード 389994 は登録されていません")]
    assert outcome.problems[0].problem.where == "groups[0].municipalities[1]"


def test_removing_a_group_a_room_still_uses_is_refused(root: Path) -> None:
    outcome = refused(root, Change("group", "remove", "team2"))
    ((field, message),) = messages(outcome)
    assert field == "group" and message.startswith(
        "グループ team2 はトークルーム（rooms/group-team2.toml）で使われている"
    )


def test_duplicate_group_id_is_refused(root: Path) -> None:
    outcome = refused(
        root, Change("group", "add", None, {"id": "team1", "name": "重複", "municipalities": []})
    )
    assert ("id", "グループID team1 は既に使われています") in messages(outcome)


# --------------------------------------------------------------------------------------
# Counterparts


def test_setting_supporters_keeps_the_name_comments_true(root: Path) -> None:
    outcome = ok(
        root, Change("counterpart", "update", "382035", {"primary": "382019", "secondary": "382027 382132"})
    )
    assert diff_lines(outcome) == (
        [
            'primary = "382051"  # 新居浜市（一次支援市）',
            'secondary = ["382027", "383562"]  # 今治市・上島町（二次支援市町）',
        ],
        [
            'primary = "382019"  # 松山市（一次支援市）',
            'secondary = ["382027", "382132"]  # 今治市・四国中央市（二次支援市町）',
        ],
    )
    counterpart = load(root).counterparts["382035"]
    assert (counterpart.primary, counterpart.secondary) == ("382019", ("382027", "382132"))


def test_counterpart_remove_then_add_back(root: Path) -> None:
    ok(root, Change("counterpart", "remove", "384020"))
    assert "384020" not in load(root).counterparts
    assert text(root).endswith('secondary = ["382019"]  # 松山市（二次支援市町）\n')
    ok(root, Change("counterpart", "add", "384020", {"primary": "382019", "secondary": ["384011", "382108"]}))
    assert load(root).counterparts["384020"].secondary == ("384011", "382108")
    assert text(root).endswith(
        '\n\n[[counterparts]]\nstricken = "384020"  # 砥部町\nprimary = "382019"  # 松山市\n'
        'secondary = ["384011", "382108"]  # 松前町・伊予市\n'
    )


def test_a_town_as_its_own_supporter_is_refused(root: Path) -> None:
    outcome = refused(root, Change("counterpart", "update", "382035", {"primary": "382035"}))
    assert messages(outcome) == [("primary", "自分自身を支援市町にはできません")]
    outcome = refused(root, Change("counterpart", "update", "382035", {"secondary": ["382027", "382035"]}))
    assert messages(outcome) == [("secondary", "自分自身を支援市町にはできません")]


def test_a_second_assignment_for_the_same_town_is_refused(root: Path) -> None:
    outcome = refused(root, Change("counterpart", "add", "382035", {"primary": "382019"}))
    assert messages(outcome) == [("stricken", "宇和島市（382035）の支援市町は既に登録されています")]


# --------------------------------------------------------------------------------------
# Rooms


def test_room_update_and_relink_keep_the_file_tidy(root: Path) -> None:
    outcome = ok(
        root, Change("room", "update", "hq", {"title": "県本部 ホットライン", "channel_id": "c-new"})
    )
    assert outcome.files == ("rooms/hq.toml",)
    assert text(root, "rooms/hq.toml").startswith("# Prefectural disaster HQ room")
    ok(root, Change("room", "update", "municipality-382141", {"link": "group", "group": "team2"}))
    relinked = text(root, "rooms/municipality-382141.toml")
    assert "municipality =" not in relinked and relinked.endswith('link = "group"\ngroup = "team2"\n')
    ok(root, Change("room", "update", "municipality-382035", {"municipality": "384844"}))
    assert 'municipality = "384844"  # 松野町\n' in text(root, "rooms/municipality-382035.toml")
    config = load(root)
    rooms = {room.key: room for room in config.rooms}
    assert rooms["hq"].title == "県本部 ホットライン" and rooms["hq"].channel_id == "c-new"
    assert (rooms["municipality-382141"].link, rooms["municipality-382141"].target) == ("group", "team2")
    assert rooms["municipality-382035"].target == "384844"


def test_room_add_and_remove(root: Path) -> None:
    original = files(root)
    values = {"title": "松野町 災害対策室", "link": "municipality", "municipality": "384844"}
    ok(root, Change("room", "add", None, values))
    assert text(root, "rooms/municipality-384844.toml") == (
        'title = "松野町 災害対策室"\nchannel_id = ""\nlink = "municipality"\n'
        'municipality = "384844"  # 松野町\n'
    )
    assert any(room.target == "384844" for room in load(root).rooms)
    ok(root, Change("room", "remove", "municipality-384844"))
    assert files(root) == original


def test_duplicate_channel_id_is_refused(root: Path) -> None:
    taken = "0f9da8f4-9fcc-4b16-b6fc-acb07eff41c8"  # rooms/municipality-382141.toml
    outcome = refused(root, Change("room", "update", "group-team1", {"channel_id": taken}))
    ((field, message),) = messages(outcome)
    assert field == "channel_id" and f"チャンネルID {taken} が" in message and "重複しています" in message


def test_a_room_linked_to_nothing_is_refused(root: Path) -> None:
    outcome = refused(root, Change("room", "add", "orphan", {"title": "どこにも", "link": "group"}))
    assert messages(outcome) == [("group", "グループを入力してください")]
    outcome = refused(root, Change("room", "add", "orphan", {"title": "どこにも"}))
    assert messages(outcome) == [("link", "連携先を入力してください")]
    outcome = refused(root, Change("room", "update", "hq", {"link": "somewhere"}))
    assert messages(outcome) == [
        ("link", "連携先は hq（県本部）・group（グループ）・municipality（市町）のいずれかです")
    ]


def test_removing_the_only_hq_room_is_refused(root: Path) -> None:
    outcome = refused(root, Change("room", "remove", "hq"))
    ((field, message),) = messages(outcome)
    assert field == "link" and message.startswith("県本部のトークルーム")


# --------------------------------------------------------------------------------------
# Members: refusals


def test_a_member_in_two_municipalities_is_refused_naming_the_other(root: Path) -> None:
    person = {"name": "二重 登録", "role": "staff", "email": "FUKUSHICHO@uwajima.example"}
    outcome = refused(root, Change("member", "add", "385069", person))  # 愛南町 comes after 宇和島市
    assert messages(outcome) == [("email", "このメールアドレスは 宇和島市 に登録済みです")]
    outcome = refused(root, Change("member", "add", "382019", person))  # 松山市 comes before
    assert messages(outcome) == [("email", "このメールアドレスは 宇和島市 に登録済みです")]
    outcome = refused(
        root, Change("member", "update", "bosai@seiyo.example", {"email": "jinji@seiyo.example"})
    )
    assert messages(outcome) == [("email", "このメールアドレスは 西予市 に登録済みです")]
    uid = "a7d09b34-1e6f-4f28-8c53-b2e94a0d7f16"  # 西予市's deputy mayor
    outcome = refused(root, Change("member", "update", "bosai@uwajima.example", {"user_id": uid}))
    assert messages(outcome) == [("user_id", "このユーザーID（userId）は 西予市 に登録済みです")]


def test_member_field_mistakes_are_mapped_to_their_fields(root: Path) -> None:
    outcome = refused(root, Change("member", "update", "bosai@uwajima.example", {"email": "not-an-address"}))
    assert messages(outcome) == [("email", "メールアドレスの形式が正しくありません")]
    assert outcome.problems[0].problem.where == "municipalities[2].members[1].email"
    outcome = refused(root, Change("member", "add", "382035", {"name": "", "role": "hq_head", "email": ""}))
    assert messages(outcome) == [
        ("name", "氏名を入力してください"),
        ("role", "役職が正しくありません"),
        ("email", "メールアドレスかユーザーID（userId）のどちらかを入力してください"),
    ]


def test_edits_that_cannot_even_be_made_are_refused_with_the_change_named(root: Path) -> None:
    cases = [
        (
            Change("member", "remove", "nobody@nowhere.example"),
            "email",
            "nobody@nowhere.example という人は登録されていません",
        ),
        (
            Change("member", "update", "bosai@uwajima.example", {"order": 9}),
            "order",
            "順番は 0〜4 の数で指定してください",
        ),
        (
            Change("member", "add", "389994", {"name": "x"}),
            "municipality",
            "市町コード 389994 は登録されていません",
        ),
        (
            Change("member", "update", "bosai@uwajima.example", {"age": 3}),
            "age",
            "age という項目は変更できません",
        ),
        (
            Change("member", "update", "bosai@uwajima.example", {"name": 3}),
            "name",
            "名前は文字で入力してください",
        ),
        (Change("group", "update", "nanyo", {"name": "x"}), "id", "グループ nanyo は登録されていません"),
        (
            Change("room", "add", "../escape", {"title": "x"}),
            "key",
            "ルームのファイル名は半角英数字・-・_ で付けてください",
        ),
        (Change("room", "add", "hq", {"title": "x"}), "key", "rooms/hq.toml は既にあります"),
        (Change("room", "update", "nothing", {"title": "x"}), "key", "トークルーム nothing はありません"),
        (
            Change("counterpart", "update", "389994", {"primary": "382019"}),
            "stricken",
            "被災市町の割当て 389994 は登録されていません",
        ),
    ]
    for change, field, message in cases:
        outcome = refused(
            root, Change("member", "update", "bosai@uwajima.example", {"name": "先の変更"}), change
        )
        assert [(p.field, p.message, p.change) for p in outcome.problems] == [(field, message, 1)], change


# --------------------------------------------------------------------------------------
# Writing


def test_a_crash_mid_write_leaves_the_old_file_and_no_temporary_file(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = files(root)

    def crash(src: Any, dst: Any) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        apply(root, [Change("member", "update", "bosai@uwajima.example", {"name": "途中"})])
    assert files(root) == original


def test_a_crash_between_two_files_leaves_a_configuration_that_still_loads(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = files(root)
    real_replace = os.replace
    calls: list[str] = []

    def crash_on_second(src: Any, dst: Any) -> None:
        calls.append(str(dst))
        if len(calls) == 2:
            raise OSError("power cut")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_second)
    with pytest.raises(OSError, match="power cut"):
        apply(
            root,
            [
                Change("group", "add", None, {"id": "nanyo", "name": "南予", "municipalities": ["382035"]}),
                Change("room", "add", None, {"title": "南予", "link": "group", "group": "nanyo"}),
            ],
        )
    now = files(root)
    assert set(now) == set(original)  # the room file was not created, no temporary file left
    assert now[MAIN] != original[MAIN]  # counterparts.toml went first ...
    assert "nanyo" in load(root).groups  # ... and alone it is still a valid configuration


def test_written_files_keep_their_permissions(root: Path) -> None:
    os.chmod(root / MAIN, 0o644)
    ok(root, Change("member", "update", "bosai@uwajima.example", {"name": "清家 久美"}))
    assert (root / MAIN).stat().st_mode & 0o777 == 0o644
    ok(root, Change("room", "add", "extra", {"title": "追加", "link": "hq"}))
    assert (root / "rooms/extra.toml").stat().st_mode & 0o777 == 0o644


def test_a_stale_form_is_refused(root: Path) -> None:
    seen = snapshot(root)
    outcome = ok(root, Change("member", "update", "bosai@uwajima.example", {"name": "先に変更"}))
    assert outcome.snapshot != seen
    stale = apply(
        root, [Change("member", "update", "jinji@uwajima.example", {"name": "後"})], expected_snapshot=seen
    )
    assert not stale.ok and "ほかの人が先に設定を変更しました" in stale.problems[0].message
    assert ok(root).snapshot == outcome.snapshot  # no change: nothing written, still valid


def test_a_broken_hand_edit_elsewhere_is_reported_and_blocks_the_save(root: Path) -> None:
    (root / "rooms/hq.toml").write_text(
        'title = "県本部"\nlink = "hq"\nchannel_id = "0f9da8f4-9fcc-4b16-b6fc-acb07eff41c8"\n'
    )
    outcome = refused(root, Change("member", "update", "bosai@uwajima.example", {"name": "x"}))
    assert [p.field for p in outcome.problems] == ["channel_id"]


def test_a_syntax_error_in_counterparts_toml_is_reported_for_a_room_edit(root: Path) -> None:
    (root / MAIN).write_text(
        text(root).replace('[prefecture]\nname = "愛媛県"', "[prefecture\nname = 愛媛県")
    )
    outcome = refused(root, Change("room", "update", "hq", {"title": "x"}))
    ((field, message),) = messages(outcome)
    assert field == "" and message.startswith("counterparts.toml の書式（TOML）が正しくありません（")
    outcome = refused(root, Change("member", "remove", "bosai@uwajima.example"))
    assert outcome.problems[0].message == "counterparts.toml の書式（TOML）が正しくありません"


def test_the_running_bot_uses_a_saved_change_after_reload(
    root: Path, tmp_path: Path, credentials: Credentials, sample_config: Config
) -> None:
    settings = Settings(
        credentials=credentials, api_token="t", config_dir=root, database=tmp_path / "h.sqlite3"
    )
    hotline = Hotline(settings, load(root), clock=FixedClock(datetime(2026, 11, 20, 18, 12, tzinfo=UTC)))
    try:
        outcome = ok(root, Change("member", "update", "shicho@uwajima.example", {"order": 0}))
        assert outcome.config is not None and outcome.config.root == root
        assert all(room.path.parent == root / "rooms" for room in outcome.config.rooms)
        assert hotline.reload_config() == []
        assert hotline.config().municipalities["382035"].members[0].email == "shicho@uwajima.example"
        assert hotline.config().municipalities == outcome.config.municipalities
    finally:
        hotline.sender.shutdown()


def test_lists_written_inline_by_hand_are_never_replaced(root: Path) -> None:
    ainan = '[[municipalities]]\ncode = "385069"'
    inline = 'members = [{ name = "手書 一", role = "staff", email = "te@tegaki.example" }]'
    hand_written = f'[[municipalities]]\ncode = "389994"\nname = "手書町"\n{inline}\n\n{ainan}'
    (root / MAIN).write_text(text(root).replace(ainan, hand_written), encoding="utf-8")
    assert emails(load(root), "389994") == ["te@tegaki.example"]
    person = {"name": "新 人", "role": "staff", "email": "n@t.example"}
    outcome = refused(root, Change("member", "add", "389994", person))
    assert [p.field for p in outcome.problems] == ["members"] and "直接編集" in outcome.problems[0].message


def test_unknown_kind_and_action(root: Path) -> None:
    assert messages(refused(root, Change("prefecture", "update", None, {}))) == [
        ("", "変更の種類 prefecture は扱えません")
    ]
    assert messages(refused(root, Change("member", "rename", "x"))) == [("", "操作 rename は扱えません")]
    assert config_edit.KINDS[:5] == ("municipality", "member", "group", "counterpart", "room")
    assert config_edit.KINDS[5:] == ("earthquake", "tsunami", "earthquake_area", "tsunami_region")
