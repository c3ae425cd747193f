"""kill -9 a real hotline process while fallback mails are going out: after the restart every
mail the fallback decided on reaches its person, at most once more than a kill caught it
between "accepted by the server" and "marked sent", and nobody whose room got the report is
mailed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hotline.config import Config
from hotline.config.counterparts import linked_municipalities
from hotline.demo.stack import EmulatorSide, HotlineProcess, free_port, hotline_env, wait_until
from hotline.storage import Storage
from tests.support.mail import PUBLIC_URL, SECRET_KEY, SENDER, SlowMailbox

TOWNS = ["382035", "384844", "385069"]  # 宇和島市, 松野町, 愛南町: reports from each


def test_fallback_mails_survive_kill_9_mid_send(tmp_path: Path, sample_config: Config) -> None:
    box = SlowMailbox(delay=0.04)
    box.start()
    side = EmulatorSide(sample_config)
    # The bot is out of every room but HQ's: every linked town's people need the mail, at once.
    side.faults(remove_bot_from=[r.channel_id for r in sample_config.rooms if r.key != "hq"])
    port = free_port()
    database = tmp_path / "mail.sqlite3"
    env = {
        **hotline_env(side, database, port),
        "HOTLINE_SMTP_URL": box.url,
        "HOTLINE_MAIL_FROM": SENDER,
        "HOTLINE_PUBLIC_URL": PUBLIC_URL,
        "HOTLINE_SECRET_KEY": SECRET_KEY,
        "HOTLINE_MAIL_PER_MINUTE": "100000",
    }
    process = HotlineProcess(env, tmp_path / "hotline.log")
    side.emulator.set_callback_url(f"http://127.0.0.1:{port}/callback")
    expected: Counter[tuple[str, str]] = Counter()  # (e-mail, tag) -> 1
    try:
        process.start()
        for n, code in enumerate(TOWNS):
            tag = f"[試験{n:03d}]"
            poster = sample_config.municipalities[code].members[0]
            assert side.say(poster, f"第一報 停電と断水 {tag}")["status"] == 200
            for other in linked_municipalities(sample_config, code):
                if other != code:
                    expected.update((m.email, tag) for m in sample_config.municipalities[other].members)
        wait_until(lambda: len(box.messages()) >= 15, 30, "fallback mails going out")
        process.kill9()
        db = Storage(database)
        with db.transaction() as conn:
            left = conn.execute(
                "SELECT count(*) FROM outbox WHERE channel = 'mail' AND status IN ('pending', 'sending')"
            ).fetchone()[0]
        db.close()
        assert left > 0, "the kill did not land while mails were outstanding"
        assert len(box.messages()) < sum(expected.values())

        process.start()

        def arrived() -> Counter[tuple[str, str]]:
            return Counter(
                (rcpt, tag)
                for m in box.messages()
                for rcpt in m.rcpt_tos
                for tag in expected_tags()
                if tag in m.text
            )

        def expected_tags() -> set[str]:
            return {tag for _, tag in expected}

        wait_until(lambda: set(arrived()) >= set(expected), 60, "every fallback mail")
        process.stop()
        assert set(arrived()) == set(expected)  # nobody else: HQ's own room got every report
        db = Storage(database)
        with db.transaction() as conn:
            rows = conn.execute(
                "SELECT o.address, r.text, o.interrupted, o.status FROM outbox o JOIN reports r "
                "ON r.id = o.report_id WHERE o.channel = 'mail'"
            ).fetchall()
        db.close()
        interrupted = {(a, text.split(" ")[-1]): i for a, text, i, _ in rows}
        hq = {m.email for m in sample_config.hq_members}
        # Sent, but for HQ's people: their mails wait out their 3 minutes, or were cancelled when
        # a group room's failure brought them forward and the HQ room had the report by then.
        assert {status for a, *_, status in rows if a not in hq} == {"sent"}
        assert {status for a, *_, status in rows if a in hq} <= {"pending", "cancelled"}
        for key, count in arrived().items():
            assert count <= 1 + interrupted[key], (key, count)
        # a mail sent again carries its first copy's Message-ID: to the receiving side, one message
        ids: dict[tuple[str, str], set[str]] = {}
        for m in box.messages():
            for rcpt in m.rcpt_tos:
                for tag in expected_tags():
                    if tag in m.text:
                        ids.setdefault((rcpt, tag), set()).add(str(m.message["Message-ID"]))
        assert all(len(found) == 1 for found in ids.values()), ids
    finally:
        process.stop()
        side.stop()
        box.stop()
