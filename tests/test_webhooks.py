"""Outgoing webhooks: events POSTed as signed JSON to a real HTTP receiver on 127.0.0.1, retried
on 5xx, failed for good on 4xx with a Japanese reason, and refused at start-up when the
configuration or the secret is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hotline.clock import FixedClock
from hotline.config import ConfigError, load
from hotline.config.counterparts import linked_municipalities
from hotline.config.settings import Credentials, Settings
from hotline.domain.drills import Targets
from hotline.outbound.webhooks import WebhookTransport
from hotline.runtime.service import Hotline
from hotline.web.app import create_app
from tests.support.bot import ROOT, T0, TOKEN, Bot
from tests.support.config_files import copy_config
from tests.support.fake_lineworks import FakeLineWorks, uid
from tests.support.jma import receive
from tests.support.sample import REPORT, UWAJIMA, member, room
from tests.support.webhook_receiver import Delivery, Receiver

SECRET_ENV = "HOTLINE_WEBHOOK_SECRET_TELEPHONY"
SECRET = "wh-9Qm4x7Lr2Vt8Ks1Np6Hz3Bc5Jd0Fg-Ty"  # 36 characters
NIIHAMA = "382051"
SAIJO_QUAKE = "32-35_06_04_100915_VXSE53.xml"  # 2008 Iwate; 西条市 at 震度1 (the sample's threshold)


EVERY_EVENT = '["report", "instruction", "escalation", "drill_summary", "jma_trigger"]'


def webhook_table(url: str, events: str = EVERY_EVENT) -> str:
    return (
        f'\n[[webhooks]]\nname = "telephony"\nurl = "{url}"\nevents = {events}\nsecret_env = "{SECRET_ENV}"\n'
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def hooked(
    tmp_path: Path,
    credentials: Credentials,
    receiver: Receiver,
    lw: FakeLineWorks,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Bot]:
    """The sample configuration with one webhook to the receiver, LINE WORKS faked as usual."""
    root = copy_config(tmp_path / "config")
    with (root / "counterparts.toml").open("a", encoding="utf-8") as f:
        f.write(webhook_table(receiver.url))
    monkeypatch.setenv(SECRET_ENV, SECRET)
    config = load(root)
    lw.rsps.add_passthru("http://127.0.0.1")  # the receiver is real; LINE WORKS stays faked
    settings = Settings(
        credentials=credentials, api_token=TOKEN, config_dir=root, database=tmp_path / "t.sqlite3"
    )
    hotline = Hotline(settings, config, clock=FixedClock(T0))
    yield Bot(hotline, create_app(hotline).test_client(), hotline.clock, config)  # type: ignore[arg-type]
    hotline.sender.shutdown()


def first_report(bot: Bot) -> None:
    bot.say(uid(member(bot.config, UWAJIMA)), REPORT, room(bot.config, "group-team1"))
    bot.drain()


def webhook_rows(bot: Bot) -> list[tuple[str, str, str | None, int]]:
    with bot.hotline.storage.transaction() as conn:
        rows = conn.execute(
            "SELECT dedupe_key, status, error, attempts FROM outbox WHERE channel = 'webhook' ORDER BY id"
        ).fetchall()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def events(receiver: Receiver, kind: str) -> list[Delivery]:
    return [d for d in receiver.deliveries if d.headers.get("X-Hotline-Event") == kind]


def test_a_report_reaches_the_receiver_signed_with_the_secret_from_the_environment(
    hooked: Bot, receiver: Receiver
) -> None:
    first_report(hooked)
    (delivery,) = receiver.deliveries
    assert delivery.path == "/hotline"
    assert delivery.signed_with(SECRET)
    assert not delivery.signed_with(SECRET + "x")
    body = delivery.json
    assert body["event"] == "report" and body["id"] == "report:1" and body["version"] == 1
    assert delivery.headers["X-Hotline-Delivery"] == "report:1"
    assert delivery.headers["X-Hotline-Timestamp"] == str(int(T0.timestamp()))
    assert (
        body["occurred_at"] == "2026-11-21T03:12:00+09:00" and body["sent_at"] == "2026-11-21T03:12:00+09:00"
    )
    assert body["prefecture"] == {"code": "380008", "name": "愛媛県"}
    report = body["data"]["report"]
    assert report["municipality"] == {"code": UWAJIMA, "name": "宇和島市"}
    assert report["label"] == "第一報" and report["kind"] == "first"
    assert report["text"] == REPORT.removeprefix("第一報").strip()
    assert report["poster"]["title"] == "副市長"
    linked = {t["code"]: t["relation"] for t in body["data"]["linked_municipalities"]}
    assert set(linked) == set(linked_municipalities(hooked.config, UWAJIMA))
    assert linked[UWAJIMA] == "stricken"
    assert webhook_rows(hooked) == [("webhook:telephony:report:1", "sent", None, 1)]


def test_an_hq_instruction_is_told_with_its_towns_and_rooms(hooked: Bot, receiver: Receiver) -> None:
    hq = hooked.config.hq_members[0]
    text = "【指示】宛先: 宇和島市、西予市\n避難所の開設状況を15時までに報告してください。"
    hooked.say(uid(hq), text, room(hooked.config, "hq"))
    hooked.drain()
    (delivery,) = events(receiver, "instruction")
    assert delivery.signed_with(SECRET)
    body = delivery.json
    assert body["id"] == delivery.headers["X-Hotline-Delivery"] and body["id"].startswith("instruction:")
    data = body["data"]
    assert data["instruction"]["kind"] == "instruction" and data["instruction"]["label"] == "指示"
    assert data["instruction"]["text"] == "避難所の開設状況を15時までに報告してください。"
    assert data["instruction"]["sender"]["name"] == hq.name
    assert [t["name"] for t in data["municipalities"]] == ["宇和島市", "西予市"]
    assert data["rooms"] and all(isinstance(r, str) for r in data["rooms"])


def test_a_receiver_answering_500_gets_the_same_event_again_after_a_backoff_until_it_takes_it(
    hooked: Bot, receiver: Receiver
) -> None:
    receiver.answer_next(500, 503)
    first_report(hooked)
    assert len(receiver.deliveries) == 1
    (row,) = webhook_rows(hooked)
    assert row[1] == "pending" and row[2] == "webhook telephony: HTTP 500"
    hooked.drain()
    assert len(receiver.deliveries) == 1  # not before the backoff has passed
    for _ in range(2):
        hooked.clock.advance(seconds=61)
        hooked.drain()
    assert [d.json["id"] for d in receiver.deliveries] == ["report:1"] * 3
    assert all(d.signed_with(SECRET) for d in receiver.deliveries)
    # each attempt says when it was made, inside the signed body
    assert len({d.json["sent_at"] for d in receiver.deliveries}) == 3
    assert webhook_rows(hooked) == [("webhook:telephony:report:1", "sent", None, 3)]


def test_a_receiver_answering_4xx_fails_the_event_for_good_with_a_japanese_reason(
    hooked: Bot, receiver: Receiver, lw: FakeLineWorks
) -> None:
    receiver.answer_next(401)
    first_report(hooked)
    hooked.clock.advance(minutes=5)
    hooked.drain()
    assert len(receiver.deliveries) == 1  # never again
    assert webhook_rows(hooked) == [
        (
            "webhook:telephony:report:1",
            "failed",
            "Webhook「telephony」の受信側が署名または権限を拒否しました（HTTP 401）。"
            "秘密鍵の設定を確認してください",
            1,
        )
    ]
    # HQ is told once, in its room, at the next sweep
    hq_room = room(hooked.config, "hq")
    before = len(lw.to_channels()[hq_room])
    hooked.hotline.sweep()
    hooked.drain()
    hooked.hotline.sweep()
    hooked.drain()
    told = [m["text"] for m in lw.to_channels()[hq_room][before:] if m.get("type") == "text"]
    assert told == [
        "【届かなかった連絡】次の連絡は、LINE WORKS以外の手段（メール・外部システムへの通知）でも"
        "届けられませんでした。電話などで確認してください。\n"
        "・外部システム「telephony」への通知（report）: Webhook「telephony」の受信側が署名または権限を"
        "拒否しました（HTTP 401）。秘密鍵の設定を確認してください"
    ]


def test_an_unreachable_receiver_is_retried(hooked: Bot, receiver: Receiver) -> None:
    receiver.__exit__()  # nobody listens on the port any more: connection refused
    first_report(hooked)
    (row,) = webhook_rows(hooked)
    assert row[1] == "pending" and row[2] == "webhook telephony: ConnectionError"


def test_each_hq_alert_is_told_with_whom_to_call_and_the_number(hooked: Bot, receiver: Receiver) -> None:
    from hotline.domain.acknowledgements import sign_postback
    from tests.support.bot import message_event

    start = hooked.clock.now()
    first_report(hooked)
    for code in linked_municipalities(hooked.config, UWAJIMA):
        if code not in (UWAJIMA, NIIHAMA):
            postback = sign_postback(hooked.hotline.settings.credentials.bot_secret, 1)
            content = {"type": "text", "text": "確認しました", "postback": postback}
            hooked.post_event(message_event(uid(member(hooked.config, code)), content))
    hooked.drain()
    for minutes in (20, 30, 40):
        hooked.clock.current = start + timedelta(minutes=minutes)
        hooked.hotline.reminders.run_due()
        hooked.drain()
    first, second = events(receiver, "escalation")
    assert (first.json["id"], second.json["id"]) == ("escalation:1:20m", "escalation:1:40m")
    assert first.signed_with(SECRET) and second.signed_with(SECRET)
    assert first.json["data"]["minutes"] == 20
    assert first.json["data"]["silent"] == [
        {
            "code": NIIHAMA,
            "name": "新居浜市",
            "call": {"name": "合田 修", "role": "deputy_mayor", "title": "副市長", "phone": "0897-00-0001"},
            "chain_step": 1,
            "chain_length": 3,
        }
    ]
    assert second.json["data"]["silent"][0]["call"]["name"] == "伊藤 美穂"
    assert second.json["data"]["silent"][0]["call"]["phone"] == "0897-00-0002"
    assert second.json["data"]["report"] == {
        "id": 1,
        "label": "第一報",
        "municipality": {"code": UWAJIMA, "name": "宇和島市"},
        "created_at": "2026-11-21T03:12:00+09:00",
    }


def test_a_roll_calls_results_are_told_at_its_deadline(hooked: Bot, receiver: Receiver) -> None:
    drills = hooked.hotline.drills
    drills.create(title="参集訓練", targets=Targets(municipalities=(UWAJIMA,)), created_by="test")
    drills.run_due()
    hooked.drain()
    assert events(receiver, "drill_summary") == []
    hooked.clock.advance(minutes=61)
    drills.run_due()
    hooked.drain()
    (summary,) = events(receiver, "drill_summary")
    assert summary.signed_with(SECRET)
    data = summary.json["data"]
    assert data["drill"]["title"] == "参集訓練" and data["drill"]["kind"] == "drill"
    people = len(hooked.config.municipalities[UWAJIMA].members)
    assert (data["targets"], data["answered"], data["answer_rate"]) == (people, 0, 0.0)
    assert data["municipalities"] == [
        {"code": UWAJIMA, "name": "宇和島市", "targets": people, "answered": 0, "undelivered": 0}
    ]


def test_a_jma_telegram_that_starts_a_response_is_told(hooked: Bot, receiver: Receiver) -> None:
    (outcome,) = receive(hooked.hotline, SAIJO_QUAKE)
    hooked.drain()
    assert outcome.status == "done"
    (told,) = events(receiver, "jma_trigger")
    assert told.signed_with(SECRET)
    data = told.json["data"]
    assert data["telegram"]["kind"] == "VXSE53" and data["telegram"]["status"] == "通常"
    assert data["drill"] is False and data["cancelled"] is False
    assert data["municipalities"] == [
        {"code": "382060", "name": "西条市", "level": "1", "level_text": "震度1", "change": "new"}
    ]
    assert any("参集確認" in s for s in data["started"])


def test_only_the_events_a_webhook_asks_for_are_sent(
    tmp_path: Path,
    credentials: Credentials,
    receiver: Receiver,
    lw: FakeLineWorks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = copy_config(tmp_path / "config")
    with (root / "counterparts.toml").open("a", encoding="utf-8") as f:
        f.write(webhook_table(receiver.url, '["escalation"]'))
    monkeypatch.setenv(SECRET_ENV, SECRET)
    config = load(root)
    settings = Settings(
        credentials=credentials, api_token=TOKEN, config_dir=root, database=tmp_path / "t.sqlite3"
    )
    hotline = Hotline(settings, config, clock=FixedClock(T0))
    bot = Bot(hotline, create_app(hotline).test_client(), hotline.clock, config)  # type: ignore[arg-type]
    try:
        first_report(bot)
        assert receiver.deliveries == [] and webhook_rows(bot) == []
    finally:
        hotline.sender.shutdown()


# -- refused at start-up, with file and line ---------------------------------------------------


def refusals(tmp_path: Path, table: str, environ: dict[str, str]) -> tuple[list[str], int]:
    root = copy_config(tmp_path / "config")
    main = root / "counterparts.toml"
    before = main.read_text(encoding="utf-8")
    main.write_text(before + table, encoding="utf-8")
    first_line = before.count("\n") + 2  # the [[webhooks]] header: after the blank line
    with pytest.raises(ConfigError) as info:
        load(root, environ)
    return [str(p) for p in info.value.problems], first_line


@pytest.mark.parametrize(
    ("url", "events", "environ", "line", "problem"),
    [
        (
            "ftp://hooks.pref.example/x",
            '["report"]',
            {SECRET_ENV: SECRET},
            2,
            "webhooks[0].url: found 'ftp://hooks.pref.example/x'; expected an https:// URL with a host "
            "and no user:password in it (the secret goes in secret_env; plain http:// only to "
            "127.0.0.0/8, ::1 or localhost)",
        ),
        (
            "http://hooks.pref.example/x",
            '["report"]',
            {SECRET_ENV: SECRET},
            2,
            "webhooks[0].url: found 'http://hooks.pref.example/x'; expected an https:// URL with a host "
            "and no user:password in it (the secret goes in secret_env; plain http:// only to "
            "127.0.0.0/8, ::1 or localhost)",
        ),
        (
            "https://ops:Hunter2Secret@hooks.pref.example/x",
            '["report"]',
            {SECRET_ENV: SECRET},
            2,
            "webhooks[0].url: found 'https://***@hooks.pref.example/x'; expected an https:// URL with a "
            "host and no user:password in it (the secret goes in secret_env; plain http:// only to "
            "127.0.0.0/8, ::1 or localhost)",
        ),
        (
            "https://hooks.pref.example/x",
            '["report", "earthquake"]',
            {SECRET_ENV: SECRET},
            3,
            "webhooks[0].events[1]: found unknown event 'earthquake'; expected one of "
            "['report', 'instruction', 'escalation', 'drill_summary', 'jma_trigger']",
        ),
        (
            "https://hooks.pref.example/x",
            '["report"]',
            {},
            4,
            f"webhooks[0].secret_env: found {SECRET_ENV} is not set in the environment; "
            "expected the variable set to the webhook's secret (the receiver checks the signature with it)",
        ),
        (
            "https://hooks.pref.example/x",
            '["report"]',
            {SECRET_ENV: "short-secret"},
            4,
            f"webhooks[0].secret_env: found {SECRET_ENV} is too short (12 characters); expected at least 32 "
            "random characters, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
        ),
    ],
)
def test_a_broken_webhook_is_refused_with_file_and_line_and_the_secret_never_shown(
    tmp_path: Path, url: str, events: str, environ: dict[str, str], line: int, problem: str
) -> None:
    table = webhook_table(url, events)
    found, start = refusals(tmp_path, table, environ)
    assert found == [f"counterparts.toml:{start + line}: {problem}"]
    assert not any("short-secret" in p or SECRET in p or "Hunter2" in p for p in found)


def test_a_valid_webhook_keeps_its_secret_out_of_repr(tmp_path: Path) -> None:
    root = copy_config(tmp_path / "config")
    with (root / "counterparts.toml").open("a", encoding="utf-8") as f:
        f.write(webhook_table("https://hooks.pref.example/x", '["report"]'))
    config = load(root, {SECRET_ENV: SECRET})
    (hook,) = config.webhooks
    assert hook.secret == SECRET and SECRET not in repr(hook) and SECRET not in repr(config)


def test_the_documented_receiver_check_accepts_a_real_delivery_and_refuses_a_forged_or_old_one(
    hooked: Bot, receiver: Receiver
) -> None:
    doc = (ROOT / "docs" / "WEBHOOKS.md").read_text(encoding="utf-8")
    code = next(block for block in doc.split("```python\n")[1:] if "def verify(" in block).split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 (our own docs: their verify(), as a prefecture copies it)
    verify = namespace["verify"]
    first_report(hooked)
    (delivery,) = receiver.deliveries
    signature = delivery.headers["X-Hotline-Signature"]
    assert verify(SECRET, signature, delivery.body, now=T0.timestamp() + 10)["id"] == "report:1"
    with pytest.raises(ValueError, match="bad signature"):
        verify(SECRET, signature, delivery.body.replace(b"3", b"4", 1), now=T0.timestamp())
    with pytest.raises(ValueError, match="too old"):
        verify(SECRET, signature, delivery.body, now=T0.timestamp() + 301)


def test_webhooks_are_paced_and_the_rest_wait_for_the_next_minute(hooked: Bot, receiver: Receiver) -> None:
    transport = hooked.hotline.transports["webhook"]
    assert isinstance(transport, WebhookTransport)
    transport.per_minute = 2  # the default is 120 a minute; three reports make the point
    for n in ("第一報", "第2報", "第3報"):
        hooked.say(uid(member(hooked.config, UWAJIMA)), f"{n} 状況", room(hooked.config, "group-team1"))
    hooked.drain()
    assert [d.json["id"] for d in receiver.deliveries] == ["report:1", "report:2"]
    hooked.clock.advance(seconds=59)
    hooked.drain()
    assert len(receiver.deliveries) == 2
    hooked.clock.advance(seconds=1)
    hooked.drain()
    assert [d.json["id"] for d in receiver.deliveries] == ["report:1", "report:2", "report:3"]
