"""Tests of the embedded LINE WORKS emulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lineworks_emulator import Emulator
from lineworks_emulator.state import JST
from tests.support.emulator import (
    BOT_ID,
    BOT_SECRET,
    CHANNEL,
    CLIENT_ID,
    CLIENT_SECRET,
    HTTP_TIMEOUT,
    SCOPE,
    FakeClock,
    Receiver,
    auth,
    make_jwt,
    make_seed,
    request_token,
    wait_until,
)


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, str]:
    """A fresh RSA key pair: (private PEM bytes, public PEM text)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(rsa_keys: tuple[bytes, str], clock: FakeClock) -> Iterator[Emulator]:
    emulator = Emulator(make_seed(rsa_keys[1]), clock=clock)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # never via a proxy: everything is on 127.0.0.1
    yield session
    session.close()


@pytest.fixture
def receiver(emu: Emulator) -> Iterator[Receiver]:
    rec = Receiver()
    emu.set_callback_url(rec.url)
    yield rec
    rec.close()


@pytest.fixture
def token(http: requests.Session, emu: Emulator, rsa_keys: tuple[bytes, str], clock: FakeClock) -> str:
    resp = request_token(http, emu, make_jwt(rsa_keys[0], clock.now))
    assert resp.status_code == 200, resp.text
    value: str = resp.json()["access_token"]
    return value


def api(emu: Emulator, path: str) -> str:
    return f"{emu.api_base_url}{path}"


def control(emu: Emulator, path: str) -> str:
    assert emu.base_url is not None
    return f"{emu.base_url}/_emulator{path}"


