"""What a JMA telegram starts: per municipality at or above the threshold, a roll-call of its
staff (実参集, or a 【訓練】 drill for a JMA drill telegram when configured), a notice to HQ and
to the town's linked rooms, a 1:1 request to its deputy mayor for a 第一報, and an incident.

Once per event, getting better: telegrams of one earthquake share an EventID. A later one
that raises a town's intensity (or tsunami category) or adds towns extends the response: the
new towns get the whole response, raised towns a new notice, and nobody already asked by
this event's roll-calls is asked again (`jma_asked`). 訂正 updates what was said; 取消 stops
the event's roll-calls and tells everyone who got an automatic message.

Never a false real alarm: a telegram whose Control/Status is not 通常 never starts anything
real. 試験 is recorded and ignored; 訓練 too, unless `drill_on_jma_drill = true`, and then
every message it leads to starts with 【訓練】 and its roll-call is a drill.

Incidents: one per stricken town, like reports (the chronology, the matrix and the CSV are
per town); the telegrams of the event show in each town's chronology. A drill telegram opens
no incident.

Crash safety: everything a telegram decides (responses, roll-call definitions, outbox rows,
the telegram marked done) commits in one transaction; the roll-calls are fired right after,
and a crash before that leaves them due, fired by `Drills.run_due()` at the next start.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hotline import messages
from hotline.clock import Clock, iso, parse_iso
from hotline.config import Config, Member
from hotline.config.counterparts import hq_rooms, linked_rooms, supporters_of
from hotline.config.model import EarthquakeTrigger, JmaResponse, TsunamiTrigger
from hotline.domain import webhooks
from hotline.domain.drills import Drills, Targets
from hotline.domain.earthquakes.model import OPENED_BY, Telegram, city_code, intensity_rank, tsunami_rank
from hotline.storage import PRIORITY_DRILL, PRIORITY_REAL_CALL, NewMessage, Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: str  # done | ignored
    reason: str
    drills: tuple[int, ...] = ()


def towns_of(config: Config, telegram: Telegram) -> dict[str, str]:
    """The configured municipalities the telegram names, with their level: the intensity
    (VXSE53 per city; VXSE51 per area through `[earthquake.areas]`) or the tsunami category
    (VTSE41 through `[tsunami.regions]`)."""
    levels: dict[str, str] = {}
    if telegram.kind == "VTSE41":
        regions = config.tsunami.regions if config.tsunami else {}
        for item in telegram.tsunami:
            for code in regions.get(item.code, ()):
                if item.category and tsunami_rank(item.category) > tsunami_rank(levels.get(code)):
                    levels[code] = item.category
        return levels
    cities = {place.code: place.intensity for place in telegram.cities}
    for code in config.municipalities:
        if city_code(code) in cities:
            levels[code] = cities[city_code(code)]
    if telegram.kind == "VXSE51" and config.earthquake:
        for area in telegram.areas:
            for code in config.earthquake.areas.get(area.code, ()):
                if intensity_rank(area.intensity) > intensity_rank(levels.get(code)):
                    levels[code] = area.intensity
    return levels


def level_text(level: str) -> str:
    return messages.intensity_text(level) if intensity_rank(level) else level


def _rank(level: str | None) -> int:
    return intensity_rank(level) or tsunami_rank(level)


class Earthquakes:
    def __init__(
        self,
        storage: Storage,
        config: Callable[[], Config],
        clock: Clock,
        drills: Drills,
        *,
        on_enqueue: Callable[[], None] = lambda: None,
    ) -> None:
        self.storage = storage
        self.config = config
        self.clock = clock
        self.drills = drills
        self.on_enqueue = on_enqueue

    def act(self, telegram_id: int, telegram: Telegram) -> Outcome:
        """Decide and record what the stored telegram starts, in one transaction with marking
        it processed; then fire the roll-calls it defined. Returns what was done."""
        config = self.config()
        towns = towns_of(config, telegram)
        with self.storage.transaction():
            self.storage.describe_telegram(
                telegram_id,
                kind=telegram.kind,
                control_status=telegram.status,
                info_type=telegram.info_type,
                event_id=telegram.event_id,
                serial=telegram.serial,
                report_at=iso(telegram.report_at),
                origin_at=iso(telegram.origin_at) if telegram.origin_at else None,
                dedupe_key=telegram.dedupe_key,
                towns=json.dumps(towns, ensure_ascii=False),
            )
            outcome = self._decide(telegram_id, telegram, config, towns)
            if not self.storage.finish_telegram(
                telegram_id, outcome.status, iso(self.clock.now()), outcome.reason
            ):
                raise RuntimeError(f"telegram {telegram_id} was processed by someone else")  # rolls back
        for drill_id in outcome.drills:
            self.drills.fire(drill_id)
        self.on_enqueue()
        return outcome

    # -- deciding ------------------------------------------------------------------------------
    def _decide(self, telegram_id: int, t: Telegram, config: Config, towns: dict[str, str]) -> Outcome:
        trigger: EarthquakeTrigger | TsunamiTrigger | None = (
            config.tsunami if t.kind == "VTSE41" else config.earthquake
        )
        if t.status == "試験":
            return Outcome("ignored", "試験（テスト用の電文）: 記録のみ")
        if trigger is None:
            table = "[tsunami]" if t.kind == "VTSE41" else "[earthquake]"
            return Outcome("ignored", f"{table} が設定されていないため記録のみ")
        drill = not t.is_real
        if drill and not trigger.response.drill_on_jma_drill:
            return Outcome("ignored", "訓練報: 記録のみ（drill_on_jma_drill = false）")
        duplicate = self.storage.done_telegram_with_key(t.dedupe_key, telegram_id)
        if duplicate is not None:
            return Outcome("ignored", f"同じ電文を受信済み（#{duplicate['id']}）")
        event = _event_key(t)
        cancelled = self.storage.cancelled_event(t.event_id)
        if cancelled is not None and cancelled["control_status"] == t.status:
            return Outcome("ignored", f"この地震の情報は取り消し済み（#{cancelled['id']}）: 記録のみ")
        if t.info_type == "取消":
            return self._cancel(event, t, config)
        newest = self.storage.newest_acted_report(t.event_id, t.kind)
        if newest is not None and parse_iso(newest) > t.report_at:
            return Outcome("ignored", "より新しい同種の電文を処理済み（順序の入れ替わり）: 記録のみ")
        return self._respond(telegram_id, event, t, config, trigger, drill, towns)

    def _respond(
        self,
        telegram_id: int,
        event: str,
        t: Telegram,
        config: Config,
        trigger: EarthquakeTrigger | TsunamiTrigger,
        drill: bool,
        towns: dict[str, str],
    ) -> Outcome:
        now = self.clock.now()
        if isinstance(trigger, EarthquakeTrigger):
            threshold = messages.intensity_text(trigger.min_intensity) + "以上"
            hit = {
                c: lv
                for c, lv in towns.items()
                if intensity_rank(lv) >= intensity_rank(trigger.min_intensity)
            }
        else:
            threshold = "・".join(trigger.categories)
            hit = {c: lv for c, lv in towns.items() if lv in trigger.categories}
        previous = self.storage.responses(event)
        column = "tsunami" if t.kind == "VTSE41" else "intensity"
        corrected = t.info_type == "訂正"
        new = [c for c in hit if c not in previous]
        changed = [
            c
            for c in hit
            if c in previous
            and (_rank(hit[c]) > _rank(previous[c][column]) or (corrected and hit[c] != previous[c][column]))
        ]
        if not new and not changed:
            return Outcome("done", "新たな対象なし（基準未満、または通知済み）")
        response = trigger.response
        started: list[str] = []
        drill_ids: list[int] = []
        incidents: dict[str, int] = {}
        kind = "drill" if drill else "real"
        headline = _headline(config, hit, t)
        if new:
            drill_id, people = self._roll_call(event, config, response, new, kind, headline)
            if drill_id is not None:
                drill_ids.append(drill_id)
                started.append(
                    messages.jma_roll_call_started(kind, [config.municipalities[c].name for c in new], people)
                )
            if response.ask_first_report:
                asked = self._ask_first_report(event, config, new, drill, headline)
                if asked:
                    started.append(messages.jma_first_report_requested(asked))
            if not drill:
                for code in new:
                    incident = self.storage.open_incident(code)
                    incidents[code] = (
                        incident["id"]
                        if incident is not None
                        else self.storage.create_incident(code, OPENED_BY, iso(now))
                    )
        for code in hit:
            if code not in new and code not in changed:
                continue
            row = previous.get(code)
            self.storage.save_response(
                event_id=event,
                municipality_code=code,
                drill=int(drill),
                intensity=hit[code] if column == "intensity" else (row["intensity"] if row else None),
                tsunami=hit[code] if column == "tsunami" else (row["tsunami"] if row else None),
                incident_id=incidents.get(code, row["incident_id"] if row else None),
                drill_id=(drill_ids[0] if drill_ids and code in new else (row["drill_id"] if row else None)),
                first_telegram_id=row["first_telegram_id"] if row else telegram_id,
                last_telegram_id=telegram_id,
                created_at=row["created_at"] if row else iso(now),
                updated_at=iso(now),
            )
        what = (
            "（訂正）気象庁が情報を訂正しました。"
            if corrected
            else ("続報: " + "・".join(_change_words(new, changed)) if previous else "")
        )
        lines = [
            (
                config.municipalities[c].name,
                level_text(hit[c]),
                "（新たに対象）"
                if c in new and previous
                else (
                    f"（{level_text(previous[c][column] or '') or 'なし'}から変更）" if c in changed else ""
                ),
            )
            for c in sorted(hit, key=lambda c: (-_rank(hit[c]), list(config.municipalities).index(c)))
        ]
        content = messages.jma_notice(
            drill=drill,
            headline=headline,
            what=what,
            kind_name=t.kind_name,
            reported=t.report_at,
            hypocentre=t.hypocentre,
            threshold=threshold,
            towns=lines,
            started=started,
        )
        rooms = {r.channel_id: r for r in hq_rooms(config) if r.channel_id}
        if response.notify_rooms:
            for code in [*new, *changed]:
                rooms.update({r.channel_id: r for r in linked_rooms(config, code) if r.channel_id})
        self.storage.enqueue(
            [
                NewMessage(
                    dedupe_key=f"jma:{event}:t{telegram_id}:room:{channel}",
                    purpose="notice",
                    priority=PRIORITY_DRILL if drill else PRIORITY_REAL_CALL,
                    content=content,
                    channel_id=channel,
                    room_key=room.key,
                )
                for channel, room in rooms.items()
            ],
            iso(now),
        )
        towns_data = [
            {
                **webhooks.town(config, c),
                "level": hit[c],
                "level_text": level_text(hit[c]),
                "change": "new" if c in new else ("raised" if c in changed else None),
            }
            for c in sorted(hit, key=lambda c: (-_rank(hit[c]), list(config.municipalities).index(c)))
        ]
        self._hook(config, f"t{telegram_id}", t, drill, towns_data, started, tuple(drill_ids))
        return Outcome("done", "、".join(started) or "通知のみ", tuple(drill_ids))

    def _hook(
        self,
        config: Config,
        key: str,
        t: Telegram,
        drill: bool,
        towns: list[dict[str, Any]],
        started: list[str],
        roll_calls: tuple[int, ...],
    ) -> None:
        """The `jma_trigger` webhook event of a telegram that started, changed or cancelled a
        response (docs/WEBHOOKS.md), in the transaction that records it."""
        now = self.clock.now()
        data = {
            "telegram": {
                "kind": t.kind,
                "kind_name": t.kind_name,
                "status": t.status,
                "info_type": t.info_type,
                "event_id": t.event_id,
                "serial": t.serial,
                "report_at": webhooks.stamp(t.report_at),
                "origin_at": webhooks.stamp(t.origin_at) if t.origin_at else None,
                "hypocentre": t.hypocentre,
                "headline": t.headline,
            },
            "drill": drill,
            "cancelled": t.info_type == "取消",
            "municipalities": towns,
            "started": started,
            "roll_call_drill_ids": list(roll_calls),
        }
        event = _event_key(t)
        rows = webhooks.webhook_messages(config, "jma_trigger", data, now, key=f"jma_trigger:{event}:{key}")
        self.storage.enqueue(rows, iso(now))

    def _roll_call(
        self, event: str, config: Config, response: JmaResponse, codes: list[str], kind: str, headline: str
    ) -> tuple[int | None, int]:
        """A roll-call of the towns' staff (and their supporters' when configured), leaving
        out everyone this event has asked already. Returns the drill id (None when nobody is
        left to ask) and how many people it asks."""
        towns = list(codes)
        if response.roll_call_supporters:
            for code in codes:
                towns.extend(s for s in supporters_of(config, code) if s not in towns)
        already = self.storage.asked(event)
        people: dict[str, Member] = {}
        for code in towns:
            for member in config.municipalities[code].members:
                if member.role in response.roll_call_roles and member.key not in already:
                    people.setdefault(member.key, member)
        if not people:
            return None, 0
        drill_id = self.drills.create(
            title=messages.jma_roll_call_title(headline),
            targets=Targets(members=tuple(people)),
            created_by=OPENED_BY,
            kind=kind,
            deadline_minutes=response.deadline_minutes,
            remind_minutes=response.remind_minutes,
        )
        self.storage.record_asked(event, list(people), drill_id)
        return drill_id, len(people)

    def _ask_first_report(
        self, event: str, config: Config, codes: list[str], drill: bool, headline: str
    ) -> list[str]:
        asked = []
        rows = []
        for code in codes:
            town = config.municipalities[code]
            for member in town.members:
                if member.role != "deputy_mayor":
                    continue
                rows.append(
                    NewMessage(
                        dedupe_key=f"jma:{event}:first-report:{member.key}",
                        purpose="notice",
                        priority=PRIORITY_DRILL if drill else PRIORITY_REAL_CALL,
                        content=messages.jma_first_report_request(
                            drill=drill,
                            headline=headline,
                            town=town.name,
                            role=config.role_label(member),
                            name=member.name,
                        ),
                        user_id=member.key,
                    )
                )
                if town.name not in asked:
                    asked.append(town.name)
        self.storage.enqueue(rows, iso(self.clock.now()))
        return asked

    # -- cancelling --------------------------------------------------------------------------------
    def _cancel(self, event: str, t: Telegram, config: Config) -> Outcome:
        """取消: stop the event's roll-calls (pending questions and reminders are cancelled)
        and tell every room and person that got an automatic message, once."""
        responses = [r for r in self.storage.responses(event).values() if r["cancelled_at"] is None]
        if not responses:
            return Outcome("done", "取消: 自動で始めたものはありません")
        now = iso(self.clock.now())
        drill_ids = {r["drill_id"] for r in responses if r["drill_id"] is not None}
        prefixes = [f"jma:{event}:"]
        for drill_id in sorted(drill_ids):
            for run in self.storage.runs(drill_id):
                if self.storage.set_run(run["id"], "running", status="aborted"):
                    self.storage.cancel_pending(f"drill:{run['id']}:", now, "気象庁の取消")
                prefixes.append(f"drill:{run['id']}:")
            self.storage.set_drill(drill_id, status="cancelled")  # not fired yet: never will be
            self.storage.cancel_pending(f"drillnotice:{drill_id}:", now, "気象庁の取消")
        drill = bool(responses[0]["drill"])
        hit = {r["municipality_code"]: r["intensity"] or r["tsunami"] or "" for r in responses}
        content = messages.jma_cancelled(drill=drill, headline=_headline(config, hit, None))
        recipients: dict[str, NewMessage] = {}
        for prefix in prefixes:
            for row in self.storage.automatic_recipients(prefix):
                target = row["channel_id"] or row["user_id"]
                if target and target not in recipients:
                    recipients[target] = NewMessage(
                        dedupe_key=f"jma:{event}:cancel:{target}",
                        purpose="notice",
                        priority=PRIORITY_DRILL if drill else PRIORITY_REAL_CALL,
                        content=content,
                        channel_id=row["channel_id"],
                        user_id=None if row["channel_id"] else row["user_id"],
                    )
        self.storage.enqueue(list(recipients.values()), now)
        self.storage.cancel_responses(event, now)
        towns = [
            {
                **webhooks.town(config, code),
                "level": level,
                "level_text": level_text(level),
                "change": "cancelled",
            }
            for code, level in hit.items()
        ]
        self._hook(config, "cancel", t, drill, towns, [], ())
        return Outcome("done", f"取消: {len(recipients)}か所に取消を通知、参集確認を中止")


def _event_key(t: Telegram) -> str:
    """A JMA drill's EventID never shares responses with a real event's."""
    return t.event_id if t.is_real else f"{t.status}-{t.event_id}"


def _headline(config: Config, hit: dict[str, str], t: Telegram | None) -> str:
    order = list(config.municipalities)
    codes = sorted(hit, key=lambda c: (-_rank(hit[c]), order.index(c) if c in order else 0))
    if not codes:
        return ""
    first = codes[0]
    name = config.municipalities[first].name if first in config.municipalities else first
    return messages.jma_headline(level_text(hit[first]), name, len(codes) - 1, t.origin_at if t else None)


def _change_words(new: list[str], changed: list[str]) -> list[str]:
    words = []
    if changed:
        words.append("震度・津波の区分が引き上げられました")
    if new:
        words.append("対象の市町が増えました")
    return words
