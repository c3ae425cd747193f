"""The emulated LINE WORKS API 2.0: token endpoint and ``/v1.0`` (demos/tests only).

Paths, bodies, status codes and error bodies follow /work/shared/lineworks-api.md. Each
``/v1.0`` call goes through one pipeline (see :func:`_guard`): latency → bearer token →
scope → rate limit → fault switches (burst 429, timeout, 500) → the handler.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt
from flask import Blueprint, Response, g, request, url_for

from .content import ContentError, validate_content
from .state import BOT_SENDER, JST, Room

if TYPE_CHECKING:
    from . import Emulator

JSON = dict[str, Any]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MUST_READ_MAX_DAYS = 30  # board-post-create: mustReadEndDate, "最大30日"
BOT_SCOPES = frozenset({"bot", "bot.message"})
BOT_READ_SCOPES = frozenset({"bot", "bot.message", "bot.read"})
USER_SCOPES = frozenset({"user", "user.read", "directory", "directory.read"})
BOARD_WRITE_SCOPES = frozenset({"board"})
BOARD_READ_SCOPES = frozenset({"board", "board.read"})

# endpoint name -> (rate-limit operation, scopes of which one is needed)
OPERATIONS: dict[str, tuple[str, frozenset[str]]] = {
    "api.send_user": ("send_user", BOT_SCOPES),
    "api.send_channel": ("send_channel", BOT_SCOPES),
    "api.create_channel": ("create_channel", BOT_SCOPES),
    "api.channel_get": ("channel_get", BOT_READ_SCOPES),
    "api.channel_members": ("channel_members", BOT_READ_SCOPES),
    "api.channel_leave": ("channel_leave", BOT_SCOPES),
    "api.attachment_create": ("attachments", BOT_SCOPES),
    "api.attachment_get": ("attachments", BOT_SCOPES),
    "api.user_get": ("users", USER_SCOPES),
    "api.user_list": ("users", USER_SCOPES),
    "api.board_post_create": ("boards", BOARD_WRITE_SCOPES),
    "api.board_post_get": ("boards", BOARD_READ_SCOPES),
    "api.board_readers": ("boards", BOARD_READ_SCOPES),
}


def error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> Response:
    """A LINE WORKS error response: ``{"code": ..., "description": ...}``."""
    body = json.dumps({"code": code, "description": description}, ensure_ascii=False)
    return Response(body, status=status, mimetype="application/json", headers=headers)


def ok(body: Any, status: int = 200) -> Response:
    """A JSON response."""
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def oauth_error(status: int, code: str, description: str) -> Response:
    """An OAuth-style token endpoint error."""
    body = {"error": code, "error_description": description}
    return Response(
        json.dumps(body),
        status=status,
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )


def encode_cursor(offset: int) -> str:
    """Opaque paging cursor."""
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """Offset from a cursor; raises ValueError for a bad one."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("bad cursor") from exc
    if not raw.startswith("o:") or not raw[2:].isdigit():
        raise ValueError("bad cursor")
    return int(raw[2:])


def page_args(default: int, maximum: int) -> tuple[int, int]:
    """``count`` and the offset from ``cursor``; raises ValueError for bad values."""
    raw = request.args.get("count")
    count = default if raw in (None, "") else int(raw)
    if not 1 <= count <= maximum:
        raise ValueError(f"count must be 1..{maximum}")
    return count, decode_cursor(request.args.get("cursor"))


