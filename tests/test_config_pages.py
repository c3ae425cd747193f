"""The configuration pages (`/dashboard/admin/config`): only administrators, CSRF on every
POST, an edit written with its comments kept and in use at once with an audit entry, a
refused edit shown next to its field with the files untouched, a stale form refused, names
escaped, and the rooms synchronised with LINE WORKS (the emulator)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from hotline.clock import FixedClock
from hotline.config import COUNTERPARTS_FILE, load
from hotline.config import editing as config_edit
from hotline.config.settings import Credentials, Settings
from hotline.demo.stack import EmulatorSide
from hotline.domain import accounts
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from hotline.web.auth import CSRF_MESSAGE, FORBIDDEN_MESSAGES
from hotline.web.pages.config import STALE_MESSAGE
from hotline.web.pages.config_save import SAVED_MESSAGE
from tests.support.bot import T0, TOKEN
from tests.support.config_files import copy_config, files
from tests.support.fake_lineworks import FakeLineWorks
from tests.support.web import LOGIN, PASSWORD, csrf_of, login

UWAJIMA = "382035"
BASE = "/dashboard/admin/config"
ADMIN, COORDINATOR, VIEWER = "hq-admin", "kunren-1", "etsuran-1"
NEW = {
    "name": "新居 一郎",
    "role": "staff",
    "email": "new.member@uwajima.example",
    "user_id": "",
    "order": "",
}


class Site:
    def __init__(self, tmp_path: Path, credentials: Credentials, root: Path) -> None:
        self.root = root
        settings = Settings(
            credentials=credentials,
            api_token=TOKEN,
            config_dir=root,
            database=tmp_path / "t.sqlite3",
        )
        self.hotline = Hotline(settings, load(root), clock=FixedClock(T0))
        self.app = create_app(self.hotline)
        for name, role in ((ADMIN, "admin"), (COORDINATOR, "coordinator"), (VIEWER, "viewer")):
            accounts.create(self.hotline.storage, name, PASSWORD, role, by="test", at=T0)

    lw: FakeLineWorks

    def client(self, who: str | None = ADMIN) -> FlaskClient:
        client = self.app.test_client()
        if who is not None:
            assert login(client, username=who).status_code == 302
        return client

    def audit(self, prefix: str = "config.") -> list[dict[str, Any]]:
        return [dict(r) for r in self.hotline.storage.audit_entries() if r["action"].startswith(prefix)]


@pytest.fixture
def site(tmp_path: Path, credentials: Credentials) -> Iterator[Site]:
    root = copy_config(tmp_path / "config")
    made = Site(tmp_path, credentials, root)
    # LINE WORKS faked at the requests boundary (adding a member looks the e-mail up);
    # the emulator, where a test starts one, is a real server on 127.0.0.1.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru("http://127.0.0.1")
        made.lw = FakeLineWorks(rsps, load(root))
        yield made
    made.hotline.sender.shutdown()


def page_form(client: FlaskClient, url: str) -> dict[str, str]:
    """The CSRF token and snapshot of the page at `url`."""
    html = client.get(url).text
    snapshot = re.search(r'name="snapshot" value="([0-9a-f]+)"', html)
    assert snapshot, "no snapshot field"
    return {"csrf_token": csrf_of(html), "snapshot": snapshot.group(1)}


def add_member(client: FlaskClient, values: dict[str, str], **extra: str) -> Any:
    url = f"{BASE}/municipalities/{UWAJIMA}"
    return client.post(url, data={**page_form(client, url), "op": "member_add", **values, **extra})


POSTS = [
    f"{BASE}/municipalities",
    f"{BASE}/municipalities/{UWAJIMA}",
    f"{BASE}/groups",
    f"{BASE}/rooms",
    f"{BASE}/rooms/sync",
]
GETS = [
    f"{BASE}/",
    f"{BASE}/municipalities/{UWAJIMA}",
    f"{BASE}/municipalities/hq",
    f"{BASE}/groups",
    f"{BASE}/rooms",
]


def test_only_administrators_open_or_post(site: Site) -> None:
    before = files(site.root)
    anonymous = site.client(None)
    for url in GETS + POSTS:
        response = anonymous.open(
            url, method="POST" if url in POSTS else "GET", data={**NEW, "op": "member_add"}
        )
        assert response.status_code == 302 and response.headers["Location"].startswith(LOGIN), url
    for who in (VIEWER, COORDINATOR):
        client = site.client(who)
        token = csrf_of(client.get("/dashboard/").text)
        assert 'data-testid="nav-config"' not in client.get("/dashboard/").text
        for url in GETS:
            response = client.get(url)
            assert response.status_code == 403 and FORBIDDEN_MESSAGES["admin"] in response.text, (who, url)
        for url in POSTS:
            response = client.post(url, data={"csrf_token": token, "op": "member_add", **NEW})
            assert response.status_code == 403, (who, url)
    admin = site.client()
    assert 'data-testid="nav-config"' in admin.get("/dashboard/").text
    for url in GETS:
        assert admin.get(url).status_code == 200, url
    assert files(site.root) == before and site.audit() == []


def test_every_post_needs_the_csrf_token(site: Site) -> None:
    before = files(site.root)
    client = site.client()
    snapshot = page_form(client, f"{BASE}/rooms")["snapshot"]
    for url in POSTS:
        for forged in ({}, {"csrf_token": "forged"}):
            response = client.post(url, data={"snapshot": snapshot, "op": "member_add", **NEW, **forged})
            assert response.status_code == 400 and CSRF_MESSAGE in response.text, url
    assert files(site.root) == before and site.audit() == []


def test_the_overview_lists_towns_groups_assignments_and_rooms(site: Site) -> None:
    html = site.client().get(f"{BASE}/").text
    assert "宇和島市" in html and f'href="{BASE}/municipalities/{UWAJIMA}"' in html
    config = site.hotline.config()
    for group in config.groups.values():
        assert group.name in html
    for room in config.rooms:
        assert room.title in html and room.channel_id in html
    assert "一次支援市" in html and "二次支援市町" in html


def test_adding_a_member_writes_the_file_reloads_and_audits(site: Site) -> None:
    before = (site.root / COUNTERPARTS_FILE).read_text(encoding="utf-8")
    client = site.client()
    response = add_member(client, NEW)
    assert response.status_code == 302 and f"/municipalities/{UWAJIMA}?" in response.headers["Location"]
    page = client.get(response.headers["Location"]).text
    assert SAVED_MESSAGE in page and "新居 一郎" in page
    after = (site.root / COUNTERPARTS_FILE).read_text(encoding="utf-8")
    # Only lines were added; every comment of the hand-written file is still there.
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert all(line in after.splitlines() for line in comments)
    assert set(before.splitlines()) <= set(after.splitlines())
    # In use at once.
    added = site.hotline.config().municipalities[UWAJIMA].members[-1]
    assert (added.name, added.email) == ("新居 一郎", "new.member@uwajima.example")
    (entry,) = site.audit()
    assert entry["action"] == "config.member.add" and entry["who"] == ADMIN
    assert entry["target"] == "職員 新居 一郎（new.member@uwajima.example）・宇和島市（382035）"
    # the diff column is the unified diff of the TOML text itself, not JSON
    assert '\n+name = "新居 一郎"\n' in entry["diff"] and entry["diff"].startswith(
        "--- a/counterparts.toml\n"
    )
    assert "+++" not in entry["after"]


def test_moving_renaming_and_removing_a_member(site: Site) -> None:
    client = site.client()
    url = f"{BASE}/municipalities/{UWAJIMA}"
    first, second = site.hotline.config().municipalities[UWAJIMA].members[:2]
    key = second.email or second.user_id
    # ↑ moves the second member first (the submit button's op comes after the hidden one)
    data = {**page_form(client, url), "member": key}
    response = client.post(url, data=MultiDict([*data.items(), ("op", "member_update"), ("op", "member_up")]))
    assert response.status_code == 302
    members = site.hotline.config().municipalities[UWAJIMA].members
    assert [m.name for m in members[:2]] == [second.name, first.name]
    fields = {"name": "改名 太郎", "role": second.role, "email": second.email, "user_id": second.user_id}
    response = client.post(
        url, data={**page_form(client, url), "op": "member_update", "member": key, **fields}
    )
    assert response.status_code == 302
    assert site.hotline.config().municipalities[UWAJIMA].members[0].name == "改名 太郎"
    data = {**page_form(client, url), "member": key, "confirmed": "yes"}
    response = client.post(
        url, data=MultiDict([*data.items(), ("op", "member_update"), ("op", "member_remove")])
    )
    assert response.status_code == 302
    assert "改名 太郎" not in {m.name for m in site.hotline.config().municipalities[UWAJIMA].members}
    actions = [e["action"] for e in site.audit()]
    assert actions.count("config.member.update") >= 2 and "config.member.remove" in actions


def test_a_duplicate_email_is_refused_next_to_the_field(site: Site) -> None:
    before = files(site.root)
    taken = site.hotline.config().municipalities["382019"].members[0].email
    response = add_member(site.client(), {**NEW, "email": taken})
    assert response.status_code == 400
    html = response.text
    assert re.search(r'data-testid="error-email">このメールアドレスは .+ に登録済みです</span>', html)
    assert 'data-testid="config-summary"' in html
    assert 'value="新居 一郎"' in html  # the values are kept
    assert files(site.root) == before and site.audit() == []


def test_a_town_cannot_support_itself(site: Site) -> None:
    before = files(site.root)
    client = site.client()
    url = f"{BASE}/groups"
    response = client.post(
        url,
        data={**page_form(client, url), "op": "counterpart_update", "key": UWAJIMA, "primary": UWAJIMA},
    )
    assert response.status_code == 400
    assert re.search(r'data-testid="error-primary">自分自身を支援市町にはできません', response.text)
    assert files(site.root) == before and site.audit() == []


def test_groups_and_counterparts_can_be_edited(site: Site) -> None:
    client = site.client()
    url = f"{BASE}/groups"
    group = next(iter(site.hotline.config().groups.values()))
    codes = list(group.municipalities)
    data = [
        *page_form(client, url).items(),
        ("op", "group_update"),
        ("key", group.id),
        ("name", "新しい名前"),
    ]
    data += [("municipalities", code) for code in codes]
    assert client.post(url, data=MultiDict(data)).status_code == 302
    assert site.hotline.config().groups[group.id].name == "新しい名前"
    counterpart = site.hotline.config().counterparts[UWAJIMA]
    data = [*page_form(client, url).items(), ("op", "counterpart_update"), ("key", UWAJIMA)]
    data += [("primary", counterpart.primary)] + [("secondary", c) for c in counterpart.secondary[:1]]
    assert client.post(url, data=MultiDict(data)).status_code == 302
    assert site.hotline.config().counterparts[UWAJIMA].secondary == counterpart.secondary[:1]
    assert [e["action"] for e in reversed(site.audit())] == [
        "config.group.update",
        "config.counterpart.update",
    ]


def test_a_stale_form_is_refused(site: Site) -> None:
    client = site.client()
    url = f"{BASE}/municipalities/{UWAJIMA}"
    old = page_form(client, url)
    assert add_member(client, NEW).status_code == 302
    before = files(site.root)
    other = {**NEW, "name": "別人 二郎", "email": "other@uwajima.example"}
    response = client.post(url, data={**old, "op": "member_add", **other})
    assert response.status_code == 400 and STALE_MESSAGE in response.text
    assert files(site.root) == before and len(site.audit()) == 1


def test_markup_in_a_name_is_escaped(site: Site) -> None:
    client = site.client()
    assert add_member(client, {**NEW, "name": "<script>alert(1)</script>"}).status_code == 302
    html = client.get(f"{BASE}/municipalities/{UWAJIMA}").text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    refused = add_member(client, {**NEW, "name": "<b>x</b>", "email": "not-an-email"})
    assert refused.status_code == 400 and "<b>x</b>" not in refused.text


def test_rooms_can_be_edited(site: Site) -> None:
    client = site.client()
    url = f"{BASE}/rooms"
    room = next(r for r in site.hotline.config().rooms if r.key == "group-team1")
    data = {
        **page_form(client, url),
        "op": "room_update",
        "key": room.key,
        "title": "新しいルーム名",
        "link": "group",
        "group": room.target or "",
        "municipality": "",
        "channel_id": room.channel_id,
    }
    assert client.post(url, data=data).status_code == 302
    assert next(r for r in site.hotline.config().rooms if r.key == "group-team1").title == "新しいルーム名"
    # A channelId already used by another room is refused next to its field.
    before = files(site.root)
    taken = next(r.channel_id for r in site.hotline.config().rooms if r.key == "hq")
    response = client.post(url, data={**data, **page_form(client, url), "channel_id": taken})
    assert response.status_code == 400 and 'data-testid="error-channel_id"' in response.text
    assert files(site.root) == before


def test_rooms_sync_creates_a_missing_room_and_writes_its_channel_id(tmp_path: Path) -> None:
    root = copy_config(tmp_path / "config")
    room_file = root / "rooms" / "group-team2.toml"
    text = room_file.read_text(encoding="utf-8")
    room_file.write_text(re.sub(r'channel_id = "[^"]*"', 'channel_id = ""', text), encoding="utf-8")
    config = load(root)
    side = EmulatorSide(config)
    settings = Settings(
        credentials=side.credentials, api_token="t", config_dir=root, database=tmp_path / "s.sqlite3"
    )
    hotline = Hotline(settings, config)
    try:
        app = create_app(hotline)
        accounts.create(hotline.storage, ADMIN, PASSWORD, "admin", by="test", at=T0)
        client = app.test_client()
        assert login(client, username=ADMIN).status_code == 302
        assert "未作成" in client.get(f"{BASE}/").text
        token = csrf_of(client.get(f"{BASE}/rooms").text)
        response = client.post(f"{BASE}/rooms/sync", data={"csrf_token": token})
        assert response.status_code == 200
        channel_id = next(r.channel_id for r in hotline.config().rooms if r.key == "group-team2")
        assert channel_id and f'channel_id = "{channel_id}"' in room_file.read_text(encoding="utf-8")
        assert "# Counterpart group room for team2" in room_file.read_text(encoding="utf-8")
        assert channel_id in response.text and 'data-testid="sync-group-team2"' in response.text
        entries = [dict(r) for r in hotline.storage.audit_entries() if r["action"] == "config.room.sync"]
        assert len(entries) == 1 and channel_id in entries[0]["after"]
        assert config_edit.snapshot(root)  # the files still read
    finally:
        hotline.sender.shutdown()
        side.stop()


def test_adding_and_removing_a_municipality(site: Site) -> None:
    client = site.client()
    form = page_form(client, f"{BASE}/")
    response = client.post(
        f"{BASE}/municipalities",
        data={
            **form,
            "code": "389994",
            "name": "試験町",
            "member_name": "試験 次郎",
            "member_email": "fukuchocho@shiken.example",
        },
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/municipalities/389994")
    assert site.hotline.config().municipalities["389994"].members[0].role == "deputy_mayor"
    assert 'code = "389994"' in (site.root / "counterparts.toml").read_text()
    # A municipality still used by a group is refused, with the reason, and nothing changes.
    before = files(site.root)
    url = f"{BASE}/municipalities/{UWAJIMA}"
    refused = client.post(url, data={**page_form(client, url), "op": "remove", "confirmed": "yes"})
    assert refused.status_code == 400 and "宇和島市" in refused.text
    assert files(site.root) == before
    # The new one, used nowhere, can go.
    url = f"{BASE}/municipalities/389994"
    removed = client.post(url, data={**page_form(client, url), "op": "remove", "confirmed": "yes"})
    assert removed.status_code == 302 and "389994" not in site.hotline.config().municipalities
    assert sorted(e["action"] for e in site.audit()) == [
        "config.municipality.add",
        "config.municipality.remove",
    ]


def test_a_bad_new_municipality_is_refused_next_to_its_fields(site: Site) -> None:
    client = site.client()
    before = files(site.root)
    response = client.post(
        f"{BASE}/municipalities",
        data={
            **page_form(client, f"{BASE}/"),
            "code": UWAJIMA,
            "name": "重複市",
            "member_name": "x",
            "member_email": "x@dup.example",
        },
    )
    assert response.status_code == 400 and 'data-testid="add-municipality-form"' in response.text
    assert files(site.root) == before and site.audit() == []


def test_hq_members_are_edited_like_a_towns(site: Site) -> None:
    client = site.client()
    url = f"{BASE}/municipalities/hq"
    page = client.get(url).text
    assert "本部員" in page and 'data-testid="rename-form"' not in page
    response = client.post(
        url,
        data={
            **page_form(client, url),
            "op": "member_add",
            "name": "新任 一郎",
            "role": "hq_staff",
            "email": "hq.shinnin@pref-ehime.example",
            "user_id": "",
            "order": "4",
        },
    )
    assert response.status_code == 302
    assert site.hotline.config().hq_members[-1].name == "新任 一郎"


# -- safer configuration (issue 11, point 8) -----------------------------------------------------


def add_town(client: FlaskClient, code: str) -> Any:
    """Add 試験町 with the given code and one member through the overview's form."""
    fields = {
        "code": code,
        "name": "試験町",
        "member_name": "試験 次郎",
        "member_email": "fukuchocho@shiken.example",
    }
    return client.post(f"{BASE}/municipalities", data={**page_form(client, f"{BASE}/"), **fields})


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("999999", "市町コード 999999 は正しくありません（6桁目の検査数字が合いません）"),
        ("383865", "市町コード 383865 は正しくありません（6桁目の検査数字が合いません）"),
        ("012025", "市町コード 012025 は愛媛県のコードではありません（38 で始まるコードです）"),
    ],
)
def test_a_code_with_a_wrong_check_digit_or_prefecture_is_refused_beside_the_field(
    site: Site, code: str, message: str
) -> None:
    client = site.client()
    before = files(site.root)
    response = add_town(client, code)
    assert response.status_code == 400
    errors = re.findall(r'data-testid="error-code">([^<]+)<', response.text)
    assert errors and errors[0].startswith(message)
    assert files(site.root) == before and code not in site.hotline.config().municipalities


