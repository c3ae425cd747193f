"""Errors in Japanese wherever they land: an HTML page for a browser (with the dashboard's
security headers and a way back), JSON with a Japanese `error` for /api and the machines'
addresses; and a favicon, so that no page load ends in a 404."""

from __future__ import annotations

import json

from tests.support.bot import Bot

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_the_root_and_an_unknown_dashboard_address_get_a_japanese_404_page(bot: Bot) -> None:
    for path in ("/", "/dashboard/no-such-page", "/no/such/thing"):
        response = bot.client.get(path, headers=BROWSER)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html"
        page = response.get_data(as_text=True)
        assert "ページが見つかりません" in page
        assert "災害一覧へ戻る" in page
        assert "Not Found" not in page
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_wrong_method_gets_a_japanese_405_that_names_the_allowed_ones(bot: Bot) -> None:
    response = bot.client.get("/callback")
    assert response.status_code == 405
    assert json.loads(response.data)["error"] == "この方法ではアクセスできません。"
    assert "POST" in response.headers["Allow"]
    page = bot.client.delete("/favicon.ico", headers=BROWSER)
    assert page.status_code == 405 and "この方法ではアクセスできません" in page.get_data(as_text=True)


def test_the_api_answers_errors_in_json_with_a_japanese_message(bot: Bot) -> None:
    refused = bot.client.get("/api/incidents", headers=BROWSER)  # JSON even for a browser
    assert refused.status_code == 401 and refused.mimetype == "application/json"
    assert "ログイン" in json.loads(refused.data)["error"]
    missing = bot.client.get(
        "/api/incidents/999", headers={"Authorization": f"Bearer {bot.hotline.settings.api_token}"}
    )
    assert missing.status_code == 404
    body = json.loads(missing.data)
    assert body["error"] == "ページが見つかりません。アドレスをお確かめください。"
    assert "999" in body["description"]  # the detail, for the developer
    unknown = bot.client.get("/api/no-such-thing")
    assert unknown.status_code == 404 and json.loads(unknown.data)["error"].startswith(
        "ページが見つかりません"
    )


def test_a_crash_gets_a_japanese_500_page_that_tells_nothing_of_its_cause(bot: Bot) -> None:
    def boom() -> str:
        raise RuntimeError("secret internals")

    bot.client.application.add_url_rule("/boom", "boom", boom)
    bot.client.application.add_url_rule("/api/boom", "api_boom", boom)
    page = bot.client.get("/boom", headers=BROWSER)
    assert page.status_code == 500
    assert "サーバーでエラーが起きました" in page.get_data(as_text=True)
    assert "secret internals" not in page.get_data(as_text=True)
    api = bot.client.get("/api/boom", headers={"Authorization": f"Bearer {bot.hotline.settings.api_token}"})
    assert api.status_code == 500
    assert json.loads(api.data) == {"error": page_message(page.get_data(as_text=True))}


def page_message(html: str) -> str:
    start = html.index('data-testid="error-message">') + len('data-testid="error-message">')
    return html[start : html.index("</p>", start)]


def test_the_favicon_is_served_and_linked_from_every_page(bot: Bot) -> None:
    icon = bot.client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.mimetype == "image/svg+xml" and b"<svg" in icon.data
    login = bot.client.get("/dashboard/login").get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico"' in login
