"""The incident page of a long incident: the overview (towns x reports) and the latest report's
matrix come at once; an older report's matrix only when asked for (its own JSON, or the poll
with `?open=`), behind the same login; the print page still has everything.

Reports are created the real way (signed callbacks, the workers driven on a fixed clock) and
LINE WORKS is faked at the requests boundary (FakeLineWorks), which can refuse a room."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from hotline.clock import iso
from hotline.config.counterparts import linked_municipalities
from hotline.web.pages import dashboard
from tests.support.bot import Bot
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.sample import REPORT, UWAJIMA, member, room
from tests.support.web import add_account, login

IMABARI = "382027"  # in Uwajima's group (team1), reached only through the group room
MATSUYAMA = "382019"  # team2 and team3: another incident


class Cells(HTMLParser):
    """The overview table: each row's testid -> the texts of its cells (after the town name),
    and the column headers' texts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.columns: list[str] = []
        self._row: str | None = None
        self._cell: list[str] | None = None
        self._in_head = False
        start = html.index('data-testid="overview-table"')
        self.feed(html[start : html.index("</table>", start)])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head:
            self._row = found.get("data-testid") or ""
            self.rows[self._row] = []
        else:
            header = tag == "th" and self._in_head and "report-col" in (found.get("class") or "")
            if header or (tag == "td" and self._row is not None):
                self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if self._in_head:
                self.columns.append(text)
            elif self._row is not None:
                self.rows[self._row].append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture
def client(bot: Bot) -> FlaskClient:
    add_account(bot, role="viewer")
    response = login(bot.client)
    assert response.status_code == 302
    return bot.client


def two_reports(bot: Bot, lw: FakeLineWorks) -> tuple[int, int, int]:
    """第一報 reaches every room and 今治市 acknowledges it; the 第二報 finds the group room
    gone (404: 未達 for the towns behind it) and HQ's room failing (500: still being retried).
    Returns the incident, the first and the second report."""
    group = room(bot.config, "group-team1")
    poster = uid(member(bot.config, UWAJIMA))
    assert bot.say(poster, REPORT, group).status_code == 200
    bot.drain()
    imabari = uid(member(bot.config, IMABARI))
    assert bot.say(imabari, "確認しました", group).status_code == 200
    bot.drain()
    bot.clock.advance(minutes=30)
    lw.fail[group] = [404]
    lw.fail[room(bot.config, "hq")] = [500] * 10
    assert bot.say(poster, "第二報 避難所を2か所開設、孤立集落あり").status_code == 200
    bot.drain()
    storage = bot.hotline.storage
    incident = storage.incidents()[0]["id"]
    first, second = (r["id"] for r in storage.reports_of_incident(incident))
    return incident, first, second


