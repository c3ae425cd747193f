"""The wheel is the product: it carries hotline with its pages, and nothing that stands in
for LINE WORKS (the emulator is for demos, tests and benchmarks only)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.bot import ROOT


def build_wheel(tmp_path: Path) -> zipfile.ZipFile:
    """Build hotline's wheel offline (setuptools and wheel come with the test extras)."""
    # Build from a copy of the tracked files, so the working tree gets no build/ folder.
    source = tmp_path / "src"
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("hotline-*.whl")
    return zipfile.ZipFile(wheel)


def test_wheel_has_the_product_and_no_emulator(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = wheel.namelist()
    assert "hotline/cli/main.py" in names
    assert "hotline/web/templates/dashboard_base.html" in names
    assert any(n.startswith("hotline/web/static/") and n.endswith(".js") for n in names)
    assert not [n for n in names if n.startswith("lineworks_emulator/") or "/emulator" in n]
    assert not [n for n in names if n.startswith("hotline/demo/")]  # it needs the emulator
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "hotline = hotline.cli.main:main" in wheel.read(entry_points).decode()