DELETES = [
    # (page, fields of the delete button, what the confirmation names, whether the delete is then made)
    (
        f"municipalities/{UWAJIMA}",
        {"op": "member_remove", "member": "bosai@uwajima.example"},
        "職員 清家 久美子",
        True,
    ),
    (
        "municipalities/hq",
        {"op": "member_remove", "member": "kiki.kanri@pref-ehime.example"},
        "職員 長野 健一",
        True,
    ),
    (f"municipalities/{UWAJIMA}", {"op": "remove"}, "市町 宇和島市（382035）", False),  # still used
    ("groups", {"op": "group_remove", "key": "team3"}, "グループ チームえひめ 第3グループ（team3）", False),
    ("groups", {"op": "counterpart_remove", "key": "385069"}, "支援の割当て 愛南町（385069）", True),
    ("rooms", {"op": "room_remove", "key": "municipality-382141"}, "トークルーム", True),
    ("jma/", {"op": "tsunami_region_remove", "code": "601"}, "津波予報区コード 601", True),
]


@pytest.mark.parametrize(("page", "button", "named", "made"), DELETES)
def test_every_delete_asks_for_confirmation_before_anything_changes(
    site: Site, page: str, button: dict[str, str], named: str, made: bool
) -> None:
    client = site.client()
    url = f"{BASE}/{page}"
    before = files(site.root)
    asked = client.post(url, data={**page_form(client, url), **button})
    assert asked.status_code == 200 and 'data-testid="confirm-delete"' in asked.text
    assert named in asked.text and "を削除します。よろしいですか。" in asked.text
    assert files(site.root) == before and site.audit() == []  # nothing yet
    # The confirmation form posts the same fields back with confirmed=yes.
    fields = MultiDict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', asked.text))
    assert fields["confirmed"] == "yes" and fields["op"] == button["op"]
    confirmed = client.post(url, data=fields)
    assert confirmed.status_code == (302 if made else 400)
    assert (files(site.root) != before) == made
    assert 'data-testid="confirm-delete"' not in confirmed.text


