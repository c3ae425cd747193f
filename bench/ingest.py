"""(2) Callback ingest and (5, first half) the server's memory while it ingests.

hotline runs as `python run.py` in production mode in its own process (hotline.demo.stack.
HotlineProcess: `hotline.web.server.make_server`, waitress, 16 threads, the worker loops running).
16 client threads, each with its own requests.Session, POST 5,000 signed callbacks: half
「確認しました」 taps (message events carrying a valid `sign_postback` postback) from members of
the rooms a first report reached, half drill answers (signed `drill:` postbacks) from the
targets of a running roll-call. The baseline is a bare Flask app answering 200 without storing,
served by waitress with the same settings (`bench/bare_app.py`), in its own process, loaded by
the same client. Afterwards every callback must be in the inbox and processed (`done`).

Where the time goes is measured in this process: the same callbacks through hotline's Flask app
(`app.test_client()`, no sockets) under cProfile, and `Storage.store_event` alone.
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

from hotline.clock import Clock, iso
from hotline.config import Config
from hotline.config.settings import Credentials, Settings
from hotline.demo import DEMO_DOMAIN_ID
from hotline.domain.acknowledgements import sign_postback
from hotline.domain.drills import ARRIVAL, SAFETY, Drills, Targets
from hotline.domain.drills import sign as sign_drill
from hotline.runtime.service import Hotline
from hotline.storage import Storage
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
    percentile,
    post_report,
    run_module,
    standard_config,
    vm_hwm_mb,
    wait_until,
)

CALLBACKS = 5000
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


def bare_baseline(work: Path, items: list[tuple[bytes, dict[str, str]]]) -> tuple[Load, float]:
    port = free_port()
    proc = run_module("bench.bare_app", str(port), log=work / "bare_app.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url), 30, "the bare app to start")
        load = fire(url, items)
        return load, vm_hwm_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


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
            "Storage.store_event (INSERT + COMMIT, synchronous=FULL)": cum("inbox.py:store_event"),
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
    """`Storage.store_event` from 16 threads at once, as the door calls it: as is (SQLite's busy
    handler arbitrates: waiting threads sleep in growing steps up to 100 ms), and with the
    same calls serialised by one in-process lock (what a fix could do)."""
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="hotline-bench-store-") as tmp:
        for name, gate in (("as is", None), ("behind one lock", threading.Lock())):
            storage = Storage(Path(tmp) / f"{len(out)}.sqlite3")
            latencies: list[float] = []
            guard = threading.Lock()

            def worker(
                storage: Storage = storage,
                gate: threading.Lock | None = gate,
                latencies: list[float] = latencies,
                guard: threading.Lock = guard,
            ) -> None:
                mine = []
                for _ in range(each):
                    began = time.perf_counter()
                    if gate is None:
                        storage.store_event('{"type":"message"}', "2026-01-01T00:00:00.000Z")
                    else:
                        with gate:
                            storage.store_event('{"type":"message"}', "2026-01-01T00:00:00.000Z")
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
                "p50ms": round(percentile(latencies, 50) * 1000, 2),
                "p99ms": round(percentile(latencies, 99) * 1000, 2),
                "p999ms": round(percentile(latencies, 99.9) * 1000, 2),
                "maxMs": round(max(latencies) * 1000, 2),
            }
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
        taps = [b for b, _ in items if b"ack:" in b][:500]
        answers = [b for b, _ in items if b"drill:" in b][:500]
        per_event: dict[str, float] = {}
        for kind, bodies in (("tap", taps), ("drill answer", answers)):
            now = iso(Clock().now())
            for body in bodies:
                storage.store_event(body.decode(), now)
            began = time.perf_counter()
            while storage.inbox_counts().get("new", 0):
                hotline.process_inbox_once()
            per_event[kind] = (time.perf_counter() - began) / len(bodies) * 1000
        for body in [*taps[:200], *answers[:200]]:
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

        bare, bare_rss = bare_baseline(work, items)
        log.append(f"  ingest: bare app {bare.rate:.0f}/s; hotline...")
        load = fire(server.url, items)
        loaded_at = time.perf_counter()
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
    ok_statuses = load.statuses.get(200, 0)
    processing_rate = total / drained
    figures = [
        Figure(
            "ingest.throughput",
            f"Callback ingest, {total} from {THREADS} threads",
            load.rate,
            "callbacks/s",
            baseline=bare.rate,
            baseline_label="bare Flask + waitress, no storing",
            target=">= 1000/s",
            passed=load.rate >= 1000,
        ),
        Figure(
            "ingest.p50",
            "Callback response time p50",
            percentile(load.latencies, 50) * 1000,
            "ms",
            baseline=percentile(bare.latencies, 50) * 1000,
            baseline_label="bare Flask + waitress",
        ),
        Figure(
            "ingest.p99",
            "Callback response time p99",
            percentile(load.latencies, 99) * 1000,
            "ms",
            baseline=percentile(bare.latencies, 99) * 1000,
            baseline_label="bare Flask + waitress",
            target="< 50 ms",
            passed=percentile(load.latencies, 99) < 0.050,
        ),
        Figure(
            "ingest.lost",
            "Callbacks lost (not answered 200, or not 'done')",
            float(max(lost, total - ok_statuses)),
            "callbacks",
            target="0",
            passed=lost == 0 and ok_statuses == total and counts.get("rejected", 0) == 0,
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
            "ingest.store_max",
            "store_event from 16 threads: slowest call",
            contention["as is"]["maxMs"],
            "ms",
            baseline=contention["behind one lock"]["maxMs"],
            baseline_label="same calls behind one lock",
            note=f"p99.9 {contention['as is']['p999ms']} ms vs {contention['behind one lock']['p999ms']} ms",
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
        "p90ms": round(percentile(load.latencies, 90) * 1000, 2),
        "maxMs": round(max(load.latencies) * 1000, 2),
        "inbox": dict(counts),
        "acksStored": acks,
        "drillAnswersStored": answers,
        "drainSeconds": round(drained, 2),
        "profile": profile,
        "processingProfile": processing,
        "storeEventFrom16Threads": contention,
    }
    return figures, raw
