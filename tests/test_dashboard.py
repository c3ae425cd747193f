"""The HQ dashboard through the Flask test client: login with an account, throttling and CSRF,
what the pages show (silent municipalities, escaped report text), the exports, and the session on /api/.

Reports are created the real way: signed callbacks in, LINE WORKS faked at the requests
boundary with `responses`, the workers driven step by step on a fixed clock."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
import requests
import responses
from flask.testing import FlaskClient

from hotline.config import Config, Member
from hotline.demo import demo_user_id
from hotline.domain.acknowledgements import RELATION_LABELS, relation
from tests.support.bot import API, AUTH, BOT_ID, TOKEN, Bot
from tests.support.web import ADMIN, LOGIN, PASSWORD, add_account, csrf_of, login

UWAJIMA = "382035"  # the stricken city in these tests
IMABARI = "382027"  # its primary supporter
REPORT = "第一報 午前3時頃から大雨、市内3か所で土砂崩れ、人的被害確認中"


# -- LINE WORKS at the requests boundary --------------------------------------------------------


@pytest.fixture
def lw(sample_config: Config) -> Iterator[responses.RequestsMock]:
    """Accepts every send; answers user lookups with the member's e-mail.

    Replaces conftest's FakeLineWorks in this module: these tests use the demo userIds."""
    by_uid = {demo_user_id(m): m for m in sample_config.all_members()}

    def user(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        user_id = str(request.url).rsplit("/", 1)[-1].split("?")[0]
        member = by_uid.get(user_id)
        if member is None:
            return 404, {}, json.dumps({"code": "NOT_FOUND", "description": "no such user"})
        return 200, {}, json.dumps({"userId": user_id, "email": member.email})

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(
            responses.POST,
            AUTH,
            json={"access_token": "tok", "token_type": "Bearer", "expires_in": "86400"},
        )
        rsps.add(responses.POST, re.compile(rf"{re.escape(API)}/bots/{BOT_ID}/.*"), status=201, body="")
        # A board post, when the configuration names a board (LINE WORKS answers with the post).
        rsps.add(responses.POST, re.compile(rf"{re.escape(API)}/boards/.*"), status=201, json={"postId": "1"})
        rsps.add_callback(responses.GET, re.compile(rf"{re.escape(API)}/users/.*"), callback=user)
        yield rsps


def group_channel(config: Config) -> str:
    return next(r.channel_id for r in config.rooms if r.key == "group-team1")


def deputy(config: Config, code: str) -> Member:
    return config.municipalities[code].members[0]


def post_report(bot: Bot, text: str = REPORT) -> int:
    """A first report from Uwajima's deputy mayor in the team1 room; returns the incident id."""
    assert (
        bot.say(demo_user_id(deputy(bot.config, UWAJIMA)), text, group_channel(bot.config)).status_code == 200
    )
    bot.drain()
    incident_id: int = bot.hotline.storage.incidents()[0]["id"]
    return incident_id


def acknowledge(bot: Bot, code: str) -> None:
    """A member of `code` types 「確認しました」 under the report in the team1 room."""
    member = bot.config.municipalities[code].members[1]
    assert bot.say(demo_user_id(member), "確認しました", group_channel(bot.config)).status_code == 200
    bot.drain()


# -- the browser side ---------------------------------------------------------------------------


@pytest.fixture
def client(bot: Bot) -> FlaskClient:
    add_account(bot)
    return bot.client


@pytest.fixture
def logged_in(client: FlaskClient) -> FlaskClient:
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/"
    return client


class Rows(HTMLParser):
    """Table rows and timeline entries by data-testid, with their attributes and visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, Any]] = {}  # testid -> attrs + "text"
        self.entries: list[str] = []
        self._open: list[tuple[str, dict[str, Any]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag in ("tr", "li"):
            item = {**found, "text": ""}
            self._open.append((tag, item))
            if tag == "tr" and "data-testid" in found:
                self.rows.setdefault(found["data-testid"], item)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _, item = self._open.pop()
            if item.get("data-testid") == "timeline-entry":
                self.entries.append(" ".join(item["text"].split()))

    def handle_data(self, data: str) -> None:
        for _, item in self._open:
            item["text"] += data


def json_of(response: Any) -> Any:
    return json.loads(response.data)


def matrix_rows(html: str, report_id: int) -> Rows:
    start = html.index(f'data-testid="matrix-{report_id}"')
    return Rows(html[start : html.index("</table>", start)])


# -- login --------------------------------------------------------------------------------------


def test_every_dashboard_route_needs_a_login(client: FlaskClient, bot: Bot, lw: Any) -> None:
    incident = post_report(bot)
    for path in (
        "/dashboard/",
        f"/dashboard/incidents/{incident}",
        f"/dashboard/incidents/{incident}.csv",
        f"/dashboard/incidents/{incident}/print",
        "/dashboard/incidents/999",
    ):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith(LOGIN + "?next=/dashboard/"), path
        assert "土砂崩れ" not in response.text
    response = client.get(f"/dashboard/incidents/{incident}.json")
    assert response.status_code == 401
    assert response.json == {"error": "ログインしてください。"}
    response = client.post("/dashboard/logout")
    assert response.status_code == 302 and response.headers["Location"].startswith(LOGIN)
    # The login page itself and its stylesheet are open.
    assert client.get(LOGIN).status_code == 200
    assert client.get("/dashboard/static/dashboard.css").status_code == 200


def test_wrong_password_is_refused(client: FlaskClient) -> None:
    response = login(client, "not-the-password")
    assert response.status_code == 401
    assert "ユーザー名またはパスワードが正しくありません" in response.text
    # The API token is no longer a dashboard password.
    assert login(client, TOKEN).status_code == 401
    assert client.get("/dashboard/").status_code == 302
    assert client.get("/dashboard/incidents/1.json").status_code == 401


def test_login_then_logout(client: FlaskClient) -> None:
    response = login(client, next="/dashboard/incidents/1")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/incidents/1"
    page = client.get("/dashboard/")
    assert page.status_code == 200 and "災害一覧" in page.text
    # Logging out needs the session's CSRF token too.
    assert client.post("/dashboard/logout").status_code == 400
    assert client.get("/dashboard/").status_code == 200
    response = client.post("/dashboard/logout", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 302 and response.headers["Location"] == LOGIN
    assert client.get("/dashboard/").status_code == 302


def test_login_never_redirects_off_the_dashboard(client: FlaskClient) -> None:
    for target in ("https://evil.example/", "//evil.example/dashboard/", "/api/incidents"):
        response = login(client.application.test_client(), next=target)
        assert response.status_code == 302 and response.headers["Location"] == "/dashboard/", target


def test_login_without_csrf_token_is_400_and_not_logged_in(client: FlaskClient) -> None:
    client.get(LOGIN)
    response = client.post(LOGIN, data={"username": ADMIN, "password": PASSWORD})
    assert response.status_code == 400
    assert "不正な送信" in response.text
    assert client.get("/dashboard/").status_code == 302
    response = client.post(LOGIN, data={"username": ADMIN, "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/dashboard/").status_code == 302


def test_session_cookie_flags_and_security_headers(client: FlaskClient) -> None:
    response = login(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = client.get("/dashboard/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    # Over HTTPS the cookie is Secure.
    https = client.application.test_client()
    form = https.get(LOGIN, base_url="https://localhost")
    secure = https.post(
        LOGIN,
        data={"username": ADMIN, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/dashboard/login"},  # Flask-WTF checks it over HTTPS
    )
    assert "Secure" in secure.headers["Set-Cookie"]


# -- pages --------------------------------------------------------------------------------------


def test_list_shows_incidents_newest_first_with_ack_summary(
    logged_in: FlaskClient, bot: Bot, lw: Any
) -> None:
    empty = logged_in.get("/dashboard/")
    assert "まだ報告はありません" in empty.text
    first = post_report(bot)
    acknowledge(bot, IMABARI)
    page = logged_in.get("/dashboard/")
    assert page.status_code == 200
    rows = Rows(page.text).rows
    row = rows[f"incident-{first}"]
    assert "宇和島市" in row["text"]
    assert "2026-11-21 03:12:00" in row["text"]  # 18:12 UTC is 03:12 in Japan
    assert "対応中" in row["text"] and "第一報" in row["text"]
    assert re.search(r"1/\d+ 市町（未確認 \d+）", row["text"])  # 今治市 has acknowledged, others not
    assert "has-silent" in row["class"].split()
    # A report from another town opens a second incident, listed above the first.
    matsuyama = deputy(bot.config, "382019")
    bot.clock.advance(minutes=5)
    bot.say(demo_user_id(matsuyama), "第一報 松山市で停電", None)
    bot.drain()
    page = logged_in.get("/dashboard/")
    order = [k for k in Rows(page.text).rows if k.startswith("incident-")]
    assert order[-1] == f"incident-{first}" and len(order) == 2
    assert "松山市" in Rows(page.text).rows[order[0]]["text"]


def test_incident_page_marks_silent_municipalities(logged_in: FlaskClient, bot: Bot, lw: Any) -> None:
    incident = post_report(bot)
    report_id = bot.hotline.storage.reports_of_incident(incident)[0]["id"]
    page = logged_in.get(f"/dashboard/incidents/{incident}")
    assert page.status_code == 200
    assert "宇和島市の災害" in page.text and REPORT.removeprefix("第一報 ") in page.text
    rows = matrix_rows(page.text, report_id).rows
    imabari = rows[f"muni-{IMABARI}"]
    assert imabari["data-acknowledged"] == "false"
    assert "silent" in imabari["class"].split()
    label = RELATION_LABELS[relation(bot.config, UWAJIMA, IMABARI)]
    assert label in imabari["text"] and "未確認" in imabari["text"]
    # The stricken city is the source, not a silent one; HQ and members are listed too.
    assert "被災市町" in rows[f"muni-{UWAJIMA}"]["text"]
    assert "silent" not in rows[f"muni-{UWAJIMA}"]["class"].split()
    assert "hq" in rows
    member = bot.config.municipalities[IMABARI].members[1]
    assert member.name in rows[f"member-{member.key}"]["text"]
    assert "✓" in rows[f"member-{member.key}"]["text"]  # delivered through the group room
    # the read cell: ✓ / 未読 from a board, — without one (or before its first poll)
    assert any(mark in rows[f"member-{member.key}"]["text"] for mark in ("—", "未読"))

    acknowledge(bot, IMABARI)
    page = logged_in.get(f"/dashboard/incidents/{incident}")
    rows = matrix_rows(page.text, report_id).rows
    imabari = rows[f"muni-{IMABARI}"]
    assert imabari["data-acknowledged"] == "true"
    assert "silent" not in imabari["class"].split()
    assert "✓ 11/21 03:12:00" in imabari["text"]
    silent = [k for k, r in rows.items() if "silent" in r.get("class", "").split()]
    assert silent and f"muni-{IMABARI}" not in silent
    entries = Rows(page.text).entries
    assert any(e.startswith("2026-11-21 03:12:00 確認 確認: 今治市") for e in entries), entries
    assert any(e.startswith("2026-11-21 03:12:00 報告 第一報（宇和島市") for e in entries), entries
    assert any(e.startswith("2026-11-21 03:12:00 配信 配信: チームえひめ 第1グループ") for e in entries)


def test_json_has_the_matrices_and_the_timeline(logged_in: FlaskClient, bot: Bot, lw: Any) -> None:
    incident = post_report(bot)
    acknowledge(bot, IMABARI)
    response = logged_in.get(f"/dashboard/incidents/{incident}.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    view = json_of(response)
    assert view["incident"]["municipality"] == "宇和島市"
    assert view["older"] == []
    rows = {r["testid"]: r for r in view["latest"]["matrix"]["rows"]}
    assert rows[f"muni-{IMABARI}"]["acknowledged"] is True
    assert "silent" in rows["muni-382051"]["classes"]  # 八幡浜市 has not acknowledged
    assert any(e["kind"] == "ack" and "今治市" in e["title"] for e in view["timeline"])


def test_script_in_a_report_shows_as_text(logged_in: FlaskClient, bot: Bot, lw: Any) -> None:
    incident = post_report(bot, "第一報 <script>alert(1)</script> & 土砂崩れ")
    page = logged_in.get(f"/dashboard/incidents/{incident}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 土砂崩れ" in page.text
    assert "<script>alert" not in page.text
    printed = logged_in.get(f"/dashboard/incidents/{incident}/print")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in printed.text
    assert "<script" not in printed.text  # the print page has no script at all
    raw = logged_in.get(f"/dashboard/incidents/{incident}.json")
    assert b"<script>" not in raw.data
    assert json_of(raw)["latest"]["text"] == "<script>alert(1)</script> & 土砂崩れ"


def test_print_page_has_reports_matrices_and_timeline(logged_in: FlaskClient, bot: Bot, lw: Any) -> None:
    incident = post_report(bot)
    bot.clock.advance(minutes=20)
    poster = demo_user_id(deputy(bot.config, UWAJIMA))
    bot.say(poster, "第二報 避難所を2か所開設", group_channel(bot.config))
    bot.drain()
    page = logged_in.get(f"/dashboard/incidents/{incident}/print")
    assert page.status_code == 200
    assert "市内3か所で土砂崩れ、人的被害確認中" in page.text and "避難所を2か所開設" in page.text
    reports = bot.hotline.storage.reports_of_incident(incident)
    assert len(reports) == 2
    for report in reports:
        assert f'data-testid="matrix-{report["id"]}"' in page.text
    assert "クロノロジー" in page.text and 'data-testid="timeline-entry"' in page.text
    assert "2026-11-21 03:32:00" in page.text


def test_csv_export(logged_in: FlaskClient, bot: Bot, lw: Any) -> None:
    incident = post_report(bot)
    acknowledge(bot, IMABARI)
    response = logged_in.get(f"/dashboard/incidents/{incident}.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == f"attachment; filename=incident-{incident}.csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == ["日時（日本時間）", "種別", "報告ID", "内容", "詳細"]
    report = next(r for r in rows[1:] if r[1] == "報告")
    assert report[0] == "2026-11-21 03:12:00"
    assert report[3].startswith("第一報（宇和島市") and "土砂崩れ" in report[4]
    assert any(r[1] == "確認" and "今治市" in r[3] for r in rows[1:])


def test_the_record_names_people_and_kinds_in_japanese_never_raw_ids(
    logged_in: FlaskClient, bot: Bot, lw: Any
) -> None:
    incident = post_report(bot)
    acknowledge(bot, IMABARI)
    poster = deputy(bot.config, UWAJIMA)
    body = logged_in.get(f"/dashboard/incidents/{incident}.csv").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    kinds = {r[1] for r in rows[1:]}
    assert {"報告", "配信", "受付確認（報告者へ）", "確認"} <= kinds
    assert all(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", kind) for kind in kinds), kinds
    receipt = next(r for r in rows[1:] if r[1] == "受付確認（報告者へ）")
    assert receipt[3] == f"受付確認（報告者へ）: {poster.name}（チームえひめ 第1グループ ホットライン）"
    page = logged_in.get(f"/dashboard/incidents/{incident}").text
    assert f"受付確認（報告者へ）: {poster.name}" in page
    shown = re.sub(r"<[^>]*>", "", page)  # what a person reads (ids in attributes are for scripts)
    assert demo_user_id(poster) not in shown and demo_user_id(poster) not in body


def test_unknown_incident_is_404_in_japanese(logged_in: FlaskClient) -> None:
    for path in (
        "/dashboard/incidents/999",
        "/dashboard/incidents/999/print",
        "/dashboard/incidents/999.csv",
    ):
        response = logged_in.get(path)
        assert response.status_code == 404, path
        assert "災害（ID 999）は見つかりません" in response.text, path
    response = logged_in.get("/dashboard/incidents/999.json")
    assert response.status_code == 404
    assert response.json == {"error": "災害（ID 999）は見つかりません。"}


# -- the API with the dashboard session ---------------------------------------------------------


def test_api_accepts_the_dashboard_session_or_the_bearer_token(
    client: FlaskClient, bot: Bot, lw: Any
) -> None:
    incident = post_report(bot)
    report_id = bot.hotline.storage.reports_of_incident(incident)[0]["id"]
    path = f"/api/reports/{report_id}"
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    login(client)
    response = client.get(path)
    assert response.status_code == 200 and json_of(response)["id"] == report_id
    assert json_of(client.get("/api/incidents"))["incidents"][0]["id"] == incident
    # Another client, with neither: still refused.
    assert client.application.test_client().get(path).status_code == 401
