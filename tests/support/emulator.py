"""Driving the LINE WORKS emulator in tests: its seed, JWT token requests, a callback receiver, a clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import requests
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from lineworks_emulator import Emulator

BOT_ID = "2000001"
CLIENT_ID = "client-abc"
CLIENT_SECRET = "client-secret-xyz"
SERVICE_ACCOUNT = "abcd.serviceaccount@example"
BOT_SECRET = "bot-secret-123"
HTTP_TIMEOUT = 10
SCOPE = "bot user.read board"

USERS = [
    {
        "userId": "u-hanako-0001",
        "email": "fukushicho@uwajima.example",
        "name": "宇和島 花子",
        "org": "宇和島市",
        "position": "副市長",
        "isSuspended": False,
        "isDeleted": False,
    },
    {
        "userId": "u-taro-0002",
        "email": "fukushicho@matsuyama.example",
        "name": "松山 太郎",
        "org": "松山市",
        "position": "副市長",
    },
    {
        "userId": "u-ken-0003",
        "email": "hq.head@pref-ehime.example",
        "name": "県 健",
        "org": "愛媛県",
        "position": "本部長",
    },
]
CHANNEL = "ch-nanyo-0001"


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        threading.Event().wait(0.02)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_seed(public_pem: str) -> dict[str, Any]:
    return {
        "domain_id": 40029600,
        "bot": {
            "bot_id": BOT_ID,
            "bot_secret": BOT_SECRET,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "service_account": SERVICE_ACCOUNT,
            "public_key_pem": public_pem,
            "callback_url": None,
        },
        "users": USERS,
        "channels": [
            {"channelId": CHANNEL, "title": "南予グループ", "members": [u["userId"] for u in USERS]}
        ],
        "boards": [{"boardId": "b-1", "title": "災害連絡"}],
    }


class Receiver:
    """A tiny callback receiver (werkzeug) that records raw bodies and headers."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.status = 200
        self._lock = threading.Lock()
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/callback"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _app(self, environ: Any, start_response: Any) -> Any:
        req = Request(environ)
        with self._lock:
            self.received.append((req.get_data(), dict(req.headers)))
        return Response("", status=self.status)(environ, start_response)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for body, _ in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def make_jwt(private_pem: bytes, now: float, **overrides: Any) -> str:
    claims = {"iss": CLIENT_ID, "sub": SERVICE_ACCOUNT, "iat": int(now), "exp": int(now) + 3600}
    claims.update(overrides)
    return jwt.encode(claims, private_pem, algorithm="RS256")


def request_token(http: requests.Session, emu: Emulator, assertion: str, **form: str) -> requests.Response:
    data = {
        "assertion": assertion,
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": SCOPE,
    }
    data.update(form)
    return http.post(emu.auth_url, data=data, timeout=HTTP_TIMEOUT)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
