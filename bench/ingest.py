"""(2) Callback ingest and (5, first half) the server's memory while it ingests.

16 client threads, each with its own requests.Session, POST 5,000 signed callbacks: half
「確認しました」 taps (message events carrying a valid `sign_postback` postback) from members of
the rooms a first report reached, half drill answers (signed `drill:` postbacks) from the
targets of a running roll-call, to three servers in turn, each in its own process:

- the bare app (`bench/bare_app.py`): Flask answering 200 without storing, served by waitress
  with hotline's settings: the baseline, run again right before each hotline run;
- hotline's door alone (`bench/door_app.py`): the production app and server with the worker
  loops not started, so the figure is what durable storing (signature, group commit,
  synchronous=FULL) costs;
- hotline whole, as `python run.py` in production mode (hotline.demo.stack.HotlineProcess:
  waitress, 16 threads, the worker loops processing the callbacks as they arrive, in the same
  process and under the same GIL as the door). Afterwards every callback must be in the inbox
  and processed (`done`).

Where the time goes is measured in this process: the same callbacks through hotline's Flask app
(`app.test_client()`, no sockets) under cProfile, `Storage.store_event` alone, and storing
from 16 threads with `store_event` (one commit each) and with `InboxWriter` (group commit).
"""

from __future__ import annotations

import cProfile
import json
import pstats
import random
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from hotline.clock import Clock, iso
from hotline.config import Config
from hotline.config.settings import Credentials, Settings
from hotline.demo import DEMO_DOMAIN_ID
from hotline.demo.stack import hotline_env
from hotline.domain.acknowledgements import sign_postback
from hotline.domain.drills import ARRIVAL, SAFETY, Drills, Targets
from hotline.domain.drills import sign as sign_drill
from hotline.runtime.service import Hotline
from hotline.storage import InboxWriter, Storage
from hotline.web.app import create_app
from lineworks_emulator import sign

from .common import (
    API_TOKEN,
    STRICKEN,
    SUPPORTERS,
    EmulatorSide,
    Figure,
    SubprocessHotline,
    deputy,
    free_port,
    median,
    percentile,
    post_report,
    run_module,
    standard_config,
    vm_hwm_mb,
    wait_until,
)

CALLBACKS = 5000
DOOR_ROUNDS = 3  # the door alone and the bare app take turns this many times
THREADS = 16
DRILL_TOWNS = SUPPORTERS[:20]  # 20 towns x 100 staff


@dataclass
class Load:
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0


# -- the callbacks ----------------------------------------------------------------------------------
def _event(user_id: str, channel_id: str | None, content: dict[str, Any]) -> dict[str, Any]:
    source: dict[str, Any] = {"userId": user_id, "domainId": DEMO_DOMAIN_ID}
    if channel_id:
        source["channelId"] = channel_id
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {"type": "message", "source": source, "issuedTime": stamp, "content": content}


