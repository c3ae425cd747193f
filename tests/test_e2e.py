"""hotline driven through the LINE WORKS emulator over real HTTP, as a deputy mayor would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hotline.config import Config, Member
from hotline.config.counterparts import linked_rooms
from hotline.demo.stack import LiveStack, wait_until

STRANGER = {"userId": "stranger-0001", "email": "someone@elsewhere.example", "name": "部外 者", "org": "他県"}
UWAJIMA = "382035"


@pytest.fixture
def live(tmp_path: Path, sample_config: Config) -> Iterator[LiveStack]:
    stack = LiveStack(sample_config, tmp_path / "e2e.sqlite3", extra_users=[STRANGER])
    yield stack
    stack.stop()


def deputy(config: Config, code: str) -> Member:
    return config.municipalities[code].members[0]


def channel(config: Config, key: str) -> str:
    return next(r.channel_id for r in config.rooms if r.key == key)


def reports_sent(live: LiveStack, needle: str) -> dict[str, dict[str, Any]]:
    """channelId -> the relayed report containing `needle`."""
    return {
        s["channelId"]: s
        for s in live.sent()
        if s["channelId"]
        and needle in (s["content"].get("contentText") or s["content"].get("text") or "")
        and s["content"]["type"] == "button_template"
    }


def texts_to(live: LiveStack, channel_id: str | None = None, user_id: str | None = None) -> list[str]:
    return [
        s["content"].get("text") or ""
        for s in live.sent()
        if (channel_id and s["channelId"] == channel_id) or (user_id and s["userId"] == user_id)
    ]


def test_first_report_followup_photo_and_ack_through_the_emulator(
    live: LiveStack, sample_config: Config
) -> None:
    poster = deputy(sample_config, UWAJIMA)
    group = channel(sample_config, "group-team1")
    linked = {channel(sample_config, k) for k in ("group-team1", "municipality-382035", "hq")}

    result = live.say(poster, "第一報 午前3時頃から大雨、市内3か所で土砂崩れ、人的被害確認中", group)
    assert result["status"] == 200
    wait_until(
        lambda: set(reports_sent(live, "土砂崩れ")) == linked, message="the report in every linked room"
    )
    wait_until(
        lambda: any("3か所すべてに届きました" in t for t in texts_to(live, group)), message="the receipt"
    )

    # A photo a minute later goes to the same rooms, downloaded and uploaded once.
    upload = requests.post(
        f"{live.base}/_emulator/upload", files={"file": ("dosha.png", b"\x89PNG\r\n fake image")}, timeout=10
    )
    file_id = upload.json()["fileId"]
    assert live.act(poster, {"type": "image", "fileId": file_id}, group)["status"] == 200
    wait_until(
        lambda: {s["channelId"] for s in live.sent() if s["content"]["type"] == "image"} == linked,
        message="the photo in every linked room",
    )
    images = [s["content"] for s in live.sent() if s["content"]["type"] == "image"]
    assert len({c["fileId"] for c in images}) == 1 and images[0]["fileId"] != file_id

    # A follow-up joins the incident.
    live.say(poster, "第二報 避難所を2か所開設", group)
    wait_until(lambda: len(reports_sent(live, "避難所を2か所開設")) == 3, message="the follow-up")

    # A member of 今治市 (a secondary supporter) taps 確認しました in the group room.
    supporter = deputy(sample_config, "382027")
    report = reports_sent(live, "土砂崩れ")[group]
    tap = requests.post(
        f"{live.base}/_emulator/tap",
        json={
            "userId": supporter.user_id or _demo_id(supporter),
            "channelId": group,
            "seq": report["seq"],
            "action": 0,
        },
        timeout=10,
    )
    assert tap.status_code == 200 and tap.json()["status"] == 200
    incident = live.api("/api/incidents")["incidents"][0]
    first = live.api(f"/api/incidents/{incident['id']}")["reports"][0]

    def acked() -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = live.api(f"/api/reports/{first['id']}")["acknowledgedBy"]
        return result

    acks = wait_until(acked, message="the acknowledgement")
    assert acks[0]["municipality"] == "382027" and acks[0]["via"] == "tap"
    # Tapping again changes nothing.
    requests.post(
        f"{live.base}/_emulator/tap",
        json={"userId": _demo_id(supporter), "channelId": group, "seq": report["seq"], "action": 0},
        timeout=10,
    )
    wait_until(lambda: live.hotline.storage.inbox_counts().get("new", 0) == 0, message="inbox drained")
    assert len(acked()) == 1


def _demo_id(member: Member) -> str:
    from hotline.demo import demo_user_id

    return demo_user_id(member)


def test_stranger_is_refused_in_japanese_through_the_emulator(live: LiveStack, sample_config: Config) -> None:
    # Someone in the tenant but not in the configuration writes to the bot 1:1.
    assert live.say(STRANGER["userId"], "第一報 いたずらです")["status"] == 200
    wait_until(
        lambda: any("登録されていない" in t for t in texts_to(live, user_id=STRANGER["userId"])),
        message="the refusal",
    )
    assert reports_sent(live, "いたずら") == {}


def test_a_429_storm_delays_but_loses_nothing(live: LiveStack, sample_config: Config) -> None:
    live.faults(burst_429=12, time_scale=0.05)  # 3-second rate windows: resets come quickly
    posters = [deputy(sample_config, code) for code in (UWAJIMA, "384844", "385069")]
    for i, poster in enumerate(posters):
        assert live.say(poster, f"第一報 嵐の中の報告{i}")["status"] == 200
    for i, poster in enumerate(posters):
        rooms = {r.channel_id for r in linked_rooms(sample_config, poster.municipality_code or "")}
        wait_until(lambda i=i, rooms=rooms: set(reports_sent(live, f"報告{i}")) == rooms, 60, f"report {i}")
    assert live.state()["rejected"].get("429", 0) >= 1
