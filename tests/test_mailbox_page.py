"""The emulator's mailbox page, where a newcomer running `make run` reads the mails hotline sent:
every mail the demo's SMTP server accepted, newest first, with when it came, from whom, to whom,
its subject and its text, escaped, its links clickable; and the control API that lists the mails
and makes the server refuse the next ones, as a real one would."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

import pytest
import requests

from hotline.domain.links import LinkSigner
from lineworks_emulator import Emulator
from lineworks_emulator.mailbox import Mailbox
from tests.support.emulator import FakeClock, make_seed

# A link as hotline signs them for a fallback mail: /m/ and a URL-safe token with '.', '_', '-'.
LINK = LinkSigner("k" * 32, "http://127.0.0.1:8080").url(
    "ack", 12, "fukushicho@uwajima.example", datetime(2026, 11, 30, tzinfo=UTC)
)


class Mails(HTMLParser):
    """The mailbox page's mails, in page order: each field by data-testid, and the links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.mails: list[dict[str, Any]] = []
        self._field: str | None = None
        self._link: dict[str, str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        testid = found.get("data-testid", "")
        if testid == "mail":
            self.mails.append({"links": [], "tags": []})
        elif self.mails and testid.startswith("mail-") and testid != "mail-link":
            self._field = testid.removeprefix("mail-")
            self.mails[-1].setdefault(self._field, "")
        if self.mails and self._field in ("subject", "text") and testid not in ("mail-subject", "mail-text"):
            self.mails[-1]["tags"].append(tag)  # an element inside the subject or the text
        if tag == "a" and self.mails:
            self._link = {**found, "text": ""}
            self.mails[-1]["links"].append(self._link)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._link = None
        elif tag in ("h2", "div", "dd", "time"):
            self._field = None

    def handle_data(self, data: str) -> None:
        if self._field is not None:
            self.mails[-1][self._field] += data
        if self._link is not None:
            self._link["text"] += data


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_796_000_000.0)  # 2026-11-30 09:53:20 JST


@pytest.fixture
def box(clock: FakeClock) -> Iterator[Mailbox]:
    mailbox = Mailbox(clock=clock)
    mailbox.start()
    yield mailbox
    mailbox.stop()


@pytest.fixture
def emu(keypair: tuple[str, str], box: Mailbox) -> Iterator[Emulator]:
    emulator = Emulator(make_seed(keypair[1]), mailbox=box)
    emulator.start()
    yield emulator
    emulator.stop()


def send(box: Mailbox, subject: str, text: str, to: str = "宇和島 花子 <hanako@uwajima.example>") -> None:
    message = EmailMessage()
    message["From"] = "hotline@demo.invalid"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    with smtplib.SMTP(box.host, box.port, timeout=5) as smtp:
        smtp.send_message(message)


def page(emu: Emulator) -> requests.Response:
    response = requests.get(f"{emu.base_url}/mail", timeout=5)
    assert response.status_code == 200
    return response


def test_the_page_lists_every_mail_newest_first_with_when_from_whom_to_whom(
    emu: Emulator, box: Mailbox, clock: FakeClock
) -> None:
    send(box, "【第一報・メール代替】宇和島市", "LINE WORKS で届かなかったため、メールでお送りします。")
    clock.now += 95
    send(box, "【訓練】参集確認", "参集できますか。", to="matsuyama@example.jp")

    response = page(emu)
    assert "受信メール（デモ用）" in response.text and box.url in response.text
    newest, oldest = Mails(response.text).mails
    assert newest["subject"] == "【訓練】参集確認"
    assert newest["received"] == "2026-11-30 09:54:55"
    assert (newest["from"], newest["to"]) == ("hotline@demo.invalid", "matsuyama@example.jp")
    assert oldest["subject"] == "【第一報・メール代替】宇和島市"
    assert oldest["received"] == "2026-11-30 09:53:20"
    assert oldest["to"] == "宇和島 花子 <hanako@uwajima.example>"
    assert oldest["text"].strip() == "LINE WORKS で届かなかったため、メールでお送りします。"
    assert "全 2 通" in response.text


def test_html_in_a_subject_or_a_text_is_shown_as_text_never_run(emu: Emulator, box: Mailbox) -> None:
    send(box, "<b>至急</b> & <i>確認</i>", '<script>alert("x")</script>\n<img src=x onerror=alert(1)>')

    html = page(emu).text
    [mail] = Mails(html).mails
    assert mail["subject"] == "<b>至急</b> & <i>確認</i>"
    assert mail["text"].strip() == '<script>alert("x")</script>\n<img src=x onerror=alert(1)>'
    assert mail["tags"] == []  # nothing of the mail became an element
    assert "&lt;script&gt;" in html and "<script>alert" not in html and "<img src=x" not in html


