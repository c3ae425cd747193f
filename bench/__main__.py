"""Run every benchmark, print the table and write bench/results.json.

python -m bench                 # everything (about 5 minutes on 2 cores)
python -m bench --quick         # fewer repetitions and callbacks, for trying changes
python -m bench --only fanout,dashboard
python -m bench --only bigpref  # a prefecture of Hokkaido's size (179 municipalities)
python -m bench --only instructions  # an HQ 【指示】 to all 179 towns
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import bigpref, dashboard_render, fanout, ingest, instructions, jma, pacing
from .common import Figure, machine

RESULTS = Path(__file__).resolve().parent / "results.json"


class PoolFull(logging.Filter):
    """Counts (and hides) urllib3's "Connection pool is full" warnings: hotline's client keeps
    10 connections per host while its sender runs 16 threads (see docs/PERFORMANCE.md)."""

    count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "Connection pool is full" in record.getMessage():
            PoolFull.count += 1
            return False
        return True


Runner = Callable[[Path, list[str]], tuple[list[Figure], dict[str, Any]]]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: list[Figure]) -> str:
    rows = [("figure", "value", "baseline", "ratio", "target", "")]
    for f in figures:
        verdict = "" if f.passed is None else "PASS" if f.passed else "MISS"
        baseline = "-" if f.baseline is None else f"{_fmt(f.baseline)} ({f.baseline_label})"
        rows.append((f.label, f"{_fmt(f.value)} {f.unit}", baseline, _fmt(f.ratio), f.target or "-", verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (not for results.json)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: fanout,ingest,pacing,realtime,dashboard,bigpref,instructions,jma",
    )
    parser.add_argument("--output", type=Path, default=None, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("urllib3.connectionpool").addFilter(PoolFull())
    reps = 3 if args.quick else 7
    callbacks = 1000 if args.quick else ingest.CALLBACKS
    suites: dict[str, Runner] = {
        "fanout": lambda work, log: fanout.run(work, reps, log),
        "ingest": lambda work, log: ingest.run(work, callbacks, log),
        "pacing": pacing.run,
        "realtime": pacing.run_realtime,
        "dashboard": lambda work, log: dashboard_render.run(work, 5 if args.quick else 15, log),
        "bigpref": lambda work, log: bigpref.run(work, 3 if args.quick else 5, log),
        "instructions": lambda work, log: instructions.run(work, 3 if args.quick else 5, log),
        "jma": lambda work, log: jma.run(work, 2 if args.quick else 5, log),
    }
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(suites)
    unknown = [s for s in chosen if s not in suites]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(suites)}")
    info = machine()
    print(
        f"hotline benchmarks on {info['nproc']} x {info['machine']} ({info['cpu']}), "
        f"Python {info['python']}, {info['date']}",
        flush=True,
    )
    figures: list[Figure] = []
    raw: dict[str, Any] = {}
    failed: list[str] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        for name in chosen:
            print(f"- {name} ...", flush=True)
            log: list[str] = []
            started = time.monotonic()
            work = Path(tmp) / name
            work.mkdir()
            try:
                found, details = suites[name](work, log)
            except Exception:
                failed.append(name)
                print("\n".join(log))
                traceback.print_exc()
                continue
            for line in log:
                print(line, flush=True)
            details["seconds"] = round(time.monotonic() - started, 1)
            details["connectionsDiscarded"] = PoolFull.count
            # other work on the machine skews the figures: the 1-minute load average after
            # the suite shows it (this run alone keeps it near 1-1.5 on 2 cores)
            details["loadAverageAfter"] = round(os.getloadavg()[0], 2)
            PoolFull.count = 0
            figures.extend(found)
            raw[name] = details
    took = time.monotonic() - began
    print()
    print(table(figures))
    misses = [f.label for f in figures if f.passed is False]
    print(f"\n{len(figures)} figures in {took:.0f} s; {len(misses)} missed their target", end="")
    print(f"; benchmarks that failed to run: {failed}" if failed else "")
    output = args.output or RESULTS
    if (args.quick or args.only) and args.output is None:  # results.json keeps full runs only
        output = Path(tempfile.gettempdir()) / "hotline-bench-partial.json"
    result = {
        "machine": info,
        "quick": args.quick,
        "seconds": round(took, 1),
        "figures": [f.as_json() for f in figures],
        "failed": failed,
        "details": raw,
    }
    output.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"written to {output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
