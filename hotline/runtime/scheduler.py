"""The one module that runs APScheduler: it calls plain functions on a timer, in JST; those
functions take their time from the hotline's clock, so tests call them directly.

(`domain.drills.schedule` also imports APScheduler, but only its CronTrigger arithmetic to
compute a crontab's fire times; nothing is scheduled there.)"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self) -> None:
        self._scheduler = BackgroundScheduler(timezone="Asia/Tokyo")

    def every(self, seconds: float, job: Callable[[], object], name: str, *, now: bool = False) -> None:
        """Run `job` every `seconds` (and at once when `now`); a run is skipped, not queued,
        while the last one runs."""

        def safe() -> None:
            try:
                job()
            except Exception:  # a failing job must not stop the scheduler
                log.exception("scheduled job %s failed", name)

        self._scheduler.add_job(
            safe,
            "interval",
            seconds=seconds,
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            **({"next_run_time": datetime.now(UTC)} if now else {}),
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
