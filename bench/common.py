"""What every benchmark shares: figures, statistics, synthetic configurations and the stacks.

A stack is the LINE WORKS emulator (always in this process, on 127.0.0.1) plus hotline, either
in this process (waitress in a thread and the real worker loops, like hotline.demo.stack.LiveStack) or
as `python run.py` in production mode in its own process (hotline.demo.stack.HotlineProcess).
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from hotline import config as config_module
from hotline.config import Config, Member
from hotline.config.loader import check_digit
from hotline.config.settings import Settings
from hotline.demo.stack import EmulatorSide, HotlineProcess, free_port, hotline_env, wait_until
from hotline.runtime.service import Hotline
from hotline.storage import Storage
from hotline.web.server import make_server

ROOT = Path(__file__).resolve().parent.parent
API_TOKEN = "bench-token-" + secrets.token_hex(16)  # HOTLINE_API_TOKEN needs 32 characters
_NAMESPACE = uuid.UUID("0b7d5a0e-4c1f-4f61-9d0a-6a3b2c8e9f10")

__all__ = [
    "API_TOKEN",
    "ROOT",
    "EmulatorSide",
    "Figure",
    "InProcessHotline",
    "SubprocessHotline",
    "Town",
    "callback_time",
    "free_port",
    "iso_epoch",
    "machine",
    "median",
    "percentile",
    "post_report",
    "sent_since",
    "wait_until",
    "write_config",
]


# -- figures ------------------------------------------------------------------------------------
@dataclass
class Figure:
    """One measured figure beside its baseline and target."""

    key: str  # stable machine name, e.g. "fanout.k25.median"
    label: str  # what the table shows
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    passed: bool | None = None  # None: informational, no target
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "value": round(self.value, 3),
            "unit": self.unit,
            "baseline": None if self.baseline is None else round(self.baseline, 3),
            "baselineLabel": self.baseline_label,
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "target": self.target,
            "passed": self.passed,
            "note": self.note,
        }


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): with 7 runs p95 is the slowest run."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def iso_epoch(stamp: str) -> float:
    """The emulator's `...T05:16:05.716Z` stamps as seconds since the epoch."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "machine": platform.machine(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set size of a process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


# -- synthetic configurations ---------------------------------------------------------------------
@dataclass(frozen=True)
class Town:
    code: str
    name: str
    members: int
    room: bool = False  # a talk room linked to the town (link = "municipality")


