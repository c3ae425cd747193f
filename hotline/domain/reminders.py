"""Chasing the silent: reminders to municipalities that have not acknowledged a report, and
the list of those still silent for HQ.

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
from hotline.config import Config
from hotline.config.counterparts import hq_rooms
from hotline.domain import recipients
from hotline.domain.acknowledgements import sign_postback
from hotline.domain.recipients import HQ
from hotline.metrics import Metrics
from hotline.outbound.instructions import EscalationCheck, ReminderCheck, to_json
from hotline.storage import PRIORITY_REMINDER, NewMessage, OutboxRow, Storage

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
                rows.extend(self._escalations(config, report, silent))
        if not rows:
            return 0
        with self.storage.transaction():
            reminded = self.storage.enqueue([r for r in rows if r.purpose == "reminder"], iso(now))
            escalated = self.storage.enqueue([r for r in rows if r.purpose == "escalation"], iso(now))
        self.metrics.reminder("municipality", "enqueued", reminded)
        self.metrics.reminder("escalation", "enqueued", escalated)
        added = reminded + escalated
        if added:
            self.on_enqueue()
        return added

    def _reminders(self, config: Config, report: Row, code: str) -> list[NewMessage]:
        town = _town_name(config, report["municipality_code"])
        out = []
        for person in config.municipalities[code].members:  # deputy mayor first: file order
            key = f"remind:{report['id']}:{code}:{person.key}"
            if self.storage.has_message(key):
                continue
            content = msg.reminder(
                report["label"],
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

    def _escalations(self, config: Config, report: Row, silent: list[str]) -> list[NewMessage]:
        out = []
        for room in hq_rooms(config):
            key = f"escalate:{report['id']}:{room.key}"
            if not room.channel_id or self.storage.has_message(key):
                continue
            content = self._escalation_content(config, report, silent)
            out.append(
                NewMessage(
                    dedupe_key=key,
                    purpose="escalation",
                    priority=PRIORITY_REMINDER,
                    content=content,
                    channel_id=room.channel_id,
                    room_key=room.key,
                    report_id=report["id"],
                    instruction=to_json(EscalationCheck(report["id"])),
                )
            )
        return out

    def _escalation_content(self, config: Config, report: Row, silent: list[str]) -> dict[str, Any]:
        return msg.escalation(
            report["label"],
            _town_name(config, report["municipality_code"]),
            parse_iso(report["created_at"]),
            [_town_name(config, c) for c in silent],
            config.reminders.hq_after_minutes,
            [contact for c in silent if (contact := _phone_contact(config, c)) is not None],
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
        return self._escalation_content(config, report, silent)


def _phone_contact(config: Config, code: str) -> tuple[str, str, str, str] | None:
    """Whom HQ should call in a silent town: the deputy mayor when a phone number is known for
    them, else the first member (in reminder order) with one, else the deputy mayor (or the
    first member) without a number. None for a town no longer configured."""
    town = config.municipalities.get(code)
    if town is None or not town.members:
        return None
    people = sorted(town.members, key=lambda m: (m.role != "deputy_mayor", m.order))
    person = next((m for m in people if m.phone), people[0])
    return town.name, config.role_label(person), person.name, person.phone


def _town_name(config: Config, code: str) -> str:
    """The town's name (HQ's for an HQ instruction); its code if it has been removed from the
    configuration since."""
    if code == HQ:
        return config.hq_name
    muni = config.municipalities.get(code)
    return muni.name if muni else code
