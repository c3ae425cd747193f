"""Wiring: the storage, the client, the dispatcher, the domain and the sender, and the two
worker loops.

The callback view only stores events and calls `wake_inbox()`; the inbox loop turns them into
outbox rows; the outbox loop sends them. Both loops also poll, so nothing depends on a wake-up
arriving, and both resume whatever was left when the process died.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from functools import partial

from hotline import config as config_module
from hotline.clock import Clock, iso
from hotline.config import Config, ConfigError, Problem
from hotline.config.settings import Settings
from hotline.domain import boards, channel_failures
from hotline.domain.boards import poll_readers
from hotline.domain.drills import Drills
from hotline.domain.drills.fallback import DrillMail
from hotline.domain.earthquakes import Earthquakes, FeedHealth
from hotline.domain.identities import Identities
from hotline.domain.instructions import Instructions
from hotline.domain.links import LinkSigner
from hotline.domain.reminders import Reminders
from hotline.domain.reports import Receipts, Reports
from hotline.domain.reports.attachments import AttachmentUploads
from hotline.domain.reports.fallback import ReportMail
from hotline.domain.reports.followup import follow_up
from hotline.inbound.context import Context
from hotline.inbound.dispatcher import Dispatcher
from hotline.inbound.handlers import default_handlers
from hotline.inbound.jma.intake import process_pending
from hotline.inbound.jma.poller import FeedPoller
from hotline.metrics import Metrics
from hotline.outbound.client import LineWorksClient
from hotline.outbound.instructions import (
    AfterReport,
    BoardPost,
    DrillLateMark,
    DrillReminderCheck,
    EscalationCheck,
    LateMark,
    MailDrillCheck,
    MailFallbackCheck,
    ReminderCheck,
    UploadAttachment,
)
from hotline.outbound.jma_feed import JmaFeedClient
from hotline.outbound.mail import MailTransport
from hotline.outbound.ratelimit import RateLimiter, default_limits
from hotline.outbound.sender import GIVE_UP_AFTER, STALE_AFTER, Sender
from hotline.outbound.transport import Transport
from hotline.outbound.webhooks import WebhookTransport
from hotline.runtime.scheduler import Scheduler
from hotline.storage import InboxWriter, Storage

log = logging.getLogger(__name__)

RETRY_EVENT_AFTER = 5.0  # seconds before an event that needed LINE WORKS is tried again


class Hotline:
    """One running bot: everything the web layer and the workers share."""

    def __init__(
        self,
        settings: Settings,
        config: Config,
        *,
        clock: Clock | None = None,
        storage: Storage | None = None,
        client: LineWorksClient | None = None,
    ) -> None:
        self.settings = settings
        self._config = config
        self.clock = clock or Clock()
        self.storage = storage or Storage(
            settings.database,
            busy_timeout_ms=settings.db_busy_timeout_ms,
            # Under Litestream, Litestream alone checkpoints the WAL (storage/connection.py).
            wal_autocheckpoint=0 if settings.replication else None,
        )
        credentials = settings.credentials
        if config.board_id and "board" not in credentials.scope.replace(",", " ").split():
            # Board posts and readers need the board scope; ask for it only when a board is
            # configured, so a bot without that grant keeps working.
            credentials = replace(credentials, scope=f"{credentials.scope} board")
        # The numbers /metrics shows: one registry per running bot (hotline/metrics.py).
        self.metrics = client.metrics if client is not None else Metrics(self.clock.monotonic)
        self.client = client or LineWorksClient(
            credentials,
            limiter=RateLimiter(
                default_limits(settings.per_minute_limit),
                time_scale=settings.rate_time_scale,
                clock=self.clock.monotonic,
                peak_share=settings.rate_peak_share,
            ),
            read_timeout=settings.http_timeout,
            pool_size=settings.send_threads,
            metrics=self.metrics,
        )
        self._inbox_wake = threading.Event()
        self._outbox_wake = threading.Event()
        self.drills = Drills(
            self.storage,
            self.config,
            self.clock,
            bot_secret=settings.credentials.bot_secret,
            per_minute_limit=settings.per_minute_limit,
            on_enqueue=self._outbox_wake.set,
            metrics=self.metrics,
        )
        self.identities = Identities(self.storage, self.client, self.clock)
        self.reports = Reports(
            self.storage,
            self.config,
            self.clock,
            bot_secret=settings.credentials.bot_secret,
            attachment_window=timedelta(minutes=settings.attachment_window_minutes),
        )
        self.receipts = Receipts(self.storage, self.config, self.clock, on_enqueue=self._outbox_wake.set)
        # HQ's instructions and requests to the towns (the chat handler and the dashboard's form)
        self.instructions = Instructions(
            self.storage,
            self.clock,
            bot_secret=settings.credentials.bot_secret,
            on_enqueue=self._outbox_wake.set,
        )
        context = Context(
            self.storage,
            self.config,
            self.clock,
            self.identities,
            bot_secret=settings.credentials.bot_secret,
            on_enqueue=self._outbox_wake.set,
        )
        self.dispatcher = Dispatcher(
            context, default_handlers(context, self.reports, self.receipts, self.drills, self.instructions)
        )
        self.reminders = Reminders(
            self.storage,
            self.config,
            self.clock,
            bot_secret=settings.credentials.bot_secret,
            on_enqueue=self._outbox_wake.set,
            metrics=self.metrics,
        )
        # Channels besides LINE WORKS (outbound.transport), by outbox.channel: mail, webhook
        self.transports: dict[str, Transport] = {}
        self.sender = Sender(
            self.storage,
            self.client,
            self.clock,
            threads=settings.send_threads,
            after_delivery=self.after_delivery,
            # Each typed instruction to its domain handler (outbound.instructions).
            prepare={
                UploadAttachment: AttachmentUploads(self.storage, self.client, self.clock).prepare,
                AfterReport: self.reports.before_ack_button,
                ReminderCheck: self.reminders.before_reminder,
                EscalationCheck: self.reminders.before_escalation,
                DrillReminderCheck: self.drills.before_reminder,
            },
            perform={BoardPost: partial(boards.create_post, self.storage, self.client, self.clock)},
            max_backoff=settings.max_backoff,
            on_free=self._outbox_wake.set,
            transports=self.transports,
        )
        # Outgoing webhooks ([[webhooks]] in counterparts.toml): signed POSTs of outbox rows
        self.transports["webhook"] = WebhookTransport(self.config, self.clock, monotonic=self.clock.monotonic)
        self._wire_mail(settings)
        # JMA telegrams: stored rows first, then the triggers (domain/earthquakes)
        self.earthquakes = Earthquakes(
            self.storage, self.config, self.clock, self.drills, on_enqueue=self._outbox_wake.set
        )
        self.jma_poller = FeedPoller(
            settings.jma_feed_url,
            self.storage,
            JmaFeedClient(),
            self.earthquakes,
            FeedHealth(self.storage, self.config, self.clock, on_enqueue=self._outbox_wake.set),
            self.clock,
        )
        self.scheduler = Scheduler()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._retry_at: dict[int, float] = {}
        self.config_problems: list[Problem] = []  # of a refused hand edit; shown to administrators
        self._config_fingerprint = config_module.fingerprint(settings.config_dir)
        # rejections at the door, shown by /healthz (for the fault suite and operators)
        self.counters: Counter[str] = Counter()
        self.metrics.watch(
            outbox=self.storage.outbox_counts_by_priority,
            inbox=self.storage.inbox_counts,
            rejections=lambda: dict(self.counters),
        )
        # The door stores through one group-committing writer; /metrics shows how many
        # transactions it took for how many callbacks.
        self.inbox_writer = InboxWriter(self.storage, on_commit=self.metrics.callbacks_committed)

    def _wire_mail(self, settings: Settings) -> None:
        """The mail fallback (issue 15). With HOTLINE_SMTP_URL: the SMTP transport and the mails
        a relay, an instruction or a roll-call enqueues. Always: the checks just before a mail
        row or a late-marked message goes, so that rows written while mail was on are decided
        the same way after a restart without it (a mail no longer needed is cancelled; one still
        needed fails with a Japanese reason HQ is told of; a late copy keeps its mark)."""
        mail = settings.mail
        signer = LinkSigner(settings.secret_key, mail.public_url if mail else "")
        after = timedelta(minutes=mail.fallback_minutes if mail else 3)
        report_mail = ReportMail(
            self.storage, self.config, self.clock, signer, after=after, on_enqueue=self._outbox_wake.set
        )
        drill_mail = DrillMail(
            self.storage, self.config, self.clock, signer, after=after, on_enqueue=self._outbox_wake.set
        )
        self.sender.prepare[MailFallbackCheck] = report_mail.before_mail
        self.sender.prepare[LateMark] = report_mail.late_mark
        self.sender.prepare[MailDrillCheck] = drill_mail.before_mail
        self.sender.prepare[DrillLateMark] = drill_mail.late_mark
        self.report_mail: ReportMail | None = None  # None: mail off, no new mails
        self.drill_mail: DrillMail | None = None
        if mail is None:
            return
        self.transports["mail"] = MailTransport(mail)
        self.report_mail, self.drill_mail = report_mail, drill_mail
        self.reports.mail = self.report_mail
        self.instructions.mail = self.report_mail
        self.drills.mail = self.drill_mail

    def after_delivery(self, report_id: int) -> None:
        """After each attempt of a report's room copy (and from the sweep): the poster's
        receipt and notices, and the mails of towns a failed room leaves without the report."""
        follow_up(self.receipts, self.report_mail, report_id)

    def config(self) -> Config:
        return self._config

    def replace_config(self, config: Config) -> None:
        """Use a new validated configuration from now on (reports in flight keep their rooms:
        their outbox rows already name them)."""
        self._config = config

    def reload_config(self) -> list[Problem]:
        """Read the configuration files again. A valid one is used at once; a broken one is
        refused, the last good one keeps running, and the problems are kept for
        administrators (dashboard banner, /healthz). Returns the problems ([] when fine)."""
        try:
            config = config_module.load(self.settings.config_dir)
        except ConfigError as exc:
            if exc.problems != self.config_problems:
                log.error("configuration change refused, the last good one keeps running:\n%s", exc)
            self.config_problems = list(exc.problems)
            return self.config_problems
        self.replace_config(config)
        if self.config_problems:
            log.info("configuration fixed and loaded")
        else:
            log.info("configuration reloaded")
        self.config_problems = []
        return []

    def check_config_files(self) -> bool:
        """Reload when counterparts.toml or a rooms/*.toml file changed (hand edits, or
        `hotline reload`). Returns whether a change was seen."""
        fingerprint = config_module.fingerprint(self.settings.config_dir)
        if fingerprint == self._config_fingerprint:
            return False
        self._config_fingerprint = fingerprint
        self.reload_config()
        return True

    def wake_inbox(self) -> None:
        self._inbox_wake.set()

    # -- the loops ------------------------------------------------------------------------
    def process_inbox_once(self) -> int:
        now = time.monotonic()
        skip = {i for i, at in self._retry_at.items() if at > now}
        retry = self.dispatcher.process_pending(skip=skip)
        for inbox_id in retry:
            self._retry_at[inbox_id] = now + RETRY_EVENT_AFTER
        for inbox_id in list(self._retry_at):
            if inbox_id not in retry and inbox_id not in skip:
                del self._retry_at[inbox_id]
        return len(retry)

    def _inbox_loop(self) -> None:
        while not self._stop.is_set():
            self._inbox_wake.wait(0.5)
            self._inbox_wake.clear()
            try:
                self.process_inbox_once()
            except Exception:  # keep the loop alive; the event stays 'new' and is retried
                log.exception("inbox processing failed")
                self._stop.wait(1.0)

    def _outbox_loop(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.sender.run_once()
            except Exception:
                log.exception("outbox loop failed")
                claimed = 0
                self._stop.wait(1.0)
            if not claimed:
                self._outbox_wake.wait(0.05)
                self._outbox_wake.clear()

    def sweep(self) -> None:
        """Follow up what a crash or a failed write may have left: rows stuck 'sending',
        receipts and notices not yet given, mails and webhook calls that failed for good. Runs at
        start-up and every 30 s."""
        now = self.clock.now()
        stale = self.storage.recover_stale(iso(now - STALE_AFTER))
        if stale:
            log.warning("%d messages were stuck while being sent; resending", stale)
            self._outbox_wake.set()
        for report_id in self.storage.reports_to_follow_up(iso(now - GIVE_UP_AFTER)):
            self.after_delivery(report_id)
        # mails and webhook calls that failed for good: HQ is told once (domain/channel_failures)
        if channel_failures.tell_hq(self.storage, self.config(), self.clock):
            self._outbox_wake.set()

    def poll_board(self) -> int:
        if not self.config().board_id:
            return 0
        config = self.config()
        return poll_readers(
            self.storage,
            self.client,
            self.clock,
            resolve=lambda user_id: self.identities.resolve(user_id, config),
        )

    def start(self) -> None:
        recovered = self.storage.recover_interrupted()
        if recovered:
            log.warning(
                "%d messages were being sent when the last run stopped; resending them "
                "(a message cut off mid-send may arrive twice)",
                recovered,
            )
        for target, name in ((self._inbox_loop, "inbox"), (self._outbox_loop, "outbox")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.sweep()
        try:  # telegrams stored before a crash are acted on now, before anything else
            process_pending(self.storage, self.earthquakes, self.clock)
        except Exception:
            log.exception("JMA telegrams at start-up failed; the poller tries again")
        try:
            self.drills.run_due()  # a drill due while we were down fires now, not in 10 s
        except Exception:
            log.exception("drills at start-up failed; the scheduler tries again")
        self.scheduler.every(30, self.sweep, "sweep")
        self.scheduler.every(5, self.check_config_files, "config-files")
        self.scheduler.every(30, self.reminders.run_due, "reminders")
        self.scheduler.every(10, self.drills.run_due, "drills")
        self.scheduler.every(60, self.poll_board, "board-readers")
        if self.settings.jma_feed_url:
            self.scheduler.every(
                self.settings.jma_poll_seconds, self.jma_poller.run_once, "jma-feed", now=True
            )
        self.scheduler.start()

    def stop(self) -> None:
        self._stop.set()
        self.scheduler.stop()
        self._inbox_wake.set()
        self._outbox_wake.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.sender.shutdown()
