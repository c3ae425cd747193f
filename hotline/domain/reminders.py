"""Chasing the silent: reminders to municipalities that have not acknowledged a report, and
the list of those still silent for HQ, with whom to call in each.

The HQ alert goes at `hq_after_minutes`; a town with an escalation chain (counterparts.toml
`escalation`) names the chain's person whose `after_minutes` has come, and each later step of
a silent town's chain sends a new alert naming the next person (one alert per moment, for all
towns whose chains advance then). Each alert is an outbox row written when it falls due, so
what HQ was told stays as it was sent; the webhooks' `escalation` event goes with it.

`run_due()` is a plain function of the clock and the database (the scheduler calls it every
half minute; tests call it with a fixed clock). It only enqueues outbox rows. Whether a
reminder is still needed is decided again by `before_send`, just before it goes out, from
the acknowledgements in the database: a town that acknowledged in between, even across a
restart, is never reminded.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hotline import messages as msg
from hotline.clock import Clock, iso, parse_iso
from hotline.config import Config, Member
from hotline.config.counterparts import hq_rooms
from hotline.domain import recipients
from hotline.domain.acknowledgements import sign_postback
from hotline.domain.recipients import HQ
from hotline.domain.webhooks import escalation_data, webhook_messages
from hotline.metrics import Metrics
from hotline.outbound.instructions import EscalationCheck, ReminderCheck, to_json
from hotline.storage import PRIORITY_REMINDER, NewMessage, OutboxRow, Storage
from hotline.storage.instructions import INSTRUCTION_KINDS

Row = Any  # sqlite3.Row of a report


class Reminders:
    def __init__(
        self,
        storage: Storage,
        config: Any,  # Callable[[], Config]
        clock: Clock,
        *,
        bot_secret: str,
        on_enqueue: Any = lambda: None,
        metrics: Metrics | None = None,
    ) -> None:
        self.storage = storage
        self.config = config
        self.clock = clock
        self.bot_secret = bot_secret
        self.on_enqueue = on_enqueue
        self.metrics = metrics or Metrics()

    def silent(self, config: Config, report: Row) -> list[str]:
        """Linked municipalities (other than the reporting town) with no acknowledgement. The
        towns expected are those the report was relayed to (`recipients`); the people reminded
        are today's members of each town (one removed since is not chased, one added is)."""
        acked = self.storage.acked_municipalities(report["id"])
        return [
            town.code
            for town in recipients.of_report(self.storage, config, report).towns
            if town.code != report["municipality_code"]
            and town.code not in acked
            and town.code in config.municipalities
        ]

    def run_due(self) -> int:
        """Enqueue every reminder and HQ escalation that is due now; returns rows added."""
        now = self.clock.now()
        config: Config = self.config()
        policy = config.reminders
        remind_after = timedelta(minutes=policy.municipality_after_minutes)
        escalate_after = timedelta(minutes=policy.hq_after_minutes)
        rows: list[NewMessage] = []
        for report in self.storage.reports_since(iso(now - timedelta(hours=policy.give_up_after_hours))):
            if report["municipality_code"] not in config.municipalities and report["municipality_code"] != HQ:
                continue  # the town was removed from the configuration since (HQ: an instruction)
            age = now - parse_iso(report["created_at"])
            if age < remind_after:
                continue
            silent = self.silent(config, report)
            if not silent:
                continue
            for code in silent:
                rows.extend(self._reminders(config, report, code))
            if age >= escalate_after:
                minutes = alert_minutes(config, silent, int(age.total_seconds() // 60))
                rows.extend(self._escalations(config, report, silent, minutes))
                rows.extend(self._escalation_hooks(config, report, silent, minutes))
        if not rows:
            return 0
        with self.storage.transaction():
            reminded = self.storage.enqueue([r for r in rows if r.purpose == "reminder"], iso(now))
            escalated = self.storage.enqueue([r for r in rows if r.purpose == "escalation"], iso(now))
            self.storage.enqueue([r for r in rows if r.channel == "webhook"], iso(now))
        self.metrics.reminder("municipality", "enqueued", reminded)
        self.metrics.reminder("escalation", "enqueued", escalated)
        added = reminded + escalated
        if added:
            self.on_enqueue()
        return added

    def _reminders(self, config: Config, report: Row, code: str) -> list[NewMessage]:
        town = recipients.place_name(config, report["municipality_code"])
        out = []
        for person in config.municipalities[code].members:  # deputy mayor first: file order
            key = f"remind:{report['id']}:{code}:{person.key}"
            if self.storage.has_message(key):
                continue
            content = msg.reminder(
                _label(report),
                town,
                parse_iso(report["created_at"]),
                report["text"],
                sign_postback(self.bot_secret, report["id"]),
            )
            out.append(
                NewMessage(
                    dedupe_key=key,
                    purpose="reminder",
                    priority=PRIORITY_REMINDER,
                    content=content,
                    user_id=person.key,
                    report_id=report["id"],
                    instruction=to_json(ReminderCheck(report["id"], code)),
                )
            )
        return out

    def _escalations(self, config: Config, report: Row, silent: list[str], minutes: int) -> list[NewMessage]:
        out = []
        first = minutes == config.reminders.hq_after_minutes
        for room in hq_rooms(config):
            # the first alert keeps the key it had before chains, so no alert goes twice
            key = f"escalate:{report['id']}:{room.key}" + ("" if first else f":{minutes}m")
            if not room.channel_id or self.storage.has_message(key):
                continue
            content = self._escalation_content(config, report, silent, minutes)
            out.append(
                NewMessage(
                    dedupe_key=key,
                    purpose="escalation",
                    priority=PRIORITY_REMINDER,
                    content=content,
                    channel_id=room.channel_id,
                    room_key=room.key,
                    report_id=report["id"],
                    instruction=to_json(EscalationCheck(report["id"], minutes)),
                )
            )
        return out

    def _escalation_hooks(
        self, config: Config, report: Row, silent: list[str], minutes: int
    ) -> list[NewMessage]:
        """The `escalation` webhook event of this alert (one per moment, not per HQ room)."""
        key = f"escalation:{report['id']}:{minutes}m"
        data = escalation_data(config, report, minutes, _calls(config, silent, minutes))
        return webhook_messages(
            config,
            "escalation",
            data,
            self.clock.now(),
            key=key,
            instruction=to_json(EscalationCheck(report["id"], minutes)),
        )

    def _escalation_content(
        self, config: Config, report: Row, silent: list[str], minutes: int
    ) -> dict[str, Any]:
        calls = _calls(config, silent, minutes)
        towns = config.municipalities
        return msg.escalation(
            _label(report),
            recipients.place_name(config, report["municipality_code"]),
            parse_iso(report["created_at"]),
            [recipients.place_name(config, c) for c in silent],
            minutes,
            [(towns[c].name, config.role_label(p), p.name, p.phone) for c, (p, _step) in calls.items() if p],
            {
                towns[c].name: (step + 1, len(towns[c].escalation))
                for c, (_p, step) in calls.items()
                if step >= 0
            },
        )

    def before_reminder(
        self, row: OutboxRow, check: ReminderCheck, content: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A reminder goes only if the town has still not acknowledged (see the module doc)."""
        if check.municipality in self.storage.acked_municipalities(check.report_id):
            self.metrics.reminder("municipality", "cancelled")
            return None
        return content

    def before_escalation(
        self, row: OutboxRow, check: EscalationCheck, content: dict[str, Any]
    ) -> dict[str, Any] | None:
        """An escalation goes only while towns are silent, listing them as they are now."""
        config: Config = self.config()
        report = self.storage.report(check.report_id)
        silent = self.silent(config, report) if report is not None else []
        if report is None or not silent:
            self.metrics.reminder("escalation", "cancelled")
            return None
        minutes = check.minutes or config.reminders.hq_after_minutes
        if row.channel == "webhook":  # the event's body, its towns as they are now
            return {
                **content,
                "data": escalation_data(config, report, minutes, _calls(config, silent, minutes)),
            }
        return self._escalation_content(config, report, silent, minutes)


def alert_minutes(config: Config, silent: list[str], age_minutes: int) -> int:
    """The moment (minutes after the report) of the HQ alert due now: the latest of
    hq_after_minutes and the chain steps of the silent towns that have come by `age_minutes`."""
    first = config.reminders.hq_after_minutes
    steps = (
        step.after_minutes
        for code in silent
        if code in config.municipalities
        for step in config.municipalities[code].escalation
    )
    return max([first, *(m for m in steps if first < m <= age_minutes)])


def _calls(config: Config, silent: list[str], minutes: int) -> dict[str, tuple[Member | None, int]]:
    """Whom to call in each silent town (None for one no longer configured)."""
    return {code: whom_to_call(config, code, minutes) or (None, -1) for code in silent}


def whom_to_call(config: Config, code: str, minutes: int) -> tuple[Member, int] | None:
    """Whom HQ should call in a silent town `minutes` after the report, and their place in
    the town's escalation chain (-1 without a chain). With a chain: its latest person whose
    `after_minutes` has come (the first before any has). Without: the deputy mayor when a phone
    number is known for them, else the first member (in reminder order) with one, else the
    deputy mayor (or the first member) without a number. None for a town no longer configured."""
    town = config.municipalities.get(code)
    if town is None or not town.members:
        return None
    if town.escalation:
        reached = [i for i, step in enumerate(town.escalation) if step.after_minutes <= minutes]
        step = reached[-1] if reached else 0
        return town.escalation[step].member, step
    people = sorted(town.members, key=lambda m: (m.role != "deputy_mayor", m.order))
    return next((m for m in people if m.phone), people[0]), -1


def _label(report: Row) -> str:
    """What a reminder or an alert calls the report: 第一報, or 指示 #7 for an HQ instruction
    (the number a town answers with: 「【回答】#7 …」)."""
    if report["kind"] in INSTRUCTION_KINDS:
        return f"{report['label']} #{report['id']}"
    return str(report["label"])