def test_a_town_in_no_group_and_without_supporters_is_warned_about_on_the_config_pages(site: Site) -> None:
    client = site.client()
    response = add_town(client, "389994")
    assert response.status_code == 302  # a warning, not an error: saved
    warning = "試験町（389994）はどのグループにも入っておらず、支援市町の割当てもありません。"
    for page in ("/", "/groups", "/rooms", "/municipalities/389994"):
        html = client.get(BASE + page).text
        assert 'data-testid="config-warnings"' in html and warning in html, page
    assert warning not in client.get(f"{BASE}/").text.replace(warning, "", 1)  # said once per page


def test_the_audit_log_shows_the_changed_toml_lines_and_names_the_target_in_japanese(site: Site) -> None:
    client = site.client()
    url = f"{BASE}/groups"
    form = {**page_form(client, url), "op": "counterpart_update", "key": "384844", "primary": "382027"}
    response = client.post(url, data=MultiDict([*form.items(), ("secondary", "383562")]))
    assert response.status_code == 302
    html = client.get("/dashboard/admin/audit").text
    assert re.search(r'data-testid="audit-target">支援の割当て 松野町（384844）<', html)
    assert '<span class="diff-del">-secondary = [&#34;383562&#34;, &#34;382051&#34;]' in html
    assert '<span class="diff-add">+secondary = [&#34;383562&#34;]' in html
    assert "\\n" not in html.split('data-testid="audit-diff"')[1].split("</pre>")[0]  # no escaped JSON


