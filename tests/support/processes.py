"""Running hotline's own commands as processes, as an operator would, and reading what reached
the rooms through the emulator (for the crash, take-over and backup tests)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from hotline.demo.stack import ROOT, EmulatorSide


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def run_py(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python run.py` in production mode, to its exit (a start that is refused)."""
    return _run([sys.executable, str(ROOT / "run.py")], env)


def hotline_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`hotline ARGS...` to its exit."""
    return _run([sys.executable, "-m", "hotline.cli.main", *args], env)


def arrivals(side: EmulatorSide, tag: str) -> Counter[str]:
    """How many times the relayed report ending in `tag` arrived in each room."""
    return Counter(
        s["channelId"]
        for s in side.sent()
        if s["channelId"]
        and s["content"].get("type") == "button_template"
        and s["content"]["contentText"].endswith(tag)
    )
