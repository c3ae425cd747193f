"""In-memory state of the LINE WORKS emulator (demos/tests only).

Every public method takes ``self.lock`` (a re-entrant lock), so the threaded server can call
them from any request thread. Nothing here does I/O.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from .content import split_mentions

JSON = dict[str, Any]
JST = timezone(timedelta(hours=9))
BOT_SENDER = "bot"


def iso_utc(ts: float) -> str:
    """ISO-8601 UTC with milliseconds, as in LINE WORKS callbacks: ``...T05:16:05.716Z``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _int64(value: str) -> int | str:
    """An id as LINE WORKS sends it (an int64 number); test seeds may use other strings."""
    return int(value) if value.isdigit() else value


def hhmm_jst(ts: float) -> str:
    """Clock time in Japan, as the talk page shows it."""
    return datetime.fromtimestamp(ts, JST).strftime("%H:%M")


def dm_key(user_id: str) -> str:
    """Internal key of the 1:1 room between the bot and a user."""
    return f"dm:{user_id}"


@dataclass
class User:
    """A seeded LINE WORKS account."""

    user_id: str
    email: str
    name: str
    org: str
    position: str
    is_suspended: bool = False
    is_deleted: bool = False
    is_pending: bool = False  # 登録待ち: registered, not yet started using LINE WORKS
    is_awaiting: bool = False  # 待機中: an account prepared ahead of its start
    external_key: str | None = None  # the tenant's own key (``externalKey:{key}`` in paths)

    def record(self, domain_id: int) -> JSON:
        """The user as ``GET /v1.0/users/{userId}`` returns it (user-get: the status flags and
        ``userExternalKey``, null when none is set, are always there)."""
        parts = self.name.replace("\u3000", " ").split(" ", 1)
        last, first = (parts[0], parts[1]) if len(parts) == 2 else (self.name, "")
        org_id = "org-" + hashlib.sha256(self.org.encode()).hexdigest()[:12]
        return {
            "domainId": domain_id,
            "userId": self.user_id,
            "email": self.email,
            "userName": {
                "lastName": last,
                "firstName": first,
                "phoneticLastName": "",
                "phoneticFirstName": "",
            },
            "i18nNames": [],
            "organizations": [
                {
                    "domainId": domain_id,
                    "primary": True,
                    "email": self.email,
                    "orgUnits": [
                        {
                            "orgUnitId": org_id,
                            "orgUnitName": self.org,
                            "primary": True,
                            "positionName": self.position,
                            "isManager": False,
                        }
                    ],
                }
            ],
            "userExternalKey": self.external_key,
            "isAdministrator": False,
            "isPending": self.is_pending,
            "isSuspended": self.is_suspended,
            "isDeleted": self.is_deleted,
            "isAwaiting": self.is_awaiting,
        }


@dataclass
class Message:
    """One message in a room, from the bot or from a person."""

    seq: int
    time: float
    room_key: str
    sender: str  # BOT_SENDER or a userId
    content: JSON


@dataclass
class Room:
    """A talk room: a multi-user room the bot is in, or the bot's 1:1 room with a user."""

    key: str
    channel_id: str | None  # None for 1:1 rooms (callbacks omit channelId there)
    title: str
    members: list[str]
    bot_in: bool = True
    created_by_api: bool = False
    # A 1:1 room has a channelId too: postback events must carry source.channelId
    # (bot-callback-postback marks it required), while message events omit it in 1:1 rooms.
    dm_channel_id: str | None = None
    messages: list[Message] = field(default_factory=list)
    reads: dict[str, int] = field(default_factory=dict)  # userId -> last seq seen

    @property
    def is_dm(self) -> bool:
        """Whether this is a 1:1 room with the bot."""
        return self.channel_id is None


@dataclass
class StoredFile:
    """An attachment: created by the bot (upload URL) or uploaded by a person."""

    file_id: str
    file_name: str
    upload_token: str | None
    data: bytes | None = None
    content_type: str = "application/octet-stream"


@dataclass
class BoardPost:
    """A board post and who has read it."""

    post_id: str
    board_id: str
    title: str
    body: str
    time: float
    must_read_end_date: str | None
    readers: set[str] = field(default_factory=set)


