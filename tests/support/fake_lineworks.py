"""FakeLineWorks: answers like the LINE WORKS API at the requests boundary and records every send."""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import unquote

import requests
import responses

from hotline.config import Config, Member
from tests.support.bot import API, AUTH, BOT_ID

SEND_CHANNEL = re.compile(rf"{re.escape(API)}/bots/{BOT_ID}/channels/([^/]+)/messages")
SEND_USER = re.compile(rf"{re.escape(API)}/bots/{BOT_ID}/users/([^/]+)/messages")
BOARD_POSTS = re.compile(rf"{re.escape(API)}/boards/[^/]+/posts")
USERS = re.compile(rf"{re.escape(API)}/users/([^/?]+)")


def uid(member: Member) -> str:
    """The userId LINE WORKS gives a member in these tests."""
    return member.user_id or f"uid-{member.email.split('@')[0]}-{member.email.split('@')[1].split('.')[0]}"


class FakeLineWorks:
    """Answers like LINE WORKS and records every message sent, in order."""

    def __init__(self, rsps: responses.RequestsMock, config: Config) -> None:
        self.rsps = rsps
        self.sent: list[tuple[str, str, dict[str, Any]]] = []  # (kind, id, content)
        self.tokens = 0
        self.user_lookups = 0
        self.board_posts: list[dict[str, Any]] = []
        self.users_forbidden = False  # the users API answers 403 (a scope not granted)
        self.fail: dict[str, list[int]] = {}  # channelId/userId -> statuses to answer first
        self.lock = threading.Lock()
        self.gate: threading.Barrier | None = None  # when set, every send waits at it
        by_uid = {uid(m): m for m in config.all_members()}

        def token(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            with self.lock:
                self.tokens += 1
                n = self.tokens
            return (
                200,
                {},
                json.dumps({"access_token": f"tok-{n}", "token_type": "Bearer", "expires_in": "86400"}),
            )

        def send(kind: str, pattern: re.Pattern[str]) -> Any:
            def handler(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
                match = pattern.match(str(request.url))
                assert match
                target = unquote(match.group(1))
                if self.gate is not None and kind == "channel":
                    self.gate.wait()
                with self.lock:
                    queue = self.fail.get(target)
                    if queue:
                        status = queue.pop(0)
                        code = {429: "TOO_MANY_REQUESTS", 403: "FORBIDDEN", 404: "NOT_FOUND"}.get(status, "X")
                        return (
                            status,
                            {"rateLimit-reset": "1"},
                            json.dumps({"code": code, "description": "x"}),
                        )
                    self.sent.append((kind, target, json.loads(request.body or b"{}")["content"]))
                return 201, {}, ""

            return handler

        def board_post(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            with self.lock:
                self.board_posts.append(json.loads(request.body or b"{}"))
                return 201, {}, json.dumps({"postId": f"post-{len(self.board_posts)}"})

        def user(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            match = USERS.match(str(request.url))
            assert match
            with self.lock:
                self.user_lookups += 1
            if self.users_forbidden:
                return (
                    403,
                    {},
                    json.dumps({"code": "FORBIDDEN", "description": "scope user.read not granted"}),
                )
            member = by_uid.get(match.group(1))
            if member is None:
                return 404, {}, json.dumps({"code": "NOT_FOUND", "description": "no such user"})
            return 200, {}, json.dumps({"userId": match.group(1), "email": member.email})

        rsps.add_callback(responses.POST, AUTH, callback=token)
        rsps.add_callback(responses.POST, SEND_CHANNEL, callback=send("channel", SEND_CHANNEL))
        rsps.add_callback(responses.POST, SEND_USER, callback=send("user", SEND_USER))
        rsps.add_callback(responses.GET, USERS, callback=user)
        rsps.add_callback(responses.POST, BOARD_POSTS, callback=board_post)

    def to_channels(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for kind, target, content in self.sent:
            if kind == "channel":
                out.setdefault(target, []).append(content)
        return out

    def texts_to(self, target: str) -> list[str]:
        return [c.get("text") or c.get("contentText") or "" for _, t, c in self.sent if t == target]