def test_an_admin_undoes_a_configuration_change_and_the_undo_is_audited(site: Site) -> None:
    client = site.client()
    original = files(site.root)
    url = f"{BASE}/groups"
    response = client.post(
        url, data={**page_form(client, url), "op": "counterpart_remove", "key": "385069", "confirmed": "yes"}
    )
    assert response.status_code == 302 and "385069" not in site.hotline.config().counterparts
    (entry,) = site.audit()
    page = client.get("/dashboard/admin/audit").text
    assert 'data-testid="audit-undo"' in page
    undone = client.post(f"/dashboard/admin/audit/{entry['id']}/undo", data={"csrf_token": csrf_of(page)})
    assert undone.status_code == 302
    assert files(site.root) == original and "385069" in site.hotline.config().counterparts  # in use at once
    log = client.get("/dashboard/admin/audit").text
    assert f"記録 #{entry['id']} の変更を元に戻しました" in log
    undo_entry = site.audit()[0]
    assert undo_entry["action"] == "config.undo" and undo_entry["who"] == ADMIN
    assert (
        undo_entry["target"]
        == f"支援の割当て 愛南町（385069）（記録 #{entry['id']} の設定: 支援の割当ての削除）"
    )
    assert '+stricken = "385069"' in undo_entry["diff"]