def test_the_page_shows_the_overview_and_the_latest_matrix_only(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    incident, first, second = two_reports(bot, lw)
    page = client.get(f"/dashboard/incidents/{incident}")
    assert page.status_code == 200
    html = page.text

    # The overview: newest report first; each town's state for each report at a glance.
    overview = Cells(html)
    expected = len(linked_municipalities(bot.config, UWAJIMA)) - 1  # the reporting town does not count
    assert overview.columns[0].startswith("第2報") and overview.columns[0].endswith(f"0/{expected}")
    assert overview.columns[1].startswith("第一報") and overview.columns[1].endswith(f"1/{expected}")
    assert overview.rows[f"overview-{IMABARI}"] == ["未達", "確認済"]
    assert overview.rows[f"overview-{UWAJIMA}"] == ["報告元", "報告元"]
    assert overview.rows["overview-382051"] == ["未達", "未確認"]  # 新居浜市
    assert overview.rows["overview-hq"] == ["配信中", "未確認"]

    # Only the latest report's matrix is in the page; the older one waits to be opened.
    assert f'data-testid="matrix-{second}"' in html
    assert f'data-testid="matrix-{first}"' not in html
    older = html[html.index(f'<details class="report older" id="report-{first}"') :]
    older = older[: older.index("</details>")]
    assert "読み込み中" in older and "市内3か所で土砂崩れ" in older
    assert "確認済みの市町 1/" in older
    people = [m.key for m in bot.config.municipalities[IMABARI].members]
    assert html.count(f'data-testid="member-{people[1]}"') == 1  # one matrix, not two
    # The latest matrix says why the towns behind the group room have not acknowledged.
    row = re.search(rf'<tr class="([^"]*)" data-testid="muni-{IMABARI}"', html)
    assert row is not None and "undelivered" in row.group(1).split()


def test_an_older_matrix_comes_on_demand_and_then_with_every_poll(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    incident, first, second = two_reports(bot, lw)

    answer = client.get(f"/dashboard/incidents/{incident}/reports/{first}.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    report = json.loads(answer.data)["report"]
    assert report["id"] == first and report["label"] == "第一報"
    rows = {r["testid"]: r for r in report["matrix"]["rows"]}
    assert rows[f"muni-{IMABARI}"]["acknowledged"] is True
    assert "✓" in rows[f"muni-{IMABARI}"]["cells"][4]
    assert rows["muni-382051"]["cells"][4] == "未確認"
    imabari_deputy = member(bot.config, IMABARI)
    assert rows[f"member-{imabari_deputy.key}"]["cells"][0] == imabari_deputy.name

    # The poll carries only what is shown: the older matrix once it is open.
    closed = json.loads(client.get(f"/dashboard/incidents/{incident}.json").data)
    assert closed["latest"]["id"] == second and closed["latest"]["matrix"] is not None
    assert [r["id"] for r in closed["older"]] == [first] and closed["older"][0]["matrix"] is None
    opened = json.loads(client.get(f"/dashboard/incidents/{incident}.json?open={first},x,999").data)
    assert opened["older"][0]["matrix"] == report["matrix"]

    # Someone acknowledges the first report late: the opened matrix follows.
    bot.hotline.storage.record_ack(
        first,
        member(bot.config, "382051").key,
        uid(member(bot.config, "382051")),
        "382051",
        room(bot.config, "group-team1"),
        "tap",
        iso(bot.clock.now()),
    )
    opened = json.loads(client.get(f"/dashboard/incidents/{incident}.json?open={first}").data)
    rows = {r["testid"]: r for r in opened["older"][0]["matrix"]["rows"]}
    assert rows["muni-382051"]["acknowledged"] is True
    assert opened["overview"]["columns"][1]["count"].startswith("2/")


def test_a_report_outside_the_incident_is_404_and_strangers_get_401(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    incident, first, _ = two_reports(bot, lw)
    assert bot.say(uid(member(bot.config, MATSUYAMA)), "第一報 松山市で停電").status_code == 200
    bot.drain()
    other = bot.hotline.storage.incidents()[0]
    assert other["id"] != incident
    (elsewhere,) = bot.hotline.storage.reports_of_incident(other["id"])
    for path in (
        f"/dashboard/incidents/{incident}/reports/{elsewhere['id']}.json",
        f"/dashboard/incidents/{incident}/reports/99999.json",
        f"/dashboard/incidents/99999/reports/{first}.json",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "見つかりません" in json.loads(response.data)["error"]
    stranger = client.application.test_client()
    response = stranger.get(f"/dashboard/incidents/{incident}/reports/{first}.json")
    assert response.status_code == 401 and "土砂崩れ" not in response.text


def test_the_print_page_still_has_every_matrix(client: FlaskClient, bot: Bot, lw: FakeLineWorks) -> None:
    incident, first, second = two_reports(bot, lw)
    html = client.get(f"/dashboard/incidents/{incident}/print").text
    for report_id in (first, second):
        assert f'data-testid="matrix-{report_id}"' in html
    assert html.index(f'data-testid="matrix-{first}"') < html.index(f'data-testid="matrix-{second}"')
    assert Cells(html).rows[f"overview-{IMABARI}"] == ["未達", "確認済"]
    assert "<details" not in html and "<script" not in html


def test_the_incident_list_counts_without_the_reporting_town(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    incident, _, _ = two_reports(bot, lw)
    page = client.get("/dashboard/").text
    row = page[page.index(f'data-testid="incident-{incident}"') :]
    summary = row[row.index('data-testid="ack-summary"') :]
    summary = summary[: summary.index("</td>")]
    expected = len(linked_municipalities(bot.config, UWAJIMA)) - 1
    assert f"0/{expected} 市町（未確認 {expected}）" in summary


def test_the_incident_list_keeps_every_open_incident_however_many_closed_came_after(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks
) -> None:
    incident, _, _ = two_reports(bot, lw)
    storage = bot.hotline.storage
    now = iso(bot.clock.now())
    with storage.transaction():
        for _ in range(120):  # 松山市 reports again and again: each 第一報 closes its last incident
            storage.create_incident(MATSUYAMA, member(bot.config, MATSUYAMA).key, now)
    page = client.get("/dashboard/").text
    assert f'data-testid="incident-{incident}"' in page  # 宇和島市's, still open
    assert page.count('data-testid="incident-link"') == 101  # and the latest 100


def test_the_page_shows_the_latest_of_a_long_chronology_and_the_print_page_all(
    client: FlaskClient, bot: Bot, lw: FakeLineWorks, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident, _, _ = two_reports(bot, lw)
    monkeypatch.setattr(dashboard, "TIMELINE_SHOWN", 5)  # a long incident has thousands
    printed = client.get(f"/dashboard/incidents/{incident}/print").text
    total = printed.count('data-testid="timeline-entry"')
    assert total > 5

    page = client.get(f"/dashboard/incidents/{incident}").text
    assert page.count('data-testid="timeline-entry"') == 5
    note = page[page.index('data-testid="timeline-note"') :]
    assert "hidden" not in note[: note.index(">")]
    shown = " ".join(re.sub(r"<[^>]+>", "", note[: note.index("</p>")]).split())
    assert f"最新の5件を表示しています（全{total}件）" in shown
    view = json.loads(client.get(f"/dashboard/incidents/{incident}.json").data)
    assert len(view["timeline"]) == 5 and view["timelineTotal"] == total
    assert "避難所を2か所開設" in printed[printed.index('data-testid="timeline"') :]
