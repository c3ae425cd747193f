"""The drill creation form (`/dashboard/drills/new`) as typed, and reading it into the
arguments of `Drills.create`: every refusal is a DrillError with a Japanese message that the
form shows above itself, keeping what was typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from hotline.clock import JST
from hotline.config import MUNICIPALITY_ROLES, Config
from hotline.domain.drills import DrillError, Targets, schedule
from hotline.runtime.service import Hotline
from hotline.web import auth

CRON_EXAMPLE = "0 9 1-7 * mon"
CRON_EXAMPLE_MEANING = "毎月第1月曜 9:00"
KIND_LABELS = {"drill": "訓練", "real": "実参集"}
REAL_CONFIRM_MESSAGE = "実参集を作成するには「訓練ではなく実際の参集です」の確認にチェックを入れてください。"


@dataclass
class DrillForm:
    """The form's fields as typed (strings), so that a refused form comes back as it was."""

    title: str = ""
    kind: str = "drill"
    confirm_real: str = ""
    municipality: list[str] = field(default_factory=list)
    role: list[str] = field(default_factory=list)
    room: list[str] = field(default_factory=list)
    when: str = "now"
    at: str = ""
    repeat: str = "weekly"  # the recurrence picker: weekly | monthly | advanced (raw cron)
    repeat_nth: str = "1"
    repeat_weekday: str = "1"  # crontab's numbers: 0 = Sunday, 1 = Monday
    repeat_time: str = "09:00"
    cron: str = ""
    window_start: str = ""
    window_end: str = ""
    deadline_minutes: str = "60"
    remind_minutes: str = "10,20"
    report_channel_id: str = ""

    @classmethod
    def from_form(cls, form: Any) -> DrillForm:
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in ("municipality", "role", "room"):
                values[f.name] = [v for v in form.getlist(f.name) if isinstance(v, str)]
            elif f.name in form:
                values[f.name] = str(form.get(f.name, ""))[:500]
        if "repeat" not in form and values.get("cron", "").strip():
            values["repeat"] = "advanced"  # a crontab posted without the picker (scripts, older pages)
        return cls(**values)

    def hidden(self) -> list[tuple[str, str]]:
        """The fields as (name, value) pairs, for the confirmation step's hidden inputs."""
        out: list[tuple[str, str]] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                out.extend((f.name, v) for v in value)
            else:
                out.append((f.name, value))
        return out

    def targets(self) -> Targets:
        return Targets(
            municipalities=tuple(self.municipality), roles=tuple(self.role), rooms=tuple(self.room)
        )

    def definition(self, config: Config) -> dict[str, Any]:
        """Keyword arguments for `Drills.create`; DrillError (Japanese) for what cannot be read."""
        if self.kind not in KIND_LABELS:
            raise DrillError("種別は「訓練」か「実参集」です。")
        if self.kind == "real" and not self.confirm_real:
            raise DrillError(REAL_CONFIRM_MESSAGE)
        unknown_roles = [r for r in self.role if r not in MUNICIPALITY_ROLES]
        if unknown_roles:
            raise DrillError("役職が正しくありません: " + "、".join(unknown_roles))
        if self.report_channel_id and not any(
            r.channel_id == self.report_channel_id for r in config.rooms if r.channel_id
        ):
            raise DrillError("結果の送り先の部屋が見つかりません。")
        out: dict[str, Any] = {
            "title": self.title,
            "kind": self.kind,
            "targets": self.targets(),
            "created_by": _creator(),
            "deadline_minutes": _minutes(self.deadline_minutes, "締め切り"),
            "remind_minutes": _minute_list(self.remind_minutes),
            "report_channel_id": self.report_channel_id,
        }
        if self.when == "at":
            out["at"] = _local(self.at, "実施日時")
        elif self.when == "cron":
            out["cron"] = self.recurrence()
        elif self.when == "window":
            out["window"] = (
                _local(self.window_start, "抜き打ちの開始"),
                _local(self.window_end, "抜き打ちの終了"),
            )
        elif self.when != "now":
            raise DrillError("実施のタイミングを選んでください。")
        return out

    def recurrence(self) -> str:
        """The crontab the recurrence picker stands for (schedule.weekly / schedule.monthly),
        or the raw crontab of the advanced field."""
        if self.repeat == "advanced":
            if not self.cron.strip():
                raise DrillError(f"繰り返しの指定を入力してください（例: {CRON_EXAMPLE}）。")
            return self.cron.strip()
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", self.repeat_time.strip())
        if match is None:
            raise DrillError("繰り返しの時刻を「9:00」のように入力してください。")
        try:
            hour, minute, weekday = int(match.group(1)), int(match.group(2)), int(self.repeat_weekday)
            if self.repeat == "weekly":
                return schedule.weekly(weekday, hour, minute)
            if self.repeat == "monthly":
                return schedule.monthly(int(self.repeat_nth), weekday, hour, minute)
        except ValueError:
            raise DrillError("繰り返しの曜日・第何週・時刻を選び直してください。") from None
        raise DrillError("繰り返し方（毎週・毎月・詳細指定）を選んでください。")


REPEAT_NTH = {str(n): f"第{n}" for n in range(1, 6)}
REPEAT_WEEKDAYS = {str(i): f"{day}曜日" for i, day in enumerate(schedule.WEEKDAY_JA)}


def _creator() -> str:
    account = auth.current_account()
    return account.username if account is not None else "dashboard"


def _minutes(value: str, what: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise DrillError(f"{what}は分の数（整数）で入力してください。") from None


def _minute_list(value: str) -> tuple[int, ...]:
    parts = [p for p in re.split(r"[,、，\s]+", value.strip()) if p]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise DrillError(
            "催促は「10,20」のように、開始から何分後かをカンマで区切って入力してください。"
        ) from None


def _local(value: str, what: str) -> datetime:
    """A datetime-local value, read as Japan time."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise DrillError(f"{what}を日時で入力してください。") from None
    return moment.replace(tzinfo=JST) if moment.tzinfo is None else moment


class _DryRun(Exception):
    """Raised inside a transaction to roll back a trial `Drills.create`."""


def validate(hotline: Hotline, definition: dict[str, Any]) -> None:
    """Run `Drills.create` and roll it back: the confirmation step refuses exactly what saving
    would refuse (DrillError), and stores nothing."""
    try:
        with hotline.storage.transaction():
            hotline.drills.create(**definition)
            raise _DryRun
    except _DryRun:
        pass
