"""Benchmarks for hotline: `python -m bench` (or `make bench`).

Every figure is measured beside its baseline in the same run, on 127.0.0.1 only, against the
LINE WORKS emulator. Results go to `bench/results.json`; docs/PERFORMANCE.md explains each
method and shows the latest figures. Benchmarks are measurements, never test assertions.
"""
