"""Accounts, roles and the audit log: scrypt hashes, login with an account (ok, wrong password,
disabled, throttled), the role each route needs (every route of the app's url_map is listed
here, so a new route cannot be forgotten), CSRF on every POST, the API with a session or the
bearer token, audit entries with their before/after difference and the CSV export, and
`hotline users ...` on the command line."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient

from hotline.cli import main as cli
from hotline.domain import accounts, audit
from hotline.domain.accounts import AccountError
from hotline.domain.drills import Targets
from hotline.storage import Storage
from hotline.web.auth import CSRF_MESSAGE, DISABLED_ERROR, FORBIDDEN_MESSAGES, LOGIN_ERROR
from tests.support.bot import ROOT, T0, TOKEN, Bot
from tests.support.drill_pages import create, form
from tests.support.fake_lineworks import FakeLineWorks
from tests.support.web import LOGIN, PASSWORD, add_account, csrf_of, login

UWAJIMA = "382035"
ADMIN, COORDINATOR, VIEWER = "hq-admin", "kunren-1", "etsuran-1"
SPRAYER = "198.51.100.9"  # an address trying one password on many names

# The least role each route of the app needs. None: open to everyone (the route defends itself
# or has nothing to hide); "api": the bearer token or any logged-in account.
ROUTES: dict[str, str | None] = {
    "static": None,  # the app's CSS and JS
    "door.callback": None,  # signed by LINE WORKS (tests/test_callback.py)
    "door.healthz": None,
    "dashboard.login": None,
    "dashboard.static": None,
    "favicon": None,  # the dashboard's icon
    "mail_links.link": None,  # a fallback mail's signed link is the credential (test_mail_links.py)
    "api.incidents": "api",
    "api.incident": "api",
    "api.report": "api",
    "api.report_acks": "api",
    "api.drills": "api",
    "api.drill": "api",
    "api.drill_csv": "api",
    "metrics.scrape": "api",  # /metrics: the bearer token or any logged-in account
    "dashboard.logout": "viewer",
    "dashboard.index": "viewer",
    "dashboard.incidents_json": "viewer",
    "dashboard.incident_page": "viewer",
    "dashboard.incident_json": "viewer",
    "dashboard.report_json": "viewer",
    "dashboard.incident_csv": "viewer",
    "dashboard.incident_print": "viewer",
    "dashboard.close_incident": "coordinator",
    "dashboard.reopen_incident": "coordinator",
    "dashboard.resend_report": "coordinator",
    "drills.index": "viewer",
    "drills.page": "viewer",
    "drills.drill_json": "viewer",
    "drills.run_csv": "viewer",
    "drills.history": "viewer",
    "telegrams.index": "viewer",
    "instructions.index": "viewer",
    "instructions.page": "viewer",
    "instructions.page_json": "viewer",
    "instructions.new": "coordinator",
    "instructions.send": "coordinator",  # an HQ instruction to the towns
    "drills.new": "coordinator",
    "drills.abort_run": "coordinator",
    "drills.cancel": "coordinator",
    "drills.fire": "coordinator",
    "drills.proxy": "coordinator",  # 代理回答
    "drills.resend": "coordinator",  # 再送 to someone the question did not reach
    "admin.accounts_page": "admin",
    "admin.add_account": "admin",
    "admin.change_role": "admin",
    "admin.disable": "admin",
    "admin.enable": "admin",
    "admin.audit_page": "admin",
    "admin.undo": "admin",
    "config.index": "admin",
    "jma_settings.page": "admin",
    "jma_settings.save": "admin",
    "config.municipality": "admin",
    "config.add_municipality": "admin",
    "config.edit_municipality": "admin",
    "config.groups": "admin",
    "config.edit_groups": "admin",
    "config.rooms": "admin",
    "config.edit_rooms": "admin",
    "config.sync_rooms": "admin",
}
JSON_ENDPOINTS = {
    "dashboard.incident_json",
    "dashboard.incidents_json",
    "dashboard.report_json",
    "drills.drill_json",
}


@pytest.fixture
def people(bot: Bot) -> Bot:
    """One account of each role."""
    add_account(bot, ADMIN, "admin")
    add_account(bot, COORDINATOR, "coordinator")
    add_account(bot, VIEWER, "viewer")
    return bot


def as_(bot: Bot, username: str) -> FlaskClient:
    client = bot.client.application.test_client()
    assert login(client, username=username).status_code == 302
    return client


def token_of(client: FlaskClient) -> str:
    return csrf_of(client.get("/dashboard/").text)


def audit_rows(bot: Bot, action: str | None = None) -> list[dict[str, Any]]:
    rows = [dict(r) for r in bot.hotline.storage.audit_entries()]
    return [r for r in rows if action is None or r["action"] == action]


# -- hashing and the account rules --------------------------------------------------------------


def test_the_stored_hash_is_scrypt_and_never_the_password(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "a.sqlite3")
    account = accounts.create(storage, "sato", PASSWORD, "viewer", by="test", at=_now())
    stored = storage.account(account.id)["password_hash"]
    assert stored.startswith("scrypt:") and PASSWORD not in stored
    assert accounts.authenticate(storage, "sato", PASSWORD) == account
    assert accounts.authenticate(storage, "SATO", PASSWORD) == account  # names ignore case
    # A second account with the same password gets a different (salted) hash.
    other = accounts.create(storage, "suzuki", PASSWORD, "viewer", by="test", at=_now())
    assert storage.account(other.id)["password_hash"] != stored
    for reason, name, password in (
        ("wrong_password", "sato", PASSWORD + "x"),
        ("unknown_user", "nobody", PASSWORD),
        ("unknown_user", "", PASSWORD),
    ):
        with pytest.raises(accounts.LoginFailed) as failed:
            accounts.authenticate(storage, name, password)
        assert failed.value.reason == reason
    # No password, hash or salt in the audit log.
    for row in storage.audit_entries():
        assert PASSWORD not in json.dumps(dict(row)) and "scrypt" not in json.dumps(dict(row))


def test_account_rules(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "a.sqlite3")
    with pytest.raises(AccountError, match="12文字以上"):
        accounts.create(storage, "sato", "short-pass1", "viewer", by="test", at=_now())
    with pytest.raises(AccountError, match="ユーザー名"):
        accounts.create(storage, "佐藤 太郎", PASSWORD, "viewer", by="test", at=_now())
    with pytest.raises(AccountError, match="権限"):
        accounts.create(storage, "sato", PASSWORD, "root", by="test", at=_now())
    boss = accounts.create(storage, "boss", PASSWORD, "admin", by="test", at=_now())
    with pytest.raises(AccountError, match="すでに使われています"):
        accounts.create(storage, "BOSS", PASSWORD, "viewer", by="test", at=_now())
    # The last active administrator can be neither demoted nor disabled.
    with pytest.raises(AccountError, match="有効な管理者が1人もいなくなる"):
        accounts.set_role(storage, boss.id, "viewer", by="test", at=_now())
    with pytest.raises(AccountError, match="有効な管理者が1人もいなくなる"):
        accounts.set_active(storage, boss.id, False, by="test", at=_now())
    assert accounts.get(storage, boss.id) == boss  # rolled back
    accounts.create(storage, "boss2", PASSWORD, "admin", by="test", at=_now())
    assert accounts.set_active(storage, boss.id, False, by="test", at=_now()).active is False
    assert [a.role_label for a in accounts.all_accounts(storage)] == ["管理者", "管理者"]


def _now() -> Any:
    return T0


# -- login ---------------------------------------------------------------------------------------


def test_login_ok_wrong_password_unknown_and_disabled(people: Bot) -> None:
    client = people.client
    assert login(client, "wrong password!", username=VIEWER).status_code == 401
    unknown = login(client, username="nobody")
    assert unknown.status_code == 401 and LOGIN_ERROR in unknown.text
    assert client.get("/dashboard/").status_code == 302
    ok = login(client, username=VIEWER)
    assert ok.status_code == 302 and ok.headers["Location"] == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status_code == 200 and f"{VIEWER}（閲覧者）" in page.text
    with client.session_transaction() as session:
        assert session["account_id"] == accounts.by_name(people.hotline.storage, VIEWER).id  # type: ignore[union-attr]
        assert session["role"] == "viewer"
    # An administrator disables the account: its open session ends at the next request...
    viewer = accounts.by_name(people.hotline.storage, VIEWER)
    assert viewer is not None
    accounts.set_active(people.hotline.storage, viewer.id, False, by=ADMIN, at=people.clock.now())
    assert client.get("/dashboard/").status_code == 302
    # ...and the right password no longer opens one.
    disabled = login(people.client.application.test_client(), username=VIEWER)
    assert disabled.status_code == 401 and DISABLED_ERROR in disabled.text


def test_a_role_change_applies_to_an_open_session_at_once(people: Bot) -> None:
    client = as_(people, COORDINATOR)
    assert client.get("/dashboard/drills/new").status_code == 200
    coordinator = accounts.by_name(people.hotline.storage, COORDINATOR)
    assert coordinator is not None
    accounts.set_role(people.hotline.storage, coordinator.id, "viewer", by=ADMIN, at=people.clock.now())
    assert client.get("/dashboard/drills/new").status_code == 403


def _post_login(bot: Bot, username: str, password: str, address: str = "127.0.0.1") -> Any:
    """A login form posted from `address`, by a new browser (a session and CSRF token of its own)."""
    client = bot.client.application.test_client()
    page = client.get(LOGIN, environ_base={"REMOTE_ADDR": address})
    return client.post(
        LOGIN,
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        environ_base={"REMOTE_ADDR": address},
    )


def test_a_colleagues_login_never_clears_the_failures_on_the_admin_name(people: Bot) -> None:
    """The reported attack: four wrong admin guesses, one viewer login, again and again. The
    admin name is slowed down long before 20 guesses; the viewer is not."""
    guesses = 0
    refused = None
    while guesses < 20 and refused is None:
        for _ in range(4):
            guesses += 1
            answer = _post_login(people, ADMIN, f"guess number {guesses}")
            if answer.status_code == 429:
                refused = answer
                break
            assert answer.status_code == 401
        assert _post_login(people, VIEWER, PASSWORD).status_code == 302
    assert refused is not None, "20 guesses at the admin's password and never a 429"
    assert guesses == 6  # five failures in a minute, then the name waits
    assert "このユーザー名ではしばらくログインできません" in refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Even the right password waits, so the guesses cannot go on by another door.
    assert _post_login(people, ADMIN, PASSWORD).status_code == 429


def test_behind_a_proxy_one_persons_failures_do_not_lock_out_the_others(people: Bot) -> None:
    """Without HOTLINE_TRUSTED_PROXIES everyone behind the proxy shares one address: five bad
    logins by one person slow down the name she typed, and nobody else."""
    for n in range(5):
        assert _post_login(people, COORDINATOR, f"mistyped {n}").status_code == 401
    assert _post_login(people, COORDINATOR, PASSWORD).status_code == 429
    assert _post_login(people, ADMIN, PASSWORD).status_code == 302
    # A name that matches no account is slowed down alike: the 429 tells nothing.
    for n in range(5):
        assert _post_login(people, "no-such-person", f"guess {n}").status_code == 401
    assert _post_login(people, "no-such-person", "guess 6").status_code == 429
    # Case and spaces do not make another name.
    assert _post_login(people, f"  {COORDINATOR.upper()} ", PASSWORD).status_code == 429


def test_a_slowed_name_may_log_in_again_once_its_failures_leave_the_window(people: Bot) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        for n in range(5):
            assert _post_login(people, VIEWER, f"typo {n}").status_code == 401
        first = _post_login(people, VIEWER, PASSWORD)
        assert first.status_code == 429 and int(first.headers["Retry-After"]) == 60
        clock.shift(61)
        assert _post_login(people, VIEWER, PASSWORD).status_code == 302
        # A steady guesser (three a minute, under the per-minute limit) is stopped by the hour's
        # twenty (the five typos count too), and told how long that is.
        for minute in range(5):
            for n in range(3):
                assert _post_login(people, VIEWER, f"slow guess {minute}-{n}").status_code == 401
            clock.shift(61)
        hourly = _post_login(people, VIEWER, PASSWORD)
        assert hourly.status_code == 429
        assert int(hourly.headers["Retry-After"]) == 3600 - 61 * 6  # until the first typo is an hour old
        assert "約54分後" in hourly.text
        clock.shift(3600)
        assert _post_login(people, VIEWER, PASSWORD).status_code == 302


def test_one_address_spraying_many_names_is_capped_and_the_others_are_not(people: Bot) -> None:
    client = people.client
    page = client.get(LOGIN, environ_base={"REMOTE_ADDR": SPRAYER})
    token = csrf_of(page.text)
    for n in range(100):  # one password tried on a hundred names
        answer = client.post(
            LOGIN,
            data={"username": f"user{n}", "password": "Spring2026!!", "csrf_token": token},
            environ_base={"REMOTE_ADDR": SPRAYER},
        )
        assert answer.status_code == 401, n
    capped = _post_login(people, VIEWER, PASSWORD, SPRAYER)
    assert capped.status_code == 429 and "この接続元からのログインの失敗が多すぎる" in capped.text
    assert int(capped.headers["Retry-After"]) > 0
    assert _post_login(people, VIEWER, PASSWORD).status_code == 302


# -- every route and the role it needs -----------------------------------------------------------


def _url(rule: Any, ids: dict[str, int]) -> str:
    path = str(rule.rule)
    for name, value in ids.items():
        path = path.replace(f"<int:{name}>", str(value))
    return path.replace("<path:filename>", "dashboard.css")


def _routes(bot: Bot, ids: dict[str, int]) -> list[tuple[str, str, str, str | None]]:
    """(endpoint, method, url, least role) for every rule and method of the app."""
    out = []
    for rule in bot.client.application.url_map.iter_rules():
        assert rule.endpoint in ROUTES, f"{rule.rule} ({rule.endpoint}): add it to ROUTES with its role"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, _url(rule, ids), ROUTES[rule.endpoint]))
    return out


@pytest.fixture
def ids(people: Bot, lw: FakeLineWorks) -> dict[str, int]:
    """A running drill, a scheduled one and the viewer's account, for the routes' ids."""
    drills = people.hotline.drills
    drill_id = drills.create(title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t")
    (run_id,) = drills.run_due()
    viewer = accounts.by_name(people.hotline.storage, VIEWER)
    assert viewer is not None
    return {
        "incident_id": 999,
        "drill_id": drill_id,
        "run_id": run_id,
        "report_id": 999,
        "account_id": viewer.id,
        "entry_id": 999,
        "instruction_id": 999,
    }


def _state(bot: Bot) -> Any:
    storage = bot.hotline.storage
    return (
        [tuple(r) for r in storage.drills()],
        [tuple(r) for r in storage.runs()],
        [a.public() for a in accounts.all_accounts(storage)],
    )


def test_every_route_refuses_a_visitor_without_a_login(people: Bot, ids: dict[str, int]) -> None:
    client = people.client.application.test_client()
    before = _state(people)
    for endpoint, method, url, role in _routes(people, ids):
        if role is None:
            continue
        response = client.open(url, method=method, data={"step": "create", "role": "admin"})
        if role == "api" or endpoint in JSON_ENDPOINTS:
            assert response.status_code == 401, (method, url)
        else:
            assert response.status_code == 302, (method, url)
            assert response.headers["Location"].startswith(LOGIN), (method, url)
    assert _state(people) == before


@pytest.mark.parametrize("who", [VIEWER, COORDINATOR, ADMIN])
def test_every_route_checks_the_role(people: Bot, ids: dict[str, int], who: str) -> None:
    """Each account opens every page it may and is refused (403, in Japanese) every page and
    action above its role, even with a valid CSRF token; nothing changes when refused."""
    role = accounts.by_name(people.hotline.storage, who).role  # type: ignore[union-attr]
    client = as_(people, who)
    token = token_of(client)
    before = _state(people)
    for endpoint, method, url, needed in _routes(people, ids):
        if needed is None or endpoint == "dashboard.logout":
            continue
        allowed = needed == "api" or accounts.rank(role) >= accounts.rank(needed)
        data = {
            "csrf_token": token,
            "role": "admin",
            "run_id": str(ids["run_id"]),
            **form(),
            "step": "create",
        }
        if allowed:
            if method == "POST":
                continue  # acting is tested below; here only that the pages open
            response = client.get(url)
            assert response.status_code in (200, 404), (who, url, response.status_code)
        else:
            response = client.open(url, method=method, data=data if method == "POST" else None)
            assert response.status_code == 403, (who, method, url, response.status_code)
            message = FORBIDDEN_MESSAGES[needed]
            if endpoint in JSON_ENDPOINTS:
                assert response.json == {"error": message}
            else:
                assert message in response.text and response.headers["Cache-Control"] == "no-store"
    assert _state(people) == before
    # A viewer is not offered the buttons either.
    page = client.get(f"/dashboard/drills/{ids['drill_id']}").text
    listing = client.get("/dashboard/drills/").text
    offered = 'data-testid="abort-button"' in page and 'data-testid="new-drill-link"' in listing
    assert offered is (role != "viewer")
    assert ('data-testid="nav-accounts"' in listing) is (role == "admin")


def test_every_post_needs_the_csrf_token(people: Bot, ids: dict[str, int]) -> None:
    client = as_(people, ADMIN)  # allowed everything: only the CSRF check refuses
    before = _state(people)
    posts = [(e, url) for e, method, url, role in _routes(people, ids) if method == "POST"]
    assert {e for e, _ in posts} >= {
        "dashboard.login",
        "dashboard.logout",
        "drills.fire",
        "admin.add_account",
    }
    for endpoint, url in posts:
        if endpoint == "door.callback":
            continue  # LINE WORKS signs it instead (tests/test_callback.py)
        if endpoint == "mail_links.link":
            continue  # its signed address is the credential (tests/test_mail_links.py)
        for forged in ({}, {"csrf_token": "forged"}):
            data = {"username": ADMIN, "password": PASSWORD, "role": "viewer", **form(), "step": "create"}
            response = client.post(url, data={**data, **forged})
            assert response.status_code == 400, (url, response.status_code)
            assert CSRF_MESSAGE in response.text, url
    assert _state(people) == before
    assert client.get("/dashboard/").status_code == 200  # logout without the token did nothing


def test_the_api_takes_a_session_of_any_role_or_the_bearer_token(people: Bot, ids: dict[str, int]) -> None:
    path = f"/api/drills/{ids['drill_id']}"
    anonymous = people.client.application.test_client()
    assert anonymous.get(path).status_code == 401
    assert anonymous.get(path, headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert anonymous.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    for who in (VIEWER, COORDINATOR, ADMIN):
        assert as_(people, who).get(path).json["id"] == ids["drill_id"]  # type: ignore[index]
    # The bearer token opens only the API: it is not a dashboard password.
    assert login(anonymous, TOKEN, username=ADMIN).status_code == 401
    assert anonymous.get("/dashboard/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 302


# -- the administrator's pages and the audit log -------------------------------------------------


def test_admin_adds_changes_and_disables_accounts_and_the_audit_log_shows_it(people: Bot) -> None:
    client = as_(people, ADMIN)
    page = client.get("/dashboard/admin/accounts")
    assert page.status_code == 200 and f'data-testid="account-{VIEWER}"' in page.text
    token = csrf_of(page.text)
    add = {"username": "tanaka", "role": "viewer", "password": PASSWORD, "csrf_token": token}
    mismatch = client.post("/dashboard/admin/accounts", data={**add, "password_confirm": PASSWORD + "x"})
    assert mismatch.status_code == 400 and "一致しません" in mismatch.text
    assert PASSWORD not in mismatch.text  # the form comes back without the password
    short = client.post(
        "/dashboard/admin/accounts", data={**add, "password": "x" * 11, "password_confirm": "x" * 11}
    )
    assert short.status_code == 400 and "12文字以上" in short.text
    done = client.post("/dashboard/admin/accounts", data={**add, "password_confirm": PASSWORD})
    assert done.status_code == 302
    tanaka = accounts.by_name(people.hotline.storage, "tanaka")
    assert tanaka is not None and tanaka.role == "viewer" and tanaka.created_by == ADMIN
    assert "「tanaka」（閲覧者）を作成しました。" in client.get("/dashboard/admin/accounts").text
    base = f"/dashboard/admin/accounts/{tanaka.id}"
    assert client.post(f"{base}/role", data={"role": "coordinator", "csrf_token": token}).status_code == 302
    assert client.post(f"{base}/role", data={"role": "root", "csrf_token": token}).status_code == 302
    assert client.post(f"{base}/disable", data={"csrf_token": token}).status_code == 302
    tanaka = accounts.get(people.hotline.storage, tanaka.id)
    assert tanaka is not None and tanaka.role == "coordinator" and not tanaka.active
    # An administrator cannot demote or disable themselves.
    me = accounts.by_name(people.hotline.storage, ADMIN)
    assert me is not None
    client.post(f"/dashboard/admin/accounts/{me.id}/disable", data={"csrf_token": token})
    refused = client.get("/dashboard/admin/accounts").text
    assert "自分自身の権限の変更や無効化はできません" in refused
    assert accounts.get(people.hotline.storage, me.id) == me

    create_row, role_row, disable_row = (
        audit_rows(people, "account_create")[0],
        audit_rows(people, "account_role")[0],
        audit_rows(people, "account_disable")[0],
    )
    assert create_row["who"] == ADMIN and create_row["target"] == "account:tanaka"
    assert create_row["before"] is None and json.loads(create_row["after"])["role"] == "viewer"
    assert role_row["who"] == ADMIN and json.loads(role_row["before"])["role"] == "viewer"
    assert '-  "role": "viewer"' in role_row["diff"] and '+  "role": "coordinator"' in role_row["diff"]
    assert '-  "active": true' in disable_row["diff"] and '+  "active": false' in disable_row["diff"]
    assert len(audit_rows(people, "account_role")) == 1  # the refused role changed nothing

    log = client.get("/dashboard/admin/audit")
    assert log.status_code == 200
    order = re.findall(r'data-testid="audit-action">([^<]+)<', log.text)
    assert order[:3] == ["アカウントの無効化", "権限の変更", "アカウント作成"]  # newest first
    # a table of the fields that changed, values in Japanese
    assert "<tr><td>権限</td><td>閲覧者</td><td>訓練担当</td></tr>" in log.text
    assert "<tr><td>有効</td><td>はい</td><td>いいえ</td></tr>" in log.text


def test_logins_failures_and_logouts_are_audited_without_passwords(people: Bot) -> None:
    client = people.client
    login(client, "wrong password!", username=VIEWER)
    login(client, "wrong password!", username=PASSWORD)  # a password typed as the name
    login(client, username=VIEWER)
    client.post("/dashboard/logout", data={"csrf_token": token_of(client)})
    rows = audit_rows(people)
    assert [r["action"] for r in reversed(rows[:4])] == ["login_failed", "login_failed", "login", "logout"]
    failed, unknown, ok, out = reversed(rows[:4])
    assert failed["who"] == VIEWER and json.loads(failed["after"]) == {"reason": "wrong_password"}
    assert (
        unknown["who"] == "（登録のないユーザー名）"
        and unknown["target"] == "account:（登録のないユーザー名）"
    )
    assert ok["who"] == VIEWER and ok["address"] == "127.0.0.1"
    assert out["who"] == VIEWER and out["target"] == f"account:{VIEWER}"
    everything = json.dumps([dict(r) for r in people.hotline.storage.audit_entries()], ensure_ascii=False)
    assert PASSWORD not in everything and "wrong password!" not in everything


def test_drill_changes_in_the_pages_are_audited_with_the_coordinator(people: Bot, lw: FakeLineWorks) -> None:
    client = as_(people, COORDINATOR)
    drill_id = create(client, when="cron", cron="0 9 1-7 * mon")
    page = client.get(f"/dashboard/drills/{drill_id}")
    token = csrf_of(page.text)
    assert client.post(f"/dashboard/drills/{drill_id}/fire", data={"csrf_token": token}).status_code == 302
    (run,) = people.hotline.storage.runs(drill_id)
    abort = client.post(
        f"/dashboard/drills/{drill_id}/abort", data={"csrf_token": token, "run_id": str(run["id"])}
    )
    assert abort.status_code == 302
    assert client.post(f"/dashboard/drills/{drill_id}/cancel", data={"csrf_token": token}).status_code == 302
    rows = [r for r in audit_rows(people) if r["action"].startswith("drill_")]
    assert [r["action"] for r in reversed(rows)] == [
        "drill_create",
        "drill_fire",
        "drill_abort",
        "drill_cancel",
    ]
    assert {r["who"] for r in rows} == {COORDINATOR} and {r["target"] for r in rows} == {f"drill:{drill_id}"}
    created, fired, aborted, cancelled = reversed(rows)
    assert created["before"] is None and json.loads(created["after"])["cron"] == "0 9 1-7 * mon"
    assert json.loads(fired["after"])["runs"] == [{"id": run["id"], "status": "running"}]
    assert '+      "status": "aborted"' in aborted["diff"]
    assert '-  "status": "scheduled"' in cancelled["diff"] and '+  "status": "cancelled"' in cancelled["diff"]


def test_the_audit_csv_has_a_bom_and_every_entry(people: Bot) -> None:
    client = as_(people, ADMIN)
    response = client.get("/dashboard/admin/audit?format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == "attachment; filename=audit-log.csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == audit.CSV_HEADER
    assert len(rows) - 1 == len(audit_rows(people))  # oldest first, all of them
    assert rows[1][2] == "アカウント作成" and rows[1][1] == "test" and rows[1][3] == f"account:{ADMIN}"
    assert rows[-1][2] == "ログイン" and rows[-1][1] == ADMIN and rows[-1][0].startswith("2026-11-21 03:12")
    assert rows[1][7].startswith("'---")  # a diff never reads as a spreadsheet formula
    assert as_(people, COORDINATOR).get("/dashboard/admin/audit?format=csv").status_code == 403


def test_audit_record_keeps_before_after_and_a_readable_diff(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "a.sqlite3")
    entry = audit.record(
        storage,
        "hq-admin",
        "config_edit",
        "rooms/hq.toml",
        {"title": "本部", "n": 1},
        {"title": "本部2", "n": 1},
    )
    (row,) = storage.audit_entries()
    assert row["id"] == entry and json.loads(row["before"]) == {"title": "本部", "n": 1}
    assert row["diff"].splitlines() == [
        "--- 変更前",
        "+++ 変更後",
        "@@ -1,4 +1,4 @@",
        " {",
        '   "n": 1,',
        '-  "title": "本部"',
        '+  "title": "本部2"',
        " }",
    ]


# -- the command line ----------------------------------------------------------------------------


def users(db: Path, *args: str) -> int:
    return cli.main(["--config", str(ROOT), "users", "--database", str(db), *args])


def test_hotline_users_add_and_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cli.sqlite3"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert users(db, "add", "sato", "--role", "admin", "--password-stdin") == 0
    assert "account sato created (admin, 管理者)" in capsys.readouterr().out
    storage = Storage(db)
    assert accounts.authenticate(storage, "sato", PASSWORD).role == "admin"
    (row,) = storage.audit_entries()
    assert row["action"] == "account_create" and row["who"].startswith("cli")
    assert PASSWORD not in json.dumps(dict(row))
    # Too short, taken, or typed differently twice: refused, nothing stored.
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert users(db, "add", "suzuki", "--role", "viewer", "--password-stdin") == 1
    assert "12文字以上" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert users(db, "add", "Sato", "--role", "viewer", "--password-stdin") == 1
    typed = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    assert users(db, "add", "suzuki", "--role", "viewer") == 1
    assert "the two passwords differ" in capsys.readouterr().err
    typed = iter([PASSWORD, PASSWORD])
    assert users(db, "add", "suzuki", "--role", "coordinator") == 0
    capsys.readouterr()
    assert users(db, "list") == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in listed] == [["sato", "admin"], ["suzuki", "coordinator"]]
    with pytest.raises(SystemExit):
        users(db, "add", "x", "--role", "root")
    # A new password, audited as changed (never with the value).
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert users(db, "passwd", "sato", "--password-stdin") == 0
    assert accounts.authenticate(storage, "sato", "another long password").username == "sato"
    assert storage.audit_entries()[0]["action"] == "account_password"
    assert "another long password" not in json.dumps([dict(r) for r in storage.audit_entries()])
    assert users(db, "passwd", "nobody", "--password-stdin") == 1


def test_cli_drill_actions_are_audited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cli.sqlite3"
    base = ["--config", str(ROOT), "drill", "--database", str(db)]
    assert (
        cli.main([*base, "create", "--title", "月例", "--municipalities", UWAJIMA, "--cron", "0 9 1-7 * mon"])
        == 0
    )
    assert cli.main([*base, "cancel", "1"]) == 0
    assert cli.main([*base, "cancel", "1"]) == 1  # nothing to do: nothing audited
    rows = Storage(db).audit_entries()
    assert [r["action"] for r in rows] == ["drill_cancel", "drill_create"]
    assert all(r["who"].startswith("cli") and r["target"] == "drill:1" for r in rows)
    assert '+  "status": "cancelled"' in rows[0]["diff"]
