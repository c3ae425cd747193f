"""(7) A prefecture of Hokkaido's size: 179 municipalities, each figure beside the same
measurement on an Ehime-sized prefecture (20 municipalities) generated the same way.

The configuration is generated into the run's temporary folder (`write_prefecture`; nothing
is committed): 179 municipalities with valid codes (01xxxC, C the check digit) in 14 groups
shaped like Hokkaido's 14 subprefectures (振興局), 5 members each, a room per town (link =
"municipality"), a room per group and the HQ room; every town has a primary and two secondary
supporters from its own group. Every member has an explicit user_id, so no users-API look-up
is ever timed.

Measured:
- `hotline --config <dir> check` and the start-up of `python run.py` (production mode, to the
  first 200 from /healthz), each as its own process; and the part of the start-up that grows
  with the configuration (load + Hotline + create_app) in this process;
- the relay rule (`linked_rooms` and `linked_municipalities`) for every town;
- a report: the relay of a 第一報 in this process (a stored callback to its outbox rows), once
  per town (every town reports: a prefecture-wide quake);
- the dashboard after that quake: the incident list (179 incidents), the incident page of a
  town of the biggest group with 10 reports, and the acknowledgement matrices of every town's
  report;
- a message to all 179 town rooms through the real sender and the emulator (150 ms per call,
  the paid plan's 240 calls a minute, real time): from the commit of its 179 outbox rows (the
  moment an HQ instruction's callback would be answered 200) to the last room, against four
  round trips.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hotline import config as config_module
from hotline.clock import iso
from hotline.config import Config, Room
from hotline.config.counterparts import linked_municipalities, linked_rooms
from hotline.config.settings import Settings
from hotline.demo import DEMO_DOMAIN_ID, make_credentials
from hotline.demo.stack import HotlineProcess, hotline_env
from hotline.domain import acknowledgements
from hotline.outbound.client import LineWorksClient
from hotline.outbound.ratelimit import RateLimiter, default_limits
from hotline.runtime.service import Hotline
from hotline.storage import PRIORITY_REPORT, NewMessage, Storage
from hotline.web.app import create_app

from .common import (
    API_TOKEN,
    EmulatorSide,
    Figure,
    InProcessHotline,
    free_port,
    iso_epoch,
    median,
    member_user_id,
    percentile,
    post_report,
    sent_count,
    wait_for_sends,
)
from .dashboard_render import timed

# Hokkaido's 14 subprefectures (振興局) and how many municipalities each has: 179 in all.
HOKKAIDO = (
    ("石狩", 8),
    ("渡島", 11),
    ("檜山", 7),
    ("後志", 20),
    ("空知", 24),
    ("上川", 23),
    ("留萌", 8),
    ("宗谷", 10),
    ("オホーツク", 18),
    ("胆振", 11),
    ("日高", 7),
    ("十勝", 19),
    ("釧路", 8),
    ("根室", 5),
)
EHIME = (("東予", 7), ("中予", 7), ("南予", 6))  # the baseline: Ehime's 20 in 3 groups
ROLES = ("deputy_mayor", "disaster_head", "personnel_head", "staff", "staff")  # 5 a town
HQ_MEMBERS = 5
LATENCY_MS = 150
FOLLOW_UPS = 9  # the incident shown on the incident page has 10 reports
_NAMESPACE = uuid.UUID("6f1d0c55-1e0b-4d8e-9a43-0c3c8f0f7a01")


# -- the generated prefecture ---------------------------------------------------------------------
def check_digit(five: str) -> str:
    """The sixth digit of a 全国地方公共団体コード: weights 6,5,4,3,2 over the first five
    digits, the sum mod 11, 11 minus that, its last digit (docs: shared DOMAIN.md)."""
    total = sum(int(d) * w for d, w in zip(five, (6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


def municipality_codes(prefecture: str, count: int, first: int = 202) -> list[str]:
    """`count` distinct valid codes of the prefecture ("01" for Hokkaido), in order."""
    return [f"{prefecture}{n:03d}" + check_digit(f"{prefecture}{n:03d}") for n in range(first, first + count)]


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string for these plain texts


def _channel(key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "room/" + key))


def write_prefecture(
    root: Path,
    groups: Sequence[tuple[str, int]] = HOKKAIDO,
    *,
    name: str = "北海道",
    code: str = "01",
) -> Config:
    """Write counterparts.toml and rooms/*.toml for a prefecture of `groups` (name, number of
    municipalities) under `root`, load them (the start-up validation) and return the Config.

    Each group's first municipality is a city (…市), the others towns (…町). Members have
    explicit user_ids (the emulator and the relay never need the users API). A town's
    supporters are the next three of its group: the primary and two secondaries."""
    total = sum(size for _, size in groups)
    codes = iter(municipality_codes(code, total))
    pref_code = f"{code}000" + check_digit(f"{code}000")
    lines = [f"[prefecture]\nname = {_q(name)}\ncode = {_q(pref_code)}\n"]
    lines.append(f"[hq]\nname = {_q(name + '災害対策本部')}\ncontact = {_q(name + ' 危機対策課')}\n")
    for i in range(HQ_MEMBERS):
        role = "hq_head" if i == 0 else "hq_staff"
        lines.append(
            f"[[hq.members]]\nname = {_q(f'本部 職員{i:02d}')}\nrole = {_q(role)}\n"
            f"email = {_q(f'hq{i:02d}@pref.bench.example')}\nuser_id = {_q(member_user_id('hq', i))}\n"
        )
    members: dict[str, list[str]] = {}
    rooms: dict[str, str] = {"hq": 'title = "本部ルーム"\nlink = "hq"\n'}
    for g, (group, size) in enumerate(groups):
        towns = [next(codes) for _ in range(size)]
        members[f"g{g:02d}"] = towns
        for t, town in enumerate(towns):
            town_name = f"{group}{t + 1:02d}{'市' if t == 0 else '町'}"
            lines.append(f"[[municipalities]]\ncode = {_q(town)}\nname = {_q(town_name)}\n")
            for m, role in enumerate(ROLES):
                lines.append(
                    "[[municipalities.members]]\n"
                    f"name = {_q(f'{town_name} 職員{m}')}\nrole = {_q(role)}\n"
                    f"email = {_q(f'm{m}@t{town}.bench.example')}\nuser_id = {_q(member_user_id(town, m))}\n"
                )
            title = _q(town_name + " 災害対策ルーム")
            rooms[f"municipality-{town}"] = (
                f'title = {title}\nlink = "municipality"\nmunicipality = {_q(town)}\n'
            )
        rooms[f"group-g{g:02d}"] = (
            f'title = {_q(group + "ホットライン")}\nlink = "group"\ngroup = "g{g:02d}"\n'
        )
    for g, (gid, towns) in enumerate(members.items()):
        group_name = _q(groups[g][0] + "グループ")
        lines.append(
            f"[[groups]]\nid = {_q(gid)}\nname = {group_name}\nmunicipalities = {json.dumps(towns)}\n"
        )
        for t, town in enumerate(towns):
            helpers = [towns[(t + k) % len(towns)] for k in (1, 2, 3)]
            lines.append(
                f"[[counterparts]]\nstricken = {_q(town)}\nprimary = {_q(helpers[0])}\n"
                f"secondary = {json.dumps(helpers[1:])}\n"
            )
    root.mkdir(parents=True, exist_ok=True)
    (root / "counterparts.toml").write_text("\n".join(lines), encoding="utf-8")
    folder = root / "rooms"
    folder.mkdir(exist_ok=True)
    for key, body in rooms.items():
        (folder / f"{key}.toml").write_text(f'{body}channel_id = "{_channel(key)}"\n', encoding="utf-8")
    return config_module.load(root)


# -- timing helpers --------------------------------------------------------------------------------
def ms(values: Sequence[float]) -> float:
    return median(values) * 1000


def check_command(root: Path) -> None:
    """`hotline --config <root> check`, as an operator runs it."""
    hotline_cmd = Path(sys.executable).parent / "hotline"
    done = subprocess.run(
        [str(hotline_cmd), "--config", str(root), "check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith("OK:"), done.stdout + done.stderr


def start_up(side: EmulatorSide, root: Path, database: Path, log: Path) -> float:
    """Seconds from starting `python run.py` (production mode) to its first 200 on /healthz."""
    env = hotline_env(side, database, free_port(), API_TOKEN)
    env["HOTLINE_CONFIG_DIR"] = str(root)
    process = HotlineProcess(env, log)
    began = time.perf_counter()
    process.start()  # returns at the first 200 from /healthz (polled every 20 ms)
    took = time.perf_counter() - began
    process.stop()
    return took


# -- the quake: every town reports --------------------------------------------------------------------
class Quake:
    """A Hotline on the configuration (worker loops not started: nothing is sent) where every
    town has posted a 第一報, every delivery is marked sent, about 60 % of the people have
    acknowledged, and one town of the biggest group has added FOLLOW_UPS reports."""

    def __init__(self, work: Path, root: Path, config: Config, tag: str) -> None:
        credentials, _ = make_credentials()
        settings = Settings(
            credentials=credentials,
            api_token=API_TOKEN,
            config_dir=root,
            database=work / f"quake-{tag}.sqlite3",
        )
        self.hotline = hotline = Hotline(settings, config)
        self.config = config
        storage = hotline.storage
        start = datetime.now(UTC) - timedelta(hours=2)
        self.relay_times: list[float] = []
        for n, code in enumerate(config.municipalities):
            self._report(code, f"第一報 震度6弱 被害確認中 その{n}", start)
        biggest = max(config.groups.values(), key=lambda g: len(g.municipalities))
        self.town = biggest.municipalities[0]
        for n in range(2, FOLLOW_UPS + 2):
            self._report(self.town, f"第{n}報 避難所{n}か所開設、道路通行止め", start)
        now = iso(datetime.now(UTC))
        for _ in range(2):  # the deliveries, then the receipts they cause
            for row in storage.due_messages(now, limit=100_000):
                storage.claim(row.id, now)
                storage.mark_sent(row.id, now)
            for report in storage.reports_since(iso(start)):
                hotline.receipts.after_delivery(report["id"])
        rng = random.Random(7)
        rooms = {r.target: r.channel_id for r in config.rooms if r.link == "municipality"}
        with storage.transaction():
            for report in storage.reports_since(iso(start)):
                for code in linked_municipalities(config, report["municipality_code"]):
                    for member in config.municipalities[code].members:
                        if rng.random() < 0.6:
                            at = iso(start + timedelta(minutes=rng.random() * 30))
                            storage.record_ack(
                                report["id"], member.key, member.user_id, code, rooms[code], "tap", at
                            )
        incidents = storage.incidents(limit=100_000)
        assert len(incidents) == len(config.municipalities)
        self.incident = next(i["id"] for i in incidents if i["municipality_code"] == self.town)
        self.latest = [max(r["id"] for r in storage.reports_of_incident(i["id"])) for i in incidents]

    def _report(self, code: str, text: str, at: datetime) -> None:
        """A deputy mayor's report 1:1 to the bot, stored as the door stores it and relayed by
        the inbox worker (timed: the stored callback to its outbox rows)."""
        poster = self.config.municipalities[code].members[0]
        event = {
            "type": "message",
            "source": {"userId": poster.user_id, "domainId": DEMO_DOMAIN_ID},
            "issuedTime": iso(at),
            "content": {"type": "text", "text": text},
        }
        began = time.perf_counter()
        self.hotline.storage.store_event(json.dumps(event, ensure_ascii=False), iso(at))
        self.hotline.process_inbox_once()
        self.relay_times.append(time.perf_counter() - began)

    def measure(self, reps: int) -> dict[str, list[float]]:
        """The relay rule, the matrices of every town's latest report, the incident list and
        the incident page (view functions in a request context, bodies built; the login check
        is a before_request hook and is skipped)."""
        hotline, config = self.hotline, self.config
        app = create_app(hotline)

        def page(endpoint: str, path: str, **args: int) -> Callable[[], bytes]:
            def action() -> bytes:
                with app.test_request_context(path):
                    result: Any = app.view_functions[endpoint](**args)
                    response = app.make_response(result)
                    assert response.status_code == 200, (path, response.status_code)
                    return response.get_data()

            return action

        def matrices() -> None:
            for report_id in self.latest:
                acknowledgements.matrix(hotline.storage, config, report_id)

        def relay_rule() -> None:
            for code in config.municipalities:
                linked_rooms(config, code)
                linked_municipalities(config, code)

        index = page("dashboard.index", "/dashboard/")
        incident = page(
            "dashboard.incident_page", f"/dashboard/incidents/{self.incident}", incident_id=self.incident
        )
        times = {
            "relayRule": timed(relay_rule, reps),
            "matrices": timed(matrices, reps),
            "index": timed(index, reps),
            "incident": timed(incident, reps),
        }
        listing = index()
        listed = listing.count(b'data-testid="incident-link"')
        assert listed == len(config.municipalities), (listed, "incidents in the list")
        times["indexBytes"] = [float(len(listing))]
        times["pageBytes"] = [float(len(incident()))]
        return times


# -- a message to every town's room -------------------------------------------------------------------
def notice_rows(towns: Sequence[Room], tag: str) -> list[NewMessage]:
    """One message to each town's room, at the priority of a report (HQ's instructions)."""
    return [
        NewMessage(
            dedupe_key=f"bench-{tag}:{room.key}",
            purpose="notice",
            priority=PRIORITY_REPORT,
            content={
                "type": "text",
                "text": f"【本部指示】ベンチ計測{tag} 全市町村へ 被害状況を報告してください",
            },
            channel_id=room.channel_id,
            room_key=room.key,
        )
        for room in towns
    ]


def sender_writes(work: Path, towns: Sequence[Room]) -> float:
    """Seconds the sender's own durable writes take for one message per room, no network: a
    claim and a mark as sent per row, each its own committed (fsync'd) transaction."""
    storage = Storage(work / "writes.sqlite3")
    now = iso(datetime.now(UTC))
    with storage.transaction():
        storage.enqueue(notice_rows(towns, "writes"), now)
    rows = storage.due_messages(now, limit=len(towns))
    began = time.perf_counter()
    for row in rows:
        storage.claim(row.id, now)
        storage.mark_sent(row.id, now)
    took = time.perf_counter() - began
    storage.close()
    return took


def report_fanout(side: EmulatorSide, config: Config, code: str, tag: str) -> float:
    """A 第一報 from `code` posted 1:1: ms from its 200 to the last of its rooms; waits for the
    poster's receipt too, so that nothing is left in flight."""
    poster = config.municipalities[code].members[0]
    k = len(linked_rooms(config, code))
    start = sent_count(side)
    t200 = post_report(side, poster, f"第一報 ベンチ計測{tag} 震度6弱")
    copies = wait_for_sends(
        side, start, lambda s: s["op"] == "send_channel" and f"計測{tag}" in str(s["content"]), k, 60
    )
    wait_for_sends(side, start, lambda s: s["userId"] == poster.user_id, 1, 60)
    return (max(iso_epoch(s["time"]) for s in copies) - t200) * 1000


def all_rooms(work: Path, root: Path, config: Config, log: list[str]) -> dict[str, Any]:
    """A 第一報 (the baseline: a few rooms), then one message to every town's room, through the
    real sender and the emulator at real time; the first from its 200, the second from the
    commit of its rows, to the last room."""
    side = EmulatorSide(config)
    side.faults(latency_ms=LATENCY_MS)
    stack = InProcessHotline(side, config, root, work / "rooms.sqlite3")
    client = LineWorksClient(side.credentials, limiter=RateLimiter(default_limits(240)))
    towns = [r for r in config.rooms if r.link == "municipality"]
    first, second = list(config.municipalities)[:2]
    try:
        client.token()
        rtts = []  # one round trip: single send_to_channel calls, one after another
        for room in towns[:8]:
            began = time.perf_counter()
            client.send_to_channel(room.channel_id, {"type": "text", "text": "【ベンチ】往復時間の計測"})
            rtts.append(time.perf_counter() - began)
        report_fanout(side, config, first, "warm-up")  # hotline's token and connections
        time.sleep(4)  # the reports' few calls are back in hotline's bucket (2 or more a second)
        report_ms = report_fanout(side, config, second, "report")
        time.sleep(4)
        start = sent_count(side)
        with stack.hotline.storage.transaction():
            stack.hotline.storage.enqueue(notice_rows(towns, "all"), iso(datetime.now(UTC)))
        committed = time.time()  # an HQ instruction's callback would be answered 200 now
        stack.hotline.receipts.on_enqueue()  # the outbox loop's wake-up, as every producer calls it
        sent = wait_for_sends(
            side,
            start,
            lambda s: s["op"] == "send_channel" and "計測all" in str(s["content"]),
            len(towns),
            180,
        )
        stamps = sorted(iso_epoch(s["time"]) - committed for s in sent)
        too_many = dict(side.emulator.state.rejected).get("429", 0)
    finally:
        stack.stop()
        side.stop()
    writes = sender_writes(work, towns)
    k = len(linked_rooms(config, second))
    log.append(
        f"  all {len(towns)} rooms: last at {stamps[-1] * 1000:.0f} ms; RTT {ms(rtts):.0f} ms; "
        f"report to {k} rooms {report_ms:.0f} ms; sender's writes {writes * 1000:.0f} ms"
    )
    return {
        "rtt": rtts,
        "stamps": stamps,
        "report": report_ms,
        "k": k,
        "rooms": len(towns),
        "429": too_many,
        "writes": writes,
    }


# -- the run -------------------------------------------------------------------------------------------
def in_process_start(work: Path, root: Path) -> None:
    """What the start-up does that grows with the configuration: load and validate it, build
    the Hotline (storage, client, workers not started) and the Flask app."""
    settings = Settings(
        credentials=make_credentials()[0],
        api_token=API_TOKEN,
        config_dir=root,
        database=work / f"load-{root.name}.sqlite3",
    )
    hotline = Hotline(settings, config_module.load(root))
    create_app(hotline)
    hotline.sender.shutdown()
    hotline.storage.close()


def measure_size(work: Path, root: Path, config: Config, reps: int) -> dict[str, list[float]]:
    """Every in-process and own-process figure for one generated prefecture."""
    times = {
        "check": timed(lambda: check_command(root), reps),
        "load": timed(lambda: in_process_start(work, root), reps),
    }
    side = EmulatorSide(config)
    try:
        database, out = work / f"startup-{root.name}.sqlite3", work / f"startup-{root.name}.log"
        runs = [start_up(side, root, database, out) for _ in range(reps + 1)]
        times["startup"] = runs[1:]  # the first run also creates the database
    finally:
        side.stop()
    quake = Quake(work, root, config, root.name)
    times["relay"] = quake.relay_times
    times.update(quake.measure(reps))
    quake.hotline.sender.shutdown()
    quake.hotline.storage.close()
    return times


def run(work: Path, reps: int, log: list[str]) -> tuple[list[Figure], dict[str, Any]]:
    big_root, small_root = work / "hokkaido", work / "ehime"
    big = write_prefecture(big_root)
    small = write_prefecture(small_root, EHIME, name="愛媛県", code="38")
    assert len(big.municipalities) == 179 and len(big.groups) == 14
    times = {
        "big": measure_size(work, big_root, big, reps),
        "small": measure_size(work, small_root, small, reps),
    }
    for tag, found in times.items():
        log.append(
            f"  {tag}: "
            + ", ".join(f"{k} {ms(v):.1f} ms" for k, v in found.items() if not k.endswith("Bytes"))
        )
    rooms = all_rooms(work, big_root, big, log)

    b, s = times["big"], times["small"]
    kib = {k: int(b[f"{k}Bytes"][0]) // 1024 for k in ("index", "page")}
    specs: list[tuple[str, str, float | None, str]] = [  # key, label, target (ms), note
        ("check", "179 towns: `hotline check` (own process)", 1000, ""),
        ("startup", "179 towns: start-up, run.py -> first /healthz 200", 1000, ""),
        ("load", "179 towns: load + Hotline + create_app, in process", None, ""),
        ("relayRule", "179 towns: relay rule for every town", 200, ""),
        (
            "relay",
            "179 towns: a 第一報 relayed (stored -> outbox rows), median",
            200,
            f"p95 {percentile(b['relay'], 95) * 1000:.1f} ms over {len(b['relay'])} reports",
        ),
        ("index", "179 towns: incident list, 179 incidents", 200, f"{kib['index']} KiB of HTML"),
        (
            "incident",
            f"179 towns: incident page ({FOLLOW_UPS + 1} reports, biggest group)",
            200,
            f"{kib['page']} KiB of HTML",
        ),
        ("matrices", "179 towns: acknowledgement matrix of every town's report", 200, ""),
    ]
    fig = [
        Figure(
            f"bigpref.{key}",
            label,
            ms(b[key]),
            "ms",
            baseline=ms(s[key]),
            baseline_label=f"the same, {len(small.municipalities)} towns",
            target="-" if target is None else f"<= {target:,.0f} ms",
            passed=None if target is None else ms(b[key]) <= target,
            note=note,
        )
        for key, label, target, note in specs
    ]
    rtt = ms(rooms["rtt"])
    last = rooms["stamps"][-1] * 1000
    # how the rooms arrived: by one round trip, by 4, and afterwards (the limiter's burst spent)
    burst = ", ".join(
        f"{n} RTT: {sum(1 for t in rooms['stamps'] if t * 1000 <= n * rtt)}" for n in (1, 2, 4, 8)
    )
    fig.append(
        Figure(
            "bigpref.allRooms",
            f"a message to all {rooms['rooms']} town rooms, commit -> last room",
            last,
            "ms",
            baseline=rooms["report"],
            baseline_label=f"a 第一報 to {rooms['k']} rooms, 200 -> last",
            target=f"<= 4 x RTT = {4 * rtt:.0f} ms",
            passed=last <= 4 * rtt,
            note=f"RTT {rtt:.0f} ms; {rooms['429']} x 429; rooms reached by {burst}",
        )
    )
    fig.append(
        Figure(
            "bigpref.allRoomsWrites",
            f"the sender's durable writes for {rooms['rooms']} rows, no network",
            rooms["writes"] * 1000,
            "ms",
            baseline=4 * rtt,
            baseline_label="the target, 4 x RTT",
            note="a claim and a mark as sent per row, each its own committed transaction",
        )
    )
    raw = {
        "municipalities": {"big": len(big.municipalities), "small": len(small.municipalities)},
        "rooms": {"big": len(big.rooms), "small": len(small.rooms)},
        "medianMs": {
            tag: {k: round(ms(v), 2) for k, v in t.items() if not k.endswith("Bytes")}
            for tag, t in times.items()
        },
        "allRooms": {
            "rttMs": [round(x * 1000, 1) for x in rooms["rtt"]],
            "arrivalsMs": [round(x * 1000) for x in rooms["stamps"]],
            "reportMs": round(rooms["report"], 1),
            "429": rooms["429"],
            "senderWritesMs": round(rooms["writes"] * 1000, 1),
        },
    }
    return fig, raw
