"""Control/test API (``/_emulator/...``) and the talk page's JSON (demos/tests only).

Summary (all JSON):

- ``GET  /_emulator/state``      sent, callbacks, rooms, calls, rejected, tokens_issued, posts
- ``GET|POST /_emulator/faults`` read / change fault switches (``expire_tokens_now: true``)
- ``POST /_emulator/reset``      clear messages, logs, files, created rooms and faults (and mails)
- ``GET  /_emulator/mail``, ``GET|POST /_emulator/mail/faults``: the mailbox (mailpage.py)
- ``POST /_emulator/act``        ``{userId, channelId|null, content, wait?}`` a person posts
- ``POST /_emulator/tap``        ``{userId, channelId|null, seq, action, quickReply?, wait?}``
- ``POST /_emulator/upload``     multipart ``file`` -> ``{fileId, fileName}``
- ``POST /_emulator/read``       ``{userId, channelId|null}`` a person opens a room
- ``POST /_emulator/boards/read`` ``{boardId, postId, userId}`` a person reads a post
- ``POST /_emulator/drain``      ``{timeout?}`` -> ``{drained}`` wait for queued callbacks
- ``POST /_emulator/callback_url`` ``{url}`` set the bot's callback URL
- ``GET  /_emulator/files/<fileId>`` attachment download (Bearer header optional)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import Blueprint, Response, render_template, request

from .api import error, ok
from .callbacks import Delivery
from .content import quick_reply_actions, tappable_actions
from .faults import FaultError
from .state import BOT_SENDER, Room, StoredFile, dm_key

if TYPE_CHECKING:
    from . import Emulator

JSON = dict[str, Any]

SYNC_WAIT_SECONDS = 30.0
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def preview(content: JSON) -> str:
    """One-line summary of a message for the room list."""
    kind = content.get("type")
    text = {
        "text": content.get("text"),
        "button_template": content.get("contentText"),
        "link": content.get("contentText"),
        "flex": content.get("altText"),
        "image": "画像",
        "file": "ファイル",
        "location": "位置情報",
        "sticker": "スタンプ",
    }.get(str(kind))
    if not isinstance(text, str):
        return "メッセージ"
    return text.replace("\n", " ")[:60]


def create_control_blueprint(emu: Emulator) -> Blueprint:
    """The ``/_emulator`` routes and the talk page, bound to one emulator."""
    bp = Blueprint(
        "control",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/_emulator/static",
    )
    state = emu.state

    def body_json() -> JSON:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}

    def person_room(user_id: Any, channel_id: Any) -> tuple[str, Room] | Response:
        user = state.find_user(user_id) if isinstance(user_id, str) else None
        if user is None:
            return error(404, "NOT_FOUND", f"user {user_id!r} not found")
        with state.lock:
            if channel_id in (None, ""):
                return user.user_id, state.dm_room(user.user_id)
            room = state.rooms.get(str(channel_id))
            if room is None:
                return error(404, "NOT_FOUND", f"channel {channel_id!r} not found")
            if user.user_id not in room.members:
                return error(403, "FORBIDDEN", f"{user.user_id} is not a member of this room")
            return user.user_id, room

    def delivery_result(job: Delivery | None, wait: bool) -> JSON:
        if job is None:
            return {"status": None, "event": None, "error": None, "callbackSeq": None}
        if wait:
            job.done.wait(SYNC_WAIT_SECONDS)
        return {
            "status": job.status,
            "event": job.event,
            "error": job.error,
            "callbackSeq": job.seq,
        }

    # --- control API -------------------------------------------------------------------

    @bp.get("/_emulator/state")
    def get_state() -> Response:
        return ok(emu.snapshot())

    @bp.get("/_emulator/faults")
    def get_faults() -> Response:
        return ok(emu.faults.as_json())

    @bp.post("/_emulator/faults")
    def set_faults() -> Response:
        changes = body_json()
        with state.lock:
            try:
                emu.faults.update(changes)
            except FaultError as exc:
                return error(400, "INVALID_PARAMETER", str(exc))
            if changes.get("expire_tokens_now"):
                state.expire_tokens()
            return ok(emu.faults.as_json())

    @bp.post("/_emulator/reset")
    def reset() -> Response:
        emu.reset()
        return ok({"ok": True})

    @bp.post("/_emulator/callback_url")
    def callback_url() -> Response:
        url = body_json().get("url")
        if url is not None and not isinstance(url, str):
            return error(400, "INVALID_PARAMETER", "url must be a string or null")
        emu.set_callback_url(url)
        return ok({"callback_url": url})

    @bp.post("/_emulator/drain")
    def drain() -> Response:
        timeout = body_json().get("timeout", 10)
        if not isinstance(timeout, int | float) or not 0 <= timeout <= 120:
            return error(400, "INVALID_PARAMETER", "timeout must be 0..120 seconds")
        return ok({"drained": emu.drain_callbacks(float(timeout))})

    @bp.post("/_emulator/act")
    def act() -> Response:
        body = body_json()
        found = person_room(body.get("userId"), body.get("channelId"))
        if isinstance(found, Response):
            return found
        user_id, room = found
        content = body.get("content")
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            return error(400, "INVALID_PARAMETER", "content with a type is required")
        kind = content["type"]
        if kind == "text" and not isinstance(content.get("text"), str):
            return error(400, "INVALID_PARAMETER", "content.text is required")
        if kind in ("image", "file"):
            file_id = content.get("fileId")
            with state.lock:
                stored = state.files.get(file_id) if isinstance(file_id, str) else None
                if stored is None or stored.data is None:
                    return error(400, "INVALID_PARAMETER", "content.fileId is unknown")
                if kind == "file":
                    content = {**content, "fileName": stored.file_name}
        job = emu.person_posts(user_id, room, content)
        return ok(delivery_result(job, body.get("wait", True) is not False))

    @bp.post("/_emulator/tap")
    def tap() -> Response:
        body = body_json()
        found = person_room(body.get("userId"), body.get("channelId"))
        if isinstance(found, Response):
            return found
        user_id, room = found
        seq, index = body.get("seq"), body.get("action", 0)
        if not isinstance(seq, int) or not isinstance(index, int):
            return error(400, "INVALID_PARAMETER", "seq and action must be integers")
        try:
            job, action = emu.person_taps(user_id, room, seq, index, quick_reply=bool(body.get("quickReply")))
        except LookupError as exc:
            return error(404, "NOT_FOUND", str(exc))
        result = delivery_result(job, body.get("wait", True) is not False)
        result["action"] = action
        return ok(result)

    @bp.post("/_emulator/upload")
    def upload() -> Response:
        upload = request.files.get("file")
        if upload is None:
            return error(400, "MISSING_PARAMETER", "multipart field 'file' is required")
        data = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            return error(400, "LIMIT_EXCEEDED", "file too large")
        stored = state.new_file(upload.filename or "upload.bin")
        state.consume_upload(stored.upload_token or "", data, upload.mimetype or "application/octet-stream")
        return ok({"fileId": stored.file_id, "fileName": stored.file_name})

    @bp.get("/_emulator/files/<file_id>")
    def file_download(file_id: str) -> Response:
        with state.lock:
            stored: StoredFile | None = state.files.get(file_id)
            if stored is None or stored.data is None:
                return error(404, "NOT_FOUND", f"file {file_id} not found")
            data, mimetype, name = stored.data, stored.content_type, stored.file_name
        resp = Response(data, mimetype=mimetype)
        kind = "attachment" if request.args.get("download") else "inline"
        ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
        resp.headers["Content-Disposition"] = (
            f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
        )
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    @bp.post("/_emulator/read")
    def read() -> Response:
        body = body_json()
        found = person_room(body.get("userId"), body.get("channelId"))
        if isinstance(found, Response):
            return found
        user_id, room = found
        state.mark_read(room, user_id)
        return ok({"ok": True})

    @bp.post("/_emulator/boards/read")
    def board_read() -> Response:
        body = body_json()
        user = state.find_user(str(body.get("userId", "")))
        with state.lock:
            post = state.posts.get(str(body.get("postId", "")))
            if post is None or post.board_id != str(body.get("boardId", post.board_id)):
                return error(404, "NOT_FOUND", "post not found")
            if user is None:
                return error(404, "NOT_FOUND", "user not found")
            post.readers.add(user.user_id)
            return ok(state.post_json(post))

    # --- talk page ---------------------------------------------------------------------

    @bp.get("/")
    def talk_page() -> Response:
        html = render_template("talk.html")
        resp = Response(html, mimetype="text/html")
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data: http: https:; object-src 'none'"
        )
        return resp

    @bp.get("/_emulator/talk/users")
    def talk_users() -> Response:
        groups: dict[str, list[JSON]] = {}
        with state.lock:
            for user in state.users.values():
                if user.is_deleted:
                    continue
                groups.setdefault(user.org or "（所属なし）", []).append(
                    {"userId": user.user_id, "name": user.name, "position": user.position}
                )
        return ok({"groups": [{"org": org, "users": users} for org, users in groups.items()]})

    @bp.get("/_emulator/talk/rooms")
    def talk_rooms() -> Response:
        user = state.find_user(request.args.get("userId", ""))
        if user is None:
            return error(404, "NOT_FOUND", "user not found")
        rooms = []
        with state.lock:
            for room in state.rooms_of(user.user_id):
                last = room.messages[-1] if room.messages else None
                seen = room.reads.get(user.user_id, 0)
                unread = sum(1 for m in room.messages if m.seq > seen and m.sender != user.user_id)
                rooms.append(
                    {
                        "key": room.key,
                        "channelId": room.channel_id,
                        "title": room.title,
                        "type": "SINGLE_USER" if room.is_dm else "MULTI_USERS",
                        "botIn": room.bot_in,
                        "memberCount": len(room.members),
                        "unread": unread,
                        "lastText": preview(last.content) if last else "",
                        "lastTime": state.message_json(room, last)["hhmm"] if last else "",
                    }
                )
        return ok({"rooms": rooms})

    @bp.get("/_emulator/talk/room")
    def talk_room() -> Response:
        user = state.find_user(request.args.get("userId", ""))
        key = request.args.get("key", "")
        with state.lock:
            if user is None:
                return error(404, "NOT_FOUND", "user not found")
            if key == dm_key(user.user_id):
                room: Room | None = state.dm_room(user.user_id)
            else:
                room = state.rooms.get(key)
            if room is None or user.user_id not in room.members:
                return error(404, "NOT_FOUND", "room not found")
            state.mark_read(room, user.user_id)
            info = state.room_json(room)
            info["members"] = [{"userId": m, "name": state.name_of(m) or m} for m in room.members]
            messages = info.pop("messages")
            quick = None
            last = room.messages[-1] if room.messages else None
            if last is not None and last.sender == BOT_SENDER:
                items = quick_reply_actions(last.content)
                if items:
                    quick = {"seq": last.seq, "items": items}
            for msg in messages:
                if msg["sender"] == BOT_SENDER:
                    msg["actions"] = tappable_actions(msg["content"])
        return ok({"room": info, "messages": messages, "quickReply": quick})

    return bp