def state(http: requests.Session, emu: Emulator) -> dict[str, Any]:
    resp = http.get(control(emu, "/state"), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200
    result: dict[str, Any] = resp.json()
    return result


def send_channel(
    http: requests.Session, emu: Emulator, token: str, content: dict[str, Any], channel: str = ""
) -> requests.Response:
    return send_to(http, emu, token, content, f"channels/{channel or CHANNEL}")


def send_user(
    http: requests.Session, emu: Emulator, token: str, content: dict[str, Any], user_id: str
) -> requests.Response:
    return send_to(http, emu, token, content, f"users/{user_id}")


def send_to(
    http: requests.Session, emu: Emulator, token: str, content: dict[str, Any], target: str
) -> requests.Response:
    return http.post(
        api(emu, f"/bots/{BOT_ID}/{target}/messages"),
        json={"content": content},
        headers=auth(token),
        timeout=HTTP_TIMEOUT,
    )


def create_post(http: requests.Session, emu: Emulator, token: str, **fields: Any) -> requests.Response:
    """POST a board post to b-1 (title and body "t" and "b" unless given)."""
    return http.post(
        api(emu, "/boards/b-1/posts"),
        json={"title": "t", "body": "b", **fields},
        headers=auth(token),
        timeout=HTTP_TIMEOUT,
    )


# --- token flow ---------------------------------------------------------------------------


def test_valid_jwt_gets_a_token(
    http: requests.Session, emu: Emulator, rsa_keys: tuple[bytes, str], clock: FakeClock
) -> None:
    resp = request_token(http, emu, make_jwt(rsa_keys[0], clock.now))
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert int(body["expires_in"]) == 86400
    assert body["access_token"] and body["refresh_token"]
    assert body["scope"] == SCOPE
    # the refresh grant works too
    refreshed = http.post(
        emu.auth_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        timeout=HTTP_TIMEOUT,
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != body["access_token"]
    assert state(http, emu)["tokens_issued"] == 2


def test_token_ttl_fault_and_clock_expiry(
    http: requests.Session, emu: Emulator, rsa_keys: tuple[bytes, str], clock: FakeClock
) -> None:
    http.post(control(emu, "/faults"), json={"token_ttl_seconds": 60}, timeout=HTTP_TIMEOUT)
    body = request_token(http, emu, make_jwt(rsa_keys[0], clock.now)).json()
    assert int(body["expires_in"]) == 60
    url = api(emu, "/users/u-hanako-0001")
    assert http.get(url, headers=auth(body["access_token"]), timeout=HTTP_TIMEOUT).ok
    clock.now += 61
    resp = http.get(url, headers=auth(body["access_token"]), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 401


@pytest.mark.parametrize(
    "case", ["wrong_key", "wrong_secret", "expired", "too_long", "wrong_sub", "double_escaped"]
)
def test_bad_token_requests_are_rejected(
    http: requests.Session,
    emu: Emulator,
    rsa_keys: tuple[bytes, str],
    clock: FakeClock,
    case: str,
) -> None:
    now = clock.now
    form: dict[str, str] = {}
    if case == "wrong_key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        assertion = make_jwt(pem, now)
    elif case == "expired":
        assertion = make_jwt(rsa_keys[0], now - 7200)
    elif case == "too_long":
        assertion = make_jwt(rsa_keys[0], now, exp=int(now) + 7200)
    elif case == "wrong_sub":
        assertion = make_jwt(rsa_keys[0], now, sub="other.serviceaccount@example")
    else:
        assertion = make_jwt(rsa_keys[0], now)
        if case == "wrong_secret":
            form["client_secret"] = "nope"
        else:
            form["grant_type"] = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    resp = request_token(http, emu, assertion, **form)
    assert resp.status_code in (400, 401)
    expected = {
        "wrong_secret": "invalid_client",
        "double_escaped": "unsupported_grant_type",
    }.get(case, "invalid_grant")
    assert resp.json()["error"] == expected
    assert state(http, emu)["tokens_issued"] == 0


def test_missing_and_stale_tokens_get_401(http: requests.Session, emu: Emulator, token: str) -> None:
    url = api(emu, "/users/u-hanako-0001")
    resp = http.get(url, timeout=HTTP_TIMEOUT)
    assert resp.status_code == 401
    assert resp.json()["code"] == "UNAUTHORIZED"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert http.get(url, headers=auth("made-up"), timeout=HTTP_TIMEOUT).status_code == 401
    assert http.get(url, headers=auth(token), timeout=HTTP_TIMEOUT).status_code == 200
    http.post(control(emu, "/faults"), json={"expire_tokens_now": True}, timeout=HTTP_TIMEOUT)
    resp = http.get(url, headers=auth(token), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 401
    assert resp.json()["code"] == "UNAUTHORIZED"
    assert state(http, emu)["rejected"]["401"] == 3


def test_missing_scope_is_forbidden(
    http: requests.Session, emu: Emulator, rsa_keys: tuple[bytes, str], clock: FakeClock
) -> None:
    resp = request_token(http, emu, make_jwt(rsa_keys[0], clock.now), scope="bot")
    bot_only = resp.json()["access_token"]
    url = api(emu, "/users/u-hanako-0001")
    resp = http.get(url, headers=auth(bot_only), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 403
    assert resp.json()["code"] == "FORBIDDEN"


# --- messages -----------------------------------------------------------------------------


def test_send_to_channel_and_user_is_recorded(http: requests.Session, emu: Emulator, token: str) -> None:
    resp = send_channel(http, emu, token, {"type": "text", "text": "【訓練】第一報"})
    assert resp.status_code == 201
    assert resp.content == b""
    for ident in ("u-taro-0002", "FUKUSHICHO@uwajima.example"):
        resp = http.post(
            api(emu, f"/bots/{BOT_ID}/users/{ident}/messages"),
            json={"content": {"type": "text", "text": "安否を教えてください"}},
            headers=auth(token),
            timeout=HTTP_TIMEOUT,
        )
        assert resp.status_code == 201
    snap = state(http, emu)
    sent = snap["sent"]
    assert [s["op"] for s in sent] == ["send_channel", "send_user", "send_user"]
    assert sent[0]["channelId"] == CHANNEL
    assert sent[0]["content"] == {"type": "text", "text": "【訓練】第一報"}
    assert sent[1]["userId"] == "u-taro-0002"
    assert sent[2]["userId"] == "u-hanako-0001"
    assert [s["seq"] for s in sent] == sorted(s["seq"] for s in sent)
    rooms = {r["key"]: r for r in snap["rooms"]}
    assert rooms[CHANNEL]["messages"][0]["sender"] == "bot"
    assert rooms["dm:u-taro-0002"]["messages"][0]["content"]["text"] == "安否を教えてください"
    assert snap["calls"]["send_channel"] == 1
    assert snap["calls"]["send_user"] == 2


def test_unknown_user_channel_and_removed_bot(http: requests.Session, emu: Emulator, token: str) -> None:
    text = {"type": "text", "text": "hi"}
    resp = http.post(
        api(emu, f"/bots/{BOT_ID}/users/nobody@example/messages"),
        json={"content": text},
        headers=auth(token),
        timeout=HTTP_TIMEOUT,
    )
    assert resp.status_code == 404
    assert resp.json()["code"] == "NOT_FOUND"
    resp = send_channel(http, emu, token, text, channel="no-such-channel")
    assert resp.status_code == 404
    assert resp.json()["code"] == "NOT_FOUND"
    http.post(control(emu, "/faults"), json={"remove_bot_from": [CHANNEL]}, timeout=HTTP_TIMEOUT)
    resp = send_channel(http, emu, token, text)
    assert resp.status_code == 403
    assert resp.json()["code"] == "FORBIDDEN"
    assert state(http, emu)["sent"] == []


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ({"type": "text", "text": "あ" * 2001}, "INVALID_PARAMETER"),
        ({"type": "hologram"}, "INVALID_PARAMETER"),
        ({"type": "text"}, "MISSING_PARAMETER"),
        (
            {
                "type": "button_template",
                "contentText": "確認",
                "actions": [{"type": "postback", "label": "了解", "data": "ack"}],
            },
            "INVALID_PARAMETER",
        ),
        (
            {
                "type": "button_template",
                "contentText": "確認",
                "actions": [{"type": "message", "label": f"b{i}"} for i in range(11)],
            },
            "INVALID_PARAMETER",
        ),
        (
            {
                "type": "text",
                "text": "確認",
                "quickReply": {
                    "items": [{"action": {"type": "message", "label": f"q{i}"}} for i in range(14)]
                },
            },
            "INVALID_PARAMETER",
        ),
        (
            {
                "type": "text",
                "text": "確認",
                "quickReply": {"items": [{"action": {"type": "postback", "label": "了解", "data": "ack"}}]},
            },
            "MISSING_PARAMETER",
        ),
        ({"type": "image", "fileId": "file-does-not-exist"}, "INVALID_PARAMETER"),
    ],
)
def test_invalid_content_is_rejected(
    http: requests.Session, emu: Emulator, token: str, content: dict[str, Any], code: str
) -> None:
    resp = send_channel(http, emu, token, content)
    assert resp.status_code == 400
    assert resp.json()["code"] == code
    assert resp.json()["description"]


def test_valid_rich_content_is_accepted(http: requests.Session, emu: Emulator, token: str) -> None:
    contents: list[dict[str, Any]] = [
        {"type": "text", "text": "あ" * 2000},
        {
            "type": "button_template",
            "contentText": '<m userId="all"> 第一報です',
            "actions": [{"type": "message", "label": f"b{i}", "postback": f"p{i}"} for i in range(10)],
        },
        {
            "type": "text",
            "text": "安否",
            "quickReply": {
                "items": [
                    {"action": {"type": "postback", "label": "無事", "data": "ok", "displayText": "無事"}}
                    for _ in range(13)
                ]
            },
        },
        {"type": "link", "contentText": "詳細", "linkText": "開く", "link": "https://example.org"},
        {"type": "location", "address": "宇和島市", "latitude": 33.2, "longitude": 132.5},
    ]
    for content in contents:
        resp = send_channel(http, emu, token, content)
        assert resp.status_code == 201, resp.text


# --- rooms --------------------------------------------------------------------------------


def test_create_room_member_limits_and_callbacks(
    http: requests.Session, emu: Emulator, token: str, receiver: Receiver
) -> None:
    url = api(emu, f"/bots/{BOT_ID}/channels")
    for members in ([], ["u-hanako-0001"] * 101, ["u-hanako-0001", "u-hanako-0001"], ["ghost"]):
        resp = http.post(
            url, json={"members": members, "title": "x"}, headers=auth(token), timeout=HTTP_TIMEOUT
        )
        assert resp.status_code == 400, members
        assert resp.json()["code"] == "INVALID_PARAMETER"
    resp = http.post(
        url,
        json={"members": ["u-hanako-0001", "fukushicho@matsuyama.example"], "title": "南予"},
        headers=auth(token),
        timeout=HTTP_TIMEOUT,
    )
    assert resp.status_code == 201
    created = resp.json()
    assert created["title"] == "南予"
    channel_id = created["channelId"]
    assert emu.drain_callbacks(5)
    events = receiver.events()
    assert [e["type"] for e in events] == ["join", "joined"]
    assert events[0]["source"] == {"channelId": channel_id, "domainId": 40029600}
    assert events[1]["members"] == ["u-hanako-0001", "u-taro-0002"]
    # the new room works: info, members (paged), send, leave
    info = http.get(f"{url}/{channel_id}", headers=auth(token), timeout=HTTP_TIMEOUT).json()
    assert info["channelType"]["type"] == "MULTI_USERS"
    page1 = http.get(
        f"{url}/{channel_id}/members", params={"count": 1}, headers=auth(token), timeout=10
    ).json()
    assert page1["members"] == ["u-hanako-0001"]
    cursor = page1["responseMetaData"]["nextCursor"]
    page2 = http.get(
        f"{url}/{channel_id}/members",
        params={"count": 1, "cursor": cursor},
        headers=auth(token),
        timeout=HTTP_TIMEOUT,
    ).json()
    assert page2 == {"members": ["u-taro-0002"], "responseMetaData": {"nextCursor": None}}
    resp = http.delete(f"{url}/{channel_id}", headers=auth(token), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 204
    resp = send_channel(http, emu, token, {"type": "text", "text": "x"}, channel=channel_id)
    assert resp.status_code == 404


def test_hundred_members_is_fine(
    http: requests.Session, rsa_keys: tuple[bytes, str], clock: FakeClock
) -> None:
    seed = make_seed(rsa_keys[1])
    seed["users"] = [{"userId": f"u{i:03d}", "name": f"職員 {i}", "org": "愛媛県"} for i in range(100)]
    emulator = Emulator(seed, clock=clock)
    emulator.start()
    try:
        tok = request_token(http, emulator, make_jwt(rsa_keys[0], clock.now)).json()
        resp = http.post(
            api(emulator, f"/bots/{BOT_ID}/channels"),
            json={"members": [u["userId"] for u in seed["users"]], "title": "全職員"},
            headers=auth(tok["access_token"]),
            timeout=HTTP_TIMEOUT,
        )
        assert resp.status_code == 201
    finally:
        emulator.stop()


# --- attachments and users ----------------------------------------------------------------


def test_attachment_round_trip(http: requests.Session, emu: Emulator, token: str) -> None:
    resp = http.post(
        api(emu, f"/bots/{BOT_ID}/attachments"),
        json={"fileName": "被害状況.png"},
        headers=auth(token),
        timeout=HTTP_TIMEOUT,
    )
    assert resp.status_code == 200
    file_id, upload_url = resp.json()["fileId"], resp.json()["uploadUrl"]
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    files = {"Filedata": ("被害状況.png", data, "image/png")}
    resp = http.post(upload_url, files=files, headers=auth(token), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200
    again = http.post(upload_url, files=files, headers=auth(token), timeout=HTTP_TIMEOUT)
    assert again.status_code == 403  # upload URLs are single-use
    resp = send_channel(http, emu, token, {"type": "image", "fileId": file_id})
    assert resp.status_code == 201
    resp = http.get(
        api(emu, f"/bots/{BOT_ID}/attachments/{file_id}"),
        headers=auth(token),
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(emu.base_url or "")
    with_auth = http.get(location, headers=auth(token), timeout=HTTP_TIMEOUT)
    without = http.get(location, timeout=HTTP_TIMEOUT)
    assert with_auth.content == data == without.content
    missing = http.get(
        api(emu, f"/bots/{BOT_ID}/attachments/file-nope"),
        headers=auth(token),
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert missing.status_code == 404


def test_users_lookup(http: requests.Session, emu: Emulator, token: str) -> None:
    by_email = http.get(api(emu, "/users/fukushicho@uwajima.example"), headers=auth(token), timeout=10).json()
    by_id = http.get(api(emu, "/users/u-hanako-0001"), headers=auth(token), timeout=10).json()
    assert by_email == by_id
    assert by_id["userName"] == {
        "lastName": "宇和島",
        "firstName": "花子",
        "phoneticLastName": "",
        "phoneticFirstName": "",
    }
    unit = by_id["organizations"][0]["orgUnits"][0]
    assert (unit["orgUnitName"], unit["positionName"]) == ("宇和島市", "副市長")
    assert by_id["isSuspended"] is False and by_id["isAwaiting"] is False
    resp = http.get(api(emu, "/users/ghost@example"), headers=auth(token), timeout=10)
    assert resp.status_code == 404
    assert resp.json()["code"] == "NOT_FOUND"
    listed = http.get(api(emu, "/users"), params={"count": 2}, headers=auth(token), timeout=10)
    body = listed.json()
    assert [u["userId"] for u in body["users"]] == ["u-hanako-0001", "u-taro-0002"]
    cursor = body["responseMetaData"]["nextCursor"]
    rest = http.get(api(emu, "/users"), params={"cursor": cursor}, headers=auth(token), timeout=10).json()
    assert [u["userId"] for u in rest["users"]] == ["u-ken-0003"]
    assert rest["responseMetaData"]["nextCursor"] is None


# --- limits and faults --------------------------------------------------------------------


def test_rate_limit_with_small_time_scale(
    http: requests.Session, emu: Emulator, token: str, clock: FakeClock
) -> None:
    http.post(
        control(emu, "/faults"),
        json={"time_scale": 0.05, "rate_limits": {"users": 3}},
        timeout=HTTP_TIMEOUT,
    )
    url = api(emu, "/users/u-hanako-0001")
    statuses = []
    for _ in range(4):
        resp = http.get(url, headers=auth(token), timeout=HTTP_TIMEOUT)
        statuses.append(resp.status_code)
    assert statuses == [200, 200, 200, 429]
    assert resp.json() == {"code": "TOO_MANY_REQUESTS", "description": "API rate limit exceeded"}
    assert resp.headers["rateLimit-limit"] == "3"
    assert resp.headers["rateLimit-remaining"] == "0"
    assert 0 <= int(resp.headers["rateLimit-reset"]) <= 3
    clock.now += 3.01  # the window is 60 s * 0.05
    resp = http.get(url, headers=auth(token), timeout=HTTP_TIMEOUT)
    assert resp.status_code == 200
    assert resp.headers["rateLimit-remaining"] == "2"
    assert state(http, emu)["rejected"]["429"] == 1


def test_plan_and_fixed_limits(http: requests.Session, emu: Emulator, token: str) -> None:
    url = api(emu, "/users/u-hanako-0001")
    resp = http.get(url, headers=auth(token), timeout=HTTP_TIMEOUT)
    assert resp.headers["rateLimit-limit"] == "240"
    http.post(control(emu, "/faults"), json={"plan": "free"}, timeout=HTTP_TIMEOUT)
    resp = http.get(url, headers=auth(token), timeout=HTTP_TIMEOUT)
    assert resp.headers["rateLimit-limit"] == "60"
    resp = http.get(api(emu, f"/bots/{BOT_ID}/channels/{CHANNEL}"), headers=auth(token), timeout=10)
    assert resp.status_code == 200
    assert resp.json()["title"] == "南予グループ"
    created = 0
    for _ in range(11):
        resp = http.post(
            api(emu, f"/bots/{BOT_ID}/channels"),
            json={"members": ["u-hanako-0001"], "title": "t"},
            headers=auth(token),
            timeout=HTTP_TIMEOUT,
        )
        created += resp.status_code == 201
    assert created == 10
    assert resp.status_code == 429
    assert resp.headers["rateLimit-limit"] == "10"


def test_burst_429_and_error_500(http: requests.Session, emu: Emulator, token: str) -> None:
    text = {"type": "text", "text": "x"}
    http.post(control(emu, "/faults"), json={"burst_429": 2}, timeout=HTTP_TIMEOUT)
    codes = [send_channel(http, emu, token, text).status_code for _ in range(3)]
    assert codes == [429, 429, 201]
    http.post(control(emu, "/faults"), json={"error_500_rate": 1.0, "random_seed": 7}, timeout=10)
    resp = send_channel(http, emu, token, text)
    assert resp.status_code == 500
    assert resp.json()["code"] == "INTERNAL_SERVER_ERROR"
    http.post(control(emu, "/faults"), json={"error_500_rate": 0.5}, timeout=HTTP_TIMEOUT)
    codes = [send_channel(http, emu, token, text).status_code for _ in range(40)]
    assert set(codes) == {201, 500}
    snap = state(http, emu)
    assert snap["rejected"]["429"] == 2
    assert snap["rejected"]["500"] == 1 + codes.count(500)
    assert len(snap["sent"]) == 1 + codes.count(201)
    bad = http.post(control(emu, "/faults"), json={"plan": "gold"}, timeout=HTTP_TIMEOUT)
    assert bad.status_code == 400


def test_timeout_fault_hangs_then_504(http: requests.Session, emu: Emulator, token: str) -> None:
    http.post(
        control(emu, "/faults"),
        json={"timeout_rate": 1.0, "timeout_seconds": 5},
        timeout=HTTP_TIMEOUT,
    )
    with pytest.raises(requests.Timeout):
        send_channel_timeout = http.post(
            api(emu, f"/bots/{BOT_ID}/channels/{CHANNEL}/messages"),
            json={"content": {"type": "text", "text": "x"}},
            headers=auth(token),
            timeout=0.3,
        )
        del send_channel_timeout
    http.post(control(emu, "/faults"), json={"timeout_seconds": 0.05}, timeout=HTTP_TIMEOUT)
    resp = send_channel(http, emu, token, {"type": "text", "text": "x"})
    assert resp.status_code == 504
    assert state(http, emu)["rejected"]["timeout"] == 2


def test_latency_and_reset(http: requests.Session, emu: Emulator, token: str) -> None:
    http.post(control(emu, "/faults"), json={"latency_ms": 200}, timeout=HTTP_TIMEOUT)
    started = time.monotonic()
    assert send_channel(http, emu, token, {"type": "text", "text": "x"}).status_code == 201
    assert time.monotonic() - started >= 0.2
    http.post(control(emu, "/reset"), timeout=HTTP_TIMEOUT)
    assert http.get(control(emu, "/faults"), timeout=HTTP_TIMEOUT).json()["latency_ms"] == 0
    snap = state(http, emu)
    assert snap["sent"] == [] and snap["calls"] == {}
    assert [r["key"] for r in snap["rooms"]] == [CHANNEL]
    # tokens survive a reset
    assert send_channel(http, emu, token, {"type": "text", "text": "x"}).status_code == 201


# --- boards -------------------------------------------------------------------------------


def test_board_post_and_readers(http: requests.Session, emu: Emulator, token: str, clock: FakeClock) -> None:
    resp = create_post(
        http, emu, token, title="【訓練】参集確認", body="<p>本文</p>", mustReadEndDate=days_ahead(clock, 7)
    )
    assert resp.status_code == 201
    post_id = resp.json()["postId"]
    readers_url = api(emu, f"/boards/b-1/posts/{post_id}/readers")
    body = http.get(readers_url, headers=auth(token), timeout=HTTP_TIMEOUT).json()
    assert [r["isRead"] for r in body["readers"]] == [False, False, False]
    assert body["responseMetaData"] == {"nextCursor": None}
    resp = http.post(
        control(emu, "/boards/read"),
        json={"boardId": "b-1", "postId": post_id, "userId": "u-taro-0002"},
        timeout=HTTP_TIMEOUT,
    )
    assert resp.status_code == 200
    body = http.get(readers_url, headers=auth(token), timeout=HTTP_TIMEOUT).json()
    assert {r["userId"]: r["isRead"] for r in body["readers"]} == {
        "u-hanako-0001": False,
        "u-taro-0002": True,
        "u-ken-0003": False,
    }
    assert body["readers"][1]["userName"] == "松山 太郎"
    assert resp.headers.get("rateLimit-limit") is None  # control API is not rate-limited
    limit = http.get(readers_url, headers=auth(token), timeout=HTTP_TIMEOUT)
    assert limit.headers["rateLimit-limit"] == "60"
    missing = http.post(api(emu, "/boards/nope/posts"), json={"title": "x"}, headers=auth(token), timeout=10)
    assert missing.status_code == 404


def days_ahead(clock: FakeClock, days: int) -> str:
    """A date `days` after the emulator's today in Japan, as mustReadEndDate takes it."""
    return (datetime.fromtimestamp(clock.now, JST).date() + timedelta(days=days)).isoformat()


def test_board_post_answer_has_the_documented_shape(
    http: requests.Session, emu: Emulator, token: str, clock: FakeClock
) -> None:
    until = days_ahead(clock, 7)
    resp = create_post(
        http, emu, token, title="【第一報】宇和島市", body="<p>断水</p>", mustReadEndDate=until
    )
    assert resp.status_code == 201
    post = resp.json()
    # board-post-create: postId is an int64; the must-read period is an object, as GET shows it
    assert isinstance(post["postId"], int) and post["isMustRead"] is True
    assert post["mustReadPeriod"] == {"startDate": days_ahead(clock, 0), "endDate": until}
    assert "mustReadEndDate" not in post and post["createdTime"].endswith("+09:00")
    got = http.get(api(emu, f"/boards/b-1/posts/{post['postId']}"), headers=auth(token), timeout=10).json()
    assert got == post


@pytest.mark.parametrize(
    "value",
    ["2025/06/20", "2025-06-20T00:00:00Z", "20250620", 20250620, "next week", "past", "31 days"],
)
def test_must_read_end_date_must_be_a_date_at_most_30_days_ahead(
    http: requests.Session, emu: Emulator, token: str, clock: FakeClock, value: Any
) -> None:
    value = {"past": days_ahead(clock, -1), "31 days": days_ahead(clock, 31)}.get(value, value)
    resp = create_post(http, emu, token, mustReadEndDate=value)
    assert resp.status_code == 400 and resp.json()["code"] == "INVALID_PARAMETER"
    assert state(http, emu)["posts"] == []
    assert create_post(http, emu, token, mustReadEndDate=days_ahead(clock, 30)).status_code == 201


def test_readers_take_no_undocumented_parameter_and_page_by_cursor(
    http: requests.Session, emu: Emulator, token: str, clock: FakeClock
) -> None:
    post_id = create_post(http, emu, token).json()["postId"]
    readers_url = api(emu, f"/boards/b-1/posts/{post_id}/readers")
    counted = http.get(readers_url, params={"count": 5000}, headers=auth(token), timeout=HTTP_TIMEOUT)
    assert counted.status_code == 400 and "count" in counted.json()["description"]
    emu.faults.update({"readers_page_size": 2})
    first = http.get(readers_url, headers=auth(token), timeout=HTTP_TIMEOUT).json()
    cursor = first["responseMetaData"]["nextCursor"]
    assert len(first["readers"]) == 2 and cursor
    second = http.get(readers_url, params={"cursor": cursor}, headers=auth(token), timeout=10).json()
    assert len(second["readers"]) == 1 and second["responseMetaData"]["nextCursor"] is None


def test_postback_events_name_the_room_even_one_to_one(
    http: requests.Session, emu: Emulator, token: str, receiver: Receiver
) -> None:
    choice = {
        "type": "text",
        "text": "参集できますか",
        "quickReply": {
            "items": [{"action": {"type": "postback", "label": "はい", "data": "yes", "displayText": "はい"}}]
        },
    }
    assert send_user(http, emu, token, choice, "u-taro-0002").status_code == 201
    seq = state(http, emu)["sent"][0]["seq"]
    tapped = http.post(
        control(emu, "/tap"),
        json={"userId": "u-taro-0002", "channelId": None, "seq": seq, "action": 0, "quickReply": True},
        timeout=HTTP_TIMEOUT,
    ).json()["event"]
    # bot-callback-postback marks source.channelId required, also in a 1:1 room...
    assert tapped["type"] == "postback" and tapped["source"]["channelId"]
    # ...while a message in the same 1:1 room comes without one (bot-callback-message)
    said = http.post(
        control(emu, "/act"),
        json={"userId": "u-taro-0002", "channelId": None, "content": {"type": "text", "text": "はい"}},
        timeout=HTTP_TIMEOUT,
    ).json()["event"]
    assert "channelId" not in said["source"]
    # the 1:1 room's channelId takes a reply (undocumented either way; the emulator accepts it)
    reply = send_channel(http, emu, token, {"type": "text", "text": "受付"}, tapped["source"]["channelId"])
    assert reply.status_code == 201


def test_users_carry_pending_awaiting_and_external_key(
    http: requests.Session, emu: Emulator, token: str
) -> None:
    user = emu.state.users["u-ken-0003"]
    user.is_pending, user.is_awaiting, user.external_key = True, True, "EHIME-0003"
    by_key = http.get(api(emu, "/users/externalKey%3AEHIME-0003"), headers=auth(token), timeout=10).json()
    assert by_key["userId"] == "u-ken-0003"
    assert (by_key["isPending"], by_key["isAwaiting"], by_key["userExternalKey"]) == (
        True,
        True,
        "EHIME-0003",
    )
    other = http.get(api(emu, "/users/u-taro-0002"), headers=auth(token), timeout=10).json()
    assert (other["isPending"], other["isAwaiting"], other["userExternalKey"]) == (False, False, None)


# --- callbacks ----------------------------------------------------------------------------


def test_callback_signature_and_headers(emu: Emulator, receiver: Receiver) -> None:
    http = requests.Session()
    http.trust_env = False
    resp = http.post(
        control(emu, "/act"),
        json={
            "userId": "u-hanako-0001",
            "channelId": CHANNEL,
            "content": {"type": "text", "text": "第一報：宇和島市で浸水"},
        },
        timeout=HTTP_TIMEOUT,
    )
    http.close()
    assert resp.status_code == 200
    assert resp.json()["status"] == 200
    raw, headers = receiver.received[0]
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["content-type"] == "application/json; charset=UTF-8"
    assert lower["x-works-botid"] == BOT_ID
    expected = base64.b64encode(hmac.new(BOT_SECRET.encode(), raw, hashlib.sha256).digest())
    assert hmac.compare_digest(lower["x-works-signature"].encode(), expected)
    event = json.loads(raw)
    assert event["type"] == "message"
    assert event["source"] == {
        "userId": "u-hanako-0001",
        "channelId": CHANNEL,
        "domainId": 40029600,
    }
    assert event["content"] == {"type": "text", "text": "第一報：宇和島市で浸水"}
    assert event["issuedTime"].endswith("Z") and len(event["issuedTime"]) == 24


def test_act_one_to_one_and_failed_delivery_is_not_retried(
    http: requests.Session, emu: Emulator, receiver: Receiver
) -> None:
    receiver.status = 500
    resp = http.post(
        control(emu, "/act"),
        json={
            "userId": "u-taro-0002",
            "content": {"type": "location", "address": "松山市", "latitude": 33.8, "longitude": 132.7},
        },
        timeout=HTTP_TIMEOUT,
    )
    assert resp.json()["status"] == 500
    event = resp.json()["event"]
    assert "channelId" not in event["source"]
    emu.set_callback_url("http://127.0.0.1:9/unreachable")
    resp = http.post(
        control(emu, "/act"),
        json={"userId": "u-taro-0002", "content": {"type": "text", "text": "もしもし"}},
        timeout=HTTP_TIMEOUT,
    )
    assert resp.json()["status"] is None
    assert resp.json()["error"]
    assert emu.drain_callbacks(5)
    snap = state(http, emu)
    assert [c["status"] for c in snap["callbacks"]] == [500, None]
    assert len(receiver.received) == 1  # never retried
    dm = next(r for r in snap["rooms"] if r["key"] == "dm:u-taro-0002")
    assert [m["sender"] for m in dm["messages"]] == ["u-taro-0002", "u-taro-0002"]


def test_act_with_uploaded_image(
    http: requests.Session, emu: Emulator, receiver: Receiver, token: str
) -> None:
    up = http.post(
        control(emu, "/upload"),
        files={"file": ("photo.jpg", b"\xff\xd8\xff fake jpeg", "image/jpeg")},
        timeout=HTTP_TIMEOUT,
    ).json()
    resp = http.post(
        control(emu, "/act"),
        json={
            "userId": "u-hanako-0001",
            "channelId": CHANNEL,
            "content": {"type": "image", "fileId": up["fileId"]},
        },
        timeout=HTTP_TIMEOUT,
    ).json()
    assert resp["event"]["content"] == {"type": "image", "fileId": up["fileId"]}
    redirect = http.get(
        api(emu, f"/bots/{BOT_ID}/attachments/{up['fileId']}"),
        headers=auth(token),
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert http.get(redirect.headers["Location"], timeout=10).content == b"\xff\xd8\xff fake jpeg"


def test_tap_button_and_quick_reply(
    http: requests.Session, emu: Emulator, token: str, receiver: Receiver
) -> None:
    buttons = {
        "type": "button_template",
        "contentText": "【訓練】第一報を確認しましたか",
        "actions": [
            {"type": "message", "label": "確認しました", "postback": "ack:inc-1"},
            {"type": "message", "label": "支援可能", "text": "支援に向かえます", "postback": "can:inc-1"},
            {"type": "uri", "label": "詳細", "uri": "https://example.org"},
        ],
        "quickReply": {
            "items": [
                {
                    "action": {
                        "type": "postback",
                        "label": "無事",
                        "data": "safe:inc-1",
                        "displayText": "無事です",
                    }
                },
                {"action": {"type": "message", "label": "出勤可", "postback": "come:inc-1"}},
            ]
        },
    }
    assert send_channel(http, emu, token, buttons).status_code == 201
    seq = state(http, emu)["sent"][0]["seq"]

    def tap(index: int, quick: bool = False) -> dict[str, Any]:
        resp = http.post(
            control(emu, "/tap"),
            json={
                "userId": "u-taro-0002",
                "channelId": CHANNEL,
                "seq": seq,
                "action": index,
                "quickReply": quick,
            },
            timeout=HTTP_TIMEOUT,
        )
        assert resp.status_code == 200, resp.text
        result: dict[str, Any] = resp.json()
        return result

    first = tap(0)
    assert first["status"] == 200
    assert first["event"]["type"] == "message"
    assert first["event"]["content"] == {"type": "text", "text": "確認しました", "postback": "ack:inc-1"}
    second = tap(1)["event"]["content"]
    assert second == {"type": "text", "text": "支援に向かえます", "postback": "can:inc-1"}
    assert tap(2)["event"] is None  # a uri action sends nothing to the bot
    quick = tap(0, quick=True)["event"]
    assert quick["type"] == "postback"
    assert quick["data"] == "safe:inc-1"
    assert quick["source"] == {"userId": "u-taro-0002", "channelId": CHANNEL, "domainId": 40029600}
    quick_msg = tap(1, quick=True)["event"]
    assert quick_msg["content"] == {"type": "text", "text": "出勤可", "postback": "come:inc-1"}
    missing = http.post(
        control(emu, "/tap"),
        json={"userId": "u-taro-0002", "channelId": CHANNEL, "seq": seq, "action": 9},
        timeout=HTTP_TIMEOUT,
    )
    assert missing.status_code == 404
    assert emu.drain_callbacks(5)
    types = [e["type"] for e in receiver.events()]
    assert types == ["message", "message", "postback", "message"]
    room = next(r for r in state(http, emu)["rooms"] if r["key"] == CHANNEL)
    texts = [m["content"].get("text") for m in room["messages"][1:]]
    assert texts == ["確認しました", "支援に向かえます", "無事です", "出勤可"]


def test_read_counts(http: requests.Session, emu: Emulator, token: str) -> None:
    assert send_channel(http, emu, token, {"type": "text", "text": "既読確認"}).status_code == 201

    def read_count() -> int:
        room = next(r for r in state(http, emu)["rooms"] if r["key"] == CHANNEL)
        count: int = room["messages"][0]["readCount"]
        return count

    assert read_count() == 0
    for user in ("u-hanako-0001", "u-taro-0002"):
        http.post(control(emu, "/read"), json={"userId": user, "channelId": CHANNEL}, timeout=10)
    assert read_count() == 2


def test_callbacks_are_delivered_in_order(http: requests.Session, emu: Emulator, receiver: Receiver) -> None:
    for i in range(20):
        resp = http.post(
            control(emu, "/act"),
            json={
                "userId": "u-ken-0003",
                "channelId": CHANNEL,
                "content": {"type": "text", "text": str(i)},
                "wait": False,
            },
            timeout=HTTP_TIMEOUT,
        )
        assert resp.status_code == 200
    drained = http.post(control(emu, "/drain"), json={"timeout": 10}, timeout=15).json()
    assert drained == {"drained": True}
    assert [e["content"]["text"] for e in receiver.events()] == [str(i) for i in range(20)]
    wait_until(lambda: len(state(http, emu)["callbacks"]) == 20)


def test_talk_page_and_json(http: requests.Session, emu: Emulator, token: str) -> None:
    page = http.get(f"{emu.base_url}/", timeout=HTTP_TIMEOUT)
    assert page.status_code == 200
    assert "エミュレータ" in page.text and 'data-testid="user-select"' in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'self'
    groups = http.get(control(emu, "/talk/users"), timeout=HTTP_TIMEOUT).json()["groups"]
    assert [g["org"] for g in groups] == ["宇和島市", "松山市", "愛媛県"]
    assert groups[0]["users"][0] == {"userId": "u-hanako-0001", "name": "宇和島 花子", "position": "副市長"}

    def room_keys(user: str) -> list[str]:
        rooms = http.get(control(emu, "/talk/rooms"), params={"userId": user}, timeout=10)
        return [r["key"] for r in rooms.json()["rooms"]]

    assert room_keys("u-taro-0002") == ["dm:u-taro-0002", CHANNEL]
    created = http.post(
        api(emu, f"/bots/{BOT_ID}/channels"),
        json={"members": ["u-taro-0002"], "title": "松山連絡"},
        headers=auth(token),
        timeout=HTTP_TIMEOUT,
    ).json()["channelId"]
    # like LINE WORKS: an invited room appears only once someone posts in it
    assert created not in room_keys("u-taro-0002")
    mention = {"type": "text", "text": '<m userId="fukushicho@matsuyama.example"> 確認を'}
    assert send_channel(http, emu, token, mention, channel=created).status_code == 201
    assert room_keys("u-taro-0002")[1] == created
    room = http.get(
        control(emu, "/talk/room"), params={"userId": "u-taro-0002", "key": created}, timeout=10
    ).json()
    message = room["messages"][0]
    assert message["segments"] == [{"mention": "松山 太郎"}, {"text": " 確認を"}]
    assert message["readCount"] == 1  # opening the room marked it read
    outsider = http.get(
        control(emu, "/talk/room"), params={"userId": "u-ken-0003", "key": created}, timeout=10
    )
    assert outsider.status_code == 404
