"""The numbers one running hotline shows on `/metrics` (Prometheus text format).

Two kinds of number, on one `Metrics` per running hotline:

- counters the core increments where things happen: LINE WORKS calls by operation and status
  (`outbound/client.py`), what came of each send attempt (`outbound/sender.py`), the door's
  commits and the callbacks they stored (`storage/inbox_writer.py`), token renewals, reminders
  enqueued and cancelled (`domain/reminders.py`), drill runs, questions and answers
  (`domain/drills/runner.py`);
- what is read at each scrape (`State`): outbox rows by status and priority and inbox events
  by status from the database, the door's rejections by reason (`Hotline.counters`, kept by
  `web/callback.py`), and the seconds since the last successful LINE WORKS call. Queue sizes
  are read, never counted up and down, so they cannot drift from the rows.

Each `Metrics` has its own `CollectorRegistry`, never prometheus_client's global one: tests
and benchmarks run many hotlines in one process, and each must show only its own numbers.
prometheus_client is an instrumentation library, not a web framework: the core may import this
module. Only `web/metrics.py` turns the registry into an HTTP answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, ProcessCollector, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# No `*_created` gauge beside every counter: they double the text format for nothing an alert
# uses (a counter's reset is seen by rate() anyway). The switch is process-wide.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream

# The outcomes of one send attempt of an outbox row (outbound/sender.py).
SEND_OUTCOMES = ("sent", "retry", "failed", "cancelled")
SEND_OPERATIONS = ("send_channel", "send_user", "boards")
REMINDER_KINDS = ("municipality", "escalation", "drill")
REMINDER_EVENTS = ("enqueued", "cancelled")
INBOX_STATUSES = ("new", "done", "rejected", "failed")
# The door's reasons (web/callback.py keeps them in Hotline.counters, "rejected_" dropped here).
REJECTION_REASONS = ("signature", "body", "store_failed")

OutboxCounts = Callable[[], Iterable[tuple[str, str, int]]]  # (status, priority, rows)
Counts = Callable[[], Mapping[str, int]]


class Metrics:
    """The counters of one running hotline and the registry `/metrics` exposes.

    `clock` measures the seconds since the last successful LINE WORKS call (monotonic
    seconds; the runtime passes its clock's, so a fixed clock in tests moves it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = CollectorRegistry()
        self.clock = clock
        # Until a call succeeds, the seconds count from the start: a bot that could never reach
        # LINE WORKS shows a growing number, not a missing one.
        self._last_success = clock()
        self._lock = threading.Lock()
        registry = self.registry
        self.calls = Counter(
            "hotline_lineworks_calls",
            "LINE WORKS API calls by operation and HTTP status (code=timeout or network: no answer came)",
            ["operation", "code"],
            registry=registry,
        )
        self.token_renewals = Counter(
            "hotline_lineworks_token_renewals",
            "Access tokens requested from LINE WORKS, by outcome (issued, failed)",
            ["outcome"],
            registry=registry,
        )
        self.send_attempts = Counter(
            "hotline_send_attempts",
            "Outbox send attempts by API operation and outcome "
            "(sent; retry: will be tried again, 429s included; failed: given up; "
            "cancelled: no longer needed)",
            ["operation", "outcome"],
            registry=registry,
        )
        self.reminders = Counter(
            "hotline_reminders",
            "Reminders by kind (municipality, escalation to HQ, drill) and event "
            "(enqueued; cancelled just before sending: answered meanwhile, or no longer due)",
            ["kind", "event"],
            registry=registry,
        )
        self.drill_runs = Counter(
            "hotline_drill_runs",
            "Drill runs by outcome (fired; missed: the server was down past the grace period)",
            ["outcome"],
            registry=registry,
        )
        self.drill_questions = Counter(
            "hotline_drill_questions",
            "First roll-call questions enqueued, one per target of a fired run",
            registry=registry,
        )
        self.drill_answers = Counter(
            "hotline_drill_answers",
            "Roll-call answers taken (answer: a button tap; comment: a text after an answer)",
            ["type"],
            registry=registry,
        )
        self.callback_commits = Counter(
            "hotline_callback_commits",
            "Transactions (fsyncs) that stored callbacks at the door: callbacks arriving together "
            "share one (storage/inbox_writer.py)",
            registry=registry,
        )
        self.callbacks_stored = Counter(
            "hotline_callbacks_stored", "Callbacks stored at the door, each before its 200", registry=registry
        )
        # Every known series starts at 0, so the first increment shows in rate() and increase().
        for outcome in ("issued", "failed"):
            self.token_renewals.labels(outcome)
        for operation in SEND_OPERATIONS:
            for outcome in SEND_OUTCOMES:
                self.send_attempts.labels(operation, outcome)
        for kind in REMINDER_KINDS:
            for event in REMINDER_EVENTS:
                self.reminders.labels(kind, event)
        for outcome in ("fired", "missed"):
            self.drill_runs.labels(outcome)
        for answer_type in ("answer", "comment"):
            self.drill_answers.labels(answer_type)
        self.state = State(self)
        registry.register(self.state)
        ProcessCollector(registry=registry)  # memory, CPU, open files, start time (Linux)

    # -- what the core calls ---------------------------------------------------------------
    def lineworks_call(self, operation: str, code: int | str) -> None:
        """One HTTP call answered with `code` (or "timeout" / "network" when none came)."""
        self.calls.labels(operation, str(code)).inc()
        if isinstance(code, int) and code < 400:
            with self._lock:
                self._last_success = self.clock()

    def token_renewal(self, *, issued: bool) -> None:
        self.token_renewals.labels("issued" if issued else "failed").inc()

    def send_attempt(self, operation: str, outcome: str) -> None:
        """What came of one attempt to send an outbox row (one of SEND_OUTCOMES)."""
        self.send_attempts.labels(operation, outcome).inc()

    def reminder(self, kind: str, event: str, count: int = 1) -> None:
        if count:
            self.reminders.labels(kind, event).inc(count)

    def drill_run(self, outcome: str) -> None:
        self.drill_runs.labels(outcome).inc()

    def drill_answer(self, answer_type: str) -> None:
        self.drill_answers.labels(answer_type).inc()

    def callbacks_committed(self, rows: int) -> None:
        """One transaction of the door's group commit stored `rows` callbacks."""
        self.callback_commits.inc()
        self.callbacks_stored.inc(rows)

    def seconds_since_success(self) -> float:
        with self._lock:
            return max(0.0, self.clock() - self._last_success)

    def watch(self, *, outbox: OutboxCounts, inbox: Counts, rejections: Counts) -> None:
        """Where the scrape reads the queues and the door's rejections (the runtime wires it)."""
        self.state.outbox = outbox
        self.state.inbox = inbox
        self.state.rejections = rejections


class State(Collector):
    """Read at every scrape: the queues from the database, the door's rejections, the time
    since LINE WORKS last answered. A database that cannot be read shows as
    hotline_database_up 0 rather than failing the whole scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.outbox: OutboxCounts = lambda: ()
        self.inbox: Counts = dict
        self.rejections: Counts = dict

    def collect(self) -> Iterator[Metric]:
        outbox = GaugeMetricFamily(
            "hotline_outbox_messages",
            "Outbox rows by status (pending, sending, sent, failed, cancelled) and priority "
            "(report, real_call, receipt, notice, reply, reminder, drill)",
            labels=["status", "priority"],
        )
        inbox = GaugeMetricFamily(
            "hotline_inbox_events", "Inbox events by status (new, done, rejected, failed)", labels=["status"]
        )
        try:
            for status, priority, count in self.outbox():
                outbox.add_metric([status, priority], count)
            for status, count in (dict.fromkeys(INBOX_STATUSES, 0) | dict(self.inbox())).items():
                inbox.add_metric([status], count)
            readable = 1
        except Exception as exc:  # the database locked or gone: say so, keep the rest
            log.warning("metrics: the database could not be read (%s)", type(exc).__name__)
            readable = 0
        else:
            yield outbox
            yield inbox
        yield GaugeMetricFamily(
            "hotline_database_up", "1 when the database could be read for this scrape", value=readable
        )
        rejections = CounterMetricFamily(
            "hotline_callback_rejections",
            "Callbacks refused or not stored at the door since the start, by reason "
            "(signature, body, store_failed, ...)",
            labels=["reason"],
        )
        reasons = dict.fromkeys(REJECTION_REASONS, 0)
        for key, count in self.rejections().items():
            reasons[key.removeprefix("rejected_")] = count
        for reason, count in reasons.items():
            rejections.add_metric([reason], count)
        yield rejections
        yield GaugeMetricFamily(
            "hotline_lineworks_seconds_since_success",
            "Seconds since a LINE WORKS API call last succeeded (since the start, before the first)",
            value=self.metrics.seconds_since_success(),
        )