@dataclass
class Token:
    """An issued access token."""

    expires_at: float
    scopes: frozenset[str]


class State:
    """All mutable emulator state behind one lock."""

    def __init__(self, seed: JSON, clock: Callable[[], float]) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.seed = copy.deepcopy(seed)
        self.domain_id = int(seed.get("domain_id", 40029600))
        bot = seed.get("bot") or {}
        self.bot_id = str(bot.get("bot_id", "2000001"))
        self.bot_secret = str(bot.get("bot_secret", ""))
        self.client_id = str(bot.get("client_id", ""))
        self.client_secret = str(bot.get("client_secret", ""))
        self.service_account = str(bot.get("service_account", ""))
        self.public_key_pem = str(bot.get("public_key_pem", ""))
        self.callback_url: str | None = bot.get("callback_url")
        self.users: dict[str, User] = {}
        for u in seed.get("users", []):
            user = User(
                user_id=str(u["userId"]),
                email=str(u.get("email", "")),
                name=str(u.get("name", u["userId"])),
                org=str(u.get("org", "")),
                position=str(u.get("position", "")),
                is_suspended=bool(u.get("isSuspended", False)),
                is_deleted=bool(u.get("isDeleted", False)),
                is_pending=bool(u.get("isPending", False)),
                is_awaiting=bool(u.get("isAwaiting", False)),
                external_key=str(u["externalKey"]) if u.get("externalKey") else None,
            )
            self.users[user.user_id] = user
        self.boards: dict[str, str] = {
            str(b["boardId"]): str(b.get("title", "")) for b in seed.get("boards", [])
        }
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, frozenset[str]] = {}
        self._reset_mutable()

    def _reset_mutable(self) -> None:
        self.seq = 0
        self.rooms: dict[str, Room] = {}
        for ch in self.seed.get("channels", []):
            cid = str(ch["channelId"])
            members = [str(m) for m in ch.get("members", [])]
            self.rooms[cid] = Room(key=cid, channel_id=cid, title=str(ch.get("title", "")), members=members)
        self.files: dict[str, StoredFile] = {}
        self.upload_tokens: dict[str, str] = {}
        self.posts: dict[str, BoardPost] = {}
        self.sent: list[JSON] = []
        self.callbacks: list[JSON] = []
        self.calls: dict[str, int] = {}
        self.rejected: dict[str, int] = {"401": 0, "429": 0, "500": 0, "timeout": 0}
        self.tokens_issued = 0

    def reset(self) -> None:
        """Clear messages, logs, files and created rooms; keep seed users, rooms and tokens."""
        with self.lock:
            self._reset_mutable()

    # --- users -------------------------------------------------------------------------

    def find_user(self, ident: str) -> User | None:
        """Look a user up by userId, (case-insensitively) by email, or as
        ``externalKey:{key}`` (user-get's three ways to name a user)."""
        with self.lock:
            if ident in self.users:
                return self.users[ident]
            if ident.startswith("externalKey:"):
                key = ident.removeprefix("externalKey:")
                return next((u for u in self.users.values() if key and u.external_key == key), None)
            lowered = ident.lower()
            for user in self.users.values():
                if user.email and user.email.lower() == lowered:
                    return user
            return None

    def name_of(self, ident: str) -> str | None:
        """Display name of a user (by userId or email), or None."""
        user = self.find_user(ident)
        return user.name if user else None

    # --- tokens ------------------------------------------------------------------------

    def issue_token(self, scopes: frozenset[str], ttl: int) -> tuple[str, str]:
        """Create an access token and a refresh token."""
        with self.lock:
            if len(self.tokens) > 1000:
                now = self.clock()
                self.tokens = {k: t for k, t in self.tokens.items() if t.expires_at > now}
            access = secrets.token_urlsafe(32)
            refresh = secrets.token_urlsafe(32)
            self.tokens[access] = Token(self.clock() + ttl, scopes)
            self.refresh_tokens[refresh] = scopes
            self.tokens_issued += 1
            return access, refresh

    def check_token(self, token: str) -> Token | None:
        """The token if it is known and not expired."""
        with self.lock:
            found = self.tokens.get(token)
            if found is None or found.expires_at <= self.clock():
                return None
            return found

    def expire_tokens(self) -> None:
        """Make every access token issued so far stale (refresh tokens stay valid)."""
        with self.lock:
            self.tokens.clear()

    # --- rooms and messages ------------------------------------------------------------

    def dm_room(self, user_id: str) -> Room:
        """The bot's 1:1 room with a user, created on first use."""
        with self.lock:
            key = dm_key(user_id)
            room = self.rooms.get(key)
            if room is None:
                room = Room(
                    key=key,
                    channel_id=None,
                    title="hotline bot",
                    members=[user_id],
                    dm_channel_id=str(uuid.uuid4()),
                )
                self.rooms[key] = room
            return room

    def dm_by_channel(self, channel_id: str) -> Room | None:
        """The 1:1 room whose channelId this is, if any."""
        with self.lock:
            return next((r for r in self.rooms.values() if r.is_dm and r.dm_channel_id == channel_id), None)

    def create_room(self, title: str, members: list[str]) -> Room:
        """A new multi-user room created by the bot."""
        with self.lock:
            cid = str(uuid.uuid4())
            room = Room(cid, cid, title, list(members), created_by_api=True)
            self.rooms[cid] = room
            return room

    def add_message(self, room: Room, sender: str, content: JSON) -> Message:
        """Store a message in a room (the sender has, of course, read everything before it)."""
        with self.lock:
            self.seq += 1
            msg = Message(self.seq, self.clock(), room.key, sender, copy.deepcopy(content))
            room.messages.append(msg)
            if sender != BOT_SENDER:
                room.reads[sender] = msg.seq
            return msg

    def record_sent(self, op: str, msg: Message, *, channel_id: str | None, user_id: str | None) -> None:
        """Log a message the bot sent through the API."""
        with self.lock:
            self.sent.append(
                {
                    "seq": msg.seq,
                    "time": iso_utc(msg.time),
                    "op": op,
                    "channelId": channel_id,
                    "userId": user_id,
                    "content": copy.deepcopy(msg.content),
                }
            )

    def mark_read(self, room: Room, user_id: str) -> None:
        """A person opened the room: they have now read everything in it."""
        with self.lock:
            if room.messages:
                room.reads[user_id] = max(room.reads.get(user_id, 0), room.messages[-1].seq)

    def read_count(self, room: Room, msg: Message) -> int:
        """Other members who opened the room since the message arrived (「既読 N」)."""
        with self.lock:
            return sum(
                1 for member in room.members if member != msg.sender and room.reads.get(member, 0) >= msg.seq
            )

    def find_message(self, room: Room, seq: int) -> Message | None:
        """A message of a room by its sequence number."""
        with self.lock:
            for msg in room.messages:
                if msg.seq == seq:
                    return msg
            return None

    def rooms_of(self, user_id: str) -> list[Room]:
        """Rooms a person sees: the 1:1 room with the bot + the rooms they are in.

        Like LINE WORKS, a room the bot created shows up only once someone has posted in it.
        """
        with self.lock:
            rooms = [
                r
                for r in self.rooms.values()
                if not r.is_dm and user_id in r.members and (r.messages or not r.created_by_api)
            ]
            rooms.sort(key=lambda r: -(r.messages[-1].seq if r.messages else 0))
            return [self.dm_room(user_id), *rooms]

    # --- files -------------------------------------------------------------------------

    def new_file(self, file_name: str) -> StoredFile:
        """Reserve a fileId and a single-use upload token."""
        with self.lock:
            file_id = "file-" + secrets.token_urlsafe(16)
            token = secrets.token_urlsafe(24)
            stored = StoredFile(file_id, file_name, token)
            self.files[file_id] = stored
            self.upload_tokens[token] = file_id
            return stored

    def consume_upload(self, token: str, data: bytes, content_type: str) -> StoredFile | None:
        """Store uploaded bytes; the upload token works only once."""
        with self.lock:
            file_id = self.upload_tokens.pop(token, None)
            if file_id is None:
                return None
            stored = self.files[file_id]
            stored.data, stored.content_type, stored.upload_token = data, content_type, None
            return stored

    def file_ready(self, file_id: str) -> bool:
        """Whether a fileId exists and has content."""
        with self.lock:
            stored = self.files.get(file_id)
            return stored is not None and stored.data is not None

    # --- boards ------------------------------------------------------------------------

    def new_post(self, board_id: str, title: str, body: str, must_read: str | None) -> BoardPost:
        """Create a board post (nobody has read it yet)."""
        with self.lock:
            post_id = str(4000000000 + len(self.posts) + 1)
            post = BoardPost(post_id, board_id, title, body, self.clock(), must_read)
            self.posts[post_id] = post
            return post

    def post_json(self, post: BoardPost) -> JSON:
        """A post as the board API returns it (board-post-create's 201 and board-post-get):
        ids as int64 numbers, times with their offset, the must-read period as an object."""
        with self.lock:
            created = datetime.fromtimestamp(post.time, JST).isoformat(timespec="seconds")
            out: JSON = {
                "boardId": _int64(post.board_id),
                "postId": _int64(post.post_id),
                "title": post.title,
                "readCount": len(post.readers),
                "commentCount": 0,
                "fileCount": 0,
                "createdTime": created,
                "modifiedTime": created,
                "isMustRead": post.must_read_end_date is not None,
                "body": post.body,
                "enableComment": False,
                "userId": None,  # posted by the service account, not a user
                "userName": "hotline bot",
            }
            if post.must_read_end_date is not None:
                start = datetime.fromtimestamp(post.time, JST).date().isoformat()
                out["mustReadPeriod"] = {"startDate": start, "endDate": post.must_read_end_date}
            return out

    # --- logs and snapshot -------------------------------------------------------------

    def count_call(self, op: str) -> None:
        """Count one request to an API operation."""
        with self.lock:
            self.calls[op] = self.calls.get(op, 0) + 1

    def count_rejected(self, kind: str) -> None:
        """Count one request rejected by a fault or a limit (401/429/500/timeout)."""
        with self.lock:
            self.rejected[kind] = self.rejected.get(kind, 0) + 1

    def record_callback(self, event: JSON, status: int | None, error: str | None) -> int:
        """Log one callback delivery attempt; returns its sequence number."""
        with self.lock:
            seq = len(self.callbacks) + 1
            self.callbacks.append(
                {
                    "seq": seq,
                    "time": iso_utc(self.clock()),
                    "event": event,
                    "status": status,
                    "error": error,
                }
            )
            return seq

    def message_json(self, room: Room, msg: Message) -> JSON:
        """A message as the control and talk APIs show it."""
        with self.lock:
            sender_name = "hotline bot" if msg.sender == BOT_SENDER else self.name_of(msg.sender)
            out: JSON = {
                "seq": msg.seq,
                "time": iso_utc(msg.time),
                "hhmm": hhmm_jst(msg.time),
                "sender": msg.sender,
                "senderName": sender_name or msg.sender,
                "content": copy.deepcopy(msg.content),
                "readCount": self.read_count(room, msg),
            }
            for key in ("text", "contentText"):
                text = msg.content.get(key)
                if isinstance(text, str):
                    out["segments"] = split_mentions(text, self.name_of)
            return out

    def room_json(self, room: Room, *, messages: bool = True) -> JSON:
        """A room as the control API shows it."""
        with self.lock:
            out: JSON = {
                "id": room.channel_id,
                "key": room.key,
                "title": room.title,
                "type": "SINGLE_USER" if room.is_dm else "MULTI_USERS",
                "members": list(room.members),
                "botIn": room.bot_in,
            }
            if messages:
                out["messages"] = [self.message_json(room, m) for m in room.messages]
            return out

    def snapshot(self) -> JSON:
        """Everything tests look at (``GET /_emulator/state``)."""
        with self.lock:
            return copy.deepcopy(
                {
                    "sent": self.sent,
                    "callbacks": self.callbacks,
                    "rooms": [self.room_json(r) for r in self.rooms.values()],
                    "calls": dict(sorted(self.calls.items())),
                    "rejected": self.rejected,
                    "tokens_issued": self.tokens_issued,
                    "callback_url": self.callback_url,
                    "posts": [
                        {
                            "boardId": p.board_id,
                            "postId": p.post_id,
                            "title": p.title,
                            "readers": sorted(p.readers),
                        }
                        for p in self.posts.values()
                    ],
                }
            )
