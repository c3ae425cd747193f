"""The drill coordinator's pages through the Flask test client, on a fixed clock: login and
CSRF on every route, the creation form and its confirmation step, refusals in Japanese that
create nothing, the 実参集 confirmation, the hidden moment of an unannounced drill, the
buttons (中止 / 予定の取り消し / 今すぐ実施), the live JSON, the CSV and escaping.

LINE WORKS is faked at the requests boundary (tests/support/fake_lineworks.FakeLineWorks)."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from hotline.clock import iso, jst, parse_iso
from hotline.domain.drills import Targets
from hotline.web.pages.drill_form import REAL_CONFIRM_MESSAGE
from tests.support.bot import Bot
from tests.support.drill_pages import BASE, create, form, post_new, tap, token
from tests.support.fake_lineworks import FakeLineWorks
from tests.support.sample import members
from tests.support.web import LOGIN, PASSWORD, add_account, csrf_of, login

UWAJIMA = "382035"
AT = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # 09:00 JST, the day after T0 (03:12 JST)
CSRF_ERROR = "フォームの有効期限が切れたか、不正な送信です"
COORDINATOR = "kunren-1"  # the drill coordinator's account in these tests


@pytest.fixture
def client(bot: Bot) -> FlaskClient:
    add_account(bot, COORDINATOR, "coordinator")
    response = login(bot.client, username=COORDINATOR)
    assert response.status_code == 302
    return bot.client


def view(client: FlaskClient, drill_id: int) -> dict[str, Any]:
    response = client.get(f"{BASE}/{drill_id}.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    result: dict[str, Any] = json.loads(response.data)
    return result


def button(client: FlaskClient, drill_id: int, action: str, **fields: Any) -> Any:
    page = client.get(f"{BASE}/{drill_id}")
    return client.post(f"{BASE}/{drill_id}/{action}", data={"csrf_token": csrf_of(page.text), **fields})


def error_of(html: str) -> str:
    match = re.search(r'data-testid="form-error">([^<]*)<', html)
    assert match, "no form error shown"
    return match.group(1)


# -- login and CSRF -----------------------------------------------------------------------------


def test_every_route_needs_a_login(bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    drill_id = drills.create(title="訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="t")
    (run_id,) = drills.run_due()
    client = bot.client
    add_account(bot, COORDINATOR, "coordinator")
    for path in (
        f"{BASE}/",
        f"{BASE}/new",
        f"{BASE}/{drill_id}",
        f"{BASE}/history",
        f"{BASE}/runs/{run_id}.csv",
        f"{BASE}/999",
    ):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith(f"{LOGIN}?next={BASE}/"), path
        assert "訓練" not in response.text, path
    response = client.get(f"{BASE}/{drill_id}.json")
    assert response.status_code == 401 and response.json == {"error": "ログインしてください。"}
    for action in ("abort", "cancel", "fire"):
        response = client.post(f"{BASE}/{drill_id}/{action}", data={"run_id": str(run_id)})
        assert response.status_code == 302 and response.headers["Location"].startswith(LOGIN), action
    response = client.post(f"{BASE}/new", data={**form(), "step": "create"})
    assert response.status_code == 302 and response.headers["Location"].startswith(LOGIN)
    assert len(drills.storage.drills()) == 1
    assert [r["status"] for r in drills.storage.runs(drill_id)] == ["running"]
    # After logging in, the login page sends the coordinator back to the drill.
    page = client.get(f"{LOGIN}?next={BASE}/{drill_id}")
    back = client.post(
        LOGIN,
        data={
            "username": COORDINATOR,
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": f"{BASE}/{drill_id}",
        },
    )
    assert back.headers["Location"] == f"{BASE}/{drill_id}"


def test_every_post_needs_the_csrf_token(client: FlaskClient, bot: Bot, lw: FakeLineWorks) -> None:
    drills = bot.hotline.drills
    recurring = drills.create(
        title="月例", targets=Targets(municipalities=(UWAJIMA,)), created_by="t", cron="0 9 1-7 * mon"
    )
    now = drills.create(title="今すぐ", targets=Targets(municipalities=(UWAJIMA,)), created_by="t")
    (run_id,) = drills.run_due()
    attempts = [
        (f"{BASE}/new", {**form(), "step": "create"}),
        (f"{BASE}/new", {**form(), "step": "confirm"}),
        (f"{BASE}/{recurring}/cancel", {}),
        (f"{BASE}/{recurring}/fire", {}),
        (f"{BASE}/{now}/abort", {"run_id": str(run_id)}),
    ]
    for path, data in attempts:
        for forged in ({}, {"csrf_token": "forged"}):
            response = client.post(path, data={**data, **forged})
            assert response.status_code == 400, path
            assert CSRF_ERROR in response.text, path
    assert len(drills.storage.drills()) == 2
    assert drills.storage.drill(recurring)["status"] == "scheduled"
    assert drills.storage.runs(recurring) == []
    assert drills.storage.run(run_id)["status"] == "running"


def test_pages_carry_the_dashboard_security_headers(client: FlaskClient) -> None:
    for path in (f"{BASE}/", f"{BASE}/new", f"{BASE}/history"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"
        assert "<script>" not in response.text  # scripts only from files (CSP)
    # The dashboard's navigation links here.
    assert f'href="{BASE}/" data-testid="nav-drills"' in client.get("/dashboard/").text


# -- the creation form --------------------------------------------------------------------------


def test_the_form_offers_towns_roles_rooms_and_the_cron_example(client: FlaskClient) -> None:
    page = client.get(f"{BASE}/new").text
    assert 'value="382035"' in page and "宇和島市" in page
    for label in ("副市長・副町長", "防災担当部長", "人事担当課長", "担当職員"):
        assert label in page
    assert "チームえひめ 第1グループ ホットライン" in page
    assert "0 9 1-7 * mon = 毎月第1月曜 9:00" in page
    assert 'name="deadline_minutes" value="60"' in page and 'name="remind_minutes" value="10,20"' in page
    for when in ("now", "at", "cron", "window"):
        assert f'name="when" value="{when}"' in page
    assert 'type="datetime-local" name="at"' in page


def test_creating_a_drill_confirms_the_targets_and_send_time_first(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    confirmed = post_new(client, "confirm")
    assert confirmed.status_code == 200
    assert 'data-testid="estimate">対象 5人・送信に1分以内<' in confirmed.text
    assert "2026-11-21 09:00" in confirmed.text and "宇和島市 5人" in confirmed.text
    assert 'name="step" value="create"' in confirmed.text
    assert bot.hotline.storage.drills() == []  # confirming stores nothing
    everyone = post_new(client, "confirm", municipality=list(bot.config.municipalities))
    assert "対象 86人・送信に1分以内" in everyone.text
    assert bot.hotline.storage.drills() == []

    drill_id = create(client)
    drill = bot.hotline.storage.drill(drill_id)
    assert drill["title"] == "11月 参集訓練" and drill["kind"] == "drill"
    assert drill["created_by"] == COORDINATOR and drill["schedule"] == "once"  # who, by account
    assert drill["run_at"] == iso(AT)  # the datetime-local value is Japan time
    assert json.loads(drill["targets"])["municipalities"] == [UWAJIMA]
    assert json.loads(drill["remind_minutes"]) == [10, 20] and drill["deadline_minutes"] == 60
    page = client.get(f"{BASE}/{drill_id}").text
    assert "「11月 参集訓練」を作成しました。" in page
    assert 'data-testid="drill-schedule">2026-11-21 09:00<' in page
    listed = client.get(f"{BASE}/").text
    assert f'data-testid="drill-{drill_id}"' in listed and "予定" in listed


def test_roles_and_rooms_and_the_other_schedules(client: FlaskClient, bot: Bot, lw: FakeLineWorks) -> None:
    deputies = post_new(client, "confirm", municipality=[], role=["deputy_mayor"], when="now")
    assert "対象 20人・送信に1分以内" in deputies.text and "今すぐ" in deputies.text
    room = post_new(client, "confirm", municipality=[], room=["municipality-382035"])
    assert "対象 " in room.text and "宇和島市 災害対策 連絡ルーム" in room.text
    recurring = create(client, when="cron", cron="0 9 1-7 * mon", at="")
    drill = bot.hotline.storage.drill(recurring)
    assert drill["schedule"] == "cron" and drill["cron"] == "0 9 1-7 * mon"
    assert "繰り返し 毎月第1月曜日 9:00（次回 2026-12-07 09:00）" in client.get(f"{BASE}/{recurring}").text
    now = create(client, when="now", title="今すぐの訓練", remind_minutes="")
    assert bot.hotline.storage.drill(now)["schedule"] == "now"
    assert json.loads(bot.hotline.storage.drill(now)["remind_minutes"]) == []
    assert view(client, now)["drill"]["statusLabel"] == "まもなく開始"


def test_next_time_of_a_crontab_weekday_is_the_day_the_drill_fires(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    # In crontab, 1 is Monday (APScheduler alone would read it as Tuesday). The page once
    # parsed the crontab itself and announced Tuesday for a drill that fires on Monday.
    bot.clock.current = datetime(2026, 11, 20, 18, 12, tzinfo=UTC)  # Saturday 21 Nov 03:12 JST
    confirmed = post_new(client, "confirm", when="cron", cron="0 9 * * 1", at="")
    assert 'data-testid="confirm-when">繰り返し 毎週月曜日 9:00（次回 2026-11-23 09:00）<' in confirmed.text
    drill_id = create(client, when="cron", cron="0 9 * * 1", at="")
    assert "繰り返し 毎週月曜日 9:00（次回 2026-11-23 09:00）" in client.get(f"{BASE}/{drill_id}").text
    assert view(client, drill_id)["drill"]["schedule"] == "繰り返し 毎週月曜日 9:00（次回 2026-11-23 09:00）"
    # ...and the drill does fire then: Monday 23 Nov, 09:00 JST.
    bot.clock.current = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert len(bot.hotline.drills.run_due()) == 1
    (run,) = bot.hotline.storage.runs(drill_id)
    assert jst(parse_iso(run["scheduled_for"])).strftime("%a %Y-%m-%d %H:%M") == "Mon 2026-11-23 09:00"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cron": "every monday", "when": "cron"}, "繰り返しの指定「every monday」を読めません"),
        ({"at": "2026-11-18T09:00"}, "過去の日時は指定できません。"),
        ({"municipality": []}, "対象者が0人です。"),
        ({"title": "  "}, "訓練の名前を入力してください。"),
        ({"deadline_minutes": "3"}, "締め切りは5分から24時間の間で指定してください。"),
        ({"deadline_minutes": "一時間"}, "締め切りは分の数（整数）で入力してください。"),
        ({"remind_minutes": "10,90"}, "催促の時刻は、開始後かつ締め切り前にしてください。"),
        ({"remind_minutes": "十分"}, "催促は「10,20」のように"),
        ({"at": ""}, "実施日時を日時で入力してください。"),
        (
            {"when": "window", "window_start": "2026-11-21T17:00", "window_end": "2026-11-21T09:00"},
            "抜き打ちの期間",
        ),
        ({"municipality": ["999999"]}, "対象に見つからないものがあります: 999999"),
    ],
)
def test_a_bad_drill_shows_the_reason_and_creates_nothing(
    client: FlaskClient, bot: Bot, fields: dict[str, Any], message: str
) -> None:
    for step in ("confirm", "create"):  # refused at the confirmation, and if it is skipped
        response = post_new(client, step, **fields)
        assert response.status_code == 400, step
        assert message in error_of(response.text), step
        assert 'data-testid="drill-form"' in response.text  # the form comes back, as typed
        assert bot.hotline.storage.drills() == []


def test_a_refused_form_keeps_what_was_typed(client: FlaskClient) -> None:
    response = post_new(
        client, "confirm", cron="every monday", when="cron", role=["staff"], title="月例 訓練"
    )
    assert 'value="月例 訓練"' in response.text and 'value="every monday"' in response.text
    assert re.search(r'name="role" value="staff" checked', response.text)
    assert re.search(r'name="municipality" value="382035"\s+checked', response.text)
    assert re.search(r'name="when" value="cron" checked', response.text)


def test_a_real_roll_call_needs_the_explicit_confirmation(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    for step in ("confirm", "create"):
        refused = post_new(client, step, kind="real", title="震度6弱 職員参集")
        assert refused.status_code == 400
        assert error_of(refused.text) == REAL_CONFIRM_MESSAGE
    assert bot.hotline.storage.drills() == []
    confirmed = post_new(client, "confirm", kind="real", confirm_real="yes", title="震度6弱 職員参集")
    assert confirmed.status_code == 200
    assert 'data-testid="real-warning"' in confirmed.text and "実参集を作成する" in confirmed.text
    assert 'name="confirm_real" value="yes"' in confirmed.text
    drill_id = create(client, kind="real", confirm_real="yes", title="震度6弱 職員参集")
    assert bot.hotline.storage.drill(drill_id)["kind"] == "real"
    page = client.get(f"{BASE}/{drill_id}").text
    assert "実参集です（訓練ではありません）" in page and "kind-badge kind-real" in page
    assert "【実参集】として、対象者全員にいま参集確認を送ります" in page  # 今すぐ実施's confirm text


def test_the_edit_step_returns_to_the_form_with_the_values(client: FlaskClient, bot: Bot) -> None:
    response = post_new(client, "edit", title="修正中")
    assert response.status_code == 200
    assert 'data-testid="drill-form"' in response.text and 'value="修正中"' in response.text
    assert bot.hotline.storage.drills() == []


# -- the unannounced drill ----------------------------------------------------------------------


def test_an_unannounced_moment_never_shows_before_it_fires(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    bot.hotline.drills.rng = random.Random(11)
    drill_id = create(
        client,
        title="抜き打ち訓練",
        when="window",
        at="",
        window_start="2026-11-21T09:00",
        window_end="2026-11-21T17:00",
    )
    moment = parse_iso(bot.hotline.storage.drill(drill_id)["run_at"])
    secrets = [iso(moment), iso(moment)[:16], f"{jst(moment):%Y-%m-%d %H:%M}", f"{jst(moment):%H:%M}"]
    assert f"{jst(moment):%H:%M}" not in ("09:00", "17:00", "03:12")  # the test can tell them apart

    def shown() -> list[str]:
        return [
            client.get(f"{BASE}/").text,
            client.get(f"{BASE}/{drill_id}").text,
            client.get(f"{BASE}/{drill_id}.json").text,
            client.get(f"{BASE}/history").text,
        ]

    for text in shown():
        assert not any(secret in text for secret in secrets)
    for text in shown()[:3]:
        assert "抜き打ち 2026-11-21 09:00〜2026-11-21 17:00 のどこか" in text
    assert "runAt" not in client.get(f"{BASE}/{drill_id}.json").text
    # Once it has fired, the page says when.
    bot.clock.current = moment
    (run_id,) = bot.hotline.drills.run_due()
    assert view(client, drill_id)["drill"]["schedule"].endswith(f"（{jst(moment):%Y-%m-%d %H:%M} に実施）")
    assert view(client, drill_id)["live"]["runId"] == run_id


# -- the drill page: buttons, live data, CSV ----------------------------------------------------


def test_run_now_then_abort(client: FlaskClient, bot: Bot, lw: FakeLineWorks) -> None:
    drill_id = create(client)
    page = client.get(f"{BASE}/{drill_id}").text
    assert 'data-testid="fire-button"' in page and 'data-testid="cancel-button"' in page
    assert 'data-testid="abort-button"' not in page and 'data-testid="no-run"' in page

    response = button(client, drill_id, "fire")
    assert response.status_code == 302 and response.headers["Location"] == f"{BASE}/{drill_id}"
    (run,) = bot.hotline.storage.runs(drill_id)
    assert run["status"] == "running" and run["fired_at"] == iso(bot.clock.now())
    bot.drain()
    assert all(len([c for k, t, c in lw.sent if t == p.key]) == 1 for p in members(bot.config))
    page = client.get(f"{BASE}/{drill_id}").text
    assert "開始しました。対象者に質問を送っています。" in page
    assert 'data-testid="abort-button"' in page and 'data-testid="fire-button"' not in page
    assert 'data-testid="answer-rate">0/5人（0%）<' in page
    # A second 今すぐ実施 while it runs is refused.
    button(client, drill_id, "fire")
    assert len(bot.hotline.storage.runs(drill_id)) == 1
    assert "実施中の回があります" in client.get(f"{BASE}/{drill_id}").text

    # 中止 needs the running run's id.
    assert button(client, drill_id, "abort", run_id="999").status_code == 302
    assert bot.hotline.storage.run(run["id"])["status"] == "running"
    response = button(client, drill_id, "abort", run_id=str(run["id"]))
    assert response.status_code == 302
    assert bot.hotline.storage.run(run["id"])["status"] == "aborted"
    bot.drain()
    assert "「11月 参集訓練」は中止されました。" in str(lw.sent[-1][2])
    page = client.get(f"{BASE}/{drill_id}").text
    assert "中止しました。" in page and 'data-testid="abort-button"' not in page
    assert view(client, drill_id)["live"]["statusLabel"] == "中止"


def test_cancel_a_scheduled_drill(client: FlaskClient, bot: Bot, lw: FakeLineWorks) -> None:
    drill_id = create(client, when="cron", cron="0 9 1-7 * mon", at="")
    response = button(client, drill_id, "cancel")
    assert response.status_code == 302
    assert bot.hotline.storage.drill(drill_id)["status"] == "cancelled"
    page = client.get(f"{BASE}/{drill_id}").text
    assert "予定を取り消しました。" in page and "取り消し済み" in page
    assert 'data-testid="cancel-button"' not in page and 'data-testid="fire-button"' not in page
    bot.clock.current = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    assert bot.hotline.drills.run_due() == []
    button(client, drill_id, "fire")  # even by hand: a cancelled drill stays cancelled
    assert bot.hotline.storage.runs(drill_id) == []
    button(client, drill_id, "cancel")
    assert "取り消せませんでした" in client.get(f"{BASE}/{drill_id}").text


def test_live_json_follows_the_answers_and_the_csv_has_a_bom(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    drill_id = create(client)
    bot.clock.current = AT
    (run_id,) = bot.hotline.drills.run_due()
    bot.drain()
    live = view(client, drill_id)["live"]
    people = members(bot.config)
    assert live["rateText"] == "0/5人（0%）" and live["curve"] == [{"minutes": 0.0, "rate": 0.0}]
    assert live["silent"] == [p.name for p in people]
    bot.clock.advance(minutes=3)
    tap(bot, lw, people[0], "無事")
    tap(bot, lw, people[0], "30分以内")
    bot.clock.advance(minutes=2)
    tap(bot, lw, people[1], "重傷")
    tap(bot, lw, people[1], "参集不可")
    live = view(client, drill_id)["live"]
    assert live["rateText"] == "2/5人（40%）" and live["median"] == "4分"
    assert live["curve"] == [
        {"minutes": 0.0, "rate": 0.0},
        {"minutes": 3.0, "rate": 0.2},
        {"minutes": 5.0, "rate": 0.4},
    ]
    assert live["elapsedMinutes"] == 5.0 and live["deadlineMinutes"] == 60.0
    assert live["silent"] == [p.name for p in people[2:]]
    assert live["safety"] == [
        {"label": "無事", "count": 1},
        {"label": "軽傷", "count": 0},
        {"label": "重傷", "count": 1},
    ]
    (town,) = live["forecast"]
    assert town["name"] == "宇和島市" and town["cells"] == ["2/5", 1, 1, 1, 1]
    page = client.get(f"{BASE}/{drill_id}").text
    assert 'data-testid="answer-rate">2/5人（40%）<' in page
    silent_list = page.split("silent-list")[1].split("</ul>")[0]
    assert page.count('data-testid="silent-person"') == 3 and people[0].name not in silent_list

    response = client.get(live["csvUrl"])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == f"attachment; filename=drill-run-{run_id}.csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["市町", "役職", "氏名", "安否"] and len(rows) == 6  # every target, once
    assert client.get(f"{BASE}/runs/999.csv").status_code == 404

    # At the deadline the run closes; the history compares closed runs.
    bot.clock.current = AT + timedelta(minutes=61)
    bot.hotline.drills.run_due()
    assert view(client, drill_id)["live"]["statusLabel"] == "締め切り済み"
    history = client.get(f"{BASE}/history").text
    assert f'data-testid="history-run-{run_id}"' in history and 'data-rate="0.4"' in history
    assert 'data-median="4.0"' in history and "2/5人（40%）" in history
    assert client.get(f"{BASE}/history?drill=999").text.count("history-run-") == 0


def test_script_in_a_title_is_shown_as_text(client: FlaskClient, bot: Bot, lw: FakeLineWorks) -> None:
    title = "<script>alert(1)</script> & 訓練"
    confirmed = post_new(client, "confirm", title=title)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 訓練" in confirmed.text
    drill_id = create(client, title=title)
    bot.hotline.drills.fire(drill_id)
    bot.clock.current = AT + timedelta(minutes=61)
    bot.hotline.drills.run_due()
    for path in (f"{BASE}/", f"{BASE}/{drill_id}", f"{BASE}/history"):
        page = client.get(path).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        assert "<script>alert" not in page, path
    raw = client.get(f"{BASE}/{drill_id}.json")
    assert b"<script>" not in raw.data
    assert json.loads(raw.data)["drill"]["title"] == title


def test_unknown_drill_is_404_in_japanese(client: FlaskClient) -> None:
    response = client.get(f"{BASE}/999")
    assert response.status_code == 404 and "訓練（ID 999）は見つかりません" in response.text
    response = client.get(f"{BASE}/999.json")
    assert response.status_code == 404 and response.json == {"error": "訓練（ID 999）は見つかりません。"}
    for action in ("abort", "cancel", "fire"):
        response = client.post(f"{BASE}/999/{action}", data={"csrf_token": token(client)})
        assert response.status_code == 404 and "訓練（ID 999）は見つかりません" in response.text