def test_an_undo_is_refused_with_a_reason_when_the_files_changed_since(site: Site) -> None:
    client = site.client()
    url = f"{BASE}/groups"
    for key in ("385069", "384887"):
        response = client.post(
            url, data={**page_form(client, url), "op": "counterpart_remove", "key": key, "confirmed": "yes"}
        )
        assert response.status_code == 302
    older = site.audit()[-1]
    before = files(site.root)
    page = client.get("/dashboard/admin/audit").text
    refused = client.post(f"/dashboard/admin/audit/{older['id']}/undo", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 302
    assert (
        "この変更の後に設定が変更されているため、元に戻せません" in client.get("/dashboard/admin/audit").text
    )
    assert files(site.root) == before and len(site.audit()) == 2  # nothing written, nothing audited


def test_a_member_phone_is_saved_from_the_form_and_a_bad_one_refused_beside_the_field(site: Site) -> None:
    client = site.client()
    url = f"{BASE}/municipalities/{UWAJIMA}"
    person = site.hotline.config().municipalities[UWAJIMA].members[0]
    fields = {"name": person.name, "role": person.role, "email": person.email, "user_id": person.user_id}
    before = files(site.root)
    bad = client.post(
        url,
        data={
            **page_form(client, url),
            "op": "member_update",
            "member": person.email,
            **fields,
            "phone": "089-12",
        },
    )
    assert bad.status_code == 400 and files(site.root) == before
    assert re.search(r'data-testid="error-phone">電話番号の形式が正しくありません', bad.text)
    good = client.post(
        url,
        data={
            **page_form(client, url),
            "op": "member_update",
            "member": person.email,
            **fields,
            "phone": "0895-24-1111",
        },
    )
    assert good.status_code == 302
    assert site.hotline.config().municipalities[UWAJIMA].members[0].phone == "0895-24-1111"
    assert 'value="0895-24-1111"' in client.get(url).text


def test_a_new_members_email_unknown_to_line_works_is_saved_with_a_warning_beside_it(site: Site) -> None:
    client = site.client()
    response = add_member(client, NEW)
    assert response.status_code == 302
    assert site.lw.user_lookups == 1  # asked the directory once
    page = client.get(response.headers["Location"]).text
    note = re.search(r'data-testid="directory-note">([^<]+)<', page)
    assert note and note.group(1).startswith(
        "このメールアドレスは LINE WORKS のディレクトリに見つかりません（登録は保存しました）"
    )
    assert site.hotline.config().municipalities[UWAJIMA].members[-1].email == NEW["email"]


def test_a_new_members_email_found_in_line_works_is_confirmed(tmp_path: Path) -> None:
    root = copy_config(tmp_path / "config")
    person = {"userId": "new-0001", "email": NEW["email"], "name": NEW["name"], "org": "宇和島市"}
    side = EmulatorSide(load(root), extra_users=[person])
    settings = Settings(
        credentials=side.credentials, api_token="t", config_dir=root, database=tmp_path / "s.sqlite3"
    )
    hotline = Hotline(settings, load(root))
    try:
        app = create_app(hotline)
        accounts.create(hotline.storage, ADMIN, PASSWORD, "admin", by="test", at=T0)
        client = app.test_client()
        assert login(client, username=ADMIN).status_code == 302
        response = add_member(client, NEW)
        assert response.status_code == 302
        page = client.get(response.headers["Location"]).text
        assert re.search(r'data-testid="directory-note">LINE WORKS のディレクトリで確認しました。<', page)
    finally:
        hotline.sender.shutdown()
        side.stop()
