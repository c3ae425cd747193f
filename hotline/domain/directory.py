"""Keeping LINE WORKS in step with the configuration: members looked up in the directory,
rooms created where they are missing, and drift between who is in a room and who should be.

Used by `hotline members verify` and `hotline rooms sync`; every call goes through the one
LINE WORKS client seam (paced: room creation is limited to 10 per minute).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

from hotline import messages as msg
from hotline.clock import Clock, iso
from hotline.config import Config, Member, Room
from hotline.config.counterparts import room_members
from hotline.config.files import write_atomically
from hotline.outbound.client import LineWorksClient, LineWorksError
from hotline.storage import Storage

MAX_ROOM_MEMBERS = 100  # LINE WORKS: 1-100 members when a bot creates a room


@dataclass
class MemberCheck:
    member: Member
    user_id: str | None
    problem: str | None  # None when the account is fine


def verify_members(
    config: Config, client: LineWorksClient, storage: Storage, clock: Clock
) -> list[MemberCheck]:
    """Look every member up in the directory; record their userId; flag unknown, suspended,
    deleted, pending and awaiting accounts (April's transfers, new staff not yet started).

    user-get's status flags: `isPending` (登録待ち: registered, the person has not started
    using LINE WORKS yet) and `isAwaiting` (待機中: an account prepared ahead of its start) can
    receive nothing from the bot until they become active, so they are flagged like a
    suspended one."""
    out: list[MemberCheck] = []
    for person in config.all_members():
        try:
            user = client.get_user(person.user_id or person.email)
        except LineWorksError as exc:
            why = "LINE WORKS に見つかりません" if exc.status == 404 else f"確認できません（{exc}）"
            out.append(MemberCheck(person, None, why))
            continue
        user_id = str(user.get("userId") or "") or None
        problem: str | None = None
        if user.get("isDeleted"):
            problem = "アカウントが削除されています"
        elif user.get("isSuspended"):
            problem = "アカウントが停止されています"
        elif user.get("isPending"):
            problem = "アカウントが登録待ちです（本人がまだ利用を開始していません）"
        elif user.get("isAwaiting"):
            problem = "アカウントが待機中です（利用開始前のため、まだ使えません）"
        elif person.email and str(user.get("email") or "").lower() not in ("", person.email):
            problem = f"メールアドレスが一致しません（LINE WORKS: {user.get('email')}）"
        if user_id:
            with storage.transaction():
                storage.save_identity(user_id, person.email or None, person.name, iso(clock.now()))
        out.append(MemberCheck(person, user_id, problem))
    return out


@dataclass
class RoomSync:
    room: Room
    created_channel_id: str | None = None
    missing: list[str] = field(default_factory=list)  # names who should be there and are not
    unexpected: list[str] = field(default_factory=list)  # userIds in the room not in the config
    problem: str | None = None


def _user_ids(config: Config, room: Room, storage: Storage, client: LineWorksClient) -> dict[str, Member]:
    """userId -> member for everyone who belongs in the room (looked up when only an e-mail is known)."""
    out: dict[str, Member] = {}
    for person in room_members(config, room):
        user_id = person.user_id
        if not user_id:
            try:
                user_id = str(client.get_user(person.email).get("userId") or "")
            except LineWorksError:
                user_id = ""
        if user_id:
            out[user_id] = person
    return out


def sync_rooms(config: Config, client: LineWorksClient, storage: Storage) -> list[RoomSync]:
    """Create the rooms that have no channelId (and write it back to their file); for the
    others, compare the members with who should be there."""
    results: list[RoomSync] = []
    for room in config.rooms:
        result = RoomSync(room)
        expected = _user_ids(config, room, storage, client)
        if not room.channel_id:
            if not 1 <= len(expected) <= MAX_ROOM_MEMBERS:
                result.problem = (
                    f"メンバーが{len(expected)}人です。LINE WORKS のボットが作れるのは1〜100人の部屋です。"
                )
            else:
                try:
                    channel_id = client.create_channel(list(expected), room.title)
                    client.send_to_channel(channel_id, msg.room_created())
                    write_channel_id(room.path, channel_id)
                    result.created_channel_id = channel_id
                except LineWorksError as exc:
                    result.problem = f"作成できませんでした（{exc}）"
        else:
            try:
                present = set(client.channel_members(room.channel_id))
            except LineWorksError as exc:
                result.problem = f"メンバーを取得できませんでした（{exc}）"
            else:
                result.missing = [p.name for uid, p in expected.items() if uid not in present]
                result.unexpected = sorted(present - set(expected))
        results.append(result)
    return results


def write_channel_id(path: Path, channel_id: str) -> None:
    """Set `channel_id` in a room file, keeping its comments, order and formatting, and
    replacing the file atomically (a crash leaves the old file, never half a file)."""
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    document["channel_id"] = channel_id
    write_atomically(path, tomlkit.dumps(document))