def test_links_in_a_mail_are_clickable_and_end_where_the_address_ends(emu: Emulator, box: Mailbox) -> None:
    send(
        box,
        "確認のお願い",
        f"確認はこちら：{LINK}です。\n地図（{'https://example.jp/map?a=1&b=2'}）。\n"
        "javascript:alert(1) は押せません。",
    )

    [mail] = Mails(page(emu).text).mails
    assert [(a["href"], a["text"]) for a in mail["links"]] == [
        (LINK, LINK),
        ("https://example.jp/map?a=1&b=2", "https://example.jp/map?a=1&b=2"),
    ]
    assert all((a["target"], a["rel"]) == ("_blank", "noopener noreferrer") for a in mail["links"])
    assert mail["text"].startswith(f"確認はこちら：{LINK}です。")  # nothing lost around the links


def test_an_empty_mailbox_says_no_mail_has_come_yet(emu: Emulator) -> None:
    html = page(emu).text
    assert "まだメールは届いていません。" in html and Mails(html).mails == []


def test_the_talk_page_links_to_the_mailbox(emu: Emulator) -> None:
    talk = requests.get(f"{emu.base_url}/", timeout=5).text
    assert 'href="/mail"' in talk and "受信メール（デモ用）" in talk


def test_the_json_lists_the_mails_newest_first(emu: Emulator, box: Mailbox, clock: FakeClock) -> None:
    send(box, "一通目", "本文1")
    clock.now += 1
    send(box, "二通目", "本文2")

    body = requests.get(f"{emu.base_url}/_emulator/mail", timeout=5).json()
    assert [(m["seq"], m["subject"], m["receivedAt"]) for m in body["mails"]] == [
        (2, "二通目", "2026-11-30T00:53:21.000Z"),
        (1, "一通目", "2026-11-30T00:53:20.000Z"),
    ]
    assert body["mails"][0]["to"] == ["hanako@uwajima.example"]
    assert body["mails"][0]["text"].strip() == "本文2" and body["refusals"] == []


def test_the_fault_switch_refuses_the_next_mails_with_421_then_550(emu: Emulator, box: Mailbox) -> None:
    faults = f"{emu.base_url}/_emulator/mail/faults"
    assert requests.post(faults, json={"refuse_next": 1}, timeout=5).json() == {"refusals": [421]}
    answer = requests.post(faults, json={"refuse_next": 1, "permanent": True}, timeout=5)
    assert answer.json() == {"refusals": [421, 550]}
    assert "次の 2 通を拒否します（421、550）" in page(emu).text

    codes = []
    for subject in ("一通目", "二通目"):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(box, subject, "本文")
        codes.append(refused.value.smtp_code)
    send(box, "三通目", "本文")

    assert codes == [421, 550]
    assert requests.get(faults, timeout=5).json() == {"refusals": []}
    assert [m["subject"] for m in Mails(page(emu).text).mails] == ["三通目"]


@pytest.mark.parametrize(
    "body",
    [{"refuse_next": -1}, {"refuse_next": "2"}, {"refuse_next": 2, "permanent": "yes"}, {"refuse": 1}, {}],
)
def test_a_bad_fault_switch_is_refused_and_changes_nothing(emu: Emulator, box: Mailbox, body: Any) -> None:
    answer = requests.post(f"{emu.base_url}/_emulator/mail/faults", json=body, timeout=5)
    assert answer.status_code == 400 and answer.json()["code"] == "INVALID_PARAMETER"
    send(box, "届く", "本文")
    assert [m.subject for m in box.messages()] == ["届く"]


def test_reset_clears_the_mails_and_the_refusals(emu: Emulator, box: Mailbox) -> None:
    send(box, "古いメール", "本文")
    box.refuse_next(3, permanent=True)
    requests.post(f"{emu.base_url}/_emulator/reset", timeout=5).raise_for_status()
    assert requests.get(f"{emu.base_url}/_emulator/mail", timeout=5).json() == {"mails": [], "refusals": []}


def test_without_a_mailbox_the_page_says_so_and_the_json_is_not_found(keypair: tuple[str, str]) -> None:
    emulator = Emulator(make_seed(keypair[1]))
    base = emulator.start()
    try:
        assert "メールサーバーがつながっていません" in requests.get(f"{base}/mail", timeout=5).text
        for path in ("/_emulator/mail", "/_emulator/mail/faults"):
            assert requests.get(base + path, timeout=5).status_code == 404
    finally:
        emulator.stop()