def member_user_id(code: str, index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{code}/{index}"))


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string for these plain texts


def write_config(
    root: Path,
    towns: Sequence[Town],
    supporters: Mapping[str, Sequence[str]],
    *,
    hq_members: int = 3,
) -> Config:
    """Write counterparts.toml and rooms/*.toml (docs/CONFIG.md) under `root` and load them.

    Every member has an explicit user_id, so that the relay never needs the users API and the
    figures measure hotline, not directory look-ups. `supporters` maps a stricken town to its
    primary supporter followed by its secondary supporters."""
    lines = ['[prefecture]\nname = "ベンチ県"\ncode = "390003"\n', '[hq]\nname = "ベンチ県災害対策本部"\n']
    for i in range(hq_members):
        lines.append(
            "[[hq.members]]\n"
            f"name = {_q(f'本部 職員{i:02d}')}\nrole = {_q('hq_head' if i == 0 else 'hq_staff')}\n"
            f"email = {_q(f'hq{i:02d}@pref.bench.example')}\nuser_id = {_q(member_user_id('hq', i))}\n"
        )
    for town in towns:
        lines.append(f"[[municipalities]]\ncode = {_q(town.code)}\nname = {_q(town.name)}\n")
        for i in range(town.members):
            role = "deputy_mayor" if i == 0 else "staff"
            lines.append(
                "[[municipalities.members]]\n"
                f"name = {_q(f'{town.name} 職員{i:03d}')}\nrole = {_q(role)}\n"
                f"email = {_q(f'm{i:03d}@t{town.code}.bench.example')}\n"
                f"user_id = {_q(member_user_id(town.code, i))}\n"
            )
    stricken = list(supporters)
    lines.append(
        f'[[groups]]\nid = "bench"\nname = "ベンチグループ"\nmunicipalities = {json.dumps(stricken)}\n'
    )
    for code, helpers in supporters.items():
        lines.append(
            f"[[counterparts]]\nstricken = {_q(code)}\nprimary = {_q(helpers[0])}\n"
            f"secondary = {json.dumps(list(helpers[1:]))}\n"
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / "counterparts.toml").write_text("\n".join(lines), encoding="utf-8")
    rooms = root / "rooms"
    rooms.mkdir(exist_ok=True)
    (rooms / "hq.toml").write_text(
        f'title = "本部ルーム"\nchannel_id = "{uuid.uuid5(_NAMESPACE, "room/hq")}"\nlink = "hq"\n',
        encoding="utf-8",
    )
    for town in towns:
        if town.room:
            (rooms / f"municipality-{town.code}.toml").write_text(
                f"title = {_q(town.name + ' 災害対策ルーム')}\n"
                f'channel_id = "{uuid.uuid5(_NAMESPACE, "room/" + town.code)}"\n'
                f'link = "municipality"\nmunicipality = "{town.code}"\n',
                encoding="utf-8",
            )
    return config_module.load(root)


# -- the emulator ---------------------------------------------------------------------------------
def sent_since(side: EmulatorSide, start: int) -> list[dict[str, Any]]:
    """The emulator's log of messages the bot sent, from index `start` (no deep copy)."""
    state = side.emulator.state
    with state.lock:
        return list(state.sent[start:])


def sent_count(side: EmulatorSide) -> int:
    state = side.emulator.state
    with state.lock:
        return len(state.sent)


def callback_time(side: EmulatorSide, seq: int) -> float:
    """When the emulator got hotline's answer to callback number `seq` (epoch seconds)."""
    state = side.emulator.state
    with state.lock:
        entry = state.callbacks[seq - 1]
    if entry["status"] != 200:
        raise RuntimeError(f"callback {seq} was answered {entry['status']} ({entry['error']})")
    return iso_epoch(entry["time"])


def post_report(side: EmulatorSide, member: Member, text: str) -> float:
    """The member writes `text` to the bot 1:1 (the emulator delivers the signed callback and
    waits for it); returns the time of hotline's 200."""
    result = side.say(member, text)
    return callback_time(side, int(result["callbackSeq"]))


def wait_for_sends(
    side: EmulatorSide,
    start: int,
    match: Callable[[dict[str, Any]], bool],
    count: int,
    timeout: float,
) -> list[dict[str, Any]]:
    """Wait until `count` sent messages after index `start` match; returns them."""

    def found() -> list[dict[str, Any]] | None:
        hits = [s for s in sent_since(side, start) if match(s)]
        return hits if len(hits) >= count else None

    result: list[dict[str, Any]] = wait_until(found, timeout, f"{count} messages at the emulator")
    return result


# -- hotline --------------------------------------------------------------------------------------
class InProcessHotline:
    """hotline in this process: waitress in a thread, the real worker loops (cf. LiveStack)."""

    def __init__(
        self,
        side: EmulatorSide,
        config: Config,
        config_dir: Path,
        database: Path,
        *,
        rate_time_scale: float = 1.0,
    ) -> None:
        self.side = side
        settings = Settings(
            credentials=side.credentials,
            api_token=API_TOKEN,
            config_dir=config_dir,
            database=database,
            rate_time_scale=rate_time_scale,
        )
        self.hotline = Hotline(settings, config)
        self.hotline.start()
        self.server = make_server(self.hotline, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"  # type: ignore[union-attr]
        self._closing = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        side.emulator.set_callback_url(f"{self.url}/callback")

    def _serve(self) -> None:
        try:
            self.server.run()
        except OSError:
            if not self._closing:
                raise

    def stop(self) -> None:
        self._closing = True
        self.server.close()
        self.hotline.stop()


class SubprocessHotline:
    """`python run.py` in production mode (settings from the environment, waitress)."""

    def __init__(
        self,
        side: EmulatorSide,
        config_dir: Path,
        database: Path,
        log: Path,
        *,
        rate_time_scale: float = 1.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        env = hotline_env(side, database, self.port, API_TOKEN)
        env["HOTLINE_CONFIG_DIR"] = str(config_dir)
        env["HOTLINE_RATE_TIME_SCALE"] = repr(rate_time_scale)
        env.update(extra_env or {})
        self.process = HotlineProcess(env, log)
        self.process.start()
        self.url = f"http://127.0.0.1:{self.port}"
        side.emulator.set_callback_url(f"{self.url}/callback")
        self.storage = Storage(database)  # this process's own connection, for checks only

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    def peak_rss_mb(self) -> float:
        return vm_hwm_mb(self.pid)

    def health(self) -> dict[str, Any]:
        response = requests.get(f"{self.url}/healthz", timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> None:
        self.process.stop()


def run_module(
    module: str, *args: str, log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `python -m module args` from the repository root, output to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )


def with_check_digit(five: str) -> str:
    """A valid municipality code (the loader checks the sixth digit) from its first five."""
    return five + check_digit(five)


# -- the configuration most benchmarks use ----------------------------------------------------------
SUPPORTERS = [with_check_digit(f"391{i:02d}") for i in range(1, 25)]  # T01..T24, each with its own room
STRICKEN = {k: with_check_digit(f"392{k:02d}") for k in (5, 12, 25)}  # fan-out K -> the stricken town


def standard_config(root: Path, members_per_town: int) -> Config:
    """24 supporting towns with a room each (the first 20 with `members_per_town` staff, the
    last 4 with 5) and three stricken towns whose reports reach K = 5, 12 and 25 rooms:
    K - 1 supporters' rooms plus the HQ room."""
    towns = [
        Town(code, f"支援町{i + 1:02d}", members_per_town if i < 20 else 5, room=True)
        for i, code in enumerate(SUPPORTERS)
    ]
    towns += [Town(code, f"被災町K{k:02d}", 2) for k, code in STRICKEN.items()]
    supporters = {code: SUPPORTERS[: k - 1] for k, code in STRICKEN.items()}
    return write_config(root, towns, supporters)


def deputy(config: Config, code: str) -> Member:
    return config.municipalities[code].members[0]