def make_bodies(config: Config, secret: str, report_id: int, run_id: int, total: int) -> list[bytes]:
    """Half acknowledgement taps, half drill answers, shuffled (fixed seed)."""
    rng = random.Random(7)
    rooms = {room.target: room.channel_id for room in config.rooms if room.link == "municipality"}
    tappers = [(m, rooms[code]) for code in SUPPORTERS for m in config.municipalities[code].members]
    rng.shuffle(tappers)
    targets = [m for code in DRILL_TOWNS for m in config.municipalities[code].members]
    events = []
    postback = sign_postback(secret, report_id)
    for i in range(total // 2):
        member, channel = tappers[i % len(tappers)]
        content = {"type": "text", "text": "確認しました", "postback": postback}
        events.append(_event(member.user_id, channel, content))
    for i in range(total - total // 2):
        member = targets[i % len(targets)]
        question, choices = ("safety", SAFETY) if i < len(targets) else ("arrival", ARRIVAL)
        index = rng.randrange(len(choices))
        content = {
            "type": "text",
            "text": choices[index],
            "postback": sign_drill(secret, run_id, question, index),
        }
        events.append(_event(member.user_id, None, content))
    rng.shuffle(events)
    return [json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode() for e in events]


def signed(bodies: list[bytes], credentials: Credentials) -> list[tuple[bytes, dict[str, str]]]:
    return [
        (
            body,
            {
                "Content-Type": "application/json; charset=UTF-8",
                "X-WORKS-BotId": credentials.bot_id,
                "X-WORKS-Signature": sign(credentials.bot_secret, body),
            },
        )
        for body in bodies
    ]


# -- the load -------------------------------------------------------------------------------------
def fire(base: str, items: list[tuple[bytes, dict[str, str]]], threads: int = THREADS) -> Load:
    """POST every item to base/callback from `threads` threads (one Session each)."""
    slices = [items[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads + 1)
    results: list[tuple[list[float], Counter[int | str], float]] = []
    lock = threading.Lock()

    def worker(part: list[tuple[bytes, dict[str, str]]]) -> None:
        session = requests.Session()
        session.trust_env = False
        session.get(f"{base}/healthz", timeout=10)  # open the keep-alive connection first
        latencies: list[float] = []
        statuses: Counter[int | str] = Counter()
        barrier.wait()
        for body, headers in part:
            began = time.perf_counter()
            try:
                response = session.post(f"{base}/callback", data=body, headers=headers, timeout=30)
                statuses[response.status_code] += 1
            except requests.RequestException as exc:
                statuses[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - began)
        ended = time.perf_counter()
        session.close()
        with lock:
            results.append((latencies, statuses, ended))

    workers = [threading.Thread(target=worker, args=(part,)) for part in slices]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    load = Load()
    for latencies, statuses, ended in results:
        load.latencies.extend(latencies)
        load.statuses.update(statuses)
        load.wall = max(load.wall, ended - started)
    return load


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


class Served:
    """A server module in its own process (`python -m module`), up until `stop()`."""

    def __init__(
        self, work: Path, module: str, *args: str, port: int, env: dict[str, str] | None = None
    ) -> None:
        self.proc = run_module(module, *args, log=work / f"{module.rsplit('.', 1)[-1]}.log", env=env)
        self.url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _healthy(self.url), 30, f"{module} to start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def door_commits(url: str) -> dict[str, float]:
    """The door's group commit as /metrics shows it: transactions, and callbacks they stored."""
    response = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
    response.raise_for_status()
    values = {s.name: s.value for f in text_string_to_metric_families(response.text) for s in f.samples}
    return {
        "commits": values["hotline_callback_commits_total"],
        "stored": values["hotline_callbacks_stored_total"],
    }


def bare_app(work: Path) -> Served:
    """The baseline: bench/bare_app.py, Flask answering 200 without storing."""
    port = free_port()
    return Served(work, "bench.bare_app", str(port), port=port)


def door_app(work: Path, side: EmulatorSide, config_dir: Path) -> Served:
    """hotline's production app and server with the worker loops not started (bench/door_app.py),
    on a fresh database: the door and its storing alone."""
    port = free_port()
    env = hotline_env(side, work / "door-alone.sqlite3", port, API_TOKEN)
    env["HOTLINE_CONFIG_DIR"] = str(config_dir)
    return Served(work, "bench.door_app", port=port, env=env)


# -- where the time goes ----------------------------------------------------------------------------
def profile_door(
    config: Config, credentials: Credentials, items: list[tuple[bytes, dict[str, str]]]
) -> dict[str, Any]:
    """The same callbacks through hotline's Flask app in this process, one thread, under
    cProfile (worker loops not started: the door alone); and store_event alone."""
    with tempfile.TemporaryDirectory(prefix="hotline-bench-profile-") as tmp:
        settings = Settings(
            credentials=credentials,
            api_token=API_TOKEN,
            config_dir=config.root,
            database=Path(tmp) / "p.sqlite3",
        )
        hotline = Hotline(settings, config)
        client = create_app(hotline).test_client()
        for body, headers in items[:50]:  # warm-up
            client.post("/callback", data=body, headers=headers)
        sample = items[50:1050]
        profiler = cProfile.Profile()
        began = time.perf_counter()
        profiler.enable()
        for body, headers in sample:
            client.post("/callback", data=body, headers=headers)
        profiler.disable()
        total = time.perf_counter() - began
        stats = pstats.Stats(profiler)
        entries: dict[str, tuple[float, float]] = {}
        for (filename, _line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            key = f"{Path(filename).name}:{name}" if filename != "~" else name
            old = entries.get(key, (0.0, 0.0))
            entries[key] = (old[0] + tottime, max(old[1], cumtime))
        profiled = sum(t for t, _ in entries.values())

        def cum(key: str) -> float:
            return entries.get(key, (0.0, 0.0))[1]

        shares = {
            "InboxWriter.store (INSERT + COMMIT, synchronous=FULL)": cum("inbox_writer.py:store"),
            "of which the COMMIT's fsync (sqlite3 execute)": cum(
                "<method 'execute' of 'sqlite3.Connection' objects>"
            ),
            "signature check (HMAC-SHA256)": cum("signature.py:signature_valid"),
            "hotline's callback view in all": cum("callback.py:callback"),
            "Flask/werkzeug request handling in all": cum("app.py:full_dispatch_request"),
        }
        top = sorted(entries.items(), key=lambda kv: kv[1][0], reverse=True)[:10]
        # store_event alone, no HTTP at all
        storage = Storage(Path(tmp) / "s.sqlite3")
        now = iso(Clock().now())
        sample_text = items[0][0].decode()
        began = time.perf_counter()
        for _ in range(300):
            storage.store_event(sample_text, now)
        store_ms = (time.perf_counter() - began) / 300 * 1000
        storage.close()
        hotline.storage.close()
        return {
            "callbacks": len(sample),
            "msPerCallbackUnprofiled": None,
            "msPerCallbackProfiled": round(total / len(sample) * 1000, 3),
            "profiledSeconds": round(profiled, 3),
            "cumulativeShare": {k: round(v / profiled, 3) if profiled else None for k, v in shares.items()},
            "topByOwnTime": [{"function": k, "share": round(v[0] / profiled, 3)} for k, v in top],
            "storeEventMs": round(store_ms, 3),
        }


def unprofiled_door_ms(
    config: Config, credentials: Credentials, items: list[tuple[bytes, dict[str, str]]]
) -> float:
    with tempfile.TemporaryDirectory(prefix="hotline-bench-door-") as tmp:
        settings = Settings(
            credentials=credentials,
            api_token=API_TOKEN,
            config_dir=config.root,
            database=Path(tmp) / "d.sqlite3",
        )
        hotline = Hotline(settings, config)
        client = create_app(hotline).test_client()
        for body, headers in items[:50]:
            client.post("/callback", data=body, headers=headers)
        began = time.perf_counter()
        for body, headers in items[50:550]:
            client.post("/callback", data=body, headers=headers)
        took = (time.perf_counter() - began) / 500 * 1000
        hotline.storage.close()
        return took


def concurrent_store(threads: int = THREADS, each: int = 200) -> dict[str, dict[str, float]]:
    """Storing from 16 threads at once, as the door's threads do: `Storage.store_event` (one
    transaction and fsync per body, what the door did before) and `InboxWriter.store` (the
    door's group commit), on fresh databases."""
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="hotline-bench-store-") as tmp:
        for name in ("store_event", "InboxWriter"):
            storage = Storage(Path(tmp) / f"{name}.sqlite3")
            commits: list[int] = []
            writer = InboxWriter(storage, on_commit=commits.append)
            store = storage.store_event if name == "store_event" else writer.store
            latencies: list[float] = []
            guard = threading.Lock()

            def worker(
                store: Any = store, latencies: list[float] = latencies, guard: threading.Lock = guard
            ) -> None:
                mine = []
                for _ in range(each):
                    began = time.perf_counter()
                    store('{"type":"message"}', "2026-01-01T00:00:00.000Z")
                    mine.append(time.perf_counter() - began)
                with guard:
                    latencies.extend(mine)

            pool = [threading.Thread(target=worker) for _ in range(threads)]
            began = time.perf_counter()
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            wall = time.perf_counter() - began
            out[name] = {
                "perSecond": round(len(latencies) / wall),
                "transactions": len(commits) if commits else len(latencies),
                "p50ms": round(percentile(latencies, 50) * 1000, 2),
                "p99ms": round(percentile(latencies, 99) * 1000, 2),
                "maxMs": round(max(latencies) * 1000, 2),
            }
            storage.close()
    return out


def profile_processing(
    config: Config,
    credentials: Credentials,
    items: list[tuple[bytes, dict[str, str]]],
    report_id: int,
    run_id: int,
) -> dict[str, Any]:
    """The inbox worker's share: the same set-up (a first report, a running roll-call) in a fresh
    database in this process, then 500 taps and 500 drill answers processed by hand
    (`Hotline.process_inbox_once`), timed per kind, then profiled."""
    with tempfile.TemporaryDirectory(prefix="hotline-bench-inbox-") as tmp:
        settings = Settings(
            credentials=credentials,
            api_token=API_TOKEN,
            config_dir=config.root,
            database=Path(tmp) / "i.sqlite3",
        )
        hotline = Hotline(settings, config)  # loops not started: we run the inbox worker by hand
        storage = hotline.storage
        poster = deputy(config, STRICKEN[25])
        first = _event(poster.user_id, None, {"type": "text", "text": "第一報 ベンチ 受信試験 土砂崩れ"})
        storage.store_event(json.dumps(first, ensure_ascii=False), iso(Clock().now()))
        hotline.process_inbox_once()
        drill_id = hotline.drills.create(
            title="ベンチ受信試験", targets=Targets(municipalities=tuple(DRILL_TOWNS)), created_by="bench"
        )
        hotline.drills.run_due()
        first_report = storage.reports_of_incident(storage.incidents()[0]["id"])[0]["id"]
        mine = (first_report, storage.runs(drill_id)[0]["id"])
        if mine != (report_id, run_id):  # the bodies carry the server's ids
            return {"skipped": f"ids differ: {mine} != {(report_id, run_id)}"}
        all_taps = [b for b, _ in items if b"ack:" in b]
        all_answers = [b for b, _ in items if b"drill:" in b]
        taps, answers = all_taps[:500], all_answers[:500]
        per_event: dict[str, float] = {}
        for kind, bodies in (("tap", taps), ("drill answer", answers)):
            now = iso(Clock().now())
            for body in bodies:
                storage.store_event(body.decode(), now)
            began = time.perf_counter()
            while storage.inbox_counts().get("new", 0):
                hotline.process_inbox_once()
            per_event[kind] = (time.perf_counter() - began) / len(bodies) * 1000
        # Bodies not stored before: the same ones again would be refused as replays (issue 12).
        for body in [*all_taps[500:700], *all_answers[500:700]]:
            storage.store_event(body.decode(), iso(Clock().now()))
        profiler = cProfile.Profile()
        profiler.enable()
        while storage.inbox_counts().get("new", 0):
            hotline.process_inbox_once()
        profiler.disable()
        stats = pstats.Stats(profiler)
        total = max(v[3] for v in stats.stats.values())  # type: ignore[attr-defined]
        top = sorted(
            (
                (f"{Path(f).name}:{n}", v[3])
                for (f, _l, n), v in stats.stats.items()  # type: ignore[attr-defined]
                if "hotline" in f and n not in ("process_inbox_once", "process_pending", "handle")
            ),
            key=lambda kv: kv[1],
            reverse=True,
        )[:10]
        hotline.sender.shutdown()
        storage.close()
        return {
            "msPerEvent": {k: round(v, 2) for k, v in per_event.items()},
            "topCumulativeShare": [{"function": k, "share": round(v / total, 3)} for k, v in top],
        }


# -- the benchmark ----------------------------------------------------------------------------------
def run(work: Path, total: int, log: list[str]) -> tuple[list[Figure], dict[str, Any]]:
    config_dir = work / "config-ingest"
    config = standard_config(config_dir, members_per_town=100)
    side = EmulatorSide(config)
    database = work / "ingest.sqlite3"
    server = SubprocessHotline(side, config_dir, database, work / "hotline-ingest.log")
    try:
        # set-up: a first report (its id goes into the taps) and a running roll-call
        post_report(side, deputy(config, STRICKEN[25]), "第一報 ベンチ 受信試験 土砂崩れ")
        storage = server.storage
        report_id = wait_until(
            lambda: (
                next(iter(storage.reports_of_incident(storage.incidents()[0]["id"])), None)
                if storage.incidents()
                else None
            ),
            30,
            "the first report",
        )["id"]
        drills = Drills(storage, lambda: config, Clock(), bot_secret=side.credentials.bot_secret)
        drill_id = drills.create(
            title="ベンチ受信試験", targets=Targets(municipalities=tuple(DRILL_TOWNS)), created_by="bench"
        )
        drills.run_due()
        run_id = wait_until(lambda: storage.runs(drill_id), 30, "the drill run")[0]["id"]
        before = wait_until(
            lambda: (c := storage.inbox_counts()).get("new", 0) == 0 and c, 30, "set-up events processed"
        )
        setup_events = sum(before.values())
        items = signed(
            make_bodies(config, side.credentials.bot_secret, report_id, run_id, total), side.credentials
        )
        log.append(f"  ingest: {total} callbacks ready ({setup_events} set-up events); bare baseline...")

        # The bare app and the door alone take turns, DOOR_ROUNDS times each, so that both meet
        # the same load from whatever else runs on the machine; hotline whole comes right after
        # one more bare run. Idle servers cost nothing meanwhile.
        bare_server = bare_app(work)
        door_server = door_app(work, side, config_dir)
        try:
            bare_runs: list[Load] = []
            door_runs: list[Load] = []
            for i in range(DOOR_ROUNDS):
                bare_runs.append(fire(bare_server.url, items))
                door_runs.append(fire(door_server.url, items))
                log.append(
                    f"  ingest: round {i + 1}: bare app {bare_runs[-1].rate:.0f}/s, "
                    f"hotline's door alone {door_runs[-1].rate:.0f}/s"
                )
            door_counters = door_commits(door_server.url)
            bare = fire(bare_server.url, items)
            log.append(f"  ingest: bare app {bare.rate:.0f}/s; hotline whole...")
            load = fire(server.url, items)
            loaded_at = time.perf_counter()
            bare_rss = vm_hwm_mb(bare_server.proc.pid)
        finally:
            bare_server.stop()
            door_server.stop()
        counters = door_commits(server.url)
        log.append(f"  ingest: hotline {load.rate:.0f}/s; waiting for the inbox to be processed...")
        counts = wait_until(
            lambda: (c := storage.inbox_counts()).get("new", 0) == 0 and c, 600, "the inbox to be processed"
        )
        drained = time.perf_counter() - loaded_at + load.wall
        answers = len(storage.answers(run_id))
        acks = len(storage.acks(report_id))
        peak_rss = server.peak_rss_mb()
    finally:
        server.stop()
        side.stop()
    log.append("  ingest: profiling the door in this process...")
    profile = profile_door(config, side.credentials, items)
    profile["msPerCallbackUnprofiled"] = round(unprofiled_door_ms(config, side.credentials, items), 3)
    log.append("  ingest: profiling the inbox worker in this process...")
    processing = profile_processing(config, side.credentials, items, report_id, run_id)
    contention = concurrent_store()

    expected_done = total + setup_events
    lost = expected_done - counts.get("done", 0)
    expected_taps = min(total // 2, sum(len(config.municipalities[c].members) for c in SUPPORTERS))
    ok_statuses = load.statuses.get(200, 0) + sum(run.statuses.get(200, 0) for run in door_runs)
    processing_rate = total / drained

    def p99(run: Load) -> float:
        return percentile(run.latencies, 99) * 1000

    # the door alone and its baseline: medians of the rounds
    door_rate, bare_door_rate = median([r.rate for r in door_runs]), median([r.rate for r in bare_runs])
    door_p99, bare_door_p99 = median([p99(r) for r in door_runs]), median([p99(r) for r in bare_runs])

    def batching(c: dict[str, float]) -> str:
        stored, commits = c["stored"], c["commits"]
        return f"{stored:.0f} callbacks in {commits:.0f} commits ({stored / max(commits, 1):.1f} each)"

    figures = [
        Figure(
            "ingest.door",
            f"Durable callback ingest, door alone (no worker loops), median of {DOOR_ROUNDS}",
            door_rate,
            "callbacks/s",
            baseline=bare_door_rate,
            baseline_label="bare Flask + waitress, no storing",
            target=">= 0.9 x bare",
            passed=door_rate >= 0.9 * bare_door_rate,
            note=f"{batching(door_counters)}; rounds {[round(r.rate) for r in door_runs]} "
            f"vs {[round(r.rate) for r in bare_runs]}",
        ),
        Figure(
            "ingest.door_p99",
            f"Callback response time p99, door alone (median of {DOOR_ROUNDS})",
            door_p99,
            "ms",
            baseline=bare_door_p99,
            baseline_label="bare Flask + waitress",
            target="<= 1.2 x bare",
            passed=door_p99 <= 1.2 * bare_door_p99,
        ),
        Figure(
            "ingest.throughput",
            f"Durable callback ingest, whole server (worker loops running), {total} from {THREADS} threads",
            load.rate,
            "callbacks/s",
            baseline=bare.rate,
            baseline_label="bare Flask + waitress, no storing",
            target=">= 0.9 x bare",
            passed=load.rate >= 0.9 * bare.rate,
            note=batching(counters),
        ),
        Figure(
            "ingest.p50",
            "Callback response time p50, whole server",
            percentile(load.latencies, 50) * 1000,
            "ms",
            baseline=percentile(bare.latencies, 50) * 1000,
            baseline_label="bare Flask + waitress",
        ),
        Figure(
            "ingest.p99",
            "Callback response time p99, whole server",
            p99(load),
            "ms",
            baseline=p99(bare),
            baseline_label="bare Flask + waitress",
            target="<= 1.2 x bare",
            passed=p99(load) <= 1.2 * p99(bare),
        ),
        Figure(
            "ingest.lost",
            "Callbacks lost (not answered 200, or not 'done')",
            float(max(lost, (DOOR_ROUNDS + 1) * total - ok_statuses)),
            "callbacks",
            target="0",
            passed=lost == 0 and ok_statuses == (DOOR_ROUNDS + 1) * total and counts.get("rejected", 0) == 0,
            note=(
                f"inbox {dict(counts)}; acks {acks}/{expected_taps} people; "
                f"drill answers {answers}/{total - total // 2}"
            ),
        ),
        Figure(
            "ingest.processing",
            "Inbox processing: all done, from the first callback",
            processing_rate,
            "events/s",
            note=f"{drained:.1f} s for {total} events",
        ),
        Figure(
            "ingest.store_group",
            "Storing from 16 threads: InboxWriter (group commit)",
            contention["InboxWriter"]["perSecond"],
            "bodies/s",
            baseline=contention["store_event"]["perSecond"],
            baseline_label="store_event, one commit each",
            note=(
                f"{contention['InboxWriter']['transactions']} transactions for "
                f"{THREADS * 200} bodies; p99 {contention['InboxWriter']['p99ms']} ms vs "
                f"{contention['store_event']['p99ms']} ms"
            ),
        ),
        Figure(
            "memory.ingest",
            "Peak RSS of the server during ingest (VmHWM)",
            peak_rss,
            "MB",
            baseline=bare_rss,
            baseline_label="bare Flask + waitress",
            target="< 200 MB",
            passed=peak_rss < 200,
        ),
    ]
    raw = {
        "server": "python run.py (production mode) in a subprocess",
        "threads": THREADS,
        "callbacks": total,
        "setupEvents": setup_events,
        "statuses": {str(k): v for k, v in load.statuses.items()},
        "bareStatuses": {str(k): v for k, v in bare.statuses.items()},
        "wallSeconds": round(load.wall, 3),
        "bareWallSeconds": round(bare.wall, 3),
        "doorAlone": {
            "perSecond": [round(r.rate) for r in door_runs],
            "barePerSecond": [round(r.rate) for r in bare_runs],
            "p99ms": [round(p99(r), 2) for r in door_runs],
            "bareP99ms": [round(p99(r), 2) for r in bare_runs],
            "statuses": [{str(k): v for k, v in r.statuses.items()} for r in door_runs],
            "counters": door_counters,
        },
        "counters": counters,
        "p90ms": round(percentile(load.latencies, 90) * 1000, 2),
        "maxMs": round(max(load.latencies) * 1000, 2),
        "inbox": dict(counts),
        "acksStored": acks,
        "drillAnswersStored": answers,
        "drainSeconds": round(drained, 2),
        "profile": profile,
        "processingProfile": processing,
        "storingFrom16Threads": contention,
    }
    return figures, raw