def create_api_blueprint(emu: Emulator) -> Blueprint:
    """The token endpoint and ``/v1.0`` routes bound to one emulator."""
    bp = Blueprint("api", __name__)
    state = emu.state

    def pause(seconds: float) -> None:
        if seconds > 0:
            emu.stopping.wait(seconds)

    def rate_check(op: str) -> Response | None:
        faults = emu.faults
        decision = emu.limiter.hit(op, faults.limit_for(op), faults.window_seconds)
        g.rate_headers = decision.headers()
        if not decision.allowed:
            state.count_rejected("429")
            return error(429, "TOO_MANY_REQUESTS", "API rate limit exceeded", g.rate_headers)
        return None

    @bp.before_request
    def _guard() -> Response | None:
        g.rate_headers = None
        if request.endpoint == "api.token":
            state.count_call("token")
            pause(emu.faults.latency_ms / 1000)
            return rate_check("token")
        spec = OPERATIONS.get(request.endpoint or "")
        if spec is None:
            return None
        op, scopes = spec
        state.count_call(op)
        faults = emu.faults
        pause(faults.latency_ms / 1000)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        found = state.check_token(token.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            state.count_rejected("401")
            desc = "Authentication failed (missing, invalid or expired access token)"
            challenge = 'Bearer realm="worksapis", error="invalid_token"'
            return error(401, "UNAUTHORIZED", desc, {"WWW-Authenticate": challenge})
        if not found.scopes & scopes:
            need = " or ".join(sorted(scopes))
            return error(403, "FORBIDDEN", f"Missing scope: this API needs {need}")
        limited = rate_check(op)
        if limited is not None:
            return limited
        with state.lock:
            burst = faults.burst_429 > 0
            if burst:
                faults.burst_429 -= 1
            roll_timeout = faults.rng.random() < faults.timeout_rate
            roll_500 = faults.rng.random() < faults.error_500_rate
        if burst:
            state.count_rejected("429")
            return error(429, "TOO_MANY_REQUESTS", "API rate limit exceeded", g.rate_headers)
        if roll_timeout:
            state.count_rejected("timeout")
            pause(faults.timeout_seconds)
            return error(504, "GATEWAY_TIMEOUT", "Gateway timeout")
        if roll_500:
            state.count_rejected("500")
            return error(500, "INTERNAL_SERVER_ERROR", "Internal server error")
        return None

    @bp.after_request
    def _rate_headers(resp: Response) -> Response:
        headers = g.get("rate_headers")
        if headers and resp.status_code != 302:
            for key, value in headers.items():
                resp.headers.setdefault(key, value)
        return resp

    # --- token -------------------------------------------------------------------------

    @bp.post("/oauth2/v2.0/token")
    def token() -> Response:
        form = request.form
        grant = form.get("grant_type", "")
        if form.get("client_id") != state.client_id or form.get("client_secret") != (state.client_secret):
            return oauth_error(401, "invalid_client", "client_id or client_secret is wrong")
        if grant == JWT_BEARER:
            assertion = form.get("assertion", "")
            if not assertion:
                return oauth_error(400, "invalid_request", "assertion is required")
            problem = check_jwt(emu, assertion)
            if problem:
                return oauth_error(400, "invalid_grant", problem)
            scope = form.get("scope", "").strip()
            if not scope:
                return oauth_error(400, "invalid_scope", "scope is required")
            scopes = frozenset(s for s in scope.replace(",", " ").split() if s)
        elif grant == "refresh_token":
            with state.lock:
                known = state.refresh_tokens.get(form.get("refresh_token", ""))
            if known is None:
                return oauth_error(400, "invalid_grant", "refresh_token is invalid")
            scopes = known
            scope = " ".join(sorted(scopes))
        else:
            hint = " (grant_type looks URL-encoded twice)" if "%3A" in grant.upper() else ""
            return oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r}{hint}")
        ttl = emu.faults.token_ttl_seconds
        access, refresh = state.issue_token(scopes, ttl)
        body: JSON = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": str(ttl),  # LINE WORKS sends it as a string (lineworks-api.md §1)
            "scope": scope,
        }
        if grant == JWT_BEARER:
            body["refresh_token"] = refresh
        return ok(body)

    # --- messages ----------------------------------------------------------------------

    def check_bot(bot_id: str) -> Response | None:
        if bot_id != state.bot_id:
            return error(404, "NOT_FOUND", f"bot {bot_id} not found")
        return None

    def bot_room(channel_id: str, *, one_to_one: bool = False) -> Room | Response:
        if channel_id in emu.faults.remove_bot_from:
            return error(403, "FORBIDDEN", "The bot is not a member of this channel")
        with state.lock:
            room = state.rooms.get(channel_id)
            if room is None and one_to_one:
                # A 1:1 room's channelId (postback events carry one). Whether the channel send
                # API takes it is not documented: the emulator delivers into the 1:1 room.
                room = state.dm_by_channel(channel_id)
            if room is None or (room.is_dm and not one_to_one) or not room.bot_in:
                return error(404, "NOT_FOUND", f"channel {channel_id} not found")
            return room

    def read_content() -> JSON | Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "BAD_REQUEST", "request body must be a JSON object")
        try:
            validate_content(body.get("content"), state.file_ready)
        except ContentError as exc:
            return error(400, exc.code, exc.description)
        content: JSON = body["content"]
        return content

    @bp.post("/v1.0/bots/<bot_id>/users/<user_id>/messages")
    def send_user(bot_id: str, user_id: str) -> Response:
        bad = check_bot(bot_id)
        if bad:
            return bad
        user = state.find_user(user_id)
        if user is None or user.is_deleted:
            return error(404, "NOT_FOUND", f"user {user_id} not found")
        content = read_content()
        if isinstance(content, Response):
            return content
        with state.lock:
            room = state.dm_room(user.user_id)
            msg = state.add_message(room, BOT_SENDER, content)
            state.record_sent("send_user", msg, channel_id=None, user_id=user.user_id)
        return Response(status=201)

    @bp.post("/v1.0/bots/<bot_id>/channels/<channel_id>/messages")
    def send_channel(bot_id: str, channel_id: str) -> Response:
        bad = check_bot(bot_id)
        if bad:
            return bad
        room = bot_room(channel_id, one_to_one=True)
        if isinstance(room, Response):
            return room
        content = read_content()
        if isinstance(content, Response):
            return content
        with state.lock:
            msg = state.add_message(room, BOT_SENDER, content)
            state.record_sent("send_channel", msg, channel_id=channel_id, user_id=None)
        return Response(status=201)

    # --- rooms -------------------------------------------------------------------------

    @bp.post("/v1.0/bots/<bot_id>/channels")
    def create_channel(bot_id: str) -> Response:
        bad = check_bot(bot_id)
        if bad:
            return bad
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "BAD_REQUEST", "request body must be a JSON object")
        members = body.get("members")
        title = body.get("title", "")
        if not isinstance(members, list) or not members:
            return error(400, "INVALID_PARAMETER", "members must have 1 to 100 userIds")
        if len(members) > 100:
            return error(400, "INVALID_PARAMETER", "members must have 1 to 100 userIds")
        if not isinstance(title, str) or len(title) > 1000:
            return error(400, "INVALID_PARAMETER", "title must be a string of at most 1000")
        resolved: list[str] = []
        for member in members:
            user = state.find_user(member) if isinstance(member, str) else None
            if user is None or user.is_deleted:
                return error(400, "INVALID_PARAMETER", f"unknown member {member!r}")
            if user.user_id in resolved:
                return error(400, "INVALID_PARAMETER", f"duplicate member {member!r}")
            resolved.append(user.user_id)
        with state.lock:
            room = state.create_room(title, resolved)
            emu.bot_joined(room)
        return ok({"channelId": room.channel_id, "title": room.title}, 201)

    @bp.get("/v1.0/bots/<bot_id>/channels/<channel_id>")
    def channel_get(bot_id: str, channel_id: str) -> Response:
        bad = check_bot(bot_id)
        if bad:
            return bad
        room = bot_room(channel_id)
        if isinstance(room, Response):
            return room
        return ok(
            {
                "domainId": state.domain_id,
                "channelId": room.channel_id,
                "title": room.title,
                "channelType": {"type": "MULTI_USERS"},
            }
        )

    @bp.get("/v1.0/bots/<bot_id>/channels/<channel_id>/members")
    def channel_members(bot_id: str, channel_id: str) -> Response:
        bad = check_bot(bot_id)
        if bad:
            return bad
        room = bot_room(channel_id)
        if isinstance(room, Response):
            return room
        try:
            count, offset = page_args(50, 100)
        except ValueError as exc:
            return error(400, "INVALID_PARAMETER", str(exc))
        with state.lock:
            members = list(room.members)
        page = members[offset : offset + count]
        nxt = encode_cursor(offset + count) if offset + count < len(members) else None
        return ok({"members": page, "responseMetaData": {"nextCursor": nxt}})

    @bp.delete("/v1.0/bots/<bot_id>/channels/<channel_id>")
    def channel_leave(bot_id: str, channel_id: str) -> Response:
        bad = check_bot(bot_id)
        if bad:
            return bad
        room = bot_room(channel_id)
        if isinstance(room, Response):
            return room
        with state.lock:
            room.bot_in = False
            emu.bot_left(room)
        return Response(status=204)

    # --- attachments -------------------------------------------------------------------

    @bp.post("/v1.0/bots/<bot_id>/attachments")
    def attachment_create(bot_id: str) -> Response:
        bad = check_bot(bot_id)
        if bad:
            return bad
        body = request.get_json(silent=True)
        name = body.get("fileName") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return error(400, "MISSING_PARAMETER", "fileName is required")
        stored = state.new_file(name)
        upload_url = url_for("api.upload", token=stored.upload_token, _external=True)
        return ok({"fileId": stored.file_id, "uploadUrl": upload_url})

    @bp.post("/_emulator/files/upload/<token>")
    def upload(token: str) -> Response:
        """Upload target for ``uploadUrl`` (needs the Bearer token, single use)."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or state.check_token(value.strip()) is None:
            return error(
                401,
                "UNAUTHORIZED",
                "Authentication failed",
                {"WWW-Authenticate": 'Bearer realm="worksapis"'},
            )
        upload = request.files.get("Filedata") or request.files.get("FileData")
        if upload is None:
            return error(400, "MISSING_PARAMETER", "multipart field Filedata is required")
        data = upload.read()
        stored = state.consume_upload(token, data, upload.mimetype or "application/octet-stream")
        if stored is None:
            return error(403, "FORBIDDEN", "upload URL already used or unknown")
        return ok({"fileId": stored.file_id})

    @bp.get("/v1.0/bots/<bot_id>/attachments/<file_id>")
    def attachment_get(bot_id: str, file_id: str) -> Response:
        bad = check_bot(bot_id)
        if bad:
            return bad
        if not state.file_ready(file_id):
            return error(404, "NOT_FOUND", f"file {file_id} not found")
        location = url_for("control.file_download", file_id=file_id, _external=True)
        return Response(status=302, headers={"Location": location})

    # --- users -------------------------------------------------------------------------

    @bp.get("/v1.0/users/<path:user_id>")
    def user_get(user_id: str) -> Response:
        user = state.find_user(user_id)
        if user is None:
            return error(404, "NOT_FOUND", f"user {user_id} not found")
        return ok(user.record(state.domain_id))

    @bp.get("/v1.0/users")
    def user_list() -> Response:
        try:
            count, offset = page_args(100, 100)
        except ValueError as exc:
            return error(400, "INVALID_PARAMETER", str(exc))
        with state.lock:
            users = list(state.users.values())
        page = [u.record(state.domain_id) for u in users[offset : offset + count]]
        nxt = encode_cursor(offset + count) if offset + count < len(users) else None
        return ok({"users": page, "responseMetaData": {"nextCursor": nxt}})

    # --- boards ------------------------------------------------------------------------

    @bp.post("/v1.0/boards/<board_id>/posts")
    def board_post_create(board_id: str) -> Response:
        if board_id not in state.boards:
            return error(404, "NOT_FOUND", f"board {board_id} not found")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "BAD_REQUEST", "request body must be a JSON object")
        title, text = body.get("title"), body.get("body")
        if not isinstance(title, str) or not title:
            return error(400, "MISSING_PARAMETER", "title is required")
        if len(title) > 200:
            return error(400, "INVALID_PARAMETER", "title must be at most 200 characters")
        if not isinstance(text, str) or not text:  # required, minLength 1
            return error(400, "MISSING_PARAMETER", "body is required")
        if len(text) > 716_800:
            return error(400, "INVALID_PARAMETER", "body must be at most 716800 characters")
        for flag in ("enableComment", "sendNotifications"):
            if flag in body and not isinstance(body[flag], bool):
                return error(400, "INVALID_PARAMETER", f"{flag} must be a boolean")
        must_read = body.get("mustReadEndDate")
        if must_read is not None:
            problem = must_read_problem(must_read, datetime.fromtimestamp(emu.clock(), JST).date())
            if problem:
                return error(400, "INVALID_PARAMETER", problem)
        post = state.new_post(board_id, title, text, must_read)
        return ok(state.post_json(post), 201)

    @bp.get("/v1.0/boards/<board_id>/posts/<post_id>")
    def board_post_get(board_id: str, post_id: str) -> Response:
        post = state.posts.get(post_id)
        if post is None or post.board_id != board_id:
            return error(404, "NOT_FOUND", f"post {post_id} not found")
        return ok(state.post_json(post))

    @bp.get("/v1.0/boards/<board_id>/posts/<post_id>/readers")
    def board_readers(board_id: str, post_id: str) -> Response:
        post = state.posts.get(post_id)
        if post is None or post.board_id != board_id:
            return error(404, "NOT_FOUND", f"post {post_id} not found")
        # board-post-reader-list documents no query parameter; paging follows the common
        # cursor convention. How the real API treats others (a `count`, say) is not
        # documented, so the emulator refuses them: hotline must stay on the documented path.
        unknown = sorted(set(request.args) - {"cursor"})
        if unknown:
            return error(400, "INVALID_PARAMETER", f"unknown query parameter {unknown[0]!r}")
        try:
            offset = decode_cursor(request.args.get("cursor"))
        except ValueError as exc:
            return error(400, "INVALID_PARAMETER", str(exc))
        count = emu.faults.readers_page_size  # 5000 (maxItems) unless a test shrinks it
        with state.lock:
            readers = [
                {
                    "userId": None if u.is_deleted else u.user_id,
                    "userName": u.name,
                    "isRead": u.user_id in post.readers,
                }
                for u in state.users.values()
            ]
        page = readers[offset : offset + count]
        nxt = encode_cursor(offset + count) if offset + count < len(readers) else None
        return ok({"readers": page, "responseMetaData": {"nextCursor": nxt}})

    return bp


def must_read_problem(value: Any, today: Any) -> str | None:
    """Why a mustReadEndDate is refused (board-post-create: a date, YYYY-MM-DD, at most 30
    days ahead), or None. Today is taken in Japan time, the tenant's."""
    if not isinstance(value, str):
        return "mustReadEndDate must be a date string (YYYY-MM-DD)"
    try:
        end = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return f"mustReadEndDate {value!r} is not a date (YYYY-MM-DD)"
    if end < today:
        return "mustReadEndDate is in the past"
    if end > today + timedelta(days=MUST_READ_MAX_DAYS):
        return f"mustReadEndDate must be at most {MUST_READ_MAX_DAYS} days ahead"
    return None


def check_jwt(emu: Emulator, assertion: str) -> str | None:
    """Why a JWT assertion is not acceptable, or None when it is."""
    state = emu.state
    try:
        claims = jwt.decode(
            assertion,
            state.public_key_pem,
            algorithms=["RS256"],
            options={
                "verify_exp": False,  # checked below against the emulator's clock
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["iss", "sub", "iat", "exp"],
            },
        )
    except jwt.PyJWTError as exc:
        return f"invalid assertion: {exc}"
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        return "iat and exp must be integers (UNIX seconds)"
    if claims.get("iss") != state.client_id:
        return "iss must be the client ID"
    if claims.get("sub") != state.service_account:
        return "sub must be the service account ID"
    now = emu.clock()
    if exp <= now:
        return "assertion has expired"
    if exp - iat > 3600:
        return "exp must be at most 60 minutes after iat"
    if iat > now + 60:
        return "iat is in the future"
    return None
