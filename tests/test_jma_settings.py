"""The JMA settings page (`/dashboard/admin/config/jma`): an administrator changes what JMA's
telegrams start ([earthquake], its areas, [tsunami], its 津波予報区) through the form; the file
keeps its comments, the running bot uses the change at once and the audit log has its diff; a
wrong value is refused beside its field in Japanese with nothing written; nobody else may."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from hotline.clock import FixedClock
from hotline.config import COUNTERPARTS_FILE, load
from hotline.config.settings import Credentials, Settings
from hotline.domain import accounts
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from hotline.web.auth import FORBIDDEN_MESSAGES
from tests.support.bot import T0
from tests.support.config_files import copy_config, files
from tests.support.web import PASSWORD, csrf_of, login

URL = "/dashboard/admin/config/jma/"
ADMIN, COORDINATOR, VIEWER = "hq-admin", "kunren-1", "etsuran-1"
TOYO = "620"  # 地震情報／細分区域 愛媛県東予
IMABARI, SAIJO, UWAJIMA = "382027", "382060", "382035"
ROLES = ["deputy_mayor", "disaster_head", "personnel_head", "staff"]


class Site:
    """A hotline over a writable copy of the sample configuration, with an account per role."""

    def __init__(self, tmp_path: Path, credentials: Credentials) -> None:
        self.root = copy_config(tmp_path / "config")
        settings = Settings(
            credentials=credentials,
            api_token="api-token-123",
            config_dir=self.root,
            database=tmp_path / "t.db",
        )
        self.hotline = Hotline(settings, load(self.root), clock=FixedClock(T0))
        self.app = create_app(self.hotline)
        for name, role in ((ADMIN, "admin"), (COORDINATOR, "coordinator"), (VIEWER, "viewer")):
            accounts.create(self.hotline.storage, name, PASSWORD, role, by="test", at=T0)

    def client(self, who: str = ADMIN) -> FlaskClient:
        client = self.app.test_client()
        assert login(client, username=who).status_code == 302
        return client

    def text(self) -> str:
        return (self.root / COUNTERPARTS_FILE).read_text(encoding="utf-8")

    def audit(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.hotline.storage.audit_entries() if r["action"].startswith("config.")]


@pytest.fixture
def site(tmp_path: Path, credentials: Credentials) -> Iterator[Site]:
    made = Site(tmp_path, credentials)
    yield made
    made.hotline.sender.shutdown()


def post(client: FlaskClient, op: str, **fields: Any) -> Any:
    """Submit a form of the page as a browser would: its CSRF token and snapshot, then the fields."""
    html = client.get(URL).text
    snapshot = re.search(r'name="snapshot" value="([0-9a-f]+)"', html)
    assert snapshot, "the page has no snapshot field"
    return client.post(
        URL, data={"csrf_token": csrf_of(html), "snapshot": snapshot.group(1), "op": op, **fields}
    )


def earthquake_form(min_intensity: str) -> dict[str, Any]:
    return {
        "min_intensity": min_intensity,
        "roll_call_roles": ROLES,
        "ask_first_report": "on",
        "notify_rooms": "on",
        "deadline_minutes": "60",
        "remind_minutes": "10, 20",
    }


def test_an_administrator_changes_the_threshold_and_an_area_and_the_bot_uses_them(site: Site) -> None:
    before = site.text()
    client = site.client()
    page = client.get(URL).text
    assert "震度6弱" in page and "地域コード 620" in page and "津波予報区コード 601" in page

    response = post(client, "earthquake", **earthquake_form("6-"))
    assert response.status_code == 302
    assert "保存しました" in client.get(response.headers["Location"]).text
    response = post(client, "earthquake_area_update", code=TOYO, municipalities=[IMABARI, SAIJO])
    assert response.status_code == 302

    after = site.text()
    assert 'min_intensity = "6-"' in after
    assert '620 = ["382027", "382060"]  # 愛媛県東予: 今治・西条' in after
    # every comment of the hand-written file is still there (the towns' list follows the change)
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert all(line in after.splitlines() for line in comments)
    # in use at once
    earthquake = site.hotline.config().earthquake
    assert earthquake is not None and earthquake.min_intensity == "6-"
    assert earthquake.areas[TOYO] == (IMABARI, SAIJO)
    area, threshold = site.audit()  # newest first
    assert threshold["action"] == "config.earthquake.update" and threshold["who"] == ADMIN
    assert '\n+min_intensity = "6-"\n' in threshold["diff"] and threshold["target"] == "地震（気象庁）の設定"
    assert area["action"] == "config.earthquake_area.update" and "382051" in area["diff"]
    assert area["target"] == f"地震情報の地域コード {TOYO}"


def test_tsunami_categories_regions_and_drills_are_edited_too(site: Site) -> None:
    client = site.client()
    fields = {**earthquake_form(""), "categories": ["大津波警報", "津波警報", "津波注意報"]}
    del fields["min_intensity"]
    assert post(client, "tsunami", **fields).status_code == 302  # drill_on_jma_drill unticked
    assert post(client, "tsunami_region_add", code="602", municipalities=[UWAJIMA]).status_code == 302
    assert post(client, "tsunami_region_remove", code="601", confirmed="yes").status_code == 302
    tsunami = site.hotline.config().tsunami
    assert tsunami is not None and "津波注意報" in tsunami.categories
    assert tsunami.response.drill_on_jma_drill is False
    assert dict(tsunami.regions) == {"600": tsunami.regions["600"], "602": (UWAJIMA,)}
    assert "drill_on_jma_drill = false" in site.text()


def test_an_intensity_that_is_not_jma_notation_is_refused_beside_the_field(site: Site) -> None:
    before = files(site.root)
    response = post(site.client(), "earthquake", **earthquake_form("8"))
    assert response.status_code == 400
    assert re.search(
        r'data-testid="error-min_intensity">震度の下限は震度 1・2・3・4・5弱・5強・6弱・6強・7 のいずれか',
        response.text,
    )
    assert files(site.root) == before and site.audit() == []
    assert site.hotline.config().earthquake is not None
    assert site.hotline.config().earthquake.min_intensity == "1"


def test_an_unknown_municipality_or_area_code_is_refused_and_nothing_written(site: Site) -> None:
    before = files(site.root)
    client = site.client()
    response = post(client, "earthquake_area_update", code=TOYO, municipalities=[IMABARI, "389999"])
    assert response.status_code == 400
    assert re.search(
        r'data-testid="error-municipalities">市町コード 389999 は登録されていません', response.text
    )
    response = post(client, "earthquake_area_add", code="62", municipalities=[UWAJIMA])
    assert response.status_code == 400
    assert re.search(
        r'data-testid="error-code">地域コード（地震情報／細分区域）は3桁の数字で入力してください',
        response.text,
    )
    assert 'value="62"' in response.text  # the value typed is kept
    assert files(site.root) == before and site.audit() == []
    assert site.hotline.config().earthquake.areas[TOYO] == ("382027", "382051", "382060", "382132", "383562")


@pytest.mark.parametrize("who", [VIEWER, COORDINATOR])
def test_only_administrators_open_or_save_the_page(site: Site, who: str) -> None:
    before = files(site.root)
    client = site.client(who)
    response = client.get(URL)
    assert response.status_code == 403 and FORBIDDEN_MESSAGES["admin"] in response.text
    token = csrf_of(client.get("/dashboard/").text)
    response = client.post(URL, data={"csrf_token": token, "op": "earthquake", **earthquake_form("7")})
    assert response.status_code == 403
    assert files(site.root) == before and site.audit() == []
